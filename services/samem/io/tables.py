"""The trajectory table: trackpy-compatible CSV with columns frame, particle, x, y (extra columns kept)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from samem.errors import InputError

TRACK_COLUMNS = ("frame", "particle", "x", "y")


def read_trajectory_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The CSV at ``path`` as read, not yet checked; InputError for a missing, empty or unreadable file.

    :func:`observed_rows` then takes the gaps out and :func:`validate_trajectories` checks the rest (``samem analyze``
    does both through :func:`samem.analysis.positions.analysed_positions`).
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"trajectory file {str(source)!r} does not exist or is not a file")
    try:
        table = pd.read_csv(source)
    except pd.errors.EmptyDataError as e:
        raise InputError(f"trajectory file {str(source)!r} is empty") from e
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(f"trajectory file {str(source)!r} is not a readable CSV: {str(e).splitlines()[0]}") from e
    return table


@dataclass(frozen=True, kw_only=True)
class GapRules:
    """Which present positions an analysis takes as gaps besides the absent ones (README, Analyse trajectories).

    ``keep_edge`` keeps positions cut by the frame edge (:func:`drop_edge_rows`); ``min_iou`` takes positions whose
    predicted IoU is below it as gaps (:func:`drop_doubtful_rows`), ``max_area_change`` those whose area differs from
    their particle's first one by more than that factor (:func:`drop_resized_rows`); None: no such rule.
    """

    keep_edge: bool = False
    min_iou: float | None = None
    max_area_change: float | None = None


class Observed(NamedTuple):
    """The rows that are observations, and how many present rows were left out as gaps, and why."""

    rows: pd.DataFrame
    at_edge: int  # cut by the frame edge
    doubtful: int  # predicted IoU below min_iou (of those not at the edge)
    resized: int  # area changed by more than max_area_change (of those left)


def observed_rows(table: pd.DataFrame, rules: GapRules = GapRules()) -> Observed:
    """The rows that are observations, and how many present rows each of ``rules`` left out as gaps.

    Absent rows (:func:`drop_absent_rows`) are always gaps; the rules apply in the order edge, predicted IoU, area.
    """
    present = drop_absent_rows(table)
    inside = present if rules.keep_edge else drop_edge_rows(present)
    confident = drop_doubtful_rows(inside, rules.min_iou)
    observed = confident
    if rules.max_area_change is not None:
        observed = drop_resized_rows(confident, rules.max_area_change, reference=first_areas(present))
    return Observed(observed, at_edge=len(present) - len(inside), doubtful=len(inside) - len(confident),
                    resized=len(confident) - len(observed))  # fmt: skip


def drop_absent_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Remove the rows that a ``present`` column marks as false (accepts booleans, 0/1 and true/false text)."""
    return table if "present" not in table.columns else table[_flags(table, "present")]


def drop_edge_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Remove the rows that an ``at_edge`` column marks as true: particles cut by the frame edge.

    Their centroids lie inward of the particles' centres (:mod:`samem.measure`), so the analysis takes them as
    gaps, as trackpy's ``locate`` drops features within a margin of the image edge. A blank cell (rows measured
    before the column existed) keeps its row, as a table without the column keeps all.
    """
    if "at_edge" not in table.columns:
        return table
    return table[~_flags(table.assign(at_edge=table["at_edge"].fillna(False)), "at_edge")]


def drop_doubtful_rows(table: pd.DataFrame, min_iou: float | None) -> pd.DataFrame:
    """Remove the rows whose ``predicted_iou`` (the model's estimate of the mask's IoU) is below ``min_iou``.

    Masks that have slid onto a neighbour or stayed behind a particle that left the field have low predicted IoU;
    taken as gaps, their positions no longer inflate the MSD (README, Analyse trajectories). ``min_iou`` None, a
    table without the column and blank cells keep every row. InputError if the column is not numeric.
    """
    if min_iou is None or "predicted_iou" not in table.columns:
        return table
    values = pd.to_numeric(table["predicted_iou"], errors="coerce")
    if values.isna().sum() > table["predicted_iou"].isna().sum():
        raise InputError("column 'predicted_iou' must hold numbers (the model's predicted IoU of each mask)")
    return table[~(values < min_iou)]


def first_areas(present: pd.DataFrame) -> pd.Series:
    """Each particle's ``area_px`` at its first present position not cut by the frame edge (else its first one).

    For samem's tables that is the mask decoded from the particle's prompt. Empty without an ``area_px`` column.
    """
    if "area_px" not in present.columns or present.empty:
        return pd.Series(dtype=float)
    ordered = present.sort_values("frame", kind="stable")
    inside = drop_edge_rows(ordered)
    first = ordered.groupby("particle")["area_px"].first()
    return inside.groupby("particle")["area_px"].first().reindex(first.index).fillna(first)


def drop_resized_rows(table: pd.DataFrame, max_area_change: float, *, reference: pd.Series) -> pd.DataFrame:
    """Remove the rows whose ``area_px`` differs from their particle's ``reference`` area by more than a factor.

    A particle keeps its size from frame to frame; a mask that shrank onto part of it, slid onto a neighbour of
    another size or stayed behind as a sliver after it left does not (README, Analyse trajectories). Rows whose
    area is outside [reference / max_area_change, reference * max_area_change] are removed; a table without the
    column, blank cells and particles without a reference keep their rows. InputError if the column is not numeric.
    """
    if "area_px" not in table.columns:
        return table
    area = pd.to_numeric(table["area_px"], errors="coerce")
    if area.isna().sum() > table["area_px"].isna().sum():
        raise InputError("column 'area_px' must hold numbers (the mask's area in pixels)")
    ref = pd.to_numeric(table["particle"].map(reference), errors="coerce")
    ratio = area.clip(lower=1.0) / ref.clip(lower=1.0)
    resized = (ratio > max_area_change) | (ratio < 1.0 / max_area_change)
    return table[~resized.fillna(False).to_numpy(bool)]


def _flags(table: pd.DataFrame, column: str) -> np.ndarray:
    """A boolean column as booleans (accepts booleans, 0/1 and true/false text); InputError on anything else."""
    flags = table[column].astype(str).str.strip().str.lower()
    unknown = ~flags.isin(["true", "false", "1", "0", "1.0", "0.0"])
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        value = table[column].iloc[row]
        raise InputError(f"column {column!r} must be true or false, found {value!r} at data row {row + 1}")
    return flags.isin(["true", "1", "1.0"]).to_numpy()


def validate_trajectories(table: pd.DataFrame, *, name: str = "trajectory table") -> pd.DataFrame:
    """Check a trajectory table and return a copy with integer frame/particle, float x/y, sorted by particle, frame."""
    table = table.rename(columns=lambda c: str(c).strip())
    missing = [c for c in TRACK_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            f"{name} lacks column(s) {', '.join(missing)}; required are {', '.join(TRACK_COLUMNS)}"
            f" (found: {', '.join(map(str, table.columns)) or 'none'})"
        )
    if table.empty:
        raise InputError(f"{name} has no rows")
    table = table.copy()
    for column in TRACK_COLUMNS:
        numeric = pd.to_numeric(table[column], errors="coerce")
        bad = numeric.isna() & table[column].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{name}: column {column!r} has non-numeric value {table[column].iloc[row]!r} at data row {row + 1}"
            )
        if numeric.isna().any():
            row = int(np.flatnonzero(numeric.isna().to_numpy())[0])
            raise InputError(f"{name}: column {column!r} is empty or NaN at data row {row + 1}")
        values = numeric.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values))[0])
            raise InputError(f"{name}: column {column!r} is infinite at data row {row + 1}")
        if column in ("frame", "particle"):
            if (values != np.round(values)).any():
                row = int(np.flatnonzero(values != np.round(values))[0])
                raise InputError(
                    f"{name}: column {column!r} must hold integers, found {values[row]!r} at data row {row + 1}"
                )
            table[column] = values.astype(np.int64)
        else:
            table[column] = values
    if (table["frame"] < 0).any():
        raise InputError(f"{name}: frame numbers must be >= 0")
    duplicated = table.duplicated(subset=["frame", "particle"])
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise InputError(
            f"{name}: duplicate row for frame {table['frame'].iloc[row]} and particle {table['particle'].iloc[row]}"
            f" at data row {row + 1}; each particle may appear once per frame"
        )
    return table.sort_values(["particle", "frame"], kind="stable").reset_index(drop=True)
