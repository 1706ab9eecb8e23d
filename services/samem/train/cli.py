"""The ``samem train`` subcommand: fine-tune any SAM 2 config, or train samem-compact from scratch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from samem.argtypes import float_pair, int_pair, non_negative_int, positive_float, positive_int

if TYPE_CHECKING:
    from samem.train.recipe import TrainRecipe
    from samem.train.trainer import TrainResult


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train or fine-tune a SAM 2 model on simulated LPTEM clips",
        description=(
            "Full-model training with box prompts on the first frame of each clip and SAM 2's per-frame losses."
            " Writes OUT/checkpoint.pt (latest weights + training state), OUT/model.pt (final weights, SAM 2"
            " format), OUT/log.jsonl, OUT/val.jsonl and OUT/recipe.json. Recipes: compact (samem-compact from"
            " scratch on a CPU in three stages, compact-base, compact-track and compact-window, each in"
            " OUT/<k>-<stage>/, final weights in OUT/model.pt), compact-base, compact-track, compact-window,"
            " sam2.1-finetune (SAM-EM's setting on a GPU; needs --model NAME:CHECKPOINT)."
        ),
    )
    p.add_argument(
        "--recipe",
        help="compact, compact-base, compact-track, compact-window or sam2.1-finetune (default compact; resuming:"
        " the saved one)",
    )
    p.add_argument("--model", metavar="NAME[:CHECKPOINT]", help="initial weights, e.g. sam2.1_hiera_l:/path/ckpt.pt")
    p.add_argument("--dataset", metavar="DIR", help="train on DIR/{train,val} from `samem simulate --dataset`")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--stop-at", type=positive_int, metavar="STEP", help="stop after this step (resume later)")
    p.add_argument("--no-progress", "--quiet", dest="progress", action="store_false", help="no progress bar")
    g = p.add_argument_group("recipe overrides")
    g.add_argument("--steps", type=positive_int, help="optimiser steps")
    g.add_argument("--lr", type=positive_float, help="peak learning rate outside the image encoder")
    g.add_argument("--lr-encoder", type=positive_float, help="peak learning rate of the image encoder's top")
    g.add_argument("--batch-size", "--clips-per-step", dest="clips_per_step", type=positive_int, help="clips per step")
    g.add_argument("--frames", type=positive_int, help="frames per clip (>= 2)")
    g.add_argument("--short-clips", type=float, metavar="FRACTION", help="fraction of clips cut to 2 frames")
    g.add_argument("--easy-steps", type=non_negative_int, help="steps of the clear-to-noisy CNR curriculum")
    g.add_argument("--objects", dest="max_objects", type=positive_int, help="maximum objects per clip")
    g.add_argument("--image-size", type=positive_int, help="model input size (multiple of 16)")
    g.add_argument("--prompt-jitter", type=non_negative_int, metavar="PX",
                   help="random shift (mask pixels) of previous-mask prompts in training")  # fmt: skip
    g.add_argument("--window-clips", type=float, metavar="FRACTION",
                   help="fraction of clips cut as one particle's window, as window-mode tracking sees it")  # fmt: skip
    g.add_argument("--window-zoom", type=float_pair, metavar="MIN,MAX",
                   help="range of window side / particle size of window clips")  # fmt: skip
    g.add_argument("--step-px", type=float_pair, metavar="MIN,MAX",
                   help="range of simulated RMS displacement per axis per frame (px)")  # fmt: skip
    g.add_argument("--exits", type=float, metavar="FRACTION",
                   help="chance that a simulated particle drifts out of the field within the clip")  # fmt: skip
    g.add_argument("--frame-size", type=int_pair, metavar="MIN,MAX", help="range of simulated frame sides (px)")
    g.add_argument("--val-every", type=positive_int, help="validate every N steps")
    g.add_argument("--val-clips", type=non_negative_int, help="validation clips (0: no validation)")
    g.add_argument("--checkpoint-every", type=positive_int, help="write checkpoint.pt every N steps")
    g.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    g.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="auto: bf16 autocast on GPU, fp32 on CPU")
    g.add_argument("--workers", type=non_negative_int, help="data-loader worker processes")
    g.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    g.add_argument("--seed", type=non_negative_int, help="random seed")
    p.set_defaults(handler=run)


OVERRIDES = ("steps", "lr", "lr_encoder", "clips_per_step", "frames", "short_clips", "easy_steps", "max_objects",
             "image_size", "prompt_jitter", "window_clips", "window_zoom", "step_px", "exits", "frame_size",
             "val_every", "val_clips", "checkpoint_every", "device", "precision", "workers", "threads",
             "seed")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Resolve the recipe and overrides, then train."""
    from samem.train.pipeline import PIPELINES, train_pipeline
    from samem.train.recipe import get_recipe
    from samem.train.trainer import train

    overrides = {name: getattr(args, name) for name in OVERRIDES}
    name = args.recipe or "compact"
    if name in PIPELINES and not (args.resume and args.recipe is None and _is_single_run(args)):
        result = train_pipeline(
            PIPELINES[name], out_dir=args.out, model=args.model, dataset=args.dataset, resume=args.resume,
            stop_at=args.stop_at, progress=args.progress, overrides=overrides,
        )  # fmt: skip
        return _report(result)
    if args.resume and args.recipe is None:  # the saved recipe, with any runtime overrides
        recipe = _saved_recipe(args.out).with_overrides(**overrides)
    else:
        recipe = get_recipe(name).with_overrides(**overrides)
    result = train(
        recipe, out_dir=args.out, model=args.model, dataset=args.dataset, resume=args.resume,
        stop_at=args.stop_at, progress=args.progress,
    )  # fmt: skip
    return _report(result)


def _is_single_run(args: argparse.Namespace) -> bool:
    """Whether ``--out`` holds one recipe's run (its checkpoint), rather than a pipeline's stages."""
    from samem.train.checkpoint import CHECKPOINT

    return (Path(args.out) / CHECKPOINT).is_file()


def _saved_recipe(out: str) -> TrainRecipe:
    """The recipe of the run in ``out`` (its recipe.json), to apply runtime overrides to when resuming."""
    from samem.errors import InputError
    from samem.train.recipe import TrainRecipe
    from samem.train.setup import RECIPE_FILE

    path = Path(out) / RECIPE_FILE
    try:
        return TrainRecipe.from_dict(json.loads(path.read_text())["recipe"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"cannot resume with overrides: {str(path)!r} does not hold the run's recipe ({e})") from e


def _report(result: TrainResult) -> int:
    state = "finished" if result.finished else "stopped"
    val = "" if result.val_iou is None else f", validation J {result.val_iou:.3f}"
    print(f"{state} at step {result.step}{val}; checkpoint {result.checkpoint}"
          + (f", model {result.final_model}" if result.final_model else ""))  # fmt: skip
    return 0
