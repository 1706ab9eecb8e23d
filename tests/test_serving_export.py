"""ONNX export: real-valued RoPE equals SAM 2's complex RoPE; exported graphs equal the engine's PyTorch steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from engine_support import compact_state_dict
from serving_support import IMAGE_SIZE, model_images, write_checkpoint
from tritonclient.grpc import model_config_pb2

from samem.cli import main
from samem.engine import steps
from samem.engine.steps import FrameFeatures, MemoryInputs
from samem.model import build_model
from samem.model.build import BOX_MASK_PROMPT_KEY, MASK_PROPAGATION_KEY
from samem.model.rope import real_rope_model
from samem.serving.export import PARITY_TOLERANCE, DecodePromptsGraph, graph_difference
from samem.serving.repository import MANIFEST
from samem.serving.spec import ALL_STEPS, model_name
from samem.serving.step_runner import constant_pos_enc

pytestmark = pytest.mark.slow  # exports five ONNX graphs, three times: about 2 minutes

# float32 ONNX (onnxruntime, CPU) vs PyTorch on the compact model at 128 px, error |ONNX - PyTorch| / (1 + |PyTorch|)
# graph_difference (each output's error on its own scale: the test weights amplify object scores to about +-70):
# measured at most 1e-5
GRAPH_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"samem-compact:{write_checkpoint(tmp_path_factory.mktemp('weights') / 'compact.pt')}"


@pytest.fixture(scope="module")
def model(spec: str) -> torch.nn.Module:
    return build_model(spec, image_size=IMAGE_SIZE).model


@pytest.fixture(scope="module")
def onnx_repository(tmp_path_factory: pytest.TempPathFactory, spec: str) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "repository"
    args = ["export", "--model", spec, "--variant", "onnx", "--image-size", str(IMAGE_SIZE), "--out", str(out)]
    args += ["--version", "3"]
    assert main(args) == 0
    return out


def test_real_valued_rope_equals_complex_rope(model: torch.nn.Module) -> None:
    real = real_rope_model(model)
    generator = torch.Generator().manual_seed(0)
    tokens, dim = (IMAGE_SIZE // 16) ** 2, model.hidden_dim
    q = torch.randn(2, tokens, dim, generator=generator)
    memory = torch.randn(2, 3 * tokens + 8, model.mem_dim, generator=generator)
    layers = zip(model.memory_attention.layers, real.memory_attention.layers, strict=True)
    with torch.inference_mode():
        for theirs, ours in layers:
            assert type(ours.self_attn).__name__ == "RealRoPEAttention"
            assert torch.allclose(theirs.self_attn(q, q, q), ours.self_attn(q, q, q), atol=1e-6)
            for exclude in (0, 8):  # the last 8 keys (object pointers) are not rotated
                keys = memory if exclude else memory[:, : 3 * tokens]
                kwargs = {"num_k_exclude_rope": exclude} if exclude else {}
                expected = theirs.cross_attn_image(q, keys, keys, **kwargs)
                got = ours.cross_attn_image(q, keys, keys, num_k_exclude_rope=exclude)
                assert torch.allclose(expected, got, atol=1e-6)
    # the real model has no complex tensors left (what ONNX cannot express)
    assert not any(t.is_complex() for t in real.state_dict().values())
    assert not any(getattr(m, "freqs_cis", None) is not None for m in real.modules())


def test_onnx_repository_is_versioned_and_configured_for_gpus(onnx_repository: Path) -> None:
    manifest = json.loads((onnx_repository / MANIFEST).read_text())
    assert manifest["variant"] == "onnx" and manifest["version"] == 3
    assert all(0 <= diff <= PARITY_TOLERANCE for diff in manifest["onnx_parity_error"].values())
    assert sorted(manifest["onnx_parity_error"]) == sorted(ALL_STEPS)
    from google.protobuf import text_format

    for step in ALL_STEPS:
        config = text_format.Parse(
            (onnx_repository / model_name(step) / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
        )
        assert (onnx_repository / model_name(step) / "3" / "model.onnx").is_file()
        assert config.backend == "onnxruntime" and config.default_model_filename == "model.onnx"
        assert [g.kind for g in config.instance_group] == [model_config_pb2.ModelInstanceGroup.KIND_GPU]
        accelerators = config.optimization.execution_accelerators.gpu_execution_accelerator
        batched = step == "encode_frame"
        assert config.HasField("dynamic_batching") == batched and (config.max_batch_size > 0) == batched
        assert [(a.name, a.parameters["precision_mode"]) for a in accelerators] == ([("tensorrt", "FP16")] * batched)


def _session(repository: Path, step: str) -> onnxruntime.InferenceSession:
    path = repository / model_name(step) / "3" / "model.onnx"
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session: onnxruntime.InferenceSession, **inputs: torch.Tensor | np.ndarray) -> list[np.ndarray]:
    return session.run(None, {k: np.asarray(v) for k, v in inputs.items()})


def _close(got: list[np.ndarray], expected: list[torch.Tensor]) -> float:
    return graph_difference(got, [e.numpy() for e in expected])


def _features(model: torch.nn.Module, index: int) -> FrameFeatures:
    with torch.inference_mode():
        return steps.encode_frame(model, model_images()[index][None])


def test_onnx_frame_encoding_equals_pytorch_for_any_batch(onnx_repository: Path, model: torch.nn.Module) -> None:
    session = _session(onnx_repository, "encode_frame")
    for frames in ([0], [1, 5, 9]):
        images = torch.stack([model_images()[i] for i in frames])
        with torch.inference_mode():
            out = steps.encode_frame(model, images)
        expected = [out.image_embed, out.high_res_0, out.high_res_1, out.pos_enc]
        assert _close(_run(session, image=images), expected) <= GRAPH_TOLERANCE


def test_onnx_prompt_decoding_and_memory_encoding_equal_pytorch(onnx_repository: Path, model: torch.nn.Module) -> None:
    features = _features(model, 0)
    f = {"image_embed": features.image_embed, "high_res_0": features.high_res_0, "high_res_1": features.high_res_1}
    decode, encode = _session(onnx_repository, "decode_prompts"), _session(onnx_repository, "encode_memory")
    boxes = torch.tensor([[[10.0, 20.0], [60.0, 70.0]], [[70.0, 30.0], [110.0, 64.0]], [[5.0, 5.0], [40.0, 50.0]]])
    box_labels = torch.tensor([[2, 3]] * 3, dtype=torch.int32)
    box_and_clicks = torch.cat([boxes[:2], torch.tensor([[[30.0, 40.0]], [[90.0, 50.0]]])], dim=1)
    click_labels = torch.tensor([[2, 3, 1], [2, 3, 0]], dtype=torch.int32)
    single_click = torch.tensor([[[30.0, 40.0]], [[90.0, 50.0]]])
    single_label = torch.tensor([[1], [1]], dtype=torch.int32)
    for coords, labels in ((boxes, box_labels), (box_and_clicks, click_labels), (single_click, single_label)):
        with torch.inference_mode():
            out = steps.decode_prompts(model, features, coords, labels)
        expected = [out.low_res_logits, out.object_score_logits, out.obj_ptr, out.iou]
        assert _close(_run(decode, **f, point_coords=coords, point_labels=labels), expected) <= GRAPH_TOLERANCE
        high_res = torch.nn.functional.interpolate(out.low_res_logits, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear")
        for from_points in (True, False):
            with torch.inference_mode():
                memory = steps.encode_memory(model, features, high_res, out.object_score_logits, from_points)
            got = _run(
                encode,
                image_embed=features.image_embed,
                high_res_mask_logits=high_res,
                object_score_logits=out.object_score_logits,
                is_mask_from_pts=np.asarray([from_points]),
            )
            assert _close(got, [memory]) <= GRAPH_TOLERANCE


def test_decode_graph_picks_upstreams_multimask_branch_by_the_number_of_points(spec: str) -> None:
    """A single click: the best of three masks; two or more points: one mask (upstream's rule, as tensors)."""
    model = build_model(spec, image_size=IMAGE_SIZE).model
    model.sam_mask_decoder.dynamic_multimask_via_stability = False  # else the branches can coincide
    graph = DecodePromptsGraph(model)
    features = _features(model, 0)
    f = (features.image_embed, features.high_res_0, features.high_res_1)
    click, click_label = torch.tensor([[[30.0, 40.0]]]), torch.tensor([[1]], dtype=torch.int32)
    box, box_label = torch.tensor([[[10.0, 20.0], [60.0, 70.0]]]), torch.tensor([[2, 3]], dtype=torch.int32)
    with torch.inference_mode():
        for coords, labels, multimask in ((click, click_label, True), (box, box_label, False)):
            got = graph(*f, coords, labels)
            chosen = steps.decode_prompts(model, features, coords, labels, multimask=multimask)
            other = steps.decode_prompts(model, features, coords, labels, multimask=not multimask)
            assert torch.equal(got[0], chosen.low_res_logits) and torch.equal(got[2], chosen.obj_ptr)
            assert torch.equal(got[3], chosen.iou) and (got[3] - other.iou).abs().max() > 1e-4


@pytest.mark.parametrize(
    ("objects", "tpos", "offsets"),
    [
        (1, (0,), (1,)),  # the frame after a prompt
        (3, (0, 6, 5, 4, 3, 2, 1), tuple(range(1, 17))),  # a full memory bank and 16 pointers
        (2, (0, 6), ()),  # an object prompted on a later frame: no pointers from the past
        (2, (), (3, 1, 2)),  # pointers only
    ],
)
def test_onnx_tracking_steps_equal_the_engine_step_for_any_memory_layout(
    onnx_repository: Path, model: torch.nn.Module, objects: int, tpos: tuple[int, ...], offsets: tuple[int, ...]
) -> None:
    features = _features(model, 3)
    generator = torch.Generator().manual_seed(len(tpos) + 10 * len(offsets))
    h = features.image_embed.shape[-1]
    memory = MemoryInputs(
        maskmem=torch.randn(objects, len(tpos), model.mem_dim, h, h, generator=generator).to(torch.bfloat16),
        maskmem_tpos=tpos,
        obj_ptrs=torch.randn(objects, len(offsets), model.hidden_dim, generator=generator),
        ptr_offsets=offsets,
        max_ptr_offset=15,
    )
    with torch.inference_mode():
        out = steps.track_frame(model, features, memory)
    raw = {
        "maskmem": memory.maskmem.float(),
        "maskmem_tpos": np.asarray(tpos, np.int32),
        "obj_ptrs": memory.obj_ptrs,
        "ptr_offsets": np.asarray(offsets, np.int32),
        "max_ptr_offset": np.asarray([15], np.int32),
    }
    f = {"image_embed": features.image_embed, "high_res_0": features.high_res_0, "high_res_1": features.high_res_1}
    expected = [out.low_res_logits, out.object_score_logits, out.obj_ptr, out.iou, out.memory]
    assert _close(_run(_session(onnx_repository, "track_frame"), **f, **raw), expected) <= GRAPH_TOLERANCE
    # the fused graph: the same from the model image, its features never leaving the graph
    fused = _run(_session(onnx_repository, "track_image"), image=model_images()[3][None], **raw)
    assert _close(fused, expected) <= GRAPH_TOLERANCE


def test_constant_pos_enc_equals_the_encoder_output(model: torch.nn.Module) -> None:
    assert torch.equal(constant_pos_enc(model), _features(model, 0).pos_enc)


def _export_with_flag(tmp_path: Path, key: str, *, score_bias: float = 0.0) -> tuple[Path, torch.nn.Module]:
    """An ONNX repository (version 3) of test weights carrying one of samem's prompt flags, and the model.

    ``score_bias`` is added to the object-score head's output bias (random weights score every object absent).
    """
    path = tmp_path / "flagged.pt"
    state = dict(compact_state_dict())  # a copy: the cached weights stay as they are
    head = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
    state[head] = state[head] + score_bias
    torch.save({"model": state, key: True}, path)
    spec = f"samem-compact:{path}"
    out = tmp_path / "repository"
    assert main(["export", "--model", spec, "--variant", "onnx", "--image-size", str(IMAGE_SIZE), "--out", str(out),
                 "--version", "3"]) == 0  # fmt: skip
    return out, build_model(spec, image_size=IMAGE_SIZE).model


def test_onnx_decoding_carries_the_dense_box_prompt(tmp_path: Path) -> None:
    """Weights trained with dense box prompts: the exported graph builds the box mask itself, as PyTorch does."""
    out, dense = _export_with_flag(tmp_path, BOX_MASK_PROMPT_KEY)
    assert dense.box_mask_prompt
    features = _features(dense, 0)
    f = {"image_embed": features.image_embed, "high_res_0": features.high_res_0, "high_res_1": features.high_res_1}
    coords = torch.tensor([[[10.0, 20.0], [60.0, 70.0]], [[70.0, 30.0], [110.0, 64.0]]])
    labels = torch.tensor([[2, 3]] * 2, dtype=torch.int32)
    with torch.inference_mode():
        expected = steps.decode_prompts(dense, features, coords, labels)
        dense.box_mask_prompt = False
        sparse_only = steps.decode_prompts(dense, features, coords, labels)
    got = _run(_session(out, "decode_prompts"), **f, point_coords=coords, point_labels=labels)
    assert _close(got, [expected.low_res_logits, expected.object_score_logits, expected.obj_ptr, expected.iou]) <= (
        GRAPH_TOLERANCE
    )
    assert np.abs(got[1] - sparse_only.object_score_logits.numpy()).max() > 1e-3  # the graph used the box mask


def test_onnx_tracking_carries_the_previous_mask_prompt(tmp_path: Path) -> None:
    """Weights trained with mask propagation: the exported tracking graph takes previous_masks, as PyTorch does."""
    # objects present: their first-pass masks are the prompts of the refinement pass (steps.PROMPT_REFINEMENTS)
    out, propagating = _export_with_flag(tmp_path, MASK_PROPAGATION_KEY, score_bias=300.0)
    assert propagating.mask_propagation
    features = _features(propagating, 2)
    generator = torch.Generator().manual_seed(5)
    h, low = features.image_embed.shape[-1], IMAGE_SIZE // 4
    memory = MemoryInputs(
        maskmem=torch.randn(2, 2, propagating.mem_dim, h, h, generator=generator).to(torch.bfloat16),
        maskmem_tpos=(0, 6),
        obj_ptrs=torch.randn(2, 2, propagating.hidden_dim, generator=generator),
        ptr_offsets=(1, 2),
        max_ptr_offset=15,
    )
    previous = torch.zeros(2, 1, low, low)
    previous[0, :, 4:12, 6:20] = 1.0
    previous[1, :, 20:30, 10:14] = 1.0
    with torch.inference_mode():
        expected = steps.track_frame(propagating, features, memory, previous)
        blank = steps.track_frame(propagating, features, memory, torch.zeros_like(previous))
    got = _run(
        _session(out, "track_frame"),
        image_embed=features.image_embed,
        high_res_0=features.high_res_0,
        high_res_1=features.high_res_1,
        maskmem=memory.maskmem.float(),
        maskmem_tpos=np.asarray(memory.maskmem_tpos, np.int32),
        obj_ptrs=memory.obj_ptrs,
        ptr_offsets=np.asarray(memory.ptr_offsets, np.int32),
        max_ptr_offset=np.asarray([15], np.int32),
        previous_masks=previous,
    )
    outputs = [expected.low_res_logits, expected.object_score_logits, expected.obj_ptr, expected.iou, expected.memory]
    assert _close(got, outputs) <= GRAPH_TOLERANCE
    assert (got[0] > 0).any() and (got[1] > 0).all()
    assert np.abs(got[0] - blank.low_res_logits.numpy()).max() > 1e-3  # the graph used the masks
