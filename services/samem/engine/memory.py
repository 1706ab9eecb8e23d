"""Which memories an object attends to on a frame, reproducing upstream ``_prepare_memory_conditioned_features``.

For forward tracking of frame ``t`` (reverse tracking is not supported):

- conditioning frames: all of them, or the ``max_cond_frames_in_attn`` closest (the closest before ``t``, the
  closest at or after ``t``, then the nearest others), temporal position 0; unselected ones act as
  non-conditioning frames;
- non-conditioning mask memories: ``t - 1`` at position ``num_maskmem - 1``, and for ``k = 2 .. num_maskmem - 1``
  the frame ``((t - 2) // r) * r - (k - 2) * r`` at position ``num_maskmem - k`` (``r`` the memory stride);
- object pointers: those of the selected conditioning frames (only frames ``<= t`` when
  ``only_obj_ptrs_in_the_past_for_eval``) at offset ``t - t_c`` (or its absolute value), then those of frames
  ``t - 1 .. t - (min(num_frames, max_obj_ptrs_in_encoder) - 1)`` at offset ``t - t'``.

Models trained by samem (``clamp_pointer_offsets``) deviate in one point: a conditioning frame's pointer further
back than the pointer window gets the window's largest offset (sign kept). Upstream's offset grows with the
distance, and its sine encoding (offset / window) leaves the range training clips cover after one window; samem's
compact weights then lose their particles after about 60 frames (J 0.81 -> 0.0 over 300 frames, 0.81 with the
clamp, 2p full-scale eval video at 50 nm).

Objects with the same positions in the same order share a layout and are tracked in one batched step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from samem.engine.settings import ModelSettings
from samem.engine.state import FrameMemory, ObjectState
from samem.engine.steps import MemoryInputs


@dataclass(frozen=True, kw_only=True)
class MemoryLayout:
    """The memories one object attends to on one frame, in upstream's order."""

    mask_frames: tuple[int, ...]
    mask_tpos: tuple[int, ...]
    ptr_frames: tuple[int, ...]
    ptr_offsets: tuple[int, ...]

    @property
    def key(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """What the batched step depends on: positions only, not which frames they come from."""
        return self.mask_tpos, self.ptr_offsets


def select_cond_frames(frame: int, cond_frames: Sequence[int], max_frames: int) -> tuple[list[int], list[int]]:
    """Selected and unselected conditioning frames for ``frame`` (upstream's closest-frames rule and order)."""
    if max_frames == -1 or len(cond_frames) <= max_frames:
        return list(cond_frames), []
    if max_frames < 2:
        raise ValueError(f"max_cond_frames_in_attn must be -1 or >= 2, got {max_frames}")
    selected = []
    before = [t for t in cond_frames if t < frame]
    after = [t for t in cond_frames if t >= frame]
    if before:
        selected.append(max(before))
    if after:
        selected.append(min(after))
    others = sorted((t for t in cond_frames if t not in selected), key=lambda t: abs(t - frame))
    selected.extend(others[: max_frames - len(selected)])
    return selected, [t for t in cond_frames if t not in selected]


def mask_slot_frames(frame: int, settings: ModelSettings) -> list[tuple[int, int]]:
    """``(temporal position, source frame)`` of the non-conditioning mask slots of ``frame``, earliest first."""
    stride = settings.memory_temporal_stride_for_eval
    slots = []
    for t_pos in range(1, settings.num_maskmem):
        t_rel = settings.num_maskmem - t_pos
        source = frame - 1 if t_rel == 1 else ((frame - 2) // stride) * stride - (t_rel - 2) * stride
        slots.append((t_pos, source))
    return slots


def _cond_pointer_offset(difference: int, signed: bool, largest: int | None) -> int:
    """A conditioning pointer's temporal offset: the frame difference (or its size), bounded by ``largest``."""
    offset = difference if signed else abs(difference)
    if largest is None or abs(offset) <= largest:
        return offset
    return largest if offset > 0 else -largest


def select_layout(obj: ObjectState, frame: int, *, settings: ModelSettings, num_frames: int) -> MemoryLayout:
    """The memory layout of ``obj`` on non-conditioning ``frame`` (which must have conditioning frames)."""
    if not obj.cond:
        raise ValueError(f"particle {obj.particle_id} has no conditioning frame")
    selected, unselected = select_cond_frames(frame, list(obj.cond), settings.max_cond_frames_in_attn)
    mask = [(t, 0) for t in selected]
    for t_pos, source in mask_slot_frames(frame, settings):
        memory = obj.non_cond.get(source) if source not in unselected else obj.cond[source]
        if memory is None:
            continue
        if memory.maskmem is None:
            raise RuntimeError(f"mask memory of frame {source} was pruned but is needed on frame {frame}")
        mask.append((source, t_pos))
    ptrs: list[tuple[int, int]] = []
    if settings.use_obj_ptrs_in_encoder:
        past_only = settings.only_obj_ptrs_in_the_past_for_eval
        largest = settings.max_ptrs(num_frames) - 1 if settings.clamp_pointer_offsets else None
        for t in selected:
            if past_only and t > frame:
                continue
            ptrs.append((t, _cond_pointer_offset(frame - t, settings.use_signed_tpos_enc_to_obj_ptrs, largest)))
        for t_diff in range(1, settings.max_ptrs(num_frames)):
            source = frame - t_diff
            if source < 0 or source >= num_frames:
                break
            if source in obj.non_cond or source in unselected:
                ptrs.append((source, t_diff))
    return MemoryLayout(
        mask_frames=tuple(t for t, _ in mask),
        mask_tpos=tuple(p for _, p in mask),
        ptr_frames=tuple(t for t, _ in ptrs),
        ptr_offsets=tuple(p for _, p in ptrs),
    )


def group_by_layout(layouts: Sequence[MemoryLayout]) -> list[list[int]]:
    """Indices of ``layouts`` grouped by :attr:`MemoryLayout.key`, groups in order of first appearance."""
    groups: dict[tuple[tuple[int, ...], tuple[int, ...]], list[int]] = {}
    for index, layout in enumerate(layouts):
        groups.setdefault(layout.key, []).append(index)
    return list(groups.values())


def gather_memory(
    objects: Sequence[ObjectState], layouts: Sequence[MemoryLayout], *, settings: ModelSettings, num_frames: int
) -> MemoryInputs:
    """Stack the raw memories of objects sharing one layout key into a :class:`MemoryInputs`."""
    key = layouts[0].key
    if any(layout.key != key for layout in layouts):
        raise ValueError("gather_memory needs objects with one layout")

    def at(obj: ObjectState, frame: int) -> FrameMemory:
        memory = obj.memory_at(frame)
        assert memory is not None, f"memory of frame {frame} is missing"
        return memory

    size, first = settings.feature_size, at(objects[0], (layouts[0].mask_frames + layouts[0].ptr_frames)[0])
    device = first.obj_ptr.device  # a restored state lives on the CPU, new memories on the backend's device

    def stack(tensors: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([t.to(device) for t in tensors])

    pairs = list(zip(objects, layouts, strict=True))
    if key[0]:
        maskmem = stack([stack([at(o, t).maskmem for t in lay.mask_frames]) for o, lay in pairs])
    else:
        maskmem = torch.zeros(len(objects), 0, settings.mem_dim, size, size, dtype=torch.bfloat16, device=device)
    if key[1]:
        obj_ptrs = stack([stack([at(o, t).obj_ptr for t in lay.ptr_frames]) for o, lay in pairs])
    else:
        obj_ptrs = torch.zeros(len(objects), 0, settings.hidden_dim, device=device)
    return MemoryInputs(
        maskmem=maskmem,
        maskmem_tpos=key[0],
        obj_ptrs=obj_ptrs,
        ptr_offsets=key[1],
        max_ptr_offset=settings.max_ptrs(num_frames) - 1,
    )
