"""The scoring of ``bench/bench_crowded.py``: per-particle J and leftover frames, and the per-video analysis."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_crowded import analysis_checks, kept_by_gates, particle_scores, row_j

PX_NM, FPS, D_NM2_S = 0.5, 20.0, 50.0


def test_particle_scores_count_j_in_view_and_leftover_masks() -> None:
    truth = np.zeros((4, 8, 8), np.uint16)
    truth[:2, 2:4, 2:4] = 1  # in view on frames 0-1 (4 px), out of view on 2-3
    masks = np.zeros_like(truth)
    masks[0, 2:4, 2:4] = 1  # exact
    masks[1, 2:4, 2:5] = 1  # 4 of 6 px
    masks[3, 0, 0] = 1  # left behind after the particle went
    (row,) = particle_scores(masks, truth)
    assert row["J_in_view"] == pytest.approx((1 + 4 / 6) / 2)
    assert row["J_all"] == pytest.approx((1 + 4 / 6 + 1 + 0) / 4)
    assert (row["frames_out"], row["leftover"]) == (2, 1)


def _brownian(particles: int, frames: int, rng: np.random.Generator) -> pd.DataFrame:
    step_px = np.sqrt(2 * D_NM2_S / FPS) / PX_NM
    rows = []
    for particle in range(1, particles + 1):
        xy = np.array([150.0 * particle, 200.0]) + np.cumsum(rng.normal(0, step_px, (frames, 2)), axis=0)
        rows += [{"frame": t, "particle": particle, "x": x, "y": y, "equivalent_diameter_px": 30.0,
                  "area_px": 700.0, "present": True, "at_edge": False, "predicted_iou": 0.9}
                 for t, (x, y) in enumerate(xy)]  # fmt: skip
    return pd.DataFrame(rows)


def test_analysis_checks_recover_the_simulated_d_and_flag_a_duplicated_track() -> None:
    meta = {"px_nm": PX_NM, "fps": FPS, "particles": [{"D_nm2_s": D_NM2_S}] * 6}
    tracks = _brownian(6, 400, np.random.default_rng(3))
    checks = analysis_checks(tracks, meta)
    assert checks["D_ratio"] == pytest.approx(1.0, abs=0.1)  # 2,400 steps: relative error of D about 3 %
    assert (checks["pairs"], checks["D_differ"]) == (0, False)

    copy = tracks[tracks.particle == 1].assign(particle=7, x=lambda t: t.x + 1.0)  # a mask that jumped onto 1
    assert analysis_checks(pd.concat([tracks, copy]), meta)["pairs"] == 1

    edge = (tracks.particle == 2) & (tracks.frame % 2 == 0)  # centroids cut by the frame edge: gaps, not steps
    cut = tracks.assign(x=tracks.x.where(~edge, tracks.x - 40.0), at_edge=edge)
    assert analysis_checks(cut, meta)["D_ratio"] == pytest.approx(analysis_checks(tracks[~edge], meta)["D_ratio"])

    slid = (tracks.particle == 3) & (tracks.frame >= 200)  # a mask that slid onto a neighbour: a jump, low IoU
    wrong = tracks.assign(x=tracks.x.where(~slid, tracks.x + 150.0), predicted_iou=np.where(slid, 0.3, 0.9))
    checks = analysis_checks(wrong, meta)
    assert checks["D_iou0.6"] == pytest.approx(analysis_checks(tracks[~slid], meta)["D_ratio"])
    assert checks["D_ratio"] > checks["D_iou0.6"] and checks["D_iou0.6"] == checks["D_iou0.5"]
    assert checks["D_area2"] == checks["D_ratio"]  # the slid mask kept its area

    shrunk = (tracks.particle == 4) & (tracks.frame >= 100)  # a sliver on a neighbour: a jump and a tenth the area
    small = tracks.assign(x=tracks.x.where(~shrunk, tracks.x + 150.0), area_px=np.where(shrunk, 70.0, 700.0))
    checks = analysis_checks(small, meta)
    assert checks["D_area2"] == pytest.approx(analysis_checks(tracks[~shrunk], meta)["D_ratio"])
    assert checks["D_ratio"] > checks["D_area2"] and checks["D_area3"] == checks["D_area2"]


def test_row_j_and_kept_by_gates_count_good_and_bad_positions_above_each_gate() -> None:
    truth = np.zeros((2, 6, 6), np.uint16)
    truth[:, 1:3, 1:3] = 1
    masks = np.zeros_like(truth)
    masks[0, 1:3, 1:3] = 1  # exact: J 1
    masks[1, 4:6, 4:6] = 1  # elsewhere: J 0
    table = pd.DataFrame({"frame": [0, 1], "particle": [1, 1], "present": [True, True], "predicted_iou": [0.9, 0.55],
                          "area_px": [4.0, 10.0], "at_edge": [False, True]})  # fmt: skip
    j = row_j(table, masks, truth)
    assert j.tolist() == [1.0, 0.0]
    counts = kept_by_gates(table, j)
    assert (counts["n_all"], counts["n_good"], counts["n_bad"]) == (2, 1, 1)
    gated = (counts["n_all_iou0.5"], counts["n_bad_iou0.5"], counts["n_bad_iou0.6"], counts["n_good_iou0.8"])
    assert gated == (2, 1, 0, 1)  # each gate alone: the position at the edge counts
    assert (counts["n_bad_area2"], counts["n_bad_area3"], counts["n_good_area1.5"]) == (0, 1, 1)  # 2.5 x the first
