import numpy as np
import pytest

from samem.errors import InputError
from samem.evaluate import evaluate_video

KEYS = (
    "J", "F", "J&F", "Dice", "centroid_rmse_px", "detection_recall", "detection_precision", "id_switches", "MOTA",
    "IDF1", "IDP", "IDR", "HOTA", "DetA", "AssA", "LocA",
)


def video(n_frames: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[:48, :48]
    gt = np.zeros((n_frames, 48, 48), np.uint16)
    for t in range(n_frames):
        gt[t][(xx - 12 - t) ** 2 + (yy - 14) ** 2 <= 36] = 1
        gt[t][(xx - 34) ** 2 + (yy - 30 + t) ** 2 <= 49] = 2
    return gt


def test_identical_stacks_with_other_ids_score_perfectly():
    gt = video()
    pred = np.choose(gt, [0, 17, 4]).astype(np.int32)
    result = evaluate_video(pred, gt)
    assert set(KEYS) <= set(result)
    assert result["J"] == result["F"] == result["Dice"] == 1.0 and result["J&F"] == 100.0
    assert result["IDF1"] == result["HOTA"] == result["DetA"] == result["AssA"] == result["LocA"] == 1.0
    assert result["id_switches"] == 0 and result["detection_recall"] == 1.0 and result["centroid_rmse_px"] == 0.0
    assert result["pairs"] == {1: 17, 2: 4}
    assert result["per_object"][1]["pred_id"] == 17 and result["per_object"][2]["J&F"] == 100.0
    assert (result["n_frames"], result["n_gt_objects"], result["n_pred_objects"]) == (6, 2, 2)
    assert result["boundary_tolerance_px"] == 1


def test_empty_prediction():
    gt = video()
    result = evaluate_video(np.zeros_like(gt), gt)
    assert result["detection_recall"] == 0.0 and result["J"] == result["F"] == result["J&F"] == 0.0
    assert result["IDF1"] == result["HOTA"] == 0.0 and result["id_switches"] == 0
    assert result["per_object"][1]["pred_id"] is None and result["per_object"][1]["detection_recall"] == 0.0
    assert np.isnan(result["detection_precision"]) and np.isnan(result["centroid_rmse_px"])


def test_swap_halfway():
    gt = video(6)
    pred = gt.copy()
    pred[3:] = np.choose(gt[3:], [0, 2, 1]).astype(np.uint16)
    result = evaluate_video(pred, gt)
    assert result["id_switches"] == 2
    assert result["IDF1"] == pytest.approx(0.5)  # 3 of 6 frames per track agree: 2 * 6 / 24
    # Every TP c pairs a gt track (6 detections) with a predicted track (6 detections) on 3 frames:
    # A(c) = 3 / (3 + 3 + 3), so AssA = 1/3 with DetA = 1.
    assert result["DetA"] == 1.0 and result["AssA"] == pytest.approx(1 / 3)
    assert result["HOTA"] == pytest.approx(np.sqrt(1 / 3))
    # J/F pair each gt object with one predicted id for the whole video: right on half the frames.
    assert result["J"] == pytest.approx(0.5) and result["F"] == pytest.approx(0.5)


def test_single_frame_and_boolean_input():
    gt = video(1)[0] == 1
    result = evaluate_video(gt, gt)
    assert result["n_frames"] == 1 and result["J"] == 1.0


@pytest.mark.parametrize(
    ("pred", "gt", "message"),
    [
        (np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 5), np.uint8), "do not match"),
        (np.zeros((2, 4, 4), float), np.zeros((2, 4, 4), np.uint8), "integers"),
        (np.full((2, 4, 4), -1, np.int32), np.zeros((2, 4, 4), np.uint8), ">= 0"),
        (np.zeros(4, np.uint8), np.zeros(4, np.uint8), "T x H x W"),
    ],
)
def test_bad_inputs_raise_input_error(pred, gt, message):
    with pytest.raises(InputError, match=message):
        evaluate_video(pred, gt)
