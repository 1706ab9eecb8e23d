"""Whole runs: a tiny run learns and its checkpoint serves inference; resuming is exact; bad input exits 2."""

from __future__ import annotations

import errno
import json

import pytest
import torch
from train_support import SIZE, TINY

import samem.train.checkpoint as checkpoint_module
from samem.cli import main
from samem.engine import LocalBackend, Preprocessor, Tracker
from samem.io.video import FrameGeometry, IntensityNormalizer
from samem.model import build_model
from samem.sim import write_dataset
from samem.train import train
from samem.train.forward import forward_clip
from samem.train.losses import clip_losses
from samem.train.model import build_training_model
from samem.train.sources import DatasetSource, _read_clip


def eval_loss(model: torch.nn.Module, clip, recipe) -> float:
    model.eval()
    with torch.no_grad():
        outputs = forward_clip(model, clip.images, clip.point_coords, clip.point_labels)
        return float(clip_losses(outputs, clip.targets, recipe, n_objects=clip.n_objects).total)


@pytest.fixture(scope="module")
def one_clip_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "data"
    write_dataset(root, n_clips=1, splits=(1.0, 0.0, 0.0), seed=3, frame_size=(64, 96), n_frames=(4, 4),
                  max_particles=3, progress=False)  # fmt: skip
    return root


def test_tiny_run_lowers_the_loss_and_its_checkpoint_tracks(tmp_path, one_clip_dataset):
    recipe = TINY.with_overrides(steps=20, val_clips=0, checkpoint_every=20, lr=2e-3, lr_encoder=2e-3, warmup_steps=2)
    fixed = DatasetSource(one_clip_dataset, recipe.with_overrides(box_noise=0.0), SIZE).train_clip(999, 0)
    before = eval_loss(build_training_model("samem-compact:random", image_size=SIZE, seed=recipe.seed).model,
                       fixed, recipe)  # fmt: skip
    result = train(recipe, out_dir=tmp_path / "run", dataset=one_clip_dataset, progress=False)
    assert result.finished and result.step == 20
    after = eval_loss(build_training_model(f"samem-compact:{result.final_model}", image_size=SIZE).model, fixed, recipe)
    assert after < 0.7 * before, (before, after)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 21))
    assert {"loss", "focal", "dice", "iou", "object_score", "lr", "lr_encoder", "seconds", "train_iou"} <= set(log[0])
    assert json.loads((tmp_path / "run" / "recipe.json").read_text())["recipe"]["steps"] == 20
    # the checkpoint loads strictly, runs at the size it was trained at, and the engine tracks with it
    loaded = build_model(f"samem-compact:{result.final_model}")
    assert loaded.model.image_size == SIZE
    video = _read_clip(one_clip_dataset / "train" / "clip_00000")
    _, height, width = video.video.shape
    prep = Preprocessor(normalizer=IntensityNormalizer(low=float(video.video.min()), high=float(video.video.max())),
                        geometry=FrameGeometry(height=height, width=width, size=SIZE))  # fmt: skip
    tracker = Tracker(LocalBackend(loaded.model), height=height, width=width, num_frames=2)
    tracker.add_boxes(0, [1], [(10.0, 10.0, 30.0, 30.0)])
    assert len(list(tracker.propagate(lambda t: prep(video.video[t])))) == 2


def without_seconds(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def read_log(path) -> list[dict]:
    return without_seconds([json.loads(line) for line in path.read_text().splitlines()])


def test_resume_is_exact(tmp_path):
    whole = train(TINY, out_dir=tmp_path / "whole", progress=False)
    first = train(TINY, out_dir=tmp_path / "split", stop_at=2, progress=False)
    assert not first.finished and first.step == 2 and first.final_model is None
    second = train(None, out_dir=tmp_path / "split", resume=True, progress=False)
    assert second.finished and second.step == 4
    a = torch.load(whole.final_model, weights_only=True)["model"]
    b = torch.load(second.final_model, weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for name in ("log.jsonl", "val.jsonl"):
        assert read_log(tmp_path / "whole" / name) == read_log(tmp_path / "split" / name)
    assert len(read_log(tmp_path / "whole" / "val.jsonl")) == 2


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(["train", "--no-progress", *args])
    err = capsys.readouterr().err.strip()
    return code, err


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    mismatch = tmp_path / "mismatch.pt"
    torch.save({"model": {"foo": torch.zeros(1)}}, mismatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "checkpoint.pt").write_bytes(b"")
    out = str(tmp_path / "out")
    cases = {
        "does not exist": ["--model", "samem-compact:/nonexistent/ckpt.pt", "--out", out],
        "does not fit config": ["--model", f"samem-compact:{mismatch}", "--out", out, "--image-size", "64"],
        "no training clips": ["--dataset", str(empty), "--out", out],
        "is not writable": ["--out", str(blocker / "out")],
        "is not a directory": ["--out", str(blocker)],
        "cannot resume": ["--resume", "--out", str(tmp_path / "never")],
        "already holds a training run": ["--out", str(taken)],
        "needs --model": ["--recipe", "sam2.1-finetune", "--out", out],
        "frames must be >= 2": ["--frames", "1", "--out", out],
    }
    for expected, args in cases.items():
        code, err = run_cli(capsys, *args)
        assert code == 2, (expected, err)
        assert expected in err and len(err.splitlines()) == 1, err
    # a corrupt checkpoint: model.build quotes torch's whole multi-line message (to be trimmed there)
    code, err = run_cli(capsys, "--model", f"samem-compact:{corrupt}", "--out", out)
    assert code == 2 and "cannot be read" in err.splitlines()[0]


def test_full_disk_keeps_the_previous_checkpoint(tmp_path, capsys, monkeypatch):
    real_save = torch.save
    calls = []

    def failing_save(payload, handle):
        calls.append(1)
        if len(calls) == 1:
            return real_save(payload, handle)
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    out = tmp_path / "run"
    code, err = run_cli(capsys, "--recipe", "compact-base", "--out", str(out), "--image-size", "64", "--frames", "2",
                        "--objects", "2", "--steps", "3", "--checkpoint-every", "1", "--val-clips", "0",
                        "--threads", "1")  # fmt: skip
    monkeypatch.undo()
    assert code == 2 and len(err.splitlines()) == 1
    assert "No space left on device" in err and "previous file is intact" in err
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    assert payload["train_state"]["step"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "log.jsonl", "recipe.json", "val.jsonl"]
