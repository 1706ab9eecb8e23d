import itertools
import math

import numpy as np
import pytest

from samem.sim import imaging
from samem.sim.result import simulate_video
from samem.sim.spec import ImagingSpec, MotionSpec, ParticleSpec, VideoSpec

PX = 0.5


def snr_of(**imaging_kwargs):
    still = MotionSpec(D_nm2_s=0.0)
    particles = tuple(
        ParticleSpec(shape="sphere", size_nm=10.0, material="Au", x_nm=x * PX, y_nm=32 * PX, motion=still)
        for x in (20, 48, 76)
    )
    params = {"thickness_nm": 150.0, "dose_rate": 40.0, "exposure_s": 0.05, "blur_px": 0.7, **imaging_kwargs}
    spec = VideoSpec(
        width=96, height=64, n_frames=4, fps=20.0, px_nm=PX, particles=particles, imaging=ImagingSpec(**params), seed=11
    )
    return simulate_video(spec).snr


def test_snr_decreases_with_liquid_thickness():
    snrs = [snr_of(thickness_nm=t) for t in (50, 150, 400, 800, 1500)]
    assert all(a > b for a, b in itertools.pairwise(snrs)), snrs


def test_snr_decreases_with_lower_dose():
    snrs = [snr_of(dose_rate=d) for d in (400, 100, 25, 6, 1.5)]
    assert all(a > b for a, b in itertools.pairwise(snrs)), snrs
    assert snrs[0] > 5 and snrs[-1] < 2  # from clean to barely visible


def test_background_counts_follow_beer_lambert():
    spec = VideoSpec(
        width=64,
        height=48,
        n_frames=2,
        fps=10.0,
        px_nm=PX,
        seed=3,
        imaging=ImagingSpec(
            thickness_nm=300.0, dose_rate=100.0, exposure_s=0.1, blur_px=0.0, bulge=0.0, gradient=0.0, illum_drift=0.0
        ),
    )
    video = simulate_video(spec).video
    incident = 100.0 * 0.1 * (10 * PX) ** 2
    assert video.mean() == pytest.approx(incident * math.exp(-300.0 / 300.0), rel=0.01)
    assert video.var() == pytest.approx(video.mean(), rel=0.05)  # Poisson: variance = mean without blur


def test_thickness_profile_and_illumination():
    spec = ImagingSpec(
        thickness_nm=200.0, bulge=0.25, gradient=0.1, gradient_angle_rad=0.0, illum_drift=0.05, illum_period_s=4.0
    )
    liquid = imaging.liquid_thickness_map(41, 61, spec)
    assert liquid[20, 30] == pytest.approx(200.0)
    assert liquid[0, 0] == pytest.approx(150.0)
    beam = imaging.illumination_map(41, 61, spec)
    assert beam[20, 30] == pytest.approx(1.0)
    assert beam[20, 60] > 1.0 > beam[20, 0]
    assert imaging.illumination_drift(1.0, spec) == pytest.approx(1.05)


def test_blur_is_applied_after_shot_noise():
    rng = np.random.default_rng(0)
    sharp = imaging.detect(np.full((64, 64), 100.0), rng, 0.0)
    blurred = imaging.detect(np.full((64, 64), 100.0), rng, 2.0)
    assert sharp.dtype == blurred.dtype == np.float32
    assert blurred.std() < 0.3 * sharp.std()


def test_particles_thicker_than_the_liquid_leave_no_liquid_in_their_column():
    big = ParticleSpec(
        shape="cube", size_nm=30.0, material="SiO2", x_nm=24 * PX, y_nm=24 * PX, motion=MotionSpec(D_nm2_s=0.0)
    )
    spec = VideoSpec(
        width=48,
        height=48,
        n_frames=1,
        fps=10.0,
        px_nm=PX,
        particles=(big,),
        seed=1,
        imaging=ImagingSpec(
            thickness_nm=20.0, dose_rate=1e5, exposure_s=0.1, blur_px=0.0, bulge=0.0, gradient=0.0, illum_drift=0.0
        ),
    )
    frame = simulate_video(spec).video[0]
    incident = 1e5 * 0.1 * (10 * PX) ** 2
    assert frame[24, 24] == pytest.approx(incident * math.exp(-30.0 / 150.0), rel=0.02)


def test_quantizer_uses_one_window_per_video():
    q = imaging.Quantizer("8bit", 80)
    first = q(np.linspace(0, 100, 1000, dtype=np.float32).reshape(10, 100))
    second = q(np.full((10, 100), 1000.0, dtype=np.float32))
    assert first.dtype == np.uint8 and first.min() > 0 and first.max() < 255
    assert (second == 255).all()
    jpeg = imaging.Quantizer("jpeg", 50)(np.random.default_rng(0).normal(50, 5, (32, 48)).astype(np.float32))
    assert jpeg.dtype == np.uint8 and jpeg.shape == (32, 48)
