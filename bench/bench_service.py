"""Benchmark: concurrent clients tracking simulated videos through the real service stack.

``samem up`` (in a temporary state directory, free ports, no dashboard) starts Redis, the gRPC service and one
Celery worker (``--workers N`` adds N - 1 more ``samem worker`` processes); then ``--clients`` threads each
upload their own simulated video of ``--frames`` frames, prompt its particles, start a propagation, poll the job
(GetJob) and list their videos every ``--poll`` seconds until it ends, and fetch the trajectories. Reported:
frames/s over the wall time from the first upload to the last trajectories, per-job time (submit to SUCCEEDED)
p50/p95, unary-call latency p50/p95 (every unary call of every client, under load), and failed requests. Then,
on the idle stack, one live session (``Live.Track``, the server's in-process engine) pushes the first clip frame by
frame: the service's per-frame latency (frame received -> masks and centroids sent) and the client's round trip.
Random compact weights with a raised object-score bias (so masks are non-empty); ``--image-size`` sets the model
input (small by default: this measures the service, not the model).

Run: .venv/bin/python bench/bench_service.py [--clients 8] [--frames 100] [--workers 1] [--image-size 64]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch
from hardware import cpu_line

from samem.client import Client, ClientError
from samem.measure import mask_box
from samem.model import build_model
from samem.service import processes
from samem.service.api import tracking_pb2 as pb
from samem.service.config import ServiceConfig
from samem.service.stack import StackOptions, down, up
from samem.sim import layout_spec, simulate_video
from samem.tracking.prompts import PromptSpec

SCORE_HEAD = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
HEIGHT, WIDTH = 96, 128


@dataclass
class ClientRun:
    """What one client saw."""

    job_s: float = 0.0
    frames: int = 0
    unary_ms: list[float] = field(default_factory=list)
    failed: int = 0
    error: str = ""


def write_clip(path: Path, seed: int, n_frames: int) -> list[PromptSpec]:
    """A simulated 2-particle video (TIFF) and a box per particle on frame 0."""
    spec = layout_spec(seed=seed, width=WIDTH, height=HEIGHT, n_frames=n_frames, n_particles=2, shape="sphere",
                       size_nm=(8.0, 10.0))  # fmt: skip
    clip = simulate_video(spec)
    tifffile.imwrite(path, clip.video)
    ids = [int(k) for k in np.unique(clip.labels[0]) if k]
    return [PromptSpec(particle=k, frame=0, box=mask_box(clip.labels[0] == k)) for k in ids]


def write_checkpoint(path: Path, image_size: int) -> Path:
    """Random compact weights whose objects read as present."""
    state = build_model("samem-compact:random").model.state_dict()
    state[SCORE_HEAD] += 20.0
    torch.save({"model": state, "image_size": image_size}, path)
    return path


def run_client(address: str, token: str, clip: Path, prompts: list[PromptSpec], poll_s: float, out: ClientRun) -> None:
    """Upload, prompt, propagate, poll, fetch; record latencies and failures."""
    with Client(address, token=token, timeout_s=60) as client:

        def unary(call: Callable[[], Any]) -> Any:
            started = time.perf_counter()
            try:
                return call()
            except ClientError:
                out.failed += 1
                raise
            finally:
                out.unary_ms.append((time.perf_counter() - started) * 1000)

        try:
            video_id = client.upload_video(clip, px_nm=0.5, fps=20).video_id
            unary(lambda: client.set_prompts(video_id, prompts))
            submitted = time.perf_counter()
            job = unary(lambda: client.start_propagation(video_id))
            job_id = job.job_id
            while job.state not in (pb.SUCCEEDED, pb.FAILED, pb.CANCELLED):
                time.sleep(poll_s)
                job = unary(lambda: client.get_job(job_id))
                unary(client.list_videos)
            out.job_s = time.perf_counter() - submitted
            if job.state != pb.SUCCEEDED:
                out.error = f"{pb.JobState.Name(job.state)}: {job.error}"
                return
            table = unary(lambda: client.trajectories(job_id))
            out.frames = int(table["frame"].nunique())
        except ClientError as e:
            out.error = str(e)


def live_latencies(address: str, token: str, clip: Path, prompts: list[PromptSpec]) -> tuple[list[float], list[float]]:
    """Per-frame (server ms, client round-trip ms) of one live session over ``clip``.

    One frame in flight at a time (a microscope waiting for each answer); the first frame, which also opens the
    session, is left out.
    """
    video = tifffile.imread(clip).astype(np.float32)
    low, high = float(video.min()), float(video.max())
    server_ms, client_ms = [], []
    sent = [0.0]

    def paced() -> Iterator[np.ndarray]:
        for index, frame in enumerate(video):
            sent[0] = time.perf_counter()
            yield frame
            while len(client_ms) <= index:  # the next frame goes out once this one is answered
                time.sleep(0.0005)

    with Client(address, token=token) as client:
        for response in client.live(paced(), prompts, low=low, high=high, n_frames=len(video)):
            client_ms.append((time.perf_counter() - sent[0]) * 1e3)
            server_ms.append(response.latency_ms)
    return server_ms[1:], client_ms[1:]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, NaN for no values."""
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between a client's status polls")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="samem-bench-service-"))
    checkpoint = write_checkpoint(scratch / "present.pt", args.image_size)
    clips = []
    for index in range(args.clients):
        path = scratch / f"clip-{index}.tif"
        clips.append((path, write_clip(path, seed=index, n_frames=args.frames)))
    state_dir = scratch / "stack"
    options = StackOptions(
        state_dir=state_dir, port=0, dashboard=False, redis_url=f"redis://127.0.0.1:{processes.free_port('127.0.0.1')}/0",
        model=f"samem-compact:{checkpoint}", image_size=args.image_size,
    )  # fmt: skip
    os.environ["SAMEM_MAX_ACTIVE_JOBS"] = str(max(args.clients, 4))  # all clients share the stack's user token
    os.environ["SAMEM_LIVE_BACKEND"] = "local"  # the live session below runs in the service process
    state = up(options)
    extra = []
    try:
        config = ServiceConfig.from_env(redis_url=state.redis_url, storage=state_dir / "storage",
                                        model=options.model, image_size=args.image_size)  # fmt: skip
        env = {**os.environ, **config.environment(), "OMP_NUM_THREADS": "1"}
        for index in range(args.workers - 1):
            log = state_dir / "logs" / f"bench-worker-{index}.log"
            extra.append(processes.spawn([sys.executable, "-m", "samem", "worker"], log_path=log, env=env,
                                         cwd=state_dir))  # fmt: skip
        if extra:
            time.sleep(15)  # let the extra workers load the model
        runs = [ClientRun() for _ in clips]
        threads = [
            threading.Thread(target=run_client, args=(state.address, state.token, clip, prompts, args.poll, run))
            for (clip, prompts), run in zip(clips, runs, strict=True)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        live_server_ms, live_client_ms = live_latencies(state.address, state.token, *clips[0])
    finally:
        for process in extra:
            processes.stop(process, grace_s=10)
        with contextlib.suppress(Exception):
            down(state_dir)
    latencies = [ms for run in runs for ms in run.unary_ms]
    jobs = [run.job_s for run in runs if not run.error]
    frames = sum(run.frames for run in runs)
    print(cpu_line())
    print(f"torch {torch.__version__}; samem-compact random weights at {args.image_size} px; {HEIGHT} x {WIDTH} "
          f"frames, 2 particles; {args.workers} worker(s); status poll every {args.poll} s")  # fmt: skip
    print()
    print("| clients | frames each | workers | wall | frames/s | job p50 | job p95 | unary p50 | unary p95 | "
          "unary calls | failed requests | failed jobs |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {args.clients} | {args.frames} | {args.workers} | {wall:.1f} s | {frames / wall:.1f} | "
          f"{percentile(jobs, 50):.1f} s | {percentile(jobs, 95):.1f} s | {percentile(latencies, 50):.1f} ms | "
          f"{percentile(latencies, 95):.1f} ms | {len(latencies)} | {sum(r.failed for r in runs)} | "
          f"{sum(1 for r in runs if r.error)} |")  # fmt: skip
    print()
    print("| live frames | service p50 | service p95 | round trip p50 | round trip p95 |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    live = [percentile(values, q) for values in (live_server_ms, live_client_ms) for q in (50, 95)]
    print(f"| {len(live_server_ms)} | " + " | ".join(f"{ms:.1f} ms" for ms in live) + " |")
    for index, run in enumerate(runs):
        if run.error:
            print(f"client {index}: {run.error}", file=sys.stderr)
    return 0 if all(not r.error for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
