import numpy as np
import pytest

from samem.sim.motion import fractional_gaussian_noise, generate_path
from samem.sim.spec import MotionSpec

FPS = 20.0
DT = 1 / FPS


def paths(motion, n_particles, n_frames, seed=0):
    children = np.random.SeedSequence(seed).spawn(n_particles)
    out = [
        generate_path(
            motion, start_nm=(0.0, 0.0), angle0_rad=0.0, n_frames=n_frames, fps=FPS, rng=np.random.default_rng(c)
        )
        for c in children
    ]
    return np.stack([p.xy_nm for p in out]), np.stack([p.angle_rad for p in out])


def test_brownian_msd_is_4Dt():
    D = 50.0
    xy, _ = paths(MotionSpec(kind="brownian", D_nm2_s=D), 500, 60)
    for lag in (1, 5, 20):
        msd = np.mean(np.sum((xy[:, lag:] - xy[:, :-lag]) ** 2, axis=2))
        assert msd == pytest.approx(4 * D * lag * DT, rel=0.05)  # 5 %: >= 20 000 displacements per lag


def test_drift_adds_mean_displacement():
    xy, _ = paths(MotionSpec(kind="brownian", D_nm2_s=1.0, drift_nm_s=(100.0, -40.0)), 50, 41)
    mean_end = xy[:, -1].mean(axis=0)
    assert mean_end == pytest.approx([100.0 * 2.0, -40.0 * 2.0], abs=1.0)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5])
def test_fbm_msd_exponent(alpha):
    D = 20.0
    xy, _ = paths(MotionSpec(kind="fbm", D_nm2_s=D, alpha=alpha), 400, 129)
    lags = np.arange(1, 129)
    msd = np.mean(np.sum((xy[:, 1:] - xy[:, :1]) ** 2, axis=2), axis=0)  # ensemble MSD from t = 0
    slope, intercept = np.polyfit(np.log(lags * DT), np.log(msd), 1)
    assert abs(slope - alpha) < 0.05
    assert np.exp(intercept) == pytest.approx(4 * D, rel=0.15)


def test_fgn_autocovariance():
    hurst = 0.8
    noise = fractional_gaussian_noise(np.random.default_rng(1), 64, hurst, size=2000)
    assert noise.shape == (2000, 64)
    assert np.var(noise) == pytest.approx(1.0, rel=0.03)
    lag1 = np.mean(noise[:, 1:] * noise[:, :-1])
    assert lag1 == pytest.approx(0.5 * (2 ** (2 * hurst) - 2), abs=0.03)


def test_ctrw_has_heavy_tailed_waiting_periods():
    motion = MotionSpec(kind="ctrw", D_nm2_s=50.0, alpha=0.5)
    xy, _ = paths(motion, 100, 200)
    still = np.all(np.diff(xy, axis=1) == 0, axis=2)
    assert still.mean() > 0.5  # most frames show no motion

    runs = []
    for row in still:
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        runs.extend(edges[1::2] - edges[::2])
    runs = np.array(runs)
    assert runs.max() >= 100  # waits comparable to the clip length occur
    assert np.mean(runs >= 10) > 0.1  # heavy tail: many long waits
    brownian, _ = paths(MotionSpec(kind="brownian", D_nm2_s=50.0), 20, 200)
    assert not np.any(np.all(np.diff(brownian, axis=1) == 0, axis=2))
    msd = np.mean(np.sum((xy[:, 1:] - xy[:, :1]) ** 2, axis=2), axis=0)
    lags = np.arange(1, 200)
    slope = np.polyfit(np.log(lags[9:]), np.log(msd[9:]), 1)[0]
    assert slope < 0.8  # subdiffusive


def test_confined_stays_in_trap_and_msd_plateaus():
    D, r = 100.0, 5.0
    theta = D / r**2
    xy, _ = paths(MotionSpec(kind="confined", D_nm2_s=D, trap_radius_nm=r), 200, 400)
    assert np.abs(xy).max() < 6 * r
    for lag in (1, 3):
        msd = np.mean(np.sum((xy[:, lag:] - xy[:, :-lag]) ** 2, axis=2))
        assert msd == pytest.approx(2 * 2 * D / theta * (1 - np.exp(-theta * lag * DT)), rel=0.05)
    plateau = np.mean(np.sum((xy[:, 100:] - xy[:, :-100]) ** 2, axis=2))
    assert plateau == pytest.approx(2 * 2 * D / theta, rel=0.05)  # 2 D / theta per axis


def test_rotational_diffusion():
    D_rot = 0.5
    _, angle = paths(MotionSpec(kind="brownian", D_nm2_s=0.0, D_rot_rad2_s=D_rot), 400, 41)
    for lag in (1, 10):
        msad = np.mean((angle[:, lag:] - angle[:, :-lag]) ** 2)
        assert msad == pytest.approx(2 * D_rot * lag * DT, rel=0.06)
