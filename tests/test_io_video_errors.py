"""Bad inputs give an InputError with a one-line message naming the problem."""

import warnings
from pathlib import Path

import av
import mrcfile
import numpy as np
import pytest
from PIL import Image

from samem.errors import InputError
from samem.io.video import SUPPORTED_EXTENSIONS, open_video


def _one_line_error(path: Path, match: str) -> str:
    with pytest.raises(InputError, match=match) as raised:
        open_video(path)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    _one_line_error(tmp_path / "nope.tif", "does not exist")


@pytest.mark.parametrize("extension", SUPPORTED_EXTENSIONS)
def test_empty_file(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"empty{extension}"
    path.touch()
    _one_line_error(path, "is empty")


@pytest.mark.parametrize("extension", SUPPORTED_EXTENSIONS)
def test_garbage_bytes(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"garbage{extension}"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096).astype(np.uint8).tobytes())
    message = _one_line_error(path, "garbage")
    assert len(message) < 300


def test_unsupported_extension_lists_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "movie.xyz"
    path.write_bytes(b"data")
    message = _one_line_error(path, r"unsupported video format '\.xyz'")
    for extension in (".tif", ".mp4", ".avi", ".dm3", ".dm4", ".ser", ".emd", ".mrc"):
        assert extension in message
    assert "folders of images" in message


def test_video_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "blank.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 40, 24, "yuv420p"
        container.start_encoding()
        container.mux(stream.encode())
    _one_line_error(path, "contains no decodable video frames")


def test_stack_without_frames(tmp_path: Path) -> None:
    path = tmp_path / "blank.mrc"
    with warnings.catch_warnings(), mrcfile.new(path) as mrc:
        warnings.simplefilter("ignore")  # mrcfile divides by the zero depth when setting the voxel size
        mrc.set_data(np.zeros((0, 24, 40), np.float32))
    _one_line_error(path, "contains no frames")


def test_corrupt_image_in_folder(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((24, 40), np.uint8)).save(tmp_path / "f1.png")
    (tmp_path / "f2.png").write_bytes(b"not a png at all")
    _one_line_error(tmp_path, r"f2\.png is not a readable image")
