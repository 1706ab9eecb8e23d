"""Build a :class:`VideoSpec` from a few common knobs (the ``samem simulate`` single-video mode).

Sizes, shapes (for ``mixed``), positions and orientations are drawn from a stream derived from the seed, so the same
seed gives the same layout; every particle shares the given material and motion parameters.
"""

from __future__ import annotations

import math

import numpy as np

from samem.errors import InputError
from samem.sim.shapes import aggregate_offsets
from samem.sim.spec import ImagingSpec, MotionSpec, ParticleSpec, VideoSpec

MIXED_SHAPES = ("sphere", "rod", "triangle", "cube")
_LAYOUT_STREAM = 0x5A4E  # distinguishes the layout stream from the simulation's streams of the same seed


def layout_spec(
    *,
    seed: int = 0,
    width: int = 512,
    height: int = 384,
    n_frames: int = 200,
    fps: float = 20.0,
    px_nm: float = 0.5,
    n_particles: int = 6,
    shape: str = "mixed",
    size_nm: tuple[float, float] = (8.0, 25.0),
    aspect: float | None = None,
    material: str = "Au",
    motion: MotionSpec | None = None,
    imaging: ImagingSpec | None = None,
    supersample: int = 3,
) -> VideoSpec:
    """A video of ``n_particles`` particles placed at random inside the frame.

    Parameters
    ----------
    shape : str
        A shape of :data:`samem.sim.spec.SHAPES`, or ``"mixed"`` (sphere, rod, triangle, cube at random).
    size_nm : tuple of float
        Sizes are drawn uniformly from [min, max], nm.
    Other parameters are as in :class:`VideoSpec`, :class:`ParticleSpec`, :class:`MotionSpec`, :class:`ImagingSpec`.
    """
    if isinstance(n_particles, bool) or not isinstance(n_particles, int) or n_particles < 0:
        raise InputError(f"number of particles must be an integer >= 0, got {n_particles!r}")
    low, high = (float(s) for s in size_nm)
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high < low:
        raise InputError(f"size range must satisfy 0 < min <= max, got {size_nm!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    rng = np.random.default_rng([seed, _LAYOUT_STREAM])
    motion = motion or MotionSpec()
    particles = []
    for _ in range(n_particles):
        kind = MIXED_SHAPES[int(rng.integers(len(MIXED_SHAPES)))] if shape == "mixed" else shape
        size = float(rng.uniform(low, high))
        margin = size / 2
        x = rng.uniform(margin, max(margin, (width - 1) * px_nm - margin))
        y = rng.uniform(margin, max(margin, (height - 1) * px_nm - margin))
        offsets = aggregate_offsets(rng, int(rng.integers(2, 5)), size) if kind == "aggregate" else ()
        particles.append(
            ParticleSpec(
                shape=kind,
                size_nm=size,
                aspect=aspect if kind in ("rod", "triangle") else None,
                material=material,
                x_nm=float(x),
                y_nm=float(y),
                orientation_rad=float(rng.uniform(0, 2 * math.pi)),
                offsets_nm=offsets,
                motion=motion,
            )
        )
    return VideoSpec(
        width=width,
        height=height,
        n_frames=n_frames,
        fps=fps,
        px_nm=px_nm,
        particles=tuple(particles),
        imaging=imaging or ImagingSpec(),
        seed=seed,
        supersample=supersample,
    )
