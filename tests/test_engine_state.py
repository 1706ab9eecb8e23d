"""Tracking state: serialisation round trip mid-video, bounded size, version check, pruning never loses memory."""

from __future__ import annotations

import dataclasses
import io
import itertools

import numpy as np
import pytest
import torch
from engine_support import BOXES, HEIGHT, WIDTH, backend, model_images

from samem.engine import FrameMemory, ObjectState, Tracker, VideoState
from samem.engine.memory import select_cond_frames, select_layout
from samem.errors import InputError

LONG = 30


def new_tracker() -> Tracker:
    tracker = Tracker(backend(), height=HEIGHT, width=WIDTH, num_frames=LONG)
    for particle, (frame, box) in BOXES.items():
        tracker.add_prompt(frame, particle, box=box)
    return tracker


@pytest.mark.slow
def test_restored_state_continues_identically_and_stays_bounded() -> None:
    images = model_images(LONG)
    frames = images.__getitem__
    tracker = new_tracker()
    reference, sizes, data = {}, {}, b""
    for result in tracker.propagate(frames):
        reference[result.frame] = result.mask_logits
        if result.frame == 16:  # what a worker saves after yielding frame 16
            data = tracker.state.to_bytes()
        if result.frame in (19, 29):
            sizes[result.frame] = len(tracker.state.to_bytes())
    assert sorted(reference) == list(range(LONG))
    # 15 pointers (min(30, 16) - 1) and 6 mask memories per object, whatever the video length
    assert abs(sizes[29] - sizes[19]) <= 0.01 * sizes[19]
    assert all(len(obj.non_cond) <= 15 for obj in tracker.state.objects)
    assert all(sum(m.maskmem is not None for m in obj.non_cond.values()) <= 6 for obj in tracker.state.objects)

    assert VideoState.from_bytes(data).next_frame == 17
    restored = Tracker.from_state(backend(), data)
    continued = {result.frame: result.mask_logits for result in restored.propagate(frames)}
    assert sorted(continued) == list(range(17, LONG))
    for frame, logits in continued.items():
        np.testing.assert_array_equal(logits, reference[frame])


def test_state_of_another_version_is_refused() -> None:
    tracker = Tracker(backend(), height=HEIGHT, width=WIDTH, num_frames=5)
    tracker.add_prompt(0, 7, box=(10, 10, 30, 30))
    payload = torch.load(io.BytesIO(tracker.state.to_bytes()), weights_only=True)
    assert VideoState.from_bytes(tracker.state.to_bytes()) == tracker.state
    payload["version"] = 99
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with pytest.raises(InputError, match="format version 99"):
        VideoState.from_bytes(buffer.getvalue())
    with pytest.raises(InputError, match="cannot be read"):
        VideoState.from_bytes(b"not a state")


def test_cond_frame_selection_equals_upstream() -> None:
    from sam2.modeling.sam2_utils import select_closest_cond_frames

    for frames, frame, limit in itertools.product([[0, 5, 9, 14, 20], [3, 1, 8]], range(22), [-1, 2, 3, 4]):
        outputs = {t: t for t in frames}
        selected, unselected = select_closest_cond_frames(frame, outputs, limit)
        assert select_cond_frames(frame, frames, limit) == (list(selected), list(unselected))


def dummy_memory() -> FrameMemory:
    return FrameMemory(
        obj_ptr=torch.zeros(2),
        object_score=torch.zeros(1),
        iou=torch.zeros(1),
        maskmem=torch.zeros(1, dtype=torch.bfloat16),
    )


@pytest.mark.parametrize(("stride", "num_frames", "max_cond"), [(1, 40, -1), (1, 9, -1), (2, 40, 2), (3, 40, -1)])
def test_pruning_keeps_every_memory_a_later_frame_selects(stride: int, num_frames: int, max_cond: int) -> None:
    settings = dataclasses.replace(
        backend().settings, memory_temporal_stride_for_eval=stride, max_cond_frames_in_attn=max_cond
    )
    cond = {t: dummy_memory() for t in (2, 6, 11) if t < num_frames}
    full = ObjectState(particle_id=1, cond=cond)
    state = VideoState(height=HEIGHT, width=WIDTH, num_frames=num_frames, image_size=512, objects=(full,))
    for frame in range(num_frames):
        if frame not in cond:
            expected = select_layout(full, frame, settings=settings, num_frames=num_frames)
            pruned = state.objects[0]
            assert select_layout(pruned, frame, settings=settings, num_frames=num_frames) == expected
            full = dataclasses.replace(full, non_cond={**full.non_cond, frame: dummy_memory()})
            pruned = dataclasses.replace(pruned, non_cond={**pruned.non_cond, frame: dummy_memory()})
        else:
            pruned = state.objects[0]
        state = dataclasses.replace(state, objects=(pruned,), next_frame=frame + 1).pruned(settings)
    assert len(state.objects[0].non_cond) < len(full.non_cond) or num_frames < 16


@pytest.mark.parametrize("signed", [False, True])
def test_clamped_conditioning_pointers_keep_the_offsets_training_covers(signed: bool) -> None:
    """Upstream's conditioning-pointer offset grows with the distance; clamped, it stops at the pointer window."""
    upstream = dataclasses.replace(backend().settings, use_signed_tpos_enc_to_obj_ptrs=signed)
    clamped = dataclasses.replace(upstream, clamp_pointer_offsets=True)
    num_frames = 300
    cond = {0: dummy_memory(), 250: dummy_memory()}
    non_cond = {t: dummy_memory() for t in range(180, 200)}
    obj = ObjectState(particle_id=1, cond=cond, non_cond=non_cond)
    largest = upstream.max_ptrs(num_frames) - 1  # 15
    for frame, cond_offsets in ((10, (10, -240)), (200, (15, -15))):
        up = select_layout(obj, frame, settings=upstream, num_frames=num_frames)
        low = select_layout(obj, frame, settings=clamped, num_frames=num_frames)
        n_cond = sum(t in cond for t in up.ptr_frames)
        expected_up = (frame, frame - 250) if signed else (frame, abs(frame - 250))
        expected = cond_offsets if signed else tuple(abs(o) for o in cond_offsets)
        past_only = upstream.only_obj_ptrs_in_the_past_for_eval
        keep = [t <= frame or not past_only for t in (0, 250)]
        assert up.ptr_offsets[:n_cond] == tuple(o for o, k in zip(expected_up, keep, strict=True) if k)
        assert low.ptr_offsets[:n_cond] == tuple(o for o, k in zip(expected, keep, strict=True) if k)
        assert max(abs(o) for o in low.ptr_offsets) <= largest
        # everything else (recent pointers, mask memories) is upstream's
        assert low.ptr_offsets[n_cond:] == up.ptr_offsets[n_cond:] and low.mask_tpos == up.mask_tpos
