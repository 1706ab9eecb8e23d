"""Multi-stage training: recipes run one after the other, each from the previous stage's final weights.

A pipeline writes each stage into ``OUT/<k>-<recipe name>/`` (a complete :func:`~samem.train.trainer.train` run)
and copies the last stage's weights to ``OUT/model.pt``. A stage whose ``model.pt`` exists is done; resuming
skips the done stages and resumes the one in progress from its checkpoint.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from samem.errors import InputError, OutputError
from samem.io.output import atomic_write
from samem.model.registry import parse_model_spec
from samem.train.checkpoint import CHECKPOINT, FINAL_MODEL
from samem.train.recipe import COMPACT, COMPACT_TRACK, COMPACT_WINDOW, TrainRecipe
from samem.train.trainer import TrainResult, train

#: Named pipelines; ``samem train --recipe NAME`` runs one like a recipe.
PIPELINES: dict[str, tuple[TrainRecipe, ...]] = {"compact": (COMPACT, COMPACT_TRACK, COMPACT_WINDOW)}


def stage_dir(out_dir: str | os.PathLike[str], index: int, recipe: TrainRecipe) -> Path:
    """Where stage ``index`` (0-based) of a pipeline writes its run."""
    return Path(out_dir) / f"{index + 1}-{recipe.name}"


def train_pipeline(
    stages: Sequence[TrainRecipe],
    *,
    out_dir: str | os.PathLike[str],
    model: str | None = None,
    dataset: str | os.PathLike[str] | None = None,
    resume: bool = False,
    stop_at: int | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Run ``stages`` in order; ``model`` gives the first stage's initial weights (default: its recipe's).

    ``overrides`` (recipe fields) and ``dataset`` apply to every stage; ``stop_at`` stops the stage in progress
    after that step. Returns the last stage's result, or that of the stage that stopped.
    """
    if not stages:
        raise InputError("a training pipeline needs at least one stage")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {str(out)!r} exists and is not a directory")
    if not resume and out.is_dir() and any(out.iterdir()):
        raise InputError(
            f"{str(out)!r} already holds a training run; pass --resume to continue it or choose another --out"
        )
    if resume and not (out.is_dir() and any(out.iterdir())):
        raise InputError(f"cannot resume: {str(out)!r} holds no training run")
    first = model or stages[0].model
    if first is None:
        raise InputError(f"recipe {stages[0].name!r} needs --model NAME:CHECKPOINT (e.g. sam2.1_hiera_l:/path/ckpt.pt)")
    config = parse_model_spec(first).config_name
    recipes = [recipe.with_overrides(**(overrides or {})) for recipe in stages]
    weights, result = first, None
    for index, recipe in enumerate(recipes):
        directory = stage_dir(out, index, recipe)
        if not (directory / FINAL_MODEL).is_file():
            started = (directory / CHECKPOINT).is_file()
            result = train(
                recipe, out_dir=directory, model=None if started else weights, dataset=dataset, resume=started,
                stop_at=stop_at, progress=progress,
            )  # fmt: skip
            if not result.finished:
                return result
        weights = f"{config}:{directory / FINAL_MODEL}"
    last = stage_dir(out, len(recipes) - 1, recipes[-1])
    final = out / FINAL_MODEL
    with (last / FINAL_MODEL).open("rb") as source:
        atomic_write(final, lambda target: shutil.copyfileobj(source, target))
    return TrainResult(
        out_dir=out, step=recipes[-1].steps, finished=True, checkpoint=last / CHECKPOINT, final_model=final,
        val_iou=None if result is None else result.val_iou,
    )  # fmt: skip
