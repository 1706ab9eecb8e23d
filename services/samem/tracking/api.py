"""``track()``: one video file, prompts in input pixels, a model -> trajectories (and masks, files on request)."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from samem import __version__
from samem.device import resolve_device
from samem.engine import Backend, FrameResult, LocalBackend, Preprocessor, Prompt, Tracker
from samem.engine.backend import Precision, check_precision
from samem.engine.prefetch import Prefetcher
from samem.engine.windows import auto_zoom, check_zoom
from samem.errors import InputError
from samem.io.output import atomic_output_dir, check_writable_dir
from samem.io.video import ArrayVideo, FrameGeometry, IntensityNormalizer, VideoReader, open_video
from samem.measure import MEASUREMENT_COLUMNS
from samem.model import LoadedModel, build_model
from samem.model.registry import DEFAULT_MODEL
from samem.results.measured import MeasuredFrame
from samem.results.writer import TrackOutputWriter
from samem.tracking.prompts import PromptSpec


@dataclass(frozen=True, kw_only=True)
class TrackResult:
    """Trajectories (the trajectories.csv table), the run record, and label masks when asked for."""

    trajectories: pd.DataFrame
    run: dict[str, Any]
    masks: np.ndarray | None = field(default=None, repr=False)  # [T, H, W] uint16 labels


#: How to frame particles: ``"auto"`` (windows when particles are small in the frame), a zoom >= 1 (windows of
#: zoom x prompt size, see :mod:`samem.engine.windows`), or None (whole frames).
ZoomChoice = float | Literal["auto"] | None


class FrameFeed:
    """Reads each frame once: the model image for the engine, the normalised frame for the overlay.

    Call it with a frame index for what the engine takes (an engine :data:`~samem.engine.FrameSource`): the model
    image, or in window mode (``windows=True``) the frame as read, in float32 (the engine normalises each window).
    The next frame is read and prepared on a worker thread while the engine works on this one
    (:class:`~samem.engine.prefetch.Prefetcher`); :meth:`close` stops it.
    """

    def __init__(self, reader: VideoReader, preprocessor: Preprocessor, *, windows: bool = False) -> None:
        self.reader, self.preprocessor, self.windows = reader, preprocessor, windows
        self._frames = Prefetcher(self._load, stop=len(reader))

    def _load(self, index: int) -> tuple[np.ndarray, torch.Tensor | np.ndarray]:
        raw = self.reader.read(index)
        return raw, np.asarray(raw, dtype=np.float32) if self.windows else self.preprocessor(raw)

    def raw(self, index: int) -> np.ndarray:
        """The frame as read from the file."""
        return self._frames.get(index)[0]

    def __call__(self, index: int) -> torch.Tensor | np.ndarray:
        """The frame's model image, or in window mode the frame as read (float32)."""
        return self._frames.get(index)[1]

    def close(self) -> None:
        """Stop the worker thread."""
        self._frames.close()

    def __enter__(self) -> FrameFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_zoom(zoom: ZoomChoice, prompts: Sequence[PromptSpec], *, height: int, width: int) -> float | None:
    """The zoom a video is tracked with: ``"auto"`` decides from the prompts' sizes (:func:`auto_zoom`)."""
    if zoom != "auto":
        return check_zoom(zoom)
    engine_prompts = [Prompt(box=p.box, points=p.points, labels=p.labels) for p in prompts]
    return auto_zoom(engine_prompts, height=height, width=width)


def _versions() -> dict[str, str]:
    versions = {"samem": __version__, "python": platform.python_version(), "torch": torch.__version__}
    try:
        versions["sam2"] = metadata.version("sam2")
    except metadata.PackageNotFoundError:
        versions["sam2"] = "unknown"
    return versions


def add_prompts(tracker: Tracker, prompts: Sequence[PromptSpec]) -> None:
    """Give ``tracker`` the prompts; one prompt per particle and frame."""
    if not prompts:
        raise InputError("no prompts: give at least one box or point (e.g. --box X0,Y0,X1,Y1)")
    seen: set[tuple[int, int]] = set()
    for prompt in prompts:
        key = (prompt.particle, prompt.frame)
        if key in seen:
            raise InputError(f"particle {prompt.particle} has two prompts on frame {prompt.frame}; merge them")
        seen.add(key)
        tracker.add_prompt(
            prompt.frame,
            prompt.particle,
            box=prompt.box,
            points=prompt.points or None,
            labels=prompt.labels or None,
        )


def track(
    video: str | os.PathLike[str] | VideoReader | np.ndarray,
    prompts: Sequence[PromptSpec],
    *,
    model: str | LoadedModel | None = None,
    backend: str = "local",
    out_dir: str | os.PathLike[str] | None = None,
    return_masks: bool = False,
    overlay: str | None = "overlay.mp4",
    progress: bool = False,
    zoom: ZoomChoice = "auto",
    follow_motion: bool = True,
    device: str = "cpu",
    precision: Precision = "fp32",
) -> TrackResult:
    """Track prompted particles through a video file.

    Parameters
    ----------
    video
        Any format :func:`samem.io.video.open_video` reads, a reader already open (left open), or a T x H x W
        array of gray frames.
    prompts
        Boxes and/or points per particle and frame, in input pixels (x = column, y = row).
    model
        ``NAME[:CHECKPOINT]`` (see :func:`samem.model.parse_model_spec`) or an already built model; default
        ``samem-compact``. With a Triton backend the server's model is used (a name given here must match it).
    backend
        ``local`` (PyTorch in this process) or ``triton://HOST:PORT[?shared_memory=1]`` (a Triton server started
        with ``samem triton``; ``shared_memory=1`` passes tensors through system shared memory, same host only).
    out_dir
        If given, trajectories.csv, masks.tif, the overlay and run.json are written there atomically.
    return_masks
        Also return the label stack [T, H, W] (held in memory: mind long videos).
    overlay
        File name of the preview in ``out_dir`` (``.mp4`` or ``.gif``), or None for none.
    progress
        Show a progress bar on stderr.
    zoom
        ``"auto"`` (default) tracks each particle in its own window of the frame when particles are small in it
        (windows 8 x the prompt box, see :mod:`samem.engine.windows`), a number >= 1 sets that zoom, None tracks
        whole frames.
    follow_motion
        In windows, move each window and its mask prompt by the particle's motion since the previous frame,
        measured on the two frames (default; see :mod:`samem.engine.motion`); False: windows follow the masks only.
    device
        Where a local model is built: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto`` (ignored for a model
        already built, which runs where it is, and for Triton).
    precision
        ``fp32`` (default) or ``bf16`` (bfloat16 autocast, local backend only; see
        :class:`~samem.engine.LocalBackend`).

    Returns
    -------
    TrackResult
        ``trajectories`` has one row per particle per tracked frame with the columns of
        :data:`samem.measure.MEASUREMENT_COLUMNS`; lost particles have ``present = False``, particles cut by the
        frame edge ``at_edge = True``.
    """
    if out_dir is not None:
        check_writable_dir(out_dir)
    if isinstance(video, np.ndarray):
        video = ArrayVideo(video)  # checks the shape before a model is built
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        engine_backend, model_record = _backend(backend, model, stack, device=device, precision=precision)
        reader = video if isinstance(video, VideoReader) else stack.enter_context(open_video(video))
        info = reader.info
        image_size = engine_backend.settings.image_size
        normalizer = IntensityNormalizer.fit(reader)
        geometry = FrameGeometry(height=info.height, width=info.width, size=image_size)
        zoom = resolve_zoom(zoom, prompts, height=info.height, width=info.width)
        feed = stack.enter_context(
            FrameFeed(reader, Preprocessor(normalizer=normalizer, geometry=geometry), windows=zoom is not None)
        )
        tracker = Tracker(engine_backend, height=info.height, width=info.width, num_frames=len(reader), zoom=zoom,
                          follow_motion=follow_motion)  # fmt: skip
        add_prompts(tracker, prompts)
        run: dict[str, Any] = {
            "input": {"path": str(info.path), "format": info.format, "n_frames": info.n_frames,
                      "height": info.height, "width": info.width, "dtype": str(info.dtype), "px_nm": info.px_nm,
                      "frame_interval_s": info.frame_interval_s},
            **model_record, "image_size": image_size, "zoom": zoom,
            "follow_motion": follow_motion and zoom is not None, "versions": _versions(),
            "normalisation": {"low": normalizer.low, "high": normalizer.high, "percentiles": [0.5, 99.5]},
            "prompts": [vars(p) for p in prompts], "command": " ".join(sys.argv),
        }
        fps_preview = 1.0 / info.frame_interval_s if info.frame_interval_s else 10.0
        if out_dir is None:
            rows, labels, tracked = _run(tracker, feed, None, return_masks, progress)
        else:
            with atomic_output_dir(out_dir) as staging:
                writer = TrackOutputWriter(
                    staging, n_frames=info.n_frames, height=info.height, width=info.width, fps=fps_preview,
                    overlay=overlay,
                )
                tracking_started = time.perf_counter()
                rows, labels, tracked = _run(tracker, feed, writer, return_masks, progress)
                run |= _timings(started, tracking_started, tracked)
                writer.close(run)
    if out_dir is None:
        run |= _timings(started, started, tracked)
    table = pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))
    masks = None
    if return_masks:
        masks = np.zeros((info.n_frames, info.height, info.width), np.uint16)
        for frame, page in labels.items():
            masks[frame] = page
    return TrackResult(trajectories=table, run=run, masks=masks)


def _backend(
    backend: str, model: str | LoadedModel | None, stack: contextlib.ExitStack, *, device: str, precision: Precision
) -> tuple[Backend, dict[str, Any]]:
    """The engine backend ``backend`` names, and what run.json records about its model."""
    check_precision(precision)
    if backend == "local":
        if isinstance(model, LoadedModel):
            loaded = model
        else:
            loaded = build_model(model or DEFAULT_MODEL, device=resolve_device(device))
        record = {"model": str(loaded.spec), "checkpoint_sha256": loaded.checkpoint_sha256,
                  "device": str(next(loaded.model.parameters()).device), "backend": "local", "precision": precision}
        return LocalBackend(loaded.model, precision=precision), record
    if not backend.startswith("triton://"):
        raise InputError(f"backend {backend!r} is neither 'local' nor triton://HOST:PORT")
    if precision != "fp32":
        raise InputError("precision applies to the local backend; a Triton server runs the precision it was exported"
                         " with (samem export --precision)")
    if isinstance(model, LoadedModel):
        raise InputError("a model built in this process cannot run on a Triton backend; pass backend='local'")
    from samem.serving.triton_backend import TritonBackend

    remote = stack.enter_context(TritonBackend.from_url(backend))
    served = remote.served.spec.partition(":")[0]
    if model is not None and model.partition(":")[0] != served:
        raise InputError(f"the Triton server at {remote.url} serves {served!r}, not {model.partition(':')[0]!r};"
                         " leave out --model or export and serve that model")
    record = {"model": remote.served.spec, "checkpoint_sha256": remote.served.checkpoint_sha256,
              "device": "triton", "backend": backend, "precision": remote.served.precision}
    return remote, record


def presence_probabilities(result: FrameResult) -> np.ndarray:
    """The objects' presence probabilities on a frame (sigmoid of the object scores): the ``mask_score`` column."""
    return 1.0 / (1.0 + np.exp(-result.object_scores.astype(np.float64)))


def measure_result(result: FrameResult) -> MeasuredFrame:
    """A tracked frame's measurement rows and label image.

    ``mask_score`` is the presence probability, ``predicted_iou`` the IoU head's estimate for the mask.
    """
    return MeasuredFrame.from_masks(
        result.frame, result.masks, result.particle_ids, logits=result.mask_logits,
        scores=presence_probabilities(result), predicted_ious=result.ious.astype(np.float64).reshape(-1),
    )  # fmt: skip


def _timings(started: float, tracking_started: float, tracked: list[int]) -> dict[str, Any]:
    seconds = time.perf_counter() - tracking_started
    return {
        "frames_tracked": [min(tracked), max(tracked)] if tracked else [],
        "n_frames_tracked": len(tracked),
        "tracking_seconds": round(seconds, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
        "frames_per_second": round(len(tracked) / seconds, 3) if seconds > 0 else None,
    }


def _run(
    tracker: Tracker, feed: FrameFeed, writer: TrackOutputWriter | None, keep_labels: bool, progress: bool
) -> tuple[list[dict[str, Any]], dict[int, np.ndarray], list[int]]:
    """Propagate; stream each frame to ``writer``; collect rows (and label pages if asked)."""
    rows: list[dict[str, Any]] = []
    labels: dict[int, np.ndarray] = {}
    tracked: list[int] = []
    first = min(frame for obj in tracker.state.objects for frame in obj.prompts)
    total = tracker.state.num_frames - first
    results = tracker.propagate(feed)
    bar = tqdm(results, total=total, desc="tracking", unit="frame", disable=not progress, file=sys.stderr)
    for result in bar:
        measured = measure_result(result)
        if writer is not None:
            writer.add_frame(measured, feed.preprocessor.normalizer(feed.raw(result.frame)))
        rows.extend(measured.rows)
        tracked.append(result.frame)
        if keep_labels:
            labels[result.frame] = measured.labels
    return rows, labels, tracked
