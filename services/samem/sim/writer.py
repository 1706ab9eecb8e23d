"""Write a simulated video to disk: video.tif, gt_masks.tif, gt_tracks.csv, prompts.json, meta.json.

``prompts.json`` holds the box a user would draw around each particle visible on the first frame (the box enclosing
its ground-truth mask), in the format of ``samem track --prompts``.

Frames are rendered and appended one at a time (contiguous uncompressed TIFF pages, the tracks CSV row by row),
so memory does not grow with the video length. :func:`write_video` writes through
:func:`samem.io.output.atomic_output_dir`: a failure leaves nothing half-written.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from tqdm import tqdm

from samem import __version__
from samem.io.output import atomic_output_dir
from samem.measure import label_boxes
from samem.sim import shapes
from samem.sim.imaging import Quantizer, incident_counts
from samem.sim.materials import MATERIALS
from samem.sim.motion import trap_rate
from samem.sim.render import TRACK_COLUMNS, simulate
from samem.sim.snr import SNR_DEFINITION, SnrMeter
from samem.sim.spec import VideoSpec

SIMULATOR_VERSION = f"samem.sim {__version__} (format 1)"
FILES = ("video.tif", "gt_masks.tif", "gt_tracks.csv", "prompts.json", "meta.json")


def first_frame_prompts(labels: np.ndarray) -> list[dict[str, Any]]:
    """Box prompts (``samem track --prompts`` format) of the particles visible on a label frame, by particle id."""
    return [{"particle": p, "frame": 0, "box": [round(v, 2) for v in box]} for p, box in label_boxes(labels).items()]


class _StackWriter:
    """Append T x H x W pages to a TIFF; a 1-frame stack is still stored as 1 x H x W."""

    def __init__(self, path: Path, n_frames: int) -> None:
        self.tiff = tifffile.TiffWriter(path)
        self.single = n_frames == 1

    def append(self, page: np.ndarray) -> None:
        if self.single:
            self.tiff.write(page[None], photometric="minisblack")
        else:
            self.tiff.write(page, contiguous=True, photometric="minisblack")

    def close(self) -> None:
        self.tiff.close()


def particle_meta(spec: VideoSpec) -> list[dict[str, Any]]:
    """Per-particle description for meta.json (id = mask label)."""
    out = []
    for k, p in enumerate(spec.particles, start=1):
        m = p.motion
        out.append(
            {
                "id": k,
                "shape": p.shape,
                "size_nm": p.size_nm,
                "aspect": p.aspect,
                "size_px": p.size_nm / spec.px_nm,
                "material": p.material,
                "mfp_nm": MATERIALS[p.material].mfp_nm,
                "volume_nm3": shapes.volume_nm3(p),
                "projected_area_nm2": shapes.projected_area_nm2(p),
                "n_spheres": len(p.offsets_nm) if p.shape == "aggregate" else None,
                "motion": m.kind,
                "D_nm2_s": m.D_nm2_s,
                "D_units": "nm^2/s^alpha" if m.kind == "fbm" else "nm^2/s",
                "alpha": m.alpha if m.kind in ("fbm", "ctrw") else 1.0,
                "drift_nm_s": list(m.drift_nm_s),
                "trap_radius_nm": m.trap_radius_nm,
                "trap_rate_theta_s": trap_rate(m),
                "ctrw_wait_scale_s": (m.wait_scale_s or 1.0 / spec.fps) if m.kind == "ctrw" else None,
                "D_rot_rad2_s": m.D_rot_rad2_s,
                "x0_px": p.x_nm / spec.px_nm,
                "y0_px": p.y_nm / spec.px_nm,
                "orientation0_rad": p.orientation_rad,
            }
        )
    return out


def build_meta(
    spec: VideoSpec, *, snr: float | None, snr_per_particle: dict[int, float | None], quantizer: Quantizer
) -> dict[str, Any]:
    """The meta.json content."""
    im = spec.imaging
    return {
        "simulator_version": SIMULATOR_VERSION,
        "seed": spec.seed,
        "px_nm": spec.px_nm,
        "fps": spec.fps,
        "width": spec.width,
        "height": spec.height,
        "frame_size": [spec.height, spec.width],
        "n_frames": spec.n_frames,
        "n_particles": len(spec.particles),
        "video_dtype": "float32" if im.quantize == "none" else "uint8",
        "video_units": "detected electrons per pixel" if im.quantize == "none" else "uint8 grey levels",
        "quantization": quantizer.describe(),
        "thickness_nm": im.thickness_nm,
        "liquid": im.liquid,
        "liquid_mfp_nm": MATERIALS[im.liquid].mfp_nm,
        "dose_rate_e_A2_s": im.dose_rate,
        "exposure_s": im.exposure_s,
        "incident_counts_per_px": incident_counts(im, spec.px_nm),
        "blur_px": im.blur_px,
        "snr": snr,
        "snr_definition": SNR_DEFINITION,
        "snr_per_particle": {str(k): v for k, v in snr_per_particle.items()},
        "particles": particle_meta(spec),
        "conventions": {
            "coordinates": "x = column, y = row, pixels, pixel centres at integer coordinates",
            "orientation": "radians from +x towards +y (clockwise on screen), wrapped to [-pi, pi); spheres 0",
            "labels": "0 = background, k = particle k (meta particles[].id)",
            "overlap": "pixel goes to the particle with the largest projected thickness there (ties: lower id)",
            "tracks_xy": "true projection centre; x_mask, y_mask = centroid of visible mask pixels",
        },
        "files": list(FILES),
        "spec": spec.to_dict(),
    }


def write_clip(spec: VideoSpec, directory: str | os.PathLike[str], *, progress: bool = False) -> dict[str, Any]:
    """Render ``spec`` into the existing ``directory`` (not atomic; see :func:`write_video`); return the meta dict."""
    directory = Path(directory)
    quantizer = Quantizer(spec.imaging.quantize, spec.imaging.jpeg_quality)
    meter = SnrMeter(len(spec.particles), spec.imaging.blur_px)
    video = _StackWriter(directory / "video.tif", spec.n_frames)
    masks = _StackWriter(directory / "gt_masks.tif", spec.n_frames)
    try:
        with open(directory / "gt_tracks.csv", "w", newline="") as handle:
            table = csv.DictWriter(handle, fieldnames=TRACK_COLUMNS, lineterminator="\n")
            table.writeheader()
            frames = simulate(spec, quantizer=quantizer)
            bar = tqdm(frames, total=spec.n_frames, desc="frames", unit="frame", disable=not progress, file=sys.stderr)
            for index, frame in enumerate(bar):
                if index == 0:
                    (directory / "prompts.json").write_text(json.dumps(first_frame_prompts(frame.labels)) + "\n")
                video.append(frame.image)
                masks.append(frame.labels)
                table.writerows(frame.tracks)
                meter.update(frame.image, frame.labels)
    finally:
        video.close()
        masks.close()
    snr, per_particle = meter.result()
    meta = build_meta(spec, snr=snr, snr_per_particle=per_particle, quantizer=quantizer)
    with open(directory / "meta.json", "w") as handle:
        json.dump(meta, handle, indent=2)
        handle.write("\n")
    return meta


def write_video(spec: VideoSpec, out_dir: str | os.PathLike[str], *, progress: bool = True) -> dict[str, Any]:
    """Render ``spec`` into ``out_dir`` atomically (the files appear together or not at all); return meta."""
    with atomic_output_dir(out_dir) as staging:
        return write_clip(spec, staging, progress=progress)
