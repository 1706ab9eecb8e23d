"""Writing an analysis to a directory: stats.json, CSV tables, PNG figures and report.html, all or nothing."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from samem.analysis.drift import drift_velocity
from samem.analysis.pipeline import AnalysisResult
from samem.analysis.positions import Gaps
from samem.analysis.vanhove import van_hove_table
from samem.errors import OutputError
from samem.io.output import atomic_output_dir

OUTPUT_FILES = (
    "stats.json", "msd.csv", "particles.csv", "drift.csv", "vanhove.csv", "vacf.csv",
    "trajectories.png", "msd.png", "vanhove.png", "vacf.png", "diffusion.png", "report.html",
)

CONFIDENCE_FIGURE = "confidence.png"  # also written when the tracked positions carry predicted_iou

UNITS = {
    "length": "nm", "time": "s", "msd": "nm^2", "D": "nm^2/s", "K": "nm^2/s^alpha", "sigma": "nm (per axis)",
    "sigma2": "nm^2", "velocity": "nm/s", "vacf": "nm^2/s^2", "density": "1/nm",
}


def _clean(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def stats_dict(result: AnalysisResult, source: str | None = None, gaps: Gaps | None = None) -> dict[str, Any]:
    """The content of stats.json (NaN kept as float here; written as null); ``gaps`` as given, if any."""
    vx, vy = drift_velocity(result.drift, result.parameters["fps"])
    drift = result.drift
    stats: dict[str, Any] = {
        "input": source,
        "gaps": None if gaps is None else gaps.as_dict(),
        "units": UNITS,
        "parameters": result.parameters,
        "n_particles": len(result.particles),
        "notes": list(result.notes),
        "coincident_tracks": [dataclasses.asdict(c) for c in result.coincident],
        "ensemble": result.ensemble,
        "drift": {
            "method": "mean displacement between consecutive frames over particles present in both, accumulated",
            "net_x_nm": float(drift["x_nm"].iloc[-1]), "net_y_nm": float(drift["y_nm"].iloc[-1]),
            "velocity_x_nm_s": vx, "velocity_y_nm_s": vy, "subtracted": result.parameters["subtract_drift"],
        },
        "vanhove": [
            {
                "lag_frames": v.lag_frames, "lag_s": v.lag_s, "n": v.n, "alpha2": v.alpha2,
                "alpha2_x": v.alpha2_x, "alpha2_y": v.alpha2_y, "preferred": v.preferred,
                **{
                    f.name: {"loc_nm": f.loc, "scale_nm": f.scale, "log_likelihood": f.log_likelihood, "aic": f.aic}
                    for f in (v.gaussian, v.laplace)
                },
            }
            for v in result.vanhove
        ],
        "vacf": {"c1_over_c0": float(result.vacf.c_norm[1]) if len(result.vacf.c_norm) > 1 else float("nan")},
        "per_particle_methods": {
            "D_msd/sigma2_msd": "weighted least-squares MSD fit, errors from the fit covariance",
            "D_cve/sigma2_cve": "covariance-based estimator, errors from its analytic variance",
            "alpha/K": "log-scale power-law fit with free offset, errors from the fit Jacobian",
        },
        "particles": result.particles.to_dict(orient="records"),
    }
    return stats


def msd_table(result: AnalysisResult) -> pd.DataFrame:
    """msd.csv: lag_frames, lag_s, ensemble msd_nm2, n_pairs (all particles), then one column msd_nm2_p<id> each."""
    m = result.msd
    table = pd.DataFrame({"lag_frames": m.lag_frames, "lag_s": m.lag_s, "msd_nm2": m.ensemble,
                          "n_pairs": m.ensemble_pairs})
    per = pd.DataFrame(m.msd.T, columns=[f"msd_nm2_p{p}" for p in m.particles])
    return pd.concat([table, per], axis=1)


def write_analysis(
    result: AnalysisResult, out_dir: str | os.PathLike[str], source: str | None = None, gaps: Gaps | None = None,
    positions: pd.DataFrame | None = None,
) -> Path:  # fmt: skip
    """Write every output file of an analysis into ``out_dir`` atomically (see :data:`OUTPUT_FILES`).

    ``gaps`` records what the trajectories lost before the analysis (stats.json and the report); ``positions``, the
    tracked rows before that, with a ``predicted_iou`` column adds ``confidence.png`` (:data:`CONFIDENCE_FIGURE`).
    Figures are drawn before anything is moved into place, so a failure leaves ``out_dir`` untouched.
    """
    from samem.analysis.plots import all_plots, confidence_png

    stats = stats_dict(result, source, gaps)
    figures = all_plots(result)
    if positions is not None and "predicted_iou" in positions.columns:
        min_iou = None if gaps is None else gaps.min_iou
        figures[CONFIDENCE_FIGURE] = confidence_png(positions, fps=result.parameters["fps"], min_iou=min_iou)
    try:
        _write_files(result, stats, figures, out_dir)
    except OutputError:
        raise
    except OSError as e:
        raise OutputError(f"cannot write results to {str(out_dir)!r}: {e.strerror or e}") from e
    return Path(out_dir)


def _write_files(
    result: AnalysisResult, stats: dict[str, Any], figures: dict[str, bytes], out_dir: str | os.PathLike[str]
) -> None:
    from samem.analysis.report import render_report

    with atomic_output_dir(out_dir) as staging:
        (staging / "stats.json").write_text(json.dumps(_clean(stats), indent=2, allow_nan=False) + "\n")
        msd_table(result).to_csv(staging / "msd.csv", index=False)
        result.particles.to_csv(staging / "particles.csv", index=False)
        result.drift.to_csv(staging / "drift.csv")
        van_hove_table(result.vanhove).to_csv(staging / "vanhove.csv", index=False)
        result.vacf.table().to_csv(staging / "vacf.csv", index=False)
        for name, data in figures.items():
            (staging / name).write_bytes(data)
        (staging / "report.html").write_text(render_report(stats, figures), encoding="utf-8")
