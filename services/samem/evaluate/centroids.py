"""Centroid RMSE from trajectory tables (the tracker's ``trajectories.csv``, the simulator's ``gt_tracks.csv``).

Tables have columns ``frame``, ``particle``, ``x``, ``y`` (x = column, y = row, pixels; see :mod:`samem.measure`).
Rows that a ``present`` column marks false and rows with a NaN position are not observations and are dropped.
A matched frame is a (frame, ground-truth particle) for which both tables hold a position, the predicted particle
being the one paired with the ground-truth particle: the same id by default (prompted tracking keeps the ids), or
an explicit pairing such as the ``"pairs"`` that :func:`samem.evaluate.evaluate_video` returns.

The simulator's ``x``, ``y`` are the true projection centre, ``x_mask``, ``y_mask`` the centroid of the visible
mask pixels; pass ``gt_xy=("x_mask", "y_mask")`` to measure the mask centroid error alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from samem.errors import InputError
from samem.io.tables import drop_absent_rows


def _positions(table: pd.DataFrame, xy: tuple[str, str], name: str) -> pd.DataFrame:
    """``frame``, ``particle``, ``x``, ``y`` rows that are observations, renamed to the standard columns."""
    missing = [c for c in ("frame", "particle", *xy) if c not in table.columns]
    if missing:
        raise InputError(f"{name} lacks column(s) {', '.join(missing)}")
    rows = drop_absent_rows(table)[["frame", "particle", *xy]]
    rows = rows.set_axis(["frame", "particle", "x", "y"], axis=1)
    rows = rows[np.isfinite(rows["x"].to_numpy(float)) & np.isfinite(rows["y"].to_numpy(float))]
    if rows.duplicated(subset=["frame", "particle"]).any():
        raise InputError(f"{name} has more than one row for a (frame, particle)")
    return rows.astype({"frame": np.int64, "particle": np.int64, "x": float, "y": float})


def centroid_rmse_from_tables(
    pred_tracks: pd.DataFrame,
    gt_tracks: pd.DataFrame,
    *,
    pairs: dict[int, int] | None = None,
    pred_xy: tuple[str, str] = ("x", "y"),
    gt_xy: tuple[str, str] = ("x", "y"),
) -> dict[str, float | int | dict[int, dict[str, float | int]]]:
    """Root-mean-square centroid error (pixels) over matched frames of two trajectory tables.

    Parameters
    ----------
    pred_tracks, gt_tracks
        Trajectory tables (see the module docstring).
    pairs
        ``{gt particle: pred particle}``; default: equal ids. Ground-truth particles without a partner are
        unmatched.
    pred_xy, gt_xy
        Position columns of each table.

    Returns
    -------
    dict
        ``{"centroid_rmse_px", "n_matched", "per_particle": {gt particle: {"centroid_rmse_px", "n_matched"}}}``:
        ``sqrt(mean(dx^2 + dy^2))`` pooled over all matched frames, and per ground-truth particle (NaN without
        matched frames); ``per_particle`` lists every ground-truth particle with an observation.
    """
    pred = _positions(pred_tracks, pred_xy, "predicted trajectory table")
    gt = _positions(gt_tracks, gt_xy, "ground-truth trajectory table")
    if pairs is not None:
        to_gt = {int(p): int(g) for g, p in pairs.items()}
        pred = pred[pred["particle"].isin(list(to_gt))].assign(particle=lambda t: t["particle"].map(to_gt))
    joined = gt.merge(pred, on=["frame", "particle"], suffixes=("_gt", "_pred"))
    squared = (joined["x_pred"] - joined["x_gt"]) ** 2 + (joined["y_pred"] - joined["y_gt"]) ** 2
    per_particle: dict[int, dict[str, float | int]] = {}
    for particle in sorted(gt["particle"].unique().tolist()):
        own = squared[joined["particle"] == particle].to_numpy(float)
        per_particle[int(particle)] = {
            "centroid_rmse_px": float(np.sqrt(own.mean())) if own.size else float("nan"),
            "n_matched": int(own.size),
        }
    return {
        "centroid_rmse_px": float(np.sqrt(squared.mean())) if len(joined) else float("nan"),
        "n_matched": len(joined),
        "per_particle": per_particle,
    }
