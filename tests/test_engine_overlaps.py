"""One particle per pixel: the claiming rule and the sampling of a frame on a window's mask grid."""

from __future__ import annotations

import torch

from samem.engine.overlaps import CAPPED_LOGIT, claim_pixels, taken_by_others, window_samples
from samem.engine.windows import Window, paste_logits


def test_an_overlap_goes_to_the_larger_logit_and_the_others_lose_the_pixel() -> None:
    logits = torch.full((3, 6, 6), -5.0)
    logits[0, 0:4, 0:4] = 2.0  # object 0 and object 1 overlap on rows / columns 2-3
    logits[1, 2:6, 2:6] = 3.0
    logits[2, 5, 0] = 1.0  # object 2 overlaps nobody
    claimed = claim_pixels(logits)
    masks = claimed > 0
    assert masks.sum(0).max() == 1  # no pixel in two masks
    assert masks[1, 2:6, 2:6].all() and not masks[0, 2:4, 2:4].any()
    assert masks[0].sum() == 16 - 4 and masks[2, 5, 0]
    assert torch.equal(claimed[0, 2:4, 2:4], torch.full((2, 2), CAPPED_LOGIT))
    changed = claimed != logits
    assert changed.sum() == 4 and changed[0, 2:4, 2:4].all()  # nothing else changes


def test_claiming_equals_the_argmax_rule_on_random_logits() -> None:
    """The cropped, looped computation against the rule written plainly (argmax over objects, ties to the first)."""
    generator = torch.Generator().manual_seed(1)
    for n in (2, 3, 5):
        logits = torch.randn(n, 30, 40, generator=generator) + 0.8
        logits[:, :5] = torch.where(logits[:, :5] > 0, -logits[:, :5], logits[:, :5])  # rows with no mask at all
        owner = logits.argmax(0)
        expected = torch.where((logits > 0) & (owner != torch.arange(n)[:, None, None]), CAPPED_LOGIT, logits)
        assert torch.equal(claim_pixels(logits), expected)


def test_equal_logits_go_to_the_first_object_and_separate_masks_are_returned_as_they_are() -> None:
    claimed = claim_pixels(torch.ones(2, 3, 3))
    assert (claimed[0] == 1).all() and (claimed[1] == CAPPED_LOGIT).all()
    apart = torch.full((2, 4, 4), -1.0)
    apart[0, 0, 0] = apart[1, 3, 3] = 5.0
    assert claim_pixels(apart) is apart
    single = torch.ones(1, 3, 3)
    assert claim_pixels(single) is single


def test_a_window_mask_pasted_into_the_frame_samples_back_to_itself() -> None:
    size = 8
    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(1, 1, size, size, generator=generator) > 0.5
    for window in (Window(x0=5, y0=3, side=32), Window(x0=0, y0=10, side=24), Window(x0=17, y0=0, side=8)):
        frame = paste_logits(torch.where(mask, 4.0, -4.0), [window], height=50, width=60)
        assert torch.equal(window_samples(frame, window, size) > 0, mask[0])


def test_samples_of_a_window_come_from_its_own_pixels_and_others_take_theirs() -> None:
    frame = torch.full((2, 20, 30), -1.0)
    frame[1, 7, 12] = 1.0
    window = Window(x0=10, y0=5, side=4)  # one input pixel per mask pixel
    sampled = window_samples(frame, window, 4)
    assert sampled.shape == (2, 4, 4) and (sampled > 0).sum() == 1 and sampled[1, 2, 2] > 0
    assert torch.equal(taken_by_others(sampled, 0), sampled[1] > 0)
    assert not taken_by_others(sampled, 1).any()
