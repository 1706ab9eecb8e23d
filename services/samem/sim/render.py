"""Compose frames: rasterise every particle's projected thickness, form the image, derive labels and tracks.

Conventions (the output contract):

- Pixel coordinates: x = column, y = row; pixel centres at integer coordinates, so the centroid of a mask's
  pixel indices estimates (x, y). A particle at ``x_nm`` lies at column ``x_nm / px_nm``.
- Anti-aliasing: each particle's thickness is evaluated on ``supersample x supersample`` sub-samples per pixel,
  only inside the bounding box of its projection, and averaged per pixel.
- Masks: a pixel belongs to particle k when at least half of its sub-samples fall inside k's projection.
- Overlap rule: where several particles' masks meet, the pixel goes to the particle with the largest projected
  thickness at that pixel (ties to the lower id); thicknesses add along the beam in the image regardless.
- Orientation: radians, the angle of the particle's long axis (rod axis; triangle centroid-to-vertex direction;
  cube face normal; aggregate reference axis) from +x towards +y in image coordinates (clockwise on screen, y
  pointing down), wrapped to [-pi, pi). Spheres report 0 (they are isotropic and not rotated).
- Tracks: one row per frame in which the particle has at least one mask pixel. ``x``, ``y`` are the true centre
  of the projection (also when part of it is outside the frame); ``x_mask``, ``y_mask`` are the centroid of its
  visible mask pixels; ``area_px`` their number; ``visible_fraction`` = area_px / full projected area (clipped to 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from samem.sim import imaging, shapes
from samem.sim.materials import mean_free_path
from samem.sim.motion import Path, generate_path
from samem.sim.spec import ParticleSpec, VideoSpec

TRACK_COLUMNS = (
    "frame",
    "particle",
    "x",
    "y",
    "orientation",
    "time_s",
    "x_mask",
    "y_mask",
    "area_px",
    "visible_fraction",
)


@dataclass(frozen=True, kw_only=True)
class Frame:
    """One simulated frame: image (float32 counts or uint8), uint16 labels, and its track rows (dicts)."""

    index: int
    time_s: float
    image: np.ndarray
    labels: np.ndarray
    tracks: list[dict[str, float | int]]


@dataclass(frozen=True, kw_only=True)
class Footprint:
    """A particle rasterised into the frame: the pixel box and per-pixel mean thickness (nm) and coverage."""

    rows: slice
    cols: slice
    thickness_nm: np.ndarray
    coverage: np.ndarray


def wrap_angle(angle: float) -> float:
    """``angle`` wrapped to [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def rasterize(
    particle: ParticleSpec,
    *,
    x_px: float,
    y_px: float,
    angle_rad: float,
    px_nm: float,
    frame_shape: tuple[int, int],
    supersample: int,
) -> Footprint | None:
    """Anti-aliased projected thickness of ``particle`` centred at (x_px, y_px); None when it misses the frame."""
    height, width = frame_shape
    radius_px = shapes.bounding_radius_nm(particle) / px_nm
    c0, c1 = max(math.floor(x_px - radius_px), 0), min(math.ceil(x_px + radius_px) + 1, width)
    r0, r1 = max(math.floor(y_px - radius_px), 0), min(math.ceil(y_px + radius_px) + 1, height)
    if c0 >= c1 or r0 >= r1:
        return None
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    dx = ((np.arange(c0, c1)[:, None] + sub).ravel() - x_px) * px_nm
    dy = ((np.arange(r0, r1)[:, None] + sub).ravel() - y_px) * px_nm
    cos_a, sin_a = math.cos(angle_rad), math.sin(angle_rad)
    u = dx[None, :] * cos_a + dy[:, None] * sin_a
    v = -dx[None, :] * sin_a + dy[:, None] * cos_a
    fine = shapes.projected_thickness(particle, u, v)
    blocks = (r1 - r0, supersample, c1 - c0, supersample)
    thickness = fine.reshape(blocks).mean(axis=(1, 3))
    coverage = (fine > 0).reshape(blocks).mean(axis=(1, 3))
    return Footprint(rows=slice(r0, r1), cols=slice(c0, c1), thickness_nm=thickness, coverage=coverage)


def plan_paths(spec: VideoSpec, seed_sequence: np.random.SeedSequence) -> list[Path]:
    """Every particle's trajectory, each from its own child of ``seed_sequence``."""
    children = seed_sequence.spawn(len(spec.particles))
    return [
        generate_path(
            p.motion,
            start_nm=(p.x_nm, p.y_nm),
            angle0_rad=p.orientation_rad,
            n_frames=spec.n_frames,
            fps=spec.fps,
            rng=np.random.default_rng(child),
        )
        for p, child in zip(spec.particles, children, strict=True)
    ]


def _track_rows(
    spec: VideoSpec, index: int, labels: np.ndarray, poses: list[tuple[float, float, float]]
) -> list[dict[str, float | int]]:
    n = len(spec.particles)
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n + 1)
    rows_idx, cols_idx = np.divmod(np.arange(flat.size), labels.shape[1])
    sum_x = np.bincount(flat, weights=cols_idx, minlength=n + 1)
    sum_y = np.bincount(flat, weights=rows_idx, minlength=n + 1)
    out = []
    for k in range(1, n + 1):
        if area[k] == 0:
            continue
        particle = spec.particles[k - 1]
        x_px, y_px, angle = poses[k - 1]
        full_area = shapes.projected_area_nm2(particle) / spec.px_nm**2
        out.append(
            {
                "frame": index,
                "particle": k,
                "x": x_px,
                "y": y_px,
                "orientation": 0.0 if particle.shape == "sphere" else wrap_angle(angle),
                "time_s": index / spec.fps,
                "x_mask": sum_x[k] / area[k],
                "y_mask": sum_y[k] / area[k],
                "area_px": int(area[k]),
                "visible_fraction": min(1.0, area[k] / full_area),
            }
        )
    return out


def simulate(spec: VideoSpec, *, quantizer: imaging.Quantizer | None = None) -> Iterator[Frame]:
    """Render ``spec`` frame by frame (memory independent of the video length); deterministic for ``spec.seed``.

    Parameters
    ----------
    spec : VideoSpec
        What to simulate.
    quantizer : Quantizer, optional
        Pass one to read its uint8 window afterwards; it must match ``spec.imaging`` (default: a fresh one).

    Yields
    ------
    Frame
        Image (float32 counts, or uint8 when quantised), uint16 label map (0 = background, k = particle k) and
        track rows, in frame order.
    """
    motion_seeds, noise_seed = np.random.SeedSequence(spec.seed).spawn(2)
    paths = plan_paths(spec, motion_seeds)
    noise_rng = np.random.default_rng(noise_seed)
    shape = (spec.height, spec.width)
    im = spec.imaging
    liquid = imaging.liquid_thickness_map(spec.height, spec.width, im)
    beam = imaging.illumination_map(spec.height, spec.width, im) * imaging.incident_counts(im, spec.px_nm)
    liquid_mfp = mean_free_path(im.liquid)
    particle_mfp = [mean_free_path(p.material) for p in spec.particles]
    quantizer = quantizer or imaging.Quantizer(im.quantize, im.jpeg_quality)
    for index in range(spec.n_frames):
        time_s = index / spec.fps
        total_t = np.zeros(shape)
        particle_tau = np.zeros(shape)
        best_t = np.zeros(shape)
        labels = np.zeros(shape, dtype=np.uint16)
        poses = []
        for k, (particle, path) in enumerate(zip(spec.particles, paths, strict=True), start=1):
            x_px, y_px = path.xy_nm[index] / spec.px_nm
            angle = float(path.angle_rad[index])
            poses.append((float(x_px), float(y_px), angle))
            foot = rasterize(
                particle,
                x_px=x_px,
                y_px=y_px,
                angle_rad=angle,
                px_nm=spec.px_nm,
                frame_shape=shape,
                supersample=spec.supersample,
            )
            if foot is None:
                continue
            box = (foot.rows, foot.cols)
            total_t[box] += foot.thickness_nm
            particle_tau[box] += foot.thickness_nm / particle_mfp[k - 1]
            wins = (foot.coverage >= 0.5) & (foot.thickness_nm > best_t[box])
            labels[box][wins] = k
            best_t[box][wins] = foot.thickness_nm[wins]
        tau = np.maximum(liquid - total_t, 0.0) / liquid_mfp + particle_tau
        expected = beam * imaging.illumination_drift(time_s, im) * np.exp(-tau)
        image = quantizer(imaging.detect(expected, noise_rng, im.blur_px))
        yield Frame(
            index=index, time_s=time_s, image=image, labels=labels, tracks=_track_rows(spec, index, labels, poses)
        )
