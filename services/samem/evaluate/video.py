"""One call for every metric of a predicted video against its ground truth: :func:`evaluate_video`."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from samem.evaluate.clear import IOU_THRESHOLD, clear_scores
from samem.evaluate.hota import ALPHAS, HOTA_KEYS, hota_scores
from samem.evaluate.identity import identity_scores
from samem.evaluate.labels import check_label_stacks, stack_overlaps, track_ids
from samem.evaluate.segmentation import boundary_tolerance, segmentation_scores


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate_video(
    pred_labels: np.ndarray,
    gt_labels: np.ndarray,
    *,
    iou_threshold: float = IOU_THRESHOLD,
    tolerance: float | None = None,
    assignment: Literal["overlap", "identity"] | dict[int, int] = "overlap",
    alphas: np.ndarray = ALPHAS,
) -> dict[str, Any]:
    """Segmentation and tracking metrics of a predicted label stack against the ground truth.

    Parameters
    ----------
    pred_labels, gt_labels
        Label stacks ``T x H x W`` (0 = background, ``k`` = object ``k``; ids need not agree between the two),
        e.g. the tracker's label output and the simulator's ``gt_masks.tif``.
    iou_threshold
        Mask IoU from which two detections match, for the detection, ID-switch, MOTA, centroid and IDF1 metrics.
    tolerance
        Boundary tolerance of F in pixels; default ``max(1, round(0.008 * image diagonal))``.
    assignment
        How J, F, J&F and Dice pair objects: see :func:`~samem.evaluate.segmentation.segmentation_scores`.
    alphas
        HOTA's localisation thresholds (default 0.05, 0.10, ..., 0.95).

    Returns
    -------
    dict
        Video-level values:

        - ``"J"``, ``"F"``, ``"Dice"`` in [0, 1] (means over ground-truth objects of per-object means over
          frames) and ``"J&F"`` = 100 (J + F) / 2 (DAVIS scale);
        - ``"detection_recall"``, ``"detection_precision"``, ``"id_switches"``, ``"MOTA"``, ``"centroid_rmse_px"``
          and the counts ``"n_gt_detections"``, ``"n_pred_detections"``, ``"n_matches"`` (CLEAR MOT matching,
          :mod:`samem.evaluate.clear`);
        - ``"IDF1"``, ``"IDP"``, ``"IDR"``, ``"IDTP"``, ``"IDFP"``, ``"IDFN"`` (:mod:`samem.evaluate.identity`);
        - ``"HOTA"``, ``"DetA"``, ``"AssA"``, ``"LocA"``, ``"DetRe"``, ``"DetPr"``, ``"AssRe"``, ``"AssPr"``
          (mask-IoU HOTA averaged over alphas, :mod:`samem.evaluate.hota`) and ``"hota_alpha_curves"``;
        - ``"per_object"``: ``{gt id: {"pred_id", "J", "F", "J&F", "Dice", "detection_recall", "id_switches",
          "centroid_rmse_px", "n_matches", "idf1_pred_id"}}``;
        - ``"pairs"``: the IDF1 trajectory matching ``{gt id: pred id}`` (usable with
          :func:`~samem.evaluate.centroids.centroid_rmse_from_tables`);
        - ``"n_frames"``, ``"n_gt_objects"``, ``"n_pred_objects"``, ``"boundary_tolerance_px"``.

        Values without a definition (no ground-truth object, no detection) are NaN.
    """
    pred, gt = check_label_stacks(pred_labels, gt_labels)
    if tolerance is None:
        tolerance = boundary_tolerance(*gt.shape[1:])
    overlaps = stack_overlaps(pred, gt)
    segmentation = segmentation_scores(pred, gt, assignment=assignment, tolerance=tolerance, overlaps=overlaps)
    clear, clear_per_object = clear_scores(overlaps, iou_threshold=iou_threshold)
    identity, pairs = identity_scores(overlaps, iou_threshold=iou_threshold)
    hota = hota_scores(overlaps, alphas=alphas)
    gt_ids, pred_ids = track_ids(overlaps)
    j = _mean([s["J"] for s in segmentation.values()])
    f = _mean([s["F"] for s in segmentation.values()])
    per_object = {
        gt_id: segmentation[gt_id] | clear_per_object[gt_id] | {"idf1_pred_id": pairs.get(gt_id)}
        for gt_id in gt_ids.tolist()
    }
    return {
        "J": j,
        "F": f,
        "J&F": 50 * (j + f),
        "Dice": _mean([s["Dice"] for s in segmentation.values()]),
        **clear,
        **identity,
        **{key: hota[key] for key in HOTA_KEYS},
        "hota_alpha_curves": hota["alpha_curves"],
        "per_object": per_object,
        "pairs": pairs,
        "n_frames": int(gt.shape[0]),
        "n_gt_objects": int(gt_ids.size),
        "n_pred_objects": int(pred_ids.size),
        "boundary_tolerance_px": tolerance,
    }
