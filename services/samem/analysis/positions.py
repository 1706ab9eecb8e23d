"""Which tracked positions an analysis takes: gaps at the frame edge and where the model doubts its mask.

``samem analyze`` and ``samem track --analyze`` both go through :func:`analysed_positions`, which prints how many
positions each rule left out as gaps and refuses with one line when none is left; :class:`Gaps` records the rules
and the counts in stats.json and the report (the service's analysis jobs record them too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from samem.errors import InputError
from samem.io.tables import Observed, observed_rows, validate_trajectories


@dataclass(frozen=True, kw_only=True)
class Gaps:
    """What an analysis left out of its trajectories as gaps, and by which rules (stats.json ``gaps``)."""

    keep_edge: bool
    at_edge: int  # present positions cut by the frame edge, left out unless keep_edge
    min_iou: float | None  # the predicted-IoU gate (None: none)
    doubtful: int  # positions with predicted IoU below min_iou, left out

    @classmethod
    def of(cls, observed: Observed, *, keep_edge: bool, min_iou: float | None) -> Gaps:
        """The gaps of ``observed_rows(..., keep_edge=keep_edge, min_iou=min_iou)``."""
        return cls(keep_edge=keep_edge, at_edge=observed.at_edge, min_iou=min_iou, doubtful=observed.doubtful)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    def sentence(self) -> str:
        """One sentence for the report."""
        edge = "kept" if self.keep_edge else f"{self.at_edge} left out as gaps"
        gate = (
            "no predicted-IoU gate" if self.min_iou is None
            else f"{self.doubtful} with predicted IoU below {self.min_iou} left out as gaps"
        )  # fmt: skip
        return f"Positions cut by the frame edge: {edge}; {gate}."


def analysed_positions(
    table: pd.DataFrame, *, keep_edge: bool, min_iou: float | None, name: str, hint: str = ""
) -> tuple[pd.DataFrame, Gaps]:
    """The validated positions of ``table`` to analyse and the gaps left out, which it prints.

    InputError with one line when no position remains; ``name`` names the table in messages, ``hint`` ends each
    refusal (e.g. where the tracking results are).
    """
    observed = observed_rows(table, keep_edge=keep_edge, min_iou=min_iou)
    if observed.rows.empty and not observed.at_edge and not observed.doubtful:
        raise InputError(f"no particle is present on any frame of {name}, so there is nothing to analyse{hint}")
    if observed.at_edge:
        print(f"analysis: {observed.at_edge} position(s) of particles cut by the frame edge left out as gaps (their"
              " centroids are biased inward; at_edge in trajectories.csv)")  # fmt: skip
    if observed.rows.empty and not observed.doubtful:
        raise InputError(f"every tracked position touches the frame edge, so there is nothing to analyse{hint};"
                         " --keep-edge analyses them anyway")  # fmt: skip
    if observed.doubtful:
        print(f"analysis: {observed.doubtful} position(s) with predicted_iou below {min_iou} left out as gaps")
    if observed.rows.empty:
        raise InputError(f"every position left has predicted_iou below {min_iou}, so there is nothing to"
                         f" analyse{hint}; lower --min-iou")  # fmt: skip
    gaps = Gaps.of(observed, keep_edge=keep_edge, min_iou=min_iou)
    return validate_trajectories(observed.rows, name=name), gaps
