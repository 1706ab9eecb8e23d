import json

import numpy as np
import pytest
import tifffile

from samem.cli import main

TINY = ["--frames", "3", "--width", "48", "--height", "32", "--particles", "2", "--size-nm", "4", "6", "--no-progress"]


def test_simulate_writes_files(tmp_path, capsys):
    out = tmp_path / "video"
    assert (
        main(["simulate", str(out), *TINY, "--seed", "2", "--shape", "rod", "--motion", "fbm", "--alpha", "0.6"]) == 0
    )
    assert tifffile.imread(out / "video.tif").shape == (3, 32, 48)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 2 and meta["px_nm"] == 0.5
    assert {p["shape"] for p in meta["particles"]} == {"rod"}
    assert {p["alpha"] for p in meta["particles"]} == {0.6}
    assert "wrote" in capsys.readouterr().out


def test_simulate_quantized_jpeg(tmp_path):
    out = tmp_path / "v"
    assert main(["simulate", str(out), *TINY, "--quantize", "jpeg", "--jpeg-quality", "40"]) == 0
    assert tifffile.imread(out / "video.tif").dtype == np.uint8


def test_dataset_mode(tmp_path):
    out = tmp_path / "ds"
    args = [
        "simulate",
        str(out),
        "--dataset",
        "3",
        "--splits",
        "0.34,0.33,0.33",
        "--frame-size",
        "24",
        "32",
        "--clip-frames",
        "2",
        "2",
        "--max-particles",
        "2",
        "--no-progress",
    ]
    assert main(args) == 0
    index = json.loads((out / "dataset.json").read_text())
    assert index["splits"] == {"train": 1, "val": 1, "test": 1}
    assert (out / "test" / "clip_00000" / "gt_tracks.csv").is_file()


@pytest.mark.parametrize(
    "bad",
    [
        ["--alpha", "2.5"],
        ["--alpha", "0"],
        ["--exposure-s", "1"],
        ["--bulge", "1.5"],
        ["--jpeg-quality", "101", "--quantize", "jpeg"],
        ["--size-nm", "1", "2", "3"],
        ["--size-nm", "8", "4"],
        ["--dataset", "2", "--splits", "0.5,0.6,0.1"],
    ],
)
def test_bad_values_exit_2_with_one_line(tmp_path, capsys, bad):
    out = tmp_path / "out"
    assert main(["simulate", str(out), *TINY, *bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("samem simulate: error:") and err.count("\n") == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [
        ["--frames", "0"],
        ["--size-nm", "-3"],
        ["--shape", "blob"],
        ["--motion", "levy"],
        ["--width", "x"],
        ["--material", "Cu"],
    ],
)
def test_argparse_rejects_bad_values(tmp_path, capsys, bad):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["simulate", str(out), *TINY, *bad])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not out.exists()


def test_unwritable_out_dir(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert main(["simulate", str(blocker / "out"), *TINY]) == 2
    assert "samem simulate: error:" in capsys.readouterr().err
