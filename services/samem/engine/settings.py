"""The SAM 2 configuration values the engine's bookkeeping depends on, read once from a model."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from samem.errors import InputError


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """What the tracker needs to know about a model without holding it (a remote backend sends these).

    Field names follow ``SAM2Base``'s attributes; ``feature_size`` is the side of the top-level feature map
    (``image_size // backbone_stride``) and ``low_res_size`` that of the mask logits (``image_size // 4``).
    """

    image_size: int
    feature_size: int
    low_res_size: int
    hidden_dim: int
    mem_dim: int
    num_maskmem: int
    max_cond_frames_in_attn: int
    memory_temporal_stride_for_eval: int
    use_obj_ptrs_in_encoder: bool
    max_obj_ptrs_in_encoder: int
    only_obj_ptrs_in_the_past_for_eval: bool
    use_signed_tpos_enc_to_obj_ptrs: bool
    mask_propagation: bool = False  # samem weights: the previous frame's mask is a prompt on tracked frames
    clamp_pointer_offsets: bool = False  # samem weights: conditioning pointers keep offsets within the window

    @classmethod
    def from_model(cls, model: torch.nn.Module) -> ModelSettings:
        """Read the settings of a ``SAM2Base``, refusing configurations the engine does not reproduce."""
        if getattr(model, "non_overlap_masks_for_mem_enc", False):
            raise InputError(
                "models with non_overlap_masks_for_mem_enc=True are not supported: upstream applies the constraint"
                " per object (a no-op), so batching objects would change the result"
            )
        if model.num_maskmem < 1:
            raise InputError(f"models without mask memory (num_maskmem={model.num_maskmem}) cannot track videos")
        if model.memory_temporal_stride_for_eval < 1:
            raise InputError(
                f"memory_temporal_stride_for_eval must be >= 1, got {model.memory_temporal_stride_for_eval}"
            )
        return cls(
            image_size=int(model.image_size),
            feature_size=int(model.image_size // model.backbone_stride),
            low_res_size=int(model.image_size // 4),
            hidden_dim=int(model.hidden_dim),
            mem_dim=int(model.mem_dim),
            num_maskmem=int(model.num_maskmem),
            max_cond_frames_in_attn=int(model.max_cond_frames_in_attn),
            memory_temporal_stride_for_eval=int(model.memory_temporal_stride_for_eval),
            use_obj_ptrs_in_encoder=bool(model.use_obj_ptrs_in_encoder),
            max_obj_ptrs_in_encoder=int(model.max_obj_ptrs_in_encoder),
            only_obj_ptrs_in_the_past_for_eval=bool(model.only_obj_ptrs_in_the_past_for_eval),
            use_signed_tpos_enc_to_obj_ptrs=bool(model.use_signed_tpos_enc_to_obj_ptrs),
            mask_propagation=bool(getattr(model, "mask_propagation", False)),
            clamp_pointer_offsets=bool(getattr(model, "clamp_pointer_offsets", False)),
        )

    def max_ptrs(self, num_frames: int) -> int:
        """Upstream's effective pointer window for a video: ``min(num_frames, max_obj_ptrs_in_encoder)``."""
        return min(num_frames, self.max_obj_ptrs_in_encoder)

    def mask_window(self) -> int:
        """How many frames back the oldest non-conditioning mask memory can lie (stride-aware)."""
        stride = self.memory_temporal_stride_for_eval
        if self.num_maskmem < 2:
            return 0
        # t - 1 for the latest slot; the oldest is ((t - 2) // r) * r - (num_maskmem - 3) * r >= t - 1 - r * (n - 2)
        return 1 + stride * (self.num_maskmem - 2)
