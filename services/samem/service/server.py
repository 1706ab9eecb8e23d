"""The gRPC server: authenticates, validates, records in Redis and enqueues Celery tasks; runs no model for jobs.

``create_server(config, address)`` builds and starts a server (port 0: a free one) and returns it with its port;
``serve`` runs one until SIGTERM/SIGINT, then reports NOT_SERVING and stops with a grace period. Every domain
error maps to a status code in :func:`samem.service.errors.status_of`; anything else answers INTERNAL and is
logged, and the server goes on. With ``tls_cert``/``tls_key`` configured the server listens with TLS only.
"""

from __future__ import annotations

import functools
import inspect
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from samem.errors import InputError
from samem.service import convert
from samem.service.api import tracking_pb2 as pb
from samem.service.api import tracking_pb2_grpc as rpc
from samem.service.audit import CANCEL, START, AuditEvent
from samem.service.auth import Authenticator, User
from samem.service.catalogue import Catalogue
from samem.service.celery_app import ANALYZE, PROPAGATE, make_celery
from samem.service.config import ServiceConfig
from samem.service.encoding import png_to_labels, run_lengths, trajectories_csv
from samem.service.errors import (
    FailedPrecondition,
    ModelUnavailable,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    status_of,
)
from samem.service.frames import display_frame
from samem.service.live import live_servicer
from samem.service.metrics import server_interceptors
from samem.service.records import (
    ANALYSIS,
    CANCELLED,
    FINAL_STATES,
    PROPAGATION,
    QUEUED,
    SUCCEEDED,
    JobRecord,
    VideoRecord,
)
from samem.service.registration import add_servicer, checked
from samem.service.storage import Storage
from samem.service.store import Store, new_id
from samem.service.tls import server_credentials

log = logging.getLogger(__name__)

SERVICES = ("Videos", "Prompts", "Models", "Jobs", "Results", "Live")
WATCH_POLL_S = 0.05
MASK_BATCH = 32
MAX_AUDIT_EVENTS = 1000


class Core:
    """What every servicer shares: configuration, Redis store, storage, tokens, models and the Celery app."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.catalogue = Catalogue.from_config(config)
        self.store = Store.from_url(config.redis_url, prefix=config.prefix, audit_max=config.audit_max)
        self.storage = Storage(config.storage)
        self.auth = Authenticator.load(config.tokens_file, config.tokens)
        self.celery = make_celery(config)


def _abort(context: grpc.ServicerContext, error: Exception) -> None:
    if isinstance(error, grpc.RpcError):  # the client's stream broke (cancelled, oversized): the call is over
        log.info("call ended by its stream: %s", error)
        return
    mapped = status_of(error)
    if mapped is None:
        log.exception("internal error")
        context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(error).__name__}); see the server log")
    context.abort(*mapped)


def handler(method: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate the call, pass its :class:`User`, and map errors to status codes (unary or streaming)."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def streaming(self: _Servicer, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                user = self.core.auth.user(context.invocation_metadata())
                yield from method(self, checked(request), context, user)
            except Exception as e:
                _abort(context, e)

        return streaming

    @functools.wraps(method)
    def unary(self: _Servicer, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            user = self.core.auth.user(context.invocation_metadata())
            return method(self, checked(request), context, user)
        except Exception as e:
            _abort(context, e)

    return unary


class _Servicer:
    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def store(self) -> Store:
        return self.core.store

    def video(self, video_id: str, user: User) -> VideoRecord:
        return self.store.video(video_id, user=user.name, admin=user.admin)

    def job(self, job_id: str, user: User) -> JobRecord:
        return self.store.job(job_id, user=user.name, admin=user.admin)

    def job_message(self, job: JobRecord) -> pb.Job:
        return convert.job_message(job, self.store.frames_done(job.job_id) if job.kind == PROPAGATION else 0)

    @staticmethod
    def scope(user: User, all_users: bool) -> str | None:
        if all_users and not user.admin:
            raise PermissionDenied("only admins may list every user's videos and jobs")
        return None if all_users else user.name


class VideosServicer(_Servicer, rpc.VideosServicer):
    """Upload, register, get, list and delete videos."""

    @handler
    def UploadVideo(self, request_iterator: Iterator[pb.UploadVideoRequest], context: Any, user: User) -> pb.Video:  # noqa: D102
        first = next(request_iterator, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InputError("an upload starts with a header message (filename, size_bytes)")
        header, video_id = first.header, new_id("vid")

        def chunks() -> Iterator[bytes]:
            for message in request_iterator:
                if message.WhichOneof("part") != "chunk":
                    raise InputError("after the header an upload sends only chunks")
                yield message.chunk

        config = self.core.config
        if header.size_bytes > config.max_upload_bytes:  # before counting it against the quota
            raise ResourceExhausted(
                f"upload of {header.size_bytes} bytes exceeds the limit of {config.max_upload_bytes} bytes"
            )
        if self.store.reserve_bytes(user.name, header.size_bytes, config.max_user_bytes) is None:
            raise ResourceExhausted(
                f"{user.name} stores {self.store.used_bytes(user.name)} bytes of uploads; {header.size_bytes} more "
                f"would exceed the quota of {config.max_user_bytes} bytes: delete videos first"
            )
        try:
            stored = self.core.storage.receive(
                chunks(), user=user.name, video_id=video_id, filename=header.filename, size_bytes=header.size_bytes,
                sha256=header.sha256, max_bytes=config.max_upload_bytes,
            )  # fmt: skip
            return self._record(video_id, user, stored, header.px_nm, header.fps, uploaded=True)
        except BaseException:
            self.store.release_bytes(user.name, header.size_bytes)
            raise

    @handler
    def RegisterVideo(self, request: pb.RegisterVideoRequest, context: Any, user: User) -> pb.Video:  # noqa: D102
        stored = self.core.storage.register(request.path)
        return self._record(new_id("vid"), user, stored, request.px_nm, request.fps, uploaded=False)

    def _record(self, video_id: str, user: User, stored: Any, px_nm: float, fps: float, *, uploaded: bool) -> pb.Video:
        info = stored.info
        if px_nm < 0 or fps < 0:
            raise InputError(f"px_nm and fps must be >= 0 (0: from the file), got {px_nm} and {fps}")
        video = VideoRecord(
            video_id=video_id, owner=user.name, path=stored.path, uploaded=int(uploaded), filename=info.path.name,
            format=info.format, n_frames=info.n_frames, height=info.height, width=info.width,
            px_nm=px_nm or (info.px_nm or 0.0),
            fps=fps or (1.0 / info.frame_interval_s if info.frame_interval_s else 0.0),
            size_bytes=stored.size_bytes, sha256=stored.sha256, created_unix=time.time(),
        )  # fmt: skip
        try:
            self.store.put_video(video)
        except BaseException:  # e.g. Redis is unreachable: an upload nobody can see must not stay on the storage
            if uploaded:
                self.core.storage.delete_upload(stored.path)
            raise
        return convert.video_message(video)

    @handler
    def GetVideo(self, request: pb.GetVideoRequest, context: Any, user: User) -> pb.Video:  # noqa: D102
        return convert.video_message(self.video(request.video_id, user))

    @handler
    def ListVideos(self, request: pb.ListVideosRequest, context: Any, user: User) -> pb.ListVideosResponse:  # noqa: D102
        videos = self.store.videos(user=self.scope(user, request.all_users))
        return pb.ListVideosResponse(videos=[convert.video_message(v) for v in videos])

    @handler
    def DeleteVideo(self, request: pb.DeleteVideoRequest, context: Any, user: User) -> pb.DeleteVideoResponse:  # noqa: D102
        video = self.video(request.video_id, user)
        self.store.delete_video(video)
        if video.uploaded:
            self.core.storage.delete_upload(video.path)
        return pb.DeleteVideoResponse()

    @handler
    def GetFrame(self, request: pb.GetFrameRequest, context: Any, user: User) -> pb.Frame:  # noqa: D102
        video = self.video(request.video_id, user)
        if not 0 <= request.frame < video.n_frames:
            raise OutOfRange(
                f"frame {request.frame} is outside video {video.video_id} of {video.n_frames} frames "
                f"(0 to {video.n_frames - 1})"
            )
        if request.max_size < 0:
            raise InputError(f"max_size must be >= 0 (0: full size), got {request.max_size}")
        path = self.core.storage.path(video.path)
        if not path.is_file():
            raise FailedPrecondition(f"the file of video {video.video_id} ({video.path}) is no longer on the storage")
        shown = display_frame(path, request.frame, max_size=request.max_size)
        if len(shown.png) > self.core.config.max_message_bytes - 1024:
            raise ResourceExhausted(
                f"frame {request.frame} is a PNG of {len(shown.png)} bytes, over the message limit of "
                f"{self.core.config.max_message_bytes} bytes: ask for a smaller max_size"
            )
        return pb.Frame(
            video_id=video.video_id, frame=request.frame, width=shown.width, height=shown.height,
            original_width=video.width, original_height=video.height, png=shown.png, low=shown.low, high=shown.high,
        )  # fmt: skip


class PromptsServicer(_Servicer, rpc.PromptsServicer):
    """Boxes and points per particle and frame."""

    def _list(self, video_id: str) -> pb.PromptList:
        return pb.PromptList(
            video_id=video_id, prompts=[convert.prompt_message(p) for p in self.store.prompts(video_id)]
        )

    @handler
    def SetPrompts(self, request: pb.SetPromptsRequest, context: Any, user: User) -> pb.PromptList:  # noqa: D102
        video = self.video(request.video_id, user)
        if not request.prompts:
            raise InputError("SetPrompts needs at least one prompt")
        prompts = [convert.prompt_from_message(p, video) for p in request.prompts]
        pairs = [(p["particle"], p["frame"]) for p in prompts]
        if len(set(pairs)) != len(pairs):
            raise InputError("two prompts for the same particle and frame in one request; merge them")
        self.store.set_prompts(video.video_id, prompts)
        return self._list(video.video_id)

    @handler
    def RemovePrompt(self, request: pb.RemovePromptRequest, context: Any, user: User) -> pb.PromptList:  # noqa: D102
        video = self.video(request.video_id, user)
        frame = None if request.all_frames else request.frame
        if not self.store.remove_prompts(video.video_id, request.particle, frame):
            where = "any frame" if frame is None else f"frame {frame}"
            raise InputError(f"particle {request.particle} has no prompt on {where}")
        return self._list(video.video_id)

    @handler
    def ListPrompts(self, request: pb.ListPromptsRequest, context: Any, user: User) -> pb.PromptList:  # noqa: D102
        return self._list(self.video(request.video_id, user).video_id)


class ModelsServicer(_Servicer, rpc.ModelsServicer):
    """The models offered per job."""

    @handler
    def ListModels(self, request: pb.ListModelsRequest, context: Any, user: User) -> pb.ListModelsResponse:  # noqa: D102
        catalogue = self.core.catalogue
        return pb.ListModelsResponse(
            models=[
                pb.Model(name=e.name, spec=e.spec, config=e.config, description=e.description(),
                         checkpoint_sha256=e.checkpoint_sha256(), is_default=e is catalogue.default)
                for e in catalogue
            ]
        )  # fmt: skip


class JobsServicer(_Servicer, rpc.JobsServicer):
    """Propagation jobs: start, get, list, watch, cancel."""

    def _check_quota(self, user: User) -> None:
        limit = self.core.config.max_active_jobs
        if self.store.count_active(user.name) >= limit:
            raise ResourceExhausted(f"{user.name} already has {limit} queued or running job(s); wait or cancel one")

    def _model(self, name: str) -> str:
        """The catalogue name a job runs with (InputError for unknown names; a Triton backend runs the default only)."""
        catalogue = self.core.catalogue
        entry = catalogue.entry(name)
        backend = self.core.config.backend
        if backend != "local" and entry is not catalogue.default:
            raise ModelUnavailable(
                f"model {entry.name!r} cannot run here: this deployment's workers run on Triton ({backend}), which "
                f"serves one model, the default {catalogue.default.name!r}; leave the model empty or name that one"
            )
        return entry.name

    @handler
    def StartPropagation(self, request: pb.StartPropagationRequest, context: Any, user: User) -> pb.Job:  # noqa: D102
        video = self.video(request.video_id, user)
        model = self._model(request.model)
        prompts = self.store.prompts(video.video_id)
        if not prompts:
            raise FailedPrecondition(f"video {video.video_id} has no prompts: add boxes or points first")
        self._check_quota(user)
        first = min(p["frame"] for p in prompts)
        now = time.time()
        job = JobRecord(
            job_id=new_id("job"), video_id=video.video_id, owner=user.name, kind=PROPAGATION, state=QUEUED,
            first_frame=first, frames_total=video.n_frames - first, created_unix=now, updated_unix=now,
            model=model, prompts=prompts,
        )  # fmt: skip
        self.store.put_job(job)
        self.store.audit.record(AuditEvent(user=user.name, action=START, job_id=job.job_id, video_id=video.video_id,
                                           kind=PROPAGATION, outcome=QUEUED))  # fmt: skip
        self.core.celery.send_task(PROPAGATE, args=[job.job_id])
        return self.job_message(job)

    @handler
    def GetJob(self, request: pb.GetJobRequest, context: Any, user: User) -> pb.Job:  # noqa: D102
        return self.job_message(self.job(request.job_id, user))

    @handler
    def ListJobs(self, request: pb.ListJobsRequest, context: Any, user: User) -> pb.ListJobsResponse:  # noqa: D102
        scope = self.scope(user, request.all_users)
        video_id = self.video(request.video_id, user).video_id if request.video_id else None
        jobs = self.store.jobs(user=scope, video_id=video_id)
        return pb.ListJobsResponse(jobs=[self.job_message(j) for j in jobs])

    @handler
    def WatchJob(self, request: pb.WatchJobRequest, context: grpc.ServicerContext, user: User) -> Iterator[pb.JobEvent]:  # noqa: D102
        job = self.job(request.job_id, user)
        next_frame, last = job.first_frame, None
        while context.is_active():
            job = self.store.job(job.job_id)
            if request.include_results and job.kind == PROPAGATION:
                while True:
                    wanted = range(next_frame, min(next_frame + MASK_BATCH, job.first_frame + job.frames_total))
                    rows = self.store.frame_rows(job.job_id, wanted)
                    sent = 0
                    for frame in wanted:
                        if frame not in rows:
                            break
                        yield pb.JobEvent(frame=convert.frame_message(frame, rows[frame]))
                        next_frame, sent = frame + 1, sent + 1
                    if sent < len(wanted) or not wanted:
                        break
            message = self.job_message(job)
            if message != last:
                yield pb.JobEvent(job=message)
                last = message
            if job.state in FINAL_STATES:
                return
            time.sleep(WATCH_POLL_S)

    @handler
    def CancelJob(self, request: pb.CancelJobRequest, context: Any, user: User) -> pb.Job:  # noqa: D102
        job = self.job(request.job_id, user)
        if job.state not in FINAL_STATES:
            self.store.request_cancel(job.job_id)
            at_once = job.state == QUEUED and self.store.lease_holder(job.job_id) is None  # else its worker stops it
            self.store.audit.record(AuditEvent(user=user.name, action=CANCEL, job_id=job.job_id, video_id=job.video_id,
                                               kind=job.kind, outcome=CANCELLED if at_once else job.state))  # fmt: skip
            if at_once:
                self.store.update_job(job.job_id, state=CANCELLED)
        return self.job_message(self.store.job(job.job_id))

    @handler
    def ListAuditEvents(  # noqa: D102
        self, request: pb.ListAuditEventsRequest, context: Any, user: User
    ) -> pb.ListAuditEventsResponse:
        if not user.admin:
            raise PermissionDenied("only admins may read the audit log")
        if not 0 <= request.limit <= MAX_AUDIT_EVENTS:
            raise InputError(f"limit must lie in 0..{MAX_AUDIT_EVENTS} (0: 100), got {request.limit}")
        events = self.store.audit.events(limit=request.limit or 100, user=request.user, job_id=request.job_id)
        return pb.ListAuditEventsResponse(events=[convert.audit_message(e) for e in events])


class ResultsServicer(_Servicer, rpc.ResultsServicer):
    """Trajectories, masks and analysis of finished jobs."""

    def _finished(self, job_id: str, user: User, kind: str) -> JobRecord:
        job = self.job(job_id, user)
        if job.kind != kind:
            raise InputError(f"job {job_id} is a {job.kind.lower()} job, not a {kind.lower()} job")
        if job.state != SUCCEEDED:
            raise FailedPrecondition(f"job {job_id} is {job.state}, results exist once it has SUCCEEDED")
        return job

    @handler
    def GetTrajectories(self, request: pb.GetTrajectoriesRequest, context: Any, user: User) -> pb.Trajectories:  # noqa: D102
        job = self._finished(request.job_id, user, PROPAGATION)
        by_frame = self.store.frame_rows(job.job_id)
        csv = trajectories_csv(row for frame in sorted(by_frame) for row in by_frame[frame])
        if len(csv) > self.core.config.max_message_bytes:
            raise ResourceExhausted(f"trajectories of {len(csv)} bytes exceed the message limit")
        return pb.Trajectories(job_id=job.job_id, csv=csv, model=job.model, model_spec=job.model_spec,
                               model_checkpoint_sha256=job.model_sha256)  # fmt: skip

    @handler
    def GetMasks(self, request: pb.GetMasksRequest, context: Any, user: User) -> Iterator[pb.MaskFrame]:  # noqa: D102
        job = self.job(request.job_id, user)
        if job.kind != PROPAGATION:
            raise InputError(f"job {job.job_id} has no masks (it is an {job.kind.lower()} job)")
        video = self.store.video(job.video_id, user=job.owner)
        n = video.n_frames
        stop = request.stop_frame or n
        if not 0 <= request.start_frame < stop <= n:
            raise InputError(f"frame range [{request.start_frame}, {request.stop_frame}) is outside 0..{n} or empty")
        rle = request.encoding == pb.MaskEncoding.RLE
        for begin in range(request.start_frame, stop, MASK_BATCH):
            frames = list(range(begin, min(begin + MASK_BATCH, stop)))
            for frame, png in zip(frames, self.store.frame_masks(job.job_id, frames), strict=True):
                if png is None:
                    continue
                message = pb.MaskFrame(frame=frame, height=video.height, width=video.width)
                if rle:
                    values, lengths = run_lengths(png_to_labels(png))
                    message.rle.values.extend(values.tolist())
                    message.rle.lengths.extend(lengths.tolist())
                else:
                    message.png = png
                yield message

    @handler
    def StartAnalysis(self, request: pb.StartAnalysisRequest, context: Any, user: User) -> pb.Job:  # noqa: D102
        source = self._finished(request.job_id, user, PROPAGATION)
        video = self.store.video(source.video_id, user=source.owner)
        px_nm, fps = request.px_nm or video.px_nm, request.fps or video.fps
        exposure = request.exposure_fraction if request.HasField("exposure_fraction") else 1.0
        min_iou = request.min_iou if request.HasField("min_iou") else None
        if not (px_nm > 0 and fps > 0):
            raise InputError(f"analysis needs px_nm > 0 and fps > 0 (the video has {video.px_nm}, {video.fps})")
        if not 0 <= exposure <= 1:
            raise InputError(f"exposure_fraction must lie in [0, 1], got {exposure}")
        if min_iou is not None and not 0 <= min_iou <= 1:
            raise InputError(f"min_iou must lie in [0, 1], got {min_iou}")
        max_area_change = request.max_area_change if request.HasField("max_area_change") else None
        if max_area_change is not None and not max_area_change > 1:  # NaN too
            raise InputError(f"max_area_change must be > 1, got {max_area_change}")
        JobsServicer._check_quota(self, user)  # type: ignore[arg-type]
        now = time.time()
        job = JobRecord(
            job_id=new_id("job"), video_id=video.video_id, owner=user.name, kind=ANALYSIS, state=QUEUED,
            first_frame=0, frames_total=1, created_unix=now, updated_unix=now,
            params={"source_job": source.job_id, "px_nm": px_nm, "fps": fps, "exposure_fraction": exposure,
                    "keep_edge": request.keep_edge, "min_iou": min_iou, "max_area_change": max_area_change},
        )  # fmt: skip
        self.store.put_job(job)
        self.store.audit.record(AuditEvent(user=user.name, action=START, job_id=job.job_id, video_id=video.video_id,
                                           kind=ANALYSIS, outcome=QUEUED))  # fmt: skip
        self.core.celery.send_task(ANALYZE, args=[job.job_id])
        return self.job_message(job)

    @handler
    def GetAnalysis(self, request: pb.GetAnalysisRequest, context: Any, user: User) -> pb.Analysis:  # noqa: D102
        job = self._finished(request.job_id, user, ANALYSIS)
        files = self.store.analysis(job.job_id)
        stats = files.pop("stats.json", b"{}").decode()
        return pb.Analysis(
            job_id=job.job_id,
            stats_json=stats,
            files=[pb.NamedFile(name=k, content=v) for k, v in sorted(files.items())],
        )


def create_server(
    config: ServiceConfig, address: str = "127.0.0.1:0", *, max_workers: int = 32
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Build and start the server on ``address`` (port 0: a free one); return it, its port and its health servicer."""
    credentials = None
    if config.tls_cert is not None and config.tls_key is not None:
        credentials = server_credentials(config.tls_cert, config.tls_key)  # unreadable files fail before anything
    core = Core(config)
    if not len(core.auth):
        log.warning("no tokens configured: every call will answer UNAUTHENTICATED")
    limit = config.max_message_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="samem-rpc"),
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)],
        interceptors=server_interceptors(config, core.store),
    )
    for name, servicer in (("Videos", VideosServicer), ("Prompts", PromptsServicer), ("Models", ModelsServicer),
                           ("Jobs", JobsServicer), ("Results", ResultsServicer)):  # fmt: skip
        add_servicer(server, name, servicer(core))  # a request that does not parse: INVALID_ARGUMENT
    add_servicer(server, "Live", live_servicer(config, core.auth))  # UNIMPLEMENTED without a live backend
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [pb.DESCRIPTOR.services_by_name[s].full_name for s in SERVICES]
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    if credentials is not None:
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise InputError(f"cannot listen on {address!r}")
    server.start()
    return server, port, health_servicer


def serve(
    config: ServiceConfig, address: str, *, grace_s: float = 10.0, ready: Callable[[int], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT; then report NOT_SERVING, finish calls for up to ``grace_s`` and stop."""
    server, port, health_servicer = create_server(config, address)
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    log.info("samem service listening on port %d%s", port, " with TLS" if config.tls_cert else "")
    if ready is not None:
        ready(port)
    try:
        stopping.wait()
    finally:
        health_servicer.enter_graceful_shutdown()
        server.stop(grace_s).wait()
        for s, handler_ in previous.items():
            signal.signal(s, handler_)
