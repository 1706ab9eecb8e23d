"""Cochran's Q test of one shared D: calibrated on homogeneous Brownian motion, rejecting mixtures and jumps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_analysis_synth import brownian, to_table

from samem.analysis.cve import step_moments
from samem.analysis.homogeneity import MIN_STEPS, Homogeneity, d_homogeneity
from samem.analysis.pipeline import analyze
from samem.analysis.report import render_report
from samem.analysis.writer import stats_dict

DT, PX = 0.05, 0.5


def _test(table: pd.DataFrame, px_nm: float = PX, r_blur: float = 0.0) -> Homogeneity:
    """The test on a trajectory table (pixels) of instantaneous positions unless ``r_blur`` says otherwise."""
    return d_homogeneity(step_moments(table, px_nm), DT, r_blur)


def test_homogeneous_particles_give_chi_squared_q_and_rare_false_alarms() -> None:
    """Q / dof averages 1 and the p-values are uniform: 5 % below 0.05, none below the rejection level."""
    rng = np.random.default_rng(11)
    results = []
    for _ in range(300):
        keep = rng.random((8, 120)) > 0.1  # gaps: 10 % of frames missing
        results.append(_test(to_table(brownian(rng, 8, 120, 50.0, DT, sigma_nm=3.0), PX, keep)))
    assert all(r.dof == 7 for r in results)
    assert np.mean([r.q / r.dof for r in results]) == pytest.approx(1.0, abs=0.08)
    p = np.array([r.p for r in results])
    assert 0.025 <= np.mean(p < 0.05) <= 0.085 and 0.35 <= np.mean(p < 0.5) <= 0.65
    assert sum(r.rejected for r in results) <= 1


def test_a_mixture_of_two_diffusion_coefficients_is_rejected() -> None:
    rng = np.random.default_rng(12)
    xy = np.concatenate([brownian(rng, 4, 200, 20.0, DT, 0.5), brownian(rng, 4, 200, 80.0, DT, 0.5)])
    result = _test(to_table(xy, PX))
    assert result.rejected and result.p < 1e-10
    assert 2.5 < result.spread < 7.0  # 80 / 20 = 4, within the scatter of 200-step estimates


def test_short_tracks_are_left_out() -> None:
    rng = np.random.default_rng(13)
    xy = brownian(rng, 5, MIN_STEPS + 1, 50.0, DT)  # MIN_STEPS displacements each
    xy[3:] *= 4.0  # two particles 16 x as mobile, but ...
    table = to_table(xy, PX)
    short = table[~((table["particle"] >= 3) & (table["frame"] == MIN_STEPS))]  # ... one step short
    assert _test(table).rejected
    untested = _test(short)
    assert untested.dof == 2 and not untested.rejected
    alone = _test(short[short["particle"] >= 2])
    assert alone.dof == 0 and np.isnan(alone.q) and not alone.rejected


def test_a_track_that_jumps_to_another_particle_is_flagged_by_the_analysis() -> None:
    """What a tracker whose mask jumps to a neighbour and back reports: the analysis says the particles differ."""
    rng = np.random.default_rng(14)
    xy = brownian(rng, 6, 200, 50.0, DT, sigma_nm=1.0)
    for start in range(20, 200, 40):  # particle 0 sits 15 nm away, on its neighbour, for 5 frames at a time
        xy[0, start : start + 5] += 15.0
    jumped = analyze(to_table(xy, PX), px_nm=PX, fps=1 / DT, exposure_fraction=0.0, n_bootstrap=0)
    assert jumped.ensemble["cve"]["particles_differ"] and jumped.ensemble["cve"]["homogeneity_dof"] == 5
    assert any("D differ beyond their errors" in note and "max area change 2" in note for note in jumped.notes)
    report = render_report(stats_dict(jumped), {})
    q = jumped.ensemble["cve"]["homogeneity_q"]
    assert f"<td class=num>{q:.4g}</td><td></td><td>5 dof</td>" in report and "D differ beyond" in report
    clean = analyze(to_table(brownian(rng, 6, 200, 50.0, DT, 1.0), PX), px_nm=PX, fps=1 / DT,
                    exposure_fraction=0.0, n_bootstrap=0)  # fmt: skip
    assert not clean.ensemble["cve"]["particles_differ"] and clean.notes == []
    assert isinstance(clean.ensemble["cve"]["homogeneity_p"], float)


def test_the_pooled_table_columns_stay_pixels() -> None:
    """The test reads positions in pixels, as every estimator does: scaling pixels and px_nm together is neutral."""
    rng = np.random.default_rng(15)
    table = to_table(brownian(rng, 5, 100, 50.0, DT, 2.0), PX)
    doubled = table.assign(x=table["x"] * 2, y=table["y"] * 2)
    a = _test(table, r_blur=1 / 6)
    b = _test(pd.DataFrame(doubled), PX / 2, r_blur=1 / 6)
    assert a.q == pytest.approx(b.q, rel=1e-9) and a.p == pytest.approx(b.p, rel=1e-9)
