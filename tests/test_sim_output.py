import json

import numpy as np
import pandas as pd
import pytest
import tifffile

from samem.sim.layout import layout_spec
from samem.sim.result import simulate_video
from samem.sim.spec import ImagingSpec, VideoSpec
from samem.sim.writer import FILES, write_video

META_KEYS = {
    "px_nm",
    "fps",
    "width",
    "height",
    "frame_size",
    "n_frames",
    "particles",
    "thickness_nm",
    "dose_rate_e_A2_s",
    "exposure_s",
    "snr",
    "snr_definition",
    "seed",
    "simulator_version",
    "video_dtype",
    "spec",
    "quantization",
}
PARTICLE_KEYS = {"id", "shape", "size_nm", "material", "D_nm2_s", "alpha", "motion", "drift_nm_s", "D_rot_rad2_s"}


def tiny(seed=0, quantize="none", n_frames=5):
    return layout_spec(
        seed=seed,
        width=64,
        height=40,
        n_frames=n_frames,
        n_particles=3,
        size_nm=(4.0, 8.0),
        imaging=ImagingSpec(quantize=quantize),
    )


def test_write_video_contract(tmp_path):
    meta = write_video(tiny(), tmp_path / "out", progress=False)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    video = tifffile.imread(out / "video.tif")
    masks = tifffile.imread(out / "gt_masks.tif")
    assert video.shape == masks.shape == (5, 40, 64)
    assert video.dtype == np.float32 and masks.dtype == np.uint16
    tracks = pd.read_csv(out / "gt_tracks.csv")
    assert list(tracks.columns[:5]) == ["frame", "particle", "x", "y", "orientation"]
    assert {"visible_fraction", "area_px"} <= set(tracks.columns)
    on_disk = json.loads((out / "meta.json").read_text())
    assert on_disk == json.loads(json.dumps(meta))
    assert set(on_disk) >= META_KEYS
    assert on_disk["video_dtype"] == "float32"
    assert len(on_disk["particles"]) == 3
    assert all(set(p) >= PARTICLE_KEYS for p in on_disk["particles"])
    assert on_disk["snr"] > 0
    for row in tracks.itertuples():  # one row per frame with mask pixels, ids = labels
        assert (masks[row.frame] == row.particle).sum() == row.area_px
    visible = {(t, k) for t in range(5) for k in np.unique(masks[t]) if k}
    assert visible == set(zip(tracks.frame, tracks.particle, strict=True))
    assert VideoSpec.from_dict(on_disk["spec"]) == tiny()


def test_files_match_in_memory_result(tmp_path):
    write_video(tiny(seed=4), tmp_path / "a", progress=False)
    result = simulate_video(tiny(seed=4))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a" / "video.tif"), result.video)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a" / "gt_masks.tif"), result.labels)


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        write_video(tiny(seed=seed), tmp_path / name, progress=False)
    for f in FILES:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert (tmp_path / "a" / "video.tif").read_bytes() != (tmp_path / "c" / "video.tif").read_bytes()
    assert (tmp_path / "a" / "gt_tracks.csv").read_bytes() != (tmp_path / "c" / "gt_tracks.csv").read_bytes()


@pytest.mark.parametrize("quantize", ["8bit", "jpeg"])
def test_quantized_output_is_uint8(tmp_path, quantize):
    meta = write_video(tiny(quantize=quantize, n_frames=2), tmp_path / "q", progress=False)
    video = tifffile.imread(tmp_path / "q" / "video.tif")
    assert video.dtype == np.uint8 and video.shape == (2, 40, 64)
    assert meta["video_dtype"] == "uint8"
    assert meta["quantization"]["high_counts"] > meta["quantization"]["low_counts"]


def test_single_frame_video_keeps_three_dimensions(tmp_path):
    write_video(tiny(n_frames=1), tmp_path / "one", progress=False)
    assert tifffile.imread(tmp_path / "one" / "video.tif").shape == (1, 40, 64)
    assert tifffile.imread(tmp_path / "one" / "gt_masks.tif").shape == (1, 40, 64)


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    import samem.sim.writer as writer

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(writer, "build_meta", broken)
    with pytest.raises(RuntimeError):
        write_video(tiny(), tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_prompts_are_the_boxes_of_the_first_frame_masks_in_track_format(tmp_path):
    from samem.tracking.prompts import read_prompt_file

    write_video(tiny(seed=2), tmp_path / "p", progress=False)
    masks = tifffile.imread(tmp_path / "p" / "gt_masks.tif")
    prompts = read_prompt_file(tmp_path / "p" / "prompts.json")
    assert [p.particle for p in prompts] == [int(k) for k in np.unique(masks[0]) if k]
    for prompt in prompts:
        assert prompt.frame == 0
        x0, y0, x1, y1 = prompt.box
        rows, cols = np.nonzero(masks[0] == prompt.particle)
        assert (x0, y0, x1, y1) == (cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5)
