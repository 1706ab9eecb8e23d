import numpy as np
import pandas as pd
import pytest

from samem.evaluate import centroid_rmse_from_tables, clear_scores, identity_scores, match_frames, stack_overlaps


def two_objects(n_frames: int = 10) -> np.ndarray:
    gt = np.zeros((n_frames, 32, 32), np.uint16)
    gt[:, 4:12, 4:12] = 1
    gt[:, 18:26, 18:26] = 2
    return gt


def test_swap_of_two_ids_counts_two_switches_and_idf1_by_hand():
    gt = two_objects(10)
    pred = gt.copy()
    pred[6:] = np.choose(gt[6:], [0, 2, 1]).astype(np.uint16)  # ids swapped from frame 6 on
    overall, per_object = clear_scores(stack_overlaps(pred, gt))
    # CLEAR MOT: each ground-truth object changes partner once -> 1 switch each, 2 in all.
    assert overall["id_switches"] == 2
    assert per_object[1]["id_switches"] == per_object[2]["id_switches"] == 1
    assert overall["detection_recall"] == overall["detection_precision"] == 1.0
    assert overall["MOTA"] == pytest.approx(1 - 2 / 20)
    # IDF1: 1<->1 and 2<->2 agree on 6 frames each -> IDTP = 12 of 20 + 20 detections.
    scores, matching = identity_scores(stack_overlaps(pred, gt))
    assert matching == {1: 1, 2: 2}
    assert (scores["IDTP"], scores["IDFP"], scores["IDFN"]) == (12, 8, 8)
    assert scores["IDF1"] == pytest.approx(24 / 40)
    assert scores["IDP"] == scores["IDR"] == pytest.approx(0.6)


def test_one_track_changing_id_counts_one_switch():
    gt = np.zeros((10, 16, 16), np.uint16)
    gt[:, 3:9, 3:9] = 5
    pred = np.where(gt > 0, 1, 0).astype(np.uint16)
    pred[4:][gt[4:] > 0] = 7
    overall, _ = clear_scores(stack_overlaps(pred, gt))
    assert overall["id_switches"] == 1
    scores, matching = identity_scores(stack_overlaps(pred, gt))
    assert matching == {5: 7}
    assert scores["IDF1"] == pytest.approx(2 * 6 / 20)


def test_switch_is_judged_against_the_last_match_across_a_gap():
    gt = np.zeros((6, 16, 16), np.uint16)
    gt[:, 3:9, 3:9] = 1
    pred = np.where(gt > 0, 3, 0).astype(np.uint16)
    pred[2:4] = 0  # lost on frames 2-3, found again with the same id
    overall, _ = clear_scores(stack_overlaps(pred, gt))
    assert overall["id_switches"] == 0 and overall["detection_recall"] == pytest.approx(4 / 6)
    pred[4:][pred[4:] > 0] = 8  # found again with another id
    assert clear_scores(stack_overlaps(pred, gt))[0]["id_switches"] == 1


def test_empty_prediction_has_zero_recall():
    gt = two_objects(3)
    overall, per_object = clear_scores(stack_overlaps(np.zeros_like(gt), gt))
    assert overall["detection_recall"] == 0.0 and overall["n_matches"] == 0
    assert np.isnan(overall["detection_precision"]) and np.isnan(overall["centroid_rmse_px"])
    assert per_object[1]["detection_recall"] == 0.0
    assert identity_scores(stack_overlaps(np.zeros_like(gt), gt))[0]["IDF1"] == 0.0


def test_iou_threshold_gates_matches():
    gt = np.zeros((1, 32, 32), np.uint16)
    gt[0, 5:15, 5:15] = 1
    pred = np.zeros_like(gt)
    pred[0, 5:15, 12:22] = 1  # shifted by 7: IoU = 30 / 170 < 0.5
    overall, _ = clear_scores(stack_overlaps(pred, gt))
    assert (overall["n_matches"], overall["MOTA"]) == (0, -1.0)  # 1 - (1 miss + 1 false positive) / 1 object
    assert clear_scores(stack_overlaps(pred, gt), iou_threshold=0.1)[0]["n_matches"] == 1


def test_centroid_rmse_from_labels():
    gt = two_objects(4)
    pred = np.zeros_like(gt)
    pred[:, 4:12, 5:13] = 11  # object 1 one column right: error 1
    pred[:, 20:28, 18:26] = 12  # object 2 two rows down: error 2, IoU 48/80
    overall, per_object = clear_scores(stack_overlaps(pred, gt))
    assert overall["centroid_rmse_px"] == pytest.approx(np.sqrt((1 + 4) / 2))
    assert per_object[1]["centroid_rmse_px"] == pytest.approx(1.0)
    assert per_object[2]["centroid_rmse_px"] == pytest.approx(2.0)
    matches, _ = match_frames(stack_overlaps(pred, gt))
    assert {(m.gt_id, m.pred_id) for m in matches} == {(1, 11), (2, 12)}


def test_centroid_rmse_from_tables():
    gt = pd.DataFrame(
        {"frame": [0, 1, 2, 0, 1], "particle": [1, 1, 1, 2, 2], "x": [10.0, 11, 12, 30, 30], "y": [5.0, 5, 5, 9, 9]}
    )
    pred = pd.DataFrame(
        {
            "frame": [0, 1, 2, 0, 1],
            "particle": [1, 1, 1, 2, 2],
            "x": [13.0, 11, np.nan, 30, 31],
            "y": [9.0, 5, np.nan, 9, 9],
            "present": [True, True, False, True, True],
        }
    )
    result = centroid_rmse_from_tables(pred, gt)
    # Matched: (0,1) error 5, (1,1) 0, (0,2) 0, (1,2) 1; frame 2 of particle 1 is absent in the prediction.
    assert result["n_matched"] == 4
    assert result["centroid_rmse_px"] == pytest.approx(np.sqrt((25 + 0 + 0 + 1) / 4))
    assert result["per_particle"][1] == {"centroid_rmse_px": pytest.approx(np.sqrt(25 / 2)), "n_matched": 2}
    renamed = pred.assign(particle=pred["particle"].map({1: 70, 2: 80}))
    assert centroid_rmse_from_tables(renamed, gt, pairs={1: 70, 2: 80}) == result
    assert centroid_rmse_from_tables(renamed, gt)["n_matched"] == 0
