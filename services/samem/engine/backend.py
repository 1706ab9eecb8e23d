"""Where the stateless steps run: the :class:`Backend` protocol and the in-process :class:`LocalBackend`.

A remote backend (Triton) implements the same protocol by sending the steps' tensors as arrays; every argument is
a tensor, a tuple of ints, an int or a bool, and every result a tensor or a dataclass of tensors.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import torch
from torch import Tensor

from samem.engine import steps
from samem.engine.settings import ModelSettings
from samem.engine.steps import FrameFeatures, MemoryInputs, StepOutput


class Backend(Protocol):
    """The four SAM 2 video steps, batched over objects; see :mod:`samem.engine.steps` for shapes."""

    @property
    def settings(self) -> ModelSettings:
        """The model's configuration values the tracker needs."""
        ...

    def encode_frame(self, image: Tensor) -> FrameFeatures:
        """Backbone features of model images [n, 3, S, S] (one frame, or one window per object)."""
        ...

    def decode_prompts(self, features: FrameFeatures, point_coords: Tensor, point_labels: Tensor) -> StepOutput:
        """Prompt-decoded outputs on an initial conditioning frame."""
        ...

    def encode_memory(
        self, features: FrameFeatures, high_res_mask_logits: Tensor, object_score_logits: Tensor, is_mask_from_pts: bool
    ) -> Tensor:
        """Spatial memories [B, Cm, h, w] of masks on a frame."""
        ...

    def track_frame(
        self, features: FrameFeatures, memory: MemoryInputs, previous_masks: Tensor | None = None
    ) -> StepOutput:
        """Memory-conditioned outputs and new memories on a frame (``previous_masks`` for mask propagation)."""
        ...


class LocalBackend:
    """Runs the steps in this process with a ``SAM2Base`` in eval mode, under ``torch.inference_mode()``."""

    def __init__(self, model: torch.nn.Module) -> None:
        if model.training:
            raise ValueError("LocalBackend needs a model in eval mode (call model.eval())")
        self.model = model
        self._settings = ModelSettings.from_model(model)
        self._device = next(model.parameters()).device

    @property
    def settings(self) -> ModelSettings:
        """The model's configuration values the tracker needs."""
        return self._settings

    def encode_frame(self, image: Tensor) -> FrameFeatures:
        """Backbone features of model images [n, 3, S, S] (one frame, or one window per object)."""
        with torch.inference_mode():
            return steps.encode_frame(self.model, image.to(self._device, torch.float32))

    def decode_prompts(self, features: FrameFeatures, point_coords: Tensor, point_labels: Tensor) -> StepOutput:
        """Prompt-decoded outputs on an initial conditioning frame."""
        with torch.inference_mode():
            return steps.decode_prompts(
                self.model, features, point_coords.to(self._device), point_labels.to(self._device)
            )

    def encode_memory(
        self, features: FrameFeatures, high_res_mask_logits: Tensor, object_score_logits: Tensor, is_mask_from_pts: bool
    ) -> Tensor:
        """Spatial memories [B, Cm, h, w] of masks on a frame."""
        with torch.inference_mode():
            return steps.encode_memory(
                self.model,
                features,
                high_res_mask_logits.to(self._device),
                object_score_logits.to(self._device),
                is_mask_from_pts,
            )

    def track_frame(
        self, features: FrameFeatures, memory: MemoryInputs, previous_masks: Tensor | None = None
    ) -> StepOutput:
        """Memory-conditioned outputs and new memories on a frame (``previous_masks`` for mask propagation)."""
        with torch.inference_mode():
            memory = dataclasses.replace(
                memory, maskmem=memory.maskmem.to(self._device), obj_ptrs=memory.obj_ptrs.to(self._device)
            )
            masks = None if previous_masks is None else previous_masks.to(self._device)
            return steps.track_frame(self.model, features, memory, masks)
