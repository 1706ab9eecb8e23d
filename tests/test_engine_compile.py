"""torch.compile of the engine's model: same masks as eager, the original model untouched."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sam2.modeling.sam.transformer import RoPEAttention
from serving_support import IMAGE_SIZE, track_all, write_checkpoint

from samem.engine import LocalBackend
from samem.engine.compile import COMPONENTS, compile_model, owned_outputs
from samem.model import build_model
from samem.model.build import IMAGE_SIZE_KEY, MASK_PROPAGATION_KEY
from samem.model.rope import RealRoPEAttention

pytestmark = pytest.mark.slow  # compiles five components on the CPU: about 40 s, 2-3 min with a cold inductor cache


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    path = write_checkpoint(tmp_path_factory.mktemp("weights") / "compact.pt")
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, IMAGE_SIZE_KEY: IMAGE_SIZE, MASK_PROPAGATION_KEY: True}, path)
    return build_model(f"samem-compact:{path}").model


def test_a_compiled_model_tracks_as_the_eager_one(model: torch.nn.Module) -> None:
    eager_logits, eager_scores = track_all(LocalBackend(model))
    torch._dynamo.reset()
    compiled = compile_model(model)
    logits, scores = track_all(LocalBackend(compiled))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= len(COMPONENTS)  # every component compiled
    assert (eager_scores > 0).any() and (eager_scores <= 0).any()
    assert np.array_equal(logits > 0, eager_logits > 0)
    np.testing.assert_allclose(logits, eager_logits, rtol=0, atol=1e-4)
    np.testing.assert_allclose(scores, eager_scores, rtol=1e-5, atol=1e-4)
    # a copy: the given model keeps its complex RoPE and eager components
    assert all(hasattr(getattr(compiled, name).forward, "_torchdynamo_orig_callable") for name, _ in COMPONENTS)
    assert not any(hasattr(getattr(model, name).forward, "_torchdynamo_orig_callable") for name, _ in COMPONENTS)
    assert type(model.memory_attention.layers[0].self_attn) is RoPEAttention
    assert type(compiled.memory_attention.layers[0].self_attn) is RealRoPEAttention


def test_compilation_leaves_the_weights_as_they_are(model: torch.nn.Module) -> None:
    compiled = compile_model(model)
    ours = {k: v for k, v in compiled.state_dict().items() if not k.endswith(("cos", "sin"))}
    theirs = model.state_dict()
    assert ours.keys() <= theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_graph_modes_copy_every_components_outputs_and_the_masks_stay_the_same(model: torch.nn.Module) -> None:
    """In CUDA-graph modes each compiled component is wrapped; the copies change no mask (checked eagerly: a CPU
    records no graphs, and compiling again would only repeat the test above)."""
    graphed = compile_model(model, mode="reduce-overhead")  # torch.compile is lazy: nothing compiles here
    plain = compile_model(model)
    wrapper = owned_outputs(print).__code__  # every wrapper shares this code object
    for name, _ in COMPONENTS:
        forward = getattr(graphed, name).forward
        assert forward.__code__ is wrapper and hasattr(forward.__wrapped__, "_torchdynamo_orig_callable")
        assert getattr(plain, name).forward.__code__ is not wrapper
    eager_logits, eager_scores = track_all(LocalBackend(model))
    copying = copy.deepcopy(model)
    for name, _ in COMPONENTS:
        component = getattr(copying, name)
        component.forward = owned_outputs(component.forward)
    logits, scores = track_all(LocalBackend(copying))
    assert np.array_equal(logits, eager_logits) and np.array_equal(scores, eager_scores)


def test_graph_modes_hand_out_copies_that_a_later_replay_cannot_overwrite() -> None:
    """A CUDA graph writes every replay's outputs into the same buffers; kept outputs must not change."""
    static = {"features": torch.zeros(2), "levels": [torch.zeros(1)]}

    def replay(value: float) -> tuple[dict, torch.Tensor]:
        static["features"].fill_(value)
        static["levels"][0].fill_(value)
        return static, static["features"]

    run = owned_outputs(replay)
    first, first_alias = run(1.0)
    second, _ = run(2.0)
    assert first["features"].tolist() == [1.0, 1.0] and first["levels"][0].item() == 1.0
    assert first_alias.tolist() == [1.0, 1.0] and second["features"].tolist() == [2.0, 2.0]
    assert static["features"].tolist() == [2.0, 2.0]  # the unwrapped buffers did change
