"""CLEAR MOT and IDF1 of samem.evaluate against py-motmetrics (the reference implementation) on random videos.

Each video has moving square objects; the prediction jitters them (IoUs around the 0.5 threshold), drops some,
adds false positives and swaps or renames ids mid-video. Both implementations get the same per-frame IoUs:
motmetrics takes the distance ``1 - IoU`` with pairs below the IoU threshold marked impossible (NaN).
"""

from __future__ import annotations

import motmetrics as mm
import numpy as np
import pytest

from samem.evaluate import clear_scores, identity_scores, stack_overlaps
from samem.evaluate.clear import IOU_THRESHOLD

SIZE, FRAMES = 64, 30


def paint(frame: np.ndarray, label: int, x: int, y: int, side: int) -> None:
    frame[max(y, 0) : max(y + side, 0), max(x, 0) : max(x + side, 0)] = label


def random_videos(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth and predicted label stacks [T, H, W] with misses, false positives and id changes."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    start = rng.uniform(0, SIZE - 12, size=(n, 2))
    velocity = rng.normal(0, 0.8, size=(n, 2))
    side = rng.integers(6, 12, size=n)
    swap_at, rename_at = int(rng.integers(5, FRAMES)), int(rng.integers(5, FRAMES))
    gt = np.zeros((FRAMES, SIZE, SIZE), dtype=np.uint16)
    pred = np.zeros_like(gt)
    for t in range(FRAMES):
        pos = np.clip(start + velocity * t, -4, SIZE - 4).round().astype(int)
        ids = np.arange(1, n + 1)
        if t >= swap_at and n >= 2:
            ids[[0, 1]] = ids[[1, 0]]
        if t >= rename_at:
            ids[-1] = 50
        for k in range(n):
            paint(gt[t], k + 1, *pos[k], side[k])
        for k in range(n):
            if rng.uniform() < 0.1:  # missed detection
                continue
            dx, dy = rng.integers(-2, 3, size=2)
            paint(pred[t], int(ids[k]), pos[k][0] + dx, pos[k][1] + dy, side[k] + int(rng.integers(-2, 3)))
        if rng.uniform() < 0.3:  # false positive
            paint(pred[t], 90 + int(rng.integers(3)), *rng.integers(0, SIZE - 6, size=2), 6)
    return gt, pred


def motmetrics_summary(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    acc = mm.MOTAccumulator(auto_id=True)
    for o in stack_overlaps(pred, gt):
        distance = np.where(o.iou >= IOU_THRESHOLD, 1.0 - o.iou, np.nan)
        acc.update(o.gt_ids.tolist(), o.pred_ids.tolist(), distance)
    names = ["num_matches", "num_switches", "mota", "recall", "precision", "idf1", "idp", "idr"]
    row = mm.metrics.create().compute(acc, metrics=names, name="video")
    return {name: float(row.loc["video", name]) for name in names}


@pytest.mark.parametrize("seed", range(12))
def test_clear_mot_and_idf1_equal_motmetrics(seed: int) -> None:
    gt, pred = random_videos(seed)
    overlaps = stack_overlaps(pred, gt)
    clear, _ = clear_scores(overlaps)
    identity, _ = identity_scores(overlaps)
    ref = motmetrics_summary(gt, pred)
    assert clear["n_matches"] == ref["num_matches"] + ref["num_switches"] > 0  # motmetrics: a switch is no match
    assert clear["id_switches"] == ref["num_switches"]
    assert clear["MOTA"] == pytest.approx(ref["mota"], abs=1e-12)
    assert clear["detection_recall"] == pytest.approx(ref["recall"], abs=1e-12)
    assert clear["detection_precision"] == pytest.approx(ref["precision"], abs=1e-12)
    assert identity["IDF1"] == pytest.approx(ref["idf1"], abs=1e-12)
    assert identity["IDP"] == pytest.approx(ref["idp"], abs=1e-12)
    assert identity["IDR"] == pytest.approx(ref["idr"], abs=1e-12)


def test_the_random_videos_exercise_switches_misses_and_false_positives() -> None:
    totals = {"switches": 0, "misses": 0, "false_positives": 0}
    for seed in range(12):
        gt, pred = random_videos(seed)
        clear, _ = clear_scores(stack_overlaps(pred, gt))
        totals["switches"] += clear["id_switches"]
        totals["misses"] += clear["n_gt_detections"] - clear["n_matches"]
        totals["false_positives"] += clear["n_pred_detections"] - clear["n_matches"]
    assert all(v > 0 for v in totals.values()), totals
