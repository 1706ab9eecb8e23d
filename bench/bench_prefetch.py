"""Benchmark: the engine with the next frame prepared on a worker thread against frames prepared inline.

The prefetched way is ``FrameFeed``, what ``samem track`` and the service use; the inline way reads and prepares
every frame when the engine asks for it. Same weights (``--model``, seeded random, object-score bias raised as in
bench_engine.py), the same simulated 384 x 512 clip, the same objects; the two ways alternate, ``--repeats`` times
each, best kept. Per frame the engine reads the TIFF page, normalises it by the video's percentiles and resizes it
to the model's input (3 ms at 512 px, 16 ms at 1024 px on one AMD EPYC core): on a CPU that work competes with the
model for the same cores, on a GPU it can overlap the GPU's work. The masks of both ways must be identical.

Run: .venv/bin/python bench/bench_prefetch.py [--frames N] [--objects K] [--repeats R] [--device cpu|cuda]
[--precision fp32|bf16] [--model NAME:random]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch
from bench_engine import (
    SPEED_HEIGHT,
    SPEED_PARTICLES,
    SPEED_PX_NM,
    SPEED_WIDTH,
    engine_model,
    gt_boxes,
    make_clip,
    run_engine,
)
from bench_engine import preprocessor as make_preprocessor
from hardware import cpu_line

from samem.engine import LocalBackend
from samem.io.video import open_video

MODEL = "samem-compact:random"
WAYS = {"inline": True, "prefetched": False}  # name -> run_engine's ``inline``


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="frames per run (default 40)")
    parser.add_argument("--objects", type=int, default=1, help="objects tracked (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each way, best kept (default 3)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="default fp32")
    parser.add_argument("--model", default=MODEL, help=f"NAME:random (default {MODEL})")
    args = parser.parse_args()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    print(cpu_line())
    print(f"python {platform.python_version()}, torch {torch.__version__}; load average {load}")
    model = engine_model(args.device, args.model)
    backend = LocalBackend(model, precision=args.precision)
    with tempfile.TemporaryDirectory(prefix="bench_prefetch_") as tmp:
        clip = make_clip(Path(tmp), n_frames=args.frames, height=SPEED_HEIGHT, width=SPEED_WIDTH,
                         px_nm=SPEED_PX_NM, n_particles=SPEED_PARTICLES)  # fmt: skip
        ids, boxes = gt_boxes(clip, args.objects)
        with open_video(clip / "video.tif") as reader:
            prep = make_preprocessor(reader, backend.settings.image_size)
            run_engine(backend, reader, prep, ids, boxes, min(4, args.frames), inline=True)  # warm-up
            seconds: dict[str, list[float]] = {name: [] for name in WAYS}
            logits: dict[str, np.ndarray] = {}
            for _ in range(args.repeats):
                for name, inline in WAYS.items():
                    timing = run_engine(backend, reader, prep, ids, boxes, args.frames, inline=inline)
                    seconds[name].append(timing.seconds)
                    logits[name] = timing.last_logits
    fps = {name: args.frames / min(values) for name, values in seconds.items()}
    same = np.array_equal(logits["inline"], logits["prefetched"])
    print("\n== summary (Markdown) ==\n")
    print(
        f"{args.frames} frames of {SPEED_HEIGHT} x {SPEED_WIDTH}, {args.objects} object(s), {args.model} at"
        f" {backend.settings.image_size} px, {args.device}, {args.precision}, {torch.get_num_threads()} thread(s),"
        f" best of {args.repeats}\n"
    )
    print("| frames | frames/s inline | frames/s prefetched | prefetched / inline | identical masks |")
    print("|---|---:|---:|---:|---|")
    print(f"| {args.frames} | {fps['inline']:.2f} | {fps['prefetched']:.2f} |"
          f" {fps['prefetched'] / fps['inline']:.2f}x | {'yes' if same else 'NO'} |")  # fmt: skip
    if not same:
        raise SystemExit("the prefetched run's masks differ from the inline run's")


if __name__ == "__main__":
    main()
