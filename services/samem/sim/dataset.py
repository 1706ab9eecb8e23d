"""Dataset mode: many randomised clips split into train/val/test, plus a dataset.json index.

Layout: ``OUT_DIR/{train,val,test}/clip_00000/`` (the files of :mod:`samem.sim.writer`, clips numbered per
split) and ``OUT_DIR/dataset.json``. Clip i (over the whole dataset, in the order train, val, test) draws its spec
from child i of ``numpy.random.SeedSequence(seed).spawn(n_clips)``; the whole tree is written atomically.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import numpy as np
from tqdm import tqdm

from samem.errors import InputError
from samem.io.output import atomic_output_dir
from samem.sim.randomize import random_spec
from samem.sim.writer import SIMULATOR_VERSION, write_clip

SPLITS = ("train", "val", "test")


def split_counts(n_clips: int, fractions: tuple[float, float, float]) -> dict[str, int]:
    """Clips per split (largest-remainder rounding, total ``n_clips``); fractions must be >= 0 and sum to 1."""
    if len(fractions) != 3 or any(not math.isfinite(f) or f < 0 for f in fractions):
        raise InputError(f"splits must be three fractions >= 0 (train, val, test), got {fractions!r}")
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise InputError(f"split fractions must sum to 1, got {sum(fractions):g}")
    exact = [n_clips * f for f in fractions]
    counts = [math.floor(e) for e in exact]
    for i in sorted(range(3), key=lambda i: counts[i] - exact[i])[: n_clips - sum(counts)]:
        counts[i] += 1
    return dict(zip(SPLITS, counts, strict=True))


def write_dataset(
    out_dir: str | os.PathLike[str],
    *,
    n_clips: int,
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    frame_size: tuple[int, int] = (512, 1024),
    n_frames: tuple[int, int] = (8, 16),
    max_particles: int = 10,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``n_clips`` randomised clips with train/val/test splits into ``out_dir``; return the index dict.

    Parameters are those of :func:`samem.sim.randomize.random_spec`; ``seed`` is the base seed.
    """
    if isinstance(n_clips, bool) or not isinstance(n_clips, int) or n_clips < 1:
        raise InputError(f"number of clips must be an integer >= 1, got {n_clips!r}")
    counts = split_counts(n_clips, splits)
    children = np.random.SeedSequence(seed).spawn(n_clips)
    assignment = [(split, i) for split in SPLITS for i in range(counts[split])]
    clips = []
    with atomic_output_dir(out_dir) as staging:
        bar = tqdm(total=n_clips, desc="clips", unit="clip", disable=not progress, file=sys.stderr)
        with bar:
            for child, (split, number) in zip(children, assignment, strict=True):
                spec_rng, sim_seed = child.spawn(2)
                spec = random_spec(
                    np.random.default_rng(spec_rng),
                    frame_size=frame_size,
                    n_frames=n_frames,
                    max_particles=max_particles,
                    seed=int(sim_seed.generate_state(1)[0]),
                )
                relative = f"{split}/clip_{number:05d}"
                (staging / relative).mkdir(parents=True)
                meta = write_clip(spec, staging / relative)
                clips.append(
                    {
                        "path": relative,
                        "split": split,
                        "seed": spec.seed,
                        "height": spec.height,
                        "width": spec.width,
                        "n_frames": spec.n_frames,
                        "n_particles": len(spec.particles),
                        "shapes": sorted({p.shape for p in spec.particles}),
                        "video_dtype": meta["video_dtype"],
                        "snr": meta["snr"],
                    }
                )
                bar.update()
        index = {
            "simulator_version": SIMULATOR_VERSION,
            "seed": seed,
            "n_clips": n_clips,
            "splits": counts,
            "split_fractions": list(splits),
            "params": {"frame_size": list(frame_size), "n_frames": list(n_frames), "max_particles": max_particles},
            "clips": clips,
        }
        with open(staging / "dataset.json", "w") as handle:
            json.dump(index, handle, indent=2)
            handle.write("\n")
    return index
