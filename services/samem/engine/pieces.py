"""The piece of a mask that tracking carries to the next frame: its largest 8-connected piece.

A tracked mask in pieces is usually the particle plus spurious blobs (noise, or a bite of a neighbour). Models with
mask propagation take the previous mask as a prompt, so a blob that reaches the prompt is reinforced frame after
frame, and a window centred on the whole mask drifts towards it. The tracker therefore carries only the piece that
:mod:`samem.measure` measures as the particle (largest 8-connected piece; equal pieces: the first in row-major
order) into the next frame's mask prompt and window centre. The frame's output logits are left as they are.

Measured with the shipped samem-compact (README, Track particles): ``bench/bench_domain.py`` mean J 0.568 -> 0.582
(27 random clips of the training domain, paired +0.013 +- 0.009); seven ``make demo``-like videos (six particles
of mixed shapes, 200 frames) 0.128 -> 0.208.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from samem.measure import largest_component


def carried_mask(low_res_logits: Tensor) -> Tensor:
    """0/1 float masks [..., L, L] of the largest 8-connected piece of each ``low_res_logits`` [..., L, L] > 0.

    On the logits' device; an empty mask stays empty.
    """
    masks = (low_res_logits.detach() > 0).cpu().numpy()
    flat = masks.reshape(-1, *masks.shape[-2:])
    pieces = np.stack([largest_component(mask)[0] for mask in flat]) if len(flat) else flat
    return torch.from_numpy(pieces.reshape(masks.shape)).to(device=low_res_logits.device, dtype=torch.float32)
