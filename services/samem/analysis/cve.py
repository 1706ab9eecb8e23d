"""Covariance-based estimator (CVE) of D and the localisation error, and a check of its independent-errors assumption.

Only displacements between consecutive frames are used, and only pairs of consecutive displacements (three
consecutive observed frames) enter the covariance, so gaps are respected.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

DIMENSIONS = 2
#: The check of :func:`step_correlation`: displacements this many frames apart ...
CHECK_LAG = 2
#: ... correlate significantly (|z| above this) ...
CHECK_Z = 3.0
#: ... and enough to matter (|r| above this). Positive r: a tracker whose position moves a fraction a of the way
#: to the particle each frame gives r = (1 - a)^2 and biases the CVE by -2 (1 - a)^2 / (2 - a) (-7 % at a = 0.8,
#: -23 % at a = 0.6). Negative r: errors that persist a few frames (correlation rho per frame) bias it high.
CHECK_MIN_R = 0.03


@dataclass(frozen=True)
class CVEResult:
    """CVE estimates, arrays of shape (P,) per particle or 0-d for the pooled ensemble.

    Attributes
    ----------
    D, D_err : numpy.ndarray
        Diffusion coefficient and standard error in nm^2/s.
    sigma2, sigma2_err : numpy.ndarray
        Localisation variance per axis and standard error in nm^2 (may be negative by chance).
    n_steps : numpy.ndarray
        Number of consecutive-frame displacements used (per axis).
    """

    D: np.ndarray
    D_err: np.ndarray
    sigma2: np.ndarray
    sigma2_err: np.ndarray
    n_steps: np.ndarray


@dataclass(frozen=True)
class StepMoments:
    """Per-particle sums of consecutive-frame displacement products, in nm^2, pooled over the axes.

    Arrays of shape (P,) per particle, or 0-d after :meth:`pooled`.

    Attributes
    ----------
    particles : numpy.ndarray
        Particle ids.
    sum_sq, n_sq : numpy.ndarray
        Sum of squared displacements over both axes, and the number of displacements (per axis).
    sum_cov, n_cov : numpy.ndarray
        Sum of products of consecutive displacements over both axes, and the number of such pairs (per axis).
    n_runs3 : numpy.ndarray
        Runs of three consecutive displacements (consecutive pairs sharing a displacement); with ``n_cov`` it
        sets the variance of the estimates when gaps break the series.
    """

    particles: np.ndarray
    sum_sq: np.ndarray
    n_sq: np.ndarray
    sum_cov: np.ndarray
    n_cov: np.ndarray
    n_runs3: np.ndarray

    def subset(self, keep: np.ndarray) -> StepMoments:
        """The particles where ``keep`` is True."""
        return StepMoments(*(np.asarray(getattr(self, f.name))[keep] for f in fields(self)))

    def pooled(self) -> StepMoments:
        """All particles' sums added up (``particles`` keeps the ids)."""
        sums = {f.name: np.asarray(getattr(self, f.name)).sum() for f in fields(self) if f.name != "particles"}
        return StepMoments(particles=self.particles, **sums)

    def at_pooled_moments(self) -> StepMoments:
        """The same counts with the sums each particle would have if its moments were the pooled ones."""
        total = self.pooled()
        return replace(
            self, sum_sq=total.sum_sq / total.n_sq * self.n_sq, sum_cov=total.sum_cov / total.n_cov * self.n_cov
        )


def _steps(tracks: pd.DataFrame, px_nm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive-frame displacements (nm, [M, 2]) with their particle row and start frame."""
    ordered = tracks.sort_values(["particle", "frame"], kind="stable")
    _, row = np.unique(ordered["particle"].to_numpy(), return_inverse=True)
    frames = ordered["frame"].to_numpy().astype(np.int64)
    xy = ordered[["x", "y"]].to_numpy(dtype=float) * px_nm
    ok = (row[1:] == row[:-1]) & (frames[1:] - frames[:-1] == 1)
    return (xy[1:] - xy[:-1])[ok], row[:-1][ok], frames[:-1][ok]


def _lag_found(row: np.ndarray, start: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """For each displacement, whether its particle has one starting ``lag`` frames later, and that one's index."""
    span = int(start.max(initial=0)) + lag + 2
    key = row.astype(np.int64) * span + start  # increasing: sorted by particle, then frame
    target = key + lag
    at = np.searchsorted(key, target)
    found = at < key.size
    found[found] = key[at[found]] == target[found]
    return found, at


def _lag_products(steps: np.ndarray, row: np.ndarray, start: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Products (per axis, [K, 2]) of displacements ``lag`` frames apart in one particle, and that particle's row."""
    found, at = _lag_found(row, start, lag)
    return steps[found] * steps[at[found]], row[found]


def step_moments(tracks: pd.DataFrame, px_nm: float) -> StepMoments:
    """Collect the sums that the CVE needs from a validated trajectory table (positions in pixels)."""
    particles = np.unique(tracks["particle"].to_numpy())
    steps, row, start = _steps(tracks, px_nm)
    products, pair_row = _lag_products(steps, row, start, 1)  # displacements sharing a frame
    runs3 = _lag_found(row, start, 1)[0] & _lag_found(row, start, 2)[0]
    n = len(particles)
    return StepMoments(
        particles=particles,
        sum_sq=np.bincount(row, weights=(steps**2).sum(axis=1), minlength=n),
        n_sq=np.bincount(row, minlength=n),
        sum_cov=np.bincount(pair_row, weights=products.sum(axis=1), minlength=n),
        n_cov=np.bincount(pair_row, minlength=n),
        n_runs3=np.bincount(row[runs3], minlength=n),
    )


def cve_from_moments(moments: StepMoments, dt: float, r_blur: float) -> CVEResult:
    """CVE of D and sigma^2 from displacement sums (see :func:`step_moments`).

    Parameters
    ----------
    moments : StepMoments
        Per-particle sums, or pooled ones (:meth:`StepMoments.pooled`).
    dt : float
        Frame interval in s.
    r_blur : float
        Motion-blur coefficient R = exposure fraction / 6 (0 for instantaneous positions).

    Returns
    -------
    CVEResult
        NaN where a particle has fewer than 2 displacements or no pair of consecutive displacements.

    Notes
    -----
    With ``m0 = <dx_n^2>`` and ``m1 = <dx_n dx_{n+1}>`` averaged over steps and axes,
    ``D = m0 / (2 dt) + m1 / dt`` and ``sigma^2 = R m0 + (2 R - 1) m1``. Without gaps the variance of D is the
    paper's, ``D^2 [(6 + 4 e + 2 e^2) / N + 4 (1 + e)^2 / N^2] / d`` with ``e = sigma^2 / (D dt) - 2 R`` and N
    steps per axis, evaluated with the estimates in the equivalent form ``[2 A^2 (g0^2 + 2 g1^2) + B^2 (g0^2 +
    3 g1^2) + 8 A B g0 g1] / (d N) + g0^2 / (dt^2 d N^2)`` (A = 1 / (2 dt), B = 1 / dt, g0 = m0, g1 = m1), which
    stays defined when D is near 0. The leading term is computed from the Gaussian fourth moments of the MA(1)
    displacement series with the counts that gaps leave (:func:`_leading_variance`); the variance of sigma^2 is
    the same with A = R, B = 2 R - 1.

    References
    ----------
    C. L. Vestergaard, P. C. Blainey, H. Flyvbjerg, "Optimal estimation of diffusion coefficients from
    single-particle trajectories", Phys. Rev. E 89, 022726 (2014), Eqs. (14) and (15) (estimators), and the
    variance of D-hat given there in terms of epsilon = sigma^2 / (D dt) - 2 R.
    """
    sum_sq, n_sq = np.asarray(moments.sum_sq, dtype=float), np.asarray(moments.n_sq, dtype=float)
    sum_cov, n_cov = np.asarray(moments.sum_cov, dtype=float), np.asarray(moments.n_cov, dtype=float)
    ok = (n_sq >= 2) & (n_cov >= 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g0 = np.where(ok, sum_sq / (DIMENSIONS * n_sq), np.nan)
        g1 = np.where(ok, sum_cov / (DIMENSIONS * n_cov), np.nan)
        d_coef = g0 / (2.0 * dt) + g1 / dt
        sigma2 = r_blur * g0 + (2.0 * r_blur - 1.0) * g1
        counts = (np.where(ok, n_sq, np.nan), np.where(ok, n_cov, np.nan), np.asarray(moments.n_runs3, dtype=float))
        var_d = _leading_variance(1.0 / (2.0 * dt), 1.0 / dt, g0, g1, *counts) + g0**2 / (
            dt**2 * DIMENSIONS * counts[0] ** 2
        )
        var_s2 = _leading_variance(r_blur, 2.0 * r_blur - 1.0, g0, g1, *counts)
    return CVEResult(d_coef, np.sqrt(var_d), sigma2, np.sqrt(var_s2), n_sq.astype(np.int64))


def _leading_variance(
    a: float, b: float, g0: np.ndarray, g1: np.ndarray, n: np.ndarray, n_pairs: np.ndarray, n_runs3: np.ndarray
) -> np.ndarray:
    """var(a m0 + b m1) to leading order for a Gaussian series with autocovariances g0, g1 (and 0 beyond).

    Per axis, m0 = S0 / n over ``n`` displacements and m1 = S1 / n_pairs over ``n_pairs`` pairs of consecutive
    ones, ``n_runs3`` of which share a displacement with the next pair. Gaussian fourth moments give
    var S0 = 2 g0^2 n + 4 g1^2 n_pairs, var S1 = (g0^2 + g1^2) n_pairs + 2 g1^2 n_runs3 and
    cov(S0, S1) = 4 g0 g1 n_pairs; the axes are independent (:data:`DIMENSIONS`). Without gaps all three counts
    are about N, giving the paper's ``[2 a^2 (g0^2 + 2 g1^2) + b^2 (g0^2 + 3 g1^2) + 8 a b g0 g1] / (d N)``.
    Counting every term over N instead understates the variance with gaps: noise-dominated steps (|g1| near
    g0 / 2) put most of it in m1, which averages over fewer pairs.
    """
    var_m0 = (2.0 * g0**2 * n + 4.0 * g1**2 * n_pairs) / n**2
    var_m1 = ((g0**2 + g1**2) * n_pairs + 2.0 * g1**2 * n_runs3) / n_pairs**2
    cov = 4.0 * g0 * g1 / n
    return (a**2 * var_m0 + b**2 * var_m1 + 2.0 * a * b * cov) / DIMENSIONS


def cve(tracks: pd.DataFrame, px_nm: float, fps: float, exposure_fraction: float = 1.0) -> tuple[CVEResult, CVEResult]:
    """Per-particle and pooled-ensemble CVE of D (nm^2/s) and sigma^2 (nm^2).

    Parameters
    ----------
    tracks : pandas.DataFrame
        Validated trajectory table (frame, particle, x, y in pixels).
    px_nm, fps : float
        Pixel size in nm and frame rate in frames/s.
    exposure_fraction : float
        Fraction of the frame interval during which the camera integrates, in [0, 1]; R = fraction / 6.
        1 is continuous full-frame exposure (TEM movie mode), 0 instantaneous positions.

    Returns
    -------
    tuple of CVEResult
        Per particle (order of ``step_moments(...).particles``) and pooled over all particles.
    """
    m = step_moments(tracks, px_nm)
    dt, r_blur = 1.0 / fps, exposure_fraction / 6.0
    return cve_from_moments(m, dt, r_blur), cve_from_moments(m.pooled(), dt, r_blur)


@dataclass(frozen=True)
class StepCorrelation:
    """Correlation of consecutive-frame displacements ``lag`` frames apart, pooled over particles and axes.

    Attributes
    ----------
    lag : int
        Frames between the two displacements' starts (>= 2).
    r : float
        ``<dx_n dx_{n+lag}> / <dx_n^2>`` (NaN without pairs).
    z : float
        ``<dx_n dx_{n+lag}>`` over its standard error when the covariance vanishes beyond lag 1.
    n_pairs : int
        Pairs of displacements used (per axis).
    """

    lag: int
    r: float
    z: float
    n_pairs: int

    @property
    def independent_errors_rejected(self) -> bool:
        """True when the displacements correlate beyond one frame, either way (:data:`CHECK_Z`, :data:`CHECK_MIN_R`)."""
        return bool(abs(self.z) > CHECK_Z and abs(self.r) > CHECK_MIN_R)


def step_correlation(tracks: pd.DataFrame, px_nm: float, lag: int = CHECK_LAG) -> StepCorrelation:
    """How strongly displacements ``lag`` >= 2 frames apart correlate (gaps respected).

    The CVE's model (diffusion, independent localisation errors, motion blur) gives displacements that correlate
    with their neighbours only: ``<dx_n dx_{n+m}> = 0`` for m >= 2 (Vestergaard et al. 2014, Sec. II). Errors that
    persist over frames break this, either way. A tracker whose masks lag the particle smooths the positions: r > 0,
    the CVE's D is biased low. Position errors correlated over a few frames (autocovariance s^2 rho^k, as masks
    that shrink, fragment or jump to a neighbour for a while make) give ``r = -s^2 rho (1 - rho)^2 / <dx^2>`` and
    bias the CVE's D up by ``s^2 rho (1 - rho) / dt``. Under the model, with autocovariances g0 and g1, the mean
    of N products has variance ``(g0^2 + 2 g1^2) / N`` to leading order; ``z`` is the mean over its square root.

    References
    ----------
    C. L. Vestergaard, P. C. Blainey, H. Flyvbjerg, Phys. Rev. E 89, 022726 (2014).
    """
    if lag < 2:
        raise ValueError(f"lag must be >= 2 (lag 1 is the CVE's own covariance), got {lag}")
    steps, row, start = _steps(tracks, px_nm)
    products, _ = _lag_products(steps, row, start, lag)
    if products.size == 0 or steps.size == 0:
        return StepCorrelation(lag=lag, r=float("nan"), z=float("nan"), n_pairs=0)
    g0 = float(np.mean(steps**2))
    neighbours, _ = _lag_products(steps, row, start, 1)
    g1 = float(np.mean(neighbours)) if neighbours.size else 0.0
    g_lag = float(np.mean(products))
    n = products.size  # pairs x axes
    standard_error = float(np.sqrt((g0**2 + 2.0 * g1**2) / n))
    z = g_lag / standard_error if standard_error > 0 else float("nan")
    return StepCorrelation(lag=lag, r=g_lag / g0 if g0 > 0 else float("nan"), z=z, n_pairs=len(products))
