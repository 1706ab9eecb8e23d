"""Resizing frames to the model's input size and mapping coordinates between input and model pixels.

Coordinate convention (everywhere in samem): ``x`` is the column and ``y`` the row, and pixel ``(row r, col c)``
has its centre at ``(x=c, y=r)`` and covers ``[c - 0.5, c + 0.5]``, as trackpy and scikit-image centroids do. The
resize is area-aligned (the "half-pixel" convention of PIL, OpenCV and ``torch`` ``align_corners=False``): the
outer edge of the input image, ``-0.5`` to ``width - 0.5``, maps to the outer edge of the resized image. Points and
box corners ``(x0, y0, x1, y1)`` follow the same affine map, so a box hugging pixels stays hugging them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image

from samem.errors import InputError

ResizeMode = Literal["square", "letterbox"]


@dataclass(frozen=True, kw_only=True)
class FrameGeometry:
    """How an ``height x width`` frame becomes a ``size x size`` model image.

    ``mode="square"`` (default, what SAM 2 does with its ``image_size``) stretches each axis to ``size``.
    ``mode="letterbox"`` scales the longest side to ``size`` keeping the aspect ratio (the other side rounded to
    whole pixels) and pads the bottom or right with zeros.
    """

    height: int
    width: int
    size: int = 1024
    mode: ResizeMode = "square"
    resized_height: int = field(init=False)
    resized_width: int = field(init=False)

    def __post_init__(self) -> None:
        if min(self.height, self.width, self.size) < 1:
            raise InputError(f"frame and model sizes must be positive, got {self.height} x {self.width} -> {self.size}")
        if self.mode == "square":
            resized = (self.size, self.size)
        elif self.mode == "letterbox":
            scale = self.size / max(self.height, self.width)
            resized = (max(1, round(self.height * scale)), max(1, round(self.width * scale)))
        else:
            raise InputError(f"resize mode must be 'square' or 'letterbox', got {self.mode!r}")
        object.__setattr__(self, "resized_height", resized[0])
        object.__setattr__(self, "resized_width", resized[1])

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Model pixels per input pixel along x and y."""
        return self.resized_width / self.width, self.resized_height / self.height

    def points_to_model(self, points: ArrayLike) -> np.ndarray:
        """Map input ``(..., 2)`` points ``(x, y)`` to model pixels."""
        xy = _as_points(points, 2)
        return (xy + 0.5) * np.asarray(self.scale_xy) - 0.5

    def points_to_input(self, points: ArrayLike) -> np.ndarray:
        """Map model ``(..., 2)`` points ``(x, y)`` back to input pixels."""
        xy = _as_points(points, 2)
        return (xy + 0.5) / np.asarray(self.scale_xy) - 0.5

    def boxes_to_model(self, boxes: ArrayLike) -> np.ndarray:
        """Map input ``(..., 4)`` boxes ``(x0, y0, x1, y1)`` to model pixels."""
        corners = _as_points(boxes, 4).reshape(*np.shape(boxes)[:-1], 2, 2)
        return self.points_to_model(corners).reshape(*np.shape(boxes)[:-1], 4)

    def boxes_to_input(self, boxes: ArrayLike) -> np.ndarray:
        """Map model ``(..., 4)`` boxes ``(x0, y0, x1, y1)`` back to input pixels."""
        corners = _as_points(boxes, 4).reshape(*np.shape(boxes)[:-1], 2, 2)
        return self.points_to_input(corners).reshape(*np.shape(boxes)[:-1], 4)

    def resize(self, frame: np.ndarray) -> np.ndarray:
        """The frame as a float32 ``(size, size)`` model image (bilinear, antialiased when shrinking)."""
        frame = np.asarray(frame)
        if frame.shape != (self.height, self.width):
            raise InputError(f"frame of shape {frame.shape} does not match the geometry's {self.height} x {self.width}")
        image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.float32))
        resized = np.asarray(image.resize((self.resized_width, self.resized_height), Image.Resampling.BILINEAR))
        if resized.shape == (self.size, self.size):
            return resized.astype(np.float32, copy=True)
        out = np.zeros((self.size, self.size), dtype=np.float32)
        out[: self.resized_height, : self.resized_width] = resized
        return out


def _as_points(values: ArrayLike, width: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim < 1 or array.shape[-1] != width:
        raise InputError(f"expected coordinates with a last axis of length {width}, got shape {array.shape}")
    return array
