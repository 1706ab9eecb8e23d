import numpy as np
import pytest

from samem.evaluate import hota_from_similarity, hota_scores, stack_overlaps
from samem.evaluate.hota import ALPHAS


def test_alphas_are_the_papers_nineteen_thresholds():
    assert ALPHAS.size == 19 and ALPHAS[0] == 0.05 and ALPHAS[9] == 0.5 and ALPHAS[-1] == 0.95


def test_one_track_matched_half_the_time_by_hand():
    # One gt and one predicted track on 4 frames: IoU 1 on frame 0, exactly 0.5 on frame 1, disjoint on 2-3.
    gt = np.zeros((4, 8, 8), np.uint16)
    gt[:, 0:4, 0:4] = 1
    pred = np.zeros_like(gt)
    pred[0, 0:4, 0:4] = 3
    pred[1, 0:4, 0:2] = 3  # 8 of gt's 16 pixels: IoU 0.5
    pred[2:, 5:8, 5:8] = 3
    result = hota_scores(stack_overlaps(pred, gt))
    # alpha <= 0.5 (10 values): TP = 2, FN = FP = 2 -> DetA = 2/6; A(c) = 2 / (2 + 2 + 2) -> AssA = 1/3.
    # alpha > 0.5 (9 values): TP = 1, FN = FP = 3 -> DetA = AssA = HOTA = 1/7.
    expected = (10 / 3 + 9 / 7) / 19  # = 97 / 399
    for key in ("HOTA", "DetA", "AssA"):
        assert result[key] == pytest.approx(expected, abs=1e-12)
    assert result["LocA"] == pytest.approx((10 * 0.75 + 9 * 1.0) / 19, abs=1e-12)
    assert result["DetRe"] == pytest.approx((10 * 2 / 4 + 9 * 1 / 4) / 19)
    np.testing.assert_allclose(result["alpha_curves"]["HOTA"], np.where(ALPHAS <= 0.5, 1 / 3, 1 / 7))


def test_one_gt_track_split_between_two_predicted_tracks():
    # Perfect detection, each predicted track covers half of the gt track: DetA = 1, A(c) = 2 / (2 + 2 + 0) = 1/2.
    gt = np.zeros((4, 8, 8), np.uint16)
    gt[:, 2:6, 2:6] = 1
    pred = np.where(gt > 0, 1, 0).astype(np.uint16)
    pred[2:][gt[2:] > 0] = 2
    result = hota_scores(stack_overlaps(pred, gt))
    assert result["DetA"] == 1.0 and result["LocA"] == 1.0
    assert result["AssA"] == pytest.approx(0.5) and result["HOTA"] == pytest.approx(np.sqrt(0.5))
    assert result["AssRe"] == pytest.approx(0.5) and result["AssPr"] == pytest.approx(1.0)


def test_matching_prefers_the_association_over_the_similarity():
    # Frame 1: gt 1 overlaps pred 10 (its partner on frame 0) with S = 0.6 and pred 20 with S = 0.9; matching on
    # similarity alone would take 20, HOTA's alignment score keeps 10 (both give one TP).
    gt_ids = [np.array([1]), np.array([1, 2])]
    pred_ids = [np.array([10]), np.array([10, 20])]
    sim = [np.array([[1.0]]), np.array([[0.6, 0.9], [0.0, 0.0]])]
    curves = hota_from_similarity(gt_ids, pred_ids, sim)["alpha_curves"]
    at = int(np.flatnonzero(ALPHAS == 0.5)[0])
    # TP = {(1,10) x 2}: DetA = 2 / (2 + 1 + 1), A = 2 / (2 + 0 + 0) = 1.
    assert curves["DetA"][at] == pytest.approx(0.5) and curves["AssA"][at] == pytest.approx(1.0)
    assert curves["LocA"][at] == pytest.approx(0.8)


def test_no_tp_and_no_detections():
    gt = np.zeros((2, 8, 8), np.uint16)
    gt[:, 1:4, 1:4] = 1
    empty = hota_scores(stack_overlaps(np.zeros_like(gt), gt))
    assert empty["HOTA"] == empty["DetA"] == empty["AssA"] == 0.0 and np.isnan(empty["LocA"])
    nothing = hota_scores(stack_overlaps(np.zeros_like(gt), np.zeros_like(gt)))
    assert all(np.isnan(nothing[key]) for key in ("HOTA", "DetA", "AssA", "LocA"))
