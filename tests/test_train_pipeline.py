"""Multi-stage training: each stage starts from the previous one's weights; an interrupted pipeline resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch
from train_support import TINY

from samem.cli import main
from samem.model.build import MASK_PROPAGATION_KEY, file_sha256
from samem.train.pipeline import PIPELINES, stage_dir, train_pipeline

STAGES = (
    TINY.with_overrides(name="first", steps=2, val_clips=0),
    TINY.with_overrides(name="second", steps=3, val_clips=0, frames=3, mask_propagation=True),
)


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["model"]


def test_each_stage_starts_from_the_previous_stage_and_the_last_one_is_the_model(tmp_path):
    result = train_pipeline(STAGES, out_dir=tmp_path / "run", progress=False)
    first, second = (stage_dir(tmp_path / "run", k, recipe) for k, recipe in enumerate(STAGES))
    assert result.finished and result.final_model == tmp_path / "run" / "model.pt"
    assert first.name == "1-first" and second.name == "2-second"
    record = json.loads((second / "recipe.json").read_text())
    assert record["model"] == f"samem-compact:{first / 'model.pt'}"
    assert record["initial_checkpoint_sha256"] == file_sha256(first / "model.pt")
    assert result.final_model.read_bytes() == (second / "model.pt").read_bytes()
    assert torch.load(result.final_model, weights_only=False)[MASK_PROPAGATION_KEY] is True
    a, b = _weights(first / "model.pt"), _weights(second / "model.pt")
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the second stage trained


def test_an_interrupted_pipeline_resumes_to_the_same_weights(tmp_path):
    whole = train_pipeline(STAGES, out_dir=tmp_path / "whole", progress=False)
    stopped = train_pipeline(STAGES, out_dir=tmp_path / "split", stop_at=2, progress=False)  # stage 1 ends at 2
    assert not stopped.finished and stopped.step == 2
    assert stopped.out_dir == stage_dir(tmp_path / "split", 1, STAGES[1])  # stopped in stage 2
    assert (stopped.out_dir.parent / "1-first" / "model.pt").is_file()
    assert not (tmp_path / "split" / "model.pt").exists()
    with pytest.raises(Exception, match="already holds a training run"):
        train_pipeline(STAGES, out_dir=tmp_path / "split", progress=False)
    done = train_pipeline(STAGES, out_dir=tmp_path / "split", resume=True, progress=False)
    a, b = _weights(whole.final_model), _weights(done.final_model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_samem_train_compact_runs_every_stage_with_overrides(tmp_path, capsys):
    out = tmp_path / "compact"
    args = ["train", "--no-progress", "--out", str(out), "--steps", "1", "--image-size", "64", "--frames", "2",
            "--objects", "2", "--val-clips", "0", "--threads", "1", "--step-px", "0.5,2",
            "--exits", "0.25"]  # fmt: skip
    assert main(args) == 0
    assert "finished" in capsys.readouterr().out
    base, track, window = PIPELINES["compact"]
    assert base.name == "compact-base" and track.name == "compact-track" and track.mask_propagation
    assert window.name == "compact-window" and window.mask_propagation and window.window_clips > 0
    for k, recipe in enumerate(PIPELINES["compact"]):
        saved = json.loads((stage_dir(out, k, recipe) / "recipe.json").read_text())["recipe"]
        assert saved["name"] == recipe.name and saved["steps"] == 1 and saved["image_size"] == 64
        assert saved["step_px"] == [0.5, 2.0] and saved["exits"] == 0.25
    assert (out / "model.pt").is_file()
    code = main(["train", "--no-progress", "--resume", "--out", str(tmp_path / "nothing")])
    assert code == 2 and "cannot resume" in capsys.readouterr().err
