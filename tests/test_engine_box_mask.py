"""Dense box prompts: the box as a filled mask, switched on per checkpoint, used by training and the engine.

Also: both prompt flags of samem's weights (this one and mask propagation) travel from recipe to checkpoint.
"""

from __future__ import annotations

import pytest
import torch
from train_support import SIZE, TINY, present_model

from samem.engine import steps
from samem.model import build_model
from samem.model.build import BOX_MASK_PROMPT_KEY, MASK_PROPAGATION_KEY
from samem.train.trainer import train


def _model(box_mask_prompt: bool) -> torch.nn.Module:
    return present_model(box_mask_prompt=box_mask_prompt)


def test_box_mask_fills_the_box_at_the_mask_prompt_size():
    model = _model(True)
    coords = torch.tensor([[[8.0, 16.0], [24.0, 40.0]], [[0.0, 0.0], [63.0, 63.0]], [[30.0, 30.0], [0.0, 0.0]]])
    labels = torch.tensor([[2, 3], [2, 3], [1, -1]])  # two boxes; a click with upstream's padding point
    mask = steps.box_mask(model, coords, labels)
    height, width = model.sam_prompt_encoder.mask_input_size
    assert mask.shape == (3, 1, height, width) == (3, 1, SIZE // 4, SIZE // 4)
    cell = SIZE / width  # model pixels per mask pixel; centres at (i + 0.5) * cell
    centres = (torch.arange(width) + 0.5) * cell
    expected = ((centres >= 16) & (centres <= 40))[:, None] & ((centres >= 8) & (centres <= 24))[None, :]
    assert torch.equal(mask[0, 0].bool(), expected)
    assert mask[1].all()  # the whole frame
    assert not mask[2].any()  # no box, no mask


def test_the_dense_prompt_changes_the_decoding_only_when_switched_on():
    image = torch.rand(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    coords, labels = torch.tensor([[[8.0, 16.0], [24.0, 40.0]]]), torch.tensor([[2, 3]])
    with torch.no_grad():
        plain, dense = _model(False), _model(True)
        out_plain = steps.decode_prompts(plain, steps.encode_frame(plain, image), coords, labels)
        out_dense = steps.decode_prompts(dense, steps.encode_frame(dense, image), coords, labels)
        again = steps.decode_prompts(plain, steps.encode_frame(plain, image), coords, labels)
    assert torch.equal(out_plain.low_res_logits, again.low_res_logits)
    assert (out_plain.low_res_logits - out_dense.low_res_logits).abs().max() > 1e-3
    assert not torch.allclose(out_plain.obj_ptr, out_dense.obj_ptr)


@pytest.mark.parametrize(("field", "key"), [("box_mask_prompt", BOX_MASK_PROMPT_KEY),
                                            ("mask_propagation", MASK_PROPAGATION_KEY)])  # fmt: skip
def test_training_with_a_prompt_flag_writes_the_flag_that_inference_reads(tmp_path, field, key):
    """Both prompt flags of samem's own weights: set by the recipe, stored in the checkpoint, read by build_model."""
    on = train(TINY.with_overrides(steps=2, val_clips=0, frames=3, **{field: True}), out_dir=tmp_path / "on",
               progress=False)  # fmt: skip
    off = train(TINY.with_overrides(steps=1, val_clips=0), out_dir=tmp_path / "off", progress=False)
    assert torch.load(on.final_model, weights_only=False)[key] is True
    assert key not in torch.load(off.final_model, weights_only=False)
    assert getattr(build_model(f"samem-compact:{on.final_model}").model, field) is True
    assert getattr(build_model(f"samem-compact:{off.final_model}").model, field) is False
    assert getattr(build_model("samem-compact:random").model, field) is False
