"""Where the stateless steps run: the :class:`Backend` protocol and the in-process :class:`LocalBackend`.

A remote backend (Triton) implements the same protocol by sending the steps' tensors as arrays; every argument is
a tensor, a tuple of ints, an int or a bool, and every result a tensor or a dataclass of tensors.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Literal, Protocol

import torch
from torch import Tensor

from samem.engine import steps
from samem.engine.settings import ModelSettings
from samem.engine.steps import FrameFeatures, MemoryInputs, StepOutput
from samem.errors import InputError


class Backend(Protocol):
    """The four SAM 2 video steps, batched over objects; see :mod:`samem.engine.steps` for shapes."""

    @property
    def settings(self) -> ModelSettings:
        """The model's configuration values the tracker needs."""
        ...

    def encode_frame(self, image: Tensor) -> FrameFeatures:
        """Backbone features of model images [n, 1, S, S] (one frame, or one window per object)."""
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

    def track_image(self, image: Tensor, memory: MemoryInputs, previous_masks: Tensor | None = None) -> StepOutput:
        """:meth:`track_frame` on model images [n, 1, S, S] (n = 1, or one window per object) it encodes itself."""
        ...


Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")


def check_precision(precision: str) -> Precision:
    """``precision`` if it is one of :data:`PRECISIONS`; else :class:`~samem.errors.InputError` (a ValueError)."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision  # type: ignore[return-value]


@contextlib.contextmanager
def inference(device: torch.device, precision: Precision) -> Iterator[None]:
    """Inference mode on ``device``, under bfloat16 autocast when ``precision`` is ``bf16``."""
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


def _as_float32(out: StepOutput) -> StepOutput:
    """``out`` with every tensor in float32 (what the tracker and its state expect)."""
    return StepOutput(
        low_res_logits=out.low_res_logits.float(),
        object_score_logits=out.object_score_logits.float(),
        obj_ptr=out.obj_ptr.float(),
        iou=out.iou.float(),
        memory=None if out.memory is None else out.memory.float(),
    )


class LocalBackend:
    """Runs the steps in this process with a ``SAM2Base`` in eval mode, under ``torch.inference_mode()``.

    ``precision="bf16"`` runs every step under bfloat16 autocast on the model's device (SAM 2's own setting on
    GPUs; on CPUs with AMX or AVX-512 BF16 the matrix products get faster too); outputs are float32 either way.
    """

    def __init__(self, model: torch.nn.Module, *, precision: Precision = "fp32") -> None:
        if model.training:
            raise ValueError("LocalBackend needs a model in eval mode (call model.eval())")
        self.model = model
        self.precision = check_precision(precision)
        self._settings = ModelSettings.from_model(model)
        self._device = next(model.parameters()).device

    def _running(self) -> contextlib.AbstractContextManager[None]:
        return inference(self._device, self.precision)

    @property
    def settings(self) -> ModelSettings:
        """The model's configuration values the tracker needs."""
        return self._settings

    def encode_frame(self, image: Tensor) -> FrameFeatures:
        """Backbone features of model images [n, 1, S, S] (one frame, or one window per object)."""
        with self._running():
            return steps.encode_frame(self.model, image.to(self._device, torch.float32))

    def decode_prompts(self, features: FrameFeatures, point_coords: Tensor, point_labels: Tensor) -> StepOutput:
        """Prompt-decoded outputs on an initial conditioning frame."""
        with self._running():
            coords, labels = point_coords.to(self._device), point_labels.to(self._device)
            out = steps.decode_prompts(self.model, features, coords, labels)
        return _as_float32(out)

    def encode_memory(
        self, features: FrameFeatures, high_res_mask_logits: Tensor, object_score_logits: Tensor, is_mask_from_pts: bool
    ) -> Tensor:
        """Spatial memories [B, Cm, h, w] of masks on a frame."""
        with self._running():
            memory = steps.encode_memory(
                self.model,
                features,
                high_res_mask_logits.to(self._device),
                object_score_logits.to(self._device),
                is_mask_from_pts,
            )
        return memory.float()

    def track_frame(
        self, features: FrameFeatures, memory: MemoryInputs, previous_masks: Tensor | None = None
    ) -> StepOutput:
        """Memory-conditioned outputs and new memories on a frame (``previous_masks`` for mask propagation)."""
        with self._running():
            memory = dataclasses.replace(
                memory, maskmem=memory.maskmem.to(self._device), obj_ptrs=memory.obj_ptrs.to(self._device)
            )
            masks = None if previous_masks is None else previous_masks.to(self._device)
            out = steps.track_frame(self.model, features, memory, masks)
        return _as_float32(out)

    def track_image(self, image: Tensor, memory: MemoryInputs, previous_masks: Tensor | None = None) -> StepOutput:
        """:meth:`track_frame` on model images [n, 1, S, S] (n = 1, or one window per object) it encodes itself."""
        return self.track_frame(self.encode_frame(image), memory, previous_masks)
