"""Training: full-model fine-tuning of SAM 2 configs (or training samem-compact from scratch) on simulated clips.

Modules, one job each: :mod:`~samem.train.recipe` (typed recipes), :mod:`~samem.train.model` (building at a
training size), :mod:`~samem.train.data` and :mod:`~samem.train.sources` (clips from the simulator or a dataset),
:mod:`~samem.train.forward` (the clip forward pass from the engine's steps), :mod:`~samem.train.losses`,
:mod:`~samem.train.optim` (AdamW, layer-wise decay, schedule), :mod:`~samem.train.checkpoint`,
:mod:`~samem.train.runlog`, :mod:`~samem.train.validate` (J with the engine's Tracker), :mod:`~samem.train.setup`
and :mod:`~samem.train.trainer` (the loop), :mod:`~samem.train.pipeline` (recipes run as stages, e.g. ``compact``),
:mod:`~samem.train.cli` (``samem train``).

    from samem.train import PIPELINES, RECIPES, train, train_pipeline
    train(RECIPES["compact-base"].with_overrides(steps=20), out_dir="runs/base")
    train_pipeline(PIPELINES["compact"], out_dir="runs/compact", overrides={"steps": 20})
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TrainRecipe": "samem.train.recipe",
    "RECIPES": "samem.train.recipe",
    "get_recipe": "samem.train.recipe",
    "train": "samem.train.trainer",
    "PIPELINES": "samem.train.pipeline",
    "train_pipeline": "samem.train.pipeline",
    "TrainResult": "samem.train.trainer",
    "forward_clip": "samem.train.forward",
    "FrameOutput": "samem.train.forward",
    "clip_losses": "samem.train.losses",
    "build_training_model": "samem.train.model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'samem.train' has no attribute {name!r}")
