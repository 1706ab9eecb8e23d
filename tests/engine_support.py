"""Shared pieces of the engine tests: a small model, a synthetic video and its model images."""

from __future__ import annotations

import functools

import numpy as np
import torch
from omegaconf import OmegaConf

from samem.engine import LocalBackend, Preprocessor
from samem.io.video import FrameGeometry, IntensityNormalizer
from samem.model.build import INFERENCE_OVERRIDES
from samem.model.registry import config_path

HEIGHT, WIDTH, N_FRAMES = 96, 160, 12
SEED = 0
# Random weights barely use memory positions (their encodings are initialised with std 0.02) and give nearly constant
# object scores around -0.12. The test weights scale the positional parameters by POSITION_GAIN, so that an
# off-by-one in a temporal position or the pointer normaliser moves the scores by > 0.08 and the logits by > 3e-4,
# and the object-score head's output layer by SCORE_GAIN plus SCORE_BIAS, so that the scores straddle 0 (present and
# absent, on prompted and tracked frames) with a margin of at least 0.5 on the test video.
POSITION_GAIN = 50.0
POSITION_KEYS = (
    "maskmem_tpos_enc",
    "no_obj_embed_spatial",
    "no_obj_ptr",
    "obj_ptr_tpos_proj.weight",
    "obj_ptr_tpos_proj.bias",
)
SCORE_GAIN = 5000.0
SCORE_BIAS = 604.0


UPSTREAM_PREDICTOR = "sam2.sam2_video_predictor.SAM2VideoPredictor"
# What sam2.build_sam.build_sam2_video_predictor adds on top of INFERENCE_OVERRIDES (hole filling needs upstream's
# CUDA extension; on CPU upstream warns and skips it).
UPSTREAM_POSTPROCESSING = {"fill_hole_area": 8}


def compact_config(target: str | None = None) -> OmegaConf:
    """The samem-compact config with the runnability fix, upstream's inference overrides, optional _target_."""
    config = OmegaConf.load(config_path("samem-compact"))
    extra = {"_target_": target, **UPSTREAM_POSTPROCESSING} if target else {}
    return OmegaConf.merge(config, {"model": {**INFERENCE_OVERRIDES, **extra}})


@functools.cache
def compact_state_dict() -> dict[str, torch.Tensor]:
    """Seeded random weights of the compact model, nudged as described above."""
    from hydra.utils import instantiate

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = instantiate(compact_config().model, _recursive_=True)
    state = model.state_dict()
    for key in POSITION_KEYS:
        state[key] = state[key] * POSITION_GAIN
    head = "sam_mask_decoder.pred_obj_score_head.layers.2"
    state[f"{head}.weight"] = state[f"{head}.weight"] * SCORE_GAIN
    state[f"{head}.bias"] = state[f"{head}.bias"] * SCORE_GAIN + SCORE_BIAS
    return state


def build(target: str | None = None) -> torch.nn.Module:
    """A model (SAM2Base, or ``target``) in eval mode with the shared weights."""
    from hydra.utils import instantiate

    config = compact_config(target)
    model = instantiate(config.model, _recursive_=True)
    model.load_state_dict(compact_state_dict())
    return model.eval()


@functools.cache
def backend() -> LocalBackend:
    return LocalBackend(build())


def synthetic_frames(n_frames: int = N_FRAMES) -> np.ndarray:
    """Bright discs drifting on a noisy background; the third fades out midway (uint8, n x 96 x 160)."""
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[:HEIGHT, :WIDTH]
    frames = []
    for t in range(n_frames):
        image = 40 + rng.normal(0, 6, (HEIGHT, WIDTH))
        discs = [(30 + 1.5 * t, 40 + 2 * t, 12, 200), (60, 110 - 1.5 * t, 9, 180), (70 - t, 30, 8, 220 * (t < 7))]
        for y, x, r, value in discs:
            image[(rows - y) ** 2 + (cols - x) ** 2 <= r * r] = value
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(frames)


BOXES = {  # particle id -> (frame, box in input pixels)
    1: (0, (27.0, 17.0, 54.0, 43.0)),
    2: (0, (100.0, 50.0, 120.0, 70.0)),
    3: (4, (18.0, 54.0, 42.0, 78.0)),
}


def preprocessor() -> Preprocessor:
    geometry = FrameGeometry(height=HEIGHT, width=WIDTH, size=512)
    return Preprocessor(normalizer=IntensityNormalizer(low=0.0, high=255.0), geometry=geometry)


@functools.cache
def model_images(n_frames: int = N_FRAMES) -> torch.Tensor:
    """The preprocessed model images [n, 1, 512, 512] of :func:`synthetic_frames`."""
    prep = preprocessor()
    return torch.stack([prep(frame) for frame in synthetic_frames(n_frames)])
