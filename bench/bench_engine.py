"""Benchmark: samem's tracking engine against upstream SAM 2's SAM2VideoPredictor, and the engine's peak memory.

Speed: the same weights (``--model``, default ``samem-compact:random``, 4.4 M parameters, 512 px; on a GPU also
``sam2.1_hiera_l:random``, 1024 px), the same simulated LPTEM clip (384 x 512, boxes around the ground-truth masks
on frame 0), the same preprocessed frames, the same machine and run, at 1, 3 and 8 objects. The engine
(``Tracker(LocalBackend(model))``) reads every frame lazily from the TIFF through a :class:`Preprocessor`, the next
one on a worker thread as ``samem track`` does, and returns masks at input resolution; upstream gets the same model
images in memory (what its ``init_state`` would have loaded) and is timed from ``propagate_in_video`` on, so its
``init_state``, its frame-0 encoding and its prompt decoding (``add_new_points_or_box``) are NOT timed, while the
engine's are (they happen inside ``Tracker.propagate``). The "steady" columns time frames 1 to N-1 only (from the
first yielded frame to the last), where both do the same work per frame.

Memory: peak RSS (the whole process: Python, torch, the model, VmHWM) of the engine tracking one object through a
200-frame and a 2,000-frame 96 x 128 TIFF (the model still runs at 512 px), each in a fresh subprocess, frames read
lazily and results dropped.

Random weights give every object a score of about -0.15 (absent), so every mask would be upstream's -1024
placeholder; both models get the object-score head's output bias raised by OBJECT_SCORE_BIAS so that the particles
count as present and the agreement check compares real mask logits (the computation is the same either way).

Run: .venv/bin/python bench/bench_engine.py [--frames N] [--repeats R] [--memory-frames SHORT LONG]
[--skip-speed] [--skip-memory] [--device cpu|cuda] [--precision fp32|bf16] [--model NAME:random] [--compile [MODE]]

On a GPU (``--device cuda``) upstream's per-object loop launches every kernel once per object, where the engine
launches each once per frame for all objects; both wait for every frame's masks before the next is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
import torch
from hardware import cpu_line
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from samem.engine import LocalBackend, Preprocessor, Tracker, steps
from samem.engine.compile import compile_model
from samem.io.video import FrameGeometry, IntensityNormalizer, VideoReader, open_video
from samem.model import build_model, parse_model_spec
from samem.model.build import INFERENCE_OVERRIDES
from samem.sim import layout_spec, write_video
from samem.tracking.api import FrameFeed

MODEL = "samem-compact:random"  # --model: any NAME:random, e.g. sam2.1_hiera_l:random (1024 px) on a GPU
SEED = 0
OBJECT_SCORE_BIAS = 1.0  # added to the object-score head's output bias (see the module docstring)
SCORE_HEAD = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
UPSTREAM_PREDICTOR = "sam2.sam2_video_predictor.SAM2VideoPredictor"
# what sam2.build_sam.build_sam2_video_predictor sets besides the inference overrides (hole filling needs upstream's
# CUDA extension; on CPU upstream warns and skips it)
UPSTREAM_EXTRA = {"fill_hole_area": 8}

SPEED_HEIGHT, SPEED_WIDTH, SPEED_PX_NM, SPEED_PARTICLES = 384, 512, 0.5, 10
MEMORY_HEIGHT, MEMORY_WIDTH, MEMORY_PX_NM, MEMORY_PARTICLES = 96, 128, 2.0, 3
OBJECT_COUNTS = (1, 3, 8)
WARMUP_FRAMES = 4
COMPILE_WARMUP_FRAMES = 10  # with --compile: past the frames whose memory bank still grows (7 memories)
MIB = 1024 * 1024
CONTENTION_CORES = 0.9  # a run keeping fewer than this share of its threads' cores busy probably had competition


# ----- inputs -----


def make_clip(directory: Path, *, n_frames: int, height: int, width: int, px_nm: float, n_particles: int) -> Path:
    """Simulate an LPTEM clip into ``directory`` (video.tif, gt_masks.tif, ...) and return the directory."""
    spec = layout_spec(seed=SEED, width=width, height=height, n_frames=n_frames, px_nm=px_nm, n_particles=n_particles)
    write_video(spec, directory, progress=False)
    return directory


def gt_boxes(clip: Path, n_objects: int) -> tuple[list[int], np.ndarray]:
    """Ids and boxes (x0, y0, x1, y1), hugging the pixels, of the ``n_objects`` largest particles on frame 0."""
    labels = tifffile.imread(clip / "gt_masks.tif", key=0)
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    if len(ids) < n_objects:
        raise SystemExit(f"{clip}: only {len(ids)} particles visible on frame 0, {n_objects} needed")
    chosen = [int(k) for k in ids[np.argsort(-areas, kind="stable")][:n_objects]]
    boxes = []
    for k in chosen:
        rows, cols = np.nonzero(labels == k)
        boxes.append((cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5))
    return chosen, np.asarray(boxes, dtype=np.float64)


def preprocessor(reader: VideoReader, image_size: int) -> Preprocessor:
    """The one way frames become model images: percentiles fitted on the video, square resize."""
    geometry = FrameGeometry(height=reader.info.height, width=reader.info.width, size=image_size)
    return Preprocessor(normalizer=IntensityNormalizer.fit(reader), geometry=geometry)


# ----- models -----


def engine_model(device: str = "cpu", spec: str = MODEL) -> torch.nn.Module:
    """The model of ``spec`` (seeded random weights) with the raised object-score bias, in eval mode."""
    model = build_model(spec, seed=SEED, device=device).model
    with torch.no_grad():
        model.get_parameter(SCORE_HEAD).add_(OBJECT_SCORE_BIAS)
    return model


def upstream_predictor(model: torch.nn.Module, spec: str = MODEL) -> torch.nn.Module:
    """Upstream's SAM2VideoPredictor built from the same config and overrides, with ``model``'s weights."""
    config = OmegaConf.merge(
        OmegaConf.load(parse_model_spec(spec).config_path),
        {"model": {**INFERENCE_OVERRIDES, **UPSTREAM_EXTRA, "_target_": UPSTREAM_PREDICTOR}},
    )
    OmegaConf.resolve(config)
    predictor = instantiate(config.model, _recursive_=True)
    predictor.load_state_dict(model.state_dict())
    predictor.to(next(model.parameters()).device)
    import sam2.sam2_video_predictor
    import sam2.utils.misc

    for module in (sam2.sam2_video_predictor, sam2.utils.misc):  # no progress bars in the output
        module.tqdm = lambda iterable, **_: iterable
    return predictor.eval()


# ----- speed -----


@dataclass(frozen=True)
class Timing:
    """One propagation run."""

    seconds: float  # whole propagation over n_frames
    cpu_seconds: float  # CPU time of this process (all threads) over the same span
    steady_seconds: float  # from the first yielded frame to the last (n_frames - 1 frames)
    last_logits: np.ndarray  # [N, height, width] mask logits of the last frame at input resolution
    last_scores: np.ndarray  # [N] object score logits of the last frame

    @property
    def cores(self) -> float:
        """Average number of cores this process kept busy (below the thread count when others compete)."""
        return self.cpu_seconds / self.seconds


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer read afterwards includes it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def upstream_precision(predictor: torch.nn.Module, precision: str) -> torch.autocast:
    """SAM 2's own way to run in bfloat16: autocast around the predictor's calls (disabled for fp32)."""
    return torch.autocast(predictor.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def run_engine(
    backend: LocalBackend,
    reader: VideoReader,
    prep: Preprocessor,
    ids: Sequence[int],
    boxes: np.ndarray,
    n: int,
    *,
    inline: bool = False,
) -> Timing:
    """Track ``ids`` from boxes on frame 0 through frames 0 .. n-1, reading frames lazily.

    As ``samem track`` does, the next frame is read and prepared on a worker thread (:class:`FrameFeed`);
    ``inline`` reads and prepares each frame when the engine asks for it instead.
    """
    tracker = Tracker(backend, height=reader.info.height, width=reader.info.width, num_frames=n)
    tracker.add_boxes(0, ids, boxes)
    first = last = None
    with contextlib.ExitStack() as stack:
        feed = (lambda index: prep(reader.read(index))) if inline else stack.enter_context(FrameFeed(reader, prep))
        start, cpu = time.perf_counter(), time.process_time()
        for result in tracker.propagate(feed):
            first, last = first or time.perf_counter(), result  # results are on the CPU: each frame is waited for
        end, cpu = time.perf_counter(), time.process_time() - cpu
    return Timing(end - start, cpu, end - first, last.mask_logits, last.object_scores)


def run_upstream(
    predictor: torch.nn.Module,
    jpg_folder: Path,
    images: torch.Tensor,
    geometry: FrameGeometry,
    boxes: np.ndarray,
    n: int,
    precision: str = "fp32",
) -> Timing:
    """Upstream on the first ``n`` model images; ``jpg_folder`` holds ``n`` placeholder JPEGs for ``init_state``."""
    with warnings.catch_warnings(), upstream_precision(predictor, precision):
        warnings.simplefilter("ignore")  # hole filling skipped on CPU
        state = predictor.init_state(str(jpg_folder))
        if state["num_frames"] != n:
            raise RuntimeError(f"{jpg_folder} holds {state['num_frames']} frames, expected {n}")
        state["images"] = steps.model_input(images[:n].to(predictor.device))  # SAM 2 input, 3 channels
        state["cached_features"] = {}
        state["video_height"], state["video_width"] = geometry.height, geometry.width
        for obj_id, box in enumerate(boxes, start=1):
            normalised = geometry.boxes_to_model(box) / predictor.image_size
            predictor.add_new_points_or_box(state, frame_idx=0, obj_id=obj_id, box=normalised, normalize_coords=False)
        first = last = None
        start, cpu = time.perf_counter(), time.process_time()
        for _, _, masks in predictor.propagate_in_video(state):
            synchronize(predictor.device)  # as the engine, which hands every frame's masks to the CPU
            first, last = first or time.perf_counter(), masks
        end, cpu = time.perf_counter(), time.process_time() - cpu
    scores = []
    for index in range(len(boxes)):
        out = state["output_dict_per_obj"][index]["non_cond_frame_outputs"].get(n - 1)
        out = out or state["output_dict_per_obj"][index]["cond_frame_outputs"][n - 1]
        scores.append(float(out["object_score_logits"]))
    logits = last[:, 0].float().cpu().numpy().copy()
    return Timing(end - start, cpu, end - first, logits, np.asarray(scores, dtype=np.float32))


def placeholder_jpegs(folder: Path, n: int) -> Path:
    """``n`` tiny JPEGs: ``init_state`` insists on loading a folder; its images are replaced afterwards."""
    folder.mkdir(parents=True)
    for index in range(n):
        Image.new("RGB", (8, 8)).save(folder / f"{index:05d}.jpg")
    return folder


@dataclass(frozen=True)
class SpeedRow:
    """The best engine and upstream runs at one object count, and what is derived from them."""

    n_objects: int
    frames: int
    engine: Timing
    upstream: Timing

    @property
    def engine_fps(self) -> float:
        """Frames per second of the whole propagation."""
        return self.frames / self.engine.seconds

    @property
    def upstream_fps(self) -> float:
        """Frames per second of the whole propagation."""
        return self.frames / self.upstream.seconds

    @property
    def engine_steady_fps(self) -> float:
        """Frames per second over frames 1 to N-1."""
        return (self.frames - 1) / self.engine.steady_seconds

    @property
    def upstream_steady_fps(self) -> float:
        """Frames per second over frames 1 to N-1."""
        return (self.frames - 1) / self.upstream.steady_seconds

    @property
    def logit_diff(self) -> float:
        """Max absolute difference of the last frame's mask logits at input resolution."""
        return float(np.abs(self.engine.last_logits - self.upstream.last_logits).max())

    @property
    def present(self) -> int:
        """Objects the engine scores present on the last frame."""
        return int((self.engine.last_scores > 0).sum())


def best(timings: list[Timing]) -> Timing:
    return min(timings, key=lambda t: t.seconds)


def speed(args: argparse.Namespace, workdir: Path) -> list[SpeedRow]:
    n = args.frames
    print(
        f"\n== speed: {n} frames of {SPEED_HEIGHT} x {SPEED_WIDTH}, best of {args.repeats}, {args.device},"
        f" {args.precision} (both), engine {'eager' if args.compile is None else f'compiled ({args.compile})'} ==",
        flush=True,
    )
    start = time.perf_counter()
    clip = make_clip(
        workdir / "speed",
        n_frames=n,
        height=SPEED_HEIGHT,
        width=SPEED_WIDTH,
        px_nm=SPEED_PX_NM,
        n_particles=SPEED_PARTICLES,
    )
    model = engine_model(args.device, args.model)
    mode = None if args.compile in (None, "default") else args.compile
    engine = model if args.compile is None else compile_model(model, mode=mode)
    backend = LocalBackend(engine, precision=args.precision)
    predictor = upstream_predictor(model, args.model)
    size = backend.settings.image_size
    warmup = min(WARMUP_FRAMES, n)
    folders = {k: placeholder_jpegs(workdir / f"jpg{k}", k) for k in sorted({warmup, n})}
    with open_video(clip / "video.tif") as reader:
        prep = preprocessor(reader, size)
        images = torch.stack([prep(reader.read(index)) for index in range(n)])
        print(f"setup (simulation, models, upstream's frames): {time.perf_counter() - start:.1f} s", flush=True)
        ids, boxes = gt_boxes(clip, max(OBJECT_COUNTS))
        run_engine(backend, reader, prep, ids[:1], boxes[:1], warmup)
        if args.compile is not None:  # every object count's shapes, and the growing memory bank, compiled untimed
            for k in OBJECT_COUNTS:
                compiling = time.perf_counter()
                run_engine(backend, reader, prep, ids[:k], boxes[:k], min(n, COMPILE_WARMUP_FRAMES))
                print(f"compiled for {k} object(s) in {time.perf_counter() - compiling:.1f} s", flush=True)
        run_upstream(predictor, folders[warmup], images, prep.geometry, boxes[:1], warmup, args.precision)
        rows, contended = [], False
        for k in OBJECT_COUNTS:
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(run_engine(backend, reader, prep, ids[:k], boxes[:k], n))
                theirs.append(run_upstream(predictor, folders[n], images, prep.geometry, boxes[:k], n, args.precision))
            row = SpeedRow(k, n, best(ours), best(theirs))
            rows.append(row)
            busy = min(row.engine.cores, row.upstream.cores)
            on_cpu = backend.model.device.type == "cpu"
            contended = contended or (on_cpu and busy < CONTENTION_CORES * torch.get_num_threads())
            print(
                f"{k} object(s): engine {row.engine_fps:.2f} frames/s, upstream {row.upstream_fps:.2f} frames/s,"
                f" ratio {row.engine_fps / row.upstream_fps:.2f}x (steady {row.engine_steady_fps:.2f} vs"
                f" {row.upstream_steady_fps:.2f}, {row.engine_steady_fps / row.upstream_steady_fps:.2f}x);"
                f" last frame: max |logit diff| {row.logit_diff:.3g}, {row.present}/{k} present; CPU cores busy"
                f" {row.engine.cores:.2f} engine, {row.upstream.cores:.2f} upstream",
                flush=True,
            )
    if contended:
        print(
            f"WARNING: in some kept run this process kept fewer than {CONTENTION_CORES:.0%} of its"
            f" {torch.get_num_threads()} threads' cores busy: another process probably competed for the CPU; rerun"
            " (or raise --repeats) when the machine is idle",
            flush=True,
        )
    return rows


# ----- memory -----


def memory_status(field: str) -> int:
    """A memory figure of this process from /proc/self/status in bytes: VmRSS (current RSS), VmHWM (peak RSS).

    VmHWM rather than ``getrusage().ru_maxrss``: Linux carries ``ru_maxrss`` over ``execve``, so a worker started by
    a big parent (by fork or vfork) would report at least the parent's RSS; VmHWM belongs to the worker's own memory.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                value, unit = line.split()[1:3]
                if unit != "kB":
                    raise RuntimeError(f"unexpected unit in /proc/self/status: {line.strip()}")
                return int(value) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_worker(clip: Path) -> None:
    """Track one object through ``clip``'s video with the engine and print a JSON line of memory figures."""
    backend = LocalBackend(engine_model())
    with open_video(clip / "video.tif") as reader:
        prep = preprocessor(reader, backend.settings.image_size)
        ids, boxes = gt_boxes(clip, 1)
        n = reader.info.n_frames
        tracker = Tracker(backend, height=reader.info.height, width=reader.info.width, num_frames=n)
        tracker.add_boxes(0, ids, boxes)
        before = memory_status("VmRSS")
        start = time.perf_counter()
        masked = 0
        for result in tracker.propagate(lambda index: prep(reader.read(index))):
            masked += int(result.masks.sum())  # consume the result, keep nothing
        seconds = time.perf_counter() - start
        after = memory_status("VmRSS")
    peak = memory_status("VmHWM")
    report = {"frames": n, "seconds": seconds, "rss_before": before, "rss_after": after, "peak": peak}
    print(json.dumps({**report, "masked": masked}))


@dataclass(frozen=True)
class MemoryRow:
    """What a memory worker measured; sizes in bytes."""

    frames: int
    seconds: float
    rss_before: int
    rss_after: int
    peak: int


def memory(args: argparse.Namespace, workdir: Path) -> list[MemoryRow]:
    short, long = args.memory_frames
    print(
        f"\n== memory: engine, 1 object, {MEMORY_HEIGHT} x {MEMORY_WIDTH} TIFF read lazily, {short} vs {long} frames,"
        " each in a fresh process ==",
        flush=True,
    )
    rows = []
    for n in (short, long):
        start = time.perf_counter()
        clip = make_clip(
            workdir / f"memory{n}",
            n_frames=n,
            height=MEMORY_HEIGHT,
            width=MEMORY_WIDTH,
            px_nm=MEMORY_PX_NM,
            n_particles=MEMORY_PARTICLES,
        )
        simulated = time.perf_counter() - start
        command = [sys.executable, str(Path(__file__).resolve()), "--memory-worker", str(clip)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"memory worker for {n} frames failed ({done.returncode}):\n{done.stderr}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        row = MemoryRow(report["frames"], report["seconds"], report["rss_before"], report["rss_after"], report["peak"])
        rows.append(row)
        print(
            f"{n} frames: peak RSS {row.peak / MIB:.1f} MiB (RSS before propagation {row.rss_before / MIB:.1f} MiB,"
            f" after {row.rss_after / MIB:.1f} MiB);"
            f" tracking {row.seconds:.1f} s ({n / row.seconds:.2f} frames/s), simulation {simulated:.1f} s",
            flush=True,
        )
    print(f"peak ratio {long} / {short} frames: {rows[1].peak / rows[0].peak:.3f} (goal <= 1.2)", flush=True)
    return rows


# ----- report -----


def hardware(spec: str) -> None:
    sam2_version = importlib.metadata.version("sam2")
    print(cpu_line())
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name()}")
    print(
        f"python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads,"
        f" default), sam2 {sam2_version}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    model = engine_model(spec=spec)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {spec} (seed {SEED}), {n_params / 1e6:.2f} M parameters, {model.image_size} px input")


def table(speed_rows: list[SpeedRow], memory_rows: list[MemoryRow]) -> None:
    print("\n== summary (Markdown) ==")
    if speed_rows:
        n = speed_rows[0].frames
        print(
            f"\nSpeed, {n} frames of {SPEED_HEIGHT} x {SPEED_WIDTH} (frames/s over the whole propagation;"
            " steady: frames 1 to N-1)\n"
        )
        print(
            "| objects | engine frames/s | upstream frames/s | engine / upstream | engine steady | upstream steady"
            " | steady ratio | max abs logit diff (last frame) |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in speed_rows:
            print(
                f"| {r.n_objects} | {r.engine_fps:.2f} | {r.upstream_fps:.2f} | {r.engine_fps / r.upstream_fps:.2f}x"
                f" | {r.engine_steady_fps:.2f} | {r.upstream_steady_fps:.2f}"
                f" | {r.engine_steady_fps / r.upstream_steady_fps:.2f}x | {r.logit_diff:.2g} |"
            )
    if memory_rows:
        print(f"\nPeak memory, engine, 1 object, {MEMORY_HEIGHT} x {MEMORY_WIDTH} TIFF\n")
        print(
            "| frames | peak RSS (MiB) | RSS before propagation (MiB) | RSS after (MiB) | frames/s | peak / shortest |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for r in memory_rows:
            print(
                f"| {r.frames} | {r.peak / MIB:.1f} | {r.rss_before / MIB:.1f} | {r.rss_after / MIB:.1f}"
                f" | {r.frames / r.seconds:.2f}"
                f" | {r.peak / memory_rows[0].peak:.3f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="frames per speed run (default 40)")
    parser.add_argument("--repeats", type=int, default=1, help="speed runs per implementation, best kept (default 1)")
    parser.add_argument(
        "--memory-frames",
        type=int,
        nargs=2,
        default=(200, 2000),
        metavar=("SHORT", "LONG"),
        help="video lengths of the memory runs (default 200 2000)",
    )
    parser.add_argument("--model", default=MODEL, help=f"NAME:random of the speed part (default {MODEL})")
    parser.add_argument("--device", default="cpu", help="torch device of both models in the speed part (default cpu)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="speed part: bf16 runs the engine's LocalBackend(precision='bf16') and upstream under SAM 2's own"
        " bfloat16 autocast (default fp32)",
    )
    parser.add_argument(
        "--compile",
        nargs="?",
        const="default",
        metavar="MODE",
        help="speed part: the engine's model through torch.compile (samem.engine.compile; MODE: default,"
        " reduce-overhead for CUDA graphs, max-autotune), compiled for every object count before timing; upstream"
        " stays eager",
    )
    parser.add_argument("--skip-speed", action="store_true", help="run the memory part only")
    parser.add_argument("--skip-memory", action="store_true", help="run the speed part only")
    parser.add_argument("--memory-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker is not None:
        memory_worker(args.memory_worker)
        return
    if args.frames < 2 or args.repeats < 1 or min(args.memory_frames) < 2:
        parser.error("--frames and --memory-frames need at least 2 frames, --repeats at least 1")
    start = time.perf_counter()
    hardware(args.model)
    speed_rows: list[SpeedRow] = []
    memory_rows: list[MemoryRow] = []
    with tempfile.TemporaryDirectory(prefix="bench_engine_") as tmp:
        if not args.skip_speed:
            speed_rows = speed(args, Path(tmp))
        if not args.skip_memory:
            memory_rows = memory(args, Path(tmp))
    table(speed_rows, memory_rows)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\ntotal time {time.perf_counter() - start:.0f} s; load average at the end {load}")


if __name__ == "__main__":
    main()
