"""An in-memory video behind the reader interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samem.errors import InputError
from samem.io.video.base import VideoInfo, VideoReader


class ArrayVideo(VideoReader):
    """A (T, H, W) gray array read like a file (the normaliser fits to it as to a file)."""

    def __init__(self, frames: np.ndarray, name: str = "array") -> None:
        if frames.ndim != 3 or 0 in frames.shape:
            raise InputError(f"an in-memory video must be a non-empty T x H x W array, got shape {frames.shape}")
        self.frames = frames
        n, height, width = frames.shape
        self.info = VideoInfo(
            path=Path(name), format="array", n_frames=n, height=height, width=width, dtype=frames.dtype
        )

    def _read(self, index: int) -> np.ndarray:
        return self.frames[index]
