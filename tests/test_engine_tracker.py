"""Tracker: one batched step per memory layout and frame, prompt validation, prompt changes, preprocessing."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import torch
from engine_support import BOXES, HEIGHT, N_FRAMES, WIDTH, backend, model_images, preprocessor, synthetic_frames

from samem.engine import (
    FrameFeatures,
    LocalBackend,
    MemoryInputs,
    ModelSettings,
    StepOutput,
    Tracker,
    logits_to_input,
    steps,
)
from samem.errors import InputError
from samem.io.video import FrameGeometry


class CountingBackend:
    """Records the batch size of every step call, per frame being processed."""

    def __init__(self, inner: LocalBackend) -> None:
        self.inner = inner
        self.calls: list[tuple[str, int]] = []

    @property
    def settings(self) -> ModelSettings:
        return self.inner.settings

    def encode_frame(self, image: torch.Tensor) -> FrameFeatures:
        self.calls.append(("encode_frame", image.shape[0]))
        return self.inner.encode_frame(image)

    def decode_prompts(self, features: FrameFeatures, coords: torch.Tensor, labels: torch.Tensor) -> StepOutput:
        self.calls.append(("decode_prompts", coords.shape[0]))
        return self.inner.decode_prompts(features, coords, labels)

    def encode_memory(
        self, features: FrameFeatures, masks: torch.Tensor, scores: torch.Tensor, is_mask_from_pts: bool
    ) -> torch.Tensor:
        self.calls.append(("encode_memory", masks.shape[0]))
        return self.inner.encode_memory(features, masks, scores, is_mask_from_pts)

    def track_frame(
        self, features: FrameFeatures, memory: MemoryInputs, previous_masks: torch.Tensor | None = None
    ) -> StepOutput:
        self.calls.append(("track_frame", memory.maskmem.shape[0]))
        return self.inner.track_frame(features, memory, previous_masks)

    def track_image(
        self, image: torch.Tensor, memory: MemoryInputs, previous_masks: torch.Tensor | None = None
    ) -> StepOutput:
        self.calls.append(("track_image", memory.maskmem.shape[0]))
        return self.inner.track_image(image, memory, previous_masks)


def track_batches(boxes: dict[int, tuple[int, tuple[float, ...]]]) -> tuple[dict[int, list[int]], CountingBackend]:
    counting = CountingBackend(backend())
    tracker = Tracker(counting, height=HEIGHT, width=WIDTH, num_frames=N_FRAMES)
    for particle, (frame, box) in boxes.items():
        tracker.add_prompt(frame, particle, box=box)
    images = model_images()
    per_frame: dict[int, list[int]] = defaultdict(list)
    seen = 0
    for result in tracker.propagate(images.__getitem__):
        per_frame[result.frame] = [b for name, b in counting.calls[seen:] if name.startswith("track_")]
        seen = len(counting.calls)
    return per_frame, counting


@pytest.mark.slow
def test_objects_sharing_a_layout_are_tracked_in_one_call() -> None:
    same_frame = {particle: (0, box) for particle, (_, box) in BOXES.items()}
    per_frame, counting = track_batches(same_frame)
    assert per_frame[0] == []
    assert all(per_frame[t] == [3] for t in range(1, N_FRAMES))
    assert [c for c in counting.calls if c[0] != "track_image"][:3] == [
        ("encode_frame", 1),
        ("decode_prompts", 3),
        ("encode_memory", 3),
    ]
    # one layout: every tracked frame is encoded and tracked in one fused step, each frame encoded once
    assert [name for name, _ in counting.calls[3:]] == ["track_image"] * (N_FRAMES - 1)

    # particle 3 is prompted on frame 4: its memory layout differs from the others' on every frame
    per_frame, counting = track_batches(BOXES)
    assert per_frame[0] == [1]
    assert per_frame[4] == [2]
    assert all(per_frame[t] == [2, 1] for t in (1, 2, 3, *range(5, N_FRAMES)))
    # two layouts on a frame: encoded once, then one tracking step per layout; one layout (particle 3 alone on
    # frame 0, particles 1 and 2 on frame 4): one fused step. The prompted frames 0 and 4 were encoded for their
    # prompts before propagation, and only the latest encoding is kept, so they are encoded again.
    assert sum(name == "encode_frame" for name, _ in counting.calls) == 2 + N_FRAMES - 2
    assert [b for name, b in counting.calls if name == "track_image"] == [1, 2]


def test_prompted_frames_output_their_prompt_and_masks_map_to_input_pixels() -> None:
    tracker = Tracker(backend(), height=HEIGHT, width=WIDTH, num_frames=2)
    tracker.add_boxes(0, [5, 9], [BOXES[1][1], BOXES[2][1]])
    tracker.add_prompt(1, 5, points=[[40, 30]], labels=[1])
    tracker.add_prompt(1, 9, box=BOXES[2][1], points=[[110, 60], [100, 52]], labels=[1, 0])
    images = model_images(2)
    results = list(tracker.propagate(images.__getitem__))
    assert [r.frame for r in results] == [0, 1]
    for result in results:
        assert result.particle_ids == (5, 9)
        assert result.mask_logits.shape == (2, HEIGHT, WIDTH) and result.mask_logits.dtype == np.float32
        assert result.masks.dtype == bool and result.object_scores.shape == result.ious.shape == (2,)
    # both frames are prompted for both particles: nothing is tracked, and a prompt change restarts propagation
    assert all(not obj.non_cond for obj in tracker.state.objects)
    tracker.remove_prompt(1, 9)
    assert tracker.state.next_frame is None
    assert [r.frame for r in tracker.propagate(images.__getitem__)] == [0, 1]
    tracker.remove_particle(5)
    assert tracker.particle_ids == (9,)


def test_preprocessing_gives_grey_model_images_that_the_encoder_expands_to_sam2_input() -> None:
    image = preprocessor()(synthetic_frames(1)[0])
    assert image.shape == (1, 512, 512) and image.dtype == torch.float32
    assert float(image.min()) >= 0 and float(image.max()) <= 1 and float(image.std()) > 0.05
    white = preprocessor()(np.full((HEIGHT, WIDTH), 255, dtype=np.uint8))
    assert torch.equal(white, torch.ones(1, 512, 512))
    model_input = steps.model_input(image[None])
    assert model_input.shape == (1, 3, 512, 512)
    # SAM 2's normalisation, channel by channel in float32, bit for bit (numpy: correctly rounded - and /)
    grey = image[0].numpy()
    for channel, (mean, std) in enumerate(zip(steps.IMAGENET_MEAN, steps.IMAGENET_STD, strict=True)):
        expected = (grey - np.float32(mean)) / np.float32(std)
        np.testing.assert_array_equal(model_input[0, channel].numpy(), expected)
    with pytest.raises(InputError, match=r"model images should be grey, \[n, 1, S, S\]; got \(1, 3, 512, 512\)"):
        steps.encode_frame(backend().model, model_input)


def test_logits_map_back_to_input_resolution_in_both_resize_modes() -> None:
    low_res = torch.zeros(2, 1, 128, 128)
    low_res[:, :, :64] = 5.0  # top half of the model image
    square = logits_to_input(low_res, FrameGeometry(height=HEIGHT, width=WIDTH, size=512))
    assert square.shape == (2, HEIGHT, WIDTH)
    assert (square[:, : HEIGHT // 2 - 1] > 0).all() and (square[:, HEIGHT // 2 + 1 :] <= 0).all()
    letterbox = logits_to_input(low_res, FrameGeometry(height=HEIGHT, width=WIDTH, size=512, mode="letterbox"))
    # the frame fills the top 307 rows of the model image; its top 256 rows are positive
    assert letterbox.shape == (2, HEIGHT, WIDTH)
    boundary = 256 / (512 * HEIGHT / WIDTH) * HEIGHT
    assert (letterbox[:, : int(boundary) - 1] > 0).all() and (letterbox[:, int(boundary) + 2 :] <= 0).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.add_prompt(0, 1, box=(-3, 10, 20, 30)), r"box \[-3.0, 10.0, 20.0, 30.0\] is outside the 160 x 96"),
        (lambda t: t.add_prompt(0, 1, box=(10, 10, 170, 30)), "is outside the 160 x 96 frame"),
        (lambda t: t.add_prompt(0, 1, box=(10, 10, 10, 30)), "is empty"),
        (lambda t: t.add_prompt(0, 1, box=(30, 10, 20, 30)), "is inverted"),
        (lambda t: t.add_prompt(0, 1, box=(10, 40, 20, 30)), "is inverted"),
        (lambda t: t.add_prompt(5, 1, box=(10, 10, 20, 30)), r"prompt frame 5 is out of range .* 5 frame\(s\)"),
        (lambda t: t.add_prompt(-1, 1, box=(10, 10, 20, 30)), "prompt frame -1 is out of range"),
        (lambda t: t.add_boxes(0, [1, 2, 1], np.ones((3, 4)) * [1, 1, 5, 5]), r"duplicate particle ids \[1\]"),
        (lambda t: t.add_prompt(0, 1), "give a box and/or points"),
        (lambda t: t.add_prompt(0, 1, points=[[1, 1]], labels=[2]), "labels must be 1 .* or 0"),
        (lambda t: t.add_prompt(0, 1, points=[[1, 200]], labels=[1]), "outside the 160 x 96 frame"),
        (lambda t: t.remove_prompt(0, 1), "particle 1 has no prompt on frame 0"),
        (lambda t: next(t.propagate(lambda i: torch.zeros(1, 512, 512))), "no prompts: add a box or points"),
    ],
)
def test_bad_prompts_are_refused_with_one_line_messages(call: object, message: str) -> None:
    tracker = Tracker(backend(), height=HEIGHT, width=WIDTH, num_frames=5)
    with pytest.raises(InputError, match=message) as info:
        call(tracker)
    assert "\n" not in str(info.value)
    assert tracker.particle_ids == ()
