"""Names of the models samem can build, and the ``NAME[:CHECKPOINT]`` syntax users pass as ``--model``."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from samem.errors import InputError

DEFAULT_MODEL = "samem-compact"
RANDOM_WEIGHTS = "random"

_SAM2_CONFIG_PACKAGE = "sam2"
_SAM2_SIZES = ("t", "s", "b+", "l")


def _sam2_configs() -> dict[str, str]:
    configs = {}
    for size in _SAM2_SIZES:
        configs[f"sam2_hiera_{size}"] = f"configs/sam2/sam2_hiera_{size}.yaml"
        configs[f"sam2.1_hiera_{size}"] = f"configs/sam2.1/sam2.1_hiera_{size}.yaml"
    return configs


# name -> (package holding the YAML, path of the YAML inside that package)
MODEL_CONFIGS: dict[str, tuple[str, str]] = {
    DEFAULT_MODEL: ("samem.model", "configs/samem_compact.yaml"),
    **{name: (_SAM2_CONFIG_PACKAGE, path) for name, path in _sam2_configs().items()},
}


# Checkpoints that ship inside the package (trained by `samem train`); used when a spec names no checkpoint.
SHIPPED_CHECKPOINTS: dict[str, tuple[str, str]] = {DEFAULT_MODEL: ("samem.model", "weights/samem_compact.pt")}


def shipped_checkpoint(name: str) -> Path | None:
    """The packaged checkpoint of a model name, if this installation has one."""
    if name not in SHIPPED_CHECKPOINTS:
        return None
    package, relative = SHIPPED_CHECKPOINTS[name]
    path = Path(str(resources.files(package).joinpath(relative)))
    return path if path.is_file() else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model to build: a registered config name or a YAML path, and a checkpoint path or random weights."""

    config_name: str
    config_path: Path
    checkpoint: Path | None  # None means random initialisation

    def __str__(self) -> str:
        return f"{self.config_name}:{self.checkpoint or RANDOM_WEIGHTS}"


def config_path(name: str) -> Path:
    """Path of the YAML config of a registered model name."""
    try:
        package, relative = MODEL_CONFIGS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; known models: {', '.join(MODEL_CONFIGS)}") from None
    return Path(str(resources.files(package).joinpath(relative)))


def parse_model_spec(text: str) -> ModelSpec:
    """Parse ``NAME[:CHECKPOINT]``.

    ``NAME`` is a registered model (see :data:`MODEL_CONFIGS`) or the path of a SAM 2 style YAML config.
    ``CHECKPOINT`` is a file in SAM 2 format (``{"model": state_dict}``) or ``random`` for random initial weights
    (tests and benchmarks). Without a checkpoint the packaged one is used where the installation ships one
    (``samem-compact``); other models need a checkpoint.

    Examples: ``sam2.1_hiera_l:/models/sam_em.pt``, ``samem-compact:random``, ``my_config.yaml:ckpt.pt``.
    """
    name, _, checkpoint_text = text.partition(":")
    if not name:
        raise InputError(f"model spec {text!r} has no model name; expected NAME[:CHECKPOINT]")
    if name in MODEL_CONFIGS:
        path = config_path(name)
    elif name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise InputError(f"model config {name!r} does not exist")
    else:
        raise InputError(f"unknown model {name!r}; known models: {', '.join(MODEL_CONFIGS)}, or a .yaml config path")
    if not checkpoint_text:
        shipped = shipped_checkpoint(name)
        if shipped is not None:
            return ModelSpec(config_name=name, config_path=path, checkpoint=shipped)
        if name in SHIPPED_CHECKPOINTS:
            raise InputError(
                f"model {name!r} has no shipped weights in this installation yet (`samem train --recipe compact` "
                f"makes them); pass {name}:/path/to/checkpoint.pt, or {name}:{RANDOM_WEIGHTS} for random weights"
            )
        raise InputError(
            f"model {name!r} needs a checkpoint: pass {name}:/path/to/checkpoint.pt (or {name}:{RANDOM_WEIGHTS}"
            " for random weights)"
        )
    if checkpoint_text == RANDOM_WEIGHTS:
        return ModelSpec(config_name=name, config_path=path, checkpoint=None)
    checkpoint = Path(checkpoint_text)
    if not checkpoint.is_file():
        raise InputError(f"checkpoint {checkpoint_text!r} for model {name!r} does not exist")
    return ModelSpec(config_name=name, config_path=path, checkpoint=checkpoint)
