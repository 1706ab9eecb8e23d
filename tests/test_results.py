import json
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage

from samem.errors import InputError
from samem.results.labels import masks_to_labels
from samem.results.measured import MeasuredFrame
from samem.results.overlay import OverlayWriter, outline
from samem.results.writer import TrackOutputWriter

HEIGHT, WIDTH = 40, 72


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    return (cols - cx) ** 2 + (rows - cy) ** 2 <= r**2


def test_labels_carry_particle_ids_and_overlaps_go_to_the_larger_logit() -> None:
    masks = np.stack([disc(20, 20, 8), disc(28, 20, 8)])
    logits = np.stack([np.full((HEIGHT, WIDTH), 1.0), np.full((HEIGHT, WIDTH), 2.0)])
    labels = masks_to_labels(masks, [3, 9], logits=logits)
    assert labels.dtype == np.uint16
    assert set(np.unique(labels)) == {0, 3, 9}
    overlap = masks[0] & masks[1]
    assert (labels[overlap] == 9).all()
    assert (labels[masks[0] & ~masks[1]] == 3).all()
    assert (masks_to_labels(masks, [3, 9])[overlap] == 3).all()  # no logits: the first listed wins


def test_labels_refuse_ids_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="particle ids must lie"):
        masks_to_labels(np.zeros((1, 4, 4), bool), [0])


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_overlay_is_a_playable_movie(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"overlay{suffix}"
    writer = OverlayWriter(path, fps=10, height=HEIGHT, width=WIDTH)
    for t in range(6):
        labels = masks_to_labels(disc(20 + 3 * t, 20, 6)[None], [1])
        writer.append(np.full((HEIGHT, WIDTH), 0.5), labels)
    writer.close()
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 6
    assert frames[0].shape == (HEIGHT, WIDTH, 3)
    coloured = np.abs(frames[-1].astype(int) - frames[-1].mean(axis=2, keepdims=True)).max(axis=2) > 40
    assert coloured.any()  # the outline is drawn in colour on the gray frame


def test_the_outline_of_all_labels_at_once_is_each_region_minus_its_erosion() -> None:
    """Touching regions, regions cut by the image edge, thin ones and holes: as eroding each region on its own."""
    labels = masks_to_labels(np.stack([disc(20, 20, 8), disc(30, 20, 7), disc(2, 3, 6), disc(60, 30, 2)]), [1, 2, 7, 9])
    labels[10:30, 45:47] = 4  # a bar two pixels wide: all outline
    labels[18:21, 18:21] = 0  # a hole
    expected = np.zeros(labels.shape, bool)
    for particle in (1, 2, 4, 7, 9):
        region = labels == particle
        expected |= region & ~ndimage.binary_erosion(region, iterations=2)
    found = outline(labels)
    assert np.array_equal(found, expected)
    assert found[labels == 4].all() and not found[labels == 0].any()
    assert not outline(np.zeros((5, 5), np.int32)).any()


def test_overlay_labels_and_trails_every_particle_when_masks_cover_the_whole_frame(tmp_path: Path) -> None:
    writer = OverlayWriter(tmp_path / "overlay.mp4", fps=10, height=HEIGHT, width=WIDTH)
    labels = np.full((HEIGHT, WIDTH), 3, np.uint16)  # no background pixel (e.g. random weights fill the frame)
    labels[:, WIDTH // 2 :] = 5
    writer.append(np.full((HEIGHT, WIDTH), 0.5), labels)
    writer.close()
    assert sorted(writer._trails) == [3, 5]


def test_overlay_refuses_other_formats(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.mp4 or \.gif"):
        OverlayWriter(tmp_path / "x.avi", fps=10, height=HEIGHT, width=WIDTH)


def test_writer_streams_every_output(tmp_path: Path) -> None:
    writer = TrackOutputWriter(tmp_path, n_frames=5, height=HEIGHT, width=WIDTH, fps=10)
    for t in (1, 2, 3):  # frame 0 is before the first prompt; frame 4 after the end of tracking
        masks = np.stack([disc(20 + t, 20, 5), np.zeros((HEIGHT, WIDTH), bool) if t == 3 else disc(50, 25, 4)])
        writer.add_frame(MeasuredFrame.from_masks(t, masks, [1, 2], scores=[0.9, 0.8]), np.full((HEIGHT, WIDTH), 0.3))
    writer.close({"model": "test"})
    labels = tifffile.imread(tmp_path / "masks.tif")
    assert labels.shape == (5, HEIGHT, WIDTH)
    assert not labels[0].any() and not labels[4].any()
    assert set(np.unique(labels[2])) == {0, 1, 2}
    table = pd.read_csv(tmp_path / "trajectories.csv")
    assert list(table.columns[:4]) == ["frame", "particle", "x", "y"]
    assert len(table) == 6
    lost = table[(table.frame == 3) & (table.particle == 2)].iloc[0]
    assert not lost.present and np.isnan(lost.x)
    found = table[(table.frame == 2) & (table.particle == 1)].iloc[0]
    assert (found.x, found.y) == pytest.approx((22.0, 20.0))
    assert json.loads((tmp_path / "run.json").read_text()) == {"model": "test"}
    assert (tmp_path / "overlay.mp4").stat().st_size > 0


def test_writer_refuses_frames_out_of_order(tmp_path: Path) -> None:
    writer = TrackOutputWriter(tmp_path, n_frames=5, height=HEIGHT, width=WIDTH, fps=10, overlay=None)
    masks = disc(20, 20, 5)[None]
    writer.add_frame(MeasuredFrame.from_masks(2, masks, [1]), np.zeros((HEIGHT, WIDTH)))
    with pytest.raises(ValueError, match="out of order"):
        writer.add_frame(MeasuredFrame.from_masks(1, masks, [1]), np.zeros((HEIGHT, WIDTH)))
    writer.close({})
