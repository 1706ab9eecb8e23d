"""Ensemble drift from displacements between consecutive frames, and its subtraction."""

from __future__ import annotations

import numpy as np
import pandas as pd


def compute_drift(tracks: pd.DataFrame, px_nm: float) -> pd.DataFrame:
    """Accumulated ensemble drift per frame.

    The drift increment at frame f is the mean displacement ``r(f) - r(f - 1)`` over the particles observed in
    both frames; increments are summed from the first frame of the table (drift 0 there). Frames without any
    such pair add nothing. This equals ``trackpy.compute_drift(tracks, smoothing=0)`` (times ``px_nm``) on the
    frames trackpy reports.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Validated trajectory table (frame, particle, x, y in pixels).
    px_nm : float
        Pixel size in nm.

    Returns
    -------
    pandas.DataFrame
        Index ``frame`` (every frame from the first to the last of the table), columns ``x_nm``, ``y_nm``
        (accumulated drift in nm) and ``n_pairs`` (number of particles behind the increment at that frame).
    """
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    frames = ordered["frame"].to_numpy()
    particles = ordered["particle"].to_numpy()
    xy = ordered[["x", "y"]].to_numpy(dtype=float) * px_nm
    step = (particles[1:] == particles[:-1]) & (frames[1:] - frames[:-1] == 1)
    first, last = int(frames.min()), int(frames.max())
    at = frames[1:][step] - first
    n = np.bincount(at, minlength=last - first + 1)
    increment = np.zeros((last - first + 1, 2))
    for axis in range(2):
        weights = (xy[1:, axis] - xy[:-1, axis])[step]
        total = np.bincount(at, weights=weights, minlength=last - first + 1).astype(float)  # int when no step
        increment[:, axis] = np.divide(total, n, out=np.zeros_like(total), where=n > 0)
    drift = np.cumsum(increment, axis=0)
    index = pd.RangeIndex(first, last + 1, name="frame")
    return pd.DataFrame({"x_nm": drift[:, 0], "y_nm": drift[:, 1], "n_pairs": n}, index=index)


def subtract_drift(tracks: pd.DataFrame, drift: pd.DataFrame, px_nm: float) -> pd.DataFrame:
    """Return a copy of ``tracks`` with the drift (nm, from :func:`compute_drift`) removed from x and y (pixels)."""
    out = tracks.copy()
    at = drift.reindex(out["frame"].to_numpy())
    out["x"] = out["x"].to_numpy() - at["x_nm"].to_numpy() / px_nm
    out["y"] = out["y"].to_numpy() - at["y_nm"].to_numpy() / px_nm
    return out


def drift_velocity(drift: pd.DataFrame, fps: float) -> tuple[float, float]:
    """Mean drift velocity (vx, vy) in nm/s: net drift over the frame range, times ``fps``."""
    frames = drift.index.to_numpy()
    if len(frames) < 2:
        return 0.0, 0.0
    duration = (frames[-1] - frames[0]) / fps
    return float(drift["x_nm"].iloc[-1] / duration), float(drift["y_nm"].iloc[-1] / duration)
