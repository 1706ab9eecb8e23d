"""Live mode: frames streamed to a real gRPC server, tracked as they arrive; results equal ``samem track``'s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
import tifffile
from service_support import TOKENS, redis_server, write_present_checkpoint, write_video
from serving_support import torch_threads

from samem.client import Client, ClientError
from samem.io.video import IntensityNormalizer, open_video
from samem.service.api import tracking_pb2 as pb
from samem.service.api import tracking_pb2_grpc as rpc
from samem.service.config import ServiceConfig
from samem.service.encoding import png_to_labels
from samem.service.server import create_server
from samem.tracking import track

pytestmark = pytest.mark.slow  # the model in the server process: about 20 s

N_FRAMES = 12


class Live:
    """A server with live mode (the engine in process), a video, its prompts, intensity range and reference."""

    def __init__(self, address: str, frames: np.ndarray, prompts: list, low: float, high: float, ref: Path) -> None:
        self.address, self.frames, self.prompts, self.low, self.high, self.reference = (
            address, frames, prompts, low, high, ref,
        )  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live")
    checkpoint = write_present_checkpoint(root / "present.pt")
    video, prompts = write_video(root / "clip.tif", n_frames=N_FRAMES)
    with open_video(video) as reader:
        normalizer = IntensityNormalizer.fit(reader)
    with torch_threads(1):
        track(video, prompts, model=f"samem-compact:{checkpoint}", out_dir=root / "reference", overlay=None)
    with redis_server() as url:
        config = ServiceConfig(redis_url=url, storage=root / "storage", tokens=TOKENS, live_backend="local",
                               model=f"samem-compact:{checkpoint}", live_sessions=1)  # fmt: skip
        server, port, _ = create_server(config)
        try:
            frames = tifffile.imread(video).astype(np.float32)
            yield Live(f"127.0.0.1:{port}", frames, prompts, normalizer.low, normalizer.high, root / "reference")
        finally:
            server.stop(0)


def test_frames_streamed_live_give_the_masks_and_positions_of_samem_track(live: Live) -> None:
    with Client(live.address, token="alice-token") as client:
        responses = list(client.live(live.frames, live.prompts, low=live.low, high=live.high, n_frames=N_FRAMES))
    assert [r.result.frame for r in responses] == list(range(N_FRAMES))
    expected_masks = tifffile.imread(live.reference / "masks.tif")
    expected = pd.read_csv(live.reference / "trajectories.csv")
    for response in responses:
        assert np.array_equal(png_to_labels(response.masks.png), expected_masks[response.result.frame])
        rows = expected[expected["frame"] == response.result.frame]
        got = sorted((p.particle, p.x, p.y, p.area_px) for p in response.result.particles)
        assert np.allclose(np.array(got), rows[["particle", "x", "y", "area_px"]].to_numpy(), atol=1e-6)
        assert 0 < response.latency_ms < 10_000
    print(f"live latency p50 {np.median([r.latency_ms for r in responses]):.1f} ms")


def test_an_open_ended_session_tracks_every_frame_it_gets(live: Live) -> None:
    with Client(live.address, token="bob-token-x") as client:
        responses = list(client.live(live.frames[:5], live.prompts, low=live.low, high=live.high))
    assert [r.result.frame for r in responses] == list(range(5))
    assert all(p.present for r in responses for p in r.result.particles)


def _code(address: str, messages: list[pb.LiveRequest], token: str = "alice-token") -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(address) as channel:
        replies = rpc.LiveStub(channel).Track(iter(messages), metadata=(("authorization", f"Bearer {token}"),))
        with pytest.raises(grpc.RpcError) as caught:
            list(replies)
    return caught.value.code(), caught.value.details()


def test_broken_sessions_get_invalid_argument_and_the_server_goes_on(live: Live) -> None:
    height, width = live.frames.shape[1:]
    box = pb.Prompt(particle=1, frame=0, box=pb.Box(x0=10, y0=10, x1=30, y1=30))
    start = pb.LiveRequest(start=pb.LiveStart(height=height, width=width, low=live.low, high=live.high, prompts=[box]))
    frame = [pb.LiveRequest(frame=pb.LiveFrame(frame=i, pixels=live.frames[i].tobytes())) for i in range(3)]
    cases = {
        "starts with a start message": [frame[0]],
        "expected frame 1, got 2": [start, frame[0], frame[2]],
        "bytes of pixels": [start, pb.LiveRequest(frame=pb.LiveFrame(frame=0, pixels=b"\0" * 12))],
        "finite low < high": [pb.LiveRequest(start=pb.LiveStart(height=height, width=width, low=1, high=1))],
        "outside the 128 x 96 frame": [pb.LiveRequest(start=pb.LiveStart(
            height=height, width=width, low=0, high=1, prompts=[pb.Prompt(particle=1, box=pb.Box(x1=500, y1=5))]))],
    }  # fmt: skip
    for message, messages in cases.items():
        code, details = _code(live.address, messages)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and message in details, (code, details)
    assert _code(live.address, [start], token="wrong-token")[0] == grpc.StatusCode.UNAUTHENTICATED
    with Client(live.address, token="alice-token") as client:  # the server is fine after all that
        assert len(list(client.live(live.frames[:2], live.prompts, low=live.low, high=live.high))) == 2


def test_live_mode_is_unimplemented_without_a_live_backend(tmp_path: Path) -> None:
    with redis_server() as url:
        server, port, _ = create_server(ServiceConfig(redis_url=url, storage=tmp_path, tokens=TOKENS))
        try:
            with Client(f"127.0.0.1:{port}", token="alice-token") as client, pytest.raises(ClientError) as caught:
                list(client.live([np.zeros((4, 4))], [], low=0, high=1))
            assert caught.value.code == grpc.StatusCode.UNIMPLEMENTED
        finally:
            server.stop(0)

