"""Per-object windows: small particles in large frames are tracked at the model's resolution, not shrunk with it.

A model that takes ``S x S`` images sees a 20 px particle of a 1024 px frame as 5 model pixels, about a third of
one feature cell, and samem-compact (S = 256) loses it. In window mode every object is tracked in its own square
window of the frame, ``zoom`` times the longer side of its prompt (``side``, in input pixels, fixed per prompt),
moved each frame so that it is centred on where the object was last seen, and resized to ``S x S``; all windows
of a frame are encoded in one batch. Window origins move in whole low-resolution mask pixels where the frame
allows, so the previous frame's mask (the mask prompt of models with mask propagation) is translated exactly.

Coordinates follow :mod:`samem.io.video.geometry`: a window covers input pixels ``x0 .. x0 + side - 1`` and
``y0 .. y0 + side - 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samem.engine.pieces import carried_mask
from samem.engine.prompts import Prompt
from samem.errors import InputError
from samem.io.video.geometry import FrameGeometry

DEFAULT_ZOOM = 8.0  # window side / particle size: 20 px particles -> 160 px windows (32 model px at S = 256)
#: what ``--zoom auto`` tries, in order, before whole frames: (zoom, largest window as a fraction of the frame's
#: longer side). 8 where the window is at most half the frame. 6 up to the whole frame: on the 14 videos like
#: ``make demo``'s (six particles of 20-120 px in 384 x 512 px frames, ``bench/bench_crowded.py``) the five where
#: whole frames had been chosen gained 0.12 +- 0.05 in J (every one better), and so did the two clips of
#: ``bench/bench_domain.py`` that change (0.38 -> 0.45, 0.61 -> 0.75)
AUTO_ZOOMS = ((DEFAULT_ZOOM, 0.5), (6.0, 1.0))
OUTSIDE_LOGIT = -100.0  # mask logit of input pixels outside an object's window


@dataclass(frozen=True)
class Window:
    """A square window of the input frame: top-left pixel ``(x0, y0)`` and side, in input pixels."""

    x0: int
    y0: int
    side: int

    def geometry(self, image_size: int) -> FrameGeometry:
        """How the window becomes a model image."""
        return FrameGeometry(height=self.side, width=self.side, size=image_size)

    def crop(self, frame: np.ndarray) -> np.ndarray:
        """The window's pixels of a ``height x width`` frame."""
        return frame[self.y0 : self.y0 + self.side, self.x0 : self.x0 + self.side]

    def local_prompt(self, prompt: Prompt) -> Prompt:
        """``prompt`` in the window's pixel coordinates."""
        box = None
        if prompt.box is not None:
            x0, y0, x1, y1 = prompt.box
            box = (x0 - self.x0, y0 - self.y0, x1 - self.x0, y1 - self.y0)
        points = tuple((x - self.x0, y - self.y0) for x, y in prompt.points)
        return Prompt(box=box, points=points, labels=prompt.labels)


def prompt_extent(prompt: Prompt) -> float | None:
    """The size a prompt tells of its particle: the box's longer side, or the spread of >= 2 points (px)."""
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        return max(x1 - x0, y1 - y0)
    if len(prompt.points) >= 2:
        xy = np.asarray(prompt.points)
        spread = float(np.ptp(xy, axis=0).max())
        return spread if spread > 0 else None
    return None


def window_side(extent: float | None, *, zoom: float, height: int, width: int, quantum: int) -> int:
    """``zoom * extent`` rounded up to a multiple of ``quantum``, at most the frame's shorter side.

    An unknown extent (a single click) gives the largest window.
    """
    shorter = min(height, width)
    if extent is None:
        return shorter
    return min(quantum * math.ceil(zoom * extent / quantum), shorter)


def centred_window(x: float, y: float, *, side: int, height: int, width: int, quantum: int) -> Window:
    """The window of ``side`` centred on input point ``(x, y)``, its origin on the grid of whole mask pixels.

    The grid step is ``side / quantum`` input pixels (one low-resolution mask pixel); near the frame's edge the
    window is pushed inside the frame, off the grid if need be.
    """
    step = max(side // quantum, 1)

    def origin(centre: float, extent: int) -> int:
        on_grid = step * round((centre - (side - 1) / 2) / step)
        return int(min(max(on_grid, 0), extent - side))

    return Window(x0=origin(x, width), y0=origin(y, height), side=side)


def prompt_window(prompt: Prompt, *, zoom: float, height: int, width: int, quantum: int) -> Window:
    """The window of a prompted frame: centred on the box (or the points), ``zoom`` times the prompt's extent."""
    side = window_side(prompt_extent(prompt), zoom=zoom, height=height, width=width, quantum=quantum)
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    else:
        positive = [p for p, label in zip(prompt.points, prompt.labels, strict=True) if label == 1] or prompt.points
        cx, cy = np.mean(np.asarray(positive), axis=0)
    return centred_window(float(cx), float(cy), side=side, height=height, width=width, quantum=quantum)


def mask_centre(low_res_logits: Tensor, window: Window) -> tuple[float, float] | None:
    """Centroid (x, y, input pixels) of the largest piece of a window's mask logits [1, L, L] > 0, or None if empty.

    Only the largest piece (:mod:`samem.engine.pieces`): a spurious blob does not pull the window away.
    """
    mask = carried_mask(low_res_logits.reshape(low_res_logits.shape[-2:])) > 0
    if not bool(mask.any()):
        return None
    rows, columns = torch.nonzero(mask, as_tuple=True)
    scale = window.side / mask.shape[-1]
    x = (columns.float().mean().item() + 0.5) * scale - 0.5 + window.x0
    y = (rows.float().mean().item() + 0.5) * scale - 0.5 + window.y0
    return x, y


def follow(window: Window, centre: tuple[float, float] | None, *, height: int, width: int, quantum: int) -> Window:
    """The next frame's window: centred on the object's mask ``centre`` (:func:`mask_centre`), unchanged if None."""
    if centre is None:
        return window
    return centred_window(*centre, side=window.side, height=height, width=width, quantum=quantum)


def shift_mask(mask: Tensor, dx: int, dy: int) -> Tensor:
    """``mask`` [..., L, L] moved by ``(dx, dy)`` pixels (content at (x, y) goes to (x + dx, y + dy)), zeros in."""
    size_y, size_x = mask.shape[-2:]
    out = torch.zeros_like(mask)
    if abs(dx) >= size_x or abs(dy) >= size_y:
        return out
    out[..., max(dy, 0) : size_y + min(dy, 0), max(dx, 0) : size_x + min(dx, 0)] = mask[
        ..., max(-dy, 0) : size_y + min(-dy, 0), max(-dx, 0) : size_x + min(-dx, 0)
    ]
    return out


def translate_mask(mask: Tensor, old: Window, new: Window) -> Tensor:
    """A low-resolution mask [1, L, L] of window ``old`` as seen from window ``new`` (same side), zeros outside.

    The shift is the origins' difference in whole mask pixels (exact on the origin grid of :func:`centred_window`).
    """
    if old.side != new.side:
        raise ValueError(f"windows of different sides ({old.side}, {new.side}) cannot share a mask")
    size = mask.shape[-1]
    return shift_mask(mask, round((old.x0 - new.x0) * size / new.side), round((old.y0 - new.y0) * size / new.side))


def paste_logits(low_res_logits: Tensor, windows: Sequence[Window], *, height: int, width: int) -> Tensor:
    """Window logits [N, 1, L, L] as frame logits [N, height, width]; :data:`OUTSIDE_LOGIT` outside each window.

    Inside a window the logits are resized bilinearly (``align_corners=False``), as full-frame logits are.
    """
    out = torch.full((len(windows), height, width), OUTSIDE_LOGIT, dtype=torch.float32)
    for k, window in enumerate(windows):
        up = F.interpolate(low_res_logits[k : k + 1].float(), size=(window.side, window.side), mode="bilinear",
                           align_corners=False)  # fmt: skip
        out[k, window.y0 : window.y0 + window.side, window.x0 : window.x0 + window.side] = up[0, 0]
    return out


def check_zoom(zoom: float | None) -> float | None:
    """A valid zoom (a finite number >= 1) or None; :class:`InputError` otherwise."""
    if zoom is None:
        return None
    value = float(zoom)
    if not math.isfinite(value) or value < 1:
        raise InputError(f"zoom must be a number >= 1 (window side / particle size), got {zoom!r}")
    return value


def auto_zoom(
    prompts: Sequence[Prompt], *, height: int, width: int, zooms: Sequence[tuple[float, float]] = AUTO_ZOOMS
) -> float | None:
    """The first zoom of ``zooms`` whose window, zoom x the median prompt size, fits its fraction of the frame.

    The fraction is of the frame's longer side. None (whole frames) when no window fits: a window larger than the
    frame shows the particle smaller than the whole frame would, and costs one encoding per object instead of one
    per frame. Prompts without a size (single clicks) do not count.
    """
    extents = [e for e in (prompt_extent(p) for p in prompts) if e is not None]
    if not extents:
        return None
    size, longer = float(np.median(extents)), max(height, width)
    return next((zoom for zoom, fraction in zooms if zoom * size <= fraction * longer), None)
