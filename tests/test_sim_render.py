import numpy as np
import pytest

from samem.sim import shapes
from samem.sim.result import simulate_video
from samem.sim.spec import ImagingSpec, MotionSpec, ParticleSpec, VideoSpec

PX = 0.5
STILL = MotionSpec(kind="brownian", D_nm2_s=0.5, D_rot_rad2_s=0.1)
CLEAN = ImagingSpec(thickness_nm=100.0, dose_rate=200.0, exposure_s=0.05, blur_px=0.5)


def spec_with(*particles, width=96, height=64, n_frames=3, seed=0):
    return VideoSpec(
        width=width, height=height, n_frames=n_frames, fps=20.0, px_nm=PX, particles=particles, imaging=CLEAN, seed=seed
    )


@pytest.mark.parametrize(
    "particle",
    [
        ParticleSpec(shape="sphere", size_nm=9.0),
        ParticleSpec(shape="rod", size_nm=5.0, aspect=3.5),
        ParticleSpec(shape="triangle", size_nm=12.0),
        ParticleSpec(shape="cube", size_nm=8.0),
        ParticleSpec(shape="aggregate", size_nm=5.0, offsets_nm=((-2.5, -1.0), (2.5, 1.0))),
    ],
    ids=lambda p: p.shape,
)
def test_mask_centroid_matches_track_on_non_square_frame(particle):
    # x (column) = 60.3 px, y (row) = 21.6 px in a 96 x 64 frame: a swap of x and y would fall far off.
    p = ParticleSpec(
        **{**particle.__dict__, "x_nm": 60.3 * PX, "y_nm": 21.6 * PX, "orientation_rad": 0.7, "motion": STILL}
    )
    result = simulate_video(spec_with(p))
    assert result.video.shape == result.labels.shape == (3, 64, 96)
    assert len(result.tracks) == 3
    for row in result.tracks.itertuples():
        rows, cols = np.nonzero(result.labels[row.frame] == 1)
        assert abs(cols.mean() - row.x) < 0.5
        assert abs(rows.mean() - row.y) < 0.5
        assert row.x_mask == pytest.approx(cols.mean())
        assert row.area_px == rows.size
        assert row.visible_fraction > 0.9
        assert -np.pi <= row.orientation < np.pi


def test_orientation_follows_rotation_and_sphere_reports_zero():
    rod = ParticleSpec(
        shape="rod",
        size_nm=4.0,
        aspect=4.0,
        x_nm=20.0,
        y_nm=15.0,
        orientation_rad=3.5,
        motion=MotionSpec(D_nm2_s=0.0, D_rot_rad2_s=2.0),
    )
    ball = ParticleSpec(shape="sphere", size_nm=6.0, x_nm=35.0, y_nm=15.0, motion=MotionSpec(D_rot_rad2_s=2.0))
    tracks = simulate_video(spec_with(rod, ball, n_frames=4)).tracks
    rod_rows = tracks[tracks.particle == 1]
    assert rod_rows.orientation.iloc[0] == pytest.approx(3.5 - 2 * np.pi)
    assert rod_rows.orientation.nunique() == 4
    assert (tracks[tracks.particle == 2].orientation == 0).all()
    # the rod's mask elongates along its orientation (second moments)
    labels = simulate_video(spec_with(rod, n_frames=1)).labels[0]
    rows, cols = np.nonzero(labels == 1)
    cov = np.cov(np.vstack([cols, rows]))
    major = np.linalg.eigh(cov)[1][:, -1]
    assert abs(abs(np.cos(np.arctan2(major[1], major[0]) - 3.5)) - 1) < 0.01


def test_particle_with_big_drift_leaves_the_field():
    p = ParticleSpec(
        shape="sphere", size_nm=6.0, x_nm=76 * PX, y_nm=30 * PX, motion=MotionSpec(D_nm2_s=0.0, drift_nm_s=(200.0, 0.0))
    )  # 20 px per frame to the right
    result = simulate_video(spec_with(p, n_frames=6))
    visible = [(result.labels[t] == 1).any() for t in range(6)]
    assert visible == [True, True, False, False, False, False]
    assert list(result.tracks.frame) == [0, 1]
    last = result.tracks.iloc[-1]
    assert last.x == pytest.approx(96.0)  # centre already outside the 96 px wide frame
    assert 0.3 < last.visible_fraction < 0.6  # about half visible
    assert last.x_mask < 95.5


def test_particle_entering_the_field():
    p = ParticleSpec(
        shape="cube", size_nm=6.0, x_nm=-30 * PX, y_nm=30 * PX, motion=MotionSpec(D_nm2_s=0.0, drift_nm_s=(200.0, 0.0))
    )
    result = simulate_video(spec_with(p, n_frames=4))
    assert list(result.tracks.frame) == [2, 3]


def test_edge_masks_are_clipped_copies_of_the_full_mask():
    margin = 40
    near_edge = ParticleSpec(
        shape="triangle",
        size_nm=14.0,
        x_nm=-3.4 * PX,
        y_nm=60.2 * PX,
        orientation_rad=1.1,
        motion=MotionSpec(D_nm2_s=0.0),
    )
    shifted = ParticleSpec(**{**near_edge.__dict__, "x_nm": (margin - 3.4) * PX, "y_nm": (margin + 60.2) * PX})
    small = simulate_video(spec_with(near_edge, n_frames=1)).labels[0]
    big = simulate_video(spec_with(shifted, width=96 + 2 * margin, height=64 + 2 * margin, n_frames=1)).labels[0]
    assert small.any()
    np.testing.assert_array_equal(small, big[margin:-margin, margin:-margin])
    full_area = shapes.projected_area_nm2(near_edge) / PX**2
    assert 0 < (small == 1).sum() < 0.6 * full_area


def test_overlap_thicker_particle_wins_and_thicknesses_add():
    big = ParticleSpec(shape="sphere", size_nm=16.0, x_nm=40 * PX, y_nm=32 * PX, motion=MotionSpec(D_nm2_s=0.0))
    small = ParticleSpec(shape="sphere", size_nm=6.0, x_nm=58 * PX, y_nm=32 * PX, motion=MotionSpec(D_nm2_s=0.0))
    labels = simulate_video(spec_with(big, small, n_frames=1)).labels[0]
    # at column 53 the big sphere (radius 16 px) is thicker than the small one's rim; at 56 the small one wins
    assert labels[32, 53] == 1
    assert labels[32, 56] == 2
    columns = np.array([53.0, 56.0])
    t_big = shapes.projected_thickness(big, (columns - 40) * PX, np.zeros(2))
    t_small = shapes.projected_thickness(small, (columns - 58) * PX, np.zeros(2))
    assert t_big[0] > t_small[0] > 0 and t_small[1] > t_big[1]
    alone = simulate_video(spec_with(big, n_frames=1, seed=5)).video[0]
    both = simulate_video(spec_with(big, small, n_frames=1, seed=5)).video[0]
    assert both[30:35, 52:55].mean() < alone[30:35, 52:55].mean()  # thicknesses add: the overlap is darker
