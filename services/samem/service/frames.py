"""Frames of stored videos for display (``Videos.GetFrame``), as 8-bit PNG.

One frame is read with the engine's readers, contrast-stretched to 8 bits between percentiles, scaled down to fit
a size and encoded as PNG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from samem.io.video import open_video

LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5


@dataclass(frozen=True, kw_only=True)
class DisplayFrame:
    """An 8-bit greyscale PNG of a frame, its size, and the intensities mapped to 0 and 255."""

    png: bytes
    width: int
    height: int
    low: float
    high: float


def stretch(frame: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map the frame's 0.5th..99.5th percentile to 0..255 (uint8); a flat frame becomes mid-grey.

    Returns the image and the two intensities (in the file's units) mapped to 0 and 255.
    """
    data = np.asarray(frame, dtype=np.float64)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.full(data.shape, 128, np.uint8), 0.0, 0.0
    low, high = (float(v) for v in np.percentile(finite, [LOW_PERCENTILE, HIGH_PERCENTILE]))
    if high <= low:
        return np.full(data.shape, 128, np.uint8), low, high
    scaled = np.clip((np.nan_to_num(data, nan=low) - low) / (high - low), 0.0, 1.0)
    return np.rint(scaled * 255).astype(np.uint8), low, high


def fitted_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """(width, height) scaled down so that the longer side is at most ``max_size`` (0: unchanged), never up."""
    longest = max(width, height)
    if max_size <= 0 or longest <= max_size:
        return width, height
    scale = max_size / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def display_frame(path: Path, index: int, *, max_size: int = 0) -> DisplayFrame:
    """Frame ``index`` of the video file at ``path`` for display (see the module docstring)."""
    with open_video(path) as reader:
        raw = reader.read(index)
    gray, low, high = stretch(raw)
    image = Image.fromarray(gray)
    size = fitted_size(image.width, image.height, max_size)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BOX)  # area averaging: no aliasing when shrinking
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return DisplayFrame(png=buffer.getvalue(), width=image.width, height=image.height, low=low, high=high)
