"""The training loop: clips -> clip forward -> losses -> AdamW step, with logs, validation and checkpoints."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from samem import __version__
from samem.model.build import IMAGE_SIZE_KEY, MODEL_FLAGS
from samem.train.checkpoint import (
    CHECKPOINT,
    FINAL_MODEL,
    TRAIN_STATE_KEY,
    atomic_save,
    model_state,
    restore_rng_states,
    rng_states,
)
from samem.train.data import TrainingClip
from samem.train.forward import forward_clip
from samem.train.losses import clip_losses
from samem.train.optim import lr_factor, make_optimizer, make_scheduler
from samem.train.recipe import TrainRecipe
from samem.train.runlog import TRAIN_LOG, VAL_LOG, JsonlLog
from samem.train.setup import RunSetup, prepare_run, write_recipe_file
from samem.train.sources import StepClips
from samem.train.validate import validation_iou

STEP_SEED_STREAM = 2


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """Where a run ended: its last step, files and last validation IoU (None if none ran)."""

    out_dir: Path
    step: int
    finished: bool
    checkpoint: Path
    final_model: Path | None
    val_iou: float | None


def _identity(item: Any) -> Any:
    return item


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def _weights(setup: RunSetup) -> dict[str, Any]:
    """SAM 2 format weights, their input size and, when set, the prompt flags (extra keys upstream ignores)."""
    model = setup.loaded.model
    weights = {"model": model_state(model), IMAGE_SIZE_KEY: int(model.image_size)}
    weights.update({flag: True for flag in MODEL_FLAGS if getattr(model, flag)})
    return weights


def _step_seed(seed: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, STEP_SEED_STREAM, step]).generate_state(1)[0])


def _train_step(setup: RunSetup, clips: list[TrainingClip], optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """One optimiser step over the clips of a step (gradients accumulated over clips); the log fields."""
    model, recipe, device = setup.loaded.model, setup.recipe, setup.device
    model.train()
    optimizer.zero_grad(set_to_none=True)
    n_objects = sum(clip.n_objects for clip in clips)
    totals: dict[str, float] = {}
    ious = []
    for clip in clips:
        autocast = (
            torch.autocast(device_type=device.type, dtype=setup.autocast_dtype)
            if setup.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with autocast:
            outputs = forward_clip(
                model, clip.images.to(device), clip.point_coords.to(device), clip.point_labels.to(device),
                prompt_jitter=recipe.prompt_jitter,
            )  # fmt: skip
        terms = clip_losses(outputs, clip.targets.to(device), recipe, n_objects=n_objects)
        terms.total.backward()
        for name, value in terms.as_floats().items():
            totals[name] = totals.get(name, 0.0) + value
        ious.append(terms.train_iou)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
    optimizer.step()
    valid = [v for v in ious if not math.isnan(v)]
    return {
        **totals,
        "train_iou": float(np.mean(valid)) if valid else float("nan"),
        "objects": n_objects,
        "grad_norm": float(grad_norm),
    }


def _save(setup: RunSetup, step: int, optimizer: torch.optim.Optimizer, scheduler: Any) -> Path:
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_states(),
        "recipe": setup.recipe.to_dict(),
        "model_config": setup.loaded.spec.config_name,
        "image_size": setup.image_size,
        "dataset": setup.dataset,
        "samem_version": __version__,
    }
    path = setup.out_dir / CHECKPOINT
    atomic_save(_weights(setup) | {TRAIN_STATE_KEY: state}, path)
    return path


def train(
    recipe: TrainRecipe | None,
    *,
    out_dir: str | os.PathLike[str],
    model: str | None = None,
    dataset: str | os.PathLike[str] | None = None,
    resume: bool = False,
    stop_at: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train, or resume training, writing the run's files into ``out_dir``.

    Files: ``checkpoint.pt`` (latest weights + training state), ``model.pt`` (final weights), ``log.jsonl``,
    ``val.jsonl`` and ``recipe.json``.

    Parameters
    ----------
    recipe
        What to train; None when resuming takes the saved one (a given one must match it).
    model
        ``NAME[:CHECKPOINT]`` of the initial weights (default: the recipe's); ignored weights-wise when resuming.
    dataset
        A directory written by ``samem simulate --dataset``; default: clips simulated on the fly.
    stop_at
        Stop (with a checkpoint) after this step, to continue later with ``resume=True``.
    """
    setup = prepare_run(recipe, out_dir=out_dir, model=model, dataset=dataset, resume=resume)
    recipe = setup.recipe
    optimizer = make_optimizer(setup.loaded.model, recipe)
    scheduler = make_scheduler(optimizer, recipe)
    train_log, val_log = JsonlLog(setup.out_dir / TRAIN_LOG), JsonlLog(setup.out_dir / VAL_LOG)
    start = 0
    if setup.resume_payload is not None:
        state = setup.resume_payload[TRAIN_STATE_KEY]
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng_states(state["rng"])
        start = int(state["step"])
        train_log.truncate_after(start)
        val_log.truncate_after(start)
    else:
        train_log.truncate_after(0)
        val_log.truncate_after(0)
        write_recipe_file(setup, {"samem_version": __version__, "torch": torch.__version__,
                                  "python": platform.python_version(), "command": " ".join(sys.argv)})  # fmt: skip
    stop = recipe.steps if stop_at is None else max(start, min(stop_at, recipe.steps))
    val_videos = setup.source.val_videos() if recipe.val_clips and stop > start else []
    loader = torch.utils.data.DataLoader(
        StepClips(setup.source, start=start, stop=stop, clips_per_step=recipe.clips_per_step),
        batch_size=None,
        shuffle=False,
        num_workers=recipe.workers,
        collate_fn=_identity,
        worker_init_fn=_worker_init if recipe.workers else None,
    )
    step, val_iou = start, None
    bar = tqdm(total=recipe.steps, initial=start, desc="train", unit="step", disable=not progress, file=sys.stderr)
    try:
        with bar:
            tic = time.perf_counter()
            for clips in loader:
                torch.manual_seed(_step_seed(recipe.seed, step + 1))
                factor = lr_factor(step, recipe)
                record = _train_step(setup, clips, optimizer)
                scheduler.step()
                step += 1
                toc = time.perf_counter()
                lrs = {"lr": recipe.lr * factor, "lr_encoder": recipe.lr_encoder * factor}
                train_log.append({"step": step, **record, **lrs, "seconds": round(toc - tic, 4)})
                bar.update()
                bar.set_postfix(loss=f"{record['loss']:.3f}", iou=f"{record['train_iou']:.2f}", refresh=False)
                if val_videos and (step % recipe.val_every == 0 or step == recipe.steps):
                    val_iou = validation_iou(setup.loaded.model, val_videos, max_objects=recipe.max_objects)
                    val_log.append({"step": step, "val_iou": val_iou, "seconds": round(time.perf_counter() - toc, 4)})
                    bar.write(f"step {step}: validation J = {val_iou:.3f}", file=sys.stderr)
                if step % recipe.checkpoint_every == 0 or step == stop:
                    _save(setup, step, optimizer, scheduler)
                tic = time.perf_counter()
    except KeyboardInterrupt:
        _save(setup, step, optimizer, scheduler)
        raise
    checkpoint = setup.out_dir / CHECKPOINT
    if step == start and not checkpoint.exists():  # nothing trained (stop_at 0)
        _save(setup, step, optimizer, scheduler)
    final = None
    if step == recipe.steps:
        final = setup.out_dir / FINAL_MODEL
        atomic_save(_weights(setup), final)
    return TrainResult(
        out_dir=setup.out_dir, step=step, finished=step == recipe.steps, checkpoint=checkpoint, final_model=final,
        val_iou=val_iou,
    )  # fmt: skip
