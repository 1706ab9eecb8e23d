"""HOTA, DetA, AssA and LocA (Luiten et al. 2021), with mask IoU as the similarity.

Definitions implemented, for each localisation threshold ``alpha`` in 0.05, 0.10, ..., 0.95:

- Per frame, ground-truth and predicted detections are matched one-to-one among the pairs with similarity
  ``S >= alpha``, by a Hungarian assignment maximising ``MS = 1/eps + A_max + eps S`` (Sec. 5 of the paper): first
  the number of matches (TPs), then the alignment score ``A_max(i, j) = n / (|gt_i| + |pr_j| - n)``, where ``n`` is
  the number of frames on which the pair has ``S >= alpha`` (the association score the pair would reach if
  matched whenever possible at this alpha), then the similarity.
- ``DetA = |TP| / (|TP| + |FN| + |FP|)``; for each TP ``c`` of ground-truth track ``i`` and predicted track ``j``,
  ``A(c) = |TPA| / (|TPA| + |FNA| + |FPA|)`` with ``|TPA|`` the TPs of the pair, ``|FNA| = |gt_i| - |TPA|``,
  ``|FPA| = |pr_j| - |TPA|``; ``AssA`` is the mean of ``A(c)`` over TPs, ``LocA`` the mean similarity of the TPs,
  and ``HOTA_alpha = sqrt(sum_c A(c) / (|TP| + |FN| + |FP|)) = sqrt(DetA AssA)``.
- The reported values are the means over the 19 alphas. With no TP at some alpha, DetA, AssA and HOTA are 0 there
  and LocA is left out of its mean (NaN if no alpha has a TP); with no detection at all in either input every
  score is NaN.

Similarity: mask IoU, so HOTA here measures segmentation tracks. For point tracks a similarity such as
``max(0, 1 - d / d0)`` of the centroid distance ``d`` can be given to :func:`hota_from_similarity` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from samem.evaluate.labels import FrameOverlap

ALPHAS = np.arange(1, 20) / 20
_EPS = 1e-6

HOTA_KEYS = ("HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr")


def _index(ids: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """All distinct ids and, for each frame, the position of its ids among them."""
    every = np.unique(np.concatenate([*ids, np.zeros(0, np.int64)]).astype(np.int64))
    return every, [np.searchsorted(every, np.asarray(i, np.int64)) for i in ids]


def _one_alpha(
    frames: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    alpha: float,
    n_gt: np.ndarray,
    n_pred: np.ndarray,
) -> dict[str, float]:
    """The HOTA family at one threshold; ``frames`` hold (gt track index, pred track index, similarity)."""
    potential = np.zeros((n_gt.size, n_pred.size))
    for g, p, sim in frames:
        potential[np.ix_(g, p)] += sim >= alpha
    a_max = potential / np.maximum(n_gt[:, None] + n_pred[None, :] - potential, 1)
    matched = np.zeros_like(potential)
    loc = 0.0
    for g, p, sim in frames:
        if not (g.size and p.size):
            continue
        ok = sim >= alpha
        big = 2.0 * (min(g.size, p.size) + 1)
        score = np.where(ok, big + a_max[np.ix_(g, p)] + _EPS * sim, 0.0)
        rows, cols = linear_sum_assignment(score, maximize=True)
        keep = ok[rows, cols]
        rows, cols = rows[keep], cols[keep]
        np.add.at(matched, (g[rows], p[cols]), 1)
        loc += float(sim[rows, cols].sum())
    tp = matched.sum()
    fn, fp = n_gt.sum() - tp, n_pred.sum() - tp
    if tp == 0:
        return {"HOTA": 0.0, "DetA": 0.0, "AssA": 0.0, "LocA": np.nan, "DetRe": 0.0, "DetPr": 0.0, "AssRe": 0.0,
                "AssPr": 0.0}
    gt_len = np.broadcast_to(n_gt[:, None], matched.shape)
    pred_len = np.broadcast_to(n_pred[None, :], matched.shape)
    pairs = matched > 0
    tpa = matched[pairs]
    ass = float(np.sum(tpa * tpa / (gt_len[pairs] + pred_len[pairs] - tpa)))
    return {
        "HOTA": float(np.sqrt(ass / (tp + fn + fp))),
        "DetA": float(tp / (tp + fn + fp)),
        "AssA": ass / tp,
        "LocA": loc / tp,
        "DetRe": float(tp / (tp + fn)),
        "DetPr": float(tp / (tp + fp)),
        "AssRe": float(np.sum(tpa * tpa / gt_len[pairs]) / tp),
        "AssPr": float(np.sum(tpa * tpa / pred_len[pairs]) / tp),
    }


def hota_from_similarity(
    gt_ids: Sequence[np.ndarray],
    pred_ids: Sequence[np.ndarray],
    similarity: Sequence[np.ndarray],
    *,
    alphas: np.ndarray = ALPHAS,
) -> dict[str, float | np.ndarray]:
    """HOTA and its sub-metrics from per-frame similarity matrices (see the module docstring).

    Parameters
    ----------
    gt_ids, pred_ids
        Per frame, the ids of the ground-truth and predicted detections present.
    similarity
        Per frame, the ``(n_gt, n_pred)`` similarity in [0, 1] of every pair.
    alphas
        Localisation thresholds.

    Returns
    -------
    dict
        ``HOTA``, ``DetA``, ``AssA``, ``LocA``, ``DetRe``, ``DetPr``, ``AssRe``, ``AssPr`` (means over alphas) and
        ``"alpha_curves"``: ``{name: array over alphas}``.

    References
    ----------
    J. Luiten, A. Osep, P. Dendorfer, P. Torr, A. Geiger, L. Leal-Taixe, B. Leibe, "HOTA: A Higher Order Metric for
    Evaluating Multi-Object Tracking", IJCV 129, 548-578 (2021): Sec. 5 (matching, HOTA_alpha, DetA, AssA, the
    integration over alpha) and Sec. 6 (LocA and the recall/precision sub-metrics); equation numbers not checked.
    """
    gt_every, gt_index = _index(gt_ids)
    pred_every, pred_index = _index(pred_ids)
    n_gt = np.bincount(np.concatenate([*gt_index, np.zeros(0, np.int64)]), minlength=gt_every.size).astype(float)
    n_pred = np.bincount(np.concatenate([*pred_index, np.zeros(0, np.int64)]), minlength=pred_every.size)
    n_pred = n_pred.astype(float)
    if n_gt.sum() == 0 and n_pred.sum() == 0:
        nan = np.full(len(alphas), np.nan)
        return {key: float("nan") for key in HOTA_KEYS} | {"alpha_curves": dict.fromkeys(HOTA_KEYS, nan)}
    frames = [(g, p, np.asarray(s, float)) for g, p, s in zip(gt_index, pred_index, similarity, strict=True)]
    rows = [_one_alpha(frames, float(a), n_gt, n_pred) for a in alphas]
    curves = {key: np.array([r[key] for r in rows]) for key in HOTA_KEYS}
    out: dict[str, float | np.ndarray] = {key: float(np.mean(curves[key])) for key in HOTA_KEYS if key != "LocA"}
    loc = curves["LocA"]
    out["LocA"] = float(np.mean(loc[~np.isnan(loc)])) if (~np.isnan(loc)).any() else float("nan")
    return {key: out[key] for key in HOTA_KEYS} | {"alpha_curves": curves}


def hota_scores(overlaps: list[FrameOverlap], *, alphas: np.ndarray = ALPHAS) -> dict[str, float | np.ndarray]:
    """Mask-IoU HOTA of a video from its :func:`~samem.evaluate.labels.stack_overlaps`.

    See :func:`hota_from_similarity` for the returned keys and the references.
    """
    return hota_from_similarity(
        [o.gt_ids for o in overlaps], [o.pred_ids for o in overlaps], [o.iou for o in overlaps], alphas=alphas
    )
