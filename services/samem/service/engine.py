"""The worker's models: a job's catalogue model, built on demand and kept in a small LRU cache, or Triton's.

With the local backend each model is built in this process when a job first asks for it, and at most
``model_cache_size`` stay loaded (the least recently used is dropped first). A Triton server serves one model: a
job asking for the default runs on it, as before catalogues existed; a job asking for another model runs only if
Triton serves exactly that architecture and checkpoint, else it fails with
:class:`~samem.service.errors.ModelUnavailable` instead of running the wrong model.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from samem.engine import Backend, LocalBackend
from samem.service.catalogue import Catalogue, CatalogueEntry
from samem.service.config import ServiceConfig
from samem.service.errors import ModelUnavailable

_stack = contextlib.ExitStack()


@dataclass(frozen=True)
class RunningModel:
    """The model a job runs with: its catalogue name, what was built or served, and the backend running it."""

    name: str
    spec: str
    checkpoint_sha256: str
    backend: Backend


class ModelCache:
    """Backends by model spec, built by ``build`` on first use; at most ``size`` kept, least recently used dropped."""

    def __init__(self, build: Callable[[CatalogueEntry], Backend], size: int) -> None:
        if size < 1:
            raise ValueError(f"a model cache holds at least 1 model, got size {size}")
        self.build, self.size = build, size
        self._backends: OrderedDict[str, Backend] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, entry: CatalogueEntry) -> Backend:
        """The backend of ``entry``'s model, built now unless it is loaded."""
        with self._lock:
            if entry.spec in self._backends:
                self._backends.move_to_end(entry.spec)
                return self._backends[entry.spec]
            backend = self.build(entry)
            self._backends[entry.spec] = backend
            while len(self._backends) > self.size:
                self._backends.popitem(last=False)
            return backend

    @property
    def loaded(self) -> list[str]:
        """Specs of the loaded models, least recently used first."""
        with self._lock:
            return list(self._backends)


def check_served(entry: CatalogueEntry, served_spec: str, served_sha256: str | None, *, url: str) -> None:
    """Raise ModelUnavailable unless the Triton at ``url`` serves ``entry``'s architecture and checkpoint."""
    wanted = entry.checkpoint_sha256()
    if served_spec.partition(":")[0] == entry.config and (served_sha256 or "") == wanted:
        return
    raise ModelUnavailable(
        f"model {entry.name!r} ({entry.spec}, checkpoint sha256 {wanted[:12] or 'none'}) cannot run on this "
        f"deployment's workers: their Triton at {url} serves one model, {served_spec} (checkpoint sha256 "
        f"{(served_sha256 or 'none')[:12]}); start the job with the default model, or give this model workers "
        "of its own"
    )


@functools.cache
def _catalogue(config: ServiceConfig) -> Catalogue:
    return Catalogue.from_config(config)


@functools.cache
def _local_models(size: int, image_size: int | None, threads: int) -> ModelCache:
    def build(entry: CatalogueEntry) -> Backend:
        from samem.model import build_model

        torch.set_num_threads(threads)
        return LocalBackend(build_model(entry.model_spec(), image_size=image_size).model)

    return ModelCache(build, size)


@functools.cache
def _triton(url: str) -> Backend:
    from samem.serving.triton_backend import TritonBackend

    return _stack.enter_context(TritonBackend.from_url(url))


def local_backend(config: ServiceConfig, name: str = "") -> Backend:
    """The catalogue model ``name`` (empty: the default) in this process, from the process's model cache."""
    entry = _catalogue(config).entry(name)
    return _local_models(config.model_cache_size, config.image_size, config.torch_threads).get(entry)


def worker_model(config: ServiceConfig, name: str = "") -> RunningModel:
    """The catalogue model ``name`` (empty: the default) on the configured backend: ``local`` or a Triton URL."""
    catalogue = _catalogue(config)
    entry = catalogue.entry(name)
    if config.backend == "local":
        return RunningModel(entry.name, entry.spec, entry.checkpoint_sha256(), local_backend(config, entry.name))
    triton = _triton(config.backend)
    served = triton.served  # type: ignore[attr-defined]
    if entry is not catalogue.default:
        check_served(entry, served.spec, served.checkpoint_sha256, url=config.backend)
    return RunningModel(entry.name, served.spec, served.checkpoint_sha256 or "", triton)
