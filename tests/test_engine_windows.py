"""Window mode: window geometry, mask translation and pasting, the zoom rule, and the tracker running in windows."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from engine_support import BOXES, HEIGHT, N_FRAMES, WIDTH, synthetic_frames
from serving_support import torch_threads, write_checkpoint

from samem.engine import LocalBackend, Prompt, Tracker, VideoState, to_model_image
from samem.engine.overlaps import CAPPED_LOGIT, window_samples
from samem.engine.windows import (
    OUTSIDE_LOGIT,
    Window,
    auto_zoom,
    centred_window,
    check_zoom,
    follow,
    mask_centre,
    paste_logits,
    prompt_window,
    translate_mask,
    window_side,
)
from samem.errors import InputError
from samem.io.video import FrameGeometry, IntensityNormalizer
from samem.model import build_model

ZOOM = 2.0  # boxes of 20-27 px -> 64 px windows (quantum 32 at 128 px)


def test_window_side_rounds_up_to_the_quantum_and_stays_inside_the_frame() -> None:
    assert window_side(20.0, zoom=8.0, height=512, width=1024, quantum=64) == 192  # 160 -> 192
    assert window_side(20.0, zoom=3.2, height=512, width=512, quantum=64) == 64
    assert window_side(100.0, zoom=8.0, height=500, width=900, quantum=64) == 500  # capped by the shorter side
    assert window_side(None, zoom=8.0, height=500, width=900, quantum=64) == 500


def test_windows_are_centred_on_the_mask_pixel_grid_and_pushed_inside_the_frame() -> None:
    window = centred_window(300.0, 200.0, side=192, height=512, width=1024, quantum=64)
    assert (window.x0, window.y0, window.side) == (204, 105, 192)  # multiples of 3 px (192 / 64)
    assert abs(window.x0 + (window.side - 1) / 2 - 300.0) <= 1.5
    corner = centred_window(5.0, 510.0, side=192, height=512, width=1024, quantum=64)
    assert (corner.x0, corner.y0) == (0, 512 - 192)


def test_a_prompt_window_is_centred_on_the_box_and_the_prompt_moves_into_it() -> None:
    prompt = Prompt(box=(100.0, 50.0, 120.0, 70.0), points=((110.0, 60.0),), labels=(1,))
    window = prompt_window(prompt, zoom=3.0, height=200, width=300, quantum=32)
    assert window.side == 64
    local = window.local_prompt(prompt)
    assert local.box == (100.0 - window.x0, 50.0 - window.y0, 120.0 - window.x0, 70.0 - window.y0)
    assert local.points == ((110.0 - window.x0, 60.0 - window.y0),) and local.labels == (1,)
    x0, y0, x1, y1 = local.box
    assert abs((x0 + x1) / 2 - (window.side - 1) / 2) <= 1.0 and abs((y0 + y1) / 2 - (window.side - 1) / 2) <= 1.0


def test_translate_mask_moves_a_mask_by_whole_mask_pixels() -> None:
    mask = torch.zeros(1, 8, 8)
    mask[0, 2, 3] = 1.0  # frame pixel (x, y) = window origin + (3.5, 2.5) * 4 - 0.5 for a 32 px window
    old, new = Window(x0=40, y0=20, side=32), Window(x0=48, y0=16, side=32)  # +2 mask px in x, -1 in y
    moved = translate_mask(mask, old, new)
    assert moved.shape == mask.shape and moved.sum() == 1 and moved[0, 3, 1] == 1
    assert mask_centre(moved, new) == mask_centre(mask, old)  # the same frame point
    assert translate_mask(mask, old, Window(x0=40 + 32, y0=20, side=32)).sum() == 0  # moved out of view
    with pytest.raises(ValueError, match="different sides"):
        translate_mask(mask, old, Window(x0=40, y0=20, side=64))


def test_paste_logits_puts_each_window_in_place_and_marks_the_rest_outside() -> None:
    low_res = torch.full((2, 1, 4, 4), 3.0)
    windows = [Window(x0=2, y0=1, side=8), Window(x0=10, y0=0, side=6)]
    out = paste_logits(low_res, windows, height=12, width=20)
    assert out.shape == (2, 12, 20)
    assert torch.all(out[0, 1:9, 2:10] == 3.0) and torch.all(out[1, 0:6, 10:16] == 3.0)
    assert (out[0] == OUTSIDE_LOGIT).sum() == 12 * 20 - 64 and (out[1] == OUTSIDE_LOGIT).sum() == 12 * 20 - 36


def test_follow_recentres_on_a_present_mask_and_stays_put_otherwise() -> None:
    window = Window(x0=0, y0=0, side=64)
    logits = torch.full((1, 16, 16), -5.0)
    logits[0, 12:14, 12:14] = 5.0  # mask centred at (51.5, 51.5) input px
    moved = follow(window, mask_centre(logits, window), height=200, width=200, quantum=16)
    assert abs(moved.x0 + 31.5 - 51.5) <= 2 and abs(moved.y0 + 31.5 - 51.5) <= 2 and moved.side == 64
    assert follow(window, None, height=200, width=200, quantum=16) == window
    assert mask_centre(torch.full((1, 16, 16), -5.0), window) is None


def test_follow_centres_on_the_largest_piece_of_the_mask() -> None:
    window = Window(x0=0, y0=0, side=64)
    logits = torch.full((1, 16, 16), -5.0)
    logits[0, 12:14, 12:14] = 5.0  # the particle, centred at (51.5, 51.5) input px
    logits[0, 0, 0] = 5.0  # a one-pixel blob far away
    moved = follow(window, mask_centre(logits, window), height=200, width=200, quantum=16)
    assert abs(moved.x0 + 31.5 - 51.5) <= 2 and abs(moved.y0 + 31.5 - 51.5) <= 2


def test_auto_zoom_uses_windows_only_for_particles_small_in_the_frame() -> None:
    small = [Prompt(box=(100.0, 100.0, 120.0, 120.0))]
    assert auto_zoom(small, height=1024, width=1024) == 8.0
    assert auto_zoom(small, height=320, width=200) == 8.0  # 160 px windows, half the longer side
    assert auto_zoom(small, height=256, width=256) == 6.0  # 160 px is over half the frame, 120 px fits
    assert auto_zoom(small, height=120, width=90) == 6.0  # a 120 px window fits the longer side
    assert auto_zoom(small, height=110, width=110) is None  # a 120 px one would show the particle smaller
    crowded = [Prompt(box=(0.0, 0.0, side, side)) for side in (26.0, 41.0, 46.0, 98.0, 107.0, 110.0)]
    assert auto_zoom(crowded, height=384, width=512) == 6.0  # `samem simulate --seed 2`: median 72 px
    clicks = [Prompt(points=((50.0, 50.0),), labels=(1,))]
    assert auto_zoom(clicks, height=1024, width=1024) is None  # no size known
    assert check_zoom(None) is None and check_zoom(4) == 4.0
    for bad in (0.5, float("nan"), float("inf")):
        with pytest.raises(InputError, match="zoom must be a number >= 1"):
            check_zoom(bad)


SIDE = 96  # a square crop of the synthetic video: particles 1 and 3 stay inside it


@pytest.fixture(scope="module")
def model128(tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    """The engine tests' weights at 128 px (quantum: 32 px mask pixels per window)."""
    checkpoint = write_checkpoint(tmp_path_factory.mktemp("windows") / "weights.pt")
    return build_model(f"samem-compact:{checkpoint}", image_size=128).model


def _square_video() -> tuple[np.ndarray, dict[int, tuple[int, tuple[float, ...]]]]:
    frames = IntensityNormalizer(low=0.0, high=255.0)(synthetic_frames().astype(np.float32))[:, :, :SIDE]
    return frames, {p: BOXES[p] for p in (1, 3)}


def _track(model: torch.nn.Module, zoom: float | None, frames: np.ndarray, boxes: dict, **kwargs) -> list:
    tracker = Tracker(LocalBackend(model), height=frames.shape[1], width=frames.shape[2], num_frames=len(frames),
                      zoom=zoom)  # fmt: skip
    for particle, (frame, box) in boxes.items():
        tracker.add_prompt(frame, particle, box=box)
    geometry = FrameGeometry(height=frames.shape[1], width=frames.shape[2], size=model.image_size)
    if zoom:
        return list(tracker.propagate(lambda t: frames[t], **kwargs))

    def whole_frame(t: int) -> torch.Tensor:  # normalised by its own percentiles, as window mode does each window
        return to_model_image(geometry.resize(IntensityNormalizer.of_image(frames[t])(frames[t])))

    return list(tracker.propagate(whole_frame, **kwargs))


@pytest.mark.parametrize("mask_propagation", [False, True])
def test_a_window_as_large_as_the_frame_tracks_exactly_as_whole_frames(
    model128: torch.nn.Module, mask_propagation: bool
) -> None:
    """With one window per object covering the whole (square) frame, window mode must reproduce whole frames.

    On one thread: with more, the batched window encoding and the single frame split their reductions differently
    (differences up to 4e-4 in the object scores on a 2-core AMD EPYC, compounding over frames).
    """
    frames, boxes = _square_video()
    model128.mask_propagation = mask_propagation
    try:
        with torch_threads(1):
            whole = _track(model128, None, frames, boxes)
            windowed = _track(model128, 100.0, frames, boxes)  # windows capped at the frame: 96 x 96 at (0, 0)
    finally:
        model128.mask_propagation = False
    assert [r.frame for r in windowed] == [r.frame for r in whole] == list(range(N_FRAMES))
    for a, b in zip(windowed, whole, strict=True):
        np.testing.assert_allclose(a.mask_logits, b.mask_logits, atol=2e-4, rtol=0)
        np.testing.assert_allclose(a.object_scores, b.object_scores, atol=2e-4, rtol=0)


def test_window_mode_keeps_each_object_in_a_window_and_its_state_continues_identically(
    model128: torch.nn.Module,
) -> None:
    frames = IntensityNormalizer(low=0.0, high=255.0)(synthetic_frames().astype(np.float32))
    tracker = Tracker(LocalBackend(model128), height=HEIGHT, width=WIDTH, num_frames=N_FRAMES, zoom=ZOOM)
    for particle, (frame, box) in BOXES.items():
        tracker.add_prompt(frame, particle, box=box)
    reference, data = {}, b""
    for result in tracker.propagate(lambda t: frames[t]):
        reference[result.frame] = result.mask_logits
        inside = (result.mask_logits != OUTSIDE_LOGIT).reshape(len(result.particle_ids), -1).sum(1)
        assert np.all(inside <= 64 * 64), "every object's logits come from one 64 x 64 window"
        if result.frame == 6:
            data = tracker.state.to_bytes()
    assert all(obj.window is not None and obj.window.side == 64 for obj in tracker.state.objects)
    state = VideoState.from_bytes(data)
    assert state.zoom == ZOOM and state.objects[0].window is not None
    restored = Tracker.from_state(LocalBackend(model128), data)
    continued = {r.frame: r.mask_logits for r in restored.propagate(lambda t: frames[t])}
    assert sorted(continued) == list(range(7, N_FRAMES))
    for frame, logits in continued.items():
        np.testing.assert_array_equal(logits, reference[frame])


def test_window_mode_gives_each_pixel_to_one_particle_in_outputs_and_carried_masks(
    model128: torch.nn.Module,
) -> None:
    frames = IntensityNormalizer(low=0.0, high=255.0)(synthetic_frames().astype(np.float32))
    model = copy.deepcopy(model128)
    model.mask_propagation = True
    with torch.no_grad():  # every object present, so that the masks are not blanked
        model.sam_mask_decoder.pred_obj_score_head.layers[2].bias += 1000.0
    tracker = Tracker(LocalBackend(model), height=HEIGHT, width=WIDTH, num_frames=N_FRAMES, zoom=100.0)  # overlapping
    for particle, (frame, box) in BOXES.items():
        tracker.add_prompt(frame, particle, box=box)
    capped = 0
    for result in tracker.propagate(lambda t: frames[t]):
        assert result.masks.any((1, 2)).all() and result.masks.sum(0).max() == 1
        for k, obj in enumerate(tracker.state.objects):
            memory = obj.non_cond.get(result.frame)
            if memory is None:  # a prompted frame: its prompt-decoded mask is carried as it is
                continue
            others = torch.from_numpy(np.delete(result.masks, k, axis=0).any(0))
            carried = memory.low_res_logits[0] > 0
            assert not (carried & window_samples(others, memory.window, tracker.settings.low_res_size)).any()
            capped += int((memory.low_res_logits == CAPPED_LOGIT).sum())
    assert capped > 0  # windows overlapped and pixels were claimed


def test_window_mode_refuses_model_images_in_one_line(model128: torch.nn.Module) -> None:
    tracker = Tracker(LocalBackend(model128), height=HEIGHT, width=WIDTH, num_frames=3, zoom=ZOOM)
    tracker.add_prompt(0, 1, box=BOXES[1][1])
    with pytest.raises(InputError, match=r"window mode expects the frame as read, of shape \(96, 160\)"):
        next(tracker.propagate(lambda t: torch.zeros(3, 128, 128)))
    with pytest.raises(InputError, match="zoom must be a number >= 1"):
        Tracker(LocalBackend(model128), height=HEIGHT, width=WIDTH, num_frames=3, zoom=0.5)


def test_window_mode_normalises_each_window_so_the_intensity_scale_does_not_matter(model128: torch.nn.Module) -> None:
    frames = synthetic_frames().astype(np.float32)
    boxes = {p: BOXES[p] for p in (1, 2)}
    plain = _track(model128, ZOOM, frames, boxes)
    rescaled = _track(model128, ZOOM, 40.0 * frames - 3000.0, boxes)  # e.g. counts of another detector
    for a, b in zip(plain, rescaled, strict=True):
        np.testing.assert_allclose(a.mask_logits, b.mask_logits, atol=2e-3, rtol=0)
