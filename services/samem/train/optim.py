"""AdamW with layer-wise learning-rate decay over the Hiera image encoder, and a warm-up + cosine schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from samem.train.recipe import TrainRecipe

ENCODER_PREFIX = "image_encoder."
TRUNK_PREFIX = "image_encoder.trunk."
NO_DECAY_NAMES = ("pos_embed", "tpos_enc", "no_mem_", "no_obj_")


def encoder_lr_scale(name: str, depth: int, decay: float) -> float:
    """The factor on ``lr_encoder`` of an image-encoder parameter: ``decay ** (depth - layer)``.

    Hiera block ``i`` (0-based) is layer ``i + 1``, the patch and position embeddings layer 0, and everything
    else in the encoder (the FPN neck, the trunk's final norms) layer ``depth``.
    """
    if name.startswith(TRUNK_PREFIX):
        rest = name[len(TRUNK_PREFIX) :]
        if rest.startswith("blocks."):
            return decay ** (depth - (int(rest.split(".")[1]) + 1))
        if rest.startswith(("patch_embed", "pos_embed")):
            return decay**depth
    return 1.0


@dataclass(frozen=True, kw_only=True)
class ParamGroupInfo:
    """How one parameter is optimised."""

    lr: float
    weight_decay: float


def param_settings(model: torch.nn.Module, recipe: TrainRecipe) -> dict[str, ParamGroupInfo]:
    """Learning rate and weight decay of every trainable parameter, by name."""
    trunk = getattr(getattr(model, "image_encoder", None), "trunk", None)
    depth = len(trunk.blocks) if trunk is not None and hasattr(trunk, "blocks") else 0
    settings = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name.startswith(ENCODER_PREFIX):
            lr = recipe.lr_encoder * encoder_lr_scale(name, depth, recipe.layer_decay)
        else:
            lr = recipe.lr
        no_decay = param.ndim <= 1 or any(key in name for key in NO_DECAY_NAMES)
        settings[name] = ParamGroupInfo(lr=lr, weight_decay=0.0 if no_decay else recipe.weight_decay)
    return settings


def make_optimizer(model: torch.nn.Module, recipe: TrainRecipe) -> torch.optim.AdamW:
    """AdamW with one parameter group per (learning rate, weight decay), in a stable order."""
    settings = param_settings(model, recipe)
    params = dict(model.named_parameters())
    groups: dict[tuple[float, float], list[str]] = {}
    for name, info in settings.items():
        groups.setdefault((info.lr, info.weight_decay), []).append(name)
    param_groups = [
        {"params": [params[n] for n in names], "lr": lr, "weight_decay": wd, "names": names}
        for (lr, wd), names in groups.items()
    ]
    return torch.optim.AdamW(param_groups, betas=(0.9, 0.999), eps=1e-8)


def lr_factor(step: int, recipe: TrainRecipe) -> float:
    """Multiplier on the peak learning rates for optimiser step ``step`` (0-based): linear warm-up, then cosine."""
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    span = max(recipe.steps - recipe.warmup_steps, 1)
    progress = min((step - recipe.warmup_steps) / span, 1.0)
    return recipe.min_lr_ratio + (1 - recipe.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: TrainRecipe) -> torch.optim.lr_scheduler.LambdaLR:
    """The warm-up + cosine schedule of :func:`lr_factor` (stepped once per optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, recipe))
