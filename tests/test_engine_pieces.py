"""The piece of a mask that tracking carries on: the largest 8-connected piece, per mask of a batch."""

from __future__ import annotations

import torch

from samem.engine.pieces import carried_mask


def test_the_largest_piece_of_each_mask_is_kept() -> None:
    logits = torch.full((2, 1, 12, 12), -3.0)
    logits[0, 0, 1:3, 1:3] = 2.0  # 4 px
    logits[0, 0, 6:10, 5:9] = 0.5  # 16 px: kept, although its logits are lower
    logits[1, 0, 0:5, 0:5] = 1.0  # 25 px: kept
    logits[1, 0, 8:11, 8:11] = 4.0  # 9 px
    carried = carried_mask(logits)
    assert carried.shape == logits.shape and carried.dtype == torch.float32
    assert carried[0, 0].sum() == 16 and carried[0, 0, 6:10, 5:9].all()
    assert carried[1, 0].sum() == 25 and carried[1, 0, 0:5, 0:5].all()


def test_diagonal_neighbours_are_one_piece_and_an_empty_mask_stays_empty() -> None:
    logits = torch.full((1, 8, 8), -1.0)
    for i in range(5):
        logits[0, i, i] = 1.0  # a diagonal line: one 8-connected piece
    logits[0, 7, 0] = 1.0
    carried = carried_mask(logits)
    assert carried.sum() == 5 and carried[0, 7, 0] == 0
    assert carried_mask(torch.full((3, 1, 4, 4), -1.0)).sum() == 0


def test_a_whole_mask_is_unchanged() -> None:
    logits = torch.randn(4, 1, 16, 16).clamp(max=-0.1)
    logits[:, :, 4:9, 3:12] = 1.0
    torch.testing.assert_close(carried_mask(logits), (logits > 0).float())
