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
from samem.io.tables import observed_rows, validate_trajectories
from samem.measure import MEASUREMENT_COLUMNS
from samem.service.records import FAILED, FINAL_STATES, RUNNING, SUCCEEDED
from samem.service.store import Store

log = logging.getLogger(__name__)


def analyse_rows(positions: pd.DataFrame, params: dict[str, Any]) -> tuple[AnalysisResult, Gaps]:
    """The analysis of a propagation job's measurement rows (``positions``) with an analysis job's ``params``.

    Positions at the frame edge are gaps unless ``params["keep_edge"]``, and so are positions whose predicted IoU
    is below ``params["min_iou"]`` when set; when the analysis then fails, the message says how many were left out.
    Returns the analysis and those gaps.
    """
    min_iou, keep_edge = params.get("min_iou"), params.get("keep_edge", False)
    observed = observed_rows(positions, keep_edge=keep_edge, min_iou=min_iou)
    inside, at_edge, doubtful = observed
    if inside.empty and at_edge and not doubtful:
        raise InputError("every tracked position touches the frame edge, so there is nothing to analyse"
                         " (keep_edge analyses them anyway)")  # fmt: skip
    if inside.empty and doubtful:
        raise InputError(f"every position left has a predicted IoU below min_iou {min_iou}, so there is nothing to"
                         " analyse")  # fmt: skip
    gaps = Gaps.of(observed, keep_edge=keep_edge, min_iou=min_iou)
    try:
        result = analyze(
            validate_trajectories(inside), px_nm=float(params["px_nm"]), fps=float(params["fps"]),
            exposure_fraction=float(params["exposure_fraction"]),
        )  # fmt: skip
    except InputError as e:
        left_out = [f"{at_edge} position(s) touching the frame edge, which keep_edge keeps"] if at_edge else []
        left_out += [f"{doubtful} position(s) with a predicted IoU below min_iou {min_iou}"] if doubtful else []
        if not left_out:
            raise
        raise InputError(f"{e}; left out as gaps: {' and '.join(left_out)}") from e
    return result, gaps


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
