"""The compact recipe's curriculum: short (2-frame) clips and a CNR range that opens from clear to barely visible."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from samem.errors import InputError
from samem.sim import simulate_video
from samem.sim.randomize import random_spec
from samem.train.recipe import TrainRecipe
from samem.train.sources import SimulatedSource


def test_cnr_range_opens_log_linearly_over_the_easy_steps():
    recipe = TrainRecipe(cnr=(0.5, 8.0), easy_steps=100)
    assert recipe.cnr_range(1) == pytest.approx((2.0, 8.0))
    assert recipe.cnr_range(51)[0] == pytest.approx(1.0)  # halfway in log between 2 and 0.5
    assert recipe.cnr_range(100) == (0.5, 8.0)
    assert recipe.cnr_range(5000) == (0.5, 8.0)
    lows = [recipe.cnr_range(s)[0] for s in range(1, 101)]
    assert all(b < a for a, b in itertools.pairwise(lows))


def test_without_easy_steps_the_full_range_is_used_from_the_start():
    assert TrainRecipe(cnr=(0.3, 12.0)).cnr_range(1) == (0.3, 12.0)


def test_a_narrow_range_never_starts_below_its_own_minimum():
    recipe = TrainRecipe(cnr=(5.0, 6.0), easy_steps=10)
    assert all(5.0 <= recipe.cnr_range(s)[0] <= 6.0 for s in range(1, 12))


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"cnr": (0.0, 1.0)}, "cnr must satisfy"), ({"cnr": (3.0, 1.0)}, "cnr must satisfy"),
     ({"short_clips": 1.5}, "short_clips must be in"), ({"easy_steps": -1}, "easy_steps must be")],
)  # fmt: skip
def test_recipe_rejects_bad_curriculum_values(fields, message):
    with pytest.raises(InputError, match=message):
        TrainRecipe(**fields)


def test_recipe_round_trips_the_curriculum():
    recipe = TrainRecipe(cnr=(0.4, 9.0), easy_steps=30, short_clips=0.25)
    assert TrainRecipe.from_dict(recipe.to_dict()) == recipe


def test_higher_cnr_targets_raise_the_dose_and_the_measured_snr():
    """Same draws but the CNR target: more electrons, less shot noise (the SNR meter also sees background texture,
    which a higher dose cannot remove, so its rise is smaller than the CNR's)."""
    for seed in range(4):
        low, high = (
            random_spec(np.random.default_rng(seed), frame_size=(96, 96), n_frames=(2, 2), cnr=cnr)
            for cnr in ((0.3, 0.6), (8.0, 12.0))
        )
        assert high.imaging.dose_rate > low.imaging.dose_rate
        assert simulate_video(high).snr >= 0.95 * simulate_video(low).snr
    first_low, first_high = (
        simulate_video(random_spec(np.random.default_rng(0), frame_size=(96, 96), n_frames=(2, 2), cnr=cnr)).snr
        for cnr in ((0.3, 0.6), (8.0, 12.0))
    )
    assert first_high > 5 * first_low


@pytest.mark.parametrize(("fraction", "expected"), [(0.0, {4}), (1.0, {2}), (0.5, {2, 4})])
def test_short_clip_fraction_sets_the_clip_lengths(fraction, expected):
    recipe = TrainRecipe(frames=4, short_clips=fraction, frame_size=(64, 96), max_particles=3, val_clips=0)
    source = SimulatedSource(recipe, image_size=32)
    lengths = {source.train_clip(step, 0).images.shape[0] for step in range(1, 13)}
    assert lengths == expected
