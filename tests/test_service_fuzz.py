"""Random and malformed requests against a running server on a real Redis: every answer is OK or a status code that
names the caller's mistake (never UNKNOWN, INTERNAL or UNAVAILABLE), and the server stays healthy throughout."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import TOKENS, redis_server, write_video

from samem.client import Client
from samem.service.api import tracking_pb2 as pb
from samem.service.config import ServiceConfig
from samem.service.server import create_server
from samem.tracking.prompts import PromptSpec

pytestmark = pytest.mark.slow  # about 40 s of requests

ALLOWED = {
    grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.OUT_OF_RANGE,
}  # fmt: skip
FUZZ = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Target:
    """The running server, a channel, and ids that exist (so requests reach past the lookups)."""

    def __init__(self, address: str, video_id: str, job_id: str) -> None:
        self.address, self.video_id, self.job_id = address, video_id, job_id
        self.channel = grpc.insecure_channel(address)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("fuzz")
    video, _ = write_video(root / "clip.tif", n_frames=6)
    with redis_server() as url:
        config = ServiceConfig(redis_url=url, storage=root / "storage", tokens=TOKENS, max_message_bytes=512 * 1024,
                               max_upload_bytes=1 << 20, max_active_jobs=3, live_backend="local",
                               model="samem-compact:random", image_size=64, live_max_frames=50)  # fmt: skip
        server, port, _ = create_server(config)
        address = f"127.0.0.1:{port}"
        with Client(address, token="alice-token") as alice:
            video_id = alice.upload_video(video).video_id
            alice.set_prompts(video_id, [PromptSpec(particle=1, frame=0, box=(10, 10, 30, 30))])
            job_id = alice.start_propagation(video_id).job_id  # no worker: it stays queued
        target = Target(address, video_id, job_id)
        try:
            yield target
        finally:
            target.channel.close()
            server.stop(0)


def _metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),) if token else ()


def _code(call: object) -> grpc.StatusCode:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as e:
        assert e.code() in ALLOWED, f"{e.code()}: {e.details()}"
        return e.code()
    return grpc.StatusCode.OK


tokens = st.sampled_from(["alice-token", "bob-token-x", "admin-token", "not-a-token", ""])
numbers = st.floats(allow_nan=True, allow_infinity=True, width=64)
int32s = st.integers(-(2**31), 2**31 - 1)
texts = st.text(max_size=40)
box = st.builds(pb.Box, x0=numbers, y0=numbers, x1=numbers, y1=numbers)
point = st.builds(pb.Point, x=numbers, y=numbers, positive=st.booleans())
prompt = st.builds(
    pb.Prompt, particle=st.one_of(int32s, st.integers(0, 3)), frame=st.one_of(int32s, st.integers(-1, 7)),
    box=st.one_of(st.none(), box, st.builds(pb.Box, x0=st.just(10.0), y0=st.just(10.0), x1=numbers, y1=numbers)),
    points=st.lists(point, max_size=4),
)  # fmt: skip


def ids(real: str) -> st.SearchStrategy[str]:
    return st.one_of(st.just(real), st.just(""), texts, st.sampled_from(["vid-unknown", "job-unknown", real + "x"]))


@st.composite
def unary_calls(draw: st.DrawFn, target: Target) -> tuple[str, str, object]:
    """(method path, token, request) of a random unary call."""
    video, job = ids(target.video_id), ids(target.job_id)
    options = {
        "Videos/GetVideo": st.builds(pb.GetVideoRequest, video_id=video),
        "Videos/ListVideos": st.builds(pb.ListVideosRequest, all_users=st.booleans()),
        "Videos/RegisterVideo": st.builds(pb.RegisterVideoRequest, path=texts, px_nm=numbers, fps=numbers),
        "Videos/DeleteVideo": st.builds(pb.DeleteVideoRequest, video_id=texts),
        "Videos/GetFrame": st.builds(
            pb.GetFrameRequest,
            video_id=video,
            frame=st.one_of(int32s, st.integers(-1, 7)),
            max_size=st.one_of(int32s, st.integers(0, 64)),
        ),
        "Models/ListModels": st.just(pb.ListModelsRequest()),
        "Prompts/SetPrompts": st.builds(pb.SetPromptsRequest, video_id=video, prompts=st.lists(prompt, max_size=4)),
        "Prompts/RemovePrompt": st.builds(
            pb.RemovePromptRequest, video_id=video, particle=int32s, frame=int32s, all_frames=st.booleans()
        ),
        "Prompts/ListPrompts": st.builds(pb.ListPromptsRequest, video_id=video),
        "Jobs/StartPropagation": st.builds(
            pb.StartPropagationRequest, video_id=video, model=st.one_of(st.just(""), st.just("samem-compact"), texts)
        ),
        "Jobs/GetJob": st.builds(pb.GetJobRequest, job_id=job),
        "Jobs/ListJobs": st.builds(pb.ListJobsRequest, video_id=video, all_users=st.booleans()),
        "Jobs/CancelJob": st.builds(pb.CancelJobRequest, job_id=st.one_of(texts, st.just("job-unknown"))),
        "Jobs/ListAuditEvents": st.builds(pb.ListAuditEventsRequest, limit=int32s, user=texts, job_id=job),
        "Results/GetTrajectories": st.builds(pb.GetTrajectoriesRequest, job_id=job),
        "Results/StartAnalysis": st.builds(
            pb.StartAnalysisRequest, job_id=job, px_nm=numbers, fps=numbers, exposure_fraction=numbers
        ),
        "Results/GetAnalysis": st.builds(pb.GetAnalysisRequest, job_id=job),
    }
    method = draw(st.sampled_from(sorted(options)))
    return f"/samem.v1.{method}", draw(tokens), draw(options[method])


def _healthy(target: Target) -> None:
    reply = health_pb2_grpc.HealthStub(target.channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@FUZZ
@given(data=st.data())
def test_random_messages_get_ok_or_a_proper_status_code(target: Target, data: st.DataObject) -> None:
    method, token, request = data.draw(unary_calls(target))
    call = target.channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString())
    _code(lambda: call(request, metadata=_metadata(token), timeout=10))


@FUZZ
@given(
    method=st.sampled_from([
        "Videos/GetVideo", "Videos/RegisterVideo", "Prompts/SetPrompts", "Prompts/RemovePrompt", "Jobs/GetJob",
        "Jobs/ListJobs", "Jobs/StartPropagation", "Results/StartAnalysis", "Results/GetMasks", "Jobs/WatchJob",
        "Videos/GetFrame",
    ]),
    payload=st.binary(max_size=64),
)  # fmt: skip
def test_bytes_that_are_not_the_message_get_invalid_argument_or_a_proper_code(
    target: Target, method: str, payload: bytes
) -> None:
    path = f"/samem.v1.{method}"
    streaming = method in ("Results/GetMasks", "Jobs/WatchJob")
    call = (target.channel.unary_stream if streaming else target.channel.unary_unary)(path)
    metadata = _metadata("alice-token")
    if streaming:
        _code(lambda: list(call(payload, metadata=metadata, timeout=2)))
    else:
        _code(lambda: call(payload, metadata=metadata, timeout=10))


@FUZZ
@given(
    token=tokens,
    job=st.one_of(st.just("real"), texts),
    start=st.one_of(int32s, st.integers(-2, 8)),
    stop=st.one_of(int32s, st.integers(-2, 8)),
    encoding=st.integers(0, 5),
    results=st.booleans(),
)
def test_random_streaming_requests_end_with_a_proper_code(
    target: Target, token: str, job: str, start: int, stop: int, encoding: int, results: bool
) -> None:
    job_id = target.job_id if job == "real" else job
    masks = pb.GetMasksRequest(job_id=job_id, start_frame=start, stop_frame=stop, encoding=encoding)
    get_masks = target.channel.unary_stream(
        "/samem.v1.Results/GetMasks", request_serializer=pb.GetMasksRequest.SerializeToString
    )
    _code(lambda: list(get_masks(masks, metadata=_metadata(token), timeout=10)))
    watch = target.channel.unary_stream(
        "/samem.v1.Jobs/WatchJob", request_serializer=pb.WatchJobRequest.SerializeToString
    )
    events = watch(pb.WatchJobRequest(job_id=job_id, include_results=results), metadata=_metadata(token), timeout=10)
    _code(lambda: next(events))  # the real job is queued forever: one event, then hang up
    events.cancel()


upload_parts = st.one_of(
    st.builds(
        lambda name, size, sha, px: pb.UploadVideoRequest(header=pb.UploadHeader(
            filename=name, size_bytes=size, sha256=sha, px_nm=px)),
        texts, st.integers(0, 2**64 - 1), st.one_of(st.just(""), texts), numbers,
    ),
    st.builds(lambda chunk: pb.UploadVideoRequest(chunk=chunk), st.binary(max_size=2048)),
    st.just(pb.UploadVideoRequest()),
)  # fmt: skip


@FUZZ
@given(token=tokens, messages=st.lists(upload_parts, max_size=5))
def test_random_upload_streams_never_become_videos_or_errors(
    target: Target, token: str, messages: list[pb.UploadVideoRequest]
) -> None:
    upload = target.channel.stream_unary("/samem.v1.Videos/UploadVideo",
                                         request_serializer=pb.UploadVideoRequest.SerializeToString)  # fmt: skip
    assert _code(lambda: upload(iter(messages), metadata=_metadata(token), timeout=10)) != grpc.StatusCode.OK


live_parts = st.one_of(
    st.builds(
        lambda h, w, low, high, n, prompts: pb.LiveRequest(start=pb.LiveStart(
            height=h, width=w, low=low, high=high, n_frames=n, prompts=prompts)),
        st.one_of(int32s, st.integers(1, 12)), st.one_of(int32s, st.integers(1, 12)), numbers, numbers,
        st.one_of(int32s, st.integers(0, 3)), st.lists(prompt, max_size=2),
    ),
    st.builds(lambda f, pixels: pb.LiveRequest(frame=pb.LiveFrame(frame=f, pixels=pixels)),
              st.one_of(int32s, st.integers(0, 3)), st.binary(max_size=600)),
    st.builds(lambda f, pixels: pb.LiveRequest(frame=pb.LiveFrame(frame=f, pixels=pixels)),
              st.integers(0, 2), st.binary(min_size=256, max_size=256)),  # an 8 x 8 frame for the valid start
    st.just(pb.LiveRequest()),
)  # fmt: skip
valid_start = pb.LiveRequest(start=pb.LiveStart(height=8, width=8, low=0.0, high=1.0, prompts=[
    pb.Prompt(particle=1, frame=0, box=pb.Box(x0=1, y0=1, x1=5, y1=5))]))  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=tokens, valid=st.booleans(), messages=st.lists(live_parts, max_size=5))
def test_random_live_sessions_end_with_a_proper_code(
    target: Target, token: str, valid: bool, messages: list[pb.LiveRequest]
) -> None:
    track = target.channel.stream_stream("/samem.v1.Live/Track", request_serializer=pb.LiveRequest.SerializeToString,
                                         response_deserializer=pb.LiveResponse.FromString)  # fmt: skip
    requests = [valid_start, *messages] if valid else messages
    _code(lambda: list(track(iter(requests), metadata=_metadata(token), timeout=20)))


def test_the_server_is_healthy_and_the_data_intact_after_the_fuzzing(target: Target) -> None:
    _healthy(target)
    with Client(target.address, token="alice-token") as alice:
        assert target.video_id in {v.video_id for v in alice.list_videos()}
        assert alice.get_job(target.job_id).state in (pb.QUEUED, pb.CANCELLED)


def test_no_fuzzed_request_left_a_video_behind(target: Target) -> None:
    with Client(target.address, token="admin-token") as admin:
        assert [v.video_id for v in admin.list_videos(all_users=True)] == [target.video_id]
