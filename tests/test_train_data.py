"""Training clips: the random crop that widens particle sizes, and clips made from cropped videos."""

from __future__ import annotations

import numpy as np
import pytest

from samem.errors import InputError
from samem.train.data import make_clip, random_crop
from samem.train.recipe import TrainRecipe


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
