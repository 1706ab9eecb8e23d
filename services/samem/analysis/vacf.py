"""Temporal velocity autocorrelation function (VACF) over all particles, gaps respected."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from samem.analysis.grid import cross_correlation, iter_chunks, particle_layout

DEFAULT_VACF_LAGS = 20


@dataclass(frozen=True)
class VACFResult:
    """Velocity autocorrelation C(tau) = <v(t) . v(t + tau)>.

    Attributes
    ----------
    lag_frames : numpy.ndarray
        Lags in frames, ``0 .. L``.
    lag_s : numpy.ndarray
        Lags in s.
    c : numpy.ndarray
        C(tau) in nm^2/s^2 (sum over the two axes); NaN where no pair exists.
    c_norm : numpy.ndarray
        C(tau) / C(0), dimensionless.
    n_pairs : numpy.ndarray
        Number of velocity pairs averaged at each lag.
    """

    lag_frames: np.ndarray
    lag_s: np.ndarray
    c: np.ndarray
    c_norm: np.ndarray
    n_pairs: np.ndarray

    def table(self) -> pd.DataFrame:
        """Table for vacf.csv."""
        return pd.DataFrame(
            {
                "lag_frames": self.lag_frames, "lag_s": self.lag_s, "vacf_nm2_s2": self.c,
                "vacf_normalised": self.c_norm, "n_pairs": self.n_pairs,
            }
        )


def vacf(tracks: pd.DataFrame, px_nm: float, fps: float, max_lag: int = DEFAULT_VACF_LAGS) -> VACFResult:
    """Ensemble velocity autocorrelation from finite-difference velocities.

    ``v(t) = (r(t + 1) - r(t)) * fps`` in nm/s exists only where frames t and t + 1 were both observed;
    ``C(tau)`` averages ``v(t) . v(t + tau)`` over all particles and all t where frames t, t + 1, t + tau and
    t + tau + 1 were observed (pooled, each pair weighted equally).

    Parameters
    ----------
    tracks : pandas.DataFrame
        Validated trajectory table (frame, particle, x, y in pixels).
    px_nm, fps : float
        Pixel size in nm and frame rate in frames/s.
    max_lag : int
        Largest lag in frames (default 20).

    Returns
    -------
    VACFResult
        For Brownian motion with localisation error sigma (per axis) and instantaneous positions,
        C(1)/C(0) = -sigma^2 / (2 D dt + 2 sigma^2) and C(tau >= 2) = 0.

    References
    ----------
    D. Ernst, J. Köhler, M. Weiss, "Probing the type of anomalous diffusion with single-particle tracking",
    Phys. Chem. Chem. Phys. 16, 7686 (2014): the velocity autocorrelation of discretised trajectories.
    """
    layout = particle_layout(tracks)
    n_lags = int(max(0, min(max_lag, layout.span.max() - 2)))
    xy = tracks[["x", "y"]].to_numpy(dtype=float) * px_nm
    sums = np.zeros(n_lags + 1)
    counts = np.zeros(n_lags + 1)
    for chunk, n_fft in iter_chunks(layout, xy, n_lags + 1, center=False):
        valid = chunk.mask[:, 1:] * chunk.mask[:, :-1]
        if valid.shape[1] == 0:
            continue
        v = (chunk.pos[:, 1:] - chunk.pos[:, :-1]) * fps * valid[..., None]
        lag = min(n_lags, valid.shape[1] - 1)
        for axis in range(2):
            sums[: lag + 1] += cross_correlation(v[..., axis], v[..., axis], n_fft, lag).sum(axis=0)
        counts[: lag + 1] += np.rint(cross_correlation(valid, valid, n_fft, lag)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(counts > 0, sums / counts, np.nan)
        c_norm = c / c[0]
    lags = np.arange(n_lags + 1)
    return VACFResult(lags, lags / fps, c, c_norm, counts.astype(np.int64))
