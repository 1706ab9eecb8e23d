"""The client: one channel, the bearer token on every call, errors as :class:`ClientError` with the status code.

The channel is plaintext by default (a service on this machine or behind a TLS-terminating proxy); ``tls=True``
verifies the server's certificate against the system's CAs, or against ``root_ca`` (a PEM file) when given.
"""

from __future__ import annotations

import io
import itertools
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import numpy as np
import pandas as pd

from samem.errors import SamemError
from samem.service.api import tracking_pb2 as pb
from samem.service.api import tracking_pb2_grpc as rpc
from samem.service.encoding import from_run_lengths, png_to_labels
from samem.tracking.prompts import PromptSpec

CHUNK_BYTES = 256 * 1024  # well below the default 4 MiB message limit
FINAL = (pb.SUCCEEDED, pb.FAILED, pb.CANCELLED)


class ClientError(SamemError):
    """A call failed; ``code`` is the gRPC status code, the message the server's."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code, self.details = code, message


def _call(function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except grpc.RpcError as e:
        raise ClientError(e.code(), e.details() or "") from e


def _stream(iterator: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from iterator
    except grpc.RpcError as e:
        raise ClientError(e.code(), e.details() or "") from e


def prompt_message(prompt: PromptSpec) -> pb.Prompt:
    """A :class:`PromptSpec` as a message."""
    message = pb.Prompt(particle=prompt.particle, frame=prompt.frame)
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        message.box.CopyFrom(pb.Box(x0=x0, y0=y0, x1=x1, y1=y1))
    labels = prompt.labels or (1,) * len(prompt.points)
    for (x, y), label in zip(prompt.points, labels, strict=True):
        message.points.append(pb.Point(x=x, y=y, positive=bool(label)))
    return message


def open_channel(
    address: str,
    *,
    tls: bool = False,
    root_ca: str | os.PathLike[str] | None = None,
    server_name: str | None = None,
) -> grpc.Channel:
    """A channel to ``address``: plaintext, or TLS when ``tls`` or ``root_ca`` (PEM CA file to trust) is given.

    ``server_name`` overrides the name checked against the certificate (default: the host of ``address``).
    """
    if not tls and root_ca is None:
        return grpc.insecure_channel(address)
    roots = None
    if root_ca is not None:
        try:
            roots = Path(root_ca).read_bytes()
        except OSError as e:
            raise SamemError(f"TLS CA file {str(root_ca)!r} cannot be read: {e.strerror or e}") from e
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=roots), options=options)


class Client:
    """A connection to the service at ``address`` (``HOST:PORT``) as the holder of ``token``.

    ``tls``/``root_ca``/``server_name``: see :func:`open_channel` (default: plaintext).
    """

    def __init__(
        self,
        address: str,
        *,
        token: str,
        timeout_s: float = 30.0,
        tls: bool = False,
        root_ca: str | os.PathLike[str] | None = None,
        server_name: str | None = None,
    ) -> None:
        self.channel = open_channel(address, tls=tls, root_ca=root_ca, server_name=server_name)
        self.timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {token}"),)
        self.videos = rpc.VideosStub(self.channel)
        self.prompts = rpc.PromptsStub(self.channel)
        self.models = rpc.ModelsStub(self.channel)
        self.jobs = rpc.JobsStub(self.channel)
        self.results = rpc.ResultsStub(self.channel)

    def _unary(self, method: Any, request: Any) -> Any:
        return _call(method, request, metadata=self._metadata, timeout=self.timeout_s)

    # ----- videos -----

    def upload_video(self, path: str | os.PathLike[str], *, px_nm: float = 0.0, fps: float = 0.0) -> pb.Video:
        """Upload a video file in chunks (with its SHA-256, checked by the server)."""
        import hashlib

        source = Path(path)
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        header = pb.UploadHeader(
            filename=source.name, size_bytes=source.stat().st_size, sha256=digest, px_nm=px_nm, fps=fps
        )

        def messages() -> Iterator[pb.UploadVideoRequest]:
            yield pb.UploadVideoRequest(header=header)
            with open(source, "rb") as handle:
                for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
                    yield pb.UploadVideoRequest(chunk=block)

        return _call(self.videos.UploadVideo, messages(), metadata=self._metadata, timeout=None)

    def register_video(self, path: str, *, px_nm: float = 0.0, fps: float = 0.0) -> pb.Video:
        """Register a file on the shared storage (path relative to its root)."""
        return self._unary(self.videos.RegisterVideo, pb.RegisterVideoRequest(path=path, px_nm=px_nm, fps=fps))

    def get_video(self, video_id: str) -> pb.Video:
        """A video's record."""
        return self._unary(self.videos.GetVideo, pb.GetVideoRequest(video_id=video_id))

    def list_videos(self, *, all_users: bool = False) -> list[pb.Video]:
        """Your videos (every user's for admins with ``all_users``)."""
        return list(self._unary(self.videos.ListVideos, pb.ListVideosRequest(all_users=all_users)).videos)

    def delete_video(self, video_id: str) -> None:
        """Delete a video and everything it owns."""
        self._unary(self.videos.DeleteVideo, pb.DeleteVideoRequest(video_id=video_id))

    def get_frame(self, video_id: str, frame: int, *, max_size: int = 0) -> pb.Frame:
        """Frame ``frame`` as an 8-bit PNG for display, scaled down so its longer side is at most ``max_size``."""
        return self._unary(self.videos.GetFrame, pb.GetFrameRequest(video_id=video_id, frame=frame, max_size=max_size))

    # ----- models -----

    def list_models(self) -> list[pb.Model]:
        """The models this service offers per job, the default first."""
        return list(self._unary(self.models.ListModels, pb.ListModelsRequest()).models)

    # ----- prompts -----

    def set_prompts(self, video_id: str, prompts: Sequence[PromptSpec]) -> list[pb.Prompt]:
        """Add or replace prompts; return the video's prompts."""
        request = pb.SetPromptsRequest(video_id=video_id, prompts=[prompt_message(p) for p in prompts])
        return list(self._unary(self.prompts.SetPrompts, request).prompts)

    def remove_prompt(self, video_id: str, particle: int, frame: int | None = None) -> list[pb.Prompt]:
        """Remove a particle's prompt on ``frame`` (on every frame when None)."""
        request = pb.RemovePromptRequest(
            video_id=video_id, particle=particle, frame=frame or 0, all_frames=frame is None
        )
        return list(self._unary(self.prompts.RemovePrompt, request).prompts)

    def list_prompts(self, video_id: str) -> list[pb.Prompt]:
        """The video's prompts."""
        return list(self._unary(self.prompts.ListPrompts, pb.ListPromptsRequest(video_id=video_id)).prompts)

    # ----- jobs -----

    def start_propagation(self, video_id: str, *, model: str = "") -> pb.Job:
        """Start tracking the video's prompted particles with an offered ``model`` (empty: the default)."""
        return self._unary(self.jobs.StartPropagation, pb.StartPropagationRequest(video_id=video_id, model=model))

    def get_job(self, job_id: str) -> pb.Job:
        """A job's state and progress."""
        return self._unary(self.jobs.GetJob, pb.GetJobRequest(job_id=job_id))

    def list_jobs(self, video_id: str = "", *, all_users: bool = False) -> list[pb.Job]:
        """Your jobs (of one video when given)."""
        return list(self._unary(self.jobs.ListJobs, pb.ListJobsRequest(video_id=video_id, all_users=all_users)).jobs)

    def watch(self, job_id: str, *, include_results: bool = False) -> Iterator[pb.JobEvent]:
        """Job updates (and per-frame results) until the job ends."""
        request = pb.WatchJobRequest(job_id=job_id, include_results=include_results)
        return _stream(self.jobs.WatchJob(request, metadata=self._metadata))

    def wait(self, job_id: str, *, timeout_s: float = 600.0) -> pb.Job:
        """Block until the job ends; return its final record."""
        deadline = time.monotonic() + timeout_s
        job = self.get_job(job_id)
        while job.state not in FINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {pb.JobState.Name(job.state)} after {timeout_s} s")
            time.sleep(0.1)
            job = self.get_job(job_id)
        return job

    def cancel(self, job_id: str) -> pb.Job:
        """Ask a job to stop."""
        return self._unary(self.jobs.CancelJob, pb.CancelJobRequest(job_id=job_id))

    def audit_events(self, *, limit: int = 0, user: str = "", job_id: str = "") -> list[pb.AuditEvent]:
        """Admins: the audit log of jobs, newest first (``limit`` 0: 100), optionally of one user or job."""
        request = pb.ListAuditEventsRequest(limit=limit, user=user, job_id=job_id)
        return list(self._unary(self.jobs.ListAuditEvents, request).events)

    # ----- results -----

    def trajectories_csv(self, job_id: str) -> bytes:
        """The trajectories.csv text of a finished job."""
        return self._unary(self.results.GetTrajectories, pb.GetTrajectoriesRequest(job_id=job_id)).csv

    def trajectories(self, job_id: str) -> pd.DataFrame:
        """The trajectories of a finished job as a table."""
        return pd.read_csv(io.BytesIO(self.trajectories_csv(job_id)))

    def masks(self, job_id: str, start: int = 0, stop: int = 0, *, rle: bool = False) -> dict[int, np.ndarray]:
        """Label images {frame: uint16 (H, W)} of frames [start, stop) (stop 0: the end)."""
        encoding = pb.MaskEncoding.RLE if rle else pb.MaskEncoding.PNG
        request = pb.GetMasksRequest(job_id=job_id, start_frame=start, stop_frame=stop, encoding=encoding)
        out = {}
        for frame in _stream(self.results.GetMasks(request, metadata=self._metadata, timeout=self.timeout_s)):
            if frame.WhichOneof("labels") == "rle":
                out[frame.frame] = from_run_lengths(
                    frame.rle.values, frame.rle.lengths, height=frame.height, width=frame.width
                )
            else:
                out[frame.frame] = png_to_labels(frame.png)
        return out

    def start_analysis(
        self, job_id: str, *, px_nm: float = 0.0, fps: float = 0.0, exposure_fraction: float | None = None,
        keep_edge: bool = False, min_iou: float | None = None, max_area_change: float | None = None,
    ) -> pb.Job:
        """Start the statistics of a finished propagation job.

        ``keep_edge``, ``min_iou`` and ``max_area_change`` as the options of ``samem analyze``.
        """
        request = pb.StartAnalysisRequest(job_id=job_id, px_nm=px_nm, fps=fps, keep_edge=keep_edge)
        if exposure_fraction is not None:
            request.exposure_fraction = exposure_fraction
        if min_iou is not None:
            request.min_iou = min_iou
        if max_area_change is not None:
            request.max_area_change = max_area_change
        return self._unary(self.results.StartAnalysis, request)

    def analysis(self, job_id: str) -> pb.Analysis:
        """stats.json, tables and plots of a finished analysis job."""
        return self._unary(self.results.GetAnalysis, pb.GetAnalysisRequest(job_id=job_id))

    def live(
        self,
        frames: Iterable[np.ndarray],
        prompts: Sequence[PromptSpec],
        *,
        low: float,
        high: float,
        n_frames: int = 0,
    ) -> Iterator[pb.LiveResponse]:
        """Track frames (float32-convertible, H x W) as they come: one response per frame, in order.

        ``low``/``high``: the intensity range mapped to [0, 1]; prompts on frame 0; ``n_frames`` when known.
        """
        stub = rpc.LiveStub(self.channel)
        source = iter(frames)
        first = next(source, None)
        if first is None:
            return iter(())
        height, width = np.shape(first)
        start = pb.LiveStart(height=height, width=width, low=low, high=high, n_frames=n_frames,
                             prompts=[prompt_message(p) for p in prompts])  # fmt: skip

        def messages() -> Iterator[pb.LiveRequest]:
            yield pb.LiveRequest(start=start)
            for index, frame in enumerate(itertools.chain([first], source)):
                pixels = np.ascontiguousarray(frame, dtype="<f4").tobytes()
                yield pb.LiveRequest(frame=pb.LiveFrame(frame=index, pixels=pixels))

        return _stream(stub.Track(messages(), metadata=self._metadata))

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
