import math

import numpy as np
import pytest

from samem.sim import shapes
from samem.sim.render import rasterize
from samem.sim.spec import ParticleSpec

PARTICLES = [
    ParticleSpec(shape="sphere", size_nm=12.0),
    ParticleSpec(shape="rod", size_nm=6.0, aspect=4.0),
    ParticleSpec(shape="triangle", size_nm=16.0, aspect=4.0),
    ParticleSpec(shape="cube", size_nm=10.0),
    ParticleSpec(shape="aggregate", size_nm=6.0, offsets_nm=((-3.0, 0.0), (3.0, 0.0))),
]


@pytest.mark.parametrize("particle", PARTICLES, ids=lambda p: p.shape)
def test_projected_thickness_integrates_to_volume(particle):
    px_nm = 0.5
    foot = rasterize(particle, x_px=40.3, y_px=38.7, angle_rad=0.4, px_nm=px_nm, frame_shape=(80, 90), supersample=5)
    volume = foot.thickness_nm.sum() * px_nm**2
    assert volume == pytest.approx(shapes.volume_nm3(particle), rel=0.015)
    area = (foot.coverage >= 0.5).sum() * px_nm**2
    assert area == pytest.approx(shapes.projected_area_nm2(particle), rel=0.05)


def test_volumes_match_formulas():
    assert shapes.volume_nm3(PARTICLES[0]) == pytest.approx(4 / 3 * math.pi * 6**3)
    assert shapes.volume_nm3(PARTICLES[1]) == pytest.approx(math.pi * 9 * 18 + 4 / 3 * math.pi * 27)
    assert shapes.volume_nm3(PARTICLES[2]) == pytest.approx(math.sqrt(3) / 4 * 256 * 4)
    assert shapes.volume_nm3(PARTICLES[3]) == pytest.approx(1000)


def test_sphere_thickness_profile_and_bounding_radius():
    sphere = PARTICLES[0]
    assert shapes.projected_thickness(sphere, np.array(0.0), np.array(0.0)) == pytest.approx(12.0)
    assert shapes.projected_thickness(sphere, np.array(6.01), np.array(0.0)) == 0.0
    for p in PARTICLES:
        r = shapes.bounding_radius_nm(p)
        angles = np.linspace(0, 2 * np.pi, 64)
        ring = shapes.projected_thickness(p, 1.001 * r * np.cos(angles), 1.001 * r * np.sin(angles))
        assert not ring.any()


def test_triangle_vertex_points_along_orientation():
    tri = PARTICLES[2]
    r = shapes.bounding_radius_nm(tri)
    assert shapes.projected_thickness(tri, np.array(0.98 * r), np.array(0.0)) > 0
    assert shapes.projected_thickness(tri, np.array(-0.98 * r), np.array(0.0)) == 0


def test_aggregate_offsets_touch_without_overlap():
    offsets = np.array(shapes.aggregate_offsets(np.random.default_rng(3), 5, 10.0))
    assert offsets.shape == (5, 2)
    assert np.allclose(offsets.mean(axis=0), 0)
    d = np.hypot(*(offsets[:, None] - offsets[None]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    assert d.min() >= 10.0 - 1e-6
    assert np.all(np.isclose(d, 10.0).any(axis=1))  # each sphere touches another
