"""Videos.GetFrame: frames of uploaded and registered videos as display PNGs, with ownership and range checks.

A real Redis server and the real gRPC server (no worker: frames are read by the service from the storage).
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from service_support import HEIGHT, TOKENS, WIDTH, redis_server, write_video

from samem.client import Client, ClientError
from samem.io.video import open_video
from samem.service.config import ServiceConfig
from samem.service.frames import fitted_size, stretch
from samem.service.server import create_server

N_FRAMES = 5


def test_stretch_maps_the_percentiles_to_the_8_bit_range_and_a_flat_frame_to_grey() -> None:
    image, low, high = stretch(np.linspace(-5.0, 5.0, 1000).reshape(10, 100))
    assert image.dtype == np.uint8 and image.min() == 0 and image.max() == 255
    assert low == pytest.approx(-4.95) and high == pytest.approx(4.95)
    flat, _, _ = stretch(np.ones((4, 6)))
    assert set(np.unique(flat)) == {128}
    assert fitted_size(128, 96, 64) == (64, 48) and fitted_size(96, 128, 64) == (48, 64)
    assert fitted_size(128, 96, 0) == (128, 96) and fitted_size(128, 96, 500) == (128, 96)  # never enlarged


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("frames")
    with redis_server() as url:
        config = ServiceConfig(redis_url=url, storage=root / "storage", tokens=TOKENS, max_message_bytes=1 << 20)
        server, port, _ = create_server(config)
        try:
            yield f"127.0.0.1:{port}", root
        finally:
            server.stop(0)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.tif", n_frames=N_FRAMES)[0]


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "L"
        return np.asarray(image)


def test_a_frame_comes_back_as_the_contrast_stretched_png_of_the_stored_file(
    service: tuple[str, Path], video: Path
) -> None:
    with Client(service[0], token="alice-token") as client:
        video_id = client.upload_video(video).video_id
        frame = client.get_frame(video_id, 3)
    with open_video(video) as reader:
        expected, low, high = stretch(reader.read(3))
    assert (frame.video_id, frame.frame, frame.width, frame.height) == (video_id, 3, WIDTH, HEIGHT)
    assert (frame.original_width, frame.original_height) == (WIDTH, HEIGHT)
    assert np.array_equal(_pixels(frame.png), expected)  # non-square: a transposed frame would not fit
    assert (frame.low, frame.high) == (low, high)


def test_max_size_scales_the_frame_down_keeping_its_aspect_ratio(service: tuple[str, Path], video: Path) -> None:
    with Client(service[0], token="alice-token") as client:
        video_id = client.upload_video(video).video_id
        small = client.get_frame(video_id, 0, max_size=64)
        large = client.get_frame(video_id, 0, max_size=4096)
    assert (small.width, small.height, small.original_width, small.original_height) == (64, 48, WIDTH, HEIGHT)
    assert _pixels(small.png).shape == (48, 64)
    assert (large.width, large.height) == (WIDTH, HEIGHT)


def test_a_video_registered_from_the_shared_storage_shows_its_frames(service: tuple[str, Path], video: Path) -> None:
    address, root = service
    (root / "storage" / "facility").mkdir(exist_ok=True)
    shutil.copy(video, root / "storage" / "facility" / "registered.tif")
    with Client(address, token="alice-token") as client:
        video_id = client.register_video("facility/registered.tif").video_id
        frame = client.get_frame(video_id, N_FRAMES - 1)
    with open_video(video) as reader:
        assert np.array_equal(_pixels(frame.png), stretch(reader.read(N_FRAMES - 1))[0])
    (root / "storage" / "facility" / "registered.tif").unlink()  # moved away behind the service's back
    gone = rf"FAILED_PRECONDITION: the file of video {video_id} \(facility/registered.tif\) is no longer"
    with Client(address, token="alice-token") as client, pytest.raises(ClientError, match=gone):
        client.get_frame(video_id, 0)


def test_frames_of_other_users_bad_indices_and_bad_sizes_are_refused_with_their_status(
    service: tuple[str, Path], video: Path
) -> None:
    with Client(service[0], token="alice-token") as alice, Client(service[0], token="bob-token-x") as bob:
        video_id = alice.upload_video(video).video_id
        with pytest.raises(ClientError, match=f"NOT_FOUND: no video '{video_id}'"):
            bob.get_frame(video_id, 0)
        with pytest.raises(ClientError, match="NOT_FOUND"):
            alice.get_frame("vid-nonexistent", 0)
        for index in (N_FRAMES, -1):
            with pytest.raises(ClientError, match=rf"OUT_OF_RANGE: frame {index} is outside video .* of {N_FRAMES} "
                                                  rf"frames \(0 to {N_FRAMES - 1}\)"):  # fmt: skip
                alice.get_frame(video_id, index)
        with pytest.raises(ClientError, match=r"INVALID_ARGUMENT: max_size must be >= 0"):
            alice.get_frame(video_id, 0, max_size=-1)
    with Client(service[0], token="no-such-token") as stranger, pytest.raises(ClientError, match="UNAUTHENTICATED"):
        stranger.get_frame(video_id, 0)
