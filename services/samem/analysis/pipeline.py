"""The whole analysis of a trajectory table: drift, MSD, D / sigma / alpha, van Hove, VACF."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from samem.analysis.coincidence import Coincidence, coincident_tracks
from samem.analysis.cve import CVEResult, StepCorrelation, cve_from_moments, step_correlation, step_moments
from samem.analysis.diffusion import DEFAULT_ALPHA_LAGS, DEFAULT_FIT_LAGS, AlphaFit, fit_alpha, fit_msd_linear
from samem.analysis.drift import compute_drift
from samem.analysis.drift import subtract_drift as remove_drift
from samem.analysis.homogeneity import Homogeneity, d_homogeneity
from samem.analysis.msd import DEFAULT_MAX_LAG, MSDResult, compute_msd
from samem.analysis.vacf import DEFAULT_VACF_LAGS, VACFResult, vacf
from samem.analysis.vanhove import DEFAULT_VANHOVE_LAGS, VanHove, van_hove
from samem.errors import InputError
from samem.io.tables import validate_trajectories

DEFAULT_MIN_LENGTH = 10
DEFAULT_BOOTSTRAP = 200


@dataclass(frozen=True)
class AnalysisResult:
    """Everything :func:`analyze` computes. Units: nm, s (MSD nm^2, D nm^2/s, K nm^2/s^alpha).

    Attributes
    ----------
    parameters : dict
        The inputs (pixel size, frame rate, options).
    tracks : pandas.DataFrame
        The analysed trajectories (pixels; drift removed if requested; particles >= min_length frames).
    msd : MSDResult
        Per-particle and ensemble MSD.
    particles : pandas.DataFrame
        One row per analysed particle: lengths and the D / sigma^2 / alpha estimates with standard errors.
    ensemble : dict
        Ensemble estimates per method (``msd_fit``, ``cve``, ``alpha_fit``), each a dict of floats.
    drift : pandas.DataFrame
        Accumulated drift per frame in nm (see :func:`samem.analysis.drift.compute_drift`).
    vanhove : list of VanHove
        Displacement distributions and fits per lag.
    vacf : VACFResult
        Velocity autocorrelation.
    coincident : list of Coincidence
        Pairs of tracks that sit on one particle for many frames (:mod:`samem.analysis.coincidence`).
    """

    parameters: dict[str, Any]
    tracks: pd.DataFrame
    msd: MSDResult
    particles: pd.DataFrame
    ensemble: dict[str, dict[str, float]]
    drift: pd.DataFrame
    vanhove: list[VanHove]
    vacf: VACFResult
    coincident: list[Coincidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the terminal: particle count and the ensemble D, alpha and sigma."""
        e = self.ensemble
        return "\n".join(
            [
                f"particles analysed: {len(self.particles)} (>= {self.parameters['min_length']} frames)",
                f"D (CVE):      {_pm(e['cve']['D_nm2_s'], e['cve']['D_err_nm2_s'])} nm^2/s",
                f"D (MSD fit):  {_pm(e['msd_fit']['D_nm2_s'], e['msd_fit']['D_err_nm2_s'])} nm^2/s",
                f"alpha:        {_pm(e['alpha_fit']['alpha'], e['alpha_fit']['alpha_err'])}",
                f"sigma (CVE):  {_pm(e['cve']['sigma_nm'], e['cve']['sigma_err_nm'])} nm",
                *(f"note: {note}" for note in self.notes),
            ]
        )


def _pm(value: float, error: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4g} +- {error:.2g}"


def _sigma(sigma2: np.ndarray, sigma2_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sigma = sqrt(sigma^2) (NaN when sigma^2 <= 0) and its error by error propagation."""
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(sigma2 > 0, np.sqrt(np.abs(sigma2)), np.nan)
        return s, sigma2_err / (2.0 * s)


def analyze(
    tracks: pd.DataFrame,
    *,
    px_nm: float,
    fps: float,
    max_lag: int = DEFAULT_MAX_LAG,
    fit_lags: int = DEFAULT_FIT_LAGS,
    alpha_lags: int = DEFAULT_ALPHA_LAGS,
    min_length: int = DEFAULT_MIN_LENGTH,
    vanhove_lags: tuple[int, ...] | list[int] = DEFAULT_VANHOVE_LAGS,
    vacf_lags: int = DEFAULT_VACF_LAGS,
    exposure_fraction: float = 1.0,
    subtract_drift: bool = False,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> AnalysisResult:
    """Analyse trajectories: drift, MSD, D and sigma (MSD fit and CVE), alpha, van Hove, VACF.

    Parameters
    ----------
    tracks : pandas.DataFrame
        Trajectory table with frame, particle, x, y (pixels; x = column); validated here.
    px_nm : float
        Pixel size in nm.
    fps : float
        Frame rate in frames/s (dt = 1 / fps).
    max_lag : int
        Largest MSD lag in frames (default 100).
    fit_lags : int
        Lags used by the linear MSD fit for D and sigma (default 4).
    alpha_lags : int
        Lags used by the anomalous-exponent fit (default 10).
    min_length : int
        Particles with fewer observed frames are left out of everything except the drift (default 10).
    vanhove_lags : sequence of int
        Lags in frames for the displacement distributions (default 1, 4, 16).
    vacf_lags : int
        Largest VACF lag in frames (default 20).
    exposure_fraction : float
        Camera exposure as a fraction of the frame interval, in [0, 1]; motion-blur coefficient R = value / 6.
    subtract_drift : bool
        Remove the ensemble drift before everything else.
    n_bootstrap : int
        Resamples of particles for the ensemble MSD-fit and alpha uncertainties (default 200; 0 disables).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    AnalysisResult
    """
    for name, value in (("px_nm", px_nm), ("fps", fps)):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    if not 0.0 <= exposure_fraction <= 1.0:
        raise InputError(f"exposure fraction must be in [0, 1], got {exposure_fraction!r}")
    for name, value in (("max_lag", max_lag), ("fit_lags", fit_lags), ("alpha_lags", alpha_lags),
                        ("min_length", min_length)):
        if int(value) < (2 if name == "fit_lags" else 1):
            raise InputError(f"{name} must be >= {2 if name == 'fit_lags' else 1}, got {value!r}")
    tracks = validate_trajectories(tracks)
    dt, r_blur = 1.0 / fps, exposure_fraction / 6.0
    drift = compute_drift(tracks, px_nm)
    if subtract_drift:
        tracks = remove_drift(tracks, drift, px_nm)
    lengths = tracks.groupby("particle")["frame"].agg(["size", "min", "max"])
    long_ids = lengths.index[lengths["size"] >= min_length]
    if len(long_ids) == 0:
        raise InputError(f"no particle has at least {min_length} frames (longest: {int(lengths['size'].max())})")
    tracks = tracks[tracks["particle"].isin(long_ids)].reset_index(drop=True)

    msd = compute_msd(tracks, px_nm, fps, max_lag)
    lin = fit_msd_linear(msd.msd, msd.weights, dt, fit_lags, r_blur)
    moments = step_moments(tracks, px_nm)
    cve_p, cve_e = cve_from_moments(moments, dt, r_blur), cve_from_moments(moments.pooled(), dt, r_blur)
    alphas = [fit_alpha(m, w, dt, alpha_lags) for m, w in zip(msd.msd, msd.weights, strict=True)]
    sig_lin, sig_lin_err = _sigma(lin.sigma2, lin.sigma2_err)
    sig_cve, sig_cve_err = _sigma(cve_p.sigma2, cve_p.sigma2_err)
    info = lengths.loc[msd.particles]
    particles = pd.DataFrame(
        {
            "particle": msd.particles, "n_frames": info["size"].to_numpy(),
            "first_frame": info["min"].to_numpy(), "last_frame": info["max"].to_numpy(),
            "D_msd_nm2_s": lin.D, "D_msd_err_nm2_s": lin.D_err,
            "sigma2_msd_nm2": lin.sigma2, "sigma2_msd_err_nm2": lin.sigma2_err,
            "sigma_msd_nm": sig_lin, "sigma_msd_err_nm": sig_lin_err,
            "D_cve_nm2_s": cve_p.D, "D_cve_err_nm2_s": cve_p.D_err,
            "sigma2_cve_nm2": cve_p.sigma2, "sigma2_cve_err_nm2": cve_p.sigma2_err,
            "sigma_cve_nm": sig_cve, "sigma_cve_err_nm": sig_cve_err,
            "alpha": [a.alpha for a in alphas], "alpha_err": [a.alpha_err for a in alphas],
            "K_nm2_s_alpha": [a.K for a in alphas], "K_err_nm2_s_alpha": [a.K_err for a in alphas],
        }
    )
    ensemble = {
        "msd_fit": _ensemble_linear(msd, dt, fit_lags, r_blur, n_bootstrap, seed),
        "cve": _ensemble_cve(
            cve_e,
            correlation := step_correlation(tracks, px_nm),
            homogeneity := d_homogeneity(moments, dt, r_blur),
        ),
        "alpha_fit": _ensemble_alpha(msd, dt, alpha_lags, n_bootstrap, seed),
    }
    parameters = {
        "px_nm": px_nm, "fps": fps, "dt_s": dt, "max_lag_frames": int(max_lag), "fit_lags": int(fit_lags),
        "alpha_lags": int(alpha_lags), "min_length": int(min_length),
        "vanhove_lags_frames": [int(v) for v in vanhove_lags], "vacf_lags": int(vacf_lags),
        "exposure_fraction": exposure_fraction, "motion_blur_R": r_blur, "subtract_drift": bool(subtract_drift),
        "n_bootstrap": int(n_bootstrap), "seed": int(seed), "n_particles_input": len(lengths),
    }
    coincident = coincident_tracks(tracks)
    return AnalysisResult(
        parameters=parameters, tracks=tracks, msd=msd, particles=particles, ensemble=ensemble, drift=drift,
        vanhove=van_hove(tracks, px_nm, fps, vanhove_lags), vacf=vacf(tracks, px_nm, fps, vacf_lags),
        coincident=coincident,
        notes=_correlation_notes(correlation) + _homogeneity_notes(homogeneity) + _coincidence_notes(coincident),
    )


def _correlation_notes(correlation: StepCorrelation) -> list[str]:
    """A warning when the CVE's independent-errors assumption fails (:func:`samem.analysis.cve.step_correlation`)."""
    if not correlation.independent_errors_rejected:
        return []
    found = f"displacements {correlation.lag} frames apart correlate (r = {correlation.r:.3f}, z = {correlation.z:.1f})"
    if correlation.r > 0:
        return [f"{found}: localisation errors persist over frames (e.g. masks of a tracker with memory lag the"
                " particle), so the CVE's D is biased low; the MSD fit is less affected"]  # fmt: skip
    return [f"{found}: position errors last a few frames (e.g. masks that shrink, break up or jump to a neighbour"
            " and recover), so the CVE's D is biased high; check the overlay before trusting D"]  # fmt: skip


def _homogeneity_notes(homogeneity: Homogeneity) -> list[str]:
    """A warning when the particles' D differ beyond their errors (:mod:`samem.analysis.homogeneity`)."""
    if not homogeneity.rejected:
        return []
    return [f"the particles' D differ beyond their errors (Cochran's Q = {homogeneity.q:.0f} on {homogeneity.dof}"
            f" degrees of freedom, p = {homogeneity.p:.1e}; largest / smallest D = {homogeneity.spread:.1f}):"
            " either they really differ (sizes, surroundings) and the ensemble D averages over them, or some"
            " trajectories are wrong (masks that jump between particles); compare D per particle in particles.csv"
            " with the overlay, and try the gate on mask area (max area change 2: masks that changed size are"
            " gaps)"]  # fmt: skip


def _coincidence_notes(coincident: list[Coincidence]) -> list[str]:
    """A warning naming the pairs of tracks that sit on one spot (:mod:`samem.analysis.coincidence`)."""
    if not coincident:
        return []
    pairs = ", ".join(
        f"{c.particles[0]} and {c.particles[1]} on {c.n_frames} frames ({c.first_frame}-{c.last_frame})"
        for c in coincident
    )
    return [f"two tracks sit on one spot: {pairs}; either a mask has jumped onto a neighbour, whose steps then count"
            " twice, or two particles pass over each other in projection; compare with the overlay and drop or"
            " re-prompt a track that jumped"]  # fmt: skip


def _bootstrap_curves(msd: MSDResult, n_bootstrap: int, seed: int) -> np.ndarray:
    """Ensemble MSD curves of particles resampled with replacement, shape (n_bootstrap, L)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(msd.particles), size=(n_bootstrap, len(msd.particles)))
    weighted = msd.weights * np.nan_to_num(msd.msd)
    with np.errstate(invalid="ignore", divide="ignore"):
        return weighted[picks].sum(axis=1) / msd.weights[picks].sum(axis=1)


def _ensemble_linear(msd: MSDResult, dt: float, fit_lags: int, r_blur: float, n_boot: int, seed: int) -> dict:
    w = msd.weights.sum(axis=0)
    fit = fit_msd_linear(msd.ensemble, w, dt, fit_lags, r_blur)
    d_err, s2_err = float(fit.D_err), float(fit.sigma2_err)
    if n_boot > 1 and len(msd.particles) > 1:
        boot = fit_msd_linear(_bootstrap_curves(msd, n_boot, seed), np.broadcast_to(w, (n_boot, len(w))), dt,
                              fit_lags, r_blur)
        d_err, s2_err = float(np.nanstd(boot.D, ddof=1)), float(np.nanstd(boot.sigma2, ddof=1))
    sigma, sigma_err = _sigma(np.asarray(fit.sigma2), np.asarray(s2_err))
    return {
        "method": "weighted least-squares fit of MSD = 4 D tau + 4 (sigma^2 - 2 R D dt) (Michalet 2010)",
        "D_nm2_s": float(fit.D), "D_err_nm2_s": d_err, "sigma2_nm2": float(fit.sigma2), "sigma2_err_nm2": s2_err,
        "sigma_nm": float(sigma), "sigma_err_nm": float(sigma_err), "n_lags": int(fit.n_lags),
        "uncertainty": "bootstrap over particles" if n_boot > 1 and len(msd.particles) > 1 else "fit covariance",
    }


def _ensemble_cve(result: CVEResult, correlation: StepCorrelation, homogeneity: Homogeneity) -> dict:
    sigma, sigma_err = _sigma(np.asarray(result.sigma2), np.asarray(result.sigma2_err))
    return {
        "method": "covariance-based estimator, pooled over particles (Vestergaard, Blainey & Flyvbjerg 2014)",
        "D_nm2_s": float(result.D), "D_err_nm2_s": float(result.D_err), "sigma2_nm2": float(result.sigma2),
        "sigma2_err_nm2": float(result.sigma2_err), "sigma_nm": float(sigma), "sigma_err_nm": float(sigma_err),
        "n_steps": int(result.n_steps), "uncertainty": "analytic variance from the paper",
        "check_lag_frames": correlation.lag, "check_step_correlation": correlation.r, "check_z": correlation.z,
        "independent_errors_rejected": correlation.independent_errors_rejected,
        "homogeneity_q": homogeneity.q, "homogeneity_dof": homogeneity.dof, "homogeneity_p": homogeneity.p,
        "D_spread": homogeneity.spread, "particles_differ": homogeneity.rejected,
    }


def _ensemble_alpha(msd: MSDResult, dt: float, alpha_lags: int, n_boot: int, seed: int) -> dict:
    w = msd.weights.sum(axis=0)
    fit: AlphaFit = fit_alpha(msd.ensemble, w, dt, alpha_lags)
    a_err, k_err = fit.alpha_err, fit.K_err
    if n_boot > 1 and len(msd.particles) > 1:
        boot = [fit_alpha(curve, w, dt, alpha_lags) for curve in _bootstrap_curves(msd, n_boot, seed + 1)]
        a_err = float(np.nanstd([b.alpha for b in boot], ddof=1))
        k_err = float(np.nanstd([b.K for b in boot], ddof=1))
    return {
        "method": "log-scale least-squares fit of MSD = 4 K tau^alpha + c (offset c free)",
        "alpha": fit.alpha, "alpha_err": float(a_err), "K_nm2_s_alpha": fit.K, "K_err_nm2_s_alpha": float(k_err),
        "offset_nm2": fit.offset, "n_lags": fit.n_lags,
        "uncertainty": "bootstrap over particles" if n_boot > 1 and len(msd.particles) > 1 else "fit covariance",
    }
