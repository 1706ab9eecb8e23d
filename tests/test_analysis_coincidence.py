"""Two tracks on one particle: found from positions and diameters, reported in the notes and in stats.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from test_analysis_synth import brownian, to_table

from samem.analysis.coincidence import MIN_FRAMES, Coincidence, coincident_tracks
from samem.analysis.pipeline import analyze
from samem.analysis.writer import write_analysis

PX_NM, DIAMETER_PX = 0.5, 20.0


def tracks_with_a_jump(rng: np.random.Generator, jump_frame: int, n_frames: int = 100) -> pd.DataFrame:
    """Three particles 200 px apart; from ``jump_frame`` on, track 3 reports particle 1 (with its own mask noise)."""
    xy = brownian(rng, 3, n_frames, 50.0, 0.05) + np.array([[[0.0, 0.0]], [[100.0, 0.0]], [[0.0, 100.0]]])
    xy[2, jump_frame:] = xy[0, jump_frame:] + rng.normal(0.0, 0.5, (n_frames - jump_frame, 2))
    return to_table(xy, PX_NM).assign(particle=lambda t: t.particle + 1, equivalent_diameter_px=DIAMETER_PX)


def test_a_track_that_jumps_onto_another_particle_is_found_with_its_frames() -> None:
    tracks = tracks_with_a_jump(np.random.default_rng(0), jump_frame=60)
    assert coincident_tracks(tracks) == [Coincidence(particles=(1, 3), n_frames=40, first_frame=60, last_frame=99)]
    brief = tracks_with_a_jump(np.random.default_rng(0), jump_frame=100 - (MIN_FRAMES - 1))
    assert coincident_tracks(brief) == []  # a passing overlap, not a jump


def test_touching_particles_and_tables_without_diameters_are_not_reported() -> None:
    frames = np.arange(50)
    touching = pd.DataFrame(
        {"frame": np.tile(frames, 2), "particle": np.repeat([1, 2], 50), "x": np.r_[frames * 0.3, frames * 0.3 + 12],
         "y": 40.0, "equivalent_diameter_px": np.repeat([16.0, 8.0], 50)}
    )  # fmt: skip
    assert coincident_tracks(touching) == []  # centres 12 px apart: the sum of the radii, touching
    closer = touching.assign(x=np.r_[frames * 0.3, frames * 0.3 + 3.9])
    assert coincident_tracks(closer) == [Coincidence(particles=(1, 2), n_frames=50, first_frame=0, last_frame=49)]
    assert coincident_tracks(closer.drop(columns="equivalent_diameter_px")) == []


def test_the_analysis_notes_the_pair_and_stats_json_lists_it(tmp_path: Path) -> None:
    tracks = tracks_with_a_jump(np.random.default_rng(1), jump_frame=70)
    result = analyze(tracks, px_nm=PX_NM, fps=20.0, n_bootstrap=0)
    assert result.coincident == [Coincidence(particles=(1, 3), n_frames=30, first_frame=70, last_frame=99)]
    assert any("two tracks sit on one spot: 1 and 3 on 30 frames (70-99)" in note for note in result.notes)
    stats = json.loads((write_analysis(result, tmp_path / "out") / "stats.json").read_text())
    assert stats["coincident_tracks"] == [{"particles": [1, 3], "n_frames": 30, "first_frame": 70, "last_frame": 99}]
    clean = analyze(tracks_with_a_jump(np.random.default_rng(1), jump_frame=100), px_nm=PX_NM, fps=20.0,
                    n_bootstrap=0)  # fmt: skip
    assert clean.coincident == [] and not any("two tracks" in note for note in clean.notes)


def test_a_crowded_field_of_distinct_particles_gives_no_pair() -> None:
    rng = np.random.default_rng(2)
    grid = np.stack(np.meshgrid(np.arange(20), np.arange(15)), -1).reshape(-1, 2) * 25.0 * PX_NM
    xy = brownian(rng, len(grid), 60, 0.2, 0.05) + grid[:, None, :]  # about 3 px of relative motion in 60 frames
    tracks = to_table(xy, PX_NM).assign(equivalent_diameter_px=DIAMETER_PX)  # centres 25 px apart: 5 px gaps
    assert coincident_tracks(tracks) == []
    tracks.loc[(tracks.particle == 7) & (tracks.frame >= 20), ["x", "y"]] = tracks.loc[
        (tracks.particle == 8) & (tracks.frame >= 20), ["x", "y"]
    ].to_numpy()  # one track copies its neighbour from frame 20 on
    assert coincident_tracks(tracks) == [Coincidence(particles=(7, 8), n_frames=40, first_frame=20, last_frame=59)]
