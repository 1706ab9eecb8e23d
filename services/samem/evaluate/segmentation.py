"""DAVIS region and boundary measures: J (Jaccard / IoU), F (boundary F-measure), J&F, and Dice.

Conventions (stated here once, used by :func:`segmentation_scores` and :func:`samem.evaluate.evaluate_video`):

- A frame on which both the ground-truth object and its prediction are empty scores J = F = Dice = 1 (the object
  is correctly absent), as the DAVIS evaluation does; one empty and the other not scores 0.
- Every frame of the video counts (the DAVIS 2017 benchmark leaves out the first and the last frame; pass a
  slice of the stacks to do the same). An object's J, F and Dice are means over frames; the video's are the
  means over ground-truth objects of those (DAVIS's "J mean", "F mean").
- Predicted ids are arbitrary: each ground-truth object is paired with at most one predicted object by a
  Hungarian assignment maximising the IoU summed over frames (pairs that never overlap are not paired); an
  unpaired ground-truth object is scored against an empty prediction, unpaired predicted objects are ignored
  (as in DAVIS, where only the annotated objects are scored). ``assignment="identity"`` pairs equal ids instead.
- Boundaries are the mask pixels with a 4-neighbour outside the mask, the outside of the image counting as
  outside; a predicted boundary pixel is correct when a ground-truth boundary pixel lies within the tolerance
  (Euclidean distance in pixels), and vice versa for recall. This is the dilation-by-a-disc approximation of
  the bipartite boundary matching that DAVIS uses, computed exactly with a distance transform.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from samem.errors import InputError
from samem.evaluate.labels import FrameOverlap, check_label_stacks, stack_overlaps, track_ids

BOUNDARY_FRACTION = 0.008
_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


def jaccard(pred_mask: np.ndarray, gt_mask: np.ndarray) -> float:
    """Region similarity J: intersection over union of two boolean masks, 1 when both are empty.

    References
    ----------
    F. Perazzi, J. Pont-Tuset, B. McWilliams, L. Van Gool, M. Gross, A. Sorkine-Hornung, "A Benchmark Dataset and
    Evaluation Methodology for Video Object Segmentation", CVPR 2016, Sec. 3.1 (region similarity J).
    """
    pred, gt = np.asarray(pred_mask, bool), np.asarray(gt_mask, bool)
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def dice(pred_mask: np.ndarray, gt_mask: np.ndarray) -> float:
    """Dice coefficient ``2 |A n B| / (|A| + |B|)`` of two boolean masks, 1 when both are empty.

    References
    ----------
    L. R. Dice, "Measures of the Amount of Ecologic Association Between Species", Ecology 26(3), 297-302 (1945).
    """
    pred, gt = np.asarray(pred_mask, bool), np.asarray(gt_mask, bool)
    total = np.count_nonzero(pred) + np.count_nonzero(gt)
    return 1.0 if total == 0 else 2 * np.count_nonzero(pred & gt) / total


def boundary_tolerance(height: int, width: int, fraction: float = BOUNDARY_FRACTION) -> int:
    """DAVIS boundary tolerance in pixels: ``max(1, round(fraction * image diagonal))``.

    References
    ----------
    Perazzi et al., CVPR 2016, Sec. 3.1 (contour accuracy F); the 0.008 fraction of the diagonal is the DAVIS
    benchmark's setting.
    """
    return max(1, round(fraction * float(np.hypot(height, width))))


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of a boolean mask that have a 4-neighbour outside it (outside the image counts as outside)."""
    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, structure=_FOUR_CONNECTED, border_value=0)


def _crop(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cut to their common bounding box plus one pixel (distances between their pixels unchanged)."""
    rows, cols = np.nonzero(pred | gt)
    r0, r1 = max(rows.min() - 1, 0), rows.max() + 2
    c0, c1 = max(cols.min() - 1, 0), cols.max() + 2
    return pred[r0:r1, c0:c1], gt[r0:r1, c0:c1]


def boundary_precision_recall(
    pred_mask: np.ndarray, gt_mask: np.ndarray, *, tolerance: float | None = None
) -> tuple[float, float]:
    """Boundary precision and recall of a predicted mask against a ground-truth mask.

    Parameters
    ----------
    pred_mask, gt_mask
        Boolean ``H x W`` masks.
    tolerance
        Largest distance (pixels) at which boundary pixels match; default :func:`boundary_tolerance` of the frame.

    Returns
    -------
    tuple of float
        ``(precision, recall)``; both 1 when both masks are empty, ``(1, 0)`` for an empty prediction of a
        non-empty object and ``(0, 1)`` for a prediction of an empty object.

    References
    ----------
    Perazzi et al., CVPR 2016, Sec. 3.1: F = 2 Pc Rc / (Pc + Rc) from the contour precision Pc and recall Rc.
    D. R. Martin, C. C. Fowlkes, J. Malik, "Learning to Detect Natural Image Boundaries Using Local Brightness,
    Color, and Texture Cues", IEEE TPAMI 26(5), 530-549 (2004), Sec. 3 (boundary matching within a tolerance).
    """
    pred, gt = np.asarray(pred_mask, bool), np.asarray(gt_mask, bool)
    if tolerance is None:
        tolerance = boundary_tolerance(*gt.shape[-2:])
    pred_any, gt_any = pred.any(), gt.any()
    if not pred_any or not gt_any:
        return (1.0, 1.0) if pred_any == gt_any else (float(not pred_any), float(not gt_any))
    pred, gt = _crop(pred, gt)
    pred_edge, gt_edge = mask_boundary(pred), mask_boundary(gt)
    to_gt = ndimage.distance_transform_edt(~gt_edge)
    to_pred = ndimage.distance_transform_edt(~pred_edge)
    precision = np.count_nonzero(to_gt[pred_edge] <= tolerance) / np.count_nonzero(pred_edge)
    recall = np.count_nonzero(to_pred[gt_edge] <= tolerance) / np.count_nonzero(gt_edge)
    return float(precision), float(recall)


def boundary_f(pred_mask: np.ndarray, gt_mask: np.ndarray, *, tolerance: float | None = None) -> float:
    """Boundary F-measure ``2 P R / (P + R)`` (0 when ``P + R = 0``; 1 when both masks are empty).

    See :func:`boundary_precision_recall` for the parameters and references.
    """
    precision, recall = boundary_precision_recall(pred_mask, gt_mask, tolerance=tolerance)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def assign_objects(overlaps: list[FrameOverlap]) -> dict[int, int]:
    """Pair ground-truth with predicted objects, maximising the IoU summed over all frames (Hungarian).

    Returns
    -------
    dict
        ``{gt id: pred id}`` for the pairs with a positive summed IoU.
    """
    gt_ids, pred_ids = track_ids(overlaps)
    total = np.zeros((gt_ids.size, pred_ids.size))
    for o in overlaps:
        total[np.ix_(np.searchsorted(gt_ids, o.gt_ids), np.searchsorted(pred_ids, o.pred_ids))] += o.iou
    rows, cols = linear_sum_assignment(total, maximize=True)
    return {int(gt_ids[r]): int(pred_ids[c]) for r, c in zip(rows, cols, strict=True) if total[r, c] > 0}


def _pair_area(o: FrameOverlap, gt_id: int, pred_id: int | None) -> tuple[int, int, int]:
    """Ground-truth area, predicted area and intersection of one pair on one frame (0 for absent objects)."""
    g = np.searchsorted(o.gt_ids, gt_id)
    g = g if g < o.gt_ids.size and o.gt_ids[g] == gt_id else None
    p = None if pred_id is None else np.searchsorted(o.pred_ids, pred_id)
    p = p if p is not None and p < o.pred_ids.size and o.pred_ids[p] == pred_id else None
    gt_area = 0 if g is None else int(o.gt_area[g])
    pred_area = 0 if p is None else int(o.pred_area[p])
    inter = 0 if g is None or p is None else int(o.intersection[g, p])
    return gt_area, pred_area, inter


def segmentation_scores(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    *,
    assignment: Literal["overlap", "identity"] | dict[int, int] = "overlap",
    tolerance: float | None = None,
    overlaps: list[FrameOverlap] | None = None,
) -> dict[int, dict[str, float | int | None]]:
    """Per ground-truth object J, F, J&F and Dice over a video (see the module conventions).

    Parameters
    ----------
    pred_labels, gt_labels
        Label stacks ``T x H x W`` (0 = background).
    assignment
        ``"overlap"`` (Hungarian on summed IoU), ``"identity"`` (pred id = gt id), or an explicit
        ``{gt id: pred id}`` mapping.
    tolerance
        Boundary tolerance in pixels; default :func:`boundary_tolerance` of the frame size.
    overlaps
        Precomputed :func:`~samem.evaluate.labels.stack_overlaps` of the same stacks (saves a pass).

    Returns
    -------
    dict
        ``{gt id: {"pred_id": int or None, "J": float, "F": float, "J&F": float, "Dice": float}}``, J, F and
        Dice in [0, 1] and J&F their mean times 100 (the DAVIS reporting scale).

    References
    ----------
    Perazzi et al., CVPR 2016, Sec. 3.1 (J, F); J. Pont-Tuset, F. Perazzi, S. Caelles, P. Arbelaez,
    A. Sorkine-Hornung, L. Van Gool, "The 2017 DAVIS Challenge on Video Object Segmentation", arXiv:1704.00675,
    Sec. 3 (per-object means and J&F).
    """
    pred, gt = check_label_stacks(pred_labels, gt_labels)
    overlaps = stack_overlaps(pred, gt) if overlaps is None else overlaps
    gt_ids, pred_ids = track_ids(overlaps)
    if assignment == "overlap":
        pairs = assign_objects(overlaps)
    elif assignment == "identity":
        pairs = {int(g): int(g) for g in gt_ids if g in set(pred_ids.tolist())}
    elif isinstance(assignment, dict):
        pairs = {int(g): int(p) for g, p in assignment.items()}
    else:
        raise InputError(f"assignment must be 'overlap', 'identity' or a dict, got {assignment!r}")
    if tolerance is None:
        tolerance = boundary_tolerance(*gt.shape[1:])
    scores: dict[int, dict[str, float | int | None]] = {}
    for gt_id in gt_ids.tolist():
        pred_id = pairs.get(gt_id)
        j, f, d = [], [], []
        for t, o in enumerate(overlaps):
            gt_area, pred_area, inter = _pair_area(o, gt_id, pred_id)
            if gt_area == 0 or pred_area == 0:
                same = float(gt_area == pred_area)  # both empty: 1 (DAVIS); one empty: 0
                j.append(same)
                f.append(same)
                d.append(same)
            else:
                j.append(inter / (gt_area + pred_area - inter))
                d.append(2 * inter / (gt_area + pred_area))
                f.append(boundary_f(pred[t] == pred_id, gt[t] == gt_id, tolerance=tolerance))
        jm, fm = float(np.mean(j)), float(np.mean(f))
        scores[gt_id] = {"pred_id": pred_id, "J": jm, "F": fm, "J&F": 50 * (jm + fm), "Dice": float(np.mean(d))}
    return scores
