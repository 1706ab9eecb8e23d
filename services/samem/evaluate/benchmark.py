"""Run methods on the test sets and score them: :func:`run_benchmark`.

For each liquid thickness, each method is first tuned on that thickness's tuning video (only trackpy uses it), then
run on every test video; its label stack is scored with :func:`~samem.evaluate.evaluate_video` against
``gt_masks.tif``. The diffusion coefficient is recovered from the method's trajectories by
:func:`samem.analysis.analyze` (covariance-based estimator; the videos of one thickness share D, pixel size and
frame rate, so their trajectories are pooled) and compared with the simulator's D. The simulator renders
instantaneous positions, so the analysis runs without motion-blur correction (``exposure_fraction=0``). The same
estimate from the true positions (``gt_tracks.csv`` x, y) is the floor set by the finite number of steps.

Summaries per method x thickness average the per-video metrics over the thickness's videos (ID switches add up).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from samem.errors import InputError
from samem.evaluate.centroids import centroid_rmse_from_tables
from samem.evaluate.methods import Method, MethodOutput, gt_labels
from samem.evaluate.runcache import RunCache
from samem.evaluate.testsets import EvalVideo
from samem.evaluate.video import evaluate_video
from samem.io.tables import drop_absent_rows

#: Per-video scalars kept from :func:`~samem.evaluate.evaluate_video`.
METRIC_KEYS = (
    "J", "F", "J&F", "Dice", "HOTA", "DetA", "AssA", "IDF1", "detection_recall", "detection_precision",
    "id_switches", "MOTA", "centroid_rmse_px",
)  # fmt: skip
#: Averaged over the videos of a thickness (the rest of METRIC_KEYS except ID switches, which are summed).
MEAN_KEYS = tuple(key for key in METRIC_KEYS if key != "id_switches")
MIN_TRACK_FRAMES = 10  # trajectories shorter than this do not enter the D estimate (analyze's default)


@dataclass(frozen=True, kw_only=True)
class BenchmarkResult:
    """Scores of every method on every test video, their summaries per thickness, and how they were obtained.

    Attributes
    ----------
    per_video : pandas.DataFrame
        One row per method x video: ``method``, ``thickness_nm``, ``video``, ``snr``, :data:`METRIC_KEYS`,
        ``trajectory_rmse_px`` (method positions vs true centres, pairs from IDF1 matching), ``seconds``, ``fps``.
    summary : pandas.DataFrame
        One row per method x thickness: ``method``, ``label``, ``thickness_nm``, ``snr`` (mean), the means of
        :data:`MEAN_KEYS`, ``id_switches`` (sum), ``D_true_nm2_s``, ``D_nm2_s``, ``D_err_nm2_s``,
        ``D_error_pct`` (signed, relative to the truth), ``D_floor_pct`` (the same from the true positions),
        ``n_tracks_D``.
    tuning : dict
        ``{method: {thickness: tuned parameters}}``.
    notes : list of str
        Skipped methods, failed D estimates and other remarks for the report.
    """

    per_video: pd.DataFrame
    summary: pd.DataFrame
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def pooled_trajectories(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack trajectory tables of different videos into one with distinct particle ids (1, 2, ...).

    Rows that a ``present`` column marks false, and rows without a finite position, are dropped.
    """
    parts = []
    offset = 0
    for table in tables:
        rows = drop_absent_rows(table)[["frame", "particle", "x", "y"]].astype(float)
        rows = rows[np.isfinite(rows.to_numpy()).all(axis=1)]
        if rows.empty:
            continue
        ids, inverse = np.unique(rows["particle"].to_numpy(), return_inverse=True)
        parts.append(rows.assign(particle=inverse + 1 + offset))
        offset += ids.size
    if not parts:
        return pd.DataFrame({"frame": [], "particle": [], "x": [], "y": []})
    return pd.concat(parts, ignore_index=True).astype({"frame": np.int64, "particle": np.int64})


def diffusion_estimate(tables: Sequence[pd.DataFrame], *, px_nm: float, fps: float) -> dict[str, Any]:
    """D (nm^2/s) by the covariance-based estimator from pooled trajectories (pixels, frames/s).

    Returns ``{"D_nm2_s", "D_err_nm2_s", "n_tracks", "note", "step_r2", "analysis_notes"}``; NaN with a note when no
    trajectory has :data:`MIN_TRACK_FRAMES` frames. ``step_r2`` is the correlation of displacements two frames
    apart, which the estimator assumes to be 0 (:func:`samem.analysis.cve.step_correlation`); ``analysis_notes``
    say when it is not.

    References
    ----------
    C. L. Vestergaard, P. C. Blainey, H. Flyvbjerg, Phys. Rev. E 89, 022726 (2014), Eqs. 14-15 (via
    :func:`samem.analysis.analyze`).
    """
    from samem.analysis import analyze

    tracks = pooled_trajectories(tables)
    lengths = tracks.groupby("particle").size() if len(tracks) else pd.Series(dtype=int)
    n_long = int((lengths >= MIN_TRACK_FRAMES).sum())
    if n_long == 0:
        return {"D_nm2_s": math.nan, "D_err_nm2_s": math.nan, "n_tracks": 0, "step_r2": math.nan,
                "analysis_notes": [], "note": f"no trajectory of at least {MIN_TRACK_FRAMES} frames"}  # fmt: skip
    result = analyze(
        tracks, px_nm=px_nm, fps=fps, min_length=MIN_TRACK_FRAMES, exposure_fraction=0.0, n_bootstrap=0,
        vanhove_lags=(1,), vacf_lags=2, alpha_lags=2,
    )  # fmt: skip
    cve = result.ensemble["cve"]
    return {"D_nm2_s": cve["D_nm2_s"], "D_err_nm2_s": cve["D_err_nm2_s"], "n_tracks": n_long, "note": None,
            "step_r2": cve["check_step_correlation"], "analysis_notes": list(result.notes)}  # fmt: skip


def relative_error_pct(estimate: float, truth: float) -> float:
    """Signed relative error ``100 (estimate - truth) / truth``, %."""
    return 100.0 * (estimate - truth) / truth if math.isfinite(estimate) and truth else math.nan


def _video_row(method: Method, video: EvalVideo, output: MethodOutput) -> dict[str, Any]:
    gt = gt_labels(video)
    scores = evaluate_video(output.labels, gt)
    gt_tracks = pd.read_csv(video.directory / "gt_tracks.csv")
    trajectory = centroid_rmse_from_tables(output.trajectories, gt_tracks, pairs=scores["pairs"])
    n_frames = int(np.shape(gt)[0])
    return {
        "method": method.key, "thickness_nm": video.thickness_nm, "video": video.name, "snr": video.meta["snr"],
        **{key: float(scores[key]) for key in METRIC_KEYS},
        "trajectory_rmse_px": float(trajectory["centroid_rmse_px"]), "seconds": output.seconds,
        "fps": n_frames / output.seconds if output.seconds > 0 else math.nan,
    }  # fmt: skip


def _true_D(videos: Sequence[EvalVideo]) -> float:
    values = {p["D_nm2_s"] for video in videos for p in video.meta["particles"]}
    if len(values) != 1:
        raise InputError(f"test videos of one thickness must share one D, found {sorted(values)} nm^2/s")
    return float(values.pop())


def _calibration(videos: Sequence[EvalVideo]) -> tuple[float, float]:
    pairs = {(video.meta["px_nm"], video.meta["fps"]) for video in videos}
    if len(pairs) != 1:
        raise InputError(f"test videos of one thickness must share pixel size and frame rate, found {sorted(pairs)}")
    px_nm, fps = pairs.pop()
    return float(px_nm), float(fps)


def _summary_row(
    method: Method, thickness: float, rows: list[dict[str, Any]], d_true: float, d_est: dict[str, Any], floor: float
) -> dict[str, Any]:
    frame = pd.DataFrame(rows)
    return {
        "method": method.key, "label": method.label, "thickness_nm": thickness, "snr": float(frame["snr"].mean()),
        **{key: float(np.nanmean(frame[key])) if frame[key].notna().any() else math.nan for key in MEAN_KEYS},
        "id_switches": int(frame["id_switches"].sum()), "n_videos": len(frame),
        "D_true_nm2_s": d_true, "D_nm2_s": d_est["D_nm2_s"], "D_err_nm2_s": d_est["D_err_nm2_s"],
        "D_error_pct": relative_error_pct(d_est["D_nm2_s"], d_true), "D_floor_pct": floor,
        "n_tracks_D": d_est["n_tracks"], "D_step_r2": d_est["step_r2"],
    }  # fmt: skip


def _tune(method: Method, video: EvalVideo | None, cache: RunCache | None, *, reuse: bool) -> dict[str, Any] | None:
    """``method.tune(video)``, or its stored result when ``reuse`` (every run it would serve is stored)."""
    if video is None:
        return None
    stored = cache.load_tuning(method, video) if cache is not None and reuse else None
    if stored is not None:
        return stored
    tuned = method.tune(video)
    if tuned is not None and cache is not None:
        cache.save_tuning(method, video, tuned)
    return tuned


def run_benchmark(
    methods: Sequence[Method],
    videos: dict[float, list[EvalVideo]],
    tuning_videos: dict[float, EvalVideo],
    *,
    progress: bool = False,
    on_step: Callable[[str], None] | None = None,
    cache: RunCache | None = None,
) -> BenchmarkResult:
    """Tune, run and score every method on the test videos of every thickness.

    Parameters
    ----------
    methods
        The methods (see :mod:`samem.evaluate.methods`).
    videos
        ``{thickness_nm: [test videos]}``; the videos of a thickness must share D, pixel size and frame rate.
    tuning_videos
        ``{thickness_nm: tuning video}`` (used only by methods that tune).
    progress
        Show a progress bar (stderr) over method x video runs.
    on_step
        Called with a short description before each run (e.g. for logging).
    cache
        Where finished runs are stored and reused from (:class:`~samem.evaluate.runcache.RunCache`); a method's
        tuning is reused only when all its runs at that thickness are (otherwise it tunes again, which sets its
        parameters for the runs).
    """
    if not methods:
        raise InputError("no method to evaluate")
    total = len(methods) * sum(len(v) for v in videos.values())
    bar = tqdm(total=total, desc="eval", unit="run", disable=not progress, file=sys.stderr)
    per_video: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    tuning: dict[str, dict[str, Any]] = {}
    notes: list[str] = []
    reused = 0
    try:
        for thickness, thickness_videos in videos.items():
            px_nm, fps = _calibration(thickness_videos)
            d_true = _true_D(thickness_videos)
            truth_tables = [pd.read_csv(v.directory / "gt_tracks.csv")[["frame", "particle", "x", "y"]]
                            for v in thickness_videos]  # fmt: skip
            floor = relative_error_pct(diffusion_estimate(truth_tables, px_nm=px_nm, fps=fps)["D_nm2_s"], d_true)
            for method in methods:
                stored = {v.name: cache.load_run(method, v) if cache else None for v in thickness_videos}
                bar.set_postfix_str(f"{method.key} tune {thickness:g} nm")
                tuned = _tune(method, tuning_videos.get(thickness), cache, reuse=None not in stored.values())
                if tuned is not None:
                    tuning.setdefault(method.key, {})[f"{thickness:g}"] = tuned
                rows, tables = [], []
                for video in thickness_videos:
                    bar.set_postfix_str(f"{method.key} {video.name}")
                    run = stored[video.name]
                    if run is None:
                        if on_step is not None:
                            on_step(f"{method.key} on {video.name}")
                        output = method.run(video)
                        run = _video_row(method, video, output), output.trajectories
                        if cache is not None:
                            cache.save_run(method, video, *run)
                    else:
                        reused += 1
                    rows.append(run[0])
                    tables.append(run[1])
                    bar.update()
                d_est = diffusion_estimate(tables, px_nm=px_nm, fps=fps)
                if d_est["note"]:
                    notes.append(f"{method.label} at {thickness:g} nm: D not estimated ({d_est['note']})")
                notes.extend(f"{method.label} at {thickness:g} nm: {note}" for note in d_est["analysis_notes"])
                per_video.extend(rows)
                summary.append(_summary_row(method, thickness, rows, d_true, d_est, floor))
    finally:
        bar.close()
    if reused:
        notes.append(f"{reused} of {total} runs reused from {cache.directory} (same code, method and test video)")
    return BenchmarkResult(per_video=pd.DataFrame(per_video), summary=pd.DataFrame(summary), tuning=tuning,
                           notes=notes)  # fmt: skip
