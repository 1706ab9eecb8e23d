"""The tracking service end to end: a real Redis server, real Celery worker processes, a real gRPC server."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from service_support import N_FRAMES, TOKENS, Worker, redis_server, write_present_checkpoint, write_video
from serving_support import torch_threads

from samem.client import Client, ClientError
from samem.service.api import tracking_pb2 as pb
from samem.service.config import ServiceConfig
from samem.service.server import create_server
from samem.tracking import track

pytestmark = pytest.mark.slow  # a Redis server, 2 worker processes: about 30 s


class Stack:
    """Redis, the gRPC server and the current worker."""

    def __init__(self, config: ServiceConfig, address: str, logs: Path) -> None:
        self.config, self.address, self.logs = config, address, logs
        self.worker: Worker | None = None

    def start_worker(self) -> Worker:
        self.worker = Worker(self.config, self.logs / f"worker-{time.monotonic_ns()}.log").wait_ready()
        return self.worker

    def client(self, token: str = "alice-token") -> Client:
        return Client(self.address, token=token, timeout_s=20)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_present_checkpoint(tmp_path_factory.mktemp("weights") / "present.pt")


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    return write_video(tmp_path_factory.mktemp("video") / "clip.tif")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("service")
    with redis_server() as url:
        config = ServiceConfig(
            redis_url=url, storage=root / "storage", tokens=TOKENS, model=f"samem-compact:{checkpoint}",
            checkpoint_every=5, lease_s=2.0, max_message_bytes=1 << 20, max_upload_bytes=8 << 20,
        )  # fmt: skip
        server, port, _ = create_server(config)
        stack = Stack(config, f"127.0.0.1:{port}", root)
        stack.start_worker()
        try:
            yield stack
        finally:
            if stack.worker is not None:
                stack.worker.stop()
            server.stop(0)


@pytest.fixture(scope="module")
def reference(video: tuple[Path, list], checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """trajectories.csv of `samem.track` on the same video with the same model (1 thread, as the workers)."""
    out = tmp_path_factory.mktemp("reference") / "tracked"
    with torch_threads(1):
        track(video[0], video[1], model=f"samem-compact:{checkpoint}", out_dir=out, overlay=None)
    return out


def _uploaded(stack: Stack, video: tuple[Path, list], client: Client) -> str:
    uploaded = client.upload_video(video[0], px_nm=0.5, fps=20.0)
    client.set_prompts(uploaded.video_id, video[1])
    return uploaded.video_id


def test_health_reports_serving_and_reflection_lists_the_services(stack: Stack) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    with grpc.insecure_channel(stack.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="samem.v1.Jobs"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {"samem.v1.Videos", "samem.v1.Prompts", "samem.v1.Jobs", "samem.v1.Results"} <= services


def test_upload_prompt_propagate_watch_gives_the_trajectories_of_samem_track(
    stack: Stack, video: tuple[Path, list], reference: Path
) -> None:
    with stack.client() as client:
        video_id = _uploaded(stack, video, client)
        info = client.get_video(video_id)
        assert (info.n_frames, info.height, info.width, info.px_nm, info.fps) == (N_FRAMES, 96, 128, 0.5, 20.0)
        assert [p.particle for p in client.list_prompts(video_id)] == [1, 2]
        job = client.start_propagation(video_id)
        assert job.state in (pb.QUEUED, pb.RUNNING) and job.frames_total == N_FRAMES
        frames, progress = [], []
        for event in client.watch(job.job_id, include_results=True):
            if event.HasField("frame"):
                frames.append(event.frame.frame)
                assert [p.particle for p in event.frame.particles] == [1, 2]
            else:
                progress.append((event.job.state, event.job.frames_done))
        assert frames == list(range(N_FRAMES))  # every frame once, in order
        assert progress[-1] == (pb.SUCCEEDED, N_FRAMES)
        assert [done for _, done in progress] == sorted(done for _, done in progress)
        csv = client.trajectories_csv(job.job_id)
        assert csv == (reference / "trajectories.csv").read_bytes()
        table = client.trajectories(job.job_id)
        assert table["present"].all() and len(table) == 2 * N_FRAMES
        import tifffile

        expected = tifffile.imread(reference / "masks.tif")
        png = client.masks(job.job_id, 3, 9)
        rle = client.masks(job.job_id, 3, 9, rle=True)
        assert sorted(png) == sorted(rle) == list(range(3, 9))
        for frame in range(3, 9):
            assert np.array_equal(png[frame], expected[frame]) and np.array_equal(rle[frame], expected[frame])
        assert set(np.unique(expected[3])) == {0, 1, 2}


def test_analysis_job_returns_the_statistics_and_plots(stack: Stack, video: tuple[Path, list]) -> None:
    with stack.client() as client:
        video_id = _uploaded(stack, video, client)
        job = client.wait(client.start_propagation(video_id).job_id, timeout_s=60)
        # random weights: the masks fill the frame, so every position touches its edge and is a gap by default
        edge = client.wait(client.start_analysis(job.job_id).job_id, timeout_s=60)
        assert edge.state == pb.FAILED and "frame edge" in edge.error, edge.error
        with pytest.raises(ClientError, match=r"INVALID_ARGUMENT: min_iou must lie in \[0, 1\], got 1\.5"):
            client.start_analysis(job.job_id, keep_edge=True, min_iou=1.5)
        doubtful = client.wait(client.start_analysis(job.job_id, keep_edge=True, min_iou=1.0).job_id, timeout_s=60)
        assert doubtful.state == pb.FAILED and "predicted IoU below min_iou 1.0" in doubtful.error, doubtful.error
        with pytest.raises(ClientError, match=r"INVALID_ARGUMENT: max_area_change must be > 1, got 1\.0"):
            client.start_analysis(job.job_id, keep_edge=True, max_area_change=1.0)
        resized = client.wait(client.start_analysis(job.job_id, keep_edge=True, max_area_change=4.0).job_id,
                              timeout_s=60)
        assert resized.state == pb.FAILED, resized.error  # the prompted masks are boxes, the tracked ones the frame
        assert re.search(r"left out as gaps: \d+ position\(s\) whose area changed by more than max_area_change 4",
                         resized.error), resized.error  # fmt: skip
        started = client.start_analysis(job.job_id, exposure_fraction=0.0, keep_edge=True)
        analysis_job = client.wait(started.job_id, timeout_s=60)
        assert analysis_job.state == pb.SUCCEEDED, analysis_job.error
        result = client.analysis(analysis_job.job_id)
    stats = json.loads(result.stats_json)
    assert stats["parameters"]["px_nm"] == 0.5 and stats["parameters"]["fps"] == 20.0  # the video's calibration
    assert stats["parameters"]["exposure_fraction"] == 0.0 and stats["n_particles"] == 2
    assert stats["gaps"] == {"keep_edge": True, "at_edge": 0, "min_iou": None, "doubtful": 0, "max_area_change": None,
                             "resized": 0}  # fmt: skip
    names = {f.name for f in result.files}
    assert {"msd.csv", "msd.png", "report.html", "confidence.png"} <= names
    assert next(f for f in result.files if f.name == "msd.png").content.startswith(b"\x89PNG")


def test_cancel_stops_a_job_within_a_frame(stack: Stack, video: tuple[Path, list]) -> None:
    with stack.client() as client:
        video_id = _uploaded(stack, video, client)
        job = client.start_propagation(video_id)
        client.cancel(job.job_id)
        started = time.monotonic()
        final = client.wait(job.job_id, timeout_s=10)
        assert final.state == pb.CANCELLED
        assert time.monotonic() - started < 5
        assert final.frames_done < N_FRAMES
        with pytest.raises(ClientError, match=r"FAILED_PRECONDITION.*CANCELLED"):
            client.trajectories_csv(job.job_id)


def test_killed_worker_job_resumes_on_a_new_worker_with_identical_trajectories(
    stack: Stack, video: tuple[Path, list], reference: Path
) -> None:
    with stack.client() as client:
        video_id = _uploaded(stack, video, client)
        job = client.start_propagation(video_id)
        deadline = time.monotonic() + 30
        while client.get_job(job.job_id).frames_done < 8:
            assert time.monotonic() < deadline, stack.worker.log()
            time.sleep(0.005)
        stack.worker.kill()
        killed = client.get_job(job.job_id)
        assert killed.state == pb.RUNNING and 8 <= killed.frames_done < N_FRAMES, "the worker finished too soon"
        stack.start_worker()
        final = client.wait(job.job_id, timeout_s=60)
        assert final.state == pb.SUCCEEDED, final.error
        assert final.resumes == 1 and final.frames_done == N_FRAMES
        csv = client.trajectories_csv(job.job_id)
        assert csv == (reference / "trajectories.csv").read_bytes()
        table = client.trajectories(job.job_id)
        for _, rows in table.groupby("particle"):
            assert rows["frame"].tolist() == list(range(N_FRAMES))  # none missing, none twice
    assert "resumes at frame" in stack.worker.log_path.read_text()
