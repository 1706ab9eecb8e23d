"""The worker's engine backend, built once per process from the service configuration."""

from __future__ import annotations

import contextlib
import functools

import torch

from samem.engine import Backend, LocalBackend
from samem.model import build_model
from samem.service.config import ServiceConfig

_stack = contextlib.ExitStack()


@functools.cache
def _backend(model: str, image_size: int | None, backend: str, threads: int) -> Backend:
    torch.set_num_threads(threads)
    if backend == "local":
        return LocalBackend(build_model(model, image_size=image_size).model)
    from samem.serving.triton_backend import TritonBackend

    return _stack.enter_context(TritonBackend.from_url(backend))


def worker_backend(config: ServiceConfig) -> Backend:
    """The configured backend: ``local`` (PyTorch in this process) or a Triton server (``triton://HOST:PORT``)."""
    return _backend(config.model, config.image_size, config.backend, config.torch_threads)
