"""Label stacks in, per-frame overlap tables out: the one pass over the pixels that every metric shares.

A label stack is ``T x H x W`` of non-negative integers, 0 = background and ``k > 0`` = object ``k`` (the
simulator's ``gt_masks.tif`` and the tracker's label output). Ids are arbitrary and need not agree between a
prediction and the ground truth; an object may be absent on some frames. Centroids follow
:mod:`samem.measure`: ``x`` is the column, ``y`` the row, pixel centres at integer coordinates, and the centroid
is the mean of *all* the label's pixels (as the simulator's ``x_mask``, ``y_mask``; no largest-component rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samem.errors import InputError


def check_label_stacks(pred_labels: np.ndarray, gt_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a predicted and a ground-truth label stack and return them as ``T x H x W`` integer arrays.

    Parameters
    ----------
    pred_labels, gt_labels
        Integer (or boolean) arrays ``T x H x W``; a single ``H x W`` frame is taken as ``T = 1``.

    Returns
    -------
    tuple of numpy.ndarray
        ``(pred, gt)``, both 3-D, of an integer dtype.

    Raises
    ------
    InputError
        Wrong dimensionality, different shapes, a non-integer dtype or negative labels.
    """
    stacks = []
    for name, labels in (("predicted", pred_labels), ("ground-truth", gt_labels)):
        array = np.asarray(labels)
        if array.dtype == bool:
            array = array.astype(np.uint8)
        if not np.issubdtype(array.dtype, np.integer):
            raise InputError(f"{name} labels must be integers, got dtype {array.dtype}")
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3:
            raise InputError(f"{name} labels must be T x H x W (or H x W), got shape {array.shape}")
        if array.size and array.min() < 0:
            raise InputError(f"{name} labels must be >= 0 (0 = background)")
        stacks.append(array)
    pred, gt = stacks
    if pred.shape != gt.shape:
        raise InputError(f"predicted labels of shape {pred.shape} do not match ground truth of shape {gt.shape}")
    return pred, gt


@dataclass(frozen=True, kw_only=True)
class FrameOverlap:
    """The objects of one frame and how they overlap.

    Attributes
    ----------
    gt_ids, pred_ids
        Sorted ids present on the frame, shapes ``(n_gt,)`` and ``(n_pred,)``.
    gt_area, pred_area
        Pixel counts of those objects.
    intersection
        ``(n_gt, n_pred)`` shared pixel counts.
    gt_centroid, pred_centroid
        ``(n, 2)`` centroids ``(x, y)`` in pixels.
    """

    gt_ids: np.ndarray
    pred_ids: np.ndarray
    gt_area: np.ndarray
    pred_area: np.ndarray
    intersection: np.ndarray
    gt_centroid: np.ndarray
    pred_centroid: np.ndarray

    @property
    def iou(self) -> np.ndarray:
        """``(n_gt, n_pred)`` intersection over union (Jaccard index) of every gt/pred pair."""
        union = self.gt_area[:, None] + self.pred_area[None, :] - self.intersection
        return self.intersection / np.maximum(union, 1)


def _objects(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ids (background dropped), per-pixel object index (-1 = background), areas and centroids of one frame."""
    ids, index = np.unique(frame.ravel(), return_inverse=True)
    index = index.reshape(-1)
    if ids.size and ids[0] == 0:
        ids, index = ids[1:], index - 1
    n = ids.size
    foreground = index >= 0
    width = frame.shape[1]
    flat = np.flatnonzero(foreground)
    area = np.bincount(index[foreground], minlength=n).astype(np.int64)
    cols = np.bincount(index[foreground], weights=(flat % width).astype(float), minlength=n)
    rows = np.bincount(index[foreground], weights=(flat // width).astype(float), minlength=n)
    safe = np.maximum(area, 1)
    centroid = np.stack([cols / safe, rows / safe], axis=1) if n else np.zeros((0, 2))
    return ids.astype(np.int64), index, area, centroid


def frame_overlap(pred_frame: np.ndarray, gt_frame: np.ndarray) -> FrameOverlap:
    """Overlap table of one ``H x W`` predicted and ground-truth label frame."""
    gt_ids, gt_index, gt_area, gt_centroid = _objects(gt_frame)
    pred_ids, pred_index, pred_area, pred_centroid = _objects(pred_frame)
    both = (gt_index >= 0) & (pred_index >= 0)
    pair = gt_index[both] * max(pred_ids.size, 1) + pred_index[both]
    counts = np.bincount(pair, minlength=gt_ids.size * pred_ids.size)
    return FrameOverlap(
        gt_ids=gt_ids,
        pred_ids=pred_ids,
        gt_area=gt_area,
        pred_area=pred_area,
        intersection=counts.reshape(gt_ids.size, pred_ids.size).astype(np.int64),
        gt_centroid=gt_centroid,
        pred_centroid=pred_centroid,
    )


def stack_overlaps(pred_labels: np.ndarray, gt_labels: np.ndarray) -> list[FrameOverlap]:
    """Validate two label stacks and compute the :class:`FrameOverlap` of every frame."""
    pred, gt = check_label_stacks(pred_labels, gt_labels)
    return [frame_overlap(pred[t], gt[t]) for t in range(gt.shape[0])]


def track_ids(overlaps: list[FrameOverlap]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ids of every ground-truth and every predicted object present on at least one frame."""
    gt = np.unique(np.concatenate([o.gt_ids for o in overlaps] + [np.zeros(0, np.int64)]))
    pred = np.unique(np.concatenate([o.pred_ids for o in overlaps] + [np.zeros(0, np.int64)]))
    return gt.astype(np.int64), pred.astype(np.int64)
