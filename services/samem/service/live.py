"""Live mode (``Live.Track``): frames streamed in as a microscope records them, masks and centroids streamed back.

A session is one bidirectional call: a :class:`~samem.service.api.tracking_pb2.LiveStart` (frame size, intensity
range, prompts on frame 0), then frames numbered 0, 1, 2, ... Each frame is tracked as soon as it arrives with the
engine's :class:`~samem.engine.Tracker` (per-session state in this process) on the configured live backend: the
model in this process (``local``) or a Triton server (``triton://HOST:PORT``; a backend of its own per session).
Frames are answered in order, each with its measurements, its label image (PNG) and the time it spent here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import grpc
import numpy as np
import torch

from samem.engine import Backend, Preprocessor, Tracker
from samem.errors import InputError
from samem.io.video import FrameGeometry, IntensityNormalizer
from samem.service import convert
from samem.service.api import tracking_pb2 as pb
from samem.service.api import tracking_pb2_grpc as rpc
from samem.service.auth import Authenticator, User
from samem.service.config import ServiceConfig
from samem.service.encoding import labels_to_png
from samem.service.engine import local_backend
from samem.service.errors import ResourceExhausted
from samem.service.records import VideoRecord, prompt_from_json
from samem.tracking.api import add_prompts, measure_result, resolve_zoom

MAX_SIDE = 8192


class _EndOfStream(Exception):
    """The client closed its side: the session ends after the frames already answered."""


class _Frames:
    """The engine's frame source for one session: pulls the next frame message when the engine asks for it."""

    def __init__(
        self,
        requests: Iterator[pb.LiveRequest],
        start: pb.LiveStart,
        preprocess: Callable[[np.ndarray], torch.Tensor | np.ndarray],
    ) -> None:
        """``preprocess`` makes a raw frame what the tracker takes (a model image, or in window mode the frame)."""
        self.requests, self.start, self.preprocess = requests, start, preprocess
        self.received: dict[int, float] = {}
        self._last: tuple[int, torch.Tensor | np.ndarray] | None = None

    def __call__(self, index: int) -> torch.Tensor | np.ndarray:
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        message = next(self.requests, None)
        if message is None:
            raise _EndOfStream
        if message.WhichOneof("part") != "frame":
            raise InputError("after the start message a live session sends only frames")
        frame = message.frame
        if frame.frame != index:
            raise InputError(f"live frames are numbered 0, 1, 2, ...: expected frame {index}, got {frame.frame}")
        self.received[index] = time.perf_counter()
        h, w = self.start.height, self.start.width
        if len(frame.pixels) != h * w * 4:
            raise InputError(
                f"frame {index}: {len(frame.pixels)} bytes of pixels, a {w} x {h} float32 frame has {h * w * 4}"
            )
        image = np.frombuffer(frame.pixels, dtype="<f4").reshape(h, w)
        self._last = (index, self.preprocess(image))
        return self._last[1]


class LiveServicer(rpc.LiveServicer):
    """Live sessions on ``config.live_backend``, at most ``config.live_sessions`` at once."""

    def __init__(self, config: ServiceConfig, auth: Authenticator) -> None:
        self.config, self.auth = config, auth
        self._slots = threading.BoundedSemaphore(config.live_sessions)

    def _backend(self, stack: ExitStack) -> Backend:
        if self.config.live_backend == "local":
            return local_backend(self.config)  # live sessions use the default model
        from samem.serving.triton_backend import TritonBackend

        return stack.enter_context(TritonBackend.from_url(self.config.live_backend))

    def Track(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[pb.LiveResponse]:  # noqa: D102
        from samem.service.registration import checked
        from samem.service.server import _abort

        try:
            user = self.auth.user(context.invocation_metadata())
            if not self._slots.acquire(blocking=False):
                raise ResourceExhausted(f"{self.config.live_sessions} live session(s) run already; try again later")
            try:
                yield from self._session(checked(request_iterator), context, user)
            finally:
                self._slots.release()
        except Exception as e:
            _abort(context, e)

    def _session(
        self, requests: Iterator[pb.LiveRequest], context: grpc.ServicerContext, user: User
    ) -> Iterator[pb.LiveResponse]:
        first = next(requests, None)
        if first is None or first.WhichOneof("part") != "start":
            raise InputError("a live session starts with a start message (frame size, intensity range, prompts)")
        start = first.start
        frames_cap = start.n_frames or self.config.live_max_frames
        if not (1 <= start.height <= MAX_SIDE and 1 <= start.width <= MAX_SIDE):
            raise InputError(f"live frames must be 1..{MAX_SIDE} px high and wide, got {start.width} x {start.height}")
        if not (np.isfinite(start.low) and np.isfinite(start.high) and start.low < start.high):
            raise InputError(f"the intensity range needs finite low < high, got {start.low} and {start.high}")
        if not 0 <= start.n_frames <= self.config.live_max_frames:
            raise InputError(f"n_frames must lie in 0..{self.config.live_max_frames} (0: open-ended)")
        frame_zero = VideoRecord(
            video_id="live", owner=user.name, path="", uploaded=0, filename="", format="live", n_frames=1,
            height=start.height, width=start.width, px_nm=0.0, fps=0.0, size_bytes=0, sha256="", created_unix=0.0,
        )  # fmt: skip
        specs = [prompt_from_json(convert.prompt_from_message(p, frame_zero)) for p in start.prompts]
        with ExitStack() as stack:
            backend = self._backend(stack)
            geometry = FrameGeometry(height=start.height, width=start.width, size=backend.settings.image_size)
            normalizer = IntensityNormalizer(low=start.low, high=start.high)
            zoom = resolve_zoom("auto", specs, height=start.height, width=start.width)
            preprocess = Preprocessor(normalizer=normalizer, geometry=geometry) if zoom is None else np.asarray
            frames = _Frames(requests, start, preprocess)
            tracker = Tracker(backend, height=start.height, width=start.width, num_frames=frames_cap, zoom=zoom)
            add_prompts(tracker, specs)
            results = tracker.propagate(frames)
            while context.is_active():
                try:
                    result = next(results)
                except (_EndOfStream, StopIteration):
                    return
                yield _response(result, start, frames.received.pop(result.frame, time.perf_counter()))


def _response(result: Any, start: pb.LiveStart, received: float) -> pb.LiveResponse:
    measured = measure_result(result)
    return pb.LiveResponse(
        result=convert.frame_message(result.frame, measured.rows),
        masks=pb.MaskFrame(
            frame=result.frame, height=start.height, width=start.width, png=labels_to_png(measured.labels)
        ),
        latency_ms=(time.perf_counter() - received) * 1000.0,
    )


def live_servicer(config: ServiceConfig, auth: Authenticator) -> rpc.LiveServicer:
    """The Live servicer: sessions when a live backend is configured, else the generated UNIMPLEMENTED one."""
    if not config.live_backend:
        return rpc.LiveServicer()
    if config.live_backend != "local":
        from samem.serving.triton_backend import parse_backend_url

        parse_backend_url(config.live_backend)  # a bad URL fails at start, not per session
    return LiveServicer(config, auth)
