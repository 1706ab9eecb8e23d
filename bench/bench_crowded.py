"""Tracking accuracy on crowded, fast scenes: videos like ``make demo``'s, scored per particle.

Videos: ``samem simulate --seed S`` (S = 1-14 by default; six particles of mixed shapes, 8-25 nm, D = 50 nm^2/s at
0.5 nm/px and 20 frames/s, i.e. 4.5 px steps per axis per frame; 150 nm of water; 384 x 512 px, 200 frames), each
prompted with its ``prompts.json`` (one box per particle on frame 0) and tracked with ``samem.track`` in ``--jobs``
processes of one thread. Per particle: mean J over the frames it is in view, mean J over all frames (absent from
both scores 1), and leftover frames (the particle is out of view, its mask is not). Per video, what the analysis
makes of the trajectories, as ``samem track --analyze`` runs it (positions at the frame edge are gaps): the ensemble
D (CVE) over the simulated D, also with the positions each of ``GATES`` leaves out as gaps (``samem analyze
--min-iou P`` and ``--max-area-change F``), the share of the positions each keeps, of those with J >= 0.5 and J < 0.1,
whether the particles' D differ beyond their errors (Cochran's Q) and the pairs of tracks that sit on one spot.
``--csv`` keeps the per-particle rows (the per-video columns repeated); ``--compare OTHER.csv`` prints the paired
difference against a run of another commit or model on the same videos.

Run: .venv/bin/python bench/bench_crowded.py [--seeds 1-14] [--jobs 2] [--model SPEC] [--zoom auto|off]
     [--no-follow-motion] [--cache DIR] [--csv OUT.csv] [--compare OTHER.csv]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
import torch
from bench_edge import seed_range
from hardware import cpu_line

from samem.analysis.pipeline import analyze
from samem.argtypes import zoom_choice
from samem.io.tables import GapRules, observed_rows, validate_trajectories
from samem.tracking import track
from samem.tracking.prompts import read_prompt_file


def simulated(seed: int, cache: Path) -> Path:
    """The directory of ``samem simulate --seed SEED`` (written once into ``cache``)."""
    out = cache / f"v{seed}"
    if not (out / "meta.json").is_file():
        subprocess.run([sys.executable, "-m", "samem", "simulate", str(out), "--seed", str(seed), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return out


def frame_j(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """J of each frame of boolean stacks [T, H, W] of one particle (absent from both: 1)."""
    union = (pred | true).sum((1, 2))
    return np.where(union > 0, (pred & true).sum((1, 2)) / np.maximum(union, 1), 1.0)


def particle_scores(masks: np.ndarray, truth: np.ndarray) -> list[dict[str, float]]:
    """J in view, J over all frames and leftover frames of every particle of label stacks ``truth``."""
    rows = []
    for particle in (int(p) for p in np.unique(truth) if p):
        pred, true = masks == particle, truth == particle
        j = frame_j(pred, true)
        in_view = true.any((1, 2))
        rows.append({"particle": particle, "J_in_view": float(j[in_view].mean()), "J_all": float(j.mean()),
                     "frames_out": int((~in_view).sum()),
                     "leftover": int((~in_view & pred.any((1, 2))).sum())})  # fmt: skip
    return rows


# The gates whose D ratios and kept positions the bench reports side by side (columns D_<name>, n_good_<name>, ...):
# samem analyze --min-iou P (iouP) and --max-area-change F (areaF).
GATES = {
    **{f"iou{p}": GapRules(min_iou=p) for p in (0.5, 0.6, 0.7, 0.8)},
    **{f"area{f:g}": GapRules(max_area_change=f) for f in (1.5, 2.0, 3.0)},
}


def analysis_checks(trajectories: pd.DataFrame, meta: dict) -> dict[str, float | int | bool]:
    """Ensemble D (CVE) over the simulated D, Cochran's verdict and coincident pairs, edge positions as gaps.

    ``D_<gate>`` is the D ratio with the positions each of :data:`GATES` leaves out also taken as gaps.
    """
    true_d = float(np.mean([p["D_nm2_s"] for p in meta["particles"]]))

    def d_ratio(rules: GapRules) -> tuple[float, dict]:
        inside = observed_rows(trajectories, rules).rows
        result = analyze(validate_trajectories(inside), px_nm=meta["px_nm"], fps=meta["fps"], n_bootstrap=0)
        return result.ensemble["cve"]["D_nm2_s"] / true_d, result

    ratio, result = d_ratio(GapRules())
    gated = {f"D_{name}": d_ratio(rules)[0] for name, rules in GATES.items()}
    return {"D_ratio": ratio, **gated, "D_differ": bool(result.ensemble["cve"]["particles_differ"]),
            "pairs": len(result.coincident)}  # fmt: skip


def row_j(trajectories: pd.DataFrame, masks: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """J of each trajectory row's mask (label stacks ``masks`` and ``truth``; absent from both: 1)."""
    scores = np.empty(len(trajectories))
    particles, frames = trajectories.particle.to_numpy(), trajectories.frame.to_numpy()
    for particle in np.unique(particles):
        rows = particles == particle
        scores[rows] = frame_j(masks == particle, truth == particle)[frames[rows]]
    return scores


def kept_by_gates(trajectories: pd.DataFrame, j: np.ndarray) -> dict[str, int]:
    """Present positions, and those with J >= 0.5 and J < 0.1, in all and kept by each gate (columns n_*).

    Each gate alone, edge positions kept: what it adds to the edge rule.
    """
    present = trajectories.present.to_numpy(bool)
    kept = {
        name: trajectories.index.isin(observed_rows(trajectories, replace(rules, keep_edge=True)).rows.index)
        for name, rules in GATES.items()
    }  # fmt: skip
    counts = {}
    for group, chosen in (("all", present), ("good", present & (j >= 0.5)), ("bad", present & (j < 0.1))):
        counts[f"n_{group}"] = int(chosen.sum())
        counts |= {f"n_{group}_{name}": int((chosen & keep).sum()) for name, keep in kept.items()}
    return counts


def one_video(
    seed: int, *, cache: Path, model: str, zoom: float | str | None, follow_motion: bool = True
) -> list[dict]:
    """Track one video on one thread and score its particles (``zoom``: "auto", None for whole frames, or Z)."""
    torch.set_num_threads(1)
    folder = simulated(seed, cache)
    started = time.perf_counter()
    result = track(folder / "video.tif", read_prompt_file(folder / "prompts.json"), model=model, return_masks=True,
                   overlay=None, zoom=zoom, follow_motion=follow_motion)  # fmt: skip
    seconds = time.perf_counter() - started
    truth = tifffile.imread(folder / "gt_masks.tif")
    rows = particle_scores(result.masks, truth)
    checks = analysis_checks(result.trajectories, json.loads((folder / "meta.json").read_text()))
    kept = kept_by_gates(result.trajectories, row_j(result.trajectories, result.masks, truth))
    video = {"seed": seed, "zoom": str(result.run["zoom"] or "off"), "seconds": seconds} | checks | kept
    return [video | row for row in rows]


def summary(table: pd.DataFrame) -> str:
    """Means over particles; the analysis per video, where the table has it (CSVs of older runs do not)."""
    text = (f"mean J in view {table.J_in_view.mean():.3f}, over all frames {table.J_all.mean():.3f}; leftover "
            f"frames {table.leftover.sum()} of {table.frames_out.sum()} out of view")  # fmt: skip
    if "D_ratio" not in table.columns:
        return text
    videos = table.groupby("seed").first()
    gated = ""
    for name in [g for g in GATES if f"n_all_{g}" in videos.columns]:
        ratios, share = videos[f"D_{name}"], {n: videos[f"n_{n}_{name}"].sum() / videos[f"n_{n}"].sum()
                                              for n in ("all", "good", "bad")}  # fmt: skip
        gated += (f"\n  {name}: D / true D {ratios.min():.2g}-{ratios.max():.2g} (median {ratios.median():.2g});"
                  f" positions kept {share['all']:.0%}, of those with J >= 0.5 {share['good']:.0%}, with J < 0.1"
                  f" {share['bad']:.0%}")  # fmt: skip
    return (f"{text}; D (CVE) / true D {videos.D_ratio.min():.2g}-{videos.D_ratio.max():.2g} (median "
            f"{videos.D_ratio.median():.2g}), particles' D differ on {videos.D_differ.sum()} of {len(videos)} "
            f"videos, coincident pairs {videos.pairs.sum()} on {(videos.pairs > 0).sum()}{gated}")  # fmt: skip


def paired(table: pd.DataFrame, other: pd.DataFrame) -> str:
    """``table`` minus ``other``, per particle of the same videos: mean +- standard error, and videos up / down."""
    both = table.merge(other, on=["seed", "particle"], suffixes=("", "_other"))
    lines = []
    for column in ("J_in_view", "J_all"):
        diff = both[column] - both[f"{column}_other"]
        per_video = diff.groupby(both.seed).mean()
        lines.append(f"{column}: {diff.mean():+.4f} +- {diff.std(ddof=1) / np.sqrt(len(diff)):.4f} over "
                     f"{len(diff)} particles; videos better {(per_video > 1e-9).sum()}, worse "
                     f"{(per_video < -1e-9).sum()}, unchanged {(per_video.abs() <= 1e-9).sum()}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seed_range, default=seed_range("1-14"), help="A-B or A,B,C (default 1-14)")
    parser.add_argument("--jobs", type=int, default=2, help="videos tracked at once, one thread each (default 2)")
    parser.add_argument("--model", default="samem-compact")
    parser.add_argument("--zoom", type=zoom_choice, default="auto", help="auto (default), off, or a number >= 1")
    parser.add_argument("--no-follow-motion", dest="follow_motion", action="store_false",
                        help="windows follow the masks only (samem track --no-follow-motion)")
    parser.add_argument("--cache", type=Path, default=None, help="keep the simulated videos here")
    parser.add_argument("--csv", type=Path, default=None, help="write the per-particle rows here")
    parser.add_argument("--compare", type=Path, default=None, help="a --csv of another run to pair with")
    args = parser.parse_args()
    print(cpu_line())
    seeds = f"{args.seeds[0]}..{args.seeds[-1]}"
    print(f"model {args.model}, zoom {args.zoom or 'off'}, follow motion {args.follow_motion}; videos of samem "
          f"simulate --seed {seeds}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="samem-bench-crowded-") as scratch:
        cache = args.cache or Path(scratch)
        cache.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:  # simulate first, so that workers do not race to write one video
            simulated(seed, cache)
        work = partial(one_video, cache=cache, model=args.model, zoom=args.zoom, follow_motion=args.follow_motion)
        with ProcessPoolExecutor(args.jobs) as pool:
            table = pd.DataFrame([row for rows in pool.map(work, args.seeds) for row in rows])
    per_video = table.groupby("seed").agg(zoom=("zoom", "first"), particles=("particle", "size"),
                                          J_in_view=("J_in_view", "mean"), J_all=("J_all", "mean"),
                                          leftover=("leftover", "sum"), D_ratio=("D_ratio", "first"),
                                          D_iou06=("D_iou0.6", "first"), D_area2=("D_area2", "first"),
                                          D_differ=("D_differ", "first"),
                                          pairs=("pairs", "first"), seconds=("seconds", "first"))  # fmt: skip
    print(per_video.to_string(float_format=lambda v: f"{v:.3f}"))
    print(summary(table))
    if args.csv is not None:
        table.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
    if args.compare is not None:
        other = pd.read_csv(args.compare)
        print(f"against {args.compare} ({summary(other)}):")
        print(paired(table, other))


if __name__ == "__main__":
    main()
