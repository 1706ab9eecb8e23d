"""Mean squared displacement per particle (time-averaged) and for the ensemble, vectorised with FFT.

Lags are true frame differences: a pair of positions counts for lag k only if both frames t and t + k were
observed. Results equal ``trackpy.imsd`` / ``trackpy.emsd`` (same definitions and weights, rtol 1e-9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from samem.analysis.grid import cross_correlation, iter_chunks, particle_layout
from samem.errors import InputError

DEFAULT_MAX_LAG = 100


@dataclass(frozen=True)
class MSDResult:
    """Time-averaged MSD of every particle and the ensemble MSD.

    Attributes
    ----------
    lag_frames : numpy.ndarray
        Lags in frames, ``1 .. L``, shape (L,).
    lag_s : numpy.ndarray
        Lags in seconds, shape (L,).
    particles : numpy.ndarray
        Particle ids (those with at least two frames), shape (P,).
    msd : numpy.ndarray
        Time-averaged MSD in nm^2, shape (P, L); NaN where a lag has no pair of observed frames.
    n_pairs : numpy.ndarray
        Number of position pairs behind each value of ``msd``, shape (P, L).
    weights : numpy.ndarray
        Ensemble weights, shape (P, L): Qian's effective number of independent measurements, scaled by the
        fraction of frames observed, set to 0 where ``msd`` is NaN and rescaled to keep the particle's total.
    ensemble : numpy.ndarray
        Ensemble MSD in nm^2, ``sum(weights * msd) / sum(weights)`` per lag, shape (L,).
    ensemble_pairs : numpy.ndarray
        Total number of pairs per lag over all particles, shape (L,).
    """

    lag_frames: np.ndarray
    lag_s: np.ndarray
    particles: np.ndarray
    msd: np.ndarray
    n_pairs: np.ndarray
    weights: np.ndarray
    ensemble: np.ndarray
    ensemble_pairs: np.ndarray

    def imsd_frame(self) -> pd.DataFrame:
        """MSD in nm^2 as a table: one column per particle, index lag time in s (like ``trackpy.imsd``)."""
        index = pd.Index(self.lag_s, name="lag time [s]")
        return pd.DataFrame(self.msd.T, index=index, columns=pd.Index(self.particles, name="particle"))

    def emsd_series(self) -> pd.Series:
        """Ensemble MSD in nm^2 indexed by lag time in s (like ``trackpy.emsd``)."""
        return pd.Series(self.ensemble, index=pd.Index(self.lag_s, name="lagt"), name="msd")


def effective_measurements(n_points: np.ndarray | int, lag: np.ndarray | int) -> np.ndarray:
    """Effective number of statistically independent squared displacements at a lag.

    Parameters
    ----------
    n_points : int or array
        Number of positions of the trajectory (steps + 1).
    lag : int or array
        Lag in frames, ``1 <= lag < n_points``.

    Returns
    -------
    numpy.ndarray
        ``N_eff``, such that ``var(MSD_lag) ~ MSD_lag**2 / N_eff`` for Brownian motion.

    References
    ----------
    H. Qian, M. P. Sheetz, E. L. Elson, "Single particle tracking. Analysis of diffusion and flow in
    two-dimensional systems", Biophys. J. 60, 910 (1991), Eq. (B4) (relative variance of the MSD estimate).
    """
    n = np.asarray(n_points, dtype=float)
    t = np.asarray(lag, dtype=float)
    k = n - t
    with np.errstate(divide="ignore", invalid="ignore"):
        short = 6.0 * k**2 * t / (2.0 * n - t + 4.0 * n * t**2 - 5.0 * t**3)
        long = 1.0 / (1.0 + (k**3 + 5.0 * t - 4.0 * k**2 * t - n) / (6.0 * k * t**2))
    return np.where(t > n / 2.0, long, short)


def compute_msd(tracks: pd.DataFrame, px_nm: float, fps: float, max_lag: int = DEFAULT_MAX_LAG) -> MSDResult:
    """Time-averaged MSD of each particle and the ensemble MSD.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Validated trajectory table (see :func:`samem.io.tables.validate_trajectories`); columns ``frame``,
        ``particle``, ``x``, ``y`` with positions in pixels.
    px_nm : float
        Pixel size in nm.
    fps : float
        Frame rate in frames per second.
    max_lag : int
        Largest lag in frames (default 100, as trackpy).

    Returns
    -------
    MSDResult
        MSD in nm^2 at lags ``1 .. min(max_lag, longest span - 1)`` frames.

    Notes
    -----
    For a particle with positions r_t and presence mask m_t (r_t = 0 where m_t = 0), the sum of squared
    displacements at lag k is ``sum_t m_t m_{t+k} |r_{t+k} - r_t|^2 = C(m, q)_k + C(q, m)_k - 2 C(r, r)_k`` with
    ``q = |r|^2`` and ``C(a, b)_k = sum_t a_t b_{t+k}``, and the number of pairs is ``C(m, m)_k``. All
    correlations are computed by FFT for all particles at once, O(T log T) per particle.

    References
    ----------
    V. Calandrini, E. Pellegrini, P. Calligari, K. Hinsen, G. R. Kneller, "nMoldyn - Interfacing spectroscopic
    experiments, molecular dynamics simulations and models for time correlation functions", JDN 12, 201 (2011):
    the FFT algorithm for the MSD, here extended with a presence mask (the correlations above).
    """
    layout = particle_layout(tracks)
    keep = layout.n_frames >= 2
    if not keep.any():
        raise InputError("no particle has two or more frames; an MSD needs at least one displacement")
    n_lags = int(min(max_lag, layout.span.max() - 1))
    if n_lags < 1:
        raise InputError(f"max_lag must be >= 1, got {max_lag}")
    xy = tracks[["x", "y"]].to_numpy(dtype=float) * px_nm
    sums = np.full((len(layout.ids), n_lags), np.nan)
    counts = np.zeros((len(layout.ids), n_lags))
    for chunk, n_fft in iter_chunks(layout, xy, n_lags):
        lag = min(n_lags, chunk.mask.shape[1] - 1)
        if lag < 1:
            continue
        q = (chunk.pos**2).sum(axis=-1)
        mq = cross_correlation(chunk.mask, q, n_fft, lag) + cross_correlation(q, chunk.mask, n_fft, lag)
        rr = sum(cross_correlation(chunk.pos[..., i], chunk.pos[..., i], n_fft, lag) for i in range(2))
        sums[chunk.rows, :lag] = (mq - 2.0 * rr)[:, 1:]
        counts[chunk.rows, :lag] = np.rint(cross_correlation(chunk.mask, chunk.mask, n_fft, lag))[:, 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        msd = np.where(counts > 0, sums / counts, np.nan)
    lags = np.arange(1, n_lags + 1)
    weights = _ensemble_weights(layout.span, layout.n_frames, lags, counts)
    msd, counts, weights = msd[keep], counts[keep], weights[keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        ensemble = np.nansum(weights * np.nan_to_num(msd), axis=0) / weights.sum(axis=0)
    return MSDResult(
        lag_frames=lags,
        lag_s=lags / float(fps),
        particles=layout.ids[keep],
        msd=msd,
        n_pairs=counts.astype(np.int64),
        weights=weights,
        ensemble=ensemble,
        ensemble_pairs=counts.sum(axis=0).astype(np.int64),
    )


def _ensemble_weights(span: np.ndarray, n_frames: np.ndarray, lags: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Qian weights per particle and lag, as ``trackpy.emsd`` uses them (0 for lags beyond a particle's span)."""
    defined = lags[None, :] <= (span[:, None] - 1)
    raw = effective_measurements(span[:, None], lags[None, :]) * (n_frames / span)[:, None]
    raw = np.where(defined, raw, 0.0)
    kept = np.where(counts > 0, raw, 0.0)
    total, current = raw.sum(axis=1), kept.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(current > 0, total / current, 0.0)
    return kept * scale[:, None]


def imsd(tracks: pd.DataFrame, px_nm: float, fps: float, max_lag: int = DEFAULT_MAX_LAG) -> pd.DataFrame:
    """MSD of each particle in nm^2; columns are particle ids, index the lag time in s. See :func:`compute_msd`."""
    return compute_msd(tracks, px_nm, fps, max_lag).imsd_frame()


def emsd(tracks: pd.DataFrame, px_nm: float, fps: float, max_lag: int = DEFAULT_MAX_LAG) -> pd.Series:
    """Ensemble MSD in nm^2 indexed by lag time in s. See :func:`compute_msd`."""
    return compute_msd(tracks, px_nm, fps, max_lag).emsd_series()
