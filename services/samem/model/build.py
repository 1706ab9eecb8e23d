"""Build a SAM 2 model from its config and load a checkpoint strictly."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from samem.errors import InputError
from samem.model.registry import ModelSpec, parse_model_spec

# The inference settings upstream's video predictor applies on top of every config (sam2.build_sam), so that our
# engine and SAM2VideoPredictor compute the same thing from the same weights.
INFERENCE_OVERRIDES = {
    "sam_mask_decoder_extra_args": {
        "dynamic_multimask_via_stability": True,
        "dynamic_multimask_stability_delta": 0.05,
        "dynamic_multimask_stability_thresh": 0.98,
    },
    "binarize_mask_from_pts_for_mem_enc": True,
}

_SHOWN_KEYS = 5
FEATURE_STRIDE = 16  # the top-level feature map is image_size / 16 for every SAM 2 config
IMAGE_SIZE_KEY = "image_size"  # optional checkpoint key: the input size the weights were trained at
# Optional checkpoint key, True for weights trained with box prompts also given as a dense mask (see
# samem.engine.steps.decode_prompts); the model carries it as the attribute of the same name.
BOX_MASK_PROMPT_KEY = "box_mask_prompt"
# Optional checkpoint key, True for weights trained with the previous frame's mask as a prompt on tracked frames
# (see samem.engine.steps.track_frame); carried as the model attribute of the same name.
MASK_PROPAGATION_KEY = "mask_propagation"
# Optional checkpoint key, True for weights whose conditioning-frame object pointers must keep the temporal offsets
# training covered (see samem.engine.memory.select_layout); carried as the model attribute of the same name.
CLAMP_POINTER_OFFSETS_KEY = "clamp_pointer_offsets"
#: samem's model flags: each is a checkpoint key, the model attribute and the training-recipe field of that name.
MODEL_FLAGS = (BOX_MASK_PROMPT_KEY, MASK_PROPAGATION_KEY, CLAMP_POINTER_OFFSETS_KEY)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """A built SAM 2 model with where its weights came from."""

    model: torch.nn.Module
    spec: ModelSpec
    checkpoint_sha256: str | None  # None for random weights


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN_KEYS])
    return f"{len(keys)} ({shown}{', ...' if len(keys) > _SHOWN_KEYS else ''})"


def read_checkpoint(path: Path) -> dict[str, Any]:
    """``torch.load`` a SAM 2 format checkpoint (a dict with a ``"model"`` state dict), with one-line errors."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"checkpoint {str(path)!r} cannot be read as a PyTorch file: {reason}") from e
    if not isinstance(payload, dict) or "model" not in payload:
        raise InputError(f"checkpoint {str(path)!r} is not in SAM 2 format: expected a dict with a 'model' state dict")
    return payload


def load_checkpoint(
    model: torch.nn.Module, path: Path, *, config_name: str, payload: dict[str, Any] | None = None
) -> None:
    """Load ``torch.load(path)["model"]`` (or the already read ``payload``) into ``model`` strictly.

    Missing and unexpected keys are named on mismatch.
    """
    if payload is None:
        payload = read_checkpoint(path)
    try:
        missing, unexpected = model.load_state_dict(payload["model"], strict=False)
    except RuntimeError as e:  # raised for tensors of the wrong shape
        lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise InputError(f"checkpoint {str(path)!r} does not fit config {config_name!r}: {detail}") from e
    if missing or unexpected:
        raise InputError(
            f"checkpoint {str(path)!r} does not fit config {config_name!r}: missing keys {_describe(list(missing))},"
            f" unexpected keys {_describe(list(unexpected))}; pick the config the checkpoint was trained with"
        )


def config_image_size(spec: ModelSpec) -> int:
    """The input size the config of ``spec`` declares."""
    config = OmegaConf.load(spec.config_path)
    try:
        return int(config.model.image_size)
    except Exception as e:
        raise InputError(f"config {str(spec.config_path)!r} has no model.image_size; is it a SAM 2 config?") from e


def _image_size_overrides(config: DictConfig, image_size: int) -> dict[str, Any]:
    """Set the input size and every RoPE ``feat_sizes`` of the memory attention to ``image_size / 16``."""
    if image_size < 2 * FEATURE_STRIDE or image_size % FEATURE_STRIDE:
        raise InputError(
            f"image size must be a multiple of {FEATURE_STRIDE} and >= {2 * FEATURE_STRIDE}, got {image_size}"
        )
    feat = image_size // FEATURE_STRIDE
    layer = config.model.memory_attention.layer
    rope = {
        name: {"feat_sizes": [feat, feat]}
        for name in ("self_attention", "cross_attention")
        if name in layer and "feat_sizes" in layer[name]
    }
    return {"image_size": image_size, "memory_attention": {"layer": rope}}


def build_model(
    spec: ModelSpec | str, *, device: str | torch.device = "cpu", seed: int = 0, image_size: int | None = None
) -> LoadedModel:
    """Build the model of ``spec`` in eval mode on ``device``.

    Random weights (``NAME:random``) are seeded with ``seed`` so that two builds are identical. ``image_size``
    overrides the config's input size (the weights do not depend on it, so checkpoints load at any size); without
    it, a checkpoint that records the size it was trained at (key ``"image_size"``, written by ``samem train``)
    runs at that size, otherwise the config's.
    """
    if isinstance(spec, str):
        spec = parse_model_spec(spec)
    payload = read_checkpoint(spec.checkpoint) if spec.checkpoint is not None else None
    if image_size is None and payload is not None and IMAGE_SIZE_KEY in payload:
        image_size = int(payload[IMAGE_SIZE_KEY])
    config = OmegaConf.load(spec.config_path)
    if "model" not in config:
        raise InputError(f"config {str(spec.config_path)!r} has no 'model' section; is it a SAM 2 config?")
    config = OmegaConf.merge(config, {"model": INFERENCE_OVERRIDES})
    if image_size is not None and image_size != int(config.model.image_size):
        config = OmegaConf.merge(config, {"model": _image_size_overrides(config, image_size)})
    OmegaConf.resolve(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = instantiate(config.model, _recursive_=True)
    sha256 = None
    if spec.checkpoint is not None:
        load_checkpoint(model, spec.checkpoint, config_name=spec.config_name, payload=payload)
        sha256 = file_sha256(spec.checkpoint)
    for flag in MODEL_FLAGS:
        setattr(model, flag, bool(payload.get(flag, False)) if payload is not None else False)
    return LoadedModel(model=model.to(device).eval(), spec=spec, checkpoint_sha256=sha256)
