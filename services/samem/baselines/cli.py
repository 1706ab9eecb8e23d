"""The ``samem train-unet`` subcommand: train the U-Net baseline on simulated LPTEM frames."""

from __future__ import annotations

import argparse

from samem.argtypes import non_negative_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train-unet`` subcommand."""
    p = subparsers.add_parser(
        "train-unet",
        help="train the U-Net baseline (foreground segmentation) on simulated LPTEM frames",
        description=(
            "Trains the compact U-Net of the learned-segmentation baseline on square crops, at the frames' own"
            " pixel size, of broadly randomised simulated clips (or a dataset of `samem simulate --dataset`) and"
            " writes its checkpoint, which `samem eval --unet FILE` uses; videos are then segmented whole at their"
            " own pixel size."
        ),
    )
    p.add_argument("--out", required=True, metavar="FILE", help="checkpoint file to write")
    p.add_argument("--steps", type=positive_int, default=2000, help="optimiser steps (default 2000)")
    p.add_argument("--image-size", type=positive_int, default=256,
                   help="side of the square training crops, px, a multiple of 8 (default 256)")  # fmt: skip
    p.add_argument("--batch-size", type=positive_int, default=8, help="crops per step (default 8)")
    p.add_argument("--dataset", metavar="DIR", help="train on DIR/train from `samem simulate --dataset`")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-progress", "--quiet", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Train and report where the checkpoint went."""
    import torch

    from samem.baselines.unet import train_unet

    if args.threads:
        torch.set_num_threads(args.threads)
    out = train_unet(
        steps=args.steps, image_size=args.image_size, batch_size=args.batch_size, seed=args.seed,
        out_path=args.out, frames_from=args.dataset, device=args.device, progress=args.progress,
    )  # fmt: skip
    print(f"U-Net checkpoint {out}")
    return 0
