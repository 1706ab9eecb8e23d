"""Synthetic trajectories with known parameters for the analysis tests (imported by the other test modules)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import fft as sp_fft


def to_table(xy_nm: np.ndarray, px_nm: float, keep: np.ndarray | None = None, origin_px: float = 500.0) -> pd.DataFrame:
    """Positions (P, T, 2) in nm -> trajectory table in pixels, dropping frames where ``keep`` is False."""
    n_particles, n_frames, _ = xy_nm.shape
    keep = np.ones((n_particles, n_frames), bool) if keep is None else keep
    p, f = np.nonzero(keep)
    return pd.DataFrame(
        {"frame": f, "particle": p, "x": xy_nm[p, f, 0] / px_nm + origin_px, "y": xy_nm[p, f, 1] / px_nm + 200.0}
    )


def brownian(
    rng: np.random.Generator, n_particles: int, n_frames: int, d_nm2_s: float, dt: float, sigma_nm: float = 0.0,
    drift_nm_s: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Brownian positions (P, T, 2) in nm with instantaneous sampling, optional static noise and drift."""
    steps = rng.normal(0.0, np.sqrt(2 * d_nm2_s * dt), (n_particles, n_frames, 2))
    steps[:, 0] = 0.0
    steps += np.asarray(drift_nm_s) * dt
    steps[:, 0] = 0.0
    return np.cumsum(steps, axis=1) + rng.normal(0.0, sigma_nm, (n_particles, n_frames, 2))


def lagging(xy_nm: np.ndarray, fraction: float) -> np.ndarray:
    """What a tracker reports that moves ``fraction`` of the way from its last position to the particle each frame."""
    out = np.empty_like(xy_nm)
    out[:, 0] = xy_nm[:, 0]
    for t in range(1, xy_nm.shape[1]):
        out[:, t] = out[:, t - 1] + fraction * (xy_nm[:, t] - out[:, t - 1])
    return out


def fbm(rng: np.random.Generator, n_particles: int, n_frames: int, hurst: float, scale_nm: float) -> np.ndarray:
    """Exact fractional Brownian motion (P, T, 2) by Davies-Harte circulant embedding of fractional Gaussian noise.

    Increments have variance ``scale_nm**2`` per axis, so MSD(n) = 2 scale^2 n^(2H) in 2-D.
    """
    n = n_frames - 1
    k = np.arange(n + 1, dtype=float)
    gamma = 0.5 * (np.abs(k + 1) ** (2 * hurst) - 2 * k ** (2 * hurst) + np.abs(k - 1) ** (2 * hurst))
    row = np.concatenate([gamma, gamma[-2:0:-1]])
    eig = sp_fft.fft(row).real
    assert eig.min() > -1e-9, "circulant embedding not positive"
    m = len(row)
    z = rng.normal(size=(n_particles, 2, m)) + 1j * rng.normal(size=(n_particles, 2, m))
    noise = sp_fft.fft(np.sqrt(np.clip(eig, 0, None) / m) * z, axis=-1).real[..., :n] * scale_nm
    path = np.concatenate([np.zeros((n_particles, 2, 1)), np.cumsum(noise, axis=-1)], axis=-1)
    return np.transpose(path, (0, 2, 1))


def test_fbm_increment_variance_and_correlation() -> None:
    rng = np.random.default_rng(0)
    path = fbm(rng, 400, 64, 0.3, 2.0)
    inc = np.diff(path, axis=1)
    assert np.var(inc) == __import__("pytest").approx(4.0, rel=0.03)
    rho = np.mean(inc[:, 1:] * inc[:, :-1]) / np.mean(inc**2)
    assert rho == __import__("pytest").approx(2 ** (2 * 0.3 - 1) - 1, abs=0.02)


def test_brownian_step_variance() -> None:
    rng = np.random.default_rng(1)
    xy = brownian(rng, 50, 200, 100.0, 0.1)
    assert np.var(np.diff(xy, axis=1)) == __import__("pytest").approx(20.0, rel=0.03)
