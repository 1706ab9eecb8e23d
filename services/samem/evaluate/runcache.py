"""Finished runs of ``samem eval`` kept on disk, so that an interrupted or extended evaluation does not redo them.

A run (one method on one test video) is stored under ``OUT/runs/<method>-<fingerprint>/`` as its per-video score
row (``<video>-<video hash>.json``) and its trajectories (``.csv``, needed for the pooled D estimate); a method's
tuning on a thickness's tuning video likewise (``tune-<video>-<video hash>.json``). A stored run is reused only when
everything that decides its result is unchanged:

- the method's own fingerprint (:meth:`~samem.evaluate.methods.Method.fingerprint`: model spec and checkpoint
  hash, U-Net checkpoint hash, device, precision);
- the code: a hash of the source files of the ``samem`` package except the subpackages an evaluation never runs
  (:data:`NOT_EVALUATED`: training, the gRPC service, Triton serving, the client; a test checks that an evaluation
  imports none of them), and the versions of torch, numpy and trackpy;
- the test video: a hash of its ``meta.json`` (its full spec, simulator version and measured SNR).

Edit one line of the code an evaluation runs and every stored run is stale; that is the point. The row file is
written last (each file atomically), so a run interrupted while it is being stored counts as not stored.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

import samem
from samem.evaluate.methods import Method
from samem.evaluate.testsets import EvalVideo
from samem.io.output import atomic_write

_HASH_CHARS = 12
_VERSIONED = ("torch", "numpy", "trackpy")
#: Subpackages of samem whose code an evaluation does not run (their ``cli`` modules only register subcommands).
NOT_EVALUATED = ("train", "service", "serving", "client")


@functools.cache
def code_fingerprint() -> str:
    """Hash of the source files an evaluation runs and of the versions of the libraries its results depend on."""
    digest = hashlib.sha256()
    package = Path(samem.__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in NOT_EVALUATED:
            continue
        digest.update(relative.as_posix().encode())
        digest.update(path.read_bytes())
    for name in _VERSIONED:
        try:
            digest.update(f"{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} absent".encode())
    return digest.hexdigest()


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_CHARS]


def video_fingerprint(video: EvalVideo) -> str:
    """Hash of a test video's meta (its spec, simulator version and measured SNR)."""
    return _short_hash(json.dumps(video.meta, sort_keys=True, default=str))


class RunCache:
    """Stored runs and tunings under ``directory`` (usually ``OUT/runs``)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _method_dir(self, method: Method) -> Path:
        return self.directory / f"{method.key}-{_short_hash(method.fingerprint() + code_fingerprint())}"

    def _stem(self, method: Method, video: EvalVideo) -> Path:
        return self._method_dir(method) / f"{video.name}-{video_fingerprint(video)}"

    def load_run(self, method: Method, video: EvalVideo) -> tuple[dict[str, Any], pd.DataFrame] | None:
        """The stored score row and trajectories of ``method`` on ``video``, or None."""
        stem = self._stem(method, video)
        row_path, table_path = stem.with_suffix(".json"), stem.with_suffix(".csv")
        if not (row_path.is_file() and table_path.is_file()):
            return None
        return json.loads(row_path.read_text()), pd.read_csv(table_path)

    def save_run(self, method: Method, video: EvalVideo, row: dict[str, Any], trajectories: pd.DataFrame) -> None:
        """Store a finished run (trajectories first: the row marks the run as stored)."""
        stem = self._stem(method, video)
        stem.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.StringIO()
        trajectories.to_csv(buffer, index=False)
        atomic_write(stem.with_suffix(".csv"), lambda f: f.write(buffer.getvalue().encode()))
        atomic_write(stem.with_suffix(".json"), lambda f: f.write(json.dumps(row).encode()))

    def _tuning_path(self, method: Method, video: EvalVideo) -> Path:
        return self._method_dir(method) / f"tune-{video.name}-{video_fingerprint(video)}.json"

    def load_tuning(self, method: Method, video: EvalVideo) -> dict[str, Any] | None:
        """What ``method.tune(video)`` returned when it was stored, or None."""
        path = self._tuning_path(method, video)
        return json.loads(path.read_text()) if path.is_file() else None

    def save_tuning(self, method: Method, video: EvalVideo, tuned: dict[str, Any]) -> None:
        """Store a tuning result (JSON; numpy scalars become plain numbers)."""
        path = self._tuning_path(method, video)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(tuned, default=_plain)
        atomic_write(path, lambda f: f.write(text.encode()))


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
