"""bfloat16 autocast in the local backend: same masks as float32 within a stated agreement, float32 outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from samem.engine import LocalBackend
from samem.evaluate.segmentation import jaccard
from samem.measure import label_boxes
from samem.model import build_model
from samem.serving.step_runner import StepRunner
from samem.sim import layout_spec, simulate_video
from samem.tracking import track
from samem.tracking.prompts import PromptSpec

# measured with the shipped weights on this clip: mean J between the bf16 and the fp32 masks 0.94 (J against the
# truth: fp32 0.563, bf16 0.561)
MIN_AGREEMENT_J = 0.9


def test_bf16_tracking_gives_the_float32_masks_of_the_shipped_model() -> None:
    spec = layout_spec(seed=11, width=256, height=256, n_frames=10, n_particles=3, shape="sphere",
                       size_nm=(20.0, 30.0))  # fmt: skip
    clip = simulate_video(spec)
    boxes = label_boxes(clip.labels[0])
    prompts = [PromptSpec(particle=int(pid), frame=0, box=tuple(box)) for pid, box in boxes.items()]
    loaded = build_model("samem-compact")
    runs = {
        precision: track(clip.video, prompts, model=loaded, return_masks=True, overlay=None, precision=precision)
        for precision in ("fp32", "bf16")
    }
    assert runs["bf16"].run["precision"] == "bf16" and runs["fp32"].run["precision"] == "fp32"
    fp32, bf16 = runs["fp32"].masks, runs["bf16"].masks
    pairs = [(fp32[t] == p, bf16[t] == p) for t in range(fp32.shape[0]) for p in boxes if (fp32[t] == p).any()]
    assert len(pairs) >= 20
    assert np.mean([jaccard(b, a) for a, b in pairs]) >= MIN_AGREEMENT_J
    assert not np.array_equal(runs["fp32"].trajectories.x, runs["bf16"].trajectories.x)  # autocast was on


def test_bf16_steps_return_float32() -> None:
    backend = LocalBackend(build_model("samem-compact:random", image_size=64).model, precision="bf16")
    features = backend.encode_frame(torch.rand(1, 1, 64, 64))
    out = backend.decode_prompts(features, torch.tensor([[[4.0, 4.0], [30.0, 30.0]]]), torch.tensor([[2, 3]]))
    assert features.high_res_0.dtype == torch.bfloat16  # the encoder ran under autocast
    assert {t.dtype for t in (out.low_res_logits, out.object_score_logits, out.obj_ptr, out.iou)} == {torch.float32}
    memory = backend.encode_memory(features, torch.zeros(1, 1, 64, 64), out.object_score_logits, True)
    assert memory.dtype == torch.float32


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        LocalBackend(build_model("samem-compact:random", image_size=64).model, precision="fp16")  # type: ignore[arg-type]


def test_a_served_step_in_bf16_equals_the_local_backend_in_bf16() -> None:
    """The Triton python backend's step runner runs the same autocast as the local backend, float32 out."""
    model = build_model("samem-compact:random", image_size=64).model
    image = torch.rand(1, 1, 64, 64)
    local = {p: LocalBackend(model, precision=p).encode_frame(image).image_embed for p in ("fp32", "bf16")}
    served = {p: StepRunner(model, "encode_frame", precision=p)({"image": image.numpy()}) for p in ("fp32", "bf16")}
    assert {a.dtype for out in served.values() for a in out.values()} == {torch.float32}
    for p in ("fp32", "bf16"):
        assert torch.equal(served[p]["image_embed"], local[p].float())
    assert not torch.equal(served["bf16"]["image_embed"], served["fp32"]["image_embed"])
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        StepRunner(model, "encode_frame", precision="fp16")  # type: ignore[arg-type]
