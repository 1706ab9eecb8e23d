"""Prometheus metrics of real processes: a `samem serve` and a `samem worker` on a real Redis, scraped over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from service_support import N_FRAMES, TOKENS, Worker, redis_server, write_present_checkpoint, write_video

from samem.client import Client, ClientError
from samem.service.api import tracking_pb2 as pb
from samem.service.config import ServiceConfig
from samem.serving.server import free_port

pytestmark = pytest.mark.slow  # a Redis server, a service process and a worker process: about 20 s


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``http://127.0.0.1:port/metrics`` keyed by (name, sorted labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class Stack:
    def __init__(self, config: ServiceConfig, address: str, server_metrics: int, worker: Worker) -> None:
        self.config, self.address, self.server_metrics, self.worker = config, address, server_metrics, worker


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("metrics")
    checkpoint = write_present_checkpoint(root / "present.pt")
    with redis_server() as url:
        server_metrics, worker_metrics, port = free_port(), free_port(), free_port()
        config = ServiceConfig(
            redis_url=url, storage=root / "storage", tokens=TOKENS, model=f"samem-compact:{checkpoint}",
            checkpoint_every=5, lease_s=5.0, metrics_port=worker_metrics,
        )  # fmt: skip
        env = {**os.environ, **config.environment(), "SAMEM_METRICS_PORT": str(server_metrics)}
        log = root / "server.log"
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "samem", "serve", "--address", f"127.0.0.1:{port}"], env=env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        worker = Worker(config, root / "worker.log")
        try:
            deadline = time.monotonic() + 60
            while "ready on port" not in log.read_text():
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            yield Stack(config, f"127.0.0.1:{port}", server_metrics, worker.wait_ready())
        finally:
            worker.stop()
            server.terminate()
            server.wait(20)


def test_every_rpc_is_counted_and_timed_by_method_and_status_code(stack: Stack) -> None:
    before = scrape(stack.server_metrics)
    with Client(stack.address, token="alice-token", timeout_s=20) as client:
        for _ in range(3):
            client.list_videos()
        with pytest.raises(ClientError):
            client.get_video("vid-missing")
    with Client(stack.address, token="wrong-token-123", timeout_s=20) as stranger, pytest.raises(ClientError):
        stranger.list_videos()
    with grpc.insecure_channel(stack.address) as channel:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    after = scrape(stack.server_metrics)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    listing = {"method": "samem.v1.Videos/ListVideos"}
    assert delta("samem_grpc_requests_total", **listing, code="OK") == 3
    assert delta("samem_grpc_requests_total", **listing, code="UNAUTHENTICATED") == 1
    assert delta("samem_grpc_requests_total", method="samem.v1.Videos/GetVideo", code="NOT_FOUND") == 1
    assert delta("samem_grpc_requests_total", method="grpc.health.v1.Health/Check", code="OK") == 1
    assert delta("samem_grpc_request_duration_seconds_count", **listing, code="OK") == 3
    assert delta("samem_grpc_request_duration_seconds_sum", **listing, code="OK") > 0
    assert value(after, "samem_redis_up") == 1


def test_a_tracked_video_moves_the_worker_frame_and_job_metrics_and_the_job_state_gauge(
    stack: Stack, tmp_path: Path
) -> None:
    path, prompts = write_video(tmp_path / "clip.tif")
    before = scrape(stack.config.metrics_port)
    assert value(before, "samem_worker_frames_total") == 0
    with Client(stack.address, token="alice-token", timeout_s=20) as client:
        video = client.upload_video(path, px_nm=0.5, fps=20.0)
        client.set_prompts(video.video_id, prompts)
        job = client.wait(client.start_propagation(video.video_id).job_id, timeout_s=120)
        assert job.state == pb.SUCCEEDED
    worker = scrape(stack.config.metrics_port)
    assert value(worker, "samem_worker_frames_total") == N_FRAMES
    assert value(worker, "samem_worker_jobs_total", kind="PROPAGATION", state="SUCCEEDED") == 1
    assert value(worker, "samem_worker_job_duration_seconds_count", kind="PROPAGATION") == 1
    assert value(worker, "samem_worker_frames_per_second") > 0
    service = scrape(stack.server_metrics)
    upload = {"method": "samem.v1.Videos/UploadVideo", "code": "OK"}  # a client-streaming RPC
    assert value(service, "samem_grpc_requests_total", **upload) == 1
    assert value(service, "samem_jobs", state="SUCCEEDED") == 1
    assert value(service, "samem_jobs", state="RUNNING") == 0


def test_the_queue_length_gauge_counts_tasks_waiting_for_a_worker(stack: Stack, tmp_path: Path) -> None:
    stack.worker.stop()  # nobody consumes the queue from now on (this test runs last)
    path, prompts = write_video(tmp_path / "clip.tif", n_frames=4)
    assert value(scrape(stack.server_metrics), "samem_queue_length") == 0
    with Client(stack.address, token="bob-token-x", timeout_s=20) as client:
        video = client.upload_video(path, px_nm=0.5, fps=20.0)
        client.set_prompts(video.video_id, prompts)
        for _ in range(2):
            client.start_propagation(video.video_id)
    service = scrape(stack.server_metrics)
    assert value(service, "samem_queue_length") == 2
    assert value(service, "samem_jobs", state="QUEUED") == 2


def test_a_busy_metrics_port_is_logged_and_the_server_still_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    from samem.service.server import create_server

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = ServiceConfig(redis_url="redis://127.0.0.1:1/0", storage=tmp_path, tokens=TOKENS, metrics_port=port)
        server, grpc_port, _ = create_server(config)
    try:
        assert grpc_port > 0
        assert f"cannot serve metrics on port {port}" in caplog.text
    finally:
        server.stop(0)
