"""What both baselines share: frame preparation, argument checks, and trackpy linking with ids from 1."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from samem.errors import InputError
from samem.io.video import IntensityNormalizer

# Crowded scenes shrink the search range instead of failing (trackpy's adaptive linking).
ADAPTIVE_STOP, ADAPTIVE_STEP = 0.5, 0.9


def prepare_frame(frame: np.ndarray, normalizer: IntensityNormalizer, invert: bool, *, clip: bool = True) -> np.ndarray:
    """Percentile-normalise a raw frame to float32 (``low`` -> 0, ``high`` -> 1); invert so dark particles are bright.

    ``clip`` limits the result to [0, 1]. Without it the map stays linear beyond the percentiles: particles that
    cover fewer pixels than the clipped percentile (a few small particles in a large frame) then keep their contrast
    instead of saturating into flat plateaus.
    """
    if clip:
        image = normalizer(frame)
    else:
        span = normalizer.high - normalizer.low
        scale = np.float32(1.0 / span if span > 0 else 0.0)
        image = (np.asarray(frame, dtype=np.float32) - np.float32(normalizer.low)) * scale
    return np.subtract(np.float32(1.0), image, out=image) if invert else image


def check_memory(memory: object) -> int:
    """Trackpy's ``memory`` (frames a particle may vanish and keep its id): an integer >= 0."""
    if isinstance(memory, bool) or not isinstance(memory, int | np.integer) or memory < 0:
        raise InputError(f"memory must be an integer >= 0 (frames), got {memory!r}")
    return int(memory)


def import_trackpy() -> Any:
    """trackpy, quietened; an :class:`InputError` if it is not installed."""
    try:
        import trackpy
    except ImportError:  # pragma: no cover - trackpy is a test/extra dependency
        raise InputError("the baselines need trackpy: pip install trackpy") from None
    trackpy.quiet()
    return trackpy


def renumber(linked: pd.DataFrame) -> pd.DataFrame:
    """Particle ids 1, 2, ... in order of first appearance, ties by (y, x) of that first detection."""
    first = linked.sort_values(["frame", "y", "x"]).drop_duplicates("particle")
    mapping = {int(p): k for k, p in enumerate(first["particle"].tolist(), start=1)}
    return linked.assign(particle=linked["particle"].map(mapping).astype(np.int64))


def link_features(
    trackpy: Any, features: pd.DataFrame, *, search_range: float, memory: int, min_track_length: int = 1
) -> pd.DataFrame:
    """Link located features into trajectories (ids from 1), dropping tracks shorter than ``min_track_length``."""
    linked = trackpy.link(
        features, float(search_range), memory=memory, adaptive_stop=ADAPTIVE_STOP, adaptive_step=ADAPTIVE_STEP
    )
    if min_track_length > 1:
        linked = trackpy.filter_stubs(linked, min_track_length)
    return renumber(linked.reset_index(drop=True))
