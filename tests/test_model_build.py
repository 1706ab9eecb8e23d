from pathlib import Path

import pytest
import torch

from samem.errors import InputError
from samem.model import MODEL_CONFIGS, build_model, parse_model_spec
from samem.model.build import file_sha256


def save_checkpoint(model: torch.nn.Module, path: Path) -> Path:
    torch.save({"model": model.state_dict()}, path)
    return path


def test_every_sam2_size_is_registered() -> None:
    for version in ("sam2", "sam2.1"):
        for size in ("t", "s", "b+", "l"):
            assert f"{version}_hiera_{size}" in MODEL_CONFIGS
    assert "samem-compact" in MODEL_CONFIGS


def test_compact_model_is_small_and_uses_512_px() -> None:
    loaded = build_model("samem-compact:random")
    n_params = sum(p.numel() for p in loaded.model.parameters())
    assert 3e6 < n_params < 6e6
    assert loaded.model.image_size == 512
    assert not loaded.model.training
    assert loaded.checkpoint_sha256 is None


def test_random_weights_are_reproducible_for_a_seed() -> None:
    first = build_model("samem-compact:random", seed=3).model.state_dict()
    second = build_model("samem-compact:random", seed=3).model.state_dict()
    other = build_model("samem-compact:random", seed=4).model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_checkpoint_round_trip_loads_strictly_and_records_hash(tmp_path: Path) -> None:
    source = build_model("samem-compact:random", seed=1).model
    path = save_checkpoint(source, tmp_path / "compact.pt")
    loaded = build_model(f"samem-compact:{path}")
    state = loaded.model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in source.state_dict().items())
    assert loaded.checkpoint_sha256 == file_sha256(path)


def test_sam21_tiny_builds_with_random_weights() -> None:
    loaded = build_model("sam2.1_hiera_t:random")
    assert loaded.model.image_size == 1024
    assert loaded.spec.config_name == "sam2.1_hiera_t"


def test_wrong_config_for_checkpoint_names_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = build_model("samem-compact:random").model.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["no_mem_embed"]
    path = tmp_path / "bad.pt"
    torch.save({"model": state}, path)
    with pytest.raises(InputError, match=r"missing keys 1 \(no_mem_embed\).*unexpected keys 1 \(extra.weight\)"):
        build_model(f"samem-compact:{path}")


def test_checkpoint_of_another_size_is_refused_with_the_shape_problem(tmp_path: Path) -> None:
    path = save_checkpoint(build_model("samem-compact:random").model, tmp_path / "compact.pt")
    with pytest.raises(InputError, match=r"does not fit config 'sam2\.1_hiera_t'.*size mismatch"):
        build_model(f"sam2.1_hiera_t:{path}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nosuch:random", "unknown model 'nosuch'"),
        ("sam2.1_hiera_l", "needs a checkpoint"),
        ("sam2.1_hiera_l:/does/not/exist.pt", "does not exist"),
        (":random", "no model name"),
    ],
)
def test_bad_model_specs_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_model_spec(text)


def test_garbage_checkpoint_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot be read"):
        build_model(f"samem-compact:{path}")
    torch.save({"weights": {}}, path)
    with pytest.raises(InputError, match="not in SAM 2 format"):
        build_model(f"samem-compact:{path}")


def test_image_size_override_keeps_checkpoints_loadable(tmp_path: Path) -> None:
    path = save_checkpoint(build_model("samem-compact:random", seed=2).model, tmp_path / "c.pt")
    small = build_model(f"samem-compact:{path}", image_size=256)
    assert small.model.image_size == 256
    assert small.model.sam_image_embedding_size == 16
    with pytest.raises(InputError, match="multiple of 16"):
        build_model("samem-compact:random", image_size=100)


def test_checkpoint_that_records_its_training_size_runs_at_that_size(tmp_path: Path) -> None:
    state = build_model("samem-compact:random").model.state_dict()
    path = tmp_path / "trained_at_256.pt"
    torch.save({"model": state, "image_size": 256}, path)
    assert build_model(f"samem-compact:{path}").model.image_size == 256
    assert build_model(f"samem-compact:{path}", image_size=512).model.image_size == 512
