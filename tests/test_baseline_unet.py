"""The U-Net baseline: a tiny training run on easy simulated frames, tracking, checkpoint errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

pytest.importorskip("trackpy")

from samem.baselines import BaselineResult, load_unet, track_with_unet, train_unet, tune_unet
from samem.baselines.unet import UNET_TRAJECTORY_COLUMNS, _crop, predict_foreground
from samem.baselines.unet_model import UNet
from samem.errors import InputError
from samem.evaluate import evaluate_video
from samem.sim import ImagingSpec, MotionSpec, ParticleSpec, VideoSpec, write_dataset, write_video

PX_NM = 0.5


def easy_spec(rng: np.random.Generator, *, side: int | None = None, n_frames: int = 3) -> VideoSpec:
    """2-3 spheres of 10-14 px at high dose (SNR ~7), slow Brownian motion."""
    height = side or int(rng.integers(64, 97))
    width = side or int(rng.integers(64, 97))
    particles = tuple(
        ParticleSpec(
            shape="sphere",
            size_nm=float(rng.uniform(5.0, 7.0)),
            x_nm=float(rng.uniform(8, width - 8)) * PX_NM,
            y_nm=float(rng.uniform(8, height - 8)) * PX_NM,
            motion=MotionSpec(D_nm2_s=5.0),
        )
        for _ in range(int(rng.integers(2, 4)))
    )
    return VideoSpec(
        width=width,
        height=height,
        n_frames=n_frames,
        px_nm=PX_NM,
        particles=particles,
        imaging=ImagingSpec(dose_rate=200.0),
        seed=int(rng.integers(2**31)),
    )


def three_spheres(width: int = 96, height: int = 96) -> VideoSpec:
    particles = tuple(
        ParticleSpec(shape="sphere", size_nm=6.0, x_nm=x * PX_NM, y_nm=y * PX_NM, motion=MotionSpec(D_nm2_s=5.0))
        for x, y in ((24, 24), (70, 30), (45, 72))
    )
    return VideoSpec(
        width=width,
        height=height,
        n_frames=10,
        px_nm=PX_NM,
        particles=particles,
        imaging=ImagingSpec(dose_rate=200.0),
        seed=7,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unet")


@pytest.fixture(scope="module")
def trained(workdir: Path) -> Path:
    return train_unet(steps=60, image_size=64, seed=0, out_path=workdir / "ckpt" / "unet.pt", frames_from=easy_spec)


@pytest.fixture(scope="module")
def untrained(workdir: Path) -> Path:
    return train_unet(
        steps=1, image_size=64, seed=0, out_path=workdir / "untrained.pt", frames_from=easy_spec, learning_rate=1e-12
    )


@pytest.fixture(scope="module")
def video(workdir: Path) -> Path:
    out = workdir / "video"
    write_video(three_spheres(), out, progress=False)
    return out


def test_training_lowers_the_loss_and_writes_a_loadable_checkpoint(trained: Path) -> None:
    data = torch.load(trained, weights_only=True)
    assert set(data) >= {"model", "config", "history"}
    history = data["history"]
    assert len(history) == 60
    assert np.mean(history[-10:]) < 0.75 * np.mean(history[:10])
    model, config = load_unet(trained)
    assert isinstance(model, UNet) and not model.training
    assert config["image_size"] == 64 and config["levels"] == 4 and config["base_channels"] == 16
    assert 0.3e6 < sum(p.numel() for p in model.parameters()) < 0.7e6


def test_trained_net_finds_and_links_the_particles(video: Path, trained: Path, untrained: Path) -> None:
    gt = tifffile.imread(video / "gt_masks.tif")
    result = track_with_unet(video / "video.tif", trained)
    assert isinstance(result, BaselineResult)
    tracks = result.trajectories
    assert list(tracks.columns) == list(UNET_TRAJECTORY_COLUMNS)
    assert result.labels is not None and result.labels.dtype == np.uint16 and result.labels.shape == gt.shape
    assert set(np.unique(result.labels).tolist()) - {0} == set(tracks["particle"].tolist())
    assert tracks["particle"].min() == 1
    assert not tracks.duplicated(["frame", "particle"]).any()
    scores = evaluate_video(result.labels, gt)
    assert scores["J"] > 0.5
    assert scores["detection_recall"] > 0.9 and scores["id_switches"] == 0
    baseline = evaluate_video(track_with_unet(video / "video.tif", untrained).labels, gt)
    assert scores["J"] > baseline["J"] + 0.3
    assert result.parameters["search_range_px"] >= 3 and result.parameters["memory"] == 3


def test_high_threshold_gives_empty_but_well_formed_result(video: Path, trained: Path) -> None:
    result = track_with_unet(video / "video.tif", trained, threshold=0.999999, min_area_px=10_000)
    assert len(result.trajectories) == 0
    assert list(result.trajectories.columns) == list(UNET_TRAJECTORY_COLUMNS)
    assert result.labels is not None and not result.labels.any()


def test_missing_or_corrupt_checkpoint_raises_input_error(video: Path, workdir: Path) -> None:
    with pytest.raises(InputError):
        track_with_unet(video / "video.tif", workdir / "absent.pt")
    corrupt = workdir / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        load_unet(corrupt)
    foreign = workdir / "foreign.pt"
    torch.save({"model": {}, "config": {"in_channels": 1, "base_channels": 16, "levels": 4}}, foreign)
    with pytest.raises(InputError):
        track_with_unet(video / "video.tif", foreign)


def test_bad_arguments_raise_input_error(video: Path, trained: Path, workdir: Path) -> None:
    with pytest.raises(InputError):
        train_unet(steps=0, out_path=workdir / "x.pt")
    with pytest.raises(InputError):
        train_unet(steps=1, image_size=60, out_path=workdir / "x.pt")
    with pytest.raises(InputError):
        track_with_unet(video / "video.tif", trained, threshold=1.5)
    with pytest.raises(InputError):
        track_with_unet(video / "video.tif", trained, memory=-1)


def test_trains_from_a_dataset_directory(workdir: Path) -> None:
    root = workdir / "dataset"
    write_dataset(root, n_clips=2, splits=(1.0, 0.0, 0.0), frame_size=(64, 72), n_frames=(2, 2), progress=False)
    out = train_unet(steps=2, image_size=64, seed=1, out_path=workdir / "ds.pt", frames_from=root, clips_per_refresh=1)
    assert len(torch.load(out, weights_only=True)["history"]) == 2
    with pytest.raises(InputError):
        train_unet(steps=1, image_size=64, out_path=workdir / "y.pt", frames_from=workdir / "no_dataset")


def test_train_unet_command_writes_a_loadable_checkpoint_and_rejects_bad_input(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from samem.cli import main

    root = workdir / "cli_dataset"
    write_dataset(root, n_clips=1, splits=(1.0, 0.0, 0.0), frame_size=(64, 64), n_frames=(2, 2), progress=False)
    out = workdir / "cli" / "unet.pt"

    def train(path: Path, size: int) -> int:
        return main(["train-unet", "--out", str(path), "--steps", "2", "--image-size", str(size), "--batch-size",
                     "2", "--dataset", str(root), "--no-progress"])  # fmt: skip

    assert train(out, 64) == 0
    model, config = load_unet(out)
    assert isinstance(model, UNet) and config["image_size"] == 64 and config["steps"] == 2
    assert str(out) in capsys.readouterr().out

    assert train(workdir / "bad.pt", 60) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "multiple of 8" in err
    assert not (workdir / "bad.pt").exists()


def test_crops_are_windows_at_native_pixel_size() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((90, 130), dtype=np.float32)
    mask = np.zeros(image.shape, dtype=bool)
    mask[70:75, 100:104] = True  # 20 px of foreground in 11700
    for _ in range(20):
        crop, crop_mask = _crop(rng, image, mask, 64, positive_fraction=1.0)
        assert crop.shape == crop_mask.shape == (64, 64) and crop_mask.sum() > 0
        ((top, left),) = np.argwhere(image == crop[0, 0])  # the values are distinct
        np.testing.assert_array_equal(crop, image[top : top + 64, left : left + 64])  # cut, not resized
        np.testing.assert_array_equal(crop_mask, mask[top : top + 64, left : left + 64])
    small, small_mask = _crop(rng, image[:40, :50], mask[:40, :50], 64, positive_fraction=0.0)
    assert small.shape == small_mask.shape == (64, 64)
    np.testing.assert_array_equal(small[:40, :50], image[:40, :50])  # reflected to fit, not stretched


def test_frames_are_segmented_whole_at_their_own_size(trained: Path) -> None:
    model, _ = load_unet(trained)
    frame = np.random.default_rng(1).random((75, 203), dtype=np.float32)  # neither side a multiple of 8
    prob = predict_foreground(model, frame)
    assert prob.shape == frame.shape and prob.dtype == np.float32 and 0 <= prob.min() <= prob.max() <= 1
    with pytest.raises(InputError, match="2-D frame"):
        predict_foreground(model, frame[None])


def test_particles_keep_their_pixel_size_in_frames_larger_than_the_crops(trained: Path, workdir: Path) -> None:
    out = workdir / "wide"
    write_video(three_spheres(width=200, height=120), out, progress=False)  # 3 x the 64 px training crops
    gt = tifffile.imread(out / "gt_masks.tif")
    result = track_with_unet(out / "video.tif", trained)
    assert result.labels is not None and result.labels.shape == gt.shape == (10, 120, 200)
    scores = evaluate_video(result.labels, gt)
    assert scores["J"] > 0.5 and scores["detection_recall"] > 0.9 and scores["detection_precision"] > 0.9
    areas = result.trajectories["area_px"].to_numpy()
    assert np.median(areas) == pytest.approx(np.median(np.bincount(gt[0].ravel())[1:]), rel=0.35)


def test_checkpoint_of_resized_training_is_refused(trained: Path, workdir: Path) -> None:
    data = torch.load(trained, weights_only=True)
    del data["config"]["scale"]
    old = workdir / "resized.pt"
    torch.save(data, old)
    with pytest.raises(InputError, match="trained on resized frames"):
        load_unet(old)


def test_tuning_the_smallest_instance_keeps_the_particles(trained: Path, video: Path) -> None:
    gt_tracks = pd.read_csv(video / "gt_tracks.csv")
    best = tune_unet(video / "video.tif", trained, gt_tracks)
    assert best["detection_f1"] > 0.9 and best["min_area_px"] >= 4 and best["threshold"] == 0.5
    assert best["grid"][0]["min_area_px"] == 4  # the default cut, then the count-matched ones (none here: no specks)
    assert best["match_px"] == pytest.approx(np.sqrt(np.median(gt_tracks["area_px"]) / np.pi), rel=0.35)
    result = track_with_unet(video / "video.tif", trained, min_area_px=best["min_area_px"])
    assert result.parameters["min_area_px"] == best["min_area_px"]
    with pytest.raises(InputError, match="threshold"):
        tune_unet(video / "video.tif", trained, gt_tracks, threshold=0.0)
