"""Broadly randomised video specs for training data (the dataset mode).

Every parameter varies: frame size (non-square), pixel size, fps, 1 to ``max_particles`` particles of every shape
(spheres, rods, triangles, cubes, aggregates of 2-5 touching spheres) and material, sizes of about 8-150 px at
1024 px frames (scaled with the frame size, at least 4 px), all motion kinds, drift (some particles enter from
outside, others drift out, and a chosen fraction, ``exits``, leaves the field within the clip; every particle not
entering is at least partly in view at the first frame), close approaches and partial overlaps, liquid thickness,
dose (chosen so that the per-pixel contrast-to-noise ratio spans barely visible to clean), blur, bulging,
illumination gradient and drift, and float / 8-bit / JPEG output.
"""

from __future__ import annotations

import math

import numpy as np

from samem.errors import InputError
from samem.sim.materials import LIQUIDS, PARTICLE_MATERIALS, mean_free_path
from samem.sim.shapes import aggregate_offsets, bounding_radius_nm
from samem.sim.spec import ImagingSpec, MotionSpec, ParticleSpec, VideoSpec

SHAPE_WEIGHTS = {"sphere": 0.3, "rod": 0.2, "triangle": 0.15, "cube": 0.15, "aggregate": 0.2}
MOTION_WEIGHTS = {"brownian": 0.4, "fbm": 0.25, "ctrw": 0.15, "confined": 0.2}
STEP_PX = (0.05, 4.0)  # default range of RMS displacement per axis per frame, px


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _random_motion(
    rng: np.random.Generator,
    *,
    px_nm: float,
    fps: float,
    size_nm: float,
    forced_drift: tuple[float, float] | None,
    step_px: tuple[float, float],
) -> MotionSpec:
    dt = 1.0 / fps
    step = _log_uniform(rng, *step_px)  # RMS displacement per axis per frame, px
    kind = _pick(rng, MOTION_WEIGHTS)
    alpha = 1.0
    if kind == "fbm":
        alpha = float(rng.uniform(0.3, 1.7))
    elif kind == "ctrw":
        alpha = float(rng.uniform(0.3, 0.95))
    D = (step * px_nm) ** 2 / (2 * dt**alpha) if kind == "fbm" else (step * px_nm) ** 2 / (2 * dt)
    drift = (0.0, 0.0)
    if forced_drift is not None:
        drift = forced_drift
    elif rng.uniform() < 0.3:
        speed_px = _log_uniform(rng, 0.3, 6.0)  # px per frame
        heading = rng.uniform(0, 2 * math.pi)
        drift = (speed_px * px_nm * fps * math.cos(heading), speed_px * px_nm * fps * math.sin(heading))
    rot_step = _log_uniform(rng, 0.003, 0.3)  # RMS radians per frame
    return MotionSpec(
        kind=kind,
        D_nm2_s=D,
        alpha=alpha,
        drift_nm_s=drift,
        trap_radius_nm=size_nm * float(rng.uniform(0.1, 1.5)) if kind == "confined" else None,
        wait_scale_s=dt * float(rng.uniform(0.3, 2.0)) if kind == "ctrw" else None,
        D_rot_rad2_s=rot_step**2 / (2 * dt),
    )


def _random_particle(
    rng: np.random.Generator,
    *,
    width: int,
    height: int,
    px_nm: float,
    fps: float,
    n_frames: int,
    placed: list[ParticleSpec],
    step_px: tuple[float, float],
    exits: float,
) -> ParticleSpec:
    scale = min(width, height) / 1024
    size_px = max(4.0, _log_uniform(rng, 8.0, 150.0) * scale)
    shape = _pick(rng, SHAPE_WEIGHTS)
    size_nm = size_px * px_nm
    aspect = None
    offsets: tuple[tuple[float, float], ...] = ()
    if shape == "rod":
        aspect = float(rng.uniform(1.5, 6.0))
    elif shape == "triangle":
        aspect = float(rng.uniform(2.0, 8.0))
    elif shape == "aggregate":
        size_nm = max(4.0 * px_nm, size_nm / 2)
        offsets = aggregate_offsets(rng, int(rng.integers(2, 6)), size_nm)
    material = PARTICLE_MATERIALS[int(rng.integers(len(PARTICLE_MATERIALS)))]
    probe = ParticleSpec(shape=shape, size_nm=size_nm, aspect=aspect, offsets_nm=offsets)
    radius = bounding_radius_nm(probe)
    span_x, span_y = (width - 1) * px_nm, (height - 1) * px_nm
    forced_drift = None
    if placed and rng.uniform() < 0.35:  # close approach / partial overlap with an earlier particle
        other = placed[int(rng.integers(len(placed)))]
        distance = (radius + bounding_radius_nm(other)) * float(rng.uniform(0.6, 1.2))
        angle = rng.uniform(0, 2 * math.pi)
        x, y = other.x_nm + distance * math.cos(angle), other.y_nm + distance * math.sin(angle)
    elif rng.uniform() < 0.15:  # outside the field at first, drifting in within the first half of the clip
        heading = rng.uniform(0, 2 * math.pi)
        reach = 0.5 * math.hypot(span_x, span_y) + radius * float(rng.uniform(1.0, 2.0))
        x, y = span_x / 2 + reach * math.cos(heading), span_y / 2 + reach * math.sin(heading)
        distance = max(abs(x - span_x / 2) - span_x / 2, abs(y - span_y / 2) - span_y / 2, 0.0) + radius
        speed = distance / (max(n_frames - 1, 1) / 2) * fps * float(rng.uniform(1.0, 1.5))  # nm/s
        forced_drift = (-speed * math.cos(heading), -speed * math.sin(heading))
    elif exits > 0 and rng.uniform() < exits:  # no draw at exits = 0: specs of a seed stay what they were
        x, y, forced_drift = _exit_course(rng, span_x=span_x, span_y=span_y, radius=radius, px_nm=px_nm, fps=fps,
                                          n_frames=n_frames)  # fmt: skip
    else:  # at least partly in the field of view
        x = float(rng.uniform(-0.5 * radius, span_x + 0.5 * radius))
        y = float(rng.uniform(-0.5 * radius, span_y + 0.5 * radius))
    return ParticleSpec(
        shape=shape,
        size_nm=size_nm,
        aspect=aspect,
        material=material,
        x_nm=float(x),
        y_nm=float(y),
        orientation_rad=float(rng.uniform(0, 2 * math.pi)),
        offsets_nm=offsets,
        motion=_random_motion(
            rng, px_nm=px_nm, fps=fps, size_nm=size_nm, forced_drift=forced_drift, step_px=step_px
        ),
    )


def _exit_course(
    rng: np.random.Generator, *, span_x: float, span_y: float, radius: float, px_nm: float, fps: float, n_frames: int
) -> tuple[float, float, tuple[float, float]]:
    """Start (nm) and drift (nm/s) of a particle whose centre is a radius past a frame edge after 40-90 % of the clip.

    The drift is 1-8 px per frame (log-uniform) on a random heading; the edge is the one the heading points to
    most, the crossing point uniform along it. Brownian motion comes on top, so an exit is likely, not certain.
    """
    heading = rng.uniform(0, 2 * math.pi)
    dx, dy = math.cos(heading), math.sin(heading)
    speed = _log_uniform(rng, 1.0, 8.0) * px_nm  # nm per frame
    frames = float(rng.uniform(0.4, 0.9)) * max(n_frames - 1, 1)
    if abs(dx) >= abs(dy):
        end = (span_x + radius if dx > 0 else -radius, float(rng.uniform(0, span_y)))
    else:
        end = (float(rng.uniform(0, span_x)), span_y + radius if dy > 0 else -radius)
    x, y = end[0] - dx * speed * frames, end[1] - dy * speed * frames
    return float(x), float(y), (dx * speed * fps, dy * speed * fps)


def _random_imaging(
    rng: np.random.Generator, *, px_nm: float, fps: float, particles: list[ParticleSpec], cnr: tuple[float, float]
) -> ImagingSpec:
    liquid = LIQUIDS[0]
    thickness = _log_uniform(rng, 30.0, 1000.0)
    exposure = float(rng.uniform(0.5, 1.0)) / fps
    # Choose the dose so that a typical particle has a target per-pixel CNR (before blur): from barely to clearly.
    target_cnr = _log_uniform(rng, *cnr)
    typical = particles[int(rng.integers(len(particles)))]
    t = min(typical.size_nm / (typical.aspect if typical.shape == "triangle" else 1.0), thickness)
    delta = t * (1.0 / mean_free_path(typical.material) - 1.0 / mean_free_path(liquid))
    background = (target_cnr / max(1.0 - math.exp(-delta), 1e-3)) ** 2  # counts per pixel behind the liquid
    incident = background / math.exp(-thickness / mean_free_path(liquid))
    dose = min(max(incident / (exposure * (10.0 * px_nm) ** 2), 0.05), 1e5)
    quantize = _pick(rng, {"none": 0.4, "8bit": 0.3, "jpeg": 0.3})
    return ImagingSpec(
        thickness_nm=thickness,
        liquid=liquid,
        bulge=float(rng.uniform(0.0, 0.4)),
        dose_rate=dose,
        exposure_s=exposure,
        blur_px=float(rng.uniform(0.0, 2.5)),
        gradient=float(rng.uniform(0.0, 0.3)),
        gradient_angle_rad=float(rng.uniform(0, 2 * math.pi)),
        illum_drift=float(rng.uniform(0.0, 0.1)),
        illum_period_s=_log_uniform(rng, 0.5, 30.0),
        quantize=quantize,
        jpeg_quality=int(rng.integers(30, 96)),
    )


def random_spec(
    rng: np.random.Generator,
    *,
    frame_size: tuple[int, int] = (512, 1024),
    n_frames: tuple[int, int] = (8, 16),
    max_particles: int = 10,
    cnr: tuple[float, float] = (0.3, 12.0),
    step_px: tuple[float, float] = STEP_PX,
    exits: float = 0.0,
    seed: int | None = None,
) -> VideoSpec:
    """A broadly randomised :class:`VideoSpec`.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice.
    frame_size : tuple of int
        Height and width are drawn independently from [min, max] px (multiples of 8 when the range allows).
    n_frames : tuple of int
        Clip length range, frames (inclusive).
    max_particles : int
        Up to this many particles (at least 1).
    cnr : tuple of float
        Range of the target per-pixel contrast-to-noise ratio of a typical particle (log-uniform); the dose follows.
    step_px : tuple of float
        Range of each particle's RMS displacement per axis per frame, px (log-uniform; fBm: at one frame).
    exits : float
        Chance that a particle (not placed next to another, not entering) drifts out of the field within the clip,
        its centre a radius past an edge after 40-90 % of the frames. 0 (default) leaves every spec unchanged.
    seed : int, optional
        The spec's simulation seed; default drawn from ``rng``.
    """
    lo, hi = frame_size
    if not 8 <= lo <= hi:
        raise InputError(f"frame size range must satisfy 8 <= min <= max, got {frame_size!r}")
    if not 1 <= n_frames[0] <= n_frames[1]:
        raise InputError(f"clip length range must satisfy 1 <= min <= max, got {n_frames!r}")
    if not 0 < cnr[0] <= cnr[1]:
        raise InputError(f"CNR range must satisfy 0 < min <= max, got {cnr!r}")
    if max_particles < 1:
        raise InputError(f"max particles must be >= 1, got {max_particles!r}")
    if not 0 < step_px[0] <= step_px[1]:
        raise InputError(f"step range must satisfy 0 < min <= max px, got {step_px!r}")
    if not 0 <= exits <= 1:
        raise InputError(f"exit chance must be in [0, 1], got {exits!r}")

    def side() -> int:
        value = int(rng.integers(lo, hi + 1))
        rounded = value - value % 8
        return rounded if rounded >= lo else value

    height, width = side(), side()
    px_nm = _log_uniform(rng, 0.2, 2.0)
    fps = float(rng.choice([5.0, 10.0, 20.0, 25.0, 30.0, 50.0]))
    length = int(rng.integers(n_frames[0], n_frames[1] + 1))
    particles: list[ParticleSpec] = []
    for _ in range(int(rng.integers(1, max_particles + 1))):
        particles.append(
            _random_particle(
                rng,
                width=width,
                height=height,
                px_nm=px_nm,
                fps=fps,
                n_frames=length,
                placed=particles,
                step_px=step_px,
                exits=exits,
            )
        )
    imaging = _random_imaging(rng, px_nm=px_nm, fps=fps, particles=particles, cnr=cnr)
    return VideoSpec(
        width=width,
        height=height,
        n_frames=length,
        fps=fps,
        px_nm=px_nm,
        particles=tuple(particles),
        imaging=imaging,
        seed=int(rng.integers(2**31)) if seed is None else seed,
        supersample=2 if max(width, height) > 768 else 3,
    )
