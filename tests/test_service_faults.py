"""Faults with real parts: Triton unreachable (workers retry with backoff, then fail the job with the reason),
Redis down and back (UNAVAILABLE meanwhile, data intact after), leases lost to another worker."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from service_support import TOKENS, RedisServer, Worker, redis_server, write_present_checkpoint, write_video

from samem.client import Client, ClientError
from samem.service.api import tracking_pb2 as pb
from samem.service.config import ServiceConfig
from samem.service.server import create_server
from samem.service.store import Store
from samem.serving.server import free_port
from samem.tracking.prompts import PromptSpec

pytestmark = pytest.mark.slow  # Redis servers and worker processes: about 60 s

N_FRAMES = 12


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_present_checkpoint(tmp_path_factory.mktemp("weights") / "present.pt")


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[PromptSpec]]:
    return write_video(tmp_path_factory.mktemp("video") / "clip.tif", n_frames=N_FRAMES)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[ServiceConfig, str]]:
    """A gRPC server on a Redis of its own (no worker yet)."""
    with redis_server() as url:
        config = ServiceConfig(redis_url=url, storage=tmp_path / "storage", tokens=TOKENS, lease_s=2.0)
        server, port, _ = create_server(config)
        try:
            yield config, f"127.0.0.1:{port}"
        finally:
            server.stop(0)


def test_unreachable_triton_is_retried_with_growing_waits_then_the_job_fails_with_the_reason(
    service: tuple[ServiceConfig, str], video: tuple[Path, list[PromptSpec]], tmp_path: Path
) -> None:
    base, address = service
    nowhere = free_port()  # no Triton listens here
    config = ServiceConfig(
        redis_url=base.redis_url, storage=base.storage, backend=f"triton://127.0.0.1:{nowhere}", lease_s=2.0,
        backend_retries=3, backend_retry_s=0.3, backend_retry_max_s=0.5,
    )  # fmt: skip
    worker = Worker(config, tmp_path / "worker.log").wait_ready()  # it starts even though Triton is not there
    try:
        with Client(address, token="alice-token") as client:
            video_id = client.upload_video(video[0]).video_id
            client.set_prompts(video_id, video[1])
            started = time.monotonic()
            job = client.wait(client.start_propagation(video_id).job_id, timeout_s=60)
            elapsed = time.monotonic() - started
        assert job.state == pb.FAILED
        assert f"cannot reach Triton at 127.0.0.1:{nowhere}" in job.error
        assert "gave up after 4 attempts" in job.error
        waits = [float(s) for s in re.findall(r"retrying in ([0-9.]+) s", worker.log_path.read_text())]
        assert waits == [0.3, 0.5, 0.5]  # doubling, capped at backend_retry_max_s
        assert elapsed >= sum(waits)
        assert worker.process.poll() is None  # the worker lives on
        with Client(address, token="admin-token") as admin:
            finish = admin.audit_events(job_id=job.job_id)[0]
        assert (finish.action, finish.outcome, finish.detail) == ("FINISH", pb.FAILED, job.error)
    finally:
        worker.stop()


def _unavailable(call: object) -> str:
    started = time.monotonic()
    with pytest.raises(ClientError) as caught:
        call()  # type: ignore[operator]
    assert time.monotonic() - started < 8
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE, caught.value
    assert "Traceback" not in caught.value.details
    return caught.value.details


def test_redis_down_answers_unavailable_and_after_it_returns_the_data_is_intact_and_jobs_run(
    tmp_path: Path, checkpoint: Path, video: tuple[Path, list[PromptSpec]]
) -> None:
    database = RedisServer(tmp_path / "redis").start()
    config = ServiceConfig(
        redis_url=database.url, storage=tmp_path / "storage", tokens=TOKENS, model=f"samem-compact:{checkpoint}",
        lease_s=2.0,
    )  # fmt: skip
    server, port, _ = create_server(config)
    address = f"127.0.0.1:{port}"
    worker = Worker(config, tmp_path / "worker.log").wait_ready()
    try:
        with Client(address, token="alice-token", timeout_s=20) as client:
            stored = client.upload_video(video[0], px_nm=0.5, fps=20)
            prompts = client.set_prompts(stored.video_id, video[1])
            database.stop()
            calls = (
                lambda: client.list_videos(),
                lambda: client.get_video(stored.video_id),
                lambda: client.list_prompts(stored.video_id),
                lambda: client.set_prompts(stored.video_id, video[1]),
                lambda: client.start_propagation(stored.video_id),
                lambda: client.get_job("job-x"),
                lambda: list(client.watch("job-x")),
                lambda: client.upload_video(video[0]),
            )
            for call in calls:
                assert "Redis is unreachable" in _unavailable(call)
            with grpc.insecure_channel(address) as channel:  # the server itself is fine
                health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            uploads = config.storage / "uploads" / "alice"
            assert [p.name for p in uploads.iterdir()] == [stored.video_id]  # the refused upload left nothing

            database.start()
            assert client.get_video(stored.video_id) == stored
            assert client.list_prompts(stored.video_id) == prompts
            job = client.wait(client.start_propagation(stored.video_id).job_id, timeout_s=120)
            assert job.state == pb.SUCCEEDED, job.error
            table = client.trajectories(job.job_id)
        assert table["present"].all() and len(table) == 2 * N_FRAMES
    finally:
        worker.stop()
        server.stop(0)
        database.stop()


def test_a_lease_renews_only_for_its_holder(tmp_path: Path) -> None:
    with redis_server() as url:
        store = Store(redis.Redis.from_url(url))
        assert store.claim("job-1", "worker-a", 0.2)
        assert store.renew("job-1", "worker-a", 0.2)
        time.sleep(0.3)  # worker a stalls; its lease expires and worker b takes the job over
        assert store.claim("job-1", "worker-b", 5.0)
        assert not store.renew("job-1", "worker-a", 5.0)  # a's late renew must not steal the lease back
        store.release("job-1", "worker-a")
        assert store.lease_holder("job-1") == "worker-b"
        assert store.renew("job-1", "worker-b", 5.0)
        store.release("job-1", "worker-b")
        assert store.lease_holder("job-1") is None


def test_a_queued_job_whose_message_died_with_a_worker_is_delivered_again(
    service: tuple[ServiceConfig, str], checkpoint: Path, video: tuple[Path, list[PromptSpec]], tmp_path: Path
) -> None:
    base, address = service
    config = ServiceConfig(
        redis_url=base.redis_url, storage=base.storage, model=f"samem-compact:{checkpoint}", lease_s=2.0,
        requeue_after_s=1.0,
    )  # fmt: skip
    broker = redis.Redis.from_url(config.redis_url)
    with Client(address, token="alice-token") as client:
        video_id = client.upload_video(video[0]).video_id
        client.set_prompts(video_id, video[1])
        lost, kept = client.start_propagation(video_id), client.start_propagation(video_id)
        taken = broker.rpop(config.prefix)  # a worker took the oldest message, acknowledged it and died
        assert lost.job_id.encode() in taken and broker.llen(config.prefix) == 1
        worker = Worker(config, tmp_path / "worker.log").wait_ready()
        try:
            finals = [client.wait(job.job_id, timeout_s=90) for job in (lost, kept)]
        finally:
            worker.stop()
    assert [j.state for j in finals] == [pb.SUCCEEDED, pb.SUCCEEDED], [j.error for j in finals]
    log = worker.log_path.read_text()
    assert f"queued job {lost.job_id} lost its task message" in log
    assert f"queued job {kept.job_id}" not in log  # its message was waiting in the queue all along
