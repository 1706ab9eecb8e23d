"""The targets of the evaluation issue, checked against a benchmark summary (reported, never asserted).

- samem J&F >= 90 at the lowest-noise (thinnest) liquid and >= 85 at the highest-noise (thickest) one;
- samem better than each baseline (U-Net, trackpy) on J&F and on HOTA at every thickness;
- |D error| <= 10 % for samem at every thickness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

JF_LOW_NOISE = 90.0
JF_HIGH_NOISE = 85.0
D_ERROR_PCT = 10.0
BASELINES = ("unet", "trackpy")


@dataclass(frozen=True, kw_only=True)
class GoalCheck:
    """One goal: its text, whether it passed (None: could not be checked) and the measured values."""

    goal: str
    passed: bool | None
    detail: str

    @property
    def verdict(self) -> str:
        """PASS, FAIL or NOT CHECKED."""
        return "NOT CHECKED" if self.passed is None else ("PASS" if self.passed else "FAIL")


def _value(summary: pd.DataFrame, method: str, thickness: float, key: str) -> float:
    rows = summary[(summary["method"] == method) & (summary["thickness_nm"] == thickness)]
    return float(rows[key].iloc[0]) if len(rows) else math.nan


def check_goals(summary: pd.DataFrame, method: str = "samem") -> list[GoalCheck]:
    """Check every goal for ``method`` (default samem) against the other methods in ``summary``."""
    if summary.empty or method not in set(summary["method"]):
        return [GoalCheck(goal="all goals", passed=None, detail=f"{method} was not evaluated")]
    thicknesses = sorted(set(summary["thickness_nm"]))
    checks = []
    for thickness, target, noise in ((thicknesses[0], JF_LOW_NOISE, "low"), (thicknesses[-1], JF_HIGH_NOISE, "high")):
        jf = _value(summary, method, thickness, "J&F")
        checks.append(GoalCheck(goal=f"{method} J&F >= {target:g} at {noise} noise ({thickness:g} nm)",
                                passed=jf >= target, detail=f"J&F {jf:.1f}"))  # fmt: skip
    for baseline in BASELINES:
        for key in ("J&F", "HOTA"):
            goal = f"{method} better than {baseline} on {key} at every thickness"
            if baseline not in set(summary["method"]):
                checks.append(GoalCheck(goal=goal, passed=None, detail=f"{baseline} was not evaluated"))
                continue
            pairs = [(t, _value(summary, method, t, key), _value(summary, baseline, t, key)) for t in thicknesses]
            scale = 100.0 if key == "HOTA" else 1.0  # HOTA is in [0, 1]; shown x 100 like J&F
            detail = "; ".join(f"{t:g} nm: {a * scale:.1f} vs {b * scale:.1f}" for t, a, b in pairs)
            checks.append(GoalCheck(goal=goal, passed=all(a > b for _, a, b in pairs), detail=detail))
    errors = [(t, _value(summary, method, t, "D_error_pct")) for t in thicknesses]
    checks.append(
        GoalCheck(
            goal=f"{method} |D error| <= {D_ERROR_PCT:g} % at every thickness",
            passed=all(math.isfinite(e) and abs(e) <= D_ERROR_PCT for _, e in errors),
            detail="; ".join(f"{t:g} nm: {e:+.1f} %" if math.isfinite(e) else f"{t:g} nm: n/a" for t, e in errors),
        )
    )
    return checks
