"""Build a SAM 2 model from its config and load a checkpoint strictly."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

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


def load_checkpoint(model: torch.nn.Module, path: Path, *, config_name: str) -> None:
    """Load ``torch.load(path)["model"]`` into ``model`` strictly, naming missing and unexpected keys on mismatch."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise InputError(f"checkpoint {str(path)!r} cannot be read as a PyTorch file: {e}") from e
    if not isinstance(payload, dict) or "model" not in payload:
        raise InputError(f"checkpoint {str(path)!r} is not in SAM 2 format: expected a dict with a 'model' state dict")
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


def build_model(spec: ModelSpec | str, *, device: str | torch.device = "cpu", seed: int = 0) -> LoadedModel:
    """Build the model of ``spec`` in eval mode on ``device``.

    Random weights (``NAME:random``) are seeded with ``seed`` so that two builds are identical.
    """
    if isinstance(spec, str):
        spec = parse_model_spec(spec)
    config = OmegaConf.load(spec.config_path)
    if "model" not in config:
        raise InputError(f"config {str(spec.config_path)!r} has no 'model' section; is it a SAM 2 config?")
    config = OmegaConf.merge(config, {"model": INFERENCE_OVERRIDES})
    OmegaConf.resolve(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = instantiate(config.model, _recursive_=True)
    sha256 = None
    if spec.checkpoint is not None:
        load_checkpoint(model, spec.checkpoint, config_name=spec.config_name)
        sha256 = file_sha256(spec.checkpoint)
    return LoadedModel(model=model.to(device).eval(), spec=spec, checkpoint_sha256=sha256)
