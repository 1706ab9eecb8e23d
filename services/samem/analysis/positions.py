"""Which tracked positions an analysis takes: gaps at the frame edge, where the model doubts its mask, where it resized.

``samem analyze`` and ``samem track --analyze`` both go through :func:`analysed_positions`, which prints how many
positions each rule left out as gaps and refuses with one line when none is left; :class:`Gaps` records the rules
and the counts in stats.json and the report (the service's analysis jobs record them too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from samem.errors import InputError
from samem.io.tables import GapRules, Observed, observed_rows, validate_trajectories


@dataclass(frozen=True, kw_only=True)
class Gaps:
    """What an analysis left out of its trajectories as gaps, and by which rules (stats.json ``gaps``)."""

    keep_edge: bool
    at_edge: int  # present positions cut by the frame edge, left out unless keep_edge
    min_iou: float | None  # the predicted-IoU gate (None: none)
    doubtful: int  # positions with predicted IoU below min_iou, left out
    max_area_change: float | None = None  # the area gate (None: none)
    resized: int = 0  # positions whose area changed by more than max_area_change, left out

    @classmethod
    def of(cls, observed: Observed, rules: GapRules) -> Gaps:
        """The gaps of ``observed_rows(..., rules)``."""
        return cls(
            keep_edge=rules.keep_edge, at_edge=observed.at_edge, min_iou=rules.min_iou, doubtful=observed.doubtful,
            max_area_change=rules.max_area_change, resized=observed.resized,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    def left_out(self) -> list[str]:
        """The count of positions each applied rule left out, in words (rules not applied are not named)."""
        left = [] if self.keep_edge else [f"{self.at_edge} cut by the frame edge"]
        if self.min_iou is not None:
            left.append(f"{self.doubtful} with predicted IoU below {self.min_iou:g}")
        if self.max_area_change is not None:
            left.append(f"{self.resized} whose area changed by more than {self.max_area_change:g}×")
        return left

    def sentence(self) -> str:
        """One sentence for the report."""
        left = self.left_out()
        text = f"Positions left out as gaps: {', '.join(left)}." if left else "No position left out as a gap."
        return text + (" Positions cut by the frame edge kept." if self.keep_edge else "")


def analysed_positions(
    table: pd.DataFrame, rules: GapRules, *, name: str, hint: str = ""
) -> tuple[pd.DataFrame, Gaps]:
    """The validated positions of ``table`` to analyse and the gaps ``rules`` left out, which it prints.

    InputError with one line when no position remains; ``name`` names the table in messages, ``hint`` ends each
    refusal (e.g. where the tracking results are).
    """
    observed = observed_rows(table, rules)
    gated = observed.doubtful + observed.resized
    if observed.rows.empty and not observed.at_edge and not gated:
        raise InputError(f"no particle is present on any frame of {name}, so there is nothing to analyse{hint}")
    if observed.at_edge:
        print(f"analysis: {observed.at_edge} position(s) of particles cut by the frame edge left out as gaps (their"
              " centroids are biased inward; at_edge in trajectories.csv)")  # fmt: skip
    if observed.rows.empty and not gated:
        raise InputError(f"every tracked position touches the frame edge, so there is nothing to analyse{hint};"
                         " --keep-edge analyses them anyway")  # fmt: skip
    if observed.doubtful:
        print(f"analysis: {observed.doubtful} position(s) with predicted_iou below {rules.min_iou} left out as gaps")
    if observed.resized:
        print(f"analysis: {observed.resized} position(s) whose area differs from their particle's first by more than"
              f" {rules.max_area_change}x left out as gaps")  # fmt: skip
    if observed.rows.empty:
        reasons, options = [], []
        if observed.doubtful:
            reasons, options = [f"predicted_iou below {rules.min_iou}"], ["lower --min-iou"]
        if observed.resized:
            reasons.append(f"an area more than {rules.max_area_change}x off its particle's first")
            options.append("raise --max-area-change")
        raise InputError(f"every position left has {' or '.join(reasons)}, so there is nothing to analyse{hint};"
                         f" {' or '.join(options)}")  # fmt: skip
    return validate_trajectories(observed.rows, name=name), Gaps.of(observed, rules)
