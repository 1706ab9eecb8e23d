"""The engine reproduces upstream SAM 2's offline video propagation on the same weights and frames."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_support import (
    BOXES,
    HEIGHT,
    N_FRAMES,
    UPSTREAM_PREDICTOR,
    WIDTH,
    backend,
    build,
    model_images,
    preprocessor,
    synthetic_frames,
)
from PIL import Image

from samem.engine import Tracker, steps

# float32 batched (engine) vs unbatched (upstream) kernels: measured max |logit diff| ~2e-7 at input resolution
# (logits of the test model span about -0.3 to 0.2, and -1024 for absent objects)
LOGIT_TOLERANCE = 1e-4
# the test weights amplify the object-score head 5000 x (see engine_support), so score differences are amplified too
SCORE_TOLERANCE = 1e-2
# a single click: multimask output on its conditioning frame (boxes count as two points and give one mask)
POINT_PARTICLE, POINT_PROMPT = 4, (2, (107.0, 60.0))


def float32_memory(attention: torch.nn.Module) -> None:
    """Let upstream attend to bfloat16-stored memories in float32 on CPU.

    Upstream stores mask memories in bfloat16 and relies on CUDA autocast; in float32 on CPU its concatenation with
    the float32 object pointers promotes them to float32, but a frame whose memory has no pointer (an object
    prompted only on a later frame, before that frame) reaches the attention in bfloat16 and fails. Casting there is
    what the promotion does in every other case, and what the engine does always.
    """
    forward = attention.forward

    def cast(*args: object, memory: torch.Tensor, **kwargs: object) -> torch.Tensor:
        return forward(*args, memory=memory.float(), **kwargs)

    attention.forward = cast


def run_upstream(tmp_path: Path) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per frame: upstream mask logits [N, H, W] at input resolution and object scores [N]."""
    predictor = build(UPSTREAM_PREDICTOR)
    float32_memory(predictor.memory_attention)
    folder = tmp_path / "jpg"
    folder.mkdir()
    for index, frame in enumerate(synthetic_frames()):
        Image.fromarray(frame).convert("RGB").save(folder / f"{index:05d}.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hole filling needs upstream's CUDA extension; on CPU it is skipped
        state = predictor.init_state(str(folder))
        state["images"] = steps.model_input(model_images())  # upstream takes SAM 2 input
        state["cached_features"] = {}
        state["video_height"], state["video_width"] = HEIGHT, WIDTH
        geometry = preprocessor().geometry
        for particle, (frame, box) in BOXES.items():
            normalised = geometry.boxes_to_model(np.asarray(box)) / predictor.image_size
            predictor.add_new_points_or_box(
                state, frame_idx=frame, obj_id=particle, box=normalised, normalize_coords=False
            )
        frame, point = POINT_PROMPT
        normalised = geometry.points_to_model(np.asarray([point])) / predictor.image_size
        predictor.add_new_points_or_box(
            state, frame_idx=frame, obj_id=POINT_PARTICLE, points=normalised, labels=[1], normalize_coords=False
        )
        logits = {frame: masks[:, 0].numpy().copy() for frame, _, masks in predictor.propagate_in_video(state)}
    scores = {}
    for frame in logits:
        per_object = []
        for index in range(len(BOXES) + 1):
            outputs = state["output_dict_per_obj"][index]
            out = outputs["cond_frame_outputs"].get(frame) or outputs["non_cond_frame_outputs"][frame]
            per_object.append(float(out["object_score_logits"]))
        scores[frame] = np.asarray(per_object, dtype=np.float32)
    return logits, scores


def run_engine() -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    tracker = Tracker(backend(), height=HEIGHT, width=WIDTH, num_frames=N_FRAMES)
    for particle, (frame, box) in BOXES.items():
        tracker.add_prompt(frame, particle, box=box)
    tracker.add_prompt(POINT_PROMPT[0], POINT_PARTICLE, points=[POINT_PROMPT[1]], labels=[1])
    images = model_images()
    logits, scores = {}, {}
    for result in tracker.propagate(lambda index: images[index]):
        assert result.particle_ids == (*BOXES, POINT_PARTICLE)
        logits[result.frame], scores[result.frame] = result.mask_logits, result.object_scores
    return logits, scores


@pytest.mark.slow
def test_engine_matches_upstream_video_predictor(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ours_logits, ours_scores = run_engine()
    ref_logits, ref_scores = run_upstream(tmp_path)
    assert sorted(ours_logits) == sorted(ref_logits) == list(range(N_FRAMES))
    logit_diff = max(float(np.abs(ours_logits[t] - ref_logits[t]).max()) for t in ref_logits)
    score_diff = max(float(np.abs(ours_scores[t] - ref_scores[t]).max()) for t in ref_scores)
    print(f"max |logit diff| {logit_diff:.3g}, max |score diff| {score_diff:.3g}")
    assert logit_diff <= LOGIT_TOLERANCE
    assert score_diff <= SCORE_TOLERANCE
    all_scores = np.stack([ref_scores[t] for t in range(N_FRAMES)])
    # both branches are exercised, on conditioning (frames 0 and 4) and tracked frames, with a safe margin
    assert (all_scores > 0).any() and (all_scores <= 0).any()
    assert np.abs(all_scores).min() > 25 * SCORE_TOLERANCE
    tracked = np.ones_like(all_scores, dtype=bool)
    tracked[0, :2] = tracked[4, 2] = tracked[POINT_PROMPT[0], 3] = False
    assert (all_scores[tracked] > 0).any() and (all_scores[tracked] <= 0).any()
    assert (all_scores[~tracked] > 0).any() and (all_scores[~tracked] <= 0).any()
    # absent objects get upstream's placeholder logits, present ones a real mask
    absent = all_scores <= 0
    stacked = np.stack([ours_logits[t] for t in range(N_FRAMES)])
    assert np.all(stacked[absent] == -1024.0)
    assert all((stacked[i, j] > 0).any() for i, j in zip(*np.nonzero(~absent), strict=True))
