"""TIFF stacks, image folders and compressed movies: frames, shapes, dtypes, metadata, laziness."""

import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import tifffile
from PIL import Image

from samem.errors import InputError
from samem.io.video import natural_key, open_video, to_gray

N, H, W = 6, 24, 40


def _frames(dtype: str = "uint8", n: int = N, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.random((n, H, W), dtype=np.float32).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, (n, H, W), endpoint=True).astype(dtype)


# --- TIFF ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_tiff_stack_round_trips(tmp_path: Path, dtype: str) -> None:
    frames = _frames(dtype)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, frames)
    with open_video(path) as video:
        assert (len(video), video.info.height, video.info.width) == (N, H, W)
        assert video.info.dtype == np.dtype(dtype)
        assert video.info.format == "TIFF"
        assert video.info.px_nm is None and video.info.frame_interval_s is None
        np.testing.assert_array_equal(video.read(2), frames[2])
        np.testing.assert_array_equal(video.read(-1), frames[-1])
        indices, read = zip(*video.iter_frames(), strict=True)
    assert indices == tuple(range(N))
    np.testing.assert_array_equal(np.stack(read), frames)


def test_compressed_tiff_and_single_image(tmp_path: Path) -> None:
    frames = _frames("uint16")
    tifffile.imwrite(tmp_path / "zip.tiff", frames, compression="zlib")
    tifffile.imwrite(tmp_path / "one.tif", frames[0])
    with open_video(tmp_path / "zip.tiff") as video:
        np.testing.assert_array_equal(video.read(4), frames[4])
    with open_video(tmp_path / "one.tif") as video:
        assert len(video) == 1
        np.testing.assert_array_equal(video.read(0), frames[0])


def test_imagej_tiff_gives_pixel_size_and_frame_interval(tmp_path: Path) -> None:
    frames = _frames("uint16")
    path = tmp_path / "calibrated.tif"
    tifffile.imwrite(
        path,
        frames,
        imagej=True,
        resolution=(1 / 0.4, 1 / 0.4),
        metadata={"axes": "TYX", "unit": "nm", "finterval": 0.025},
    )
    with open_video(path) as video:
        assert len(video) == N
        assert video.info.px_nm == pytest.approx(0.4)
        assert video.info.frame_interval_s == pytest.approx(0.025)
        np.testing.assert_array_equal(video.read(5), frames[5])


def test_imagej_micron_unit_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "um.tif"
    tifffile.imwrite(path, _frames("uint8"), imagej=True, resolution=(500.0, 500.0), metadata={"unit": "micron"})
    with open_video(path) as video:
        assert video.info.px_nm == pytest.approx(2.0)


def test_rgb_tiff_is_reduced_to_luminance(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (3, H, W, 3)).astype(np.uint8)
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    with open_video(path) as video:
        assert (len(video), video.info.dtype) == (3, np.uint8)
        expected = np.rint(rgb[1].astype(float) @ [0.299, 0.587, 0.114]).astype(np.uint8)
        np.testing.assert_array_equal(video.read(1), expected)


def test_planar_rgb_tiff_is_one_colour_frame(tmp_path: Path) -> None:
    planes = np.random.default_rng(2).integers(0, 256, (3, H, W)).astype(np.uint8)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, planes, photometric="rgb", planarconfig="separate")
    with open_video(path) as video:
        assert len(video) == 1
        expected = np.rint(np.moveaxis(planes, 0, -1).astype(float) @ [0.299, 0.587, 0.114]).astype(np.uint8)
        np.testing.assert_array_equal(video.read(0), expected)


def test_four_dimensional_tiff_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, np.zeros((2, 3, H, W), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    with pytest.raises(InputError, match="cannot interpret"):
        open_video(path)


def test_reading_one_frame_of_a_large_tiff_is_lazy(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).random((200, 256, 256), dtype=np.float32)
    path = tmp_path / "large.tif"
    tifffile.imwrite(path, frames)
    file_size = path.stat().st_size
    del frames
    with open_video(path) as video:
        tracemalloc.start()
        try:
            frame = video.read(0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert frame.shape == (256, 256)
    assert peak < file_size / 20  # one frame is 1/200 of the file


# --- Folders of images --------------------------------------------------------------------------------------------


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame2b.png"]
    assert sorted(names, key=natural_key) == ["Frame1.png", "frame2.png", "frame2b.png", "frame10.png"]


def test_folder_of_pngs_in_natural_order(tmp_path: Path) -> None:
    frames = _frames("uint8", n=11)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"frame{i}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    with open_video(tmp_path) as video:
        assert (len(video), video.info.height, video.info.width, video.info.dtype) == (11, H, W, np.uint8)
        assert [f.name for f in video.files][:3] == ["frame0.png", "frame1.png", "frame2.png"]
        np.testing.assert_array_equal(video.read(10), frames[10])
        np.testing.assert_array_equal(video.read(2), frames[2])


def test_folder_of_16bit_pngs_and_float_tiffs(tmp_path: Path) -> None:
    png_dir, tif_dir = tmp_path / "png", tmp_path / "tif"
    png_dir.mkdir()
    tif_dir.mkdir()
    deep, real = _frames("uint16", n=3), _frames("float32", n=3)
    for i in range(3):
        Image.fromarray(deep[i]).save(png_dir / f"{i}.png")
        tifffile.imwrite(tif_dir / f"{i}.tif", real[i])
    with open_video(png_dir) as video:
        assert video.info.dtype == np.uint16
        np.testing.assert_array_equal(video.read(1), deep[1])
    with open_video(tif_dir) as video:
        assert video.info.dtype == np.float32
        np.testing.assert_array_equal(video.read(2), real[2])


def test_folder_of_rgb_jpegs_within_codec_loss(tmp_path: Path) -> None:
    y, x = np.mgrid[0:H, 0:W]
    gray = (100 + 60 * np.sin(x / 6.0) * np.cos(y / 5.0)).astype(np.uint8)
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "a.jpg", quality=95)
    with open_video(tmp_path) as video:
        assert video.info.dtype == np.uint8
        assert np.abs(video.read(0).astype(float) - gray).mean() < 2.0


def test_folder_with_images_of_different_sizes_is_refused(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "a1.png")
    Image.fromarray(np.zeros((H, W + 1), np.uint8)).save(tmp_path / "a2.png")
    with pytest.raises(InputError, match="different sizes") as raised:
        open_video(tmp_path)
    assert "\n" not in str(raised.value)


def test_folder_without_images_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no frames here")
    with pytest.raises(InputError, match=r"no images \(looked for .png"):
        open_video(tmp_path)


# --- Movies -------------------------------------------------------------------------------------------------------


def _write_movie(path: Path, frames: np.ndarray, codec: str, pix_fmt: str, options: dict[str, str]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=20)
        stream.width, stream.height, stream.pix_fmt, stream.options = W, H, pix_fmt, options
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        container.mux(stream.encode())


def _smooth_frames(n: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([(120 + 80 * np.sin((x + 2 * t) / 5.0) * np.cos(y / 4.0)).astype(np.uint8) for t in range(n)])


def test_mp4_round_trips_within_codec_loss(tmp_path: Path) -> None:
    frames = _smooth_frames(40)
    path = tmp_path / "movie.mp4"
    _write_movie(path, frames, "libx264", "yuv420p", {"crf": "0", "g": "10"})
    with open_video(path) as video:
        assert (len(video), video.info.height, video.info.width, video.info.dtype) == (40, H, W, np.uint8)
        assert video.info.frame_interval_s == pytest.approx(0.05)
        assert video.info.px_nm is None
        sequential = np.stack([f for _, f in video.iter_frames()])
        assert np.abs(sequential.astype(float) - frames).mean() < 1.0
        for index in (33, 5, 6, 39, 0, 21):  # seeks backwards and forwards, and decodes forward
            np.testing.assert_array_equal(video.read(index), sequential[index])
        np.testing.assert_array_equal(np.stack([f for _, f in video.iter_frames(12, 15)]), sequential[12:15])


def test_lossless_avi_round_trips_exactly(tmp_path: Path) -> None:
    frames = _frames("uint8", n=8)
    path = tmp_path / "movie.avi"
    _write_movie(path, frames, "ffv1", "gray", {})
    with open_video(path) as video:
        assert len(video) == 8
        np.testing.assert_array_equal(video.read(6), frames[6])
        np.testing.assert_array_equal(np.stack([f for _, f in video.iter_frames()]), frames)


# --- Shared behaviour ---------------------------------------------------------------------------------------------


def test_frame_index_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, _frames())
    with open_video(path) as video:
        for bad in (N, -N - 1):
            with pytest.raises(InputError, match=f"frame index {bad} is out of range"):
                video.read(bad)
        with pytest.raises(InputError, match="out of range"):
            list(video.iter_frames(2, N + 1))


def test_to_gray_keeps_dtype_and_refuses_odd_shapes() -> None:
    rgb = np.full((2, 3, 3), 65535, np.uint16)
    assert to_gray(rgb).dtype == np.uint16 and (to_gray(rgb) == 65535).all()
    with pytest.raises(InputError, match="cannot interpret"):
        to_gray(np.zeros((2, 3, 5)))
