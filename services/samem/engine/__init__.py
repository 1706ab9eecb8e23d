"""The SAM 2 tracking engine: stateless batched steps, a bounded serialisable per-video state, and the tracker.

``Tracker(LocalBackend(model), height=..., width=..., num_frames=...)``, prompts in input pixels, then
``tracker.propagate(frames)`` with ``frames(index)`` returning :class:`Preprocessor` model images.
"""

from samem.engine.backend import Backend, LocalBackend
from samem.engine.preprocess import Preprocessor, logits_to_input, to_model_image
from samem.engine.prompts import Prompt
from samem.engine.settings import ModelSettings
from samem.engine.state import STATE_VERSION, FrameMemory, ObjectState, VideoState
from samem.engine.steps import FrameFeatures, MemoryInputs, StepOutput
from samem.engine.tracker import FrameResult, FrameSource, Tracker

__all__ = [
    "STATE_VERSION",
    "Backend",
    "FrameFeatures",
    "FrameMemory",
    "FrameResult",
    "FrameSource",
    "LocalBackend",
    "MemoryInputs",
    "ModelSettings",
    "ObjectState",
    "Preprocessor",
    "Prompt",
    "StepOutput",
    "Tracker",
    "VideoState",
    "logits_to_input",
    "to_model_image",
]
