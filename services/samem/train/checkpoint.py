"""Checkpoints in SAM 2 format, written atomically, with the training state in a key upstream tools ignore.

``{"model": state_dict}`` is what :func:`samem.model.build_model` and upstream's ``build_sam2`` read;
``checkpoint.pt`` adds ``"train_state"`` (optimiser, scheduler, step, RNG states, recipe) for ``--resume``. Files are
written to a temporary sibling, synced, then renamed over the old one, so a failed write (a full disk) leaves the
previous checkpoint intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from samem.errors import InputError
from samem.io.output import atomic_write

CHECKPOINT = "checkpoint.pt"  # latest weights + training state (resumable)
FINAL_MODEL = "model.pt"  # final weights only
TRAIN_STATE_KEY = "train_state"


def atomic_save(payload: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path`` atomically (:func:`samem.io.output.atomic_write`)."""
    atomic_write(path, lambda handle: torch.save(payload, handle))


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU (float tensors as they are)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def rng_states() -> dict[str, Any]:
    """Torch's RNG states (CPU and, where present, CUDA)."""
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Undo :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def load_training_checkpoint(path: Path) -> dict[str, Any]:
    """Read a resumable ``checkpoint.pt``; :class:`InputError` if missing, corrupt or without training state."""
    if not path.is_file():
        raise InputError(f"cannot resume: {str(path)!r} does not exist (train without --resume first)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt files
        raise InputError(f"cannot resume: checkpoint {str(path)!r} cannot be read: {str(e).splitlines()[0]}") from e
    if not isinstance(payload, dict) or "model" not in payload or TRAIN_STATE_KEY not in payload:
        raise InputError(f"cannot resume: {str(path)!r} is not a samem training checkpoint")
    return payload
