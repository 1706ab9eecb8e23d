"""The training forward pass of one clip, built from the engine's stateless steps with gradients enabled.

Frame 0 is the prompted (conditioning) frame: :func:`~samem.engine.steps.decode_prompts` from the boxes, then
:func:`~samem.engine.steps.encode_memory` of its mask upsampled to ``S x S`` and binarised, as the tracker does.
Every later frame is :func:`~samem.engine.steps.track_frame` with the memories chosen by the engine's own rules
(:mod:`samem.engine.memory`) from the clip's earlier frames, and, for models with mask propagation, the previous
frame's own output mask (its largest piece, :mod:`samem.engine.pieces`) as a prompt (without gradient), so
training and inference compute the same thing (up to train-mode dropout). All objects of the clip go through each
step together (the steps' B dimension).

The mask decoder's raw outputs (every candidate mask with its predicted IoU, before SAM 2 replaces the masks of
objects scored absent by -1024) are captured with a forward hook: the loss needs all candidates, and the raw
logits keep the mask loss differentiable on frames where the object score is still wrong. Tracked frames of
mask-propagation models run the decoder once more per refinement pass (``steps.PROMPT_REFINEMENTS``); the loss
takes the last pass, the one inference outputs (the binarised prompt between passes carries no gradient, so the
first pass learns through the shared memory-conditioned features).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from samem.engine import steps
from samem.engine.memory import gather_memory, group_by_layout, select_layout
from samem.engine.pieces import carried_mask
from samem.engine.settings import ModelSettings
from samem.engine.state import FrameMemory, ObjectState
from samem.engine.steps import FrameFeatures, StepOutput
from samem.engine.windows import shift_mask


@dataclass(frozen=True, kw_only=True)
class FrameOutput:
    """The model's outputs for the B objects of one frame.

    ``multimask_logits`` [B, M, S/4, S/4] and ``multimask_ious`` [B, M] are the decoder's candidates (M = 3 with
    multimask output, else 1) before object-score gating; ``low_res_logits`` [B, 1, S/4, S/4] is the chosen,
    gated mask inference outputs; ``object_score_logits`` [B, 1].
    """

    multimask_logits: Tensor
    multimask_ious: Tensor
    object_score_logits: Tensor
    low_res_logits: Tensor


class _DecoderCapture:
    """Collects ``(masks, iou_pred)`` of every mask-decoder call made while it is installed."""

    def __init__(self) -> None:
        self.calls: list[tuple[Tensor, Tensor]] = []

    def __call__(self, module: torch.nn.Module, args: object, output: tuple[Tensor, ...]) -> None:
        self.calls.append((output[0], output[1]))

    def pop(self, expected: int = 1) -> tuple[Tensor, Tensor]:
        """The last of the ``expected`` calls of a step: the one whose mask is the step's output."""
        if len(self.calls) != expected:
            raise RuntimeError(f"expected {expected} mask-decoder call(s) in this step, saw {len(self.calls)}")
        last = self.calls[-1]
        self.calls.clear()
        return last


@contextlib.contextmanager
def _capture_decoder(model: torch.nn.Module) -> Iterator[_DecoderCapture]:
    capture = _DecoderCapture()
    handle = model.sam_mask_decoder.register_forward_hook(capture)
    try:
        yield capture
    finally:
        handle.remove()


def _frame_features(features: FrameFeatures, t: int) -> FrameFeatures:
    """Frame ``t`` of features computed for a batch of frames."""

    def pick(x: Tensor | None) -> Tensor | None:
        return None if x is None else x[t : t + 1]

    return FrameFeatures(
        image_embed=features.image_embed[t : t + 1],
        high_res_0=pick(features.high_res_0),
        high_res_1=pick(features.high_res_1),
        pos_enc=features.pos_enc[:1],
    )


def _memories(out: StepOutput, memory: Tensor) -> list[FrameMemory]:
    """Per-object memories of a batched output (kept in float32 and in the autograd graph)."""
    return [
        FrameMemory(
            obj_ptr=out.obj_ptr[i],
            object_score=out.object_score_logits[i],
            iou=out.iou[i],
            maskmem=memory[i],
        )
        for i in range(out.obj_ptr.shape[0])
    ]


def _output(out: StepOutput, captured: tuple[Tensor, Tensor]) -> FrameOutput:
    masks, ious = captured
    return FrameOutput(
        multimask_logits=masks.float(),
        multimask_ious=ious.float(),
        object_score_logits=out.object_score_logits.float(),
        low_res_logits=out.low_res_logits.float(),
    )


def _concat(parts: list[tuple[list[int], FrameOutput]], n_objects: int) -> FrameOutput:
    """Outputs of layout groups put back in object order."""
    if len(parts) == 1 and parts[0][0] == list(range(n_objects)):
        return parts[0][1]
    order = torch.tensor([i for members, _ in parts for i in members])
    inverse = torch.argsort(order)

    def cat(name: str) -> Tensor:
        return torch.cat([getattr(out, name) for _, out in parts])[inverse.to(getattr(parts[0][1], name).device)]

    return FrameOutput(
        multimask_logits=cat("multimask_logits"),
        multimask_ious=cat("multimask_ious"),
        object_score_logits=cat("object_score_logits"),
        low_res_logits=cat("low_res_logits"),
    )


def jitter_masks(masks: Tensor, max_shift: int) -> Tensor:
    """Each mask of ``masks`` [B, 1, L, L] moved by its own random whole-pixel shift in [-max_shift, max_shift]^2."""
    shifts = torch.randint(-max_shift, max_shift + 1, (masks.shape[0], 2)).tolist()
    return torch.stack([shift_mask(mask, dx, dy) for mask, (dx, dy) in zip(masks, shifts, strict=True)])


def forward_clip(
    model: torch.nn.Module, images: Tensor, point_coords: Tensor, point_labels: Tensor, *, prompt_jitter: int = 0
) -> list[FrameOutput]:
    """Prompt B objects on frame 0 of the model images ``images`` [T, 1, S, S] and track them through frames 1 .. T-1.

    ``point_coords`` [B, P, 2] (model pixels) and ``point_labels`` [B, P] are the prompts of frame 0 (boxes are
    two points labelled 2 and 3). With mask propagation, ``prompt_jitter`` moves each previous-frame mask prompt by
    a random shift of up to that many mask pixels (:func:`jitter_masks`). Returns one :class:`FrameOutput` per
    frame; gradients flow unless the caller disables them.
    """
    settings = ModelSettings.from_model(model)
    n_frames, size = images.shape[0], settings.image_size
    all_features = steps.encode_frame(model, images)
    outputs: list[FrameOutput] = []
    decoder_calls = 1 + (steps.PROMPT_REFINEMENTS if settings.mask_propagation else 0)  # per tracked step
    with _capture_decoder(model) as capture:
        features = _frame_features(all_features, 0)
        out = steps.decode_prompts(model, features, point_coords, point_labels)
        high_res = F.interpolate(out.low_res_logits, size=(size, size), mode="bilinear", align_corners=False)
        memory = steps.encode_memory(model, features, high_res, out.object_score_logits, True)
        outputs.append(_output(out, capture.pop()))
        objects = [ObjectState(particle_id=i + 1, cond={0: m}) for i, m in enumerate(_memories(out, memory))]
        for t in range(1, n_frames):
            features = _frame_features(all_features, t)
            layouts = [select_layout(obj, t, settings=settings, num_frames=n_frames) for obj in objects]
            parts = []
            for group in group_by_layout(layouts):
                inputs = gather_memory(
                    [objects[i] for i in group], [layouts[i] for i in group], settings=settings, num_frames=n_frames
                )
                previous = None
                if settings.mask_propagation:
                    previous = carried_mask(outputs[-1].low_res_logits[group])
                    if prompt_jitter:
                        previous = jitter_masks(previous, prompt_jitter)
                out = steps.track_frame(model, features, inputs, previous)
                parts.append((group, _output(out, capture.pop(decoder_calls))))
                for i, memory_t in zip(group, _memories(out, out.memory), strict=True):
                    obj = objects[i]
                    objects[i] = ObjectState(
                        particle_id=obj.particle_id, cond=obj.cond, non_cond={**obj.non_cond, t: memory_t}
                    )
            outputs.append(_concat(parts, len(objects)))
    return outputs
