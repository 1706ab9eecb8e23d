"""Displacement distributions (van Hove self-correlation) with Gaussian and Laplace maximum-likelihood fits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_VANHOVE_LAGS = (1, 4, 16)
DEFAULT_BINS = 61


@dataclass(frozen=True)
class DistributionFit:
    """Maximum-likelihood fit of a two-parameter distribution to 1-D displacements.

    Attributes
    ----------
    name : str
        ``"gaussian"`` or ``"laplace"``.
    loc, scale : float
        Location in nm, and scale in nm (standard deviation for the Gaussian, b for the Laplace).
    log_likelihood, aic : float
        Maximised log-likelihood and Akaike information criterion ``2 k - 2 log L`` (k = 2).
    """

    name: str
    loc: float
    scale: float
    log_likelihood: float
    aic: float

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Probability density in 1/nm at displacements ``x`` in nm."""
        z = np.asarray(x, dtype=float) - self.loc
        if self.name == "gaussian":
            return np.exp(-0.5 * (z / self.scale) ** 2) / (self.scale * np.sqrt(2.0 * np.pi))
        return np.exp(-np.abs(z) / self.scale) / (2.0 * self.scale)


@dataclass(frozen=True)
class VanHove:
    """Displacements at one lag, pooled over x and y.

    Attributes
    ----------
    lag_frames : int
        Lag in frames (true frame difference).
    lag_s : float
        Lag in s.
    n : int
        Number of 1-D displacements (both axes together).
    edges, density : numpy.ndarray
        Histogram bin edges in nm and density in 1/nm (normalised by all ``n`` values).
    gaussian, laplace : DistributionFit
        Maximum-likelihood fits.
    alpha2, alpha2_x, alpha2_y : float
        Non-Gaussian parameter ``<dx^4> / (3 <dx^2>^2) - 1`` pooled and per axis (0 Gaussian, 1 Laplace).
    """

    lag_frames: int
    lag_s: float
    n: int
    edges: np.ndarray
    density: np.ndarray
    gaussian: DistributionFit
    laplace: DistributionFit
    alpha2: float
    alpha2_x: float
    alpha2_y: float

    @property
    def preferred(self) -> str:
        """Name of the fit with the lower AIC."""
        return "laplace" if self.laplace.aic < self.gaussian.aic else "gaussian"


def lag_displacements(tracks: pd.DataFrame, px_nm: float, lag: int) -> np.ndarray:
    """Displacements ``r(t + lag) - r(t)`` in nm, shape (n, 2), over pairs where both frames were observed."""
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    _, row = np.unique(ordered["particle"].to_numpy(), return_inverse=True)
    frames = ordered["frame"].to_numpy(dtype=np.int64)
    stride = int(frames.max()) + lag + 1
    keys = row.astype(np.int64) * stride + frames
    at = np.searchsorted(keys, keys + lag)
    found = at < len(keys)
    found[found] = keys[at[found]] == keys[found] + lag
    xy = ordered[["x", "y"]].to_numpy(dtype=float) * px_nm
    return xy[at[found]] - xy[found]


def non_gaussian_parameter(values: np.ndarray) -> float:
    """``<x^4> / (3 <x^2>^2) - 1`` of 1-D displacements (moments about zero); NaN for fewer than 2 values.

    References
    ----------
    A. Rahman, "Correlations in the motion of atoms in liquid argon", Phys. Rev. 136, A405 (1964): the
    non-Gaussian parameter alpha_2 (here its 1-D form, 3 instead of 5/3).
    """
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan")
    m2 = np.mean(values**2)
    return float(np.mean(values**4) / (3.0 * m2**2) - 1.0) if m2 > 0 else float("nan")


def fit_gaussian(values: np.ndarray) -> DistributionFit:
    """Gaussian MLE: mean and (biased, maximum-likelihood) standard deviation, in nm."""
    n = len(values)
    loc = float(np.mean(values))
    scale = float(np.sqrt(np.mean((values - loc) ** 2)))
    log_l = -0.5 * n * (np.log(2.0 * np.pi * scale**2) + 1.0) if scale > 0 else float("nan")
    return DistributionFit("gaussian", loc, scale, float(log_l), float(4.0 - 2.0 * log_l))


def fit_laplace(values: np.ndarray) -> DistributionFit:
    """Laplace MLE: median and mean absolute deviation from it, in nm."""
    n = len(values)
    loc = float(np.median(values))
    scale = float(np.mean(np.abs(values - loc)))
    log_l = -n * (np.log(2.0 * scale) + 1.0) if scale > 0 else float("nan")
    return DistributionFit("laplace", loc, scale, float(log_l), float(4.0 - 2.0 * log_l))


def van_hove(
    tracks: pd.DataFrame, px_nm: float, fps: float, lags: tuple[int, ...] | list[int] = DEFAULT_VANHOVE_LAGS,
    bins: int = DEFAULT_BINS,
) -> list[VanHove]:
    """Per-axis displacement distributions at the given lags, with Gaussian and Laplace fits.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Validated trajectory table (frame, particle, x, y in pixels).
    px_nm, fps : float
        Pixel size in nm and frame rate in frames/s.
    lags : sequence of int
        Lags in frames; lags without any pair of observed frames are skipped.
    bins : int
        Number of histogram bins, symmetric about 0, covering the 99.9th percentile of |dx| with 10 % margin.

    Returns
    -------
    list of VanHove
        One entry per lag that has at least 2 displacement pairs.
    """
    out = []
    for lag in lags:
        d = lag_displacements(tracks, px_nm, int(lag))
        if len(d) < 2:
            continue
        pooled = d.ravel()
        reach = 1.1 * float(np.quantile(np.abs(pooled), 0.999)) or 1.0
        edges = np.linspace(-reach, reach, bins + 1)
        counts, _ = np.histogram(pooled, bins=edges)
        density = counts / (len(pooled) * np.diff(edges))
        out.append(
            VanHove(
                lag_frames=int(lag), lag_s=lag / fps, n=len(pooled), edges=edges, density=density,
                gaussian=fit_gaussian(pooled), laplace=fit_laplace(pooled),
                alpha2=non_gaussian_parameter(pooled),
                alpha2_x=non_gaussian_parameter(d[:, 0]), alpha2_y=non_gaussian_parameter(d[:, 1]),
            )
        )
    return out


def van_hove_table(results: list[VanHove]) -> pd.DataFrame:
    """Long table for vanhove.csv: one row per lag and bin, densities in 1/nm, positions in nm."""
    frames = []
    for r in results:
        centers = 0.5 * (r.edges[1:] + r.edges[:-1])
        frames.append(
            pd.DataFrame(
                {
                    "lag_frames": r.lag_frames, "lag_s": r.lag_s, "bin_center_nm": centers,
                    "bin_width_nm": np.diff(r.edges), "density_per_nm": r.density,
                    "gaussian_pdf_per_nm": r.gaussian.pdf(centers), "laplace_pdf_per_nm": r.laplace.pdf(centers),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
