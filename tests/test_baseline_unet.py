"""The U-Net baseline: a tiny training run on easy simulated frames, tracking, checkpoint errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

pytest.importorskip("trackpy")

from samem.baselines import BaselineResult, load_unet, track_with_unet, train_unet
from samem.baselines.unet import UNET_TRAJECTORY_COLUMNS
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


def three_spheres() -> VideoSpec:
    particles = tuple(
        ParticleSpec(shape="sphere", size_nm=6.0, x_nm=x * PX_NM, y_nm=y * PX_NM, motion=MotionSpec(D_nm2_s=5.0))
        for x, y in ((24, 24), (70, 30), (45, 72))
    )
    return VideoSpec(
        width=96,
        height=96,
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
