"""torch.compile for the engine's model: its components compiled as SAM 2's own VOS predictor does.

The image encoder, memory encoder, prompt encoder and mask decoder are compiled for static shapes; the memory
attention for dynamic ones (the number of memories and pointers changes over the first frames of a video). The
model is a :func:`~samem.model.rope.real_rope_model` copy, whose rotary encoding uses no complex numbers; use it
as any model, e.g. ``LocalBackend(compile_model(model))``. torch's default mode fuses element-wise work and cuts
kernel launches; on a CPU it bought 1.02x for samem-compact at 512 px with 3 objects (2 AMD EPYC cores: matrix
products and attention dominate). ``mode="reduce-overhead"`` records CUDA graphs on a GPU, which removes the launch
cost that bounds a small model's frame rate there; neither is measured on a GPU yet (``bench/bench_engine.py
--compile``). The first frames of each new shape pay the compilation.

A CUDA graph returns its outputs in buffers that its next replay overwrites, while the engine keeps a frame's
outputs (object pointers, mask logits, cached features) across later steps. In the modes that record graphs each
component's outputs are therefore copied out (:func:`owned_outputs`), and every call starts a new cudagraph-trees
step, so no graph output is ever read after a replay.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from samem.model.rope import real_rope_model

#: model components and whether their input shapes vary from call to call
COMPONENTS = (
    ("image_encoder", False),
    ("memory_encoder", False),
    ("sam_prompt_encoder", False),
    ("sam_mask_decoder", False),
    ("memory_attention", True),
)


#: torch.compile modes that record CUDA graphs on a GPU
GRAPH_MODES = ("reduce-overhead", "max-autotune")


def compile_model(model: nn.Module, *, mode: str | None = None) -> nn.Module:
    """A copy of ``model`` (eval mode) whose components run compiled in ``mode``; ``model`` is left as it is."""
    compiled = real_rope_model(model).eval()
    for name, dynamic in COMPONENTS:
        component = getattr(compiled, name)
        forward = torch.compile(component.forward, mode=mode, fullgraph=True, dynamic=dynamic)
        component.forward = owned_outputs(forward) if mode in GRAPH_MODES else forward
    return compiled


def owned_outputs(forward: Callable[..., Any]) -> Callable[..., Any]:
    """``forward`` starting a new cudagraph-trees step on each call and returning copies of its tensor outputs."""

    @functools.wraps(forward)
    def run(*args: Any, **kwargs: Any) -> Any:
        torch.compiler.cudagraph_mark_step_begin()
        return map_tensors(torch.clone, forward(*args, **kwargs))

    return run


def map_tensors(function: Callable[[torch.Tensor], torch.Tensor], value: Any) -> Any:
    """``value`` with ``function`` applied to every tensor in it, also inside tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return function(value)
    if isinstance(value, dict):
        return {key: map_tensors(function, item) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(map_tensors(function, item) for item in value))
    if isinstance(value, (list, tuple)):
        return type(value)(map_tensors(function, item) for item in value)
    return value
