"""SAM 2's per-frame video computations as stateless steps, batched over the B objects of a frame.

Every step is a function of ``(model, tensors) -> tensors``: no per-video state, no hidden caches, so each can run
on a stateless server. The caller holds the memory bank (see :mod:`samem.engine.state`) and passes RAW memory:
every model parameter (temporal encodings, projections) is applied here. Steps do not enter
``torch.inference_mode()``; the backend does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sam2.modeling.sam2_utils import get_1d_sine_pe
from torch import Tensor

from samem.errors import InputError

#: SAM 2's image normalisation (ImageNet statistics, RGB)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, kw_only=True)
class FrameFeatures:
    """Backbone outputs of one model image, as ``SAM2Base.forward_image`` leaves them.

    ``image_embed`` is the top level [1, C, h, w]; ``high_res_0`` [1, C0, 4h, 4w] and ``high_res_1``
    [1, C1, 2h, 2w] are the finer levels after the decoder's ``conv_s0``/``conv_s1`` (None when the model does
    not use high-resolution features); ``pos_enc`` [1, C, h, w] is the top level's positional encoding, a constant
    for a given image size.
    """

    image_embed: Tensor
    high_res_0: Tensor | None
    high_res_1: Tensor | None
    pos_enc: Tensor

    def take(self, indices: list[int]) -> FrameFeatures:
        """The features of some images of a batch (window mode encodes one image per object)."""

        def rows(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else tensor[indices]

        return FrameFeatures(image_embed=self.image_embed[indices], high_res_0=rows(self.high_res_0),
                             high_res_1=rows(self.high_res_1), pos_enc=self.pos_enc[:1])  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class MemoryInputs:
    """Raw memory of B objects sharing one layout (the same positions in the same order).

    ``maskmem`` [B, N, Cm, h, w] holds spatial memories with temporal positions ``maskmem_tpos`` (N ints: 0 for
    conditioning frames, 1..num_maskmem-1 otherwise, as upstream); ``obj_ptrs`` [B, P, C] holds object pointers
    with frame offsets ``ptr_offsets`` (P ints, signed or unsigned as the model's config says) and
    ``max_ptr_offset`` is upstream's normaliser ``min(num_frames, max_obj_ptrs_in_encoder) - 1``.
    """

    maskmem: Tensor
    maskmem_tpos: tuple[int, ...]
    obj_ptrs: Tensor
    ptr_offsets: tuple[int, ...]
    max_ptr_offset: int

    @property
    def n_objects(self) -> int:
        """B, read from whichever of the spatial memories and the pointers is present."""
        return self.maskmem.shape[0] if self.maskmem_tpos else self.obj_ptrs.shape[0]


@dataclass(frozen=True, kw_only=True)
class StepOutput:
    """SAM head outputs for B objects; ``memory`` [B, Cm, h, w] is set by :func:`track_frame` only."""

    low_res_logits: Tensor  # [B, 1, S/4, S/4]
    object_score_logits: Tensor  # [B, 1]
    obj_ptr: Tensor  # [B, C]
    iou: Tensor  # [B, 1], predicted IoU of the chosen mask
    memory: Tensor | None = None


def model_input(images: Tensor) -> Tensor:
    """Grey model images [n, 1, S, S] in [0, 1] as SAM 2's input [n, 3, S, S]: three channels, ImageNet mean/std.

    Computed in float32 with per-channel tensors (a Python scalar divisor would be applied as a reciprocal), so
    that every backend, the Triton server included, turns the same grey image into the same input bit for bit.
    """
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=images.device).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=images.device).reshape(1, 3, 1, 1)
    return (images.float() - mean) / std


def encode_frame(model: torch.nn.Module, images: Tensor) -> FrameFeatures:
    """Run the image encoder on grey model images [n, 1, S, S] in [0, 1] (see :func:`model_input`).

    Images travel with one channel (a third of the bytes of SAM 2's three identical ones); the expansion to SAM 2's
    input happens here, on the device and the server that run the encoder.
    """
    if images.dim() != 4 or images.shape[1] != 1:
        raise InputError(f"model images should be grey, [n, 1, S, S]; got {tuple(images.shape)}")
    out = model.forward_image(model_input(images))
    levels = out["backbone_fpn"][-model.num_feature_levels :]
    pos = out["vision_pos_enc"][-model.num_feature_levels :]
    high_res = levels[:-1] if model.use_high_res_features_in_sam else [None, None]
    return FrameFeatures(image_embed=levels[-1], high_res_0=high_res[0], high_res_1=high_res[1], pos_enc=pos[-1])


def _expand(tensor: Tensor | None, batch: int) -> Tensor | None:
    return None if tensor is None else tensor.expand(batch, -1, -1, -1)


def _high_res(features: FrameFeatures, batch: int) -> list[Tensor] | None:
    if features.high_res_0 is None or features.high_res_1 is None:
        return None
    return [_expand(features.high_res_0, batch), _expand(features.high_res_1, batch)]


def _sam_heads(
    model: torch.nn.Module,
    pix_feat: Tensor,
    features: FrameFeatures,
    point_inputs: dict[str, Tensor] | None,
    *,
    is_init_cond_frame: bool,
    mask_inputs: Tensor | None = None,
    multimask: bool | None = None,
) -> tuple[StepOutput, Tensor]:
    """SAM prompt encoder and mask decoder; also returns the S x S logits.

    Multimask output follows upstream's rule unless ``multimask`` is given (graphs that compute both cases).
    """
    if multimask is None:
        multimask = model._use_multimask(is_init_cond_frame, point_inputs)
    heads = model._forward_sam_heads(
        backbone_features=pix_feat,
        point_inputs=point_inputs,
        mask_inputs=mask_inputs,
        high_res_features=_high_res(features, pix_feat.shape[0]),
        multimask_output=multimask,
    )
    _, _, ious, low_res, high_res, obj_ptr, object_score_logits = heads
    # the chosen mask is the one with the highest predicted IoU (a single column without multimask output)
    iou = ious.max(dim=-1, keepdim=True).values
    out = StepOutput(low_res_logits=low_res, object_score_logits=object_score_logits, obj_ptr=obj_ptr, iou=iou)
    return out, high_res


def box_mask(model: torch.nn.Module, point_coords: Tensor, point_labels: Tensor) -> Tensor:
    """Each object's box (corners labelled 2 and 3) as a filled mask [B, 1, h, w] at the prompt encoder's mask size.

    1 on mask pixels whose centre lies in the box, 0 elsewhere and for objects prompted without a box. Built from
    tensor operations only, so that exported graphs compute it too.
    """
    height, width = model.sam_prompt_encoder.mask_input_size
    size = float(model.image_size)
    corner0 = (point_coords * (point_labels == 2).unsqueeze(-1)).sum(1)  # [B, 2] (x, y)
    corner1 = (point_coords * (point_labels == 3).unsqueeze(-1)).sum(1)
    has_box = (point_labels == 2).any(1)
    ys = (torch.arange(height, device=point_coords.device, dtype=torch.float32) + 0.5) * (size / height)
    xs = (torch.arange(width, device=point_coords.device, dtype=torch.float32) + 0.5) * (size / width)
    inside_x = (xs[None, :] >= corner0[:, :1]) & (xs[None, :] <= corner1[:, :1])  # [B, w]
    inside_y = (ys[None, :] >= corner0[:, 1:]) & (ys[None, :] <= corner1[:, 1:])  # [B, h]
    inside = inside_y[:, :, None] & inside_x[:, None, :] & has_box[:, None, None]
    return inside.unsqueeze(1).float()


def decode_prompts(
    model: torch.nn.Module,
    features: FrameFeatures,
    point_coords: Tensor,
    point_labels: Tensor,
    *,
    multimask: bool | None = None,
) -> StepOutput:
    """Segment B objects from prompts on an initial conditioning frame (no memory).

    ``point_coords`` [B, P, 2] are (x, y) in model pixels, ``point_labels`` [B, P] int (1 positive, 0 negative,
    2/3 the top-left/bottom-right box corners, which come first). Models trained with dense box prompts
    (``model.box_mask_prompt``, samem's own compact weights) also get each box as a mask prompt
    (:func:`box_mask`); SAM 2 and SAM-EM checkpoints get the sparse prompts only, as upstream. ``multimask``
    overrides upstream's rule (one candidate mask for >= 2 points, the best of three for a single click).
    """
    batch = point_coords.shape[0]
    pix = _expand(features.image_embed, batch)
    if model.directly_add_no_mem_embed:
        pix = pix + model.no_mem_embed.reshape(1, -1, 1, 1)
    elif model.num_maskmem > 0:
        pix = _attend(
            model, features, model.no_mem_embed.expand(1, batch, -1), model.no_mem_pos_enc.expand(1, batch, -1), 0
        )
    point_inputs = {"point_coords": point_coords.float(), "point_labels": point_labels.to(torch.int32)}
    masks = box_mask(model, point_coords.float(), point_labels) if getattr(model, "box_mask_prompt", False) else None
    out, _ = _sam_heads(
        model, pix, features, point_inputs, is_init_cond_frame=True, mask_inputs=masks, multimask=multimask
    )
    return out


def encode_memory(
    model: torch.nn.Module,
    features: FrameFeatures,
    high_res_mask_logits: Tensor,
    object_score_logits: Tensor,
    is_mask_from_pts: bool,
) -> Tensor:
    """Encode B masks (logits [B, 1, S, S]) on one frame into spatial memories [B, Cm, h, w] (float32).

    Masks from prompts are binarised when the config says so (upstream's video-predictor setting); otherwise the
    sigmoid of the logits is used. Absent objects (score <= 0) get the no-object embedding added.
    """
    batch = high_res_mask_logits.shape[0]
    if model.binarize_mask_from_pts_for_mem_enc and is_mask_from_pts:
        mask = (high_res_mask_logits > 0).float()
    else:
        mask = torch.sigmoid(high_res_mask_logits)
    if model.sigmoid_scale_for_mem_enc != 1.0:
        mask = mask * model.sigmoid_scale_for_mem_enc
    if model.sigmoid_bias_for_mem_enc != 0.0:
        mask = mask + model.sigmoid_bias_for_mem_enc
    encoded = model.memory_encoder(_expand(features.image_embed, batch), mask, skip_mask_sigmoid=True)
    memory = encoded["vision_features"]
    if model.no_obj_embed_spatial is not None:
        appearing = (object_score_logits > 0).float()[..., None, None]
        memory = memory + (1 - appearing) * model.no_obj_embed_spatial[..., None, None].expand(*memory.shape)
    return memory


def _attend(model: torch.nn.Module, features: FrameFeatures, memory: Tensor, memory_pos: Tensor, n_ptr: int) -> Tensor:
    """Memory attention of the top-level features [B, C, h, w] to memory tokens [M, B, Cm]."""
    batch = memory.shape[1]
    _, channels, height, width = features.image_embed.shape
    curr = _expand(features.image_embed, batch).flatten(2).permute(2, 0, 1)
    curr_pos = _expand(features.pos_enc, batch).flatten(2).permute(2, 0, 1)
    fused = model.memory_attention(
        curr=[curr], curr_pos=[curr_pos], memory=memory, memory_pos=memory_pos, num_obj_ptr_tokens=n_ptr
    )
    return fused.permute(1, 2, 0).reshape(batch, channels, height, width)


def _spatial_tokens(model: torch.nn.Module, memory: MemoryInputs) -> tuple[Tensor, Tensor]:
    """Spatial memories as tokens [N*h*w, B, Cm] and their positional encodings (spatial + temporal)."""
    batch, n_mem, mem_dim, height, width = memory.maskmem.shape
    feats = memory.maskmem.float().permute(1, 3, 4, 0, 2).reshape(n_mem * height * width, batch, mem_dim)
    spatial_pos = model.memory_encoder.position_encoding(feats.new_empty(1, mem_dim, height, width)).to(feats.dtype)
    spatial_pos = spatial_pos.flatten(2).permute(2, 0, 1)  # [h*w, 1, Cm]
    pos = [spatial_pos + model.maskmem_tpos_enc[model.num_maskmem - t_pos - 1] for t_pos in memory.maskmem_tpos]
    return feats, torch.cat(pos, dim=0).expand(-1, batch, -1)


def _pointer_tokens(model: torch.nn.Module, memory: MemoryInputs) -> tuple[Tensor, Tensor]:
    """Object pointers as tokens [P * C/Cm, B, Cm] and their temporal positional encodings."""
    batch, n_ptr, channels = memory.obj_ptrs.shape
    mem_dim = model.mem_dim
    ptrs = memory.obj_ptrs.float().permute(1, 0, 2)  # [P, B, C]
    if model.add_tpos_enc_to_obj_ptrs:
        offsets = torch.tensor(memory.ptr_offsets, device=ptrs.device) / memory.max_ptr_offset
        tpos_dim = channels if model.proj_tpos_enc_in_obj_ptrs else mem_dim
        pos = model.obj_ptr_tpos_proj(get_1d_sine_pe(offsets, dim=tpos_dim))
        pos = pos.unsqueeze(1).expand(-1, batch, mem_dim)
    else:
        pos = ptrs.new_zeros(n_ptr, batch, mem_dim)
    if mem_dim < channels:  # each pointer becomes C // Cm tokens
        ptrs = ptrs.reshape(n_ptr, batch, channels // mem_dim, mem_dim).permute(0, 2, 1, 3).flatten(0, 1)
        pos = pos.repeat_interleave(channels // mem_dim, dim=0)
    return ptrs, pos


PROMPT_REFINEMENTS = 1  # extra decoder passes of mask-propagation models, prompted with their own mask


def previous_mask_prompt(low_res_logits: Tensor) -> Tensor:
    """Mask prompts [B, 1, S/4, S/4] from the previous frame's chosen logits: 1 inside its mask, 0 elsewhere."""
    return (low_res_logits > 0).float()


def track_frame(
    model: torch.nn.Module,
    features: FrameFeatures,
    memory: MemoryInputs,
    previous_masks: Tensor | None = None,
    *,
    refinements: int = PROMPT_REFINEMENTS,
) -> StepOutput:
    """Track B objects on a frame from their memory; also encodes the frame's new memories.

    Models trained with mask propagation (``model.mask_propagation``, samem's own compact weights) also get each
    object's mask on the previous frame as a dense mask prompt: ``previous_masks`` [B, 1, S/4, S/4] from
    :func:`previous_mask_prompt` (zeros where there is no previous frame). Such a model's mask lags a moving
    particle (it leans on the prompt), so the heads run ``refinements`` more times, each with the last mask as the
    prompt and the same memory-conditioned features: the mask converges on where the image puts the particle
    (samem-compact on 20 px particles moving 2 px per frame: slope of tracked on true displacement 0.78 -> 0.92
    with one pass, J unchanged). SAM 2 and SAM-EM checkpoints track from memory alone, as upstream, and take no
    ``previous_masks``.
    """
    if not memory.maskmem_tpos and not memory.ptr_offsets:
        raise ValueError("track_frame needs at least one memory or object pointer")
    propagating = getattr(model, "mask_propagation", False)
    if propagating != (previous_masks is not None):
        raise ValueError(
            "previous_masks must be given exactly when the model was trained with mask propagation"
            f" (model.mask_propagation={propagating})"
        )
    tokens, positions, n_ptr_tokens = [], [], 0
    if memory.maskmem_tpos:
        feats, pos = _spatial_tokens(model, memory)
        tokens.append(feats)
        positions.append(pos)
    if memory.ptr_offsets:
        ptrs, pos = _pointer_tokens(model, memory)
        tokens.append(ptrs)
        positions.append(pos)
        n_ptr_tokens = ptrs.shape[0]
    pix = _attend(model, features, torch.cat(tokens, dim=0), torch.cat(positions, dim=0), n_ptr_tokens)
    return tracked_heads(model, pix, features, previous_masks, refinements=refinements if propagating else 0)


def tracked_heads(
    model: torch.nn.Module, pix: Tensor, features: FrameFeatures, previous_masks: Tensor | None, *, refinements: int
) -> StepOutput:
    """Heads of a tracked frame on memory-conditioned features ``pix``, then the frame's new memories.

    ``refinements`` more passes each take the last mask as the prompt. Shared by :func:`track_frame` and the
    exported tracking graph.
    """
    out, high_res = _sam_heads(model, pix, features, None, is_init_cond_frame=False, mask_inputs=previous_masks)
    for _ in range(refinements):
        prompt = previous_mask_prompt(out.low_res_logits)
        out, high_res = _sam_heads(model, pix, features, None, is_init_cond_frame=False, mask_inputs=prompt)
    new_memory = encode_memory(model, features, high_res, out.object_score_logits, is_mask_from_pts=False)
    return StepOutput(
        low_res_logits=out.low_res_logits,
        object_score_logits=out.object_score_logits,
        obj_ptr=out.obj_ptr,
        iou=out.iou,
        memory=new_memory,
    )
