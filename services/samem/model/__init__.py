"""SAM 2 models: configs (every SAM 2 / SAM 2.1 size and samem-compact), building and strict checkpoint loading.

Owns construction only: ``nn.Module``s stay pure, and per-video state, inference mode and I/O belong to the engine.
"""

from samem.model.build import LoadedModel, build_model
from samem.model.registry import MODEL_CONFIGS, ModelSpec, parse_model_spec

__all__ = ["MODEL_CONFIGS", "LoadedModel", "ModelSpec", "build_model", "parse_model_spec"]
