"""Shared pieces of the training tests: a tiny recipe, a tiny compact model and a fixed clip."""

from __future__ import annotations

import functools

import torch

from samem.train.data import TrainingClip
from samem.train.model import build_training_model
from samem.train.recipe import TrainRecipe
from samem.train.sources import SimulatedSource

SIZE = 64  # model input size of the tests (the compact config at 64 px; RoPE grid 4 x 4)

TINY = TrainRecipe(
    name="tiny",
    model="samem-compact:random",
    image_size=SIZE,
    steps=4,
    frames=2,
    max_objects=3,
    lr=1e-3,
    lr_encoder=1e-3,
    warmup_steps=1,
    grad_clip=1.0,
    box_noise_bound=2.0,
    frame_size=(48, 96),
    max_particles=4,
    val_every=2,
    val_clips=1,
    val_frames=3,
    checkpoint_every=1,
)


def present_model(**flags: bool) -> torch.nn.Module:
    """Random compact weights at SIZE whose object score says 'present' (masks and pointers are the decoder's own,
    never blanked), with the given prompt flags (``box_mask_prompt``, ``mask_propagation``) set."""
    from samem.model import build_model

    model = build_model("samem-compact:random", image_size=SIZE).model
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[2].bias += 20.0
    for name, value in flags.items():
        setattr(model, name, value)
    return model


def tiny_model(seed: int = 0) -> torch.nn.Module:
    return build_training_model("samem-compact:random", image_size=SIZE, seed=seed).model


@functools.cache
def fixed_clip(frames: int = 2, step: int = 1) -> TrainingClip:
    recipe = TINY.with_overrides(frames=frames, box_noise=0.0)
    return SimulatedSource(recipe, SIZE).train_clip(step, 0)
