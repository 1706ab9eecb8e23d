"""The reader interface shared by every video format: metadata, random access, lazy iteration."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from samem.errors import InputError

#: Luminance weights (ITU-R BT.601, as Pillow's "L" mode) for R, G, B.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True, kw_only=True)
class VideoInfo:
    """What a reader knows about its video before any frame is decoded.

    ``px_nm`` is the pixel size in nanometres and ``frame_interval_s`` the time between frames in seconds, each
    ``None`` where the file does not record it.
    """

    path: Path
    format: str
    n_frames: int
    height: int
    width: int
    dtype: np.dtype
    px_nm: float | None = None
    frame_interval_s: float | None = None


class VideoReader(abc.ABC):
    """A video opened for lazy, random-access reading of grayscale frames of shape (height, width).

    Use as a context manager; frames keep the file's native dtype (colour is reduced to luminance).
    """

    info: VideoInfo

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return self.info.n_frames

    def close(self) -> None:  # noqa: B027 - readers without resources need not override
        """Release the file handles; further reads are undefined."""

    def read(self, index: int) -> np.ndarray:
        """Return frame ``index`` (negative counts from the end) as a 2-D array of the native dtype."""
        n = self.info.n_frames
        if not isinstance(index, int | np.integer):
            raise InputError(f"frame index must be an integer, got {index!r}")
        position = int(index) + n if index < 0 else int(index)
        if not 0 <= position < n:
            raise InputError(f"frame index {index} is out of range for {self.info.path.name} with {n} frame(s)")
        return self._check_frame(self._read(position), position)

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for frames ``start`` to ``stop - 1`` (``stop`` None: to the end), one at a time."""
        n = self.info.n_frames
        stop = n if stop is None else stop
        if not (0 <= start <= n and start <= stop <= n):
            raise InputError(f"frame range {start}:{stop} is out of range for {self.info.path.name} with {n} frame(s)")
        for index, frame in self._iter(start, stop):
            yield index, self._check_frame(frame, index)

    @abc.abstractmethod
    def _read(self, index: int) -> np.ndarray:
        """Read frame ``index`` (already range-checked), as stored (2-D, or 3-D with colour last)."""

    def _iter(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield frames ``start`` to ``stop - 1``; formats with sequential decoding override this."""
        for index in range(start, stop):
            yield index, self._read(index)

    def _check_frame(self, frame: np.ndarray, index: int) -> np.ndarray:
        frame = to_gray(np.asarray(frame))
        expected = (self.info.height, self.info.width)
        if frame.shape != expected:
            raise InputError(f"frame {index} of {self.info.path.name} has shape {frame.shape}, expected {expected}")
        return frame

    def __repr__(self) -> str:
        i = self.info
        return f"{type(self).__name__}({str(i.path)!r}, {i.format}, {i.n_frames} x {i.height} x {i.width} {i.dtype})"


def to_gray(frame: np.ndarray) -> np.ndarray:
    """Reduce an (H, W, 3|4) colour frame to (H, W) luminance in the same dtype; pass 2-D frames through."""
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[-1] == 1:
        return frame[..., 0]
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
        raise InputError(f"cannot interpret a frame of shape {frame.shape} as a grayscale or RGB image")
    luma = frame[..., :3].astype(np.float64) @ LUMA_WEIGHTS
    if np.issubdtype(frame.dtype, np.integer):
        limits = np.iinfo(frame.dtype)
        return np.clip(np.rint(luma), limits.min, limits.max).astype(frame.dtype)
    return luma.astype(frame.dtype)


def check_pixel_dtype(dtype: np.dtype, path: Path) -> np.dtype:
    """Return ``dtype`` if it is a real numeric pixel type; raise :class:`InputError` for complex or RGB records."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "uif":
        raise InputError(f"{path.name} holds {dtype} pixels; only integer and real float images are supported")
    return dtype


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty), for one-line errors."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
