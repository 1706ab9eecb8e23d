import numpy as np
import pytest

from samem.measure import MEASUREMENT_COLUMNS, measure_frame

HEIGHT, WIDTH = 48, 80  # non-square so that x/y swaps show


def ellipse_mask(cx: float, cy: float, a: float, b: float, angle: float) -> np.ndarray:
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    dx, dy = cols - cx, rows - cy
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def test_disc_centroid_is_column_row_and_diameter_matches() -> None:
    mask = ellipse_mask(60.0, 12.0, 6.0, 6.0, 0.0)
    (row,) = measure_frame(mask[None], frame=3, particle_ids=[7])
    assert set(row) == set(MEASUREMENT_COLUMNS)
    assert (row["frame"], row["particle"], row["present"], row["n_fragments"]) == (3, 7, True, 1)
    assert row["x"] == pytest.approx(60.0, abs=1e-9)
    assert row["y"] == pytest.approx(12.0, abs=1e-9)
    assert row["equivalent_diameter_px"] == pytest.approx(12.0, rel=0.05)
    assert row["major_axis_px"] == pytest.approx(row["minor_axis_px"], rel=0.05)


@pytest.mark.parametrize("angle", [0.0, 0.4, -0.7, np.pi / 2])
def test_orientation_and_axes_of_an_ellipse(angle: float) -> None:
    mask = ellipse_mask(40.0, 24.0, 16.0, 5.0, angle)
    (row,) = measure_frame(mask[None], frame=0, particle_ids=[1])
    expected = angle if angle <= np.pi / 2 else angle - np.pi
    assert row["orientation"] == pytest.approx(expected, abs=0.03)
    assert row["major_axis_px"] == pytest.approx(32.0, rel=0.05)
    assert row["minor_axis_px"] == pytest.approx(10.0, rel=0.1)


def test_orientation_points_towards_growing_rows() -> None:
    rows, cols = np.arange(10, 30), np.arange(10, 30)
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[rows, cols] = True  # a diagonal going right and down
    (row,) = measure_frame(mask[None], frame=0, particle_ids=[1])
    assert row["orientation"] == pytest.approx(np.pi / 4, abs=1e-9)


def test_empty_mask_gives_a_row_with_present_false() -> None:
    masks = np.zeros((2, HEIGHT, WIDTH), bool)
    masks[1] = ellipse_mask(20, 20, 4, 4, 0)
    lost, found = measure_frame(masks, frame=5, particle_ids=[1, 2], scores=[0.1, 0.9], predicted_ious=[0.05, 0.8])
    assert lost["present"] is False and lost["n_fragments"] == 0 and lost["area_px"] == 0
    assert np.isnan(lost["x"]) and np.isnan(lost["y"]) and lost["mask_score"] == pytest.approx(0.1)
    assert found["present"] is True and found["mask_score"] == pytest.approx(0.9)
    assert (lost["predicted_iou"], found["predicted_iou"]) == pytest.approx((0.05, 0.8))
    (unscored,) = measure_frame(masks[1:], frame=5, particle_ids=[2])
    assert np.isnan(unscored["mask_score"]) and np.isnan(unscored["predicted_iou"])


def test_mask_in_pieces_keeps_the_largest_piece() -> None:
    mask = ellipse_mask(20, 20, 8, 8, 0) | ellipse_mask(70, 40, 3, 3, 0)
    (row,) = measure_frame(mask[None], frame=0, particle_ids=[1])
    assert row["n_fragments"] == 2
    assert (row["x"], row["y"]) == pytest.approx((20.0, 20.0), abs=1e-9)
    assert row["area_px"] == ellipse_mask(20, 20, 8, 8, 0).sum()


def test_mismatched_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="do not match"):
        measure_frame(np.zeros((2, 4, 4), bool), frame=0, particle_ids=[1])


def test_mask_box_encloses_the_pixels_at_their_edges():
    from samem.measure import mask_box

    mask = np.zeros((10, 12), dtype=bool)
    mask[2:5, 3:9] = True
    mask[7, 4] = True
    assert mask_box(mask) == (2.5, 1.5, 8.5, 7.5)
    with pytest.raises(ValueError, match="empty"):
        mask_box(np.zeros((4, 4), dtype=bool))


def test_label_boxes_gives_each_object_its_box_by_id():
    from samem.measure import label_boxes, mask_box

    labels = np.zeros((10, 12), dtype=np.uint16)
    labels[2:5, 3:9] = 4
    labels[7:9, 1:3] = 2
    assert label_boxes(labels) == {2: mask_box(labels == 2), 4: (2.5, 1.5, 8.5, 4.5)}
    assert label_boxes(np.zeros((3, 3), dtype=np.uint16)) == {}


@pytest.mark.parametrize(
    ("cx", "cy", "inward"), [(2.0, 24.0, (1, 0)), (WIDTH - 3.0, 24.0, (-1, 0)), (40.0, 1.0, (0, 1)),
                             (40.0, HEIGHT - 2.0, (0, -1))],
)  # fmt: skip
def test_a_particle_cut_by_the_frame_edge_is_at_edge_with_its_centroid_pulled_inward(
    cx: float, cy: float, inward: tuple[int, int]
) -> None:
    (row,) = measure_frame(ellipse_mask(cx, cy, 6, 6, 0)[None], frame=0, particle_ids=[1])
    assert row["at_edge"] is True
    shift = np.array([row["x"] - cx, row["y"] - cy])
    sideways = shift[0] * inward[1] - shift[1] * inward[0]
    assert np.dot(shift, inward) > 1.0 and abs(sideways) < 1e-9  # inward by over a pixel, not sideways


def test_at_edge_follows_the_largest_piece_and_is_false_for_whole_and_empty_masks() -> None:
    masks = np.zeros((3, HEIGHT, WIDTH), bool)
    masks[0] = ellipse_mask(40, 24, 6, 6, 0)  # whole, one pixel short of the border at most
    masks[1] = ellipse_mask(40, 24, 8, 8, 0) | ellipse_mask(0, 0, 2, 2, 0)  # a crumb in the corner
    whole, crumb, empty = measure_frame(masks, frame=0, particle_ids=[1, 2, 3])
    assert (whole["at_edge"], crumb["at_edge"], empty["at_edge"]) == (False, False, False)
    assert crumb["n_fragments"] == 2
    masks[0, 24, : 40] = True  # the same particle with a tail reaching the left border
    (tail,) = measure_frame(masks[:1], frame=0, particle_ids=[1])
    assert tail["at_edge"] is True
