"""Frames to model images, and mask logits back to input resolution.

A frame becomes a model image in one way everywhere: :class:`IntensityNormalizer` to [0, 1] and the
:class:`FrameGeometry` resize to ``S x S``, one grey channel [1, S, S]. SAM 2's three identical channels with
ImageNet mean/std (what it was trained with) are made where the image encoder runs
(:func:`samem.engine.steps.model_input`), so a model image crosses threads, processes and the network at a third
of the size. Mask logits go back by bilinear interpolation (``align_corners=False``) as upstream's video predictor does.
Upstream's optional hole filling (its CUDA extension; skipped on CPU) is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samem.io.video.geometry import FrameGeometry
from samem.io.video.normalize import IntensityNormalizer


@dataclass(frozen=True, kw_only=True)
class Preprocessor:
    """Turns raw frames of one video into grey model images [1, S, S] in [0, 1] (float32)."""

    normalizer: IntensityNormalizer
    geometry: FrameGeometry

    def __call__(self, frame: np.ndarray) -> Tensor:
        """The model image of a raw (height, width) frame."""
        return to_model_image(self.geometry.resize(self.normalizer(frame)))


def self_normalised_image(frame: np.ndarray, geometry: FrameGeometry) -> Tensor:
    """The model image of a frame normalised by its own intensity percentiles: how window mode sees each window."""
    return to_model_image(geometry.resize(IntensityNormalizer.of_image(frame)(frame)))


def to_model_image(resized: np.ndarray) -> Tensor:
    """A resized [S, S] image in [0, 1] as a model image [1, S, S] (float32).

    Copied by numpy, not torch: frames are prepared on a worker thread (:mod:`samem.engine.prefetch`), where
    torch's own thread pool would compete with the model's.
    """
    image = np.asarray(resized, dtype=np.float32)
    out = torch.empty((1, *image.shape), dtype=torch.float32)
    out.numpy()[0] = image
    return out


def logits_to_input(low_res_logits: Tensor, geometry: FrameGeometry) -> Tensor:
    """Mask logits [B, 1, S/4, S/4] of the model image as [B, height, width] logits of the input frame."""
    size = (geometry.height, geometry.width)
    if geometry.mode == "square":
        return F.interpolate(low_res_logits, size=size, mode="bilinear", align_corners=False)[:, 0]
    # letterbox: crop the resized region at model resolution, then resize it to the frame
    full = F.interpolate(low_res_logits, size=(geometry.size, geometry.size), mode="bilinear", align_corners=False)
    crop = full[..., : geometry.resized_height, : geometry.resized_width]
    return F.interpolate(crop, size=size, mode="bilinear", align_corners=False)[:, 0]
