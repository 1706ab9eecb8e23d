"""Per-frame detection matching and the CLEAR MOT counts: recall, precision, ID switches, MOTA, centroid RMSE.

Matching (Bernardin & Stiefelhagen 2008, Sec. 2.1): on each frame a ground-truth object and a predicted object
can be matched when their mask IoU is at least ``iou_threshold`` (0.5). Correspondences kept from earlier frames
come first: a ground-truth object whose most recent match is present and still valid keeps it; the others are
matched by a Hungarian assignment maximising the total IoU. (Above 0.5 IoU, disjoint labels allow at most one
valid partner per object, so the matching is unique except for exact ties.)

ID switch: a ground-truth object matched to a predicted id other than the one it was last matched to (on any
earlier frame, gaps allowed). A swap of two tracks' ids therefore counts **2** switches, one per ground-truth
object; a single track whose predicted id changes once counts 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from samem.evaluate.labels import FrameOverlap, track_ids

IOU_THRESHOLD = 0.5


@dataclass(frozen=True, kw_only=True)
class Match:
    """One matched ground-truth / predicted object pair on one frame."""

    frame: int
    gt_id: int
    pred_id: int
    iou: float
    error_px: float


def match_frames(
    overlaps: list[FrameOverlap], *, iou_threshold: float = IOU_THRESHOLD
) -> tuple[list[Match], dict[int, int]]:
    """Match objects frame by frame with continuity (see the module docstring) and count ID switches.

    Parameters
    ----------
    overlaps
        :func:`~samem.evaluate.labels.stack_overlaps` of the video.
    iou_threshold
        Smallest mask IoU of a match.

    Returns
    -------
    tuple
        The matches in frame order, and ``{gt id: number of ID switches}`` for every ground-truth object.

    References
    ----------
    K. Bernardin, R. Stiefelhagen, "Evaluating Multiple Object Tracking Performance: The CLEAR MOT Metrics",
    EURASIP J. Image Video Process. 2008, 246309, Sec. 2.1 (mapping procedure, steps 1-3; mismatches).
    """
    gt_all, _ = track_ids(overlaps)
    last: dict[int, int] = {}
    switches = dict.fromkeys(gt_all.tolist(), 0)
    matches: list[Match] = []
    for t, o in enumerate(overlaps):
        iou = o.iou
        valid = iou >= iou_threshold
        pairs: list[tuple[int, int]] = []
        used_g, used_p = set(), set()
        kept = []
        for g, gt_id in enumerate(o.gt_ids.tolist()):
            if gt_id in last:
                p = int(np.searchsorted(o.pred_ids, last[gt_id]))
                if p < o.pred_ids.size and o.pred_ids[p] == last[gt_id] and valid[g, p]:
                    kept.append((iou[g, p], g, p))
        for _, g, p in sorted(kept, reverse=True):
            if p not in used_p:
                pairs.append((g, p))
                used_g.add(g)
                used_p.add(p)
        free_g = [g for g in range(o.gt_ids.size) if g not in used_g]
        free_p = [p for p in range(o.pred_ids.size) if p not in used_p]
        if free_g and free_p:
            sub = np.where(valid[np.ix_(free_g, free_p)], iou[np.ix_(free_g, free_p)], 0.0)
            rows, cols = linear_sum_assignment(sub, maximize=True)
            pairs += [(free_g[r], free_p[c]) for r, c in zip(rows, cols, strict=True) if valid[free_g[r], free_p[c]]]
        for g, p in sorted(pairs):
            gt_id, pred_id = int(o.gt_ids[g]), int(o.pred_ids[p])
            if gt_id in last and last[gt_id] != pred_id:
                switches[gt_id] += 1
            last[gt_id] = pred_id
            error = float(np.hypot(*(o.pred_centroid[p] - o.gt_centroid[g])))
            matches.append(Match(frame=t, gt_id=gt_id, pred_id=pred_id, iou=float(iou[g, p]), error_px=error))
    return matches, switches


def clear_scores(
    overlaps: list[FrameOverlap], *, iou_threshold: float = IOU_THRESHOLD
) -> tuple[dict[str, float | int], dict[int, dict[str, float | int]]]:
    """Detection recall and precision, ID switches, MOTA and centroid RMSE, overall and per ground-truth object.

    Parameters
    ----------
    overlaps
        :func:`~samem.evaluate.labels.stack_overlaps` of the video.
    iou_threshold
        Smallest mask IoU of a match.

    Returns
    -------
    tuple of dict
        Overall ``{"detection_recall", "detection_precision", "id_switches", "MOTA", "centroid_rmse_px",
        "n_gt_detections", "n_pred_detections", "n_matches"}`` and ``{gt id: {"detection_recall", "id_switches",
        "centroid_rmse_px", "n_matches"}}``. Recall is matches / ground-truth detections (NaN without any), precision
        matches / predicted detections (NaN without any); the RMSE is over matched (frame, object) pairs, pooled
        for the overall value (NaN without matches), of the distance between mask centroids.

    References
    ----------
    Bernardin & Stiefelhagen 2008, Sec. 2.1.3 (MOTA = 1 - (misses + false positives + mismatches) / objects).
    """
    matches, switches = match_frames(overlaps, iou_threshold=iou_threshold)
    n_gt = sum(o.gt_ids.size for o in overlaps)
    n_pred = sum(o.pred_ids.size for o in overlaps)
    n_match = len(matches)
    n_switch = sum(switches.values())
    errors = np.array([m.error_px for m in matches])
    overall: dict[str, float | int] = {
        "detection_recall": n_match / n_gt if n_gt else float("nan"),
        "detection_precision": n_match / n_pred if n_pred else float("nan"),
        "id_switches": n_switch,
        "MOTA": 1 - ((n_gt - n_match) + (n_pred - n_match) + n_switch) / n_gt if n_gt else float("nan"),
        "centroid_rmse_px": float(np.sqrt(np.mean(errors**2))) if n_match else float("nan"),
        "n_gt_detections": n_gt,
        "n_pred_detections": n_pred,
        "n_matches": n_match,
    }
    present = {gt_id: 0 for gt_id in switches}
    for o in overlaps:
        for gt_id in o.gt_ids.tolist():
            present[gt_id] += 1
    per_object: dict[int, dict[str, float | int]] = {}
    for gt_id, count in present.items():
        own = np.array([m.error_px for m in matches if m.gt_id == gt_id])
        per_object[gt_id] = {
            "detection_recall": own.size / count,
            "id_switches": switches[gt_id],
            "centroid_rmse_px": float(np.sqrt(np.mean(own**2))) if own.size else float("nan"),
            "n_matches": int(own.size),
        }
    return overall, per_object
