"""One tracked frame as every output stores it: its measurement rows and its label image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from samem.measure import measure_frame
from samem.results.labels import masks_to_labels


@dataclass(frozen=True)
class MeasuredFrame:
    """``rows``: one :data:`samem.measure.MEASUREMENT_COLUMNS` dict per particle; ``labels``: uint16 H x W."""

    frame: int
    rows: list[dict[str, Any]]
    labels: np.ndarray

    @classmethod
    def from_masks(
        cls,
        frame: int,
        masks: np.ndarray,
        particle_ids: Sequence[int],
        *,
        logits: np.ndarray | None = None,
        scores: Sequence[float] | None = None,
        predicted_ious: Sequence[float] | None = None,
    ) -> MeasuredFrame:
        """Measure the masks (n_objects, H, W) of ``frame``; overlaps go to the larger logit."""
        rows = measure_frame(masks, frame=frame, particle_ids=particle_ids, scores=scores,
                             predicted_ious=predicted_ious)  # fmt: skip
        return cls(frame=frame, rows=rows, labels=masks_to_labels(masks, particle_ids, logits=logits))
