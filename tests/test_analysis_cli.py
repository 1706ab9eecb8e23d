"""``samem analyze``: outputs, and bad input giving exit code 2, one line on stderr and no output left behind."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_analysis_synth import brownian, lagging, to_table

from samem.analysis.plots import confidence_figure
from samem.analysis.writer import CONFIDENCE_FIGURE, OUTPUT_FILES
from samem.cli import main


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse rejects bad option values this way
        return int(e.code)


@pytest.fixture(scope="module")
def good_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    xy = brownian(rng, 30, 80, 200.0, 0.1, sigma_nm=2.0)
    path = tmp_path_factory.mktemp("in") / "tracks.csv"
    to_table(xy, 1.5, keep=rng.random((30, 80)) > 0.1).assign(mass=1.0).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def analysed(good_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("out") / "result"
    code = main(["analyze", str(good_csv), "--px-nm", "1.5", "--fps", "10", "--out", str(out), "--max-lag", "30",
                 "--vanhove-lags", "1,3", "--exposure-fraction", "0"])
    assert code == 0
    return out, ""


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_all_outputs_written(analysed: tuple[Path, str]) -> None:
    out, _ = analysed
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    stats = json.loads((out / "stats.json").read_text())
    assert {"input", "units", "parameters", "n_particles", "ensemble", "drift", "vanhove", "vacf", "particles"} <= set(
        stats
    )
    assert set(stats["ensemble"]) == {"msd_fit", "cve", "alpha_fit"}
    for method in stats["ensemble"].values():
        assert "method" in method and "uncertainty" in method
    assert stats["units"]["D"] == "nm^2/s"
    assert [v["lag_frames"] for v in stats["vanhove"]] == [1, 3]
    assert {"D_cve_nm2_s", "D_cve_err_nm2_s", "alpha", "alpha_err", "sigma_msd_nm"} <= set(stats["particles"][0])
    assert stats["n_particles"] == len(stats["particles"]) > 0
    import pandas as pd

    msd = pd.read_csv(out / "msd.csv")
    assert list(msd.columns[:4]) == ["lag_frames", "lag_s", "msd_nm2", "n_pairs"]
    assert msd["lag_frames"].tolist() == list(range(1, 31))
    assert sorted(pd.read_csv(out / "vanhove.csv")["lag_frames"].unique()) == [1, 3]
    assert pd.read_csv(out / "vacf.csv")["vacf_normalised"].iloc[0] == 1.0


def test_report_embeds_every_plot(analysed: tuple[Path, str]) -> None:
    out, _ = analysed
    html = (out / "report.html").read_text(encoding="utf-8")
    for png in sorted(out.glob("*.png")):
        data = png.read_bytes()
        width, height = png_size(data)
        assert 400 <= width <= 3000 and 300 <= height <= 2000, (png.name, width, height)
        assert png.name in html
        assert base64.b64encode(data).decode("ascii") in html
    assert "nm²/s" in html and "Vestergaard" in html and "<table>" in html


def test_summary_printed(good_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "existing"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["analyze", str(good_csv), "--px-nm", "1.5", "--fps", "10", "--out", str(out), "--max-lag", "10",
                 "--vanhove-lags", "1", "--subtract-drift"]) == 0
    text = capsys.readouterr().out
    assert "D (CVE)" in text and "alpha" in text and "sigma" in text and "particles analysed: 30" in text
    assert (out / "keep.txt").read_text() == "mine" and (out / "stats.json").is_file()
    assert "note:" not in text and json.loads((out / "stats.json").read_text())["notes"] == []


def test_lagging_tracks_get_a_note_in_every_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Positions that follow the particle only part of the way each frame break the CVE's assumption: say so."""
    rng = np.random.default_rng(3)
    xy = lagging(brownian(rng, 40, 150, 200.0, 0.1), 0.6)
    path = tmp_path / "lagging.csv"
    to_table(xy, 1.5).to_csv(path, index=False)
    out = tmp_path / "result"
    assert main(["analyze", str(path), "--px-nm", "1.5", "--fps", "10", "--out", str(out), "--max-lag", "10",
                 "--vanhove-lags", "1"]) == 0
    assert "note: displacements 2 frames apart correlate" in capsys.readouterr().out
    stats = json.loads((out / "stats.json").read_text())
    assert len(stats["notes"]) == 1 and stats["ensemble"]["cve"]["independent_errors_rejected"] is True
    assert "Note: displacements 2 frames apart correlate" in (out / "report.html").read_text(encoding="utf-8")


BAD_TABLES = {
    "missing_column": "frame,particle,x\n0,1,2.0\n",
    "non_numeric": "frame,particle,x,y\n0,1,2.0,3.0\n1,1,abc,3.0\n",
    "nan": "frame,particle,x,y\n0,1,2.0,3.0\n1,1,,3.0\n",
    "duplicate": "frame,particle,x,y\n0,1,2.0,3.0\n0,1,2.5,3.0\n",
    "empty": "",
    "header_only": "frame,particle,x,y\n",
}


def assert_clean_failure(code: int, err: str) -> None:
    assert code == 2
    lines = [line for line in err.strip().splitlines() if not line.startswith(("usage:", " "))]
    assert len(lines) == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", sorted(BAD_TABLES))
def test_bad_table(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.csv"
    src.write_text(BAD_TABLES[name])
    out = tmp_path / "out"
    code = run_cli(["analyze", str(src), "--px-nm", "1", "--fps", "1", "--out", str(out)])
    assert_clean_failure(code, capsys.readouterr().err)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no staging directory left either


@pytest.mark.parametrize(
    "option", [["--px-nm", "0", "--fps", "1"], ["--px-nm", "-2", "--fps", "1"], ["--px-nm", "1", "--fps", "0"],
               ["--px-nm", "1", "--fps", "nan"], ["--px-nm", "1", "--fps", "1", "--exposure-fraction", "2"],
               ["--px-nm", "1", "--fps", "1", "--vanhove-lags", "0,2"]],
)
def test_bad_numbers(option: list[str], good_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = run_cli(["analyze", str(good_csv), *option, "--out", str(out)])
    assert_clean_failure(code, capsys.readouterr().err)
    assert not out.exists()


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["analyze", str(tmp_path / "nope.csv"), "--px-nm", "1", "--fps", "1", "--out", str(tmp_path / "o")])
    assert_clean_failure(code, capsys.readouterr().err)


def test_output_under_a_file(good_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = run_cli(["analyze", str(good_csv), "--px-nm", "1", "--fps", "1", "--out", str(blocker / "out")])
    assert_clean_failure(code, capsys.readouterr().err)
    assert blocker.read_text() == "x"


def test_output_in_unwritable_filesystem(good_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["analyze", str(good_csv), "--px-nm", "1", "--fps", "1", "--out", "/proc/samem-test-out",
                    "--max-lag", "5", "--vanhove-lags", "1"])
    assert_clean_failure(code, capsys.readouterr().err)
    assert not Path("/proc/samem-test-out").exists()


def test_existing_output_unchanged_on_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text("old")
    src = tmp_path / "t.csv"
    src.write_text(BAD_TABLES["duplicate"])
    assert_clean_failure(run_cli(["analyze", str(src), "--px-nm", "1", "--fps", "1", "--out", str(out)]),
                         capsys.readouterr().err)
    assert [p.name for p in out.iterdir()] == ["stats.json"] and (out / "stats.json").read_text() == "old"


def tracks_with_a_jump(
    seed: int, *, particle: int, first_frame: int, column: str, values: tuple[float, float]
) -> pd.DataFrame:
    """Four Brownian tracks (D = 200 nm^2/s, 40 frames) whose ``particle`` jumps 60 px from ``first_frame`` on.

    ``column`` holds ``values[0]`` and, on the jumped positions, ``values[1]``.
    """
    table = to_table(brownian(np.random.default_rng(seed), 4, 40, 200.0, 0.1), 1.5)
    table = table.assign(present=True, at_edge=False, **{column: values[0]})
    jumped = (table.particle == particle) & (table.frame >= first_frame)
    table.loc[jumped, "x"] += 60.0
    table.loc[jumped, column] = values[1]
    return table


def analysed_without_and_with(path: Path, gate: list[str], capsys) -> tuple[dict, dict]:
    """stats.json and stdout of ``samem analyze`` on ``path``, by name: "all" without the ``gate`` options, "gated"."""
    stats, printed = {}, {}
    for name, extra in (("all", []), ("gated", gate)):
        out = path.parent / name
        assert run_cli(["analyze", str(path), "--px-nm", "1.5", "--fps", "10", "--out", str(out), *extra]) == 0
        stats[name], printed[name] = json.loads((out / "stats.json").read_text()), capsys.readouterr().out
    return stats, printed


def test_positions_with_low_predicted_iou_are_gaps_with_min_iou(tmp_path: Path, capsys) -> None:
    """A mask that slid onto a neighbour (a jump, low predicted IoU) inflates D unless ``--min-iou`` drops it."""
    table = tracks_with_a_jump(4, particle=1, first_frame=25, column="predicted_iou", values=(0.9, 0.2))
    table.loc[(table.particle == 2) & (table.frame == 10), "predicted_iou"] = np.nan  # a blank cell keeps its row
    path = tmp_path / "tracks.csv"
    table.to_csv(path, index=False)
    stats, printed = analysed_without_and_with(path, ["--min-iou", "0.5"], capsys)
    assert "15 position(s) with predicted_iou below 0.5 left out as gaps" in printed["gated"]
    assert "left out" not in printed["all"]
    assert stats["gated"]["gaps"] == {"keep_edge": False, "at_edge": 0, "min_iou": 0.5, "doubtful": 15,
                                      "max_area_change": None, "resized": 0}
    assert stats["all"]["gaps"] == {"keep_edge": False, "at_edge": 0, "min_iou": None, "doubtful": 0,
        "max_area_change": None, "resized": 0}
    report = (tmp_path / "gated" / "report.html").read_text()
    assert "Positions left out as gaps: 0 cut by the frame edge, 15 with predicted IoU below 0.5." in report
    for name in ("all", "gated"):  # the table has predicted_iou: the figure of it comes with the analysis
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted([*OUTPUT_FILES, CONFIDENCE_FIGURE])
        assert (tmp_path / name / CONFIDENCE_FIGURE).read_bytes().startswith(b"\x89PNG")
    assert "The model&#x27;s predicted IoU per particle" in report
    particles = {name: {p["particle"]: p for p in s["particles"]} for name, s in stats.items()}
    assert particles["all"][1]["n_frames"] == 40 and particles["gated"][1]["n_frames"] == 25
    assert particles["gated"][2]["n_frames"] == 40
    assert particles["all"][1]["D_cve_nm2_s"] > 2.5 * particles["gated"][1]["D_cve_nm2_s"]
    gated, everything = stats["gated"]["ensemble"]["cve"], stats["all"]["ensemble"]["cve"]
    assert abs(gated["D_nm2_s"] - 200.0) < 3 * gated["D_err_nm2_s"]  # the simulated D
    assert abs(everything["D_nm2_s"] - 200.0) > 3 * everything["D_err_nm2_s"]
    capsys.readouterr()
    assert_clean_failure(run_cli(["analyze", str(path), "--px-nm", "1.5", "--fps", "10", "--out",
                                  str(tmp_path / "x"), "--min-iou", "1.5"]), capsys.readouterr().err)  # fmt: skip
    table.assign(predicted_iou="high").to_csv(path, index=False)
    assert_clean_failure(run_cli(["analyze", str(path), "--px-nm", "1.5", "--fps", "10", "--out",
                                  str(tmp_path / "y"), "--min-iou", "0.5"]), capsys.readouterr().err)  # fmt: skip
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_positions_at_the_frame_edge_are_gaps_unless_keep_edge(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(2)
    table = to_table(brownian(rng, 4, 40, 200.0, 0.1), 1.5).assign(present=True, at_edge=False)
    table.loc[table.particle == 3, "at_edge"] = True  # one particle cut by the edge all along
    table.loc[(table.particle == 0) & (table.frame >= 30), "at_edge"] = True  # another from frame 30 on
    path = tmp_path / "tracks.csv"
    table.to_csv(path, index=False)
    stats, printed = {}, {}
    for name, extra in (("default", []), ("kept", ["--keep-edge"])):
        out = tmp_path / name
        assert run_cli(["analyze", str(path), "--px-nm", "1.5", "--fps", "10", "--out", str(out), *extra]) == 0
        stats[name], printed[name] = json.loads((out / "stats.json").read_text()), capsys.readouterr().out
    assert "50 position(s) of particles cut by the frame edge left out as gaps" in printed["default"]
    assert "left out" not in printed["kept"] and stats["kept"]["gaps"]["keep_edge"] is True
    assert stats["default"]["gaps"]["at_edge"] == 50
    assert stats["default"]["n_particles"] == 3 and stats["kept"]["n_particles"] == 4
    lengths = {name: {p["particle"]: p["n_frames"] for p in s["particles"]} for name, s in stats.items()}
    assert lengths["default"][0] == 30 and lengths["kept"][0] == 40


def test_a_table_whose_every_position_is_a_gap_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tracks.csv"
    table = to_table(brownian(np.random.default_rng(1), 2, 20, 200.0, 0.1), 1.5)
    table.assign(present=False).to_csv(path, index=False)
    code = run_cli(["analyze", str(path), "--px-nm", "1.5", "--fps", "10", "--out", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert_clean_failure(code, err)
    assert "no particle is present on any frame" in err
    table.assign(present=True, at_edge=True).to_csv(path, index=False)
    code = run_cli(["analyze", str(path), "--px-nm", "1.5", "--fps", "10", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert_clean_failure(code, err)
    assert "every tracked position touches the frame edge" in err and "--keep-edge" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_confidence_figure_draws_each_particle_over_time_breaks_at_gaps_and_marks_the_gate() -> None:
    frames = [*range(0, 10), *range(12, 20)]  # particle 1 is missing on frames 10 and 11
    table = pd.DataFrame(
        {"frame": frames + list(range(20)), "particle": [1] * len(frames) + [2] * 20,
         "predicted_iou": np.linspace(0.9, 0.2, len(frames)).tolist() + [0.8] * 20,
         "present": [True] * len(frames) + [frame != 5 for frame in range(20)]}
    )  # fmt: skip
    (ax,) = confidence_figure(table, fps=10.0, min_iou=0.5).axes
    curves = [line for line in ax.lines if line.get_linestyle() == "-"]
    assert [len(line.get_xdata()) for line in curves] == [10, 8, 5, 14]  # two pieces per particle
    np.testing.assert_allclose(curves[1].get_xdata(), np.arange(12, 20) / 10.0)  # seconds
    np.testing.assert_allclose(curves[0].get_ydata(), table["predicted_iou"][:10])
    (gate,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert list(gate.get_ydata()) == [0.5, 0.5]
    (ungated,) = confidence_figure(table, fps=10.0, min_iou=None).axes
    assert all(line.get_linestyle() == "-" for line in ungated.lines)


def test_positions_whose_area_changed_are_gaps_with_max_area_change(tmp_path: Path, capsys) -> None:
    """A mask that shrank to a sliver on a neighbour (a jump, a fifth of the area) inflates D unless gated by area."""
    table = tracks_with_a_jump(6, particle=2, first_frame=28, column="area_px", values=(300.0, 60.0))
    path = tmp_path / "tracks.csv"
    table.to_csv(path, index=False)
    stats, printed = analysed_without_and_with(path, ["--max-area-change", "2"], capsys)
    assert "12 position(s) whose area differs from their particle's first by more than 2.0x" in printed["gated"]
    assert stats["gated"]["gaps"]["max_area_change"] == 2.0 and stats["gated"]["gaps"]["resized"] == 12
    gated, everything = stats["gated"]["ensemble"]["cve"], stats["all"]["ensemble"]["cve"]
    assert abs(gated["D_nm2_s"] - 200.0) < 3 * gated["D_err_nm2_s"]  # the simulated D
    assert abs(everything["D_nm2_s"] - 200.0) > 3 * everything["D_err_nm2_s"]
    for bad in ("1", "0.5", "nan"):
        code = run_cli(["analyze", str(path), "--px-nm", "1.5", "--fps", "10", "--out", str(tmp_path / "x"),
                        "--max-area-change", bad])  # fmt: skip
        assert_clean_failure(code, capsys.readouterr().err)
    assert not (tmp_path / "x").exists()
