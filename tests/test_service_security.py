"""Auth, ownership and bad requests against a real gRPC server on a real Redis (no worker: jobs stay queued)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from service_support import TOKENS, redis_server, write_video

from samem.client import Client, ClientError
from samem.service.api import tracking_pb2 as pb
from samem.service.api import tracking_pb2_grpc as rpc
from samem.service.config import ServiceConfig
from samem.service.server import create_server
from samem.tracking.prompts import PromptSpec

N_FRAMES = 12
LIMIT = 512 * 1024  # above the client's 256 KiB chunks


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    root = tmp_path_factory.mktemp("service")
    video, _ = write_video(root / "clip.tif", n_frames=N_FRAMES)
    with redis_server() as url:
        config = ServiceConfig(
            redis_url=url, storage=root / "storage", tokens=TOKENS, max_message_bytes=LIMIT,
            max_upload_bytes=2 << 20, max_active_jobs=2,
        )  # fmt: skip
        server, port, _ = create_server(config)
        try:
            yield f"127.0.0.1:{port}", video, root / "storage"
        finally:
            server.stop(0)


@pytest.fixture(scope="module")
def alice_video(service: tuple[str, Path, Path]) -> str:
    with Client(service[0], token="alice-token") as alice:
        video_id = alice.upload_video(service[1]).video_id
        alice.set_prompts(video_id, [PromptSpec(particle=1, frame=0, box=(10, 10, 30, 30))])
        return video_id


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(ClientError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code


def _healthy(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with Client(address, token="alice-token") as alice:
        assert alice.list_videos()


def test_no_token_or_a_wrong_token_is_unauthenticated(service: tuple[str, Path, Path], alice_video: str) -> None:
    address = service[0]
    with grpc.insecure_channel(address) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            rpc.VideosStub(channel).ListVideos(pb.ListVideosRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "no credentials" in caught.value.details()
        with pytest.raises(grpc.RpcError) as caught:
            rpc.VideosStub(channel).GetVideo(
                pb.GetVideoRequest(video_id=alice_video), metadata=(("authorization", "Basic x"),)
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with Client(address, token="not-a-token") as stranger:
        assert _code(lambda: stranger.get_video(alice_video)) == grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: list(stranger.watch("job-x"))) == grpc.StatusCode.UNAUTHENTICATED
    _healthy(address)


def test_other_users_ids_are_not_found_and_only_admins_list_everything(
    service: tuple[str, Path, Path], alice_video: str
) -> None:
    address = service[0]
    with Client(address, token="alice-token") as alice:
        job = alice.start_propagation(alice_video)
    with Client(address, token="bob-token-x") as bob:
        for call in (
            lambda: bob.get_video(alice_video),
            lambda: bob.list_prompts(alice_video),
            lambda: bob.set_prompts(alice_video, [PromptSpec(particle=1, frame=0, box=(1, 1, 5, 5))]),
            lambda: bob.delete_video(alice_video),
            lambda: bob.start_propagation(alice_video),
            lambda: bob.get_job(job.job_id),
            lambda: bob.cancel(job.job_id),
            lambda: list(bob.watch(job.job_id)),
            lambda: bob.masks(job.job_id),
        ):
            assert _code(call) == grpc.StatusCode.NOT_FOUND
        assert bob.list_videos() == [] and bob.list_jobs() == []
        assert _code(lambda: bob.list_videos(all_users=True)) == grpc.StatusCode.PERMISSION_DENIED
    with Client(address, token="admin-token") as admin:
        assert alice_video in {v.video_id for v in admin.list_videos(all_users=True)}
        assert job.job_id in {j.job_id for j in admin.list_jobs(all_users=True)}
    with Client(address, token="alice-token") as alice:
        assert alice.cancel(job.job_id).state == pb.CANCELLED  # queued, no worker: cancelled at once
    _healthy(address)


def test_bad_requests_get_invalid_argument_or_not_found_with_a_message(
    service: tuple[str, Path, Path], alice_video: str
) -> None:
    address = service[0]
    with Client(address, token="alice-token") as alice:
        cases = {
            "frame out of range": PromptSpec(particle=1, frame=N_FRAMES, box=(10, 10, 30, 30)),
            "inverted": PromptSpec(particle=1, frame=0, box=(30, 30, 10, 10)),
            "particle ids must lie in 1..65535": PromptSpec(particle=0, frame=0, box=(10, 10, 30, 30)),
            "outside the 128 x 96 frame": PromptSpec(particle=1, frame=0, box=(10, 10, 300, 30)),
            "give a box and/or points": PromptSpec(particle=1, frame=0),
        }
        for message, prompt in cases.items():
            with pytest.raises(ClientError, match=message) as caught:
                alice.set_prompts(alice_video, [prompt])
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert len(alice.list_prompts(alice_video)) == 1  # nothing half-applied
        assert _code(lambda: alice.get_video("vid-unknown")) == grpc.StatusCode.NOT_FOUND
        assert _code(lambda: alice.get_video("")) == grpc.StatusCode.NOT_FOUND
        assert _code(lambda: alice.remove_prompt(alice_video, 7, 0)) == grpc.StatusCode.INVALID_ARGUMENT
        job = alice.start_propagation(alice_video)
        with pytest.raises(ClientError, match="outside") as caught:
            alice.masks(job.job_id, N_FRAMES, N_FRAMES + 5)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert _code(lambda: alice.trajectories_csv(job.job_id)) == grpc.StatusCode.FAILED_PRECONDITION
        alice.cancel(job.job_id)
    _healthy(address)


def test_quota_of_active_jobs_is_resource_exhausted(service: tuple[str, Path, Path], alice_video: str) -> None:
    with Client(service[0], token="alice-token") as alice:
        jobs = [alice.start_propagation(alice_video) for _ in range(2)]
        with pytest.raises(ClientError, match="already has 2") as caught:
            alice.start_propagation(alice_video)
        assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        for job in jobs:
            alice.cancel(job.job_id)
        alice.cancel(alice.start_propagation(alice_video).job_id)  # room again
    _healthy(service[0])


def _upload(address: str, messages: list[pb.UploadVideoRequest]) -> grpc.StatusCode:
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as caught:
        rpc.VideosStub(channel).UploadVideo(iter(messages), metadata=(("authorization", "Bearer bob-token-x"),))
    return caught.value.code()


def test_broken_oversized_and_non_video_uploads_never_become_videos(service: tuple[str, Path, Path]) -> None:
    address, video, storage = service
    data = video.read_bytes()
    header = pb.UploadHeader(filename="clip.tif", size_bytes=len(data))
    short = [pb.UploadVideoRequest(header=header), pb.UploadVideoRequest(chunk=data[:1000])]
    assert _upload(address, short) == grpc.StatusCode.INVALID_ARGUMENT
    wrong_hash = pb.UploadHeader(filename="clip.tif", size_bytes=len(data), sha256="0" * 64)
    chunks = [pb.UploadVideoRequest(chunk=data[i : i + 100_000]) for i in range(0, len(data), 100_000)]
    assert _upload(address, [pb.UploadVideoRequest(header=wrong_hash), *chunks]) == grpc.StatusCode.INVALID_ARGUMENT
    garbage = pb.UploadHeader(filename="clip.tif", size_bytes=5000)
    junk = [pb.UploadVideoRequest(header=garbage), pb.UploadVideoRequest(chunk=b"x" * 5000)]
    assert _upload(address, junk) == grpc.StatusCode.INVALID_ARGUMENT
    huge = pb.UploadHeader(filename="big.tif", size_bytes=3 << 20)
    assert _upload(address, [pb.UploadVideoRequest(header=huge)]) == grpc.StatusCode.RESOURCE_EXHAUSTED
    oversized_message = [pb.UploadVideoRequest(header=header), pb.UploadVideoRequest(chunk=b"\0" * (LIMIT + 10))]
    assert _upload(address, oversized_message) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _upload(address, chunks[:1]) == grpc.StatusCode.INVALID_ARGUMENT  # no header
    with Client(address, token="bob-token-x") as bob:
        assert bob.list_videos() == []
    assert list((storage / "incoming").iterdir()) == []
    assert not (storage / "uploads" / "bob").exists()
    _healthy(address)


def test_registering_paths_outside_the_storage_is_refused(service: tuple[str, Path, Path]) -> None:
    address, _, storage = service
    with Client(address, token="bob-token-x") as bob:
        assert _code(lambda: bob.register_video("../../etc/passwd")) == grpc.StatusCode.INVALID_ARGUMENT
        assert _code(lambda: bob.register_video("uploads/alice")) == grpc.StatusCode.INVALID_ARGUMENT
        assert _code(lambda: bob.register_video("shared/missing.tif")) == grpc.StatusCode.NOT_FOUND
        (storage / "shared").mkdir(exist_ok=True)
        (storage / "shared" / "clip.tif").write_bytes(service[1].read_bytes())
        registered = bob.register_video("shared/clip.tif", px_nm=0.5, fps=10)
        assert registered.n_frames == N_FRAMES and registered.owner == "bob"
        bob.delete_video(registered.video_id)
        assert (storage / "shared" / "clip.tif").exists()  # a registered file is not the service's to delete
        assert _code(lambda: bob.get_video(registered.video_id)) == grpc.StatusCode.NOT_FOUND
