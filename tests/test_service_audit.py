"""The audit log of jobs and the per-user storage quota, against a real gRPC server on a real Redis (no worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from service_support import TOKENS, redis_server, write_video

from samem.client import Client, ClientError
from samem.service.api import tracking_pb2 as pb
from samem.service.config import ServiceConfig
from samem.service.server import create_server
from samem.tracking.prompts import PromptSpec

AUDIT_MAX = 6


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.tif", n_frames=6)[0]


@pytest.fixture
def service(tmp_path: Path, video: Path) -> Iterator[str]:
    size = video.stat().st_size
    with redis_server() as url:
        config = ServiceConfig(redis_url=url, storage=tmp_path / "storage", tokens=TOKENS, audit_max=AUDIT_MAX,
                               max_user_bytes=2 * size + size // 2, max_active_jobs=10)  # fmt: skip
        server, port, _ = create_server(config)
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.stop(0)


def _prompted(client: Client, video: Path) -> str:
    video_id = client.upload_video(video).video_id
    client.set_prompts(video_id, [PromptSpec(particle=1, frame=0, box=(10, 10, 30, 30))])
    return video_id


def test_admins_read_who_started_and_cancelled_which_job_and_how_it_ended(service: str, video: Path) -> None:
    with Client(service, token="alice-token") as alice, Client(service, token="bob-token-x") as bob:
        alice_video, bob_video = _prompted(alice, video), _prompted(bob, video)
        first = alice.start_propagation(alice_video)
        second = bob.start_propagation(bob_video)
        alice.cancel(first.job_id)  # queued, no worker: cancelled at once
        with pytest.raises(ClientError) as caught:
            alice.audit_events()
        assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    with Client(service, token="admin-token") as admin:
        events = admin.audit_events()
        assert [(e.user, e.action, e.job_id, e.video_id, pb.JobState.Name(e.outcome)) for e in events] == [
            ("alice", "FINISH", first.job_id, alice_video, "CANCELLED"),
            ("alice", "CANCEL", first.job_id, alice_video, "CANCELLED"),
            ("bob", "START", second.job_id, bob_video, "QUEUED"),
            ("alice", "START", first.job_id, alice_video, "QUEUED"),
        ]  # newest first
        assert all(e.kind == pb.PROPAGATION for e in events)
        assert [e.time_unix for e in events] == sorted((e.time_unix for e in events), reverse=True)
        assert [e.action for e in admin.audit_events(user="bob")] == ["START"]
        assert [e.action for e in admin.audit_events(job_id=first.job_id, limit=2)] == ["FINISH", "CANCEL"]
        with pytest.raises(ClientError, match="limit must lie in") as caught:
            admin.audit_events(limit=5000)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_the_audit_log_keeps_only_the_newest_entries(service: str, video: Path) -> None:
    with Client(service, token="alice-token") as alice:
        video_id = _prompted(alice, video)
        jobs = [alice.start_propagation(video_id).job_id for _ in range(AUDIT_MAX + 3)]
    with Client(service, token="admin-token") as admin:
        events = admin.audit_events(limit=1000)
    assert [e.job_id for e in events] == jobs[::-1][:AUDIT_MAX]


def test_uploads_past_a_users_quota_are_resource_exhausted_until_videos_are_deleted(service: str, video: Path) -> None:
    with Client(service, token="alice-token") as alice, Client(service, token="bob-token-x") as bob:
        kept = [alice.upload_video(video).video_id for _ in range(2)]
        with pytest.raises(ClientError, match=r"alice stores \d+ bytes of uploads.*quota") as caught:
            alice.upload_video(video)
        assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert len(alice.list_videos()) == 2
        bob.upload_video(video)  # the quota is per user
        alice.delete_video(kept[0])
        alice.upload_video(video)  # room again
        with pytest.raises(ClientError) as caught:
            alice.upload_video(video)
        assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_broken_upload_gives_its_bytes_back_to_the_quota(service: str, video: Path) -> None:
    data = video.read_bytes()
    header = pb.UploadHeader(filename="clip.tif", size_bytes=len(data), sha256="0" * 64)  # a wrong hash
    with Client(service, token="alice-token") as alice:
        for _ in range(3):
            messages = iter([pb.UploadVideoRequest(header=header), pb.UploadVideoRequest(chunk=data)])
            with pytest.raises(grpc.RpcError) as caught:
                alice.videos.UploadVideo(messages, metadata=(("authorization", "Bearer alice-token"),))
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len([alice.upload_video(video) for _ in range(2)]) == 2  # the full quota is still there


def test_samem_remote_audit_prints_the_events_as_json_lines(
    service: str, video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from samem.cli import main

    with Client(service, token="alice-token") as alice:
        job = alice.start_propagation(_prompted(alice, video))
    assert main(["remote", "--address", service, "--token", "admin-token", "audit", "--user", "alice"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["job_id"], e["kind"], e["outcome"]) for e in lines] == [
        ("START", job.job_id, "PROPAGATION", "QUEUED")
    ]
    assert main(["remote", "--address", service, "--token", "alice-token", "audit"]) == 2
    assert "PERMISSION_DENIED" in capsys.readouterr().err
