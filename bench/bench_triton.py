"""Benchmark: the tracking engine with the model in process vs on a real Triton Inference Server, same run.

Four backends track the same simulated LPTEM clip with the same weights: ``LocalBackend`` (PyTorch in this
process), ``TritonBackend`` over gRPC, ``TritonBackend`` with system shared memory, and the latter with
``fused=False`` (tracked frames sent as encode + track, what a repository without the fused ``track_image`` step
gets, and what every version before the fused step did). The server is the
``tritonserver`` of the nvidia-pytriton wheel with samem's python-backend repository (``samem export``), started
here on loopback. Each is run with 1 video and with K concurrent videos (threads, one tracker and one backend each;
in process the videos share one model). Reported per backend: frames/s (all videos' frames over the wall time),
per-frame latency p50/p95 (time between a video's consecutive frames, all videos pooled; the first frame, which
includes prompt decoding, is left out), tensor bytes sent + received per frame, and the bytes of them that crossed
the gRPC connection. The last frame's mask logits of every Triton run are compared with the in-process run's.

PyTorch threads: --threads for the in-process model and for each Triton model (the server runs the five steps in
five processes, so with several videos it can use more cores than the in-process run; with one video the steps
alternate). GPU: --device cuda runs the in-process model and the python-backend models on the GPU (the wheel's
server, KIND_CPU instances that call CUDA from PyTorch); --model takes any NAME[:CHECKPOINT] (e.g.
sam2.1_hiera_l:/models/sam_em.pt). The ONNX/TensorRT variant needs NVIDIA's tritonserver container, not run here.

Random weights make every object absent (placeholder logits), so the object-score head's output bias is raised
by OBJECT_SCORE_BIAS (as in bench_engine.py) and the patched weights are written to a temporary checkpoint that
both the process and the server load.

Run: .venv/bin/python bench/bench_triton.py [--frames N] [--objects K] [--videos V] [--threads T]
[--image-size S] [--model NAME[:CHECKPOINT]] [--device cpu|cuda] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
import torch
from hardware import cpu_line

from samem.engine import Backend, LocalBackend, Preprocessor, Tracker
from samem.io.video import FrameGeometry, IntensityNormalizer, open_video
from samem.model import build_model
from samem.serving.repository import write_repository
from samem.serving.server import TritonServer
from samem.serving.triton_backend import TritonBackend
from samem.sim import layout_spec, write_video

SEED = 0
OBJECT_SCORE_BIAS = 1.0
SCORE_HEAD = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
HEIGHT, WIDTH, PX_NM, PARTICLES = 384, 512, 0.5, 10
WARMUP_FRAMES = 3


@dataclass
class Run:
    """One backend at one number of videos."""

    name: str
    videos: int
    frames: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds between consecutive frames of a video
    sent: int = 0
    received: int = 0
    wire: int = 0
    last_logits: list[np.ndarray] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames of all videos per second of wall time."""
        return self.frames / self.seconds

    def latency_ms(self, q: float) -> float:
        """A percentile of the per-frame latency in ms."""
        return 1000 * float(np.percentile(self.latencies, q))

    @property
    def bytes_per_frame(self) -> float:
        """Tensor bytes sent and received per frame."""
        return (self.sent + self.received) / self.frames

    @property
    def wire_per_frame(self) -> float:
        """Bytes per frame that crossed the gRPC connection."""
        return self.wire / self.frames


def make_inputs(workdir: Path, n_frames: int, n_objects: int, size: int) -> tuple[np.ndarray, list[torch.Tensor]]:
    """Boxes of the largest particles on frame 0 and the model images of a simulated clip."""
    spec = layout_spec(seed=SEED, width=WIDTH, height=HEIGHT, n_frames=n_frames, px_nm=PX_NM, n_particles=PARTICLES)
    write_video(spec, workdir / "clip", progress=False)
    labels = tifffile.imread(workdir / "clip" / "gt_masks.tif", key=0)
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    if len(ids) < n_objects:
        raise SystemExit(f"only {len(ids)} particles visible on frame 0, {n_objects} needed")
    boxes = []
    for k in ids[np.argsort(-areas, kind="stable")][:n_objects]:
        rows, cols = np.nonzero(labels == k)
        boxes.append((cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5))
    with open_video(workdir / "clip" / "video.tif") as reader:
        geometry = FrameGeometry(height=HEIGHT, width=WIDTH, size=size)
        prep = Preprocessor(normalizer=IntensityNormalizer.fit(reader), geometry=geometry)
        images = [prep(reader.read(i)) for i in range(n_frames)]
    return np.asarray(boxes), images


def track_video(
    backend: Backend, boxes: np.ndarray, images: list[torch.Tensor], n: int
) -> tuple[list[float], np.ndarray]:
    """Track ``boxes`` over the first ``n`` images; frame times (perf_counter) and the last frame's logits."""
    tracker = Tracker(backend, height=HEIGHT, width=WIDTH, num_frames=n)
    tracker.add_boxes(0, list(range(1, len(boxes) + 1)), boxes)
    times, last = [], None
    for result in tracker.propagate(lambda index: images[index]):
        times.append(time.perf_counter())
        last = result.mask_logits
    return times, last


def measure(
    name: str, videos: int, backends: Callable[[], list[Backend]], boxes: np.ndarray, images: list[torch.Tensor]
) -> Run:
    """Track ``videos`` copies of the clip concurrently, one backend each (after a short warm-up)."""
    run = Run(name, videos)
    made = backends()
    track_video(made[0], boxes, images, WARMUP_FRAMES)
    for backend in made:
        if isinstance(backend, TritonBackend):
            backend.traffic.reset()
    outputs: list[tuple[list[float], np.ndarray] | None] = [None] * videos
    barrier = threading.Barrier(videos + 1)

    def work(index: int) -> None:
        barrier.wait()
        outputs[index] = track_video(made[index], boxes, images, len(images))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(videos)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - start
    for output in outputs:
        if output is None:
            raise SystemExit(f"{name}: a video failed (see the error above)")
        times, last = output
        run.frames += len(times)
        run.latencies.extend(np.diff(times).tolist())
        run.last_logits.append(last)
    for backend in made:
        if isinstance(backend, TritonBackend):
            run.sent += backend.traffic.sent
            run.received += backend.traffic.received
            run.wire += backend.traffic.wire
            backend.close()
    return run


def _megabytes(value: float) -> str:
    return f"{value / 1e6:.2f} MB" if value else "0"


def report(runs: list[Run], args: argparse.Namespace) -> None:
    print("\n== summary (Markdown) ==\n")
    print(
        f"{args.frames} frames of {HEIGHT} x {WIDTH}, {args.objects} objects, model {args.model} at {args.size} px,"
        f" {args.threads} PyTorch thread(s) per model, {args.instances} Triton instance(s) per step, device"
        f" {args.device}, {args.precision}\n"
    )
    print(
        "| backend | videos | frames/s | / in-process | latency p50 (ms) | latency p95 (ms) | tensor bytes/frame"
        " | gRPC bytes/frame | max logit diff vs in-process |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    local = {r.videos: r for r in runs if r.name == "in-process"}
    for r in runs:
        base = local[r.videos]
        diff = max(float(np.abs(a - b).max()) for a, b in zip(r.last_logits, base.last_logits, strict=True))
        print(
            f"| {r.name} | {r.videos} | {r.fps:.2f} | {r.fps / base.fps:.2f}x | {r.latency_ms(50):.0f}"
            f" | {r.latency_ms(95):.0f} | {_megabytes(r.bytes_per_frame)} | {_megabytes(r.wire_per_frame)}"
            f" | {diff:.2g} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30, help="frames per video (default 30)")
    parser.add_argument("--objects", type=int, default=3, help="objects per video (default 3)")
    parser.add_argument("--videos", type=int, default=4, help="concurrent videos of the second run (default 4)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="PyTorch threads")
    parser.add_argument("--model", default="samem-compact:random", help="NAME[:CHECKPOINT] (default compact, random)")
    parser.add_argument("--image-size", type=int, help="model input size (default: the model's)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="both sides (default fp32)")
    parser.add_argument("--instances", type=int, default=1, help="Triton instances of each step model (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(cpu_line())
    print(f"python {platform.python_version()}, torch {torch.__version__}; load average {load}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_triton_") as tmp:
        workdir = Path(tmp)
        loaded = build_model(args.model, seed=SEED, image_size=args.image_size)
        state = loaded.model.state_dict()
        state[SCORE_HEAD] = state[SCORE_HEAD] + OBJECT_SCORE_BIAS
        checkpoint = workdir / "weights.pt"
        torch.save({"model": state}, checkpoint)
        spec = f"{loaded.spec.config_name}:{checkpoint}"
        size = args.size = int(loaded.model.image_size)
        model = build_model(spec, image_size=size, device=args.device).model
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"model {args.model} ({n_params / 1e6:.2f} M parameters) at {size} px, {args.threads} thread(s),"
            f" {args.device}, {args.precision}"
        )
        boxes, images = make_inputs(workdir, args.frames, args.objects, size)
        write_repository(
            workdir / "repository", spec, image_size=size, seed=SEED, device=args.device, precision=args.precision,
            instances=args.instances,
        )
        server = TritonServer(workdir / "repository", threads=args.threads, log_path=workdir / "triton.log")
        server.start()
        print(f"tritonserver ready on {server.grpc_url} after {time.perf_counter() - start:.0f} s", flush=True)
        local = LocalBackend(model, precision=args.precision)
        runs = []
        try:
            for videos in (1, args.videos):
                for name, make in (
                    ("in-process", lambda v=videos: [local] * v),
                    ("Triton gRPC", lambda v=videos: [TritonBackend(server.grpc_url) for _ in range(v)]),
                    (
                        "Triton shared memory",
                        lambda v=videos: [TritonBackend(server.grpc_url, shared_memory=True) for _ in range(v)],
                    ),
                    (
                        "Triton shared memory, unfused",
                        lambda v=videos: [
                            TritonBackend(server.grpc_url, shared_memory=True, fused=False) for _ in range(v)
                        ],
                    ),
                ):
                    run = measure(name, videos, make, boxes, images)
                    runs.append(run)
                    print(
                        f"{name}, {videos} video(s): {run.fps:.2f} frames/s, p50 {run.latency_ms(50):.0f} ms,"
                        f" p95 {run.latency_ms(95):.0f} ms, {run.bytes_per_frame / 1e6:.2f} MB/frame",
                        flush=True,
                    )
        finally:
            server.stop()
    report(runs, args)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\ntotal time {time.perf_counter() - start:.0f} s; load average at the end {load}")


if __name__ == "__main__":
    main()
