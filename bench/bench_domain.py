"""Accuracy across the randomised simulation domain: mean J of a model on held-out random clips.

The test sets of ``samem eval`` hold one kind of particle; this bench draws clips from the training randomiser
(:func:`samem.sim.randomize.random_spec`: shapes, sizes, motion, contrast, noise, blur, gradients, JPEG; 512-1024 px
frames) with seeds that training never uses, prompts every particle of at least 16 px that is visible on frame 0
with its box, tracks with ``zoom="auto"`` and scores J per object and frame (an object absent from both the truth
and the prediction scores 1). Run it on two commits to compare engines or models on the same clips.

Run: .venv/bin/python bench/bench_domain.py [--clips 15] [--frames 30] [--model samem-compact] [--cache DIR]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import torch
from hardware import cpu_line

from samem.measure import label_boxes
from samem.model import build_model
from samem.sim import simulate_video
from samem.sim.randomize import random_spec
from samem.tracking import track
from samem.tracking.prompts import PromptSpec

SEED = 777  # training draws its clips from other seeds
MIN_AREA_PX = 16


def clip(index: int, n_frames: int, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Video and labels of random clip ``index`` (rendered once into ``cache`` when given)."""
    path = cache / f"clip{index:03d}_{n_frames}.npz" if cache is not None else None
    if path is not None and path.is_file():
        data = np.load(path)
        return data["video"], data["labels"]
    spec = random_spec(np.random.default_rng([SEED, index]), frame_size=(512, 1024), n_frames=(n_frames, n_frames),
                       max_particles=6)  # fmt: skip
    result = simulate_video(spec)
    video, labels = result.video.astype(np.float32), result.labels
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, video=video, labels=labels)
    return video, labels


def render_clips(indices: range, n_frames: int, cache: Path, jobs: int) -> None:
    """Render the clips of ``indices`` missing from ``cache`` in ``jobs`` processes (the simulator uses one core)."""
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            list(pool.map(partial(_render, n_frames=n_frames, cache=cache), indices))


def _render(index: int, *, n_frames: int, cache: Path) -> None:
    clip(index, n_frames, cache)


def clip_prompts(labels: np.ndarray) -> list[PromptSpec]:
    """A box prompt on frame 0 for every particle of at least ``MIN_AREA_PX`` pixels there."""
    boxes = {k: b for k, b in label_boxes(labels[0]).items() if (labels[0] == k).sum() >= MIN_AREA_PX}
    return [PromptSpec(particle=int(k), frame=0, box=tuple(b)) for k, b in boxes.items()]


def mean_j(masks: np.ndarray, reference: np.ndarray, particles: list[int]) -> float:
    """Mean J of ``particles`` in two label stacks over objects and frames (absent from both: 1)."""
    scores = []
    for k in particles:
        for t in range(len(masks)):
            pred, truth = masks[t] == k, reference[t] == k
            union = np.logical_or(pred, truth).sum()
            scores.append(np.logical_and(pred, truth).sum() / union if union else 1.0)
    return float(np.mean(scores))


def clip_j(model, video: np.ndarray, labels: np.ndarray) -> tuple[float, int, object] | None:
    """Mean J over prompted objects and frames, the number of objects and the zoom used; None without objects."""
    prompts = clip_prompts(labels)
    if not prompts:
        return None
    result = track(video, prompts, model=model, return_masks=True, overlay=None)
    return mean_j(result.masks, labels, [p.particle for p in prompts]), len(prompts), result.run["zoom"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=15)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--model", default="samem-compact")
    parser.add_argument("--cache", type=Path, default=None, help="keep rendered clips here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = build_model(args.model)
    print(cpu_line())
    print(f"model {model.spec}; {args.clips} random clips x {args.frames} frames (seed {SEED})")
    print("| clip | frame (px) | objects | zoom | J |\n|---|---|---|---|---|")
    means, started = [], time.perf_counter()
    for index in range(args.clips):
        video, labels = clip(index, args.frames, args.cache)
        scored = clip_j(model, video, labels)
        if scored is None:
            print(f"| {index} | {video.shape[2]} x {video.shape[1]} | 0 | - | - |")
            continue
        j, n_objects, zoom = scored
        means.append(j)
        print(f"| {index} | {video.shape[2]} x {video.shape[1]} | {n_objects} | {zoom or 'off'} | {j:.3f} |")
    print(f"mean J over {len(means)} clips: {np.mean(means):.3f} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
