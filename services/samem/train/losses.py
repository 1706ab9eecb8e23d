"""SAM 2's per-frame training losses, written for samem: focal, dice, IoU regression and object score.

For each frame the decoder's M candidate mask logits (upsampled bilinearly from S/4 to the model image size S,
where the ground truth lives, as SAM 2 does) are compared with the object's ground-truth mask. With several
candidates only the one with the lowest weighted focal + dice loss is trained; the predicted IoUs regress the
actual IoU of every candidate (``supervise_all_iou``) or of that one. Mask and IoU terms count only on frames where
the object is present (non-empty ground truth); the object-score logit is trained on every frame with binary cross
entropy against presence. Terms are summed over frames and objects and divided by the number of objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from samem.train.forward import FrameOutput
from samem.train.recipe import TrainRecipe

TERMS = ("focal", "dice", "iou", "object_score")


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, *, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Focal loss (Lin et al. 2017) averaged over the last two (spatial) axes: [..., H, W] -> [...]."""
    prob = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss.flatten(-2).mean(-1)


def dice_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """``1 - (2 |p t| + 1) / (|p| + |t| + 1)`` with p = sigmoid(logits), over the spatial axes: [..., H, W] -> [...]."""
    prob = torch.sigmoid(logits).flatten(-2)
    flat = targets.flatten(-2)
    return 1 - (2 * (prob * flat).sum(-1) + 1) / (prob.sum(-1) + flat.sum(-1) + 1)


def mask_iou(logits: Tensor, targets: Tensor) -> Tensor:
    """IoU of the masks ``logits > 0`` with binary ``targets`` over the spatial axes (0 / 0 counts as 0)."""
    pred = logits.flatten(-2) > 0
    gt = targets.flatten(-2) > 0
    inter = (pred & gt).sum(-1).float()
    union = (pred | gt).sum(-1).float()
    return inter / union.clamp(min=1.0)


@dataclass(frozen=True, kw_only=True)
class LossTerms:
    """Unweighted loss terms (summed over frames and objects, divided by ``n_objects``) and their weighted total.

    ``train_iou`` is the mean IoU of the best candidate over present object-frames (a progress figure, no grad).
    """

    focal: Tensor
    dice: Tensor
    iou: Tensor
    object_score: Tensor
    total: Tensor
    train_iou: float

    def as_floats(self) -> dict[str, float]:
        """The terms as plain floats (for the log)."""
        return {"loss": float(self.total.detach()), **{name: float(getattr(self, name).detach()) for name in TERMS}}


def frame_losses(out: FrameOutput, targets: Tensor, recipe: TrainRecipe) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Per-object terms [B] of one frame, the chosen candidates' actual IoUs [B] and the presence [B].

    ``targets`` [B, S, S] are the ground-truth masks at the model image size.
    """
    size = targets.shape[-2:]
    logits = F.interpolate(out.multimask_logits, size=size, mode="bilinear", align_corners=False)  # [B, M, S, S]
    gt = targets.to(logits.dtype)[:, None].expand_as(logits)
    present = targets.flatten(1).any(-1).to(logits.dtype)  # [B]
    focal = sigmoid_focal_loss(logits, gt, alpha=recipe.focal_alpha, gamma=recipe.focal_gamma)  # [B, M]
    dice = dice_loss(logits, gt)
    actual = mask_iou(logits, gt).detach()
    iou_error = (out.multimask_ious - actual).abs() if recipe.iou_loss == "l1" else (out.multimask_ious - actual) ** 2
    best = torch.argmin(recipe.focal_weight * focal + recipe.dice_weight * dice, dim=-1, keepdim=True)  # [B, 1]
    iou = iou_error.mean(-1) if recipe.supervise_all_iou else iou_error.gather(1, best)[:, 0]
    score = F.binary_cross_entropy_with_logits(out.object_score_logits[:, 0], present, reduction="none")
    terms = {
        "focal": focal.gather(1, best)[:, 0] * present,
        "dice": dice.gather(1, best)[:, 0] * present,
        "iou": iou * present,
        "object_score": score,
    }
    return terms, actual.gather(1, best)[:, 0], present


def clip_losses(outputs: Sequence[FrameOutput], targets: Tensor, recipe: TrainRecipe, *, n_objects: int) -> LossTerms:
    """Losses of one clip: ``targets`` [B, T, S, S]; divided by ``n_objects`` (all objects of the step)."""
    sums = dict.fromkeys(TERMS, targets.new_zeros((), dtype=torch.float32))
    ious, presents = [], []
    for t, out in enumerate(outputs):
        terms, iou, present = frame_losses(out, targets[:, t], recipe)
        sums = {name: sums[name] + terms[name].sum() for name in TERMS}
        ious.append(iou)
        presents.append(present)
    sums = {name: value / n_objects for name, value in sums.items()}
    weights = {
        "focal": recipe.focal_weight,
        "dice": recipe.dice_weight,
        "iou": recipe.iou_weight,
        "object_score": recipe.object_score_weight,
    }
    total = sum(weights[name] * sums[name] for name in TERMS)
    present_all = torch.cat(presents) > 0
    train_iou = float(torch.cat(ious)[present_all].mean()) if present_all.any() else float("nan")
    return LossTerms(total=total, train_iou=train_iou, **sums)
