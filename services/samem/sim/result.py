"""In-memory simulation: the whole clip as arrays and a track table (for on-the-fly training data)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from samem.sim.imaging import Quantizer
from samem.sim.render import TRACK_COLUMNS, simulate
from samem.sim.snr import SnrMeter
from samem.sim.spec import VideoSpec


@dataclass(frozen=True, kw_only=True)
class SimResult:
    """A rendered clip: ``video`` (T x H x W, float32 or uint8), ``labels`` (T x H x W uint16), ``tracks``, ``snr``."""

    spec: VideoSpec
    video: np.ndarray
    labels: np.ndarray
    tracks: pd.DataFrame
    snr: float | None
    snr_per_particle: dict[int, float | None]


def simulate_video(spec: VideoSpec) -> SimResult:
    """Render ``spec`` into memory (same frames as the files :func:`samem.sim.writer.write_video` writes)."""
    meter = SnrMeter(len(spec.particles), spec.imaging.blur_px)
    images, labels, rows = [], [], []
    for frame in simulate(spec, quantizer=Quantizer(spec.imaging.quantize, spec.imaging.jpeg_quality)):
        images.append(frame.image)
        labels.append(frame.labels)
        rows.extend(frame.tracks)
        meter.update(frame.image, frame.labels)
    snr, per_particle = meter.result()
    tracks = pd.DataFrame(rows, columns=list(TRACK_COLUMNS))
    return SimResult(
        spec=spec,
        video=np.stack(images),
        labels=np.stack(labels),
        tracks=tracks,
        snr=snr,
        snr_per_particle=per_particle,
    )
