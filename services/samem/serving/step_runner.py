"""One engine step on named tensors: what a Triton python-backend model executes (no Triton imports here).

The tensors, their names and types are :func:`samem.serving.spec.step_tensors` of the python variant; the
computation is :mod:`samem.engine.steps`, unchanged, under ``torch.inference_mode()``. Inputs may be numpy arrays
or CPU tensors; outputs are CPU tensors: float32, and spatial memories in bfloat16 (as the engine's state keeps
them).
"""

from __future__ import annotations

import numpy as np
import torch

from samem.engine import steps
from samem.engine.backend import Precision, check_precision, inference
from samem.engine.steps import FrameFeatures, MemoryInputs, StepOutput
from samem.errors import InputError
from samem.serving.spec import ALL_STEPS

Arrays = dict[str, np.ndarray | torch.Tensor]
Tensors = dict[str, torch.Tensor]


def constant_pos_enc(model: torch.nn.Module) -> torch.Tensor:
    """The top level's positional encoding [1, C, h, w] on the model's device: a function of the image size only."""
    size = int(model.image_size) // int(model.backbone_stride)
    neck = model.image_encoder.neck
    device = next(model.parameters()).device
    with torch.inference_mode():
        return neck.position_encoding(torch.zeros(1, neck.d_model, size, size, device=device))


def _ints(arrays: Arrays, name: str) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(arrays[name]).reshape(-1))


def _heads(out: StepOutput) -> Tensors:
    heads = {
        "low_res_logits": out.low_res_logits,
        "object_score_logits": out.object_score_logits,
        "obj_ptr": out.obj_ptr,
        "iou": out.iou,
    }
    result = {name: value.float().cpu() for name, value in heads.items()}
    if out.memory is not None:
        result["memory"] = _memory(out.memory)
    return result


def _memory(memory: torch.Tensor) -> torch.Tensor:
    """Spatial memories as the engine's state keeps them: bfloat16 (rounded from float32 as the state rounds)."""
    return memory.to(torch.bfloat16).cpu()


class StepRunner:
    """Runs :mod:`samem.engine.steps` for one step on a model in eval mode, in float32 or bf16 autocast."""

    def __init__(self, model: torch.nn.Module, step: str, *, precision: Precision = "fp32") -> None:
        if step not in ALL_STEPS:
            raise InputError(f"unknown step {step!r}; steps: {', '.join(ALL_STEPS)}")
        if model.training:
            raise ValueError("StepRunner needs a model in eval mode (call model.eval())")
        self.model, self.step = model, step
        self.precision = check_precision(precision)
        self.device = next(model.parameters()).device
        self.pos_enc = constant_pos_enc(model)

    def _tensor(self, arrays: Arrays, name: str) -> torch.Tensor:
        try:
            array = arrays[name]
        except KeyError:
            raise InputError(f"missing input {name!r}") from None
        tensor = array if isinstance(array, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(array))
        return tensor.to(self.device)

    def _features(self, arrays: Arrays) -> FrameFeatures:
        has_high_res = "high_res_0" in arrays
        return FrameFeatures(
            image_embed=self._tensor(arrays, "image_embed"),
            high_res_0=self._tensor(arrays, "high_res_0") if has_high_res else None,
            high_res_1=self._tensor(arrays, "high_res_1") if has_high_res else None,
            pos_enc=self.pos_enc,
        )

    def __call__(self, arrays: Arrays) -> Tensors:
        """Outputs of the step by name; raises on malformed inputs (the caller reports the error)."""
        with inference(self.device, self.precision):
            return getattr(self, f"_{self.step}")(arrays)

    def _encode_frame(self, arrays: Arrays) -> Tensors:
        out = steps.encode_frame(self.model, self._tensor(arrays, "image"))
        result = {"image_embed": out.image_embed, "high_res_0": out.high_res_0, "high_res_1": out.high_res_1}
        result["pos_enc"] = out.pos_enc
        return {name: value.float().cpu() for name, value in result.items()}

    def _decode_prompts(self, arrays: Arrays) -> Tensors:
        coords, labels = self._tensor(arrays, "point_coords"), self._tensor(arrays, "point_labels")
        if coords.dim() != 3 or labels.shape != coords.shape[:2] or coords.shape[1] < 1:
            raise InputError(
                f"point_coords [B, P, 2] and point_labels [B, P] disagree: {tuple(coords.shape)} and"
                f" {tuple(labels.shape)}"
            )
        return _heads(steps.decode_prompts(self.model, self._features(arrays), coords, labels))

    def _encode_memory(self, arrays: Arrays) -> Tensors:
        features = FrameFeatures(
            image_embed=self._tensor(arrays, "image_embed"), high_res_0=None, high_res_1=None, pos_enc=self.pos_enc
        )
        memory = steps.encode_memory(
            self.model,
            features,
            self._tensor(arrays, "high_res_mask_logits"),
            self._tensor(arrays, "object_score_logits"),
            bool(np.asarray(arrays["is_mask_from_pts"]).reshape(-1)[0]),
        )
        return {"memory": _memory(memory)}

    def _track_frame(self, arrays: Arrays, features: FrameFeatures | None = None) -> Tensors:
        maskmem, obj_ptrs = self._tensor(arrays, "maskmem"), self._tensor(arrays, "obj_ptrs")
        tpos, offsets = _ints(arrays, "maskmem_tpos"), _ints(arrays, "ptr_offsets")
        if maskmem.dim() != 5 or maskmem.shape[1] != len(tpos):
            raise InputError(f"maskmem {tuple(maskmem.shape)} does not hold the {len(tpos)} memories of maskmem_tpos")
        if obj_ptrs.dim() != 3 or obj_ptrs.shape[1] != len(offsets):
            raise InputError(
                f"obj_ptrs {tuple(obj_ptrs.shape)} does not hold the {len(offsets)} pointers of ptr_offsets"
            )
        memory = MemoryInputs(
            maskmem=maskmem,
            maskmem_tpos=tpos,
            obj_ptrs=obj_ptrs,
            ptr_offsets=offsets,
            max_ptr_offset=_ints(arrays, "max_ptr_offset")[0],
        )
        previous = None
        if getattr(self.model, "mask_propagation", False):
            previous = self._tensor(arrays, "previous_masks")
            expected = (memory.n_objects, 1, *self.model.sam_prompt_encoder.mask_input_size)
            if tuple(previous.shape) != expected:
                raise InputError(f"previous_masks {tuple(previous.shape)} should be {expected} (one per object)")
        features = self._features(arrays) if features is None else features
        if features.image_embed.shape[0] not in (1, memory.n_objects):
            raise InputError(
                f"features of {features.image_embed.shape[0]} images for {memory.n_objects} objects: give one image,"
                " or one per object"
            )
        return _heads(steps.track_frame(self.model, features, memory, previous))

    def _track_image(self, arrays: Arrays) -> Tensors:
        image = self._tensor(arrays, "image")
        if image.dim() != 4:
            raise InputError(f"image {tuple(image.shape)} should be [1 or one per object, 1, S, S]")
        return self._track_frame(arrays, steps.encode_frame(self.model, image))
