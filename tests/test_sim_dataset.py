import json
import math

import numpy as np
import pytest
import tifffile

from samem.errors import InputError
from samem.sim import simulate_video
from samem.sim.dataset import split_counts, write_dataset
from samem.sim.randomize import random_spec


def test_dataset_splits_and_index(tmp_path):
    index = write_dataset(
        tmp_path / "ds",
        n_clips=5,
        splits=(0.6, 0.2, 0.2),
        seed=3,
        frame_size=(32, 48),
        n_frames=(2, 3),
        max_particles=3,
        progress=False,
    )
    root = tmp_path / "ds"
    assert index["splits"] == {"train": 3, "val": 1, "test": 1}
    assert json.loads((root / "dataset.json").read_text()) == index
    for split, n in index["splits"].items():
        clips = sorted(p.name for p in (root / split).iterdir())
        assert clips == [f"clip_{i:05d}" for i in range(n)]
        for clip in clips:
            names = sorted(p.name for p in (root / split / clip).iterdir())
            assert names == ["gt_masks.tif", "gt_tracks.csv", "meta.json", "prompts.json", "video.tif"]
    first = index["clips"][0]
    video = tifffile.imread(root / first["path"] / "video.tif")
    assert video.shape == (first["n_frames"], first["height"], first["width"])
    assert len({c["seed"] for c in index["clips"]}) == 5


def test_dataset_is_deterministic(tmp_path):
    kwargs = {
        "n_clips": 2,
        "splits": (0.5, 0.5, 0.0),
        "seed": 9,
        "frame_size": (24, 32),
        "n_frames": (2, 2),
        "max_particles": 2,
        "progress": False,
    }
    write_dataset(tmp_path / "a", **kwargs)
    write_dataset(tmp_path / "b", **kwargs)
    for rel in ("dataset.json", "train/clip_00000/video.tif", "val/clip_00000/gt_masks.tif"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_split_counts():
    assert split_counts(10, (0.8, 0.1, 0.1)) == {"train": 8, "val": 1, "test": 1}
    assert sum(split_counts(7, (0.8, 0.1, 0.1)).values()) == 7
    with pytest.raises(InputError, match="sum to 1"):
        split_counts(10, (0.8, 0.3, 0.1))
    with pytest.raises(InputError):
        split_counts(10, (1.2, -0.1, -0.1))


def test_random_specs_are_broad():
    rng = np.random.default_rng(0)
    specs = [random_spec(rng, frame_size=(512, 1024)) for _ in range(150)]
    particles = [p for s in specs for p in s.particles]
    assert {p.shape for p in particles} == {"sphere", "rod", "triangle", "cube", "aggregate"}
    assert {p.motion.kind for p in particles} == {"brownian", "fbm", "ctrw", "confined"}
    assert {p.material for p in particles} >= {"Au", "Ag", "Pt", "Fe3O4", "SiO2"}
    assert {s.imaging.quantize for s in specs} == {"none", "8bit", "jpeg"}
    assert {len(s.particles) for s in specs} == set(range(1, 11))
    assert {s.n_frames for s in specs} == set(range(8, 17))
    assert any(s.width != s.height for s in specs)
    assert all(512 <= s.height <= 1024 and 512 <= s.width <= 1024 for s in specs)
    size_px = [p.size_nm / s.px_nm for s in specs for p in s.particles if p.shape != "aggregate"]
    assert min(size_px) < 12 and max(size_px) > 100
    thickness = [s.imaging.thickness_nm for s in specs]
    assert min(thickness) < 60 and max(thickness) > 700
    assert any(any(p.motion.drift_nm_s != (0.0, 0.0) for p in s.particles) for s in specs)
    entering = [
        p
        for s in specs
        for p in s.particles
        if not (0 <= p.x_nm <= s.width * s.px_nm and 0 <= p.y_nm <= s.height * s.px_nm)
        and p.motion.drift_nm_s != (0.0, 0.0)
    ]
    assert len(entering) > 20
    small = random_spec(np.random.default_rng(1), frame_size=(64, 96))
    assert 64 <= small.height <= 96 and 64 <= small.width <= 96


def test_step_range_sets_each_particles_diffusion():
    """``step_px`` bounds the RMS displacement per axis per frame: D = (step * px_nm)^2 / (2 dt^alpha)."""
    rng = np.random.default_rng(3)
    specs = [random_spec(rng, frame_size=(256, 512), step_px=(6.0, 8.0)) for _ in range(40)]
    steps = [
        math.sqrt(2 * p.motion.D_nm2_s * (1 / s.fps) ** (p.motion.alpha if p.motion.kind == "fbm" else 1.0)) / s.px_nm
        for s in specs
        for p in s.particles
    ]
    assert min(steps) >= 6.0 - 1e-9 and max(steps) <= 8.0 + 1e-9
    default = random_spec(np.random.default_rng(3), frame_size=(256, 512))
    assert default == random_spec(np.random.default_rng(3), frame_size=(256, 512), step_px=(0.05, 4.0))
    with pytest.raises(InputError, match="step range"):
        random_spec(rng, step_px=(2.0, 1.0))


def _gone_by_the_last_frame(exits: float) -> float:
    """Fraction of the particles in view on the first frame of short random clips that are out of view on the last."""
    rng = np.random.default_rng(11)
    seen = gone = 0
    for _ in range(12):
        labels = simulate_video(random_spec(rng, frame_size=(96, 160), n_frames=(6, 6), exits=exits)).labels
        first = [p for p in np.unique(labels[0]) if p]
        seen += len(first)
        gone += sum(not (labels[-1] == p).any() for p in first)
    return gone / seen


def test_exits_send_particles_out_of_the_field_within_the_clip():
    """``exits`` is the chance of an exit course; at 0 no random draw is added, so every seed's spec is unchanged."""
    assert _gone_by_the_last_frame(1.0) > 0.5 > 0.15 > _gone_by_the_last_frame(0.0)
    default = random_spec(np.random.default_rng(5), frame_size=(256, 512))
    assert default == random_spec(np.random.default_rng(5), frame_size=(256, 512), exits=0.0)
    assert default.seed == 507394030  # the spec's last draw, as before exits existed: no draw was added
    with pytest.raises(InputError, match="exit chance"):
        random_spec(np.random.default_rng(5), exits=1.5)
