"""Run one analysis job on a worker: a finished propagation's trajectories -> ``samem analyze`` outputs in Redis."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from samem.analysis import AnalysisResult, analyze, write_analysis
from samem.analysis.positions import Gaps
from samem.errors import InputError
from samem.io.tables import GapRules, observed_rows, validate_trajectories
from samem.measure import MEASUREMENT_COLUMNS
from samem.service.records import FAILED, FINAL_STATES, RUNNING, SUCCEEDED
from samem.service.store import Store

log = logging.getLogger(__name__)


def analyse_rows(positions: pd.DataFrame, params: dict[str, Any]) -> tuple[AnalysisResult, Gaps]:
    """The analysis of a propagation job's measurement rows (``positions``) with an analysis job's ``params``.

    Positions at the frame edge are gaps unless ``params["keep_edge"]``, and so are positions whose predicted IoU
    is below ``params["min_iou"]`` or whose area differs from their particle's first by more than the factor
    ``params["max_area_change"]``, when set; when the analysis then fails, the message says how many were left
    out. Returns the analysis and those gaps.
    """
    rules = GapRules(keep_edge=params.get("keep_edge", False), min_iou=params.get("min_iou"),
                     max_area_change=params.get("max_area_change"))  # fmt: skip
    observed = observed_rows(positions, rules)
    gated = observed.doubtful + observed.resized
    if observed.rows.empty and observed.at_edge and not gated:
        raise InputError("every tracked position touches the frame edge, so there is nothing to analyse"
                         " (keep_edge analyses them anyway)")  # fmt: skip
    reasons = (
        (observed.at_edge, "touching the frame edge, which keep_edge keeps"),
        (observed.doubtful, f"with a predicted IoU below min_iou {rules.min_iou}"),
        (observed.resized, f"whose area changed by more than max_area_change {rules.max_area_change}"),
    )
    left_out = [f"{count} position(s) {why}" for count, why in reasons if count]
    if observed.rows.empty and gated:
        raise InputError(f"every position left is gated out, so there is nothing to analyse; left out as gaps:"
                         f" {' and '.join(left_out)}")  # fmt: skip
    try:
        result = analyze(
            validate_trajectories(observed.rows), px_nm=float(params["px_nm"]), fps=float(params["fps"]),
            exposure_fraction=float(params["exposure_fraction"]),
        )  # fmt: skip
    except InputError as e:
        if not left_out:
            raise
        raise InputError(f"{e}; left out as gaps: {' and '.join(left_out)}") from e
    return result, Gaps.of(observed, rules)


def run_analysis(job_id: str, *, store: Store) -> str:
    """Analyse the source job's trajectories with the job's calibration; store stats.json, tables and plots."""
    job = store.job(job_id)
    if job.state in FINAL_STATES:
        return job.state
    store.update_job(job_id, state=RUNNING)
    try:
        params = job.params
        by_frame = store.frame_rows(params["source_job"])
        rows = [row for frame in sorted(by_frame) for row in by_frame[frame]]
        positions = pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))
        result, gaps = analyse_rows(positions, params)
        with tempfile.TemporaryDirectory(prefix="samem-analysis-") as scratch:
            out = write_analysis(result, Path(scratch) / "analysis", source=f"job {params['source_job']}", gaps=gaps,
                                 positions=positions)  # fmt: skip
            files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
        stats = files.pop("stats.json", b"{}").decode()
        store.put_analysis(job_id, stats, files)
    except Exception as e:
        log.exception("analysis job %s failed", job_id)
        store.update_job(job_id, state=FAILED, error=f"{type(e).__name__}: {e}")
        return FAILED
    store.update_job(job_id, state=SUCCEEDED, frames_total=1)
    return SUCCEEDED
