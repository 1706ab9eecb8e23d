"""The clip forward pass: gradients reach every trained part, and in eval mode it equals the engine's Tracker."""

from __future__ import annotations

import numpy as np
import torch
from engine_support import compact_state_dict
from train_support import SIZE, TINY, fixed_clip, tiny_model

from samem.engine import LocalBackend, Tracker, steps
from samem.train.forward import forward_clip, jitter_masks
from samem.train.losses import clip_losses


def grad_norms(model: torch.nn.Module, prefix: str) -> float:
    return sum(
        float(p.grad.abs().sum()) for n, p in model.named_parameters() if n.startswith(prefix) and p.grad is not None
    )


def test_gradients_reach_decoder_memory_attention_and_encoder():
    model = tiny_model()
    clip = fixed_clip()
    outputs = forward_clip(model, clip.images, clip.point_coords, clip.point_labels)
    assert len(outputs) == 2 and outputs[1].multimask_logits.shape == (clip.n_objects, 3, SIZE // 4, SIZE // 4)
    clip_losses(outputs, clip.targets, TINY, n_objects=clip.n_objects).total.backward()
    for prefix in ("sam_mask_decoder.", "memory_attention.", "memory_encoder.", "image_encoder.trunk.",
                   "image_encoder.neck.", "sam_prompt_encoder."):  # fmt: skip
        assert grad_norms(model, prefix) > 0, prefix


def test_mask_loss_trains_the_decoder_while_objects_are_scored_absent():
    # SAM 2 replaces the masks of objects scored <= 0 by -1024; the loss uses the decoder's raw candidates, so the
    # mask terms alone still move the mask decoder.
    model = tiny_model()
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(-100.0)
    clip = fixed_clip()
    outputs = forward_clip(model, clip.images, clip.point_coords, clip.point_labels)
    assert all((o.object_score_logits < 0).all() for o in outputs)
    assert all((o.low_res_logits == -1024).all() for o in outputs)
    recipe = TINY.with_overrides(iou_weight=0.0, object_score_weight=0.0)
    clip_losses(outputs, clip.targets, recipe, n_objects=clip.n_objects).total.backward()
    assert grad_norms(model, "sam_mask_decoder.output_hypernetworks_mlps.") > 0
    assert grad_norms(model, "sam_mask_decoder.output_upscaling.") > 0


def test_eval_forward_equals_the_tracker():
    model = tiny_model()
    model.load_state_dict(compact_state_dict())  # engine-test weights (strong position and score gains)
    with torch.no_grad():  # shifted so that this clip has objects present and absent on every frame
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(100.0)
    model.eval()
    clip = fixed_clip(frames=3, step=4)
    with torch.no_grad():
        outputs = forward_clip(model, clip.images, clip.point_coords, clip.point_labels)
    # frames already at model size: input pixels are model pixels
    tracker = Tracker(LocalBackend(model), height=SIZE, width=SIZE, num_frames=3)
    tracker.add_boxes(0, list(range(1, clip.n_objects + 1)), clip.point_coords.reshape(-1, 4).numpy())
    present = masks = 0
    for result in tracker.propagate(lambda t: clip.images[t]):
        mine = torch.nn.functional.interpolate(
            outputs[result.frame].low_res_logits, size=(SIZE, SIZE), mode="bilinear", align_corners=False
        )[:, 0]
        # the tracker stores mask memories in bfloat16, training keeps them in float32
        np.testing.assert_allclose(mine.numpy(), result.mask_logits, atol=1e-3)
        np.testing.assert_allclose(
            outputs[result.frame].object_score_logits[:, 0].numpy(), result.object_scores, atol=0.2
        )
        present += int((result.object_scores > 0).any() and (result.object_scores < 0).any())
        masks += int((result.mask_logits > 0).any())
    assert present == masks == 3  # compared with objects present and absent on every frame


def test_prompt_jitter_moves_every_previous_mask_prompt_by_at_most_the_bound():
    torch.manual_seed(0)
    masks = torch.zeros(64, 1, 16, 16)
    masks[:, :, 6:9, 5:8] = 1.0  # 3 x 3 squares, top-left at (x 5, y 6)
    moved = jitter_masks(masks, 2)
    assert moved.shape == masks.shape and torch.all(moved.sum((1, 2, 3)) == 9)  # nothing falls off
    rows = moved[:, 0].sum(2).argmax(1)  # first row with mass
    cols = moved[:, 0].sum(1).argmax(1)
    dx, dy = cols - 5, rows - 6
    assert dx.abs().max() <= 2 and dy.abs().max() <= 2
    assert len({(int(a), int(b)) for a, b in zip(dx, dy, strict=True)}) > 10  # shifts differ per object
    assert torch.equal(jitter_masks(masks, 0), masks)


def test_prompt_jitter_changes_only_tracked_frames_of_mask_propagation_models():
    model = tiny_model()
    model.load_state_dict(compact_state_dict())
    with torch.no_grad():  # objects present, so that frame 0 leaves non-empty mask prompts
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(100.0)
    model.mask_propagation = True
    model.eval()
    clip = fixed_clip(frames=3, step=4)
    decoder_masks: list[torch.Tensor] = []  # every mask-decoder call in order: frame 0, then 1 + refinements a frame
    hook = model.sam_mask_decoder.register_forward_hook(lambda module, args, out: decoder_masks.append(out[0]))
    with torch.no_grad():
        plain = forward_clip(model, clip.images, clip.point_coords, clip.point_labels)
        torch.manual_seed(1)
        jittered = forward_clip(model, clip.images, clip.point_coords, clip.point_labels, prompt_jitter=3)
    hook.remove()
    calls = len(decoder_masks) // 2
    assert calls == 1 + 2 * (1 + steps.PROMPT_REFINEMENTS)
    assert (plain[0].low_res_logits > 0).any()
    assert torch.equal(plain[0].low_res_logits, jittered[0].low_res_logits)  # the prompted frame
    # frame 1's first decoder pass is the one prompted with the (jittered) previous mask
    assert not torch.equal(decoder_masks[1], decoder_masks[calls + 1])
