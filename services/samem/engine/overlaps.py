"""One particle per pixel: where masks overlap, the pixel goes to the object with the largest mask logit.

This is SAM 2's non-overlapping constraint (``SAM2Base._apply_non_overlapping_constraints``, upstream's
``non_overlap_masks`` option, off by default there): the other objects lose the pixel, their logit there capped at
:data:`CAPPED_LOGIT`. The tracker applies it on every frame to models with mask propagation (samem's own weights):
to the frame's output, so that ``trajectories.csv`` measures the masks ``masks.tif`` shows, and in window mode to
the masks that tracking carries into the next frame's mask prompts, so that a mask that has slid onto a neighbour
does not keep prompting itself there while the neighbour's own mask holds it. Prompted frames carry their
prompt-decoded masks. On whole frames the carried masks stay whole: a mask pixel there covers several input pixels
(8 x 6 of a 384 x 512 frame for the shipped samem-compact), and claiming on that grid carved touching neighbours
(README, Track particles). SAM 2 / SAM-EM checkpoints are not touched.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from samem.engine.windows import Window

CAPPED_LOGIT = -10.0  # upstream caps the other objects' logits at this value


def claim_pixels(logits: Tensor) -> Tensor:
    """``logits`` [N, H, W] with every pixel in at most one mask (logit > 0): the one with the largest logit.

    Ties go to the first object. The others' positive logits at a claimed pixel become :data:`CAPPED_LOGIT`;
    nothing else changes (upstream also caps negative logits, which changes no mask). The input itself is returned
    when no pixel is in two masks; otherwise only the bounding box of such pixels is computed.
    """
    if logits.shape[0] < 2:
        return logits
    positive = logits > 0
    shared = positive.to(torch.uint8).sum(0, dtype=torch.uint8) > 1  # a uint8 sum: a bool one is 80x slower
    if not bool(shared.any()):
        return logits
    rows, columns = torch.nonzero(shared, as_tuple=True)
    box = (slice(None), slice(int(rows.min()), int(rows.max()) + 1), slice(int(columns.min()), int(columns.max()) + 1))
    crop = logits[box]
    best, owner = crop[0], torch.zeros(crop.shape[1:], dtype=torch.long, device=logits.device)
    for k in range(1, len(crop)):  # a loop over objects: argmax over the first dimension is 20x slower on CPUs
        owner.masked_fill_(crop[k] > best, k)
        best = torch.maximum(best, crop[k])
    index = torch.arange(len(crop), device=logits.device)[:, None, None]
    claimed = logits.clone()
    claimed[box] = crop.masked_fill(positive[box] & (owner != index), CAPPED_LOGIT)
    return claimed


def window_samples(frame: Tensor, window: Window, size: int) -> Tensor:
    """``frame`` [..., height, width] at the centres of a window's ``size x size`` mask pixels [..., size, size].

    Each mask pixel takes the input pixel nearest its centre (the grid of :func:`samem.engine.windows.paste_logits`).
    """
    centres = (np.arange(size) + 0.5) * window.side / size - 0.5
    rows = np.clip(np.rint(window.y0 + centres), 0, frame.shape[-2] - 1).astype(np.int64)
    columns = np.clip(np.rint(window.x0 + centres), 0, frame.shape[-1] - 1).astype(np.int64)
    return frame[..., torch.from_numpy(rows), :][..., torch.from_numpy(columns)]


def taken_by_others(claimed: Tensor, index: int) -> Tensor:
    """Where another object's mask is in claimed logits [N, ..., H, W]: the pixels object ``index`` cannot carry."""
    others = torch.cat([claimed[:index], claimed[index + 1 :]])
    return (others > 0).any(0)
