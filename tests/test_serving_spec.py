"""Triton configs come from one typed source; repositories, URLs and the server launcher check their inputs."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from samem.cli import main
from samem.engine.settings import ModelSettings
from samem.errors import InputError
from samem.model import build_model
from samem.serving.repository import MANIFEST, served_model, write_repository
from samem.serving.server import TritonError, TritonInstall, TritonServer
from samem.serving.spec import (
    ALL_STEPS,
    MODEL_KEY,
    STEP_KEY,
    ServedModel,
    model_name,
    step_config,
    step_tensors,
)
from samem.serving.triton_backend import parse_backend_url, request_input

SIZE = 64


@pytest.fixture(scope="module")
def served() -> ServedModel:
    return served_model(build_model("samem-compact:random", image_size=SIZE))


def _parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.mark.parametrize("step", ALL_STEPS)
def test_python_configs_are_valid_triton_configs_of_the_step_tensors(served: ServedModel, step: str) -> None:
    config = _parse(step_config(step, served, "python").to_pbtxt())
    inputs, outputs = step_tensors(step, served, "python")
    assert config.name == model_name(step) and config.backend == "python"
    assert [(t.name, model_config_pb2.DataType.Name(t.data_type), tuple(t.dims)) for t in config.input] == [
        (t.name, t.dtype, t.dims) for t in inputs
    ]
    assert [(t.name, model_config_pb2.DataType.Name(t.data_type), tuple(t.dims)) for t in config.output] == [
        (t.name, t.dtype, t.dims) for t in outputs
    ]
    assert [g.kind for g in config.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_CPU]
    assert config.version_policy.latest.num_versions == 1
    batched = step == "encode_frame"
    assert config.HasField("dynamic_batching") == batched and (config.max_batch_size == 4) == batched
    assert config.parameters[STEP_KEY].string_value == step
    assert ServedModel.from_json(config.parameters[MODEL_KEY].string_value) == served


def test_frame_encoding_shapes_follow_the_image_size(served: ServedModel) -> None:
    inputs, outputs = step_tensors("encode_frame", served, "python")
    h = SIZE // 16
    assert inputs[0].dims == (1, SIZE, SIZE)  # grey model images: the server makes SAM 2's three channels
    assert {t.name: t.dims for t in outputs} == {
        "image_embed": (128, h, h),
        "high_res_0": (16, 4 * h, 4 * h),
        "high_res_1": (32, 2 * h, 2 * h),
        "pos_enc": (128, h, h),
    }


@pytest.mark.parametrize(("variant", "memory_type"), [("python", "TYPE_BF16"), ("onnx", "TYPE_FP32")])
def test_spatial_memories_travel_as_the_engine_keeps_them_in_the_python_variant(
    served: ServedModel, variant: str, memory_type: str
) -> None:
    h = SIZE // 16
    for step in ("encode_memory", "track_frame", "track_image"):
        inputs, outputs = step_tensors(step, served, variant)  # type: ignore[arg-type]
        types = {t.name: t.dtype for t in (*inputs, *outputs)}
        assert types["memory"] == memory_type and types.get("maskmem", memory_type) == memory_type
        assert {t.dtype for t in (*inputs, *outputs) if t.name not in ("memory", "maskmem")} <= {
            "TYPE_FP32", "TYPE_INT32", "TYPE_BOOL"
        }  # fmt: skip
        assert next(t for t in outputs if t.name == "memory").dims == (-1, 64, h, h)
    with pytest.raises(InputError, match="unknown variant 'tflite'"):
        step_tensors("track_frame", served, "tflite")  # type: ignore[arg-type]


def test_request_inputs_carry_their_wire_bytes() -> None:
    bits = torch.randn(2, 3).to(torch.bfloat16)
    item = request_input("maskmem", bits.view(torch.int16).numpy(), "TYPE_BF16")
    assert item.datatype() == "BF16" and item.shape() == [2, 3]
    assert torch.equal(torch.frombuffer(bytearray(item._get_content()), dtype=torch.bfloat16).reshape(2, 3), bits)
    with pytest.raises(ValueError, match="input 'maskmem' of type TYPE_BF16 travels as int16, got float32"):
        request_input("maskmem", bits.float().numpy(), "TYPE_BF16")  # values, not bits: refused, not truncated


def test_awkward_paths_survive_the_config_text(served: ServedModel) -> None:
    odd = dataclasses.replace(served, spec='samem-compact:/weights/a "quoted"\\dir\nname.pt')
    config = _parse(step_config("track_frame", odd, "onnx").to_pbtxt())
    assert ServedModel.from_json(config.parameters[MODEL_KEY].string_value).spec == odd.spec


def test_bad_specs_are_refused_with_a_clear_message(served: ServedModel) -> None:
    with pytest.raises(InputError, match="unknown variant 'tensorflow'; variants: python, onnx"):
        step_config("encode_frame", served, "tensorflow")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown step 'segment'"):
        model_name("segment")
    with pytest.raises(InputError, match="max batch size must be >= 1, got 0"):
        step_config("encode_frame", served, "python", max_batch_size=0)
    with pytest.raises(InputError, match="instances per model must be >= 1, got 0"):
        step_config("track_frame", served, "python", instances=0)


def test_several_instances_serve_several_videos_at_once(served: ServedModel) -> None:
    config = _parse(step_config("track_frame", served, "python", instances=3).to_pbtxt())
    assert [(g.kind, g.count) for g in config.instance_group] == [(model_config_pb2.ModelInstanceGroup.KIND_CPU, 3)]


def test_served_model_round_trips_through_json(served: ServedModel) -> None:
    assert ServedModel.from_json(served.to_json()) == served
    assert isinstance(ServedModel.from_json(served.to_json()).settings, ModelSettings)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("triton://127.0.0.1:8001", ("127.0.0.1:8001", False)),
        ("triton://localhost:9000?shared_memory=1", ("localhost:9000", True)),
        ("triton://10.0.0.2:8001/?shared_memory=false", ("10.0.0.2:8001", False)),
    ],
)
def test_backend_urls(url: str, expected: tuple[str, bool]) -> None:
    assert parse_backend_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8001", "not of the form"),
        ("triton://127.0.0.1", "not of the form"),
        ("triton://127.0.0.1:8001/models", "not of the form"),
        ("triton://127.0.0.1:8001?shm=1", r"unknown option\(s\) \['shm'\]"),
    ],
)
def test_bad_backend_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_backend_url(url)


def test_export_writes_a_versioned_python_repository_without_weights(tmp_path: Path) -> None:
    out = tmp_path / "repo"
    args = ["export", "--model", "samem-compact:random", "--image-size", str(SIZE), "--version", "2"]
    assert main([*args, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST, *(model_name(s) for s in ALL_STEPS)])
    for step in ALL_STEPS:
        files = sorted(str(p.relative_to(out / model_name(step))) for p in (out / model_name(step)).rglob("*"))
        assert files == ["2", "2/model.py", "config.pbtxt"]
        assert (
            "from samem.serving.python_model import TritonPythonModel"
            in (out / model_name(step) / "2" / "model.py").read_text()
        )
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["model"] == "samem-compact:random" and manifest["checkpoint_sha256"] is None
    assert manifest["image_size"] == SIZE and manifest["version"] == 2
    assert not list(out.rglob("*.pt")) and not list(out.rglob("*.onnx"))


def test_export_reports_bad_input_in_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "repo"
    assert main(["export", "--model", f"samem-compact:{tmp_path / 'missing.pt'}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("samem export: error: checkpoint") and "does not exist" in err and len(err.splitlines()) == 1
    assert main(["export", "--model", "samem-compact:random", "--image-size", "40", "--out", str(out)]) == 2
    assert "multiple of 16" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".repo*"))


def test_the_wheel_provides_a_server_and_a_stub_for_this_python() -> None:
    install = TritonInstall.locate()
    assert (
        install.server.is_file()
        and install.stub.is_file()
        and (install.python_backend / "libtriton_python.so").is_file()
    )
    env = install.environment()
    assert env["LD_LIBRARY_PATH"].split(":")[0] == str(install.libs)


def test_a_missing_repository_is_refused_before_starting(tmp_path: Path) -> None:
    with pytest.raises(TritonError, match="is not a directory; run `samem export` first"):
        TritonServer(tmp_path / "nothing")
    with pytest.raises(TritonError, match="poll_seconds must be >= 1, got 0"):
        TritonServer(tmp_path, poll_seconds=0)
    polling = TritonServer(tmp_path, poll_seconds=5).command(tmp_path)
    assert "--model-control-mode=poll" in polling and "--repository-poll-secs=5" in polling
    assert not any(arg.startswith("--model-control-mode") for arg in TritonServer(tmp_path).command(tmp_path))


def test_write_repository_refuses_version_zero(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="model version must be >= 1, got 0"):
        write_repository(tmp_path / "repo", "samem-compact:random", version=0)


def test_export_records_the_precision_and_refuses_it_for_onnx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "repo"
    args = ["export", "--model", "samem-compact:random", "--image-size", str(SIZE), "--precision", "bf16"]
    assert main([*args, "--out", str(out)]) == 0
    assert "(cpu, bf16)" in capsys.readouterr().out
    config = _parse((out / model_name("track_frame") / "config.pbtxt").read_text())
    assert ServedModel.from_json(config.parameters[MODEL_KEY].string_value).precision == "bf16"
    assert main([*args, "--variant", "onnx", "--out", str(tmp_path / "onnx")]) == 2
    assert "precision applies to the python variant" in capsys.readouterr().err
    assert not (tmp_path / "onnx").exists()
    with pytest.raises(InputError, match="precision must be one of fp32, bf16, got 'fp16'"):
        write_repository(tmp_path / "fp16", "samem-compact:random", precision="fp16")  # type: ignore[arg-type]


def test_generated_model_files_apply_pythonpath_in_an_isolated_interpreter(tmp_path: Path) -> None:
    """Triton's stub embeds an isolated interpreter (PYTHONPATH ignored); model.py must apply PYTHONPATH itself.

    ``python -I`` ignores PYTHONPATH the same way; the backend's utility module exists only on that PYTHONPATH
    (an empty stand-in: this checks the import path, not the backend).
    """
    repo = write_repository(tmp_path / "repo", "samem-compact:random", image_size=SIZE)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "triton_python_backend_utils.py").write_text("")
    model_file = repo.path / model_name("encode_frame") / "1" / "model.py"
    env = {**os.environ, "PYTHONPATH": str(outside)}
    run = subprocess.run([sys.executable, "-I", str(model_file)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    stripped = model_file.read_text().replace("sys.path[:0]", "_ignored")
    model_file.write_text(stripped)
    run = subprocess.run([sys.executable, "-I", str(model_file)], env=env, capture_output=True, text=True)
    assert "No module named 'triton_python_backend_utils'" in run.stderr
