"""The held-out simulated test sets of ``samem eval``, after SAM-EM's test videos.

Three liquid thicknesses (:data:`THICKNESSES_NM`: 5, 50 and 150 nm of water, low to high noise) times the paper's
three shapes of test (:data:`PAPER_CASES`: 1 particle / 275 frames / 512 px, 2 particles / 300 frames / 512 px,
4 particles / 600 frames / 1024 px), plus one tuning video per thickness (:data:`TUNING_CASE`, another seed and
layout) on which baselines may fit their parameters. Everything else is fixed: gold spheres of
:data:`PARTICLE_NM` (20 px), Brownian motion with :data:`D_NM2_S` (no drift, no rotation), :data:`PX_NM`,
:data:`FPS`, and one dose rate (:data:`DOSE_RATE`), so the signal-to-noise ratio falls only because thicker water
transmits fewer electrons. A case's seed does not depend on the thickness: the particles follow the same paths
in the three liquids and only the image differs.

The ``quick`` scale (for tests) divides frame sides by :data:`QUICK_SIDE_DIVISOR` and frame counts by
:data:`QUICK_FRAME_DIVISOR` (at least :data:`QUICK_MIN_FRAMES`), with the same particles, motion and imaging.

Videos are written with :func:`samem.sim.write_video` into ``CACHE/<name>/`` and reused when their meta.json
records the same spec and simulator version.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from samem.errors import InputError
from samem.sim.spec import ImagingSpec, MotionSpec, ParticleSpec, VideoSpec
from samem.sim.writer import FILES, SIMULATOR_VERSION, write_video

THICKNESSES_NM = (5.0, 50.0, 150.0)
PX_NM = 0.5  # nm/px
FPS = 20.0  # frames/s; exposure = one frame interval
PARTICLE_NM = 10.0  # gold sphere diameter, nm (20 px)
MATERIAL = "Au"
D_NM2_S = 10.0  # translational diffusion coefficient, nm^2/s (about 2 px per frame and axis)
DOSE_RATE = 10.0  # e-/A^2/s, the same for every thickness
BLUR_PX = 1.0  # detector PSF sigma, px

QUICK_SIDE_DIVISOR = 4
QUICK_FRAME_DIVISOR = 30
QUICK_MIN_FRAMES = 12

_LAYOUT_JITTER = 0.08  # particle start positions move by up to this fraction of the frame side


@dataclass(frozen=True, kw_only=True)
class EvalCase:
    """A shape of test: number of particles, frames, square frame side (px) and the seed of its layout and motion."""

    name: str
    n_particles: int
    n_frames: int
    side_px: int
    seed: int


PAPER_CASES = (
    EvalCase(name="1p", n_particles=1, n_frames=275, side_px=512, seed=101),
    EvalCase(name="2p", n_particles=2, n_frames=300, side_px=512, seed=102),
    EvalCase(name="4p", n_particles=4, n_frames=600, side_px=1024, seed=104),
)
TUNING_CASE = EvalCase(name="tune", n_particles=2, n_frames=100, side_px=512, seed=201)


@dataclass(frozen=True, kw_only=True)
class EvalVideo:
    """One written test video: its case, liquid thickness (nm), directory (video.tif, gt_masks.tif, ...) and meta."""

    case: str
    thickness_nm: float
    directory: Path
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        """``<case>_<thickness>nm``, e.g. ``4p_150nm``."""
        return video_name(self.case, self.thickness_nm)

    @property
    def video_path(self) -> Path:
        """The video file."""
        return self.directory / "video.tif"


def video_name(case: str, thickness_nm: float) -> str:
    """Directory name of a case at a thickness, e.g. ``2p_50nm``."""
    return f"{case}_{thickness_nm:g}nm"


def check_thicknesses(values: Sequence[float]) -> tuple[float, ...]:
    """Distinct positive finite liquid thicknesses (nm), in the given order; :class:`InputError` otherwise."""
    out: list[float] = []
    for value in values:
        number = float(value)
        if not math.isfinite(number) or number <= 0:
            raise InputError(f"liquid thickness must be a finite number > 0 (nm), got {value!r}")
        if number in out:
            raise InputError(f"liquid thickness {number:g} nm is listed twice")
        out.append(number)
    if not out:
        raise InputError("give at least one liquid thickness (nm), e.g. 5,50,150")
    return tuple(out)


def scaled_case(case: EvalCase, quick: bool) -> EvalCase:
    """The case itself, or its ``quick`` version (smaller frames, fewer of them; same particles and seed)."""
    if not quick:
        return case
    return EvalCase(
        name=case.name,
        n_particles=case.n_particles,
        n_frames=max(QUICK_MIN_FRAMES, case.n_frames // QUICK_FRAME_DIVISOR),
        side_px=case.side_px // QUICK_SIDE_DIVISOR,
        seed=case.seed,
    )


def _start_positions_px(case: EvalCase) -> list[tuple[float, float]]:
    """Particle starts (x, y) in px: a centred grid (1, 2 side by side, 2 x 2), jittered by the case's seed."""
    columns = math.ceil(math.sqrt(case.n_particles))
    rows = math.ceil(case.n_particles / columns)
    rng = np.random.default_rng([case.seed, 0xE7A1])
    side = case.side_px
    starts = []
    for k in range(case.n_particles):
        row, column = divmod(k, columns)
        x = side * (column + 1) / (columns + 1)
        y = side * (row + 1) / (rows + 1)
        dx, dy = rng.uniform(-_LAYOUT_JITTER, _LAYOUT_JITTER, size=2) * side
        starts.append((float(x + dx), float(y + dy)))
    return starts


def case_spec(case: EvalCase, thickness_nm: float) -> VideoSpec:
    """The :class:`~samem.sim.spec.VideoSpec` of ``case`` in ``thickness_nm`` of water."""
    motion = MotionSpec(kind="brownian", D_nm2_s=D_NM2_S)
    particles = tuple(
        ParticleSpec(shape="sphere", size_nm=PARTICLE_NM, material=MATERIAL, x_nm=x * PX_NM, y_nm=y * PX_NM,
                     motion=motion)
        for x, y in _start_positions_px(case)
    )  # fmt: skip
    imaging = ImagingSpec(thickness_nm=thickness_nm, dose_rate=DOSE_RATE, exposure_s=1.0 / FPS, blur_px=BLUR_PX)
    return VideoSpec(
        width=case.side_px,
        height=case.side_px,
        n_frames=case.n_frames,
        fps=FPS,
        px_nm=PX_NM,
        particles=particles,
        imaging=imaging,
        seed=case.seed,
    )


def _cached_meta(directory: Path, spec: VideoSpec) -> dict[str, Any] | None:
    """The meta of a complete earlier rendering of ``spec`` in ``directory``, else None."""
    if not all((directory / name).is_file() for name in FILES):
        return None
    try:
        meta = json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    same_spec = json.dumps(meta.get("spec"), sort_keys=True) == json.dumps(spec.to_dict(), sort_keys=True)
    return meta if same_spec and meta.get("simulator_version") == SIMULATOR_VERSION else None


def write_eval_video(case: EvalCase, thickness_nm: float, cache_dir: str | os.PathLike[str]) -> EvalVideo:
    """Render ``case`` at ``thickness_nm`` into ``cache_dir/<name>/`` (atomically), or reuse a matching rendering."""
    directory = Path(cache_dir) / video_name(case.name, thickness_nm)
    spec = case_spec(case, thickness_nm)
    meta = _cached_meta(directory, spec)
    if meta is None:
        meta = write_video(spec, directory, progress=False)
    return EvalVideo(case=case.name, thickness_nm=thickness_nm, directory=directory, meta=meta)


def eval_cases(quick: bool) -> tuple[EvalCase, ...]:
    """The paper's cases at the chosen scale."""
    return tuple(scaled_case(case, quick) for case in PAPER_CASES)


def tuning_case(quick: bool) -> EvalCase:
    """The tuning video's case at the chosen scale."""
    return scaled_case(TUNING_CASE, quick)
