"""Per-object masks to one label image (0 = background, k = particle id)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_LABEL = np.iinfo(np.uint16).max


def masks_to_labels(
    masks: np.ndarray, particle_ids: Sequence[int], *, logits: np.ndarray | None = None
) -> np.ndarray:
    """Combine boolean masks (n_objects, H, W) into a uint16 label image.

    Where masks overlap the pixel goes to the object with the largest mask logit there (``logits`` of the same
    shape), or, without logits, to the object listed first.
    """
    if masks.ndim != 3 or masks.shape[0] != len(particle_ids):
        raise ValueError(f"masks of shape {masks.shape} do not match {len(particle_ids)} particle ids")
    ids = np.asarray(particle_ids, dtype=np.int64)
    if ids.size and (ids.min() < 1 or ids.max() > MAX_LABEL):
        raise ValueError(f"particle ids must lie in 1..{MAX_LABEL} to be stored as labels, got {ids.tolist()}")
    labels = np.zeros(masks.shape[1:], dtype=np.uint16)
    if not ids.size:
        return labels
    if logits is None:
        priority = np.where(masks, -np.arange(len(ids))[:, None, None], -np.inf)
    else:
        priority = np.where(masks, logits, -np.inf)
    winner = np.argmax(priority, axis=0)
    covered = masks.any(axis=0)
    labels[covered] = ids[winner[covered]].astype(np.uint16)
    return labels
