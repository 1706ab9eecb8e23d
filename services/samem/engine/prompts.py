"""Prompts in input pixels: validation, and conversion to SAM 2's point format in model pixels.

Coordinates follow :mod:`samem.io.video.geometry`: pixel centres at integers, so the frame spans
``[-0.5, width - 0.5] x [-0.5, height - 0.5]``; a box is ``(x0, y0, x1, y1)`` with ``x0 < x1`` and ``y0 < y1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from samem.errors import InputError
from samem.io.video.geometry import FrameGeometry

POINT_LABELS = (0, 1)  # negative, positive
BOX_LABELS = (2, 3)  # SAM 2's labels for the top-left and bottom-right corners


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """A box and/or points with labels (1 positive, 0 negative) for one particle on one frame."""

    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()

    @property
    def n_points(self) -> int:
        """Points SAM 2 sees (a box counts as two)."""
        return len(self.points) + (2 if self.box is not None else 0)

    def to_model(self, geometry: FrameGeometry) -> tuple[np.ndarray, np.ndarray]:
        """Point coordinates [P, 2] (float32, model pixels) and labels [P] (int32), the box's corners first."""
        coords, labels = [], []
        if self.box is not None:
            coords.append(geometry.boxes_to_model(np.asarray(self.box)).reshape(2, 2))
            labels.extend(BOX_LABELS)
        if self.points:
            coords.append(geometry.points_to_model(np.asarray(self.points)))
            labels.extend(self.labels)
        return np.concatenate(coords).astype(np.float32), np.asarray(labels, dtype=np.int32)


def _inside(x: float, y: float, height: int, width: int) -> bool:
    return -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5


def make_prompt(
    *,
    box: ArrayLike | None,
    points: ArrayLike | None,
    labels: Sequence[int] | ArrayLike | None,
    height: int,
    width: int,
    where: str,
) -> Prompt:
    """Validate a prompt for an ``height x width`` frame; ``where`` names it in error messages."""
    if box is None and points is None:
        raise InputError(f"{where}: give a box and/or points")
    parsed_box = None
    if box is not None:
        values = np.asarray(box, dtype=np.float64).ravel()
        if values.size != 4 or not np.all(np.isfinite(values)):
            raise InputError(f"{where}: a box is 4 finite numbers (x0, y0, x1, y1), got {np.asarray(box).tolist()}")
        x0, y0, x1, y1 = (float(v) for v in values)
        if x1 < x0 or y1 < y0:
            raise InputError(f"{where}: box {values.tolist()} is inverted; expected x0 < x1 and y0 < y1")
        if x1 == x0 or y1 == y0:
            raise InputError(f"{where}: box {values.tolist()} is empty (zero width or height)")
        if not (_inside(x0, y0, height, width) and _inside(x1, y1, height, width)):
            raise InputError(
                f"{where}: box {values.tolist()} is outside the {width} x {height} frame"
                f" (corners must lie in [-0.5, {width - 0.5}] x [-0.5, {height - 0.5}])"
            )
        parsed_box = (x0, y0, x1, y1)
    parsed_points: tuple[tuple[float, float], ...] = ()
    parsed_labels: tuple[int, ...] = ()
    if points is not None or labels is not None:
        if points is None or labels is None:
            raise InputError(f"{where}: points and labels go together")
        xy = np.asarray(points, dtype=np.float64).reshape(-1, 2) if np.size(points) else np.zeros((0, 2))
        label_values = [int(v) for v in np.asarray(labels).ravel()]
        if len(label_values) != len(xy):
            raise InputError(f"{where}: {len(xy)} point(s) but {len(label_values)} label(s)")
        if not np.all(np.isfinite(xy)):
            raise InputError(f"{where}: point coordinates must be finite")
        if any(v not in POINT_LABELS for v in label_values):
            raise InputError(f"{where}: point labels must be 1 (positive) or 0 (negative), got {label_values}")
        outside = [p.tolist() for p in xy if not _inside(p[0], p[1], height, width)]
        if outside:
            raise InputError(f"{where}: point(s) {outside} outside the {width} x {height} frame")
        parsed_points = tuple((float(x), float(y)) for x, y in xy)
        parsed_labels = tuple(label_values)
    if parsed_box is None and not parsed_points:
        raise InputError(f"{where}: give a box and/or at least one point")
    return Prompt(box=parsed_box, points=parsed_points, labels=parsed_labels)
