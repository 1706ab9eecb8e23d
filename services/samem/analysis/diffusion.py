"""Diffusion coefficient, localisation error and anomalous exponent from MSD curves.

Two fits, both weighted by Qian's effective number of independent measurements per lag (var(MSD_n) ~
MSD_n^2 / N_eff,n):

* :func:`fit_msd_linear` - MSD(tau) = 2 d D tau + 2 d (sigma^2 - 2 R D dt) over the first few lags;
* :func:`fit_alpha` - MSD(tau) = 2 d K tau^alpha + c on a log scale, with the offset c fitted or given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

DIMENSIONS = 2
#: Default number of lags for the linear MSD fit (see fit_msd_linear).
DEFAULT_FIT_LAGS = 4
#: Default number of lags for the anomalous-exponent fit.
DEFAULT_ALPHA_LAGS = 10


@dataclass(frozen=True)
class LinearFit:
    """Result of :func:`fit_msd_linear` for one or many MSD curves (arrays of shape (P,) or scalars).

    Attributes
    ----------
    D, D_err : numpy.ndarray
        Diffusion coefficient and its standard error in nm^2/s.
    sigma2, sigma2_err : numpy.ndarray
        Localisation variance per axis and its standard error in nm^2 (may be negative when noise is small).
    offset : numpy.ndarray
        Fitted MSD offset ``2 d (sigma^2 - 2 R D dt)`` in nm^2.
    n_lags : numpy.ndarray
        Number of lags used.
    """

    D: np.ndarray
    D_err: np.ndarray
    sigma2: np.ndarray
    sigma2_err: np.ndarray
    offset: np.ndarray
    n_lags: np.ndarray


@dataclass(frozen=True)
class AlphaFit:
    """Result of :func:`fit_alpha` for one MSD curve.

    Attributes
    ----------
    alpha, alpha_err : float
        Anomalous exponent (dimensionless) and its standard error.
    K, K_err : float
        Generalised diffusion coefficient in nm^2/s^alpha and its standard error.
    offset : float
        MSD offset in nm^2 (fitted or given).
    n_lags : int
        Number of lags used.
    """

    alpha: float
    alpha_err: float
    K: float
    K_err: float
    offset: float
    n_lags: int


def fit_msd_linear(
    msd: np.ndarray,
    n_eff: np.ndarray,
    dt: float,
    n_lags: int = DEFAULT_FIT_LAGS,
    r_blur: float = 1.0 / 6.0,
    iterations: int = 3,
) -> LinearFit:
    """Weighted least-squares fit of MSD = 2 d D tau + 2 d (sigma^2 - 2 R D dt) over the first lags.

    Parameters
    ----------
    msd : numpy.ndarray
        MSD curves in nm^2 at lags 1, 2, ... frames, shape (L,) or (P, L); NaN where undefined.
    n_eff : numpy.ndarray
        Effective number of independent measurements per lag, same shape (weights; 0 excludes a point).
    dt : float
        Frame interval in s.
    n_lags : int
        Number of leading lags to fit (default 4). Michalet (2010) shows that with an unknown offset the
        precision of D is best for a small number of lags, a few when the reduced localisation error
        x = sigma^2 / (D dt) is of order one or less; more lags only add correlated, noisier points.
    r_blur : float
        Motion-blur coefficient R (1/6 for continuous full-frame exposure, 0 for instantaneous positions).
    iterations : int
        Reweighting passes; weights use the model MSD of the previous pass (the first uses the data).

    Returns
    -------
    LinearFit
        Arrays of shape (P,), or 0-d arrays for a single curve. Standard errors treat the lags as independent,
        so they somewhat underestimate the true scatter.

    References
    ----------
    X. Michalet, "Mean square displacement analysis of single-particle trajectories with localization error:
    Brownian motion in an isotropic medium", Phys. Rev. E 82, 041914 (2010): the MSD model with a localisation
    offset and the analysis of the optimal number of fitting points (equation numbers not checked here).
    A. J. Berglund, "Statistics of camera-based single-particle tracking", Phys. Rev. E 82, 011917 (2010): the
    offset 2 d (sigma^2 - 2 R D dt) from motion blur, with R as in Vestergaard et al. (2014).
    """
    y = np.atleast_2d(np.asarray(msd, dtype=float))[:, :n_lags]
    w0 = np.atleast_2d(np.asarray(n_eff, dtype=float))[:, :n_lags]
    tau = dt * np.arange(1, y.shape[1] + 1)[None, :]
    valid = np.isfinite(y) & (w0 > 0)
    y = np.where(valid, y, 0.0)
    target = np.where(valid & (y > 0), y, np.nan)
    for _ in range(iterations):
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(valid, w0 / target**2, 0.0)
        w = np.nan_to_num(w, nan=0.0, posinf=0.0)
        sw, sx, sxx = w.sum(1), (w * tau).sum(1), (w * tau**2).sum(1)
        sy, sxy = (w * y).sum(1), (w * tau * y).sum(1)
        det = sw * sxx - sx**2
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = (sw * sxy - sx * sy) / det
            offset = (sxx * sy - sx * sxy) / det
        model = slope[:, None] * tau + offset[:, None]
        target = np.where(model > 0, model, target)
    n_used = (valid & (w > 0)).sum(1)
    ok = (n_used >= 2) & (det > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_a, var_b, cov_ab = sw / det, sxx / det, -sx / det
    two_d = 2.0 * DIMENSIONS
    d_coef = slope / two_d
    sigma2 = offset / two_d + 2.0 * r_blur * dt * d_coef
    g_a, g_b = 2.0 * r_blur * dt / two_d, 1.0 / two_d
    var_s2 = g_a**2 * var_a + g_b**2 * var_b + 2.0 * g_a * g_b * cov_ab

    def clean(values: np.ndarray) -> np.ndarray:
        out = np.where(ok, values, np.nan)
        return out[0] if np.ndim(msd) == 1 else out

    return LinearFit(
        D=clean(d_coef),
        D_err=clean(np.sqrt(np.abs(var_a)) / two_d),
        sigma2=clean(sigma2),
        sigma2_err=clean(np.sqrt(np.abs(var_s2))),
        offset=clean(offset),
        n_lags=n_used[0] if np.ndim(msd) == 1 else n_used,
    )


def fit_alpha(
    msd: np.ndarray,
    n_eff: np.ndarray,
    dt: float,
    n_lags: int = DEFAULT_ALPHA_LAGS,
    offset_nm2: float | None = None,
) -> AlphaFit:
    """Fit MSD = 2 d K tau^alpha + c by nonlinear least squares on a log scale.

    Residuals are ``sqrt(N_eff) (log MSD - log model)``, since var(log MSD) ~ 1 / N_eff. The offset c absorbs
    localisation error and motion blur; it is fitted (bounded by +-MSD at lag 1) unless ``offset_nm2`` is given
    (e.g. ``2 d (sigma^2 - 2 R D dt)`` from the covariance-based estimator).

    Parameters
    ----------
    msd, n_eff : numpy.ndarray
        One MSD curve in nm^2 at lags 1, 2, ... frames and its weights, shape (L,).
    dt : float
        Frame interval in s.
    n_lags : int
        Number of leading lags to fit (default 10); at least 4 usable lags are needed with a free offset, 3
        with a fixed one, otherwise the result is NaN.
    offset_nm2 : float or None
        Fixed offset in nm^2, or None to fit it.

    Returns
    -------
    AlphaFit
        Standard errors from the Jacobian at the optimum, lags treated as independent.

    References
    ----------
    R. Metzler, J.-H. Jeon, A. G. Cherstvy, E. Barkai, "Anomalous diffusion models and their properties",
    Phys. Chem. Chem. Phys. 16, 24128 (2014): MSD ~ K tau^alpha.
    E. Kepten, A. Weron, G. Sikora, K. Burnecki, Y. Garini, "Guidelines for the fitting of anomalous diffusion
    mean square displacement graphs from single particle tracking experiments", PLoS ONE 10, e0117722 (2015),
    power law with a localisation offset fitted on a log scale.
    """
    nan = AlphaFit(np.nan, np.nan, np.nan, np.nan, np.nan if offset_nm2 is None else offset_nm2, 0)
    y = np.asarray(msd, dtype=float)[:n_lags]
    w = np.asarray(n_eff, dtype=float)[:n_lags]
    tau = dt * np.arange(1, len(y) + 1)
    use = np.isfinite(y) & (y > 0) & (w > 0)
    free = offset_nm2 is None
    if use.sum() < (4 if free else 3):
        return nan
    y, w, tau = y[use], w[use], tau[use]
    c0 = 0.0 if free else float(offset_nm2)
    if np.any(y - c0 <= 0):
        return nan
    slope, intercept = np.polyfit(np.log(tau), np.log(y - c0), 1)
    sqrt_w = np.sqrt(w)

    def residuals(p: np.ndarray) -> np.ndarray:
        c = p[2] if free else c0
        model = 2.0 * DIMENSIONS * np.exp(p[0]) * tau ** p[1] + c
        return sqrt_w * (np.log(y) - np.log(np.maximum(model, 1e-300)))

    start = [intercept - np.log(2.0 * DIMENSIONS), float(np.clip(slope, 0.01, 2.49))]
    lower, upper = [-np.inf, 0.0], [np.inf, 2.5]
    if free:
        start.append(0.0)
        lower.append(-0.999 * y[0])
        upper.append(0.999 * y[0])
    try:
        fit = least_squares(residuals, start, bounds=(lower, upper), x_scale="jac")
        cov = np.linalg.pinv(fit.jac.T @ fit.jac)
    except (ValueError, np.linalg.LinAlgError):
        return nan
    errors = np.sqrt(np.abs(np.diag(cov)))
    k = float(np.exp(fit.x[0]))
    return AlphaFit(
        alpha=float(fit.x[1]),
        alpha_err=float(errors[1]),
        K=k,
        K_err=float(k * errors[0]),
        offset=float(fit.x[2]) if free else c0,
        n_lags=int(use.sum()),
    )
