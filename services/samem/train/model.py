"""Build a model for training: :func:`samem.model.build_model` in train mode, optionally at another input size.

Training builds exactly what inference builds (the same config, overrides and strict checkpoint loading), so a
trained checkpoint means the same thing at inference.
"""

from __future__ import annotations

import torch

from samem.model import ModelSpec, build_model
from samem.model.build import LoadedModel


def build_training_model(
    spec: ModelSpec | str, *, image_size: int | None = None, device: str | torch.device = "cpu", seed: int = 0
) -> LoadedModel:
    """The model of ``spec`` in train mode on ``device``; ``image_size`` overrides the config's input size."""
    loaded = build_model(spec, device=device, seed=seed, image_size=image_size)
    loaded.model.train()
    return loaded
