"""The trackpy baseline on small simulated videos: detection, linking, centroid accuracy, label masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tifffile

pytest.importorskip("trackpy")

from scipy import ndimage

from samem.baselines import BaselineResult, estimate_diameter, track_with_trackpy, tune_parameters
from samem.baselines.common import prepare_frame
from samem.baselines.trackpy_baseline import (
    TRAJECTORY_COLUMNS,
    count_matched_minmasses,
    estimate_minmass,
    otsu_threshold,
    particle_diameter,
)
from samem.errors import InputError
from samem.evaluate import centroid_rmse_from_tables, evaluate_video
from samem.io.video import IntensityNormalizer, open_video
from samem.sim import ImagingSpec, MotionSpec, ParticleSpec, VideoSpec, write_video

#: Three well separated 12 px spheres (6 nm at 0.5 nm/px), slow Brownian motion (about 1.4 px per frame and axis).
CENTRES_PX = ((40, 40), (96, 90), (150, 45))


def three_spheres(dose_rate: float, *, seed: int = 1) -> VideoSpec:
    particles = tuple(
        ParticleSpec(shape="sphere", size_nm=6.0, x_nm=x * 0.5, y_nm=y * 0.5, motion=MotionSpec(D_nm2_s=5.0))
        for x, y in CENTRES_PX
    )
    return VideoSpec(
        width=192,
        height=128,
        n_frames=20,
        px_nm=0.5,
        particles=particles,
        imaging=ImagingSpec(dose_rate=dose_rate),
        seed=seed,
    )


#: Two flat-topped 20 px discs in a 384 x 512 frame: 0.3 % of the pixels, fewer than the 0.5 % that the default
#: intensity percentiles clip, as for a few particles in a full-size frame.
DISC_PX, DISC_STARTS = 20.0, ((130.3, 150.6), (371.8, 240.2))


def write_sparse_discs(path: Path, *, n_frames: int = 12, seed: int = 0) -> pd.DataFrame:
    """Dark discs (contrast 3.5 x the noise, 1 px blur) on a bright background, moving; returns their true tracks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:384, :512]
    frames, rows = [], []
    for frame in range(n_frames):
        image = np.full(xx.shape, 100.0)
        for particle, (x0, y0) in enumerate(DISC_STARTS, start=1):
            x, y = x0 + 1.5 * frame, y0 - 0.5 * frame
            image[(xx - x) ** 2 + (yy - y) ** 2 <= (DISC_PX / 2) ** 2] -= 35.0
            rows.append({"frame": frame, "particle": particle, "x_mask": x, "y_mask": y})
        frames.append(ndimage.gaussian_filter(image, 1.0) + rng.normal(0.0, 10.0, image.shape))
    tifffile.imwrite(path, np.stack(frames).astype(np.float32), photometric="minisblack")
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def sparse_discs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("discs") / "discs.tif"
    return path, write_sparse_discs(path)


@pytest.fixture(scope="module")
def clean_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("baseline") / "clean"
    meta = write_video(three_spheres(200.0), out, progress=False)
    assert meta["snr"] > 4
    return out


@pytest.fixture(scope="module")
def clean_result(clean_video: Path) -> BaselineResult:
    return track_with_trackpy(clean_video / "video.tif")


def test_finds_and_links_all_particles(clean_result: BaselineResult) -> None:
    tracks = clean_result.trajectories
    assert list(tracks.columns) == list(TRAJECTORY_COLUMNS)
    assert sorted(tracks["particle"].unique().tolist()) == [1, 2, 3]
    assert tracks.groupby("frame").size().tolist() == [3] * 20
    assert not tracks.duplicated(["frame", "particle"]).any()
    assert clean_result.parameters["diameter_px"] % 2 == 1
    assert 11 <= clean_result.parameters["diameter_px"] <= 17


def test_centroids_and_masks_match_ground_truth(clean_video: Path, clean_result: BaselineResult) -> None:
    gt_masks = tifffile.imread(clean_video / "gt_masks.tif")
    gt_tracks = pd.read_csv(clean_video / "gt_tracks.csv")
    labels = clean_result.labels
    assert labels is not None and labels.dtype == np.uint16 and labels.shape == gt_masks.shape
    assert set(np.unique(labels).tolist()) == {0, 1, 2, 3}
    scores = evaluate_video(labels, gt_masks)
    assert scores["J"] > 0.6
    assert scores["detection_recall"] == 1.0 and scores["id_switches"] == 0
    assert sorted(scores["pairs"].values()) == [1, 2, 3]
    rmse = centroid_rmse_from_tables(
        clean_result.trajectories, gt_tracks, pairs=scores["pairs"], gt_xy=("x_mask", "y_mask")
    )
    assert rmse["n_matched"] == len(gt_tracks) == 60
    assert rmse["centroid_rmse_px"] < 1.0


def test_explicit_parameters_and_no_labels(clean_video: Path, clean_result: BaselineResult) -> None:
    fixed = track_with_trackpy(
        clean_video / "video.tif",
        diameter_px=clean_result.parameters["diameter_px"],
        minmass=clean_result.parameters["minmass"],
        search_range_px=8.0,
        make_labels=False,
    )
    assert fixed.labels is None
    assert fixed.parameters["search_range_px"] == 8.0
    pd.testing.assert_frame_equal(fixed.trajectories, clean_result.trajectories)


def test_tune_parameters_picks_a_working_setting(clean_video: Path) -> None:
    gt_tracks = pd.read_csv(clean_video / "gt_tracks.csv")
    best = tune_parameters(clean_video / "video.tif", gt_tracks, diameters_px=(13, 15), minmass_factors=(1.0, 2.0))
    assert best["diameter_px"] in (13, 15)
    # per diameter: the 2 multiples of the estimated minmass and the 3 count-matched cut-offs
    assert sorted(row["diameter_px"] for row in best["grid"]) == [13] * 5 + [15] * 5
    assert {row["match_px"] for row in best["grid"]} == {6.5}
    assert best["detection_f1"] == 1.0 and best["centroid_rmse_px"] < 1.0


def test_very_low_snr_runs(tmp_path: Path) -> None:
    write_video(three_spheres(0.05), tmp_path / "noisy", progress=False)
    result = track_with_trackpy(tmp_path / "noisy" / "video.tif")
    assert result.labels is not None and result.labels.shape == (20, 128, 192)
    assert list(result.trajectories.columns) == list(TRAJECTORY_COLUMNS)
    if len(result.trajectories):
        assert result.trajectories["particle"].min() == 1


def test_blank_video_gives_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "blank.tif"
    tifffile.imwrite(path, np.full((4, 32, 48), 100, dtype=np.uint8), photometric="minisblack")
    result = track_with_trackpy(path, diameter_px=7, minmass=1.0)
    assert len(result.trajectories) == 0 and list(result.trajectories.columns)[:4] == ["frame", "particle", "x", "y"]
    assert result.labels is not None and not result.labels.any()


@pytest.mark.parametrize("diameter", [4, 1, 7.5, True])
def test_rejects_bad_diameter(clean_video: Path, diameter: object) -> None:
    with pytest.raises(InputError, match="diameter"):
        track_with_trackpy(clean_video / "video.tif", diameter_px=diameter)  # type: ignore[arg-type]


def test_thresholds() -> None:
    values = np.concatenate([np.zeros(100), np.ones(20)])
    assert 0 < otsu_threshold(values) < 1
    assert otsu_threshold(np.full(5, 2.0)) == 2.0
    rng = np.random.default_rng(0)
    noise, particles = rng.uniform(0.01, 0.1, 500), rng.uniform(5, 6, 30)
    cut = estimate_minmass(np.concatenate([noise, particles]))
    assert 0.1 <= cut <= 5
    assert estimate_minmass(particles) == 0.0


def test_count_matched_minmasses_keep_multiples_of_the_true_count() -> None:
    rng = np.random.default_rng(1)
    noise, particles = rng.uniform(0.0, 10.0, 5000), rng.uniform(50.0, 60.0, 5)  # particles: the top 0.1 %
    masses = np.concatenate([noise, particles, [np.nan]])
    cuts = count_matched_minmasses(masses, n_true=5)
    assert len(cuts) == 3
    kept = [int((masses > cut).sum()) for cut in cuts]
    assert kept == [5, 10, 20]  # 1x, 2x, 4x the true count
    assert 10.0 < cuts[0] < 50.0  # exactly the particles survive the first cut
    assert np.percentile(masses[np.isfinite(masses)], 99) < cuts[0]  # a fixed percentile would keep ~50 noise maxima
    assert count_matched_minmasses(particles, n_true=5) == []  # nothing to cut


def test_rare_particles_keep_their_contrast_without_clipping(sparse_discs: tuple[Path, pd.DataFrame]) -> None:
    path, _ = sparse_discs
    with open_video(path) as reader:
        normalizer = IntensityNormalizer.fit(reader)
        raw = reader.read(0)
    yy, xx = np.mgrid[:384, :512]
    inside = (xx - DISC_STARTS[0][0]) ** 2 + (yy - DISC_STARTS[0][1]) ** 2 <= 8**2
    outside = (xx - DISC_STARTS[0][0]) ** 2 + (yy - DISC_STARTS[0][1]) ** 2 >= 20**2
    clipped = prepare_frame(raw, normalizer, invert=True)
    assert np.mean(clipped[inside] == 1.0) > 0.5  # the percentile clip flattens the rare discs
    linear = prepare_frame(raw, normalizer, invert=True, clip=False)
    contrast = (linear[inside].mean() - linear[outside].mean()) / linear[outside].std()
    assert linear.max() > 1.0 and contrast == pytest.approx(3.5, rel=0.1)


def test_diameter_of_sparse_flat_discs_in_noise(sparse_discs: tuple[Path, pd.DataFrame]) -> None:
    path, _ = sparse_discs
    with open_video(path) as reader:
        assert particle_diameter(reader) == pytest.approx(DISC_PX, rel=0.08)
        assert estimate_diameter(reader) == 23  # the smallest odd integer >= d + 2


def test_tuning_finds_sparse_flat_discs(sparse_discs: tuple[Path, pd.DataFrame]) -> None:
    path, truth = sparse_discs
    best = tune_parameters(path, truth)
    assert sorted({row["diameter_px"] for row in best["grid"]}) == [19, 23, 29, 35]  # 23 x (0.8, 1, 1.25, 1.5)
    assert best["detection_f1"] == 1.0 and best["centroid_rmse_px"] < 1.0
    result = track_with_trackpy(path, diameter_px=best["diameter_px"], minmass=best["minmass"])
    assert result.trajectories.groupby("frame").size().tolist() == [2] * 12
    assert sorted(result.trajectories["particle"].unique().tolist()) == [1, 2]


def test_diameter_of_a_blank_video_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blank.tif"
    tifffile.imwrite(path, np.full((3, 64, 96), 7.0, dtype=np.float32), photometric="minisblack")
    with open_video(path) as reader, pytest.raises(InputError, match="no particle-like blob"):
        estimate_diameter(reader)


@pytest.mark.parametrize(("arguments", "message"), [
    ({"diameters_px": ()}, "at least one diameter"),
    ({"diameters_px": (12,)}, "odd integer"),
    ({"diameter_factors": (1.0, 0.0)}, "factors must be > 0"),
])  # fmt: skip
def test_tuning_rejects_bad_grids(
    sparse_discs: tuple[Path, pd.DataFrame], arguments: dict[str, Any], message: str
) -> None:
    path, truth = sparse_discs
    with pytest.raises(InputError, match=message):
        tune_parameters(path, truth, **arguments)


def test_trackpy_method_returns_the_whole_tuning_grid(tmp_path: Path) -> None:
    from samem.evaluate import testsets
    from samem.evaluate.methods import TrackpyMethod

    video = testsets.write_eval_video(testsets.tuning_case(quick=True), 5.0, tmp_path)
    method = TrackpyMethod()
    tuned = method.tune(video)
    keys = {"diameter_px", "minmass", "detection_f1", "centroid_rmse_px", "n_detections", "match_px"}
    assert tuned["tuning_video"] == video.name and len({row["diameter_px"] for row in tuned["grid"]}) == 4
    assert all(set(row) == keys for row in tuned["grid"])
    assert {key: tuned[key] for key in keys} in tuned["grid"]
    assert method.tuned[5.0] == {"diameter_px": tuned["diameter_px"], "minmass": tuned["minmass"]}
