"""Frames to model images, and mask logits back to input resolution.

A frame becomes a model image in one way everywhere: :class:`IntensityNormalizer` to [0, 1], the
:class:`FrameGeometry` resize to ``S x S``, three identical channels, then ImageNet mean/std (what SAM 2 was trained
with). Mask logits go back by bilinear interpolation (``align_corners=False``) as upstream's video predictor does.
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

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, kw_only=True)
class Preprocessor:
    """Turns raw frames of one video into model images [3, S, S] (float32)."""

    normalizer: IntensityNormalizer
    geometry: FrameGeometry

    def __call__(self, frame: np.ndarray) -> Tensor:
        """The model image of a raw (height, width) frame."""
        return to_model_image(self.geometry.resize(self.normalizer(frame)))


def self_normalised_image(frame: np.ndarray, geometry: FrameGeometry) -> Tensor:
    """The model image of a frame normalised by its own intensity percentiles: how window mode sees each window."""
    return to_model_image(geometry.resize(IntensityNormalizer.of_image(frame)(frame)))


def to_model_image(resized: np.ndarray) -> Tensor:
    """A resized [S, S] image in [0, 1] as a normalised 3-channel model image [3, S, S].

    Computed by numpy, not torch: frames are prepared on a worker thread (:mod:`samem.engine.prefetch`), where
    torch's own thread pool would compete with the model's. The result lives in torch-allocated memory, whose
    alignment the model's kernels see (numpy's would change their float rounding).
    """
    image = np.asarray(resized, dtype=np.float32)[None]
    out = torch.empty((3, *image.shape[1:]), dtype=torch.float32)
    values = out.numpy()
    np.subtract(image, np.asarray(IMAGENET_MEAN, dtype=np.float32)[:, None, None], out=values)
    np.divide(values, np.asarray(IMAGENET_STD, dtype=np.float32)[:, None, None], out=values)
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
