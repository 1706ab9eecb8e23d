"""Mask propagation: each tracked frame also gets the object's previous mask as a prompt, switched on per checkpoint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from train_support import SIZE, present_model

from samem.engine import LocalBackend, Tracker, VideoState, steps
from samem.engine.overlaps import claim_pixels
from samem.engine.pieces import carried_mask

N_FRAMES = 6
BOXES = np.array([[4.0, 6.0, 26.0, 30.0], [30.0, 28.0, 60.0, 58.0]])


def _model(mask_propagation: bool) -> torch.nn.Module:
    return present_model(mask_propagation=mask_propagation)


def _images() -> torch.Tensor:
    return torch.rand(N_FRAMES, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(3))


class _Recording(LocalBackend):
    """The local backend, keeping every ``previous_masks`` it is given and every output's logits."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(model)
        self.previous: list[torch.Tensor | None] = []
        self.logits: list[torch.Tensor] = []

    def track_frame(self, features, memory, previous_masks=None):  # type: ignore[no-untyped-def]
        self.previous.append(None if previous_masks is None else previous_masks.clone())
        out = super().track_frame(features, memory, previous_masks)
        self.logits.append(out.low_res_logits.clone())
        return out


def _tracker(backend: LocalBackend) -> Tracker:
    tracker = Tracker(backend, height=SIZE, width=SIZE, num_frames=N_FRAMES)
    tracker.add_boxes(0, [1, 2], BOXES)
    return tracker


def _run(tracker: Tracker, images: torch.Tensor, **kwargs: int) -> list[np.ndarray]:
    return [r.mask_logits for r in tracker.propagate(lambda t: images[t], **kwargs)]


def test_each_tracked_frame_is_prompted_with_the_previous_output_mask():
    images = _images()
    backend = _Recording(_model(True))
    _run(_tracker(backend), images)
    assert len(backend.previous) == N_FRAMES - 1
    with torch.inference_mode():
        first = steps.decode_prompts(
            backend.model,
            steps.encode_frame(backend.model, images[:1]),
            torch.tensor(BOXES, dtype=torch.float32).reshape(2, 2, 2),
            torch.tensor([[2, 3], [2, 3]]),
        )
    assert torch.equal(backend.previous[0], carried_mask(first.low_res_logits))
    for t in range(1, N_FRAMES - 1):  # on whole frames overlapping masks are carried whole (overlaps.py)
        assert torch.equal(backend.previous[t], carried_mask(backend.logits[t - 1]))
    assert all(0 < p.sum() < p.numel() for p in backend.previous)  # real masks, neither empty nor full
    assert any(((logits > 0).sum(0) > 1).any() for logits in backend.logits)  # the random masks did overlap


class _Blotched(_Recording):
    """Adds a spurious 2 x 2 piece, fenced off by negative logits, in the corner of every tracked mask."""

    def track_frame(self, features, memory, previous_masks=None):  # type: ignore[no-untyped-def]
        out = super().track_frame(features, memory, previous_masks)
        logits = out.low_res_logits.clone()
        logits[..., :3, :3] = -10.0
        logits[..., :2, :2] = 10.0
        self.logits[-1] = logits
        return dataclasses.replace(out, low_res_logits=logits)


def test_a_spurious_piece_of_a_mask_is_not_carried_into_the_next_prompt():
    backend = _Blotched(_model(True))
    tracker = Tracker(backend, height=SIZE, width=SIZE, num_frames=N_FRAMES)
    tracker.add_boxes(0, [1], BOXES[:1])  # one particle: no pixel is claimed by another
    _run(tracker, _images())
    for t in range(1, N_FRAMES - 1):
        before, prompt = backend.logits[t - 1] > 0, backend.previous[t]
        assert before[..., :2, :2].all()  # the blob was in the mask
        assert (prompt[..., :2, :2] == 0).all()  # and is not in the prompt
        assert torch.equal(prompt, before.float() * prompt)  # the prompt is part of the mask
        assert (prompt.flatten(1).sum(1) > 4).all()  # the larger piece


def test_models_without_the_flag_track_from_memory_alone():
    backend = _Recording(_model(False))
    _run(_tracker(backend), _images())
    assert backend.previous == [None] * (N_FRAMES - 1)


def test_the_flag_changes_the_tracking():
    images = _images()
    plain = _run(_tracker(LocalBackend(_model(False))), images)
    propagated = _run(_tracker(LocalBackend(_model(True))), images)
    claimed = claim_pixels(torch.from_numpy(plain[0])).numpy()  # one particle per pixel (overlaps.py)
    np.testing.assert_array_equal(claimed, propagated[0])  # the prompted frame does not use it
    assert max(np.abs(a - b).max() for a, b in zip(plain[1:], propagated[1:], strict=True)) > 1e-3


def test_a_restored_state_continues_with_the_same_previous_masks():
    images = _images()
    backend = LocalBackend(_model(True))
    whole = _run(_tracker(backend), images)
    first = _tracker(backend)
    _run(first, images, stop=3)
    state = VideoState.from_bytes(first.state.to_bytes())
    logits_kept = [f for obj in state.objects for f, m in obj.non_cond.items() if m.low_res_logits is not None]
    assert logits_kept == [2, 2]  # only the latest tracked frame's logits are kept, per object
    rest = _run(Tracker.from_state(backend, state), images)
    for a, b in zip(whole[3:], rest, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("flag", [True, False])
def test_track_frame_refuses_masks_that_do_not_match_the_flag(flag):
    model = _model(flag)
    with torch.inference_mode():
        features = steps.encode_frame(model, _images()[:1])
    h = features.image_embed.shape[-1]
    memory = steps.MemoryInputs(
        maskmem=torch.zeros(1, 1, model.mem_dim, h, h),
        maskmem_tpos=(0,),
        obj_ptrs=torch.zeros(1, 0, model.hidden_dim),
        ptr_offsets=(),
        max_ptr_offset=1,
    )
    wrong = None if flag else torch.zeros(1, 1, SIZE // 4, SIZE // 4)
    with pytest.raises(ValueError, match="mask propagation"):
        steps.track_frame(model, features, memory, wrong)


def _memory(model: torch.nn.Module, side: int) -> steps.MemoryInputs:
    generator = torch.Generator().manual_seed(5)
    return steps.MemoryInputs(
        maskmem=torch.randn(2, 1, model.mem_dim, side, side, generator=generator),
        maskmem_tpos=(1,),
        obj_ptrs=torch.randn(2, 1, model.hidden_dim, generator=generator),
        ptr_offsets=(1,),
        max_ptr_offset=16,
    )


def test_each_refinement_pass_prompts_the_heads_with_the_last_mask():
    """One pass = the unrefined step run again with its own mask as the prompt (memory attention unchanged)."""
    model = _model(True)
    with torch.inference_mode():
        features = steps.encode_frame(model, _images()[:1])
        memory = _memory(model, features.image_embed.shape[-1])
        previous = torch.zeros(2, 1, SIZE // 4, SIZE // 4)
        previous[0, :, 2:10, 3:12] = 1.0
        plain = steps.track_frame(model, features, memory, previous, refinements=0)
        refined = steps.track_frame(model, features, memory, previous, refinements=1)
        again = steps.track_frame(model, features, memory, steps.previous_mask_prompt(plain.low_res_logits),
                                  refinements=0)  # fmt: skip
        twice = steps.track_frame(model, features, memory, previous, refinements=2)
    assert not torch.equal(plain.low_res_logits, refined.low_res_logits)
    for name in ("low_res_logits", "object_score_logits", "obj_ptr", "iou"):
        torch.testing.assert_close(getattr(refined, name), getattr(again, name), rtol=0, atol=1e-5)
    torch.testing.assert_close(refined.memory, again.memory, rtol=0, atol=1e-5)
    assert not torch.equal(twice.low_res_logits, refined.low_res_logits)


def test_models_without_mask_propagation_ignore_refinements():
    model = _model(False)
    with torch.inference_mode():
        features = steps.encode_frame(model, _images()[:1])
        memory = _memory(model, features.image_embed.shape[-1])
        a = steps.track_frame(model, features, memory, refinements=0)
        b = steps.track_frame(model, features, memory, refinements=3)
    assert torch.equal(a.low_res_logits, b.low_res_logits) and torch.equal(a.memory, b.memory)


class _Ghost(_Recording):
    """Makes particle 2's mask a copy of particle 1's, slightly less sure: a mask that slid onto a neighbour."""

    def track_frame(self, features, memory, previous_masks=None):  # type: ignore[no-untyped-def]
        out = super().track_frame(features, memory, previous_masks)
        logits = out.low_res_logits.clone()
        logits[1] = logits[0] * 0.5  # positive where particle 1 is, but less sure
        self.logits[-1] = logits
        return dataclasses.replace(out, low_res_logits=logits)


def test_on_whole_frames_a_mask_on_another_particle_is_not_shown_there():
    backend = _Ghost(_model(True))
    results = list(_tracker(backend).propagate(lambda t: _images()[t]))
    for result in results[1:]:
        assert result.masks[0].any() and not result.masks[1].any()  # the pixels are particle 1's
    for t in range(1, N_FRAMES - 1):  # while the masks carried on the model's coarse grid stay whole
        assert torch.equal(backend.previous[t], carried_mask(backend.logits[t - 1]))


def test_prompted_frames_keep_overlapping_prompt_masks_as_carried_masks():
    boxes = np.array([[4.0, 6.0, 40.0, 40.0], [10.0, 10.0, 44.0, 44.0]])  # overlapping boxes
    backend = _Recording(_model(True))
    tracker = Tracker(backend, height=SIZE, width=SIZE, num_frames=2)
    tracker.add_boxes(0, [1, 2], boxes)
    results = list(tracker.propagate(lambda t: _images()[t]))
    prompted = torch.cat([obj.cond[0].low_res_logits for obj in tracker.state.objects])
    assert ((prompted > 0).sum(0) > 1).any()  # the decoded prompt masks overlap
    assert torch.equal(backend.previous[0], carried_mask(prompted[:, None]))  # and prompt the next frame as such
    assert results[0].masks.sum(0).max() == 1  # while the output gives each pixel to one particle
