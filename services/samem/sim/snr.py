"""Measured signal-to-noise ratio of rendered frames, using the ground-truth masks.

Definition (contrast-to-noise ratio, CNR), per frame::

    SNR = |mean(image[particle pixels]) - mean(image[background])| / std(image[background])

where particle pixels are all mask pixels (labels > 0) and background are the pixels farther than
``2 * blur + 2`` px from any mask pixel (so blurred particle edges do not count as background). The reported value
is the mean over the frames that have particle pixels and at least 16 background pixels; per particle, the same
with only that particle's mask pixels. The background standard deviation includes shot noise and the slow
illumination/thickness variation across the frame; it is measured on the output frames (after blur and
quantisation).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import binary_dilation

SNR_DEFINITION = (
    "mean over frames of |mean(particle mask pixels) - mean(background)| / std(background); background = pixels"
    " farther than 2*blur_px+2 px from any mask, measured on the output frames"
)

_MIN_BACKGROUND = 16


class SnrMeter:
    """Accumulate the CNR over frames; ``result()`` gives the overall and per-particle means (None if unmeasurable)."""

    def __init__(self, n_particles: int, blur_px: float) -> None:
        self.margin = math.ceil(2 * blur_px + 2)
        self.n_particles = n_particles
        self.total = 0.0
        self.frames = 0
        self.per_sum = np.zeros(n_particles + 1)
        self.per_count = np.zeros(n_particles + 1, dtype=np.int64)

    def update(self, image: np.ndarray, labels: np.ndarray) -> None:
        """Add one frame."""
        particle = labels > 0
        if not particle.any():
            return
        background = ~binary_dilation(particle, iterations=self.margin)
        if background.sum() < _MIN_BACKGROUND:
            return
        values = image.astype(np.float64)
        bg = values[background]
        noise = float(bg.std())
        if noise == 0:
            return
        bg_mean = float(bg.mean())
        self.total += abs(float(values[particle].mean()) - bg_mean) / noise
        self.frames += 1
        counts = np.bincount(labels.ravel(), minlength=self.n_particles + 1)
        sums = np.bincount(labels.ravel(), weights=values.ravel(), minlength=self.n_particles + 1)
        seen = counts > 0
        seen[0] = False
        self.per_sum[seen] += np.abs(sums[seen] / counts[seen] - bg_mean) / noise
        self.per_count[seen] += 1

    def result(self) -> tuple[float | None, dict[int, float | None]]:
        """Mean SNR over measured frames, and per particle id (None where never measured)."""
        overall = self.total / self.frames if self.frames else None
        per = {
            k: (float(self.per_sum[k] / self.per_count[k]) if self.per_count[k] else None)
            for k in range(1, self.n_particles + 1)
        }
        return overall, per
