"""Intensity normalisation and the input <-> model coordinate geometry."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from samem.errors import InputError
from samem.io.video import FrameGeometry, IntensityNormalizer, open_video

H, W = 24, 40


def test_normalizer_maps_percentiles_to_0_and_1_and_clips(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).normal(1000, 200, (8, H, W)).astype(np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, frames)
    with open_video(path) as video:
        normalizer = IntensityNormalizer.fit(video)
        low, high = np.percentile(frames.astype(float), [0.5, 99.5])
        assert (normalizer.low, normalizer.high) == pytest.approx((low, high))
        out = normalizer(video.read(3))
    assert out.dtype == np.float32 and out.shape == (H, W)
    assert out.min() == 0.0 and out.max() == 1.0
    probes = np.array([low, (low + high) / 2, high, low - 50, high + 50])
    np.testing.assert_allclose(normalizer(probes), [0, 0.5, 1, 0, 1], rtol=1e-6)


def test_normalizer_is_fixed_for_the_whole_video(tmp_path: Path) -> None:
    ramp = np.stack([np.full((H, W), 10.0 * (i + 1), np.float32) for i in range(10)])
    ramp[:, 0, 0] = 0.0
    path = tmp_path / "ramp.tif"
    tifffile.imwrite(path, ramp)
    with open_video(path) as video:
        normalizer = IntensityNormalizer.fit(video, n_frames=4, low_percentile=0, high_percentile=100)
        dim, bright = normalizer(video.read(1)), normalizer(video.read(8))
    assert (normalizer.low, normalizer.high) == (0.0, 100.0)
    assert dim[5, 5] == pytest.approx(0.2) and bright[5, 5] == pytest.approx(0.9)


def test_normalizer_bounds_its_sample_and_handles_constant_frames(tmp_path: Path) -> None:
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, np.full((3, H, W), 7, np.uint8), photometric="minisblack")
    with open_video(path) as video:
        normalizer = IntensityNormalizer.fit(video, max_values=100)
    assert normalizer.low == normalizer.high == 7.0
    assert not normalizer(np.full((H, W), 7, np.uint8)).any()
    with pytest.raises(InputError, match="percentiles"):
        IntensityNormalizer.fit(video, low_percentile=60, high_percentile=40)


def test_normalizer_of_one_image_uses_its_own_percentiles_and_ignores_non_finite_values() -> None:
    image = np.arange(1000, dtype=np.float32).reshape(25, 40)
    image[0, :3] = (np.nan, np.inf, -np.inf)
    normalizer = IntensityNormalizer.of_image(image, low_percentile=10, high_percentile=90)
    finite = image[np.isfinite(image)]
    assert normalizer.low == pytest.approx(np.percentile(finite, 10))
    assert normalizer.high == pytest.approx(np.percentile(finite, 90))
    out = normalizer(image[1:])
    assert out.min() == 0.0 and out.max() == 1.0
    assert IntensityNormalizer.of_image(np.full((4, 4), np.nan)) == IntensityNormalizer(low=0.0, high=0.0)


@pytest.mark.parametrize("mode", ["square", "letterbox"])
def test_geometry_round_trips_points_and_boxes(mode: str) -> None:
    geometry = FrameGeometry(height=H, width=W, size=512, mode=mode)
    points = np.random.default_rng(0).uniform([-0.5, -0.5], [W - 0.5, H - 0.5], (50, 2))
    np.testing.assert_allclose(geometry.points_to_input(geometry.points_to_model(points)), points, atol=1e-6)
    boxes = np.concatenate([points[:25], points[25:] + 3.0], axis=1)
    np.testing.assert_allclose(geometry.boxes_to_input(geometry.boxes_to_model(boxes)), boxes, atol=1e-6)


def test_square_geometry_maps_frame_edges_and_pixel_centres() -> None:
    geometry = FrameGeometry(height=H, width=W, size=512)
    assert geometry.scale_xy == (512 / W, 512 / H)
    whole = geometry.boxes_to_model([-0.5, -0.5, W - 0.5, H - 0.5])
    np.testing.assert_allclose(whole, [-0.5, -0.5, 511.5, 511.5], atol=1e-9)
    # The centre of input pixel (row 0, col 0) is the centre of its 12.8 x 21.33 model-pixel footprint.
    np.testing.assert_allclose(geometry.points_to_model([0.0, 0.0]), [0.5 * 512 / W - 0.5, 0.5 * 512 / H - 0.5])
    np.testing.assert_allclose(geometry.points_to_model([[W / 2 - 0.5, H / 2 - 0.5]]), [[255.5, 255.5]])


def test_letterbox_geometry_keeps_aspect_and_pads_bottom() -> None:
    geometry = FrameGeometry(height=H, width=W, size=512, mode="letterbox")
    assert (geometry.resized_height, geometry.resized_width) == (307, 512)  # 24 * 12.8 = 307.2
    np.testing.assert_allclose(
        geometry.boxes_to_model([-0.5, -0.5, W - 0.5, H - 0.5]), [-0.5, -0.5, 511.5, 306.5], atol=1e-9
    )
    image = geometry.resize(np.ones((H, W), np.float32))
    assert image.shape == (512, 512)
    assert image[:307].min() == pytest.approx(1.0) and not image[307:].any()


@pytest.mark.parametrize("mode", ["square", "letterbox"])
def test_resized_image_agrees_with_the_coordinate_map(mode: str) -> None:
    y, x = np.mgrid[0:H, 0:W]
    centre = np.array([27.3, 9.6])  # (x, y) in input pixels
    blob = np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * 2.5**2)).astype(np.float32)
    geometry = FrameGeometry(height=H, width=W, size=256, mode=mode)
    image = geometry.resize(blob)
    my, mx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    found = np.array([(image * mx).sum(), (image * my).sum()]) / image.sum()
    np.testing.assert_allclose(geometry.points_to_input(found), centre, atol=0.05)


def test_geometry_refuses_bad_arguments() -> None:
    with pytest.raises(InputError, match="resize mode"):
        FrameGeometry(height=H, width=W, mode="crop")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="last axis of length 4"):
        FrameGeometry(height=H, width=W).boxes_to_model([1.0, 2.0])
    with pytest.raises(InputError, match="does not match"):
        FrameGeometry(height=H, width=W).resize(np.zeros((W, H)))
