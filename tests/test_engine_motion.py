"""Motion following in window mode: the shift measured between two frames, and the tracker moving windows by it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from engine_support import build
from scipy import ndimage, signal
from torch import Tensor

from samem.engine import LocalBackend, Tracker
from samem.engine.motion import MIN_STEP_PX, displacement, normalised_correlation, recent_step
from samem.engine.state import VideoState
from samem.engine.steps import FrameFeatures, MemoryInputs, StepOutput


def _disc(height: int, width: int, x: float, y: float, radius: float) -> np.ndarray:
    """A soft-edged disc (1 inside, 0 outside) centred on ``(x, y)``, sub-pixel positions allowed."""
    yy, xx = np.mgrid[:height, :width]
    return np.clip(radius + 0.5 - np.hypot(xx - x, yy - y), 0.0, 1.0)


def _frame(
    height: int, width: int, discs: list[tuple[float, float, float, float]], noise: float, seed: int = 0
) -> np.ndarray:
    """Background 1 with dark discs ``(x, y, radius, contrast)``, blurred as an image is, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    image = np.ones((height, width))
    for x, y, radius, contrast in discs:
        image -= contrast * _disc(height, width, x, y, radius)
    return ndimage.gaussian_filter(image, 1.0) + rng.normal(0.0, noise, (height, width))


@pytest.mark.parametrize("shift", [(3.4, -2.7), (-7.8, 5.2), (0.0, 0.0)])
def test_displacement_finds_a_noisy_particles_shift_to_a_fraction_of_a_pixel(shift: tuple[float, float]) -> None:
    dx, dy = shift
    before = _frame(120, 140, [(60.0, 55.0, 9.0, 0.3)], noise=0.1, seed=1)  # SNR 3 per pixel, as at 150 nm water
    after = _frame(120, 140, [(60.0 + dx, 55.0 + dy, 9.0, 0.3)], noise=0.1, seed=2)
    mask = _disc(120, 140, 60.0, 55.0, 9.0) > 0.5
    found = displacement(before, after, mask, (0, 0))
    assert found is not None
    # over 30 noise draws: median error 0.4 px, largest 1.1 px; the tracker applies the shift in whole mask pixels
    # (2-3 px in windows of 8 x the particle)
    assert np.hypot(found[0] - dx, found[1] - dy) < 0.75


def test_displacement_takes_the_mask_in_a_regions_coordinates() -> None:
    before = _frame(100, 100, [(40.0, 50.0, 8.0, 0.4)], noise=0.05)
    after = _frame(100, 100, [(45.0, 47.0, 8.0, 0.4)], noise=0.05, seed=1)
    region = _disc(100, 100, 40.0, 50.0, 8.0)[30:70, 20:60] > 0.5  # a 40 x 40 window at x0 = 20, y0 = 30
    found = displacement(before, after, region, (20, 30))
    assert found is not None and np.hypot(found[0] - 5.0, found[1] + 3.0) < 0.3


def test_a_darker_larger_neighbour_does_not_capture_the_particle() -> None:
    """A plain correlation prefers the neighbour here (it checks the scene is a trap); the normalised one does not."""
    particle, neighbour = (50.0, 60.0, 7.0, 0.25), (72.0, 60.0, 11.0, 0.9)
    before = _frame(120, 130, [particle, neighbour], noise=0.05)
    moved = (particle[0] - 4.0, particle[1] + 3.0, *particle[2:])
    after = _frame(120, 130, [moved, neighbour], noise=0.05, seed=1)
    mask = _disc(120, 130, particle[0], particle[1], particle[2]) > 0.5
    found = displacement(before, after, mask, (0, 0))
    assert found is not None and np.hypot(found[0] + 4.0, found[1] - 3.0) < 0.5

    rows, columns = np.nonzero(mask)
    top, left, reach, rim = rows.min() - 3, columns.min() - 3, 14, 3  # displacement's region, template and reach
    weight = ndimage.binary_dilation(mask, iterations=rim)[top : rows.max() + 4, left : columns.max() + 4]
    patch = before[top : rows.max() + 4, left : columns.max() + 4]
    template = np.where(weight, patch - patch[weight].mean(), 0.0)
    search = after[top - reach : rows.max() + 4 + reach, left - reach : columns.max() + 4 + reach]
    search = search - search.mean()
    plain = signal.correlate(search, template, mode="valid")
    iy, ix = np.unravel_index(np.argmax(plain), plain.shape)
    assert ix - reach > 5, "the plain correlation's best shift is toward the neighbour"
    normalised = normalised_correlation(search, template, weight)
    iy, ix = np.unravel_index(np.argmax(normalised), normalised.shape)
    assert (ix - reach, iy - reach) == (-4, 3)


def _with_twin(after: np.ndarray, x: float, y: float, radius: float, contrast: float) -> np.ndarray:
    """``after`` with a noise-free particle at ``(x, y)``.

    A look-alike that correlates with a particle's previous appearance better than the particle itself does (whose
    noise is new).
    """
    return after + _frame(*after.shape, [(x, y, radius, contrast)], noise=0.0) - 1.0


def test_a_look_alike_further_than_the_particle_moves_loses_to_the_particle() -> None:
    """A touching look-alike (13 px away, 14 px particles) wins half the time without the prior, never with it."""
    mask = _disc(120, 140, 50.0, 60.0, 7.0) > 0.5
    fooled, found = 0, 0
    for seed in range(20):
        before = _frame(120, 140, [(50.0, 60.0, 7.0, 0.3)], noise=0.1, seed=2 * seed + 1)
        after = _frame(120, 140, [(52.0, 59.0, 7.0, 0.3)], noise=0.1, seed=2 * seed + 2)
        after = _with_twin(after, 37.0, 60.0, 7.0, 0.3)
        plain = displacement(before, after, mask, (0, 0))
        weighed = displacement(before, after, mask, (0, 0), step=2.5)  # its recent moves: 2.5 px per frame
        assert plain is not None and weighed is not None
        fooled += plain[0] < -8
        found += np.hypot(weighed[0] - 2.0, weighed[1] + 1.0) < 1.0
    assert fooled >= 5, "without the prior the look-alike wins often (the trap)"  # 10 of these 20
    assert found == 20


def test_recent_step_is_the_rms_of_moves_between_seen_consecutive_frames() -> None:
    assert recent_step([(0.0, 0.0), (3.0, 4.0), None, (3.0, 4.0), (3.0, 4.0)]) == pytest.approx(np.sqrt(25 / 2))
    assert recent_step([(0.0, 0.0), (3.0, 4.0), None, (3.0, 4.0)]) is None  # one move is not a scale
    assert recent_step([(1.0, 1.0)] * 4) == MIN_STEP_PX  # a particle that stood still may still move


def test_displacement_is_none_without_a_mask_or_room_to_search() -> None:
    frame = _frame(60, 60, [(30.0, 30.0, 6.0, 0.5)], noise=0.05)
    assert displacement(frame, frame, np.zeros((60, 60), bool), (0, 0)) is None
    near_edge = _disc(60, 60, 8.0, 30.0, 6.0) > 0.5  # 12 px particle 2 px from the edge: the search leaves the frame
    assert displacement(frame, frame, near_edge, (0, 0)) is None


class CopyingBackend(LocalBackend):
    """A model that only copies: the box on the prompted frame, then its mask prompt (the previous mask) as is.

    The extreme of what samem's models partly do (README, Track particles): with it a window can only follow a
    moving particle by being moved to it.
    """

    def decode_prompts(self, features: FrameFeatures, point_coords: Tensor, point_labels: Tensor) -> StepOutput:
        out = super().decode_prompts(features, point_coords, point_labels)
        size, low = self.settings.image_size, self.settings.low_res_size
        logits = torch.full((len(point_coords), 1, low, low), -10.0)
        for k, corners in enumerate(point_coords):
            (x0, y0), (x1, y1) = (corners[:2] * low / size).round().int().tolist()
            logits[k, 0, y0:y1, x0:x1] = 10.0
        return dataclasses.replace(out, low_res_logits=logits, object_score_logits=torch.full((len(logits), 1), 10.0))

    def track_frame(
        self, features: FrameFeatures, memory: MemoryInputs, previous_masks: Tensor | None = None
    ) -> StepOutput:
        out = super().track_frame(features, memory, previous_masks)
        assert previous_masks is not None
        copied = torch.where(previous_masks > 0, 10.0, -10.0)
        return dataclasses.replace(out, low_res_logits=copied, object_score_logits=torch.full((len(copied), 1), 10.0))


@pytest.fixture(scope="module")
def copying_backend() -> CopyingBackend:
    model = build()
    model.mask_propagation = True
    return CopyingBackend(model)


def test_windows_and_mask_prompts_follow_a_moving_particle_only_with_follow_motion(
    copying_backend: CopyingBackend,
) -> None:
    steps = [(5.0, 3.0)] * 6 + [(-4.0, 5.0)] * 6  # px per frame: a fifth to a half of the particle's size
    centres = np.cumsum([(40.0, 40.0), *steps], axis=0)
    frames = [np.clip(_frame(160, 200, [(x, y, 8.0, 0.5)], noise=0.03, seed=t), 0.0, 1.0).astype(np.float32)
              for t, (x, y) in enumerate(centres)]  # fmt: skip
    final = {}
    for follow in (False, True):
        tracker = Tracker(copying_backend, height=160, width=200, num_frames=len(frames), zoom=4.0,
                          follow_motion=follow)  # fmt: skip
        tracker.add_prompt(0, 1, box=(31.0, 31.0, 49.0, 49.0))
        results = list(tracker.propagate(lambda t: frames[t]))
        final[follow] = results[-1].masks[0]
        assert VideoState.from_bytes(tracker.state.to_bytes()).follow_motion is follow
    x, y = centres[-1]
    truth = _disc(160, 200, x, y, 8.0) > 0.5
    ys, xs = np.nonzero(final[True])
    assert np.hypot(xs.mean() - x, ys.mean() - y) < 2.5, "the copied mask was moved along with the particle"
    assert (final[True] & truth).sum() / (final[True] | truth).sum() > 0.5
    assert not (final[False] & truth).any(), "without motion following a copied mask stays behind"


def test_motion_following_reads_each_frame_once_from_a_source_that_cannot_go_back(
    copying_backend: CopyingBackend,
) -> None:
    """A live stream gives each frame once; the tracker keeps the previous frame itself."""
    frames = [np.clip(_frame(96, 96, [(40.0 + 3 * t, 40.0, 8.0, 0.5)], noise=0.03, seed=t), 0.0, 1.0)
              for t in range(6)]  # fmt: skip
    asked: list[int] = []

    def stream(index: int) -> np.ndarray:
        if asked and index <= asked[-1]:
            raise AssertionError(f"frame {index} asked for again after frame {asked[-1]}")
        asked.append(index)
        return frames[index].astype(np.float32)

    tracker = Tracker(copying_backend, height=96, width=96, num_frames=len(frames), zoom=4.0)
    tracker.add_prompt(0, 1, box=(31.0, 31.0, 49.0, 49.0))
    results = list(tracker.propagate(stream))
    assert asked == list(range(len(frames))) and len(results) == len(frames)


def test_a_window_stays_with_its_particle_when_a_look_alike_appears_beyond_its_moves(
    copying_backend: CopyingBackend,
) -> None:
    """Each window's shift is weighed against its particle's recent moves, remembered in the (serialised) state."""
    centres = [(40.0 + 3 * t, 60.0) for t in range(9)]
    frames = [np.clip(_frame(120, 160, [(x, y, 7.0, 0.3)], noise=0.1, seed=t), 0.0, 1.0)
              for t, (x, y) in enumerate(centres)]  # fmt: skip
    (x, y), (x_end, y_end) = centres[-2], centres[-1]
    frames[-1] = np.clip(_with_twin(frames[-1], x - 13.0, y, 7.0, 0.3), 0.0, 1.0)
    fooled = displacement(frames[-2], frames[-1], _disc(120, 160, x, y, 7.0) > 0.5, (0, 0))
    assert fooled is not None and fooled[0] < -8, "without the prior the look-alike wins (the trap)"

    tracker = Tracker(copying_backend, height=120, width=160, num_frames=len(frames), zoom=4.0)
    tracker.add_prompt(0, 1, box=(32.0, 52.0, 48.0, 68.0))
    results = []
    for t in range(len(frames)):  # a fresh tracker from the bytes of each frame's state, as workers continue
        results += list(tracker.propagate(lambda index: frames[index].astype(np.float32), stop=t + 1))
        tracker = Tracker.from_state(copying_backend, tracker.state.to_bytes())
    ys, xs = np.nonzero(results[-1].masks[0])
    assert np.hypot(xs.mean() - x_end, ys.mean() - y_end) < 3.0
