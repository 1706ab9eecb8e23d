"""Loss terms against hand-computed values, the weighting, best-candidate selection and presence masking."""

from __future__ import annotations

import math

import pytest
import torch

from samem.train.forward import FrameOutput
from samem.train.losses import clip_losses, dice_loss, frame_losses, mask_iou, sigmoid_focal_loss
from samem.train.recipe import TrainRecipe


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_focal_loss_by_hand():
    logits = torch.tensor([[[2.0, -1.0]]])
    targets = torch.tensor([[[1.0, 0.0]]])
    p0, p1 = sig(2.0), sig(-1.0)
    # pixel 0: positive, p_t = p0; pixel 1: negative, p_t = 1 - p1
    expected = (0.25 * -math.log(p0) * (1 - p0) ** 2 + 0.75 * -math.log(1 - p1) * p1**2) / 2
    assert sigmoid_focal_loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    plain = (-math.log(p0) - math.log(1 - p1)) / 2  # gamma 0, no alpha: binary cross entropy
    assert sigmoid_focal_loss(logits, targets, alpha=-1, gamma=0).item() == pytest.approx(plain, rel=1e-6)


def test_dice_and_iou_by_hand():
    logits = torch.tensor([[[0.0, 3.0], [-2.0, 1.0]]])
    targets = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    p = [sig(0.0), sig(3.0), sig(-2.0), sig(1.0)]
    expected = 1 - (2 * (p[0] + p[1]) + 1) / (sum(p) + 2 + 1)
    assert dice_loss(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    # predicted {(0,1), (1,1)} (logit 0 is not > 0), gt {(0,0), (0,1)}: IoU 1/3
    assert mask_iou(logits, targets).item() == pytest.approx(1 / 3)


def frame_output(logits: torch.Tensor, ious: torch.Tensor, score: float) -> FrameOutput:
    return FrameOutput(
        multimask_logits=logits,
        multimask_ious=ious,
        object_score_logits=torch.full((logits.shape[0], 1), score),
        low_res_logits=logits[:, :1],
    )


def test_best_candidate_weighting_and_presence():
    target = torch.zeros(1, 4, 4, dtype=torch.bool)
    target[0, :2, :2] = True
    good = torch.where(target[0], 5.0, -5.0)
    bad = -good
    logits = torch.stack([bad, good, torch.zeros(4, 4)])[None]  # [1, 3, 4, 4]
    ious = torch.tensor([[0.5, 0.9, 0.1]])
    recipe = TrainRecipe(supervise_all_iou=False)
    terms, actual, present = frame_losses(frame_output(logits, ious, 2.0), target, recipe)
    assert present.item() == 1.0 and actual.item() == 1.0  # the good candidate is chosen
    assert terms["focal"].item() == pytest.approx(sigmoid_focal_loss(good, target[0].float()).item(), rel=1e-5)
    assert terms["iou"].item() == pytest.approx(0.1, abs=1e-6)  # L1 to the actual IoU 1 of the chosen mask
    assert terms["object_score"].item() == pytest.approx(-math.log(sig(2.0)), rel=1e-6)
    absent, _, present = frame_losses(frame_output(logits, ious, 2.0), torch.zeros_like(target), recipe)
    assert present.item() == 0.0
    assert absent["focal"].item() == absent["dice"].item() == absent["iou"].item() == 0.0
    assert absent["object_score"].item() == pytest.approx(-math.log(1 - sig(2.0)), rel=1e-6)


def test_weighting_1_3_1_1_and_normalisation():
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 4, 4)
    outputs = [frame_output(logits, torch.rand(2, 1), 0.3), frame_output(logits * 2, torch.rand(2, 1), -0.2)]
    targets = torch.rand(2, 2, 16, 16) > 0.5
    recipe = TrainRecipe()
    assert (recipe.focal_weight, recipe.dice_weight, recipe.iou_weight, recipe.object_score_weight) == (1, 3, 1, 1)
    terms = clip_losses(outputs, targets, recipe, n_objects=4)
    expected = terms.focal + 3 * terms.dice + terms.iou + terms.object_score
    assert terms.total.item() == pytest.approx(expected.item(), rel=1e-6)
    # sums over frames and objects divided by n_objects
    per_frame = [frame_losses(o, targets[:, t], recipe)[0]["dice"].sum() for t, o in enumerate(outputs)]
    assert terms.dice.item() == pytest.approx(sum(per_frame).item() / 4, rel=1e-6)
    sam2 = clip_losses(outputs, targets, TrainRecipe(focal_weight=20, dice_weight=1), n_objects=4)
    assert sam2.total.item() == pytest.approx((20 * sam2.focal + sam2.dice + sam2.iou + sam2.object_score).item())
