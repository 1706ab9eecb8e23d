"""MSD and drift: trackpy parity, gaps handled as true frame differences."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_analysis_synth import brownian, to_table

from samem.analysis.drift import compute_drift
from samem.analysis.msd import compute_msd, emsd, imsd
from samem.io.tables import validate_trajectories

trackpy = pytest.importorskip("trackpy")


@pytest.fixture(scope="module")
def gappy_tracks() -> pd.DataFrame:
    """Particles of different lengths and start frames, random gaps, a long gap, x range >> y range."""
    rng = np.random.default_rng(11)
    parts = []
    for p in range(40):
        n = int(rng.integers(2, 260))
        frames = int(rng.integers(0, 80)) + np.arange(n)
        keep = rng.random(n) > 0.25
        keep[0] = True
        if p % 5 == 0 and n > 40:
            keep[10:30] = False  # a gap longer than many lags
        frames = frames[keep]
        xy = np.cumsum(rng.normal(0.0, 1.3, (len(frames), 2)), axis=0) + rng.uniform(0, [1800, 250])
        parts.append(pd.DataFrame({"frame": frames, "particle": 3 * p + 7, "x": xy[:, 0], "y": xy[:, 1]}))
    parts.append(pd.DataFrame({"frame": [0, 150], "particle": 999, "x": [5.0, 9.0], "y": [1.0, 2.0]}))  # no lag<=100
    return validate_trajectories(pd.concat(parts))


@pytest.mark.parametrize("max_lag", [100, 7])
def test_imsd_emsd_match_trackpy(gappy_tracks: pd.DataFrame, max_lag: int) -> None:
    px_nm, fps = 2.7, 33.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_i = trackpy.imsd(gappy_tracks, mpp=px_nm, fps=fps, max_lagtime=max_lag)
        ref_e = trackpy.emsd(gappy_tracks, mpp=px_nm, fps=fps, max_lagtime=max_lag)
    ours_i = imsd(gappy_tracks, px_nm, fps, max_lag)
    ours_e = emsd(gappy_tracks, px_nm, fps, max_lag)
    assert list(ours_i.columns) == list(ref_i.columns)
    np.testing.assert_allclose(ours_i.index.to_numpy(), ref_i.index.to_numpy(), rtol=1e-12)
    assert ours_i.isna().to_numpy().any()  # lags without pairs exist and are NaN in both
    np.testing.assert_allclose(ours_i.to_numpy(), ref_i.to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ours_e.to_numpy(), ref_e.to_numpy(), rtol=1e-9, equal_nan=True)


def test_gap_msd_matches_hand_computation() -> None:
    frames = np.array([0, 1, 2, 5, 6, 9])
    x = np.array([0.0, 1.0, 3.0, 2.0, 4.0, 8.0])
    y = np.array([0.0, 2.0, 2.0, 5.0, 1.0, 0.0])
    tracks = pd.DataFrame({"frame": frames, "particle": 0, "x": x, "y": y})
    result = compute_msd(tracks, px_nm=2.0, fps=10.0, max_lag=9)
    for lag in range(1, 10):
        sq = [
            (x[j] - x[i]) ** 2 + (y[j] - y[i]) ** 2
            for i in range(len(frames))
            for j in range(len(frames))
            if frames[j] - frames[i] == lag
        ]
        assert result.n_pairs[0, lag - 1] == len(sq)
        if sq:
            assert result.msd[0, lag - 1] == pytest.approx(4.0 * np.mean(sq), rel=1e-12)
        else:
            assert np.isnan(result.msd[0, lag - 1])
    np.testing.assert_allclose(result.lag_s, np.arange(1, 10) / 10.0)


def test_removing_rows_never_merges_frames() -> None:
    """Deleting frames removes pairs; it never turns a longer frame difference into a shorter lag."""
    rng = np.random.default_rng(5)
    xy = brownian(rng, 5, 120, 50.0, 0.1)
    full = to_table(xy, 1.0)
    keep = rng.random(len(full)) > 0.4
    cut = full[keep]
    a, b = compute_msd(full, 1.0, 10.0, 30), compute_msd(cut, 1.0, 10.0, 30)
    assert (b.n_pairs <= a.n_pairs).all()
    # MSD of a ballistic walker x = frame: every pair at lag k has squared displacement exactly k^2.
    ballistic = cut.assign(x=cut["frame"].astype(float), y=0.0)
    m = compute_msd(ballistic, 1.0, 1.0, 30)
    finite = np.isfinite(m.msd)
    np.testing.assert_allclose(m.msd[finite], np.broadcast_to(m.lag_frames**2.0, m.msd.shape)[finite], rtol=1e-9)


def test_drift_matches_trackpy(gappy_tracks: pd.DataFrame) -> None:
    px_nm = 1.5
    ours = compute_drift(gappy_tracks, px_nm)
    ref = trackpy.compute_drift(gappy_tracks, smoothing=0)
    np.testing.assert_allclose(ours.loc[ref.index, "x_nm"], ref["x"] * px_nm, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.loc[ref.index, "y_nm"], ref["y"] * px_nm, rtol=1e-9, atol=1e-9)
    assert ours.index[0] == gappy_tracks["frame"].min()
    assert ours.iloc[0][["x_nm", "y_nm"]].tolist() == [0.0, 0.0]


def test_drift_of_tracks_without_a_single_step_is_zero_and_the_analysis_says_they_are_too_short() -> None:
    from samem.analysis import analyze
    from samem.errors import InputError

    lone = validate_trajectories(pd.DataFrame({"frame": [3, 5], "particle": [1, 1], "x": [2.0, 4.0], "y": [1.0, 1.0]}))
    drift = compute_drift(lone, 0.5)
    assert drift.index.tolist() == [3, 4, 5] and not drift[["x_nm", "y_nm"]].to_numpy().any()
    assert drift["n_pairs"].tolist() == [0, 0, 0]
    with pytest.raises(InputError, match="no particle has at least 10 frames"):
        analyze(lone.iloc[:1], px_nm=0.5, fps=20.0)
