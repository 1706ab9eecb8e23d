"""An analysis job's table: absent rows and (unless kept) rows at the frame edge are gaps; errors say so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from samem.analysis.positions import Gaps
from samem.errors import InputError
from samem.measure import MEASUREMENT_COLUMNS, measure_frame
from samem.service.analysis import analyse_rows

PARAMS = {"px_nm": 0.5, "fps": 20.0, "exposure_fraction": 1.0}


def as_table(rows: list[dict]) -> pd.DataFrame:
    """Measurement rows as the worker hands them to the analysis."""
    return pd.DataFrame(rows, columns=list(MEASUREMENT_COLUMNS))


def analysed_lengths(rows: list[dict], params: dict) -> list[int]:
    """Frames per analysed particle."""
    return analyse_rows(as_table(rows), params)[0].particles["n_frames"].tolist()


def rows_of_a_particle_walking_off(n_frames: int, exit_frame: int) -> list[dict]:
    """An 8 px particle moving right 2 px a frame on a 40 x 60 frame, cut by its right edge from ``exit_frame``."""
    rows = []
    for frame in range(n_frames):
        mask = np.zeros((1, 40, 60), bool)
        x0 = 10 + 2 * frame if frame < exit_frame else 56
        mask[0, 16:24, x0 : x0 + 8] = True
        rows += measure_frame(mask, frame=frame, particle_ids=[1], scores=[0.9], predicted_ious=[0.85])
    return rows


def test_positions_at_the_edge_are_gaps_unless_kept() -> None:
    rows = rows_of_a_particle_walking_off(20, exit_frame=15)
    assert [r["at_edge"] for r in rows] == [False] * 15 + [True] * 5
    result, gaps = analyse_rows(as_table(rows), PARAMS)
    assert result.particles["n_frames"].tolist() == [15]
    assert gaps == Gaps(keep_edge=False, at_edge=5, min_iou=None, doubtful=0)
    assert analysed_lengths(rows, PARAMS | {"keep_edge": True}) == [20]


def test_a_failure_after_leaving_out_edge_positions_says_how_many() -> None:
    rows = rows_of_a_particle_walking_off(12, exit_frame=5)
    with pytest.raises(InputError, match=r"at least 10 frames .*; left out as gaps: 7 position\(s\) touching the"):
        analyse_rows(as_table(rows), PARAMS)
    assert analysed_lengths(rows, PARAMS | {"keep_edge": True}) == [12]
    with pytest.raises(InputError, match="every tracked position touches the frame edge"):
        analyse_rows(as_table(rows[5:]), PARAMS)
    with pytest.raises(InputError, match=r"no particle has at least 10 frames \(longest: 5\)$"):
        analyse_rows(as_table(rows[:5]), PARAMS)  # nothing left out: the analysis's own message


def test_positions_below_min_iou_are_gaps_and_a_failure_says_how_many() -> None:
    rows = rows_of_a_particle_walking_off(20, exit_frame=20)
    for row in rows[12:]:
        row["predicted_iou"] = 0.3  # the mask slid off the particle
    assert analysed_lengths(rows, PARAMS | {"min_iou": None}) == [20]
    result, gaps = analyse_rows(as_table(rows), PARAMS | {"min_iou": 0.5})
    assert result.particles["n_frames"].tolist() == [12]
    assert gaps == Gaps(keep_edge=False, at_edge=0, min_iou=0.5, doubtful=8)
    for row in rows[6:12]:
        row["predicted_iou"] = 0.4
    with pytest.raises(InputError, match=r"at least 10 frames .*: 14 position\(s\) with a predicted IoU below min_iou"):
        analyse_rows(as_table(rows), PARAMS | {"min_iou": 0.5})
    with pytest.raises(InputError, match=r"every position left is gated out, .*: 14 position\(s\) with a predicted "
                                         r"IoU below min_iou 0\.5$"):  # fmt: skip
        analyse_rows(as_table(rows[6:]), PARAMS | {"min_iou": 0.5})


def test_positions_whose_area_changed_are_gaps_with_max_area_change() -> None:
    rows = rows_of_a_particle_walking_off(20, exit_frame=20)
    for row in rows[14:]:
        row["area_px"] /= 4  # the mask shrank to a sliver
    assert analysed_lengths(rows, PARAMS) == [20]
    result, gaps = analyse_rows(as_table(rows), PARAMS | {"max_area_change": 2.0})
    assert result.particles["n_frames"].tolist() == [14]
    assert gaps == Gaps(keep_edge=False, at_edge=0, min_iou=None, doubtful=0, max_area_change=2.0, resized=6)
    for row in rows[8:14]:
        row["area_px"] *= 2.5
    with pytest.raises(InputError, match=r"at least 10 frames .*: 12 position\(s\) whose area changed by more than "
                                         r"max_area_change 2\.0$"):  # fmt: skip
        analyse_rows(as_table(rows), PARAMS | {"max_area_change": 2.0})
