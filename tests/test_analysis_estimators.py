"""Estimators against known truth: D, sigma (MSD fit and CVE), alpha, van Hove, VACF, drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_analysis_synth import brownian, fbm, lagging, to_table

from samem.analysis.cve import CHECK_MIN_R, cve, step_correlation
from samem.analysis.pipeline import analyze
from samem.analysis.vanhove import van_hove
from samem.errors import InputError

D_TRUE, DT, SIGMA, PX = 500.0, 0.05, 4.0, 2.0


@pytest.fixture(scope="module")
def noisy_brownian() -> pd.DataFrame:
    """300 particles x 200 frames, instantaneous positions, static localisation noise, 10 % of rows missing."""
    rng = np.random.default_rng(2024)
    xy = brownian(rng, 300, 200, D_TRUE, DT, sigma_nm=SIGMA)
    return to_table(xy, PX, keep=rng.random(xy.shape[:2]) > 0.1)


@pytest.fixture(scope="module")
def noisy_result(noisy_brownian: pd.DataFrame):
    return analyze(noisy_brownian, px_nm=PX, fps=1 / DT, exposure_fraction=0.0, n_bootstrap=50)


def test_brownian_d_and_sigma_recovered(noisy_result) -> None:
    e = noisy_result.ensemble
    assert e["msd_fit"]["D_nm2_s"] == pytest.approx(D_TRUE, rel=0.05)
    assert e["cve"]["D_nm2_s"] == pytest.approx(D_TRUE, rel=0.05)
    assert e["msd_fit"]["sigma_nm"] == pytest.approx(SIGMA, rel=0.10)
    assert e["cve"]["sigma_nm"] == pytest.approx(SIGMA, rel=0.10)
    assert e["alpha_fit"]["alpha"] == pytest.approx(1.0, abs=0.05)
    p = noisy_result.particles
    assert p["D_cve_nm2_s"].median() == pytest.approx(D_TRUE, rel=0.05)
    assert p["D_msd_nm2_s"].median() == pytest.approx(D_TRUE, rel=0.05)


def test_cve_variance_matches_scatter(noisy_result) -> None:
    """The paper's variance of D-hat predicts the particle-to-particle scatter (within 15 %)."""
    p = noisy_result.particles
    assert p["D_cve_nm2_s"].std() == pytest.approx(p["D_cve_err_nm2_s"].mean(), rel=0.15)
    assert p["sigma2_cve_nm2"].std() == pytest.approx(p["sigma2_cve_err_nm2"].mean(), rel=0.15)


def test_cve_variance_counts_the_pairs_that_gaps_leave() -> None:
    """Noise-dominated steps with 30 % of frames missing: the error still predicts the scatter (within 10 %).

    The variance counted over displacements only, as without gaps, came out 1.3 x too small here.
    """
    rng = np.random.default_rng(8)
    xy = brownian(rng, 400, 150, 50.0, DT, sigma_nm=3.0)  # 2 D dt = 5 nm^2 of motion against 2 sigma^2 = 18 of noise
    per_particle, _ = cve(to_table(xy, PX, keep=rng.random(xy.shape[:2]) > 0.3), PX, 1 / DT, exposure_fraction=0.0)
    ok = np.isfinite(per_particle.D)
    assert np.std(per_particle.D[ok]) == pytest.approx(np.sqrt(np.mean(per_particle.D_err[ok] ** 2)), rel=0.10)
    assert np.std(per_particle.sigma2[ok]) == pytest.approx(np.sqrt(np.mean(per_particle.sigma2_err[ok] ** 2)),
                                                            rel=0.10)  # fmt: skip


def test_independent_errors_pass_the_step_correlation_check(noisy_brownian, noisy_result) -> None:
    check = step_correlation(noisy_brownian, PX)
    assert abs(check.r) < CHECK_MIN_R and abs(check.z) < 3 and check.n_pairs > 35_000  # 300 x 197 x 0.9^4 expected
    assert not noisy_result.ensemble["cve"]["independent_errors_rejected"] and noisy_result.notes == []


@pytest.mark.parametrize("fraction", [0.6, 0.8])
def test_lagging_positions_fail_the_check_with_the_predicted_correlation(fraction: float) -> None:
    """Exponential smoothing: r = (1 - a)^2 at lag 2, and the CVE's D falls by 2 (1 - a)^2 / (2 - a)."""
    rng = np.random.default_rng(7)
    xy = lagging(brownian(rng, 200, 300, D_TRUE, DT), fraction)
    table = to_table(xy, PX, keep=rng.random(xy.shape[:2]) > 0.05)
    check = step_correlation(table, PX)
    assert check.r == pytest.approx((1 - fraction) ** 2, abs=0.015)
    assert check.independent_errors_rejected
    result = analyze(table, px_nm=PX, fps=1 / DT, exposure_fraction=0.0, n_bootstrap=0)
    bias = 2 * (1 - fraction) ** 2 / (2 - fraction)
    assert result.ensemble["cve"]["D_nm2_s"] == pytest.approx(D_TRUE * (1 - bias), rel=0.04)
    assert result.ensemble["cve"]["independent_errors_rejected"]
    assert len(result.notes) == 1 and "biased low" in result.notes[0] and "note:" in result.summary()


def test_errors_lasting_a_few_frames_fail_the_check_with_the_predicted_correlation() -> None:
    """AR(1) position errors (variance s^2, correlation rho per frame): r = -s^2 rho (1 - rho)^2 / <dx^2> at lag 2,
    and the CVE's D rises by s^2 rho (1 - rho) / dt."""
    rng = np.random.default_rng(11)
    rho, s2 = 0.5, 2 * D_TRUE * DT
    xy = brownian(rng, 200, 300, D_TRUE, DT)
    errors = np.empty_like(xy)
    errors[:, 0] = rng.normal(0.0, np.sqrt(s2), errors[:, 0].shape)
    for t in range(1, xy.shape[1]):
        errors[:, t] = rho * errors[:, t - 1] + rng.normal(0.0, np.sqrt(s2 * (1 - rho**2)), errors[:, t].shape)
    table = to_table(xy + errors, PX, keep=rng.random(xy.shape[:2]) > 0.05)
    check = step_correlation(table, PX)
    step_variance = 2 * D_TRUE * DT + 2 * s2 * (1 - rho)
    assert check.r == pytest.approx(-s2 * rho * (1 - rho) ** 2 / step_variance, abs=0.015)
    assert check.z < -3 and check.independent_errors_rejected
    result = analyze(table, px_nm=PX, fps=1 / DT, exposure_fraction=0.0, n_bootstrap=0)
    assert result.ensemble["cve"]["D_nm2_s"] == pytest.approx(D_TRUE + s2 * rho * (1 - rho) / DT, rel=0.04)
    assert result.ensemble["cve"]["independent_errors_rejected"]
    assert len(result.notes) == 1 and "biased high" in result.notes[0]


def test_step_correlation_never_pairs_displacements_across_a_gap() -> None:
    frames = [0, 1, 3, 4, 6, 7]  # displacements 0->1, 3->4, 6->7: starts 3 frames apart, never 2
    table = pd.DataFrame({"frame": frames, "particle": 1, "x": np.arange(6.0) ** 2, "y": 0.0})
    assert step_correlation(table, PX).n_pairs == 0
    assert step_correlation(table, PX, lag=3).n_pairs == 2
    with pytest.raises(ValueError, match="lag must be >= 2"):
        step_correlation(table, PX, lag=1)


def test_motion_blur_handled_with_exposure_fraction() -> None:
    """Positions averaged over the whole frame interval: R = 1/6 recovers D and sigma, R = 0 does not."""
    rng = np.random.default_rng(7)
    sub = 20
    fine = brownian(rng, 200, 150 * sub, D_TRUE, DT / sub)
    blurred = fine.reshape(200, 150, sub, 2).mean(axis=2) + rng.normal(0.0, SIGMA, (200, 150, 2))
    tracks = to_table(blurred, PX)
    _, pooled = cve(tracks, PX, 1 / DT, exposure_fraction=1.0)
    assert float(pooled.D) == pytest.approx(D_TRUE, rel=0.05)
    assert np.sqrt(float(pooled.sigma2)) == pytest.approx(SIGMA, rel=0.10)
    result = analyze(tracks, px_nm=PX, fps=1 / DT, exposure_fraction=1.0, n_bootstrap=0, vanhove_lags=[1])
    assert result.ensemble["msd_fit"]["D_nm2_s"] == pytest.approx(D_TRUE, rel=0.05)
    assert result.ensemble["msd_fit"]["sigma_nm"] == pytest.approx(SIGMA, rel=0.10)
    _, naive = cve(tracks, PX, 1 / DT, exposure_fraction=0.0)
    assert abs(np.sqrt(float(naive.sigma2)) - SIGMA) > 0.2 * SIGMA


@pytest.mark.parametrize("hurst", [0.35, 0.65])
def test_fbm_alpha_recovered(hurst: float) -> None:
    rng = np.random.default_rng(int(hurst * 100))
    tracks = to_table(fbm(rng, 300, 200, hurst, 5.0), 1.0)
    result = analyze(tracks, px_nm=1.0, fps=10.0, exposure_fraction=0.0, n_bootstrap=20, vanhove_lags=[1])
    assert result.ensemble["alpha_fit"]["alpha"] == pytest.approx(2 * hurst, abs=0.05)
    assert result.particles["alpha"].median() == pytest.approx(2 * hurst, abs=0.1)


def test_laplace_and_gaussian_displacements_told_apart() -> None:
    rng = np.random.default_rng(3)
    steps = {"laplace": rng.laplace(0.0, 3.0, (100, 300, 2)), "gaussian": rng.normal(0.0, 3.0, (100, 300, 2))}
    for kind, s in steps.items():
        (vh,) = van_hove(to_table(np.cumsum(s, axis=1), 1.0), 1.0, 10.0, [1])
        assert vh.preferred == kind
        assert vh.alpha2 == pytest.approx(1.0 if kind == "laplace" else 0.0, abs=0.1)
        assert vh.n == 2 * 100 * 299
        fit = vh.laplace if kind == "laplace" else vh.gaussian
        assert fit.scale == pytest.approx(3.0, rel=0.02)  # Laplace b, or Gaussian standard deviation
        assert vh.gaussian.scale == pytest.approx(3.0 * (np.sqrt(2.0) if kind == "laplace" else 1.0), rel=0.02)
        assert np.sum(vh.density * np.diff(vh.edges)) == pytest.approx(1.0, abs=0.01)


def test_vacf_of_brownian_with_noise(noisy_result) -> None:
    c = noisy_result.vacf.c_norm
    expected = -(SIGMA**2) / (2 * D_TRUE * DT + 2 * SIGMA**2)
    assert c[0] == 1.0
    assert c[1] == pytest.approx(expected, abs=0.02)
    assert np.all(np.abs(c[2:]) < 0.03)
    v0 = noisy_result.vacf.c[0]
    assert v0 == pytest.approx(2 * (2 * D_TRUE * DT + 2 * SIGMA**2) / DT**2, rel=0.03)  # <|v|^2> in nm^2/s^2


def test_drift_recovered_and_subtracted() -> None:
    rng = np.random.default_rng(9)
    velocity = (30.0, -10.0)
    tracks = to_table(brownian(rng, 300, 200, D_TRUE, DT, drift_nm_s=velocity), PX, keep=rng.random((300, 200)) > 0.1)
    raw = analyze(tracks, px_nm=PX, fps=1 / DT, exposure_fraction=0.0, n_bootstrap=0, vanhove_lags=[1])
    fixed = analyze(tracks, px_nm=PX, fps=1 / DT, exposure_fraction=0.0, n_bootstrap=0, vanhove_lags=[1],
                    subtract_drift=True)
    drift = raw.drift
    span_s = (drift.index[-1] - drift.index[0]) * DT
    assert drift["x_nm"].iloc[-1] / span_s == pytest.approx(velocity[0], abs=3.0)
    assert drift["y_nm"].iloc[-1] / span_s == pytest.approx(velocity[1], abs=3.0)
    assert raw.ensemble["cve"]["D_nm2_s"] > 1.05 * D_TRUE
    assert fixed.ensemble["cve"]["D_nm2_s"] == pytest.approx(D_TRUE, rel=0.03)
    lag = 100
    assert fixed.msd.ensemble[lag - 1] == pytest.approx(4 * D_TRUE * lag * DT, rel=0.1)
    assert raw.msd.ensemble[lag - 1] > 1.5 * 4 * D_TRUE * lag * DT


def test_min_length_filter_and_errors(noisy_brownian: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="at least 500 frames"):
        analyze(noisy_brownian, px_nm=PX, fps=20.0, min_length=500)
    with pytest.raises(InputError, match="exposure fraction"):
        analyze(noisy_brownian, px_nm=PX, fps=20.0, exposure_fraction=1.5)
    short = pd.concat([noisy_brownian, pd.DataFrame({"frame": [0, 1], "particle": 10_000, "x": [1.0, 2], "y": 0.0})])
    result = analyze(short, px_nm=PX, fps=20.0, n_bootstrap=0, vanhove_lags=[1])
    assert 10_000 not in set(result.particles["particle"])
