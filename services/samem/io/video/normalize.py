"""Intensity normalisation of a whole video to float32 in [0, 1] by fixed percentiles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samem.errors import InputError
from samem.io.video.base import VideoReader


@dataclass(frozen=True, kw_only=True)
class IntensityNormalizer:
    """Map intensity ``low`` to 0 and ``high`` to 1 linearly, clipping outside; the same for every frame.

    Fitting once per video (rather than per frame) keeps real brightness changes, such as a dose ramp or a
    particle dissolving, visible after normalisation.
    """

    low: float
    high: float

    @classmethod
    def fit(
        cls,
        reader: VideoReader,
        *,
        low_percentile: float = 0.5,
        high_percentile: float = 99.5,
        n_frames: int = 16,
        max_values: int = 2_000_000,
        seed: int = 0,
    ) -> IntensityNormalizer:
        """Percentiles over ``n_frames`` frames spread evenly over the video (first and last included).

        At most ``max_values`` pixel values are pooled, drawn at random (fixed ``seed``) from each sampled frame, so
        memory stays bounded for large frames. Non-finite values are ignored.
        """
        if not 0 <= low_percentile < high_percentile <= 100:
            raise InputError(
                f"percentiles must satisfy 0 <= low < high <= 100, got {low_percentile} and {high_percentile}"
            )
        n = len(reader)
        indices = np.unique(np.linspace(0, n - 1, num=max(1, min(n_frames, n))).round().astype(int))
        per_frame = max(1, max_values // len(indices))
        rng = np.random.default_rng(seed)
        pooled = []
        for index in indices:
            values = reader.read(int(index)).ravel()
            if values.size > per_frame:
                values = values[rng.choice(values.size, size=per_frame, replace=False)]
            values = values.astype(np.float64)
            pooled.append(values[np.isfinite(values)])
        samples = np.concatenate(pooled)
        if samples.size == 0:
            raise InputError(f"{reader.info.path.name}: no finite pixel values in the sampled frames")
        low, high = np.percentile(samples, [low_percentile, high_percentile])
        return cls(low=float(low), high=float(high))

    @classmethod
    def of_image(
        cls, image: np.ndarray, *, low_percentile: float = 0.5, high_percentile: float = 99.5
    ) -> IntensityNormalizer:
        """Percentiles of one image's finite values (each window of window mode; see :mod:`samem.engine.windows`)."""
        values = np.asarray(image, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            return cls(low=0.0, high=0.0)
        low, high = np.percentile(values, [low_percentile, high_percentile])
        return cls(low=float(low), high=float(high))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` scaled to float32 in [0, 1]; a constant video (``high == low``) maps to 0."""
        span = self.high - self.low
        scale = 1.0 / span if span > 0 else 0.0
        out = (np.asarray(frame, dtype=np.float32) - np.float32(self.low)) * np.float32(scale)
        return np.clip(out, 0.0, 1.0, out=out)
