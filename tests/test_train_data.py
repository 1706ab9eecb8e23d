"""Training clips: the random crop that widens particle sizes, clips made from cropped videos, window clips."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from samem.engine.preprocess import self_normalised_image
from samem.engine.windows import Window
from samem.errors import InputError
from samem.train.data import make_clip, make_window_clip, random_crop
from samem.train.recipe import TrainRecipe
from samem.train.sources import SimulatedSource


def _video(frames: int = 3, height: int = 60, width: int = 90) -> tuple[np.ndarray, np.ndarray]:
    video = np.arange(frames * height * width, dtype=np.float32).reshape(frames, height, width)
    labels = np.zeros((frames, height, width), dtype=np.uint16)
    labels[:, 25:35, 40:50] = 1
    return video, labels


def test_random_crop_cuts_the_same_window_of_every_frame_within_the_fraction():
    video, labels = _video()
    rng = np.random.default_rng(0)
    for _ in range(50):
        cut, cut_labels = random_crop(video, labels, rng, (0.5, 0.8))
        _, h, w = cut.shape
        assert cut_labels.shape == cut.shape
        assert 30 <= h <= 48 and 45 <= w <= 72
        y0, x0 = divmod(int(cut[0, 0, 0]), 90)
        assert np.array_equal(cut, video[:, y0 : y0 + h, x0 : x0 + w])
        assert np.array_equal(cut_labels, labels[:, y0 : y0 + h, x0 : x0 + w])


def test_no_crop_keeps_the_frames():
    video, labels = _video()
    cut, cut_labels = random_crop(video, labels, np.random.default_rng(0), (1.0, 1.0))
    assert cut is video and cut_labels is labels


def test_cropped_clips_show_particles_larger_in_model_pixels():
    video, labels = _video(frames=2)

    def mean_area(crop: tuple[float, float]) -> float:
        areas = []
        for seed in range(20):
            clip = make_clip(video, labels, rng=np.random.default_rng(seed), frames=2, max_objects=1, image_size=32,
                             crop=crop)  # fmt: skip
            if clip is not None:
                areas.append(float(clip.targets[0, 0].sum()))
        assert areas
        return float(np.mean(areas))

    assert mean_area((0.5, 0.6)) > 2.0 * mean_area((1.0, 1.0))


@pytest.mark.parametrize("crop", [(0.0, 1.0), (0.8, 0.5), (0.5, 1.2)])
def test_recipe_rejects_bad_crop_ranges(crop):
    with pytest.raises(InputError, match="crop must satisfy"):
        TrainRecipe(crop=crop)


def test_recipe_round_trips_the_crop():
    recipe = TrainRecipe(crop=(0.5, 0.9))
    assert TrainRecipe.from_dict(recipe.to_dict()) == recipe


def _two_particles(frames: int = 4, side: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Dark 10 x 10 px squares on a noisy gradient: particle 1 at rows/columns 40-49, particle 2 at 140-149."""
    rng = np.random.default_rng(3)
    video = rng.normal(100.0, 5.0, size=(frames, side, side)).astype(np.float32) + np.linspace(0, 50, side)[None, None]
    labels = np.zeros((frames, side, side), dtype=np.uint16)
    labels[:, 40:50, 40:50], labels[:, 140:150, 140:150] = 1, 2
    video[labels > 0] -= 60.0
    return video, labels


def test_a_window_clip_shows_one_particle_as_window_mode_does():
    video, labels = _two_particles()
    size, quantum = 64, 16
    for seed in range(10):
        clip = make_window_clip(video, labels, rng=np.random.default_rng(seed), frames=3, image_size=size,
                                zoom=(8.0, 8.0), quantum=quantum)  # fmt: skip
        assert clip is not None and clip.n_objects == 1 and clip.images.shape == (3, 1, size, size)
        (particle,) = clip.particle_ids
        # the window is 8 x the 10 px box (80 px), so the particle is 10 / 80 of the model image, near its centre
        rows, cols = np.nonzero(clip.targets[0, 0].numpy())
        assert 7 <= cols.max() - cols.min() + 1 <= 9 and 7 <= rows.max() - rows.min() + 1 <= 9
        centre = (size - 1) / 2
        assert abs(cols.mean() - centre) <= 4 + 1 and abs(rows.mean() - centre) <= 4 + 1  # one mask pixel + rounding
        # the box prompt hugs the target; the other particle is 100 px away, outside the window
        x0, y0 = clip.point_coords[0, 0].tolist()
        x1, y1 = clip.point_coords[0, 1].tolist()
        assert x0 <= cols.min() + 0.5 and x1 >= cols.max() - 0.5 and y0 <= rows.min() + 0.5 and y1 >= rows.max() - 0.5
        # each frame is normalised by its own percentiles, as the tracker normalises each window: frame 1 is the
        # self-normalised image of an 80 px window on the 5 px origin grid around the particle
        first = 40 if particle == 1 else 140  # the particle's top-left pixel (x = y)
        origins = [x for x in range(first - 50, first, 5) if 0 <= x <= 200 - 80]
        candidates = [Window(x0=x, y0=y, side=80) for x in origins for y in origins]
        assert any(
            np.allclose(self_normalised_image(w.crop(frame), w.geometry(size)).numpy(), clip.images[1].numpy())
            for w in candidates
            for frame in video[1:3]  # the clip starts on frame 0 or 1
        ), seed


def test_window_clips_are_drawn_in_the_asked_fraction():
    recipe = TrainRecipe(window_clips=1.0, frames=2, frame_size=(256, 256), max_particles=3, cnr=(4.0, 8.0))
    source = SimulatedSource(recipe, image_size=64)
    assert all(source.train_clip(1, k).n_objects == 1 for k in range(3))
    with pytest.raises(InputError, match="window_clips must be in"):
        TrainRecipe(window_clips=1.5)
    with pytest.raises(InputError, match="window_zoom must satisfy"):
        TrainRecipe(window_zoom=(8.0, 4.0))
    recipe = TrainRecipe(window_clips=0.5, window_zoom=(5.0, 9.0))
    assert TrainRecipe.from_dict(recipe.to_dict()) == recipe


def _mean_centroid_step(source: SimulatedSource, clips: int) -> float:
    """Mean frame-to-frame centroid displacement (model px) of the first object of ``clips`` training clips."""
    moves = []
    for k in range(clips):
        targets = source.train_clip(1, k).targets[0].numpy()
        centroids = [np.argwhere(mask).mean(0) for mask in targets if mask.any()]
        moves += [float(np.hypot(*(b - a))) for a, b in itertools.pairwise(centroids)]
    return float(np.mean(moves))


def test_step_px_sets_the_motion_of_simulated_training_clips():
    base = TrainRecipe(frames=4, frame_size=(256, 256), max_particles=2, cnr=(6.0, 8.0), box_noise=0.0)
    slow = _mean_centroid_step(SimulatedSource(base.with_overrides(step_px=(0.05, 0.1)), image_size=64), 12)
    fast = _mean_centroid_step(SimulatedSource(base.with_overrides(step_px=(6.0, 8.0)), image_size=64), 12)
    assert fast > 4 * slow and fast > 1.0, (slow, fast)
    with pytest.raises(InputError, match="step_px must satisfy"):
        TrainRecipe(step_px=(0.0, 4.0))
    recipe = TrainRecipe(step_px=(0.5, 8.0))
    assert TrainRecipe.from_dict(recipe.to_dict()) == recipe


def test_exits_reach_the_simulated_training_clips():
    """With ``exits`` 1 the object of a 6-frame clip has often left by the last frame (empty target), at 0 rarely."""
    base = TrainRecipe(frames=6, frame_size=(128, 128), max_particles=1, cnr=(6.0, 8.0), box_noise=0.0)

    def empty_last_targets(recipe: TrainRecipe) -> int:
        source = SimulatedSource(recipe, image_size=64)
        return sum(not source.train_clip(1, k).targets[0, -1].any() for k in range(10))

    assert empty_last_targets(base.with_overrides(exits=1.0)) >= 4 > empty_last_targets(base)
    with pytest.raises(InputError, match="exits must be in"):
        TrainRecipe(exits=-0.1)
    recipe = TrainRecipe(exits=0.3)
    assert TrainRecipe.from_dict(recipe.to_dict()) == recipe
