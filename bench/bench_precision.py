"""Accuracy of reduced precision: tracked masks with frame encoding in float16 (and bf16) against float32.

The GPU variant of the Triton repository runs the frame encoder through TensorRT in fp16 (``samem export --variant
onnx``), and the python variant offers bf16 autocast (``--precision bf16``). This bench measures what that costs in
masks, with trained weights, on the randomised clips of ``bench_domain.py`` (same seeds, same prompts), all variants
side by side in one run:

- ``fp16``: the whole encode graph (image encoder and the mask decoder's ``conv_s0``/``conv_s1``, what the exported
  ``encode_frame`` holds) with float16 weights and activations throughout, normalisations and softmax included:
  the worst that TensorRT's fp16 mode may pick. The rest of the model stays float32, as in the ONNX variant.
- ``fp16-autocast``: the same graph under float16 autocast (matrix products and convolutions in float16,
  normalisations and softmax in float32): the usual mixed-precision outcome.
- ``bf16``: every step under bfloat16 autocast, the python variant's ``--precision bf16``.

Per variant: mean J against the simulator's truth, its paired difference to float32 over clips, and agreement
with the float32 masks (mean J between the two masks of an object on a frame; 1.0 = identical). Tracking is
chaotic: a changed boundary pixel changes the memory, and masks can part for good, so agreement below 1 says that
the masks differ, J against the truth whether that costs accuracy. Float16 runs slowly on CPUs (about 10x
float32 for the encoder), so a small clip count is the default. A CPU emulates the arithmetic, not TensorRT's
kernel choices.

Run: .venv/bin/python bench/bench_precision.py [--clips 8] [--frames 20] [--variants fp16,fp16-autocast,bf16]
[--model samem-compact] [--cache DIR [--jobs N]] [--threads 2] [--device cuda]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_domain import SEED, clip, clip_prompts, mean_j, render_clips
from hardware import cpu_line

from samem.engine.compile import map_tensors
from samem.model import LoadedModel, build_model
from samem.tracking import track

VARIANTS = ("fp16", "fp16-autocast", "bf16")


def _float32(value: Any) -> Any:
    """``value`` (a tensor, or a dict / list of them) with every floating tensor in float32."""
    return map_tensors(lambda tensor: tensor.float() if tensor.is_floating_point() else tensor, value)


def fp16_encoder(model: torch.nn.Module, *, autocast: bool) -> torch.nn.Module:
    """A copy of ``model`` whose frame encoding runs in float16 (under autocast, or with float16 weights)."""
    model = copy.deepcopy(model)
    encode: Callable[[torch.Tensor], dict[str, Any]] = model.forward_image
    if autocast:

        def forward_image(images: torch.Tensor) -> dict[str, Any]:
            with torch.autocast(images.device.type, dtype=torch.float16):
                return _float32(encode(images))

    else:
        for module in (model.image_encoder, model.sam_mask_decoder.conv_s0, model.sam_mask_decoder.conv_s1):
            module.half()

        def forward_image(images: torch.Tensor) -> dict[str, Any]:
            return _float32(encode(images.half()))

    model.forward_image = forward_image
    return model


def variant_run(name: str, loaded: LoadedModel) -> tuple[LoadedModel, str]:
    """The model and the engine precision of variant ``name``."""
    if name in ("fp32", "bf16"):
        return loaded, name
    autocast = name == "fp16-autocast"
    return dataclasses.replace(loaded, model=fp16_encoder(loaded.model, autocast=autocast)), "fp32"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"some of {', '.join(VARIANTS)}")
    parser.add_argument("--model", default="samem-compact")
    parser.add_argument("--cache", type=Path, default=None, help="keep rendered clips here (shared with bench_domain)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--jobs", type=int, default=1, help="render missing clips into --cache in N processes first")
    args = parser.parse_args()
    variants = ["fp32"] + [v for v in args.variants.split(",") if v]
    unknown = set(variants) - {"fp32", *VARIANTS}
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    if args.jobs > 1 and args.cache is None:
        parser.error("--jobs renders into --cache: give both")
    render_clips(range(args.clips), args.frames, args.cache, args.jobs)
    torch.set_num_threads(args.threads)
    loaded = build_model(args.model, device=args.device)
    runs = {name: variant_run(name, loaded) for name in variants}
    print(cpu_line())
    print(f"torch {torch.__version__} on {args.device}; model {loaded.spec}; {args.clips} random clips x"
          f" {args.frames} frames (seed {SEED}); J against truth, agreement = J against the fp32 masks")  # fmt: skip
    header = " | ".join(f"J {v}" for v in variants) + " | " + " | ".join(f"agree {v}" for v in variants[1:])
    print(f"| clip | objects | zoom | {header} |\n|{'---|' * (3 + 2 * len(variants) - 1)}")
    truth_j: dict[str, list[float]] = {v: [] for v in variants}
    agreement: dict[str, list[float]] = {v: [] for v in variants[1:]}
    seconds = dict.fromkeys(variants, 0.0)
    for index in range(args.clips):
        video, labels = clip(index, args.frames, args.cache)
        prompts = clip_prompts(labels)
        if not prompts:
            continue
        particles = [p.particle for p in prompts]
        masks, zoom = {}, None
        for name, (model, precision) in runs.items():
            started = time.perf_counter()
            result = track(video, prompts, model=model, precision=precision, return_masks=True, overlay=None)
            seconds[name] += time.perf_counter() - started
            masks[name], zoom = result.masks, result.run["zoom"]
            truth_j[name].append(mean_j(result.masks, labels, particles))
        for name in variants[1:]:
            agreement[name].append(mean_j(masks[name], masks["fp32"], particles))
        cells = [f"{truth_j[v][-1]:.3f}" for v in variants] + [f"{agreement[v][-1]:.4f}" for v in variants[1:]]
        print(f"| {index} | {len(prompts)} | {zoom or 'off'} | {' | '.join(cells)} |", flush=True)
    print(f"\n{len(truth_j['fp32'])} clips scored. J - J(fp32): mean over clips and its standard error (paired)")
    print("| variant | mean J | J - J(fp32) | agreement with fp32: mean | lowest clip | seconds |")
    print("|---|---|---|---|---|---|")
    for name in variants:
        delta = np.asarray(truth_j[name]) - np.asarray(truth_j["fp32"])
        error = f" ± {delta.std(ddof=1) / np.sqrt(delta.size):.4f}" if delta.size > 1 else ""
        paired = f"{delta.mean():+.4f}{error}" if name != "fp32" else "-"
        agree = f"{np.mean(agreement[name]):.4f} | {np.min(agreement[name]):.4f}" if name != "fp32" else "- | -"
        print(f"| {name} | {np.mean(truth_j[name]):.3f} | {paired} | {agree} | {seconds[name]:.0f} |")


if __name__ == "__main__":
    main()
