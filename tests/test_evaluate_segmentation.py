import numpy as np
import pytest

from samem.evaluate import (
    assign_objects,
    boundary_f,
    boundary_precision_recall,
    boundary_tolerance,
    dice,
    jaccard,
    mask_boundary,
    segmentation_scores,
    stack_overlaps,
)

YY, XX = np.mgrid[:64, :64]


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    return (XX - cx) ** 2 + (YY - cy) ** 2 <= r * r


def square(row: int, col: int, side: int = 10, size: int = 32) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[row : row + side, col : col + side] = True
    return mask


def test_square_shift_j_and_dice_exact():
    gt, pred = square(5, 5), square(5, 8)  # side 10 shifted by 3 columns: 70 shared pixels, union 130
    assert jaccard(pred, gt) == pytest.approx(7 / 13, abs=1e-15)
    assert dice(pred, gt) == pytest.approx(0.7, abs=1e-15)


@pytest.mark.parametrize("d", [2, 5, 10])
def test_shifted_disc_j_matches_lens_formula(d):
    r = 15
    lens = 2 * r * r * np.arccos(d / (2 * r)) - d / 2 * np.sqrt(4 * r * r - d * d)
    expected = lens / (2 * np.pi * r * r - lens)
    assert jaccard(disc(30 + d, 32, r), disc(30, 32, r)) == pytest.approx(expected, abs=0.01)


def test_empty_conventions():
    empty, full = np.zeros((8, 8), bool), square(1, 1, side=4, size=8)
    assert jaccard(empty, empty) == dice(empty, empty) == boundary_f(empty, empty) == 1.0
    assert jaccard(empty, full) == dice(full, empty) == boundary_f(empty, full) == boundary_f(full, empty) == 0.0
    assert boundary_precision_recall(empty, full) == (1.0, 0.0)
    assert boundary_precision_recall(full, empty) == (0.0, 1.0)


def test_boundary_tolerance_davis_rule():
    assert boundary_tolerance(64, 64) == 1  # 0.008 * 90.5 = 0.72 -> 1
    assert boundary_tolerance(480, 640) == 6  # 0.008 * 800 = 6.4
    assert boundary_tolerance(1080, 1920) == 18  # 0.008 * 2202.9 = 17.6


def test_mask_boundary_of_square_is_its_perimeter_and_image_edge_counts():
    edge = mask_boundary(square(5, 5))
    assert edge.sum() == 36 and not edge[6:14, 6:14].any()
    corner = square(0, 0, side=3, size=8)
    assert mask_boundary(corner).sum() == 8  # only the centre pixel (1, 1) is interior


def test_boundary_f_disc_shift_within_tolerance_is_one_beyond_is_smaller():
    gt = disc(30, 32, 15)
    assert boundary_f(disc(31, 32, 15), gt) == 1.0  # 1 px shift, tolerance 1 px on 64 x 64
    assert boundary_f(disc(30, 31, 15), gt) == 1.0
    assert boundary_f(disc(34, 32, 15), gt) < 0.5
    assert boundary_f(disc(34, 32, 15), gt, tolerance=4) == 1.0


def test_boundary_f_square_shift_by_hand():
    # Side 10 shifted 3 columns right, tolerance 1: of the 36 predicted boundary pixels, 8 + 8 on the top and bottom
    # rows and the end pixels (2) of the left column lie within 1 px of the ground-truth boundary; by symmetry
    # recall is the same, so P = R = F = 18 / 36.
    precision, recall = boundary_precision_recall(square(5, 8), square(5, 5), tolerance=1)
    assert (precision, recall) == (0.5, 0.5)
    assert boundary_f(square(5, 8), square(5, 5), tolerance=1) == 0.5


def test_segmentation_scores_arbitrary_ids_and_both_empty_frames():
    gt = np.zeros((4, 32, 32), np.uint16)
    gt[:2][:, 5:15, 5:15] = 1  # object 1 on frames 0-1 only
    gt[:, 20:30, 5:15] = 2
    pred = np.zeros_like(gt)
    pred[:2][:, 5:15, 8:18] = 40  # object 1 shifted by 3 columns, J = 7/13
    pred[:, 20:30, 5:15] = 9
    pairs = assign_objects(stack_overlaps(pred, gt))
    assert pairs == {1: 40, 2: 9}
    scores = segmentation_scores(pred, gt, tolerance=1)
    # Frames 2-3: object 1 absent from both -> J = F = Dice = 1 (DAVIS convention).
    assert scores[1]["J"] == pytest.approx((2 * 7 / 13 + 2) / 4)
    assert scores[1]["F"] == pytest.approx((2 * 0.5 + 2) / 4)
    assert scores[1]["Dice"] == pytest.approx((2 * 0.7 + 2) / 4)
    assert scores[1]["J&F"] == pytest.approx(50 * (scores[1]["J"] + scores[1]["F"]))
    assert scores[2] == {"pred_id": 9, "J": 1.0, "F": 1.0, "J&F": 100.0, "Dice": 1.0}


def test_segmentation_identity_assignment_scores_mismatched_ids_as_missing():
    gt = np.zeros((2, 16, 16), np.uint16)
    gt[:, 2:8, 2:8] = 1
    pred = np.where(gt > 0, 5, 0).astype(np.uint16)
    assert segmentation_scores(pred, gt)[1]["J"] == 1.0
    identity = segmentation_scores(pred, gt, assignment="identity")[1]
    assert identity["pred_id"] is None and identity["J"] == 0.0 and identity["F"] == 0.0
