"""`samem eval`: test sets, the benchmark runner with real methods, the D error, the report and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("trackpy")

from samem.cli import main
from samem.evaluate import testsets as ts
from samem.evaluate.benchmark import diffusion_estimate, pooled_trajectories, relative_error_pct, run_benchmark
from samem.evaluate.goals import check_goals
from samem.evaluate.methods import MethodOutput, TrackpyMethod, TruthMethod
from samem.evaluate.report import REPORT_FILES, markdown_table
from samem.evaluate.runcache import RunCache

torch.set_num_threads(1)

TINY = ts.EvalCase(name="tiny", n_particles=2, n_frames=14, side_px=96, seed=7)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("testsets")


@pytest.fixture(scope="module")
def tiny_videos(cache: Path) -> dict[float, ts.EvalVideo]:
    return {t: ts.write_eval_video(TINY, t, cache) for t in ts.THICKNESSES_NM}


def test_test_sets_mirror_the_paper_and_quick_shrinks_them() -> None:
    full = ts.eval_cases(quick=False)
    assert [(c.n_particles, c.n_frames, c.side_px) for c in full] == [(1, 275, 512), (2, 300, 512), (4, 600, 1024)]
    quick = ts.eval_cases(quick=True)
    assert [c.seed for c in quick] == [c.seed for c in full]
    assert all(q.side_px <= 256 and ts.QUICK_MIN_FRAMES <= q.n_frames <= 20 for q in quick)
    assert ts.tuning_case(False).seed not in {c.seed for c in full}


def test_snr_falls_with_thickness_at_fixed_dose(tiny_videos: dict[float, ts.EvalVideo]) -> None:
    snr = [tiny_videos[t].meta["snr"] for t in sorted(tiny_videos)]
    assert snr[0] > snr[1] > snr[2] > 1
    assert {v.meta["dose_rate_e_A2_s"] for v in tiny_videos.values()} == {ts.DOSE_RATE}
    assert [v.meta["thickness_nm"] for v in tiny_videos.values()] == list(ts.THICKNESSES_NM)


def test_test_sets_are_deterministic_gold_spheres_with_known_D(
    tiny_videos: dict[float, ts.EvalVideo], tmp_path: Path
) -> None:
    video = tiny_videos[50.0]
    again = ts.write_eval_video(TINY, 50.0, tmp_path)
    for name in ("video.tif", "gt_masks.tif", "gt_tracks.csv"):
        assert (again.directory / name).read_bytes() == (video.directory / name).read_bytes()
    particles = video.meta["particles"]
    assert {(p["shape"], p["material"], p["size_nm"], p["D_nm2_s"]) for p in particles} == {
        ("sphere", "Au", ts.PARTICLE_NM, ts.D_NM2_S)
    }
    # same case, other thickness: same paths, other image
    a = pd.read_csv(tiny_videos[5.0].directory / "gt_tracks.csv")
    b = pd.read_csv(tiny_videos[150.0].directory / "gt_tracks.csv")
    pd.testing.assert_frame_equal(a[["frame", "particle", "x", "y"]], b[["frame", "particle", "x", "y"]])


def test_cached_test_video_is_reused_and_a_changed_spec_is_rerendered(cache: Path) -> None:
    first = ts.write_eval_video(TINY, 5.0, cache)
    stamp = (first.directory / "video.tif").stat().st_mtime_ns
    assert (ts.write_eval_video(TINY, 5.0, cache).directory / "video.tif").stat().st_mtime_ns == stamp
    meta = json.loads((first.directory / "meta.json").read_text())
    meta["spec"]["n_frames"] = 3
    (first.directory / "meta.json").write_text(json.dumps(meta))
    again = ts.write_eval_video(TINY, 5.0, cache)
    assert again.meta["n_frames"] == TINY.n_frames
    assert (again.directory / "video.tif").stat().st_mtime_ns != stamp


def test_bad_thicknesses_are_input_errors() -> None:
    from samem.errors import InputError

    for bad in ([], [5, 5], [-1], [float("nan")]):
        with pytest.raises(InputError, match="thickness"):
            ts.check_thicknesses(bad)


def test_pooled_trajectories_keep_particles_of_different_videos_apart() -> None:
    a = pd.DataFrame({"frame": [0, 1], "particle": [1, 1], "x": [0.0, 1.0], "y": [0.0, 0.0]})
    b = pd.DataFrame({"frame": [0, 1, 1], "particle": [1, 1, 2], "x": [5.0, np.nan, 2.0], "y": [0.0, 0.0, 1.0],
                      "present": [True, False, True]})  # fmt: skip
    pooled = pooled_trajectories([a, b])
    assert sorted(pooled["particle"].unique().tolist()) == [1, 2, 3]
    assert len(pooled) == 4


def test_diffusion_estimate_recovers_D_of_exact_brownian_steps() -> None:
    rng = np.random.default_rng(3)
    px_nm, fps, D = 0.5, 20.0, 10.0  # nm/px, frames/s, nm^2/s
    step_px = math.sqrt(2 * D / fps) / px_nm
    tables = []
    for _ in range(3):
        xy = np.cumsum(rng.normal(0, step_px, size=(2000, 2)), axis=0)
        tables.append(pd.DataFrame({"frame": np.arange(2000), "particle": 1, "x": xy[:, 0], "y": xy[:, 1]}))
    estimate = diffusion_estimate(tables, px_nm=px_nm, fps=fps)
    assert estimate["n_tracks"] == 3
    # 6000 steps: relative standard error about sqrt(6 / 6000) = 3 %
    assert abs(relative_error_pct(estimate["D_nm2_s"], D)) < 10
    assert relative_error_pct(12.0, 10.0) == pytest.approx(20.0)
    assert abs(estimate["step_r2"]) < 0.03 and estimate["analysis_notes"] == []
    short = diffusion_estimate([tables[0].iloc[:5]], px_nm=px_nm, fps=fps)
    assert math.isnan(short["D_nm2_s"]) and short["note"]
    lagging = []  # positions that move 60 % of the way to the particle each frame: the estimator says so
    for table in tables:
        xy = table[["x", "y"]].to_numpy().copy()
        for t in range(1, len(xy)):
            xy[t] = xy[t - 1] + 0.6 * (xy[t] - xy[t - 1])
        lagging.append(table.assign(x=xy[:, 0], y=xy[:, 1]))
    biased = diffusion_estimate(lagging, px_nm=px_nm, fps=fps)
    assert biased["step_r2"] == pytest.approx(0.16, abs=0.03) and len(biased["analysis_notes"]) == 1
    assert relative_error_pct(biased["D_nm2_s"], D) < -15  # 2 (1 - a)^2 / (2 - a) = 23 % low


def test_ground_truth_as_a_method_scores_100_and_recovers_D(tiny_videos: dict[float, ts.EvalVideo]) -> None:
    videos = {50.0: [tiny_videos[50.0]]}
    result = run_benchmark([TruthMethod()], videos, {})
    row = result.summary.iloc[0]
    assert row["J&F"] == pytest.approx(100.0)
    assert row["HOTA"] == pytest.approx(1.0) and row["IDF1"] == pytest.approx(1.0)
    assert row["id_switches"] == 0 and row["centroid_rmse_px"] == pytest.approx(0.0)
    assert row["D_true_nm2_s"] == ts.D_NM2_S
    # 2 particles x 13 steps: the estimate is noisy, but mask centroids track the true centres closely,
    # so the method's D error stays near the floor computed from the true positions
    assert abs(row["D_error_pct"] - row["D_floor_pct"]) < 15
    assert result.per_video.iloc[0]["trajectory_rmse_px"] < 0.5


def test_trackpy_is_tuned_on_the_tuning_video_not_the_test_video(
    tiny_videos: dict[float, ts.EvalVideo], cache: Path
) -> None:
    tuning = ts.write_eval_video(
        ts.EvalCase(name="tinytune", n_particles=2, n_frames=12, side_px=96, seed=8), 5.0, cache
    )
    method = TrackpyMethod()
    result = run_benchmark([method], {5.0: [tiny_videos[5.0]]}, {5.0: tuning})
    assert result.tuning["trackpy"]["5"]["tuning_video"] == tuning.name
    assert method.tuned[5.0]["diameter_px"] % 2 == 1
    row = result.summary.iloc[0]
    assert 0 < row["J&F"] <= 100 and math.isfinite(row["HOTA"])


def test_goals_report_pass_fail_and_unchecked() -> None:
    summary = pd.DataFrame(
        [
            {"method": "samem", "thickness_nm": 5.0, "J&F": 95.0, "HOTA": 0.9, "D_error_pct": 3.0},
            {"method": "samem", "thickness_nm": 150.0, "J&F": 80.0, "HOTA": 0.7, "D_error_pct": -12.0},
            {"method": "trackpy", "thickness_nm": 5.0, "J&F": 60.0, "HOTA": 0.5, "D_error_pct": 30.0},
            {"method": "trackpy", "thickness_nm": 150.0, "J&F": 40.0, "HOTA": 0.8, "D_error_pct": 50.0},
        ]
    )
    verdicts = {g.goal: g.verdict for g in check_goals(summary)}
    assert verdicts["samem J&F >= 90 at low noise (5 nm)"] == "PASS"
    assert verdicts["samem J&F >= 85 at high noise (150 nm)"] == "FAIL"
    assert verdicts["samem better than trackpy on J&F at every thickness"] == "PASS"
    assert verdicts["samem better than trackpy on HOTA at every thickness"] == "FAIL"
    assert verdicts["samem better than unet on J&F at every thickness"] == "NOT CHECKED"
    assert verdicts["samem |D error| <= 10 % at every thickness"] == "FAIL"


def test_eval_cli_quick_run_writes_tables_and_plot_with_finite_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval"
    args = ["eval", "--out", str(out), "--model", "samem-compact:random", "--methods", "samem,unet,trackpy",
            "--quick", "--thicknesses", "5,150", "--threads", "1", "--no-progress", "--readme-table"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    assert (out / "jf_hota.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["method"]) == ["samem", "samem", "trackpy", "trackpy"]
    for key in ("J", "F", "J&F", "Dice", "HOTA", "IDF1", "detection_recall", "snr"):
        assert np.isfinite(summary[key]).all(), key
    assert printed == (out / "readme_table.md").read_text() == markdown_table(summary.fillna(np.nan))
    assert printed.count("\n") == 2 + 4 and "samem (samem-compact:random)" in printed
    results = (out / "results.md").read_text()
    assert "U-Net skipped" in results and "NOT CHECKED" in results and ("PASS" in results or "FAIL" in results)
    assert "data:image/png;base64," in (out / "report.html").read_text()
    per_video = pd.read_csv(out / "per_video.csv")
    assert set(per_video["video"]) == {f"{c}_{t}nm" for c in ("1p", "2p", "4p") for t in (5, 150)}
    assert json.loads((out / "results.json").read_text())["settings"]["quick"] is True
    # run again: every run is reused, the tables are the same; --fresh runs them anew
    assert main(args) == 0
    assert capsys.readouterr().out == printed
    assert "12 of 12 runs reused" in (out / "results.md").read_text()
    assert main([*args, "--fresh"]) == 0
    assert "reused" not in (out / "results.md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "no-such-model"], "unknown model"),
        (["--model", "samem-compact:/no/such.pt"], "does not exist"),
        (["--methods", "unet", "--unet", "/no/such/unet.pt"], "not a usable U-Net checkpoint"),
        (["--methods", "unet"], "no method left"),
    ],
)
def test_eval_cli_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "eval"
    assert main(["eval", "--out", str(out), "--quick", "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("samem eval: error:")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_eval_cli_rejects_bad_option_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for extra in (["--methods", "samem,magic"], ["--thicknesses", "5,-1"], ["--thicknesses", "a,b"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", "--out", str(tmp_path / "x"), *extra])
        assert exit_info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


class CountingTruth(TruthMethod):
    """The ground truth, counting its runs."""

    def __init__(self, fingerprint: str = "truth") -> None:
        self.runs, self._fingerprint = 0, fingerprint

    def fingerprint(self) -> str:
        return self._fingerprint

    def run(self, video: ts.EvalVideo) -> MethodOutput:
        self.runs += 1
        return super().run(video)


class CountingTrackpy(TrackpyMethod):
    """trackpy, counting its tunings."""

    def __init__(self) -> None:
        super().__init__()
        self.tunings = 0

    def tune(self, video: ts.EvalVideo) -> dict:
        self.tunings += 1
        return super().tune(video)


def test_stored_runs_are_reused_only_for_the_same_method_and_video(
    tiny_videos: dict[float, ts.EvalVideo], tmp_path: Path
) -> None:
    videos = {5.0: [tiny_videos[5.0]], 150.0: [tiny_videos[150.0]]}
    store = RunCache(tmp_path / "runs")
    first = CountingTruth()
    fresh = run_benchmark([first], videos, {}, cache=store)
    assert first.runs == 2 and not any("reused" in note for note in fresh.notes)
    (first_row,) = store.directory.rglob(f"{tiny_videos[5.0].name}-*.json")  # before another method stores any
    again = CountingTruth()
    reused = run_benchmark([again], videos, {}, cache=store)
    assert again.runs == 0 and "2 of 2 runs reused" in reused.notes[-1]
    pd.testing.assert_frame_equal(reused.summary, fresh.summary)
    pd.testing.assert_frame_equal(reused.per_video, fresh.per_video)
    other = CountingTruth(fingerprint="truth, another model")
    run_benchmark([other], videos, {}, cache=store)
    assert other.runs == 2
    # a run interrupted after its trajectories but before its row counts as not stored
    first_row.unlink()
    partial = CountingTruth()
    run_benchmark([partial], videos, {}, cache=store)
    assert partial.runs == 1


def test_a_stored_tuning_is_reused_with_the_runs_it_served(
    tiny_videos: dict[float, ts.EvalVideo], cache: Path, tmp_path: Path
) -> None:
    tuning = ts.write_eval_video(
        ts.EvalCase(name="tinytune", n_particles=2, n_frames=12, side_px=96, seed=8), 5.0, cache
    )
    store = RunCache(tmp_path / "runs")
    first = CountingTrackpy()
    fresh = run_benchmark([first], {5.0: [tiny_videos[5.0]]}, {5.0: tuning}, cache=store)
    second = CountingTrackpy()
    reused = run_benchmark([second], {5.0: [tiny_videos[5.0]]}, {5.0: tuning}, cache=store)
    assert (first.tunings, second.tunings) == (1, 0)
    assert reused.tuning["trackpy"]["5"]["diameter_px"] == fresh.tuning["trackpy"]["5"]["diameter_px"]
    pd.testing.assert_frame_equal(reused.summary, fresh.summary)
    for path in store.directory.rglob(f"{tiny_videos[5.0].name}-*.json"):
        path.unlink()  # the run is gone: trackpy must tune again to run it
    third = CountingTrackpy()
    run_benchmark([third], {5.0: [tiny_videos[5.0]]}, {5.0: tuning}, cache=store)
    assert third.tunings == 1


def test_an_evaluation_runs_no_code_that_its_run_fingerprint_leaves_out(tmp_path: Path) -> None:
    """Stored runs stay valid across edits of NOT_EVALUATED subpackages only if an evaluation never imports them."""
    script = (
        "import sys\n"
        "from samem.cli import main\n"
        f"code = main(['eval', '--out', {str(tmp_path / 'eval')!r}, '--quick', '--thicknesses', '5', '--methods',"
        " 'samem,trackpy,truth', '--model', 'samem-compact:random', '--threads', '1', '--no-progress'])\n"
        "from samem.evaluate.runcache import NOT_EVALUATED\n"
        "used = [m for m in sys.modules if m.split('.')[:2] in [['samem', p] for p in NOT_EVALUATED]\n"
        "        and m.split('.')[-1] != 'cli' and m.count('.') > 1]\n"
        "print(code, sorted(used))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 []"
