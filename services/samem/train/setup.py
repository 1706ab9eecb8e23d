"""Resolve a training run before it starts: recipe, model, data, device, output directory, resume state."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from samem.device import resolve_device
from samem.errors import InputError, OutputError
from samem.io.output import check_writable_dir
from samem.model import LoadedModel, parse_model_spec
from samem.model.build import MODEL_FLAGS, config_image_size
from samem.model.registry import RANDOM_WEIGHTS
from samem.train.checkpoint import CHECKPOINT, TRAIN_STATE_KEY, load_training_checkpoint
from samem.train.model import build_training_model
from samem.train.recipe import TrainRecipe
from samem.train.sources import DatasetSource, SimulatedSource

RECIPE_FILE = "recipe.json"
# Fields that may differ when resuming: where and how fast the run executes, not what it computes.
RUNTIME_FIELDS = ("device", "workers", "threads", "checkpoint_every")


@dataclass(frozen=True, kw_only=True)
class RunSetup:
    """Everything the training loop needs, resolved and checked."""

    recipe: TrainRecipe
    out_dir: Path
    loaded: LoadedModel
    image_size: int
    device: torch.device
    autocast_dtype: torch.dtype | None
    source: SimulatedSource | DatasetSource
    dataset: str | None
    resume_payload: dict[str, Any] | None  # the checkpoint being resumed


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def _check_same_recipe(given: TrainRecipe, saved: TrainRecipe) -> TrainRecipe:
    differing = [
        f.name
        for f in dataclasses.fields(saved)
        if f.name not in RUNTIME_FIELDS and getattr(given, f.name) != getattr(saved, f.name)
    ]
    if differing:
        raise InputError(
            f"cannot resume with a different recipe ({', '.join(differing)} differ from the saved run); resume with"
            " the same options, or start a new run in another --out"
        )
    return dataclasses.replace(saved, **{name: getattr(given, name) for name in RUNTIME_FIELDS})


def prepare_run(
    recipe: TrainRecipe | None,
    *,
    out_dir: str | os.PathLike[str],
    model: str | None = None,
    dataset: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> RunSetup:
    """Check every input and build the model (weights from ``model``, or from the checkpoint when resuming)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path {str(out)!r} exists and is not a directory")
    check_writable_dir(out)
    payload = None
    if resume:
        payload = load_training_checkpoint(out / CHECKPOINT)
        state = payload[TRAIN_STATE_KEY]
        saved = TrainRecipe.from_dict(state["recipe"])
        recipe = saved if recipe is None else _check_same_recipe(recipe, saved)
        if model is not None and parse_model_spec(model).config_name != state["model_config"]:
            raise InputError(f"cannot resume: the run trains {state['model_config']!r}, not {model!r}")
        if dataset is not None and str(Path(dataset)) != state["dataset"]:
            raise InputError(f"cannot resume: the run reads dataset {state['dataset']!r}, not {str(dataset)!r}")
        model = f"{state['model_config']}:{RANDOM_WEIGHTS}"
        dataset = state["dataset"]
    else:
        if recipe is None:
            raise InputError("no recipe given")
        if (out / CHECKPOINT).exists():
            raise InputError(
                f"{str(out)!r} already holds a training run; pass --resume to continue it or choose another --out"
            )
        model = model or recipe.model
        if model is None:
            raise InputError(
                f"recipe {recipe.name!r} needs --model NAME:CHECKPOINT (e.g. sam2.1_hiera_l:/path/ckpt.pt)"
            )
    spec = parse_model_spec(model)
    image_size = recipe.image_size or config_image_size(spec)
    device = resolve_device(recipe.device)
    if recipe.threads is not None and device.type == "cpu":
        torch.set_num_threads(recipe.threads)
    if dataset is not None:
        source: SimulatedSource | DatasetSource = DatasetSource(dataset, recipe, image_size)
    else:
        source = SimulatedSource(recipe, image_size)
    loaded = build_training_model(spec, image_size=image_size, device=device, seed=recipe.seed)
    if payload is not None:
        loaded.model.load_state_dict(payload["model"], strict=True)
    for flag in MODEL_FLAGS:
        setattr(loaded.model, flag, getattr(recipe, flag))
    out.mkdir(parents=True, exist_ok=True)
    return RunSetup(
        recipe=recipe,
        out_dir=out,
        loaded=loaded,
        image_size=image_size,
        device=device,
        autocast_dtype=_autocast_dtype(recipe.precision, device),
        source=source,
        dataset=None if dataset is None else str(Path(dataset)),
        resume_payload=payload,
    )


def write_recipe_file(setup: RunSetup, extra: dict[str, Any]) -> None:
    """``recipe.json``: the recipe, the model, data, device and precision, plus ``extra``."""
    record = {
        "recipe": setup.recipe.to_dict(),
        "model": str(setup.loaded.spec),
        "model_config": setup.loaded.spec.config_name,
        "initial_checkpoint_sha256": setup.loaded.checkpoint_sha256,
        "image_size": setup.image_size,
        "data": setup.source.describe(),
        "device": str(setup.device),
        "precision": "bf16 autocast" if setup.autocast_dtype is not None else "fp32",
        **extra,
    }
    path = setup.out_dir / RECIPE_FILE
    try:
        path.write_text(json.dumps(record, indent=2) + "\n")
    except OSError as e:
        raise OutputError(f"could not write {str(path)!r}: {e.strerror or e}") from e
