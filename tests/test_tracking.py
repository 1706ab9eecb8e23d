"""`samem track` and `samem.tracking.track` end to end on a simulated video (random compact weights)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
import torch

from samem.cli import main
from samem.errors import InputError
from samem.model import build_model
from samem.tracking import PromptSpec, parse_box, parse_point, read_prompt_file, track
from samem.tracking.prompts import prompts_from_options

N_FRAMES, HEIGHT, WIDTH = 12, 48, 80  # the analysis needs >= 10 frames per particle


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    frames = rng.poisson(50, (N_FRAMES, HEIGHT, WIDTH)).astype(np.uint16)
    frames[:, 20:30, 30:40] //= 2  # a dark particle
    path = tmp_path_factory.mktemp("video") / "video.tif"
    tifffile.imwrite(path, frames)
    return path


@pytest.fixture(scope="module")
def present_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random compact weights whose object-score head always says 'present', so masks are non-empty."""
    state = build_model("samem-compact:random").model.state_dict()
    state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] += 20.0
    path = tmp_path_factory.mktemp("ckpt") / "present.pt"
    torch.save({"model": state}, path)
    return path


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, _, err = run_cli_output(args, capsys)
    return code, err


def run_cli_output(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``samem ARGS``."""
    try:
        code = main(args)
    except SystemExit as e:
        code = int(e.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_track_cli_writes_every_output_and_analysis(
    video: Path, present_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, printed, err = run_cli_output(
        ["track", str(video), "--box", "29.5,19.5,39.5,29.5", "--point", "2:60,10", "--model",
         f"samem-compact:{present_checkpoint}", "--out", str(out), "--no-progress", "--analyze", "--px-nm", "0.5",
         "--fps", "10", "--keep-edge", "--max-area-change", "3"],  # random weights: masks fill the frame
        capsys,
    )
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"trajectories.csv", "masks.tif", "overlay.mp4", "run.json", "analysis"}
    table = pd.read_csv(out / "trajectories.csv")
    assert list(table.columns[:4]) == ["frame", "particle", "x", "y"]
    assert len(table) == 2 * N_FRAMES and set(table.particle) == {1, 2}
    assert table.present.all()
    masks = tifffile.imread(out / "masks.tif")
    assert masks.shape == (N_FRAMES, HEIGHT, WIDTH) and masks.dtype == np.uint16
    assert set(np.unique(masks)) <= {0, 1, 2}
    for row in table.itertuples():
        rows, cols = np.nonzero(masks[row.frame] == row.particle)
        if row.n_fragments == 1:
            touches = rows.min() == 0 or cols.min() == 0 or rows.max() == HEIGHT - 1 or cols.max() == WIDTH - 1
            assert row.at_edge == touches
    assert table.at_edge.all() and "left out" not in printed  # --keep-edge: analysed all the same
    assert table.predicted_iou.between(0, 1).all() and table.mask_score.between(0, 1).all()
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == f"samem-compact:{present_checkpoint}" and len(run["checkpoint_sha256"]) == 64
    assert run["n_frames_tracked"] == N_FRAMES and run["frames_per_second"] > 0
    assert {"samem", "torch", "sam2"} <= set(run["versions"])
    assert (out / "analysis" / "report.html").is_file() and (out / "analysis" / "confidence.png").is_file()
    gaps = json.loads((out / "analysis" / "stats.json").read_text())["gaps"]
    assert gaps == {"keep_edge": True, "at_edge": 0, "min_iou": None, "doubtful": 0, "max_area_change": 3.0,
                    "resized": 0}  # the masks keep the frame's area


@pytest.mark.parametrize(
    ("extra", "gaps", "left_out", "refusal", "hint"),
    [([], lambda t: t.at_edge, "position(s) of particles cut by the frame edge left out",
      "every tracked position touches the frame edge", "--keep-edge"),
     (["--keep-edge", "--min-iou", "1"], lambda t: t.predicted_iou < 1,
      "position(s) with predicted_iou below 1.0 left out", "every position left has predicted_iou below 1.0",
      "--min-iou")],
    ids=["edge", "min-iou"],
)
def test_track_cli_analysis_says_what_it_left_out_as_gaps_and_refuses_when_none_remain(
    extra, gaps, left_out, refusal, hint, video: Path, present_checkpoint: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Random weights: every mask fills the frame (at the edge) with a predicted IoU below 1."""
    out = tmp_path / "out"
    code, printed, err = run_cli_output(
        ["track", str(video), "--box", "29.5,19.5,39.5,29.5", "--model", f"samem-compact:{present_checkpoint}",
         "--out", str(out), "--no-progress", "--overlay", "none", "--analyze", "--px-nm", "0.5", "--fps", "10",
         *extra],
        capsys,
    )
    assert code == 2 and "Traceback" not in err
    assert f"{N_FRAMES} {left_out}" in printed
    assert refusal in err and hint in err
    assert gaps(pd.read_csv(out / "trajectories.csv")).sum() == N_FRAMES  # the tracking results stay
    assert not (out / "analysis").exists()


def test_track_api_returns_trajectories_and_masks_matching_the_table(video: Path, present_checkpoint: Path) -> None:
    prompts = [PromptSpec(particle=5, frame=1, box=(29.5, 19.5, 39.5, 29.5))]
    result = track(video, prompts, model=f"samem-compact:{present_checkpoint}", return_masks=True)
    table = result.trajectories
    assert table.frame.tolist() == list(range(1, N_FRAMES))  # tracking starts at the prompted frame
    assert result.masks is not None and not result.masks[0].any()
    for row in table.itertuples():
        rows, cols = np.nonzero(result.masks[row.frame] == 5)
        if row.n_fragments == 1:
            assert (row.x, row.y) == pytest.approx((cols.mean(), rows.mean()))
        assert row.area_px <= rows.size


def test_track_api_takes_an_array_as_it_takes_the_file(video: Path, present_checkpoint: Path) -> None:
    prompts = [PromptSpec(particle=1, frame=0, box=(29.5, 19.5, 39.5, 29.5))]
    model = f"samem-compact:{present_checkpoint}"
    from_file = track(video, prompts, model=model, return_masks=True)
    from_array = track(tifffile.imread(video), prompts, model=model, return_masks=True)
    pd.testing.assert_frame_equal(from_array.trajectories, from_file.trajectories)
    assert np.array_equal(from_array.masks, from_file.masks)
    assert from_array.run["input"]["format"] == "array"
    with pytest.raises(InputError, match="T x H x W"):
        track(np.zeros((4, 8)), prompts, model=model)


def test_track_api_tracks_in_a_window_when_asked_and_records_the_zoom(video: Path, present_checkpoint: Path) -> None:
    prompts = [PromptSpec(particle=1, frame=0, box=(29.5, 19.5, 39.5, 29.5))]
    model = build_model(f"samem-compact:{present_checkpoint}", image_size=128)  # windows of whole 32 px mask pixels
    windowed = track(video, prompts, model=model, return_masks=True, zoom=3.0)
    assert windowed.run["zoom"] == 3.0 and windowed.run["follow_motion"] is True
    assert windowed.masks is not None and windowed.masks.any()
    for page in windowed.masks:  # a 32 x 32 window (10 px box x 3, rounded up to the quantum of 32 px)
        rows, cols = np.nonzero(page)
        assert rows.size == 0 or (np.ptp(rows) < 32 and np.ptp(cols) < 32)
    assert track(video, prompts, model=model).run["zoom"] == 6.0  # "auto": a 10 px box, 60 px windows in 80 px
    whole = track(video, prompts, model=model, zoom=None).run
    assert whole["zoom"] is None and whole["follow_motion"] is False  # windows only


def test_track_cli_turns_motion_following_off_on_request(
    video: Path, present_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, err = run_cli(["track", str(video), "--box", "29.5,19.5,39.5,29.5", "--model",
                         f"samem-compact:{present_checkpoint}", "--zoom", "3", "--no-follow-motion", "--overlay",
                         "none", "--no-progress", "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    run = json.loads((out / "run.json").read_text())
    assert run["zoom"] == 3.0 and run["follow_motion"] is False


def test_lost_particles_get_rows_with_present_false(video: Path, tmp_path: Path) -> None:
    state = build_model("samem-compact:random").model.state_dict()
    state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] -= 20.0  # never present
    path = tmp_path / "absent.pt"
    torch.save({"model": state}, path)
    prompt = PromptSpec(particle=1, frame=0, box=(29.5, 19.5, 39.5, 29.5))
    result = track(video, [prompt], model=f"samem-compact:{path}")
    assert len(result.trajectories) == N_FRAMES
    assert not result.trajectories.present.any()
    assert result.trajectories.x.isna().all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--box", "10,10,200,20"], "outside"),
        (["--box", "10,10,10,20"], "box"),
        (["--box", "20,20,10,10"], "box"),
        (["--box", "10,10,20,20", "--prompt-frame", "99"], "frame 99"),
        (["--box", "1,2,3"], "4 comma-separated numbers"),
        (["--point", "x:1,2"], "integers"),
        ([], "no prompts"),
        (["--box", "10,10,20,20", "--model", "sam2.1_hiera_t:{ckpt}"], "does not fit config"),
        (["--box", "10,10,20,20", "--model", "nosuch"], "unknown model"),
        (["--box", "10,10,20,20", "--device", "nonsense"], "unknown device 'nonsense'"),
        (["--box", "10,10,20,20", "--backend", "triton://127.0.0.1:9", "--precision", "bf16"], "local backend"),
    ],
)
def test_bad_prompts_and_models_exit_2_with_one_line_and_no_output(
    video: Path, present_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    args: list[str], message: str,
) -> None:
    out = tmp_path / "out"
    args = [a.replace("{ckpt}", str(present_checkpoint)) for a in args]
    if "--model" not in args:
        args += ["--model", "samem-compact:random"]
    code, err = run_cli(["track", str(video), *args, "--out", str(out), "--no-progress"], capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if not line.startswith("usage:")]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
    assert not out.exists()


def test_a_bad_zoom_is_refused_by_argparse_with_exit_2(
    video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, err = run_cli(["track", str(video), "--box", "10,10,20,20", "--zoom", "0.5", "--out", str(out)], capsys)
    assert code == 2 and "Traceback" not in err and not out.exists()
    assert err.strip().splitlines()[-1].endswith("argument --zoom: '0.5' must be auto, off or a number >= 1")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.tif", b"not a tiff", "not a readable"),
        ("clip.xyz", b"abc", "unsupported"),
        ("empty.mp4", b"", "empty"),
    ],
)
def test_bad_videos_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, err = run_cli(
        ["track", str(path), "--box", "1,1,5,5", "--model", "samem-compact:random", "--out", str(tmp_path / "o")],
        capsys,
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_analyze_without_calibration_is_refused_before_tracking(
    video: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_cli(
        ["track", str(video), "--box", "29.5,19.5,39.5,29.5", "--model", "samem-compact:random", "--analyze",
         "--out", str(tmp_path / "o")],
        capsys,
    )
    assert code == 2 and "--px-nm and --fps" in err


def test_prompt_parsing() -> None:
    assert parse_box("1,2,3.5,4") == (1.0, 2.0, 3.5, 4.0)
    assert parse_point("3:10,20") == (3, (10.0, 20.0), 1)
    assert parse_point("3:10,20:0") == (3, (10.0, 20.0), 0)
    with pytest.raises(InputError, match="label must be 1"):
        parse_point("3:10,20:2")
    prompts = prompts_from_options(["1,1,4,4", "5,5,9,9"], ["2:7,7:0", "3:1,1"], frame=2)
    assert [(p.particle, p.frame, p.box is not None, p.labels) for p in prompts] == [
        (1, 2, True, ()), (2, 2, True, (0,)), (3, 2, False, (1,))
    ]


def test_prompt_file(tmp_path: Path) -> None:
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps([{"particle": 4, "frame": 3, "box": [1, 2, 8, 9]}, {"particle": 5, "points": [[3, 4]]}]))
    first, second = read_prompt_file(path)
    assert (first.particle, first.frame, first.box) == (4, 3, (1.0, 2.0, 8.0, 9.0))
    assert (second.frame, second.points, second.labels) == (0, ((3.0, 4.0),), (1,))
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_prompt_file(path)
    path.write_text(json.dumps([{"frame": 1}]))
    with pytest.raises(InputError, match="'particle'"):
        read_prompt_file(path)


def test_track_is_available_as_samem_track() -> None:
    import samem

    assert samem.track is track
