"""Identity measures IDF1, IDP, IDR: one global bipartite matching of whole trajectories.

A ground-truth trajectory and a predicted trajectory agree on a frame when both are present and their mask IoU
is at least ``iou_threshold`` (0.5). Each ground-truth trajectory is matched to at most one predicted trajectory
(and vice versa) so as to maximise the number of agreeing frames IDTP over the video, which is the same as
minimising IDFN + IDFP in Ristani et al.'s bipartite graph with the unmatched "regular" nodes.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from samem.evaluate.clear import IOU_THRESHOLD
from samem.evaluate.labels import FrameOverlap, track_ids


def identity_scores(
    overlaps: list[FrameOverlap], *, iou_threshold: float = IOU_THRESHOLD
) -> tuple[dict[str, float | int], dict[int, int]]:
    """IDF1, IDP and IDR of a video and the trajectory matching behind them.

    Parameters
    ----------
    overlaps
        :func:`~samem.evaluate.labels.stack_overlaps` of the video.
    iou_threshold
        Smallest mask IoU at which a ground-truth and a predicted detection agree.

    Returns
    -------
    tuple
        ``{"IDF1", "IDP", "IDR", "IDTP", "IDFP", "IDFN"}`` with ``IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN)``,
        ``IDP = IDTP / (IDTP + IDFP)``, ``IDR = IDTP / (IDTP + IDFN)`` (NaN where the denominator is 0), and the
        matching ``{gt id: pred id}`` (pairs with at least one agreeing frame).

    References
    ----------
    E. Ristani, F. Solera, R. Zou, R. Cucchiara, C. Tomasi, "Performance Measures and a Data Set for
    Multi-Target, Multi-Camera Tracking", ECCV 2016 Workshops, Sec. 4 (truth-to-result matching, Eqs. for IDP,
    IDR and IDF1).
    """
    gt_ids, pred_ids = track_ids(overlaps)
    agree = np.zeros((gt_ids.size, pred_ids.size), dtype=np.int64)
    for o in overlaps:
        agree[np.ix_(np.searchsorted(gt_ids, o.gt_ids), np.searchsorted(pred_ids, o.pred_ids))] += (
            o.iou >= iou_threshold
        )
    rows, cols = linear_sum_assignment(agree, maximize=True)
    matching = {int(gt_ids[r]): int(pred_ids[c]) for r, c in zip(rows, cols, strict=True) if agree[r, c] > 0}
    idtp = int(agree[rows, cols].sum())
    n_gt = sum(o.gt_ids.size for o in overlaps)
    n_pred = sum(o.pred_ids.size for o in overlaps)
    idfn, idfp = n_gt - idtp, n_pred - idtp

    def ratio(num: float, den: float) -> float:
        return num / den if den else float("nan")

    scores: dict[str, float | int] = {
        "IDF1": ratio(2 * idtp, 2 * idtp + idfp + idfn),
        "IDP": ratio(idtp, idtp + idfp),
        "IDR": ratio(idtp, idtp + idfn),
        "IDTP": idtp,
        "IDFP": idfp,
        "IDFN": idfn,
    }
    return scores, matching
