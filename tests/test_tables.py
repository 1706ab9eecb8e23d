"""samem.io.tables: reading and validating trajectory tables, as ``samem analyze`` reads them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from samem.analysis.positions import analysed_positions
from samem.errors import InputError
from samem.io.tables import TRACK_COLUMNS, GapRules, observed_rows, read_trajectory_csv, validate_trajectories


def read_for_analysis(path: Path) -> pd.DataFrame:
    """The positions ``samem analyze`` takes from the CSV at ``path`` (default gap rules)."""
    return analysed_positions(read_trajectory_csv(path), GapRules(), name=str(path))[0]


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "t.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_reads_sorts_and_keeps_extra_columns(tmp_path: Path) -> None:
    path = write(tmp_path, " frame , particle,x,y,mass\n3,2,1.5,2.5,10\n1,2,0.5,0.5,11\n0,1,9,9,12\n")
    table = read_for_analysis(path)
    assert list(table.columns) == [*TRACK_COLUMNS, "mass"]
    assert table[["particle", "frame"]].to_numpy().tolist() == [[1, 0], [2, 1], [2, 3]]
    assert table["frame"].dtype == np.int64 and table["particle"].dtype == np.int64
    assert table["x"].dtype == float and table["mass"].tolist() == [12, 11, 10]


def test_integral_floats_accepted_for_ids() -> None:
    table = validate_trajectories(pd.DataFrame({"frame": [0.0, 1.0], "particle": [4.0, 4.0], "x": [1, 2], "y": [3, 4]}))
    assert table["frame"].tolist() == [0, 1] and table["x"].dtype == float


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frame,particle,x\n0,1,2\n", "lacks column"),
        ("frame,particle,x,y\n0,1,2,3\n1,1,abc,3\n", "non-numeric value 'abc' at data row 2"),
        ("frame,particle,x,y\n0,1,2,3\n1,1,,3\n", "empty or NaN at data row 2"),
        ("frame,particle,x,y\n0,1,2,3\n1,1,NaN,3\n", "empty or NaN"),
        ("frame,particle,x,y\n0,1,inf,3\n", "infinite"),
        ("frame,particle,x,y\n0.5,1,2,3\n", "must hold integers"),
        ("frame,particle,x,y\n0,1.2,2,3\n", "must hold integers"),
        ("frame,particle,x,y\n-1,1,2,3\n", "frame numbers must be >= 0"),
        ("frame,particle,x,y\n0,1,2,3\n0,1,2,4\n", "duplicate row for frame 0 and particle 1 at data row 2"),
        ("frame,particle,x,y\n", "no particle is present on any frame"),
        ("", "is empty"),
        ("\n\n", "is empty"),
    ],
)
def test_bad_tables_rejected_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        read_for_analysis(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_for_analysis(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="not a file"):
        read_for_analysis(tmp_path)


def test_unreadable_bytes(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        read_for_analysis(write(tmp_path, b"frame,particle,x,y\n0,1,\xff\xfe,3\n"))
    assert "\n" not in str(info.value)


def test_validate_refuses_a_table_without_rows() -> None:
    with pytest.raises(InputError, match="trajectory table has no rows"):
        validate_trajectories(pd.DataFrame(columns=list(TRACK_COLUMNS)))


def test_validate_does_not_modify_input() -> None:
    raw = pd.DataFrame({"frame": [1, 0], "particle": [0, 0], "x": [1.0, 2.0], "y": [0.0, 0.0]})
    before = raw.copy()
    out = validate_trajectories(raw)
    pd.testing.assert_frame_equal(raw, before)
    assert out["frame"].tolist() == [0, 1]


def test_rows_marked_absent_are_gaps_not_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("frame,particle,x,y,present\n0,1,1.0,2.0,True\n1,1,,,False\n2,1,3.0,4.0,True\n")
    table = read_for_analysis(path)
    assert table["frame"].tolist() == [0, 2]


def test_present_column_with_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("frame,particle,x,y,present\n0,1,1.0,2.0,maybe\n")
    with pytest.raises(InputError, match="column 'present' must be true or false"):
        read_for_analysis(path)


def test_rows_at_the_frame_edge_are_gaps_and_a_table_without_the_column_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "frame,particle,x,y,present,at_edge\n0,1,1.0,2.0,True,False\n1,1,0.4,2.0,True,True\n2,1,,,False,False\n"
        "3,1,3.0,4.0,true,0\n0,2,9.0,9.0,1,1\n1,2,8.0,9.0,1,0\n2,2,7.0,9.0,1,\n"
    )
    table = read_for_analysis(path)
    assert list(zip(table["particle"], table["frame"], strict=True)) == [(1, 0), (1, 3), (2, 1), (2, 2)]
    path.write_text("frame,particle,x,y\n0,1,1.0,2.0\n1,1,0.4,2.0\n")
    assert read_for_analysis(path)["frame"].tolist() == [0, 1]


def test_at_edge_column_with_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("frame,particle,x,y,at_edge\n0,1,1.0,2.0,edge\n")
    with pytest.raises(InputError, match="column 'at_edge' must be true or false, found 'edge' at data row 1"):
        read_for_analysis(path)


def test_positions_whose_area_left_their_first_by_a_factor_are_gaps_under_max_area_change() -> None:
    table = pd.DataFrame({
        "frame": [0, 1, 2, 3, 4, 0, 1, 2, 3],
        "particle": [1, 1, 1, 1, 1, 2, 2, 2, 2],
        "area_px": [40.0, 100.0, 210.0, 49.0, None, 30.0, 100.0, 59.0, 14.0],
        "at_edge": [True, False, False, False, False, False, False, False, False],
        "present": [True, True, True, True, True, True, False, True, True],
    })  # fmt: skip
    # particle 1's first area not cut by the edge is frame 1's (100); particle 2's is frame 0's (30)
    observed = observed_rows(table, GapRules(keep_edge=True, max_area_change=2.0))
    assert observed.rows.index.tolist() == [1, 4, 5, 7]  # 40, 210, 49 and 14 are over 2 x off; a blank area stays
    assert (observed.at_edge, observed.doubtful, observed.resized) == (0, 0, 4)
    assert observed_rows(table, GapRules(max_area_change=2.0)).resized == 3  # the edge row was a gap already
    assert observed_rows(table, GapRules(keep_edge=True)).rows.index.tolist() == [0, 1, 2, 3, 4, 5, 7, 8]
    assert observed_rows(table.drop(columns="area_px"), GapRules(max_area_change=1.1)).resized == 0
    with pytest.raises(InputError, match="'area_px' must hold numbers"):
        observed_rows(table.assign(area_px="big"), GapRules(max_area_change=2.0))
