"""A compact U-Net for foreground segmentation of one grayscale frame (pure torch).

Four resolution levels of 16-32-64-128 channels by default (about 0.47 M parameters); each level is two 3 x 3
convolutions with GroupNorm and ReLU, down-sampling by 2 x 2 max pooling, up-sampling by 2 x 2 transposed
convolutions with skip connections. The output is one logit per pixel (foreground). Input sides must be multiples
of ``2 ** (levels - 1)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional

from samem.errors import InputError


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class _DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            _norm(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            _norm(out_channels),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net mapping ``N x C x H x W`` images to ``N x 1 x H x W`` foreground logits.

    Parameters
    ----------
    in_channels : int
        Input channels (1 for grayscale).
    base_channels : int
        Channels of the first level; each deeper level doubles them.
    levels : int
        Resolution levels (>= 2); H and W must be multiples of ``2 ** (levels - 1)``.
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 16, levels: int = 4) -> None:
        super().__init__()
        if levels < 2 or base_channels < 1 or in_channels < 1:
            raise InputError(f"bad U-Net shape: levels={levels}, base_channels={base_channels}")
        self.config: dict[str, Any] = {"in_channels": in_channels, "base_channels": base_channels, "levels": levels}
        widths = [base_channels * 2**k for k in range(levels)]
        self.down = nn.ModuleList()
        previous = in_channels
        for width in widths:
            self.down.append(_DoubleConv(previous, width))
            previous = width
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(previous, width, 2, stride=2))
            self.merge.append(_DoubleConv(2 * width, width))
            previous = width
        self.head = nn.Conv2d(previous, 1, 1)
        nn.init.constant_(self.head.bias, -2.0)  # start near "background" (the usual majority class)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (self.config["levels"] - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Foreground logits of ``x`` (``N x C x H x W``)."""
        skips = []
        for index, block in enumerate(self.down):
            if index:
                x = functional.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice loss (one minus the batch-pooled soft Dice) of foreground logits."""
    bce = functional.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    dice = (2 * (prob * target).sum() + smooth) / (prob.sum() + target.sum() + smooth)
    return bce + (1 - dice)
