"""Service configuration: a keyword-only dataclass; precedence argument, then ``SAMEM_*`` environment, then default."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samem.errors import InputError

ENV_PREFIX = "SAMEM_"


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """Where Redis, the storage and the tokens are, which engine the workers run, limits and quotas.

    Each field ``name`` can be set by the environment variable ``SAMEM_<NAME>`` (upper case).
    """

    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Shared storage root: uploads go to ``uploads/``; registered paths are relative to the root.
    storage: Path = Path.home() / ".samem" / "storage"
    #: JSON file {token: {"user": name, "admin": bool}}; ``tokens`` (env SAMEM_TOKENS) adds
    #: ``token=user[:admin],...`` entries.
    tokens_file: Path | None = None
    tokens: str = ""
    #: Key prefix in Redis and the Celery queue name.
    prefix: str = "samem"
    #: Worker engine: ``NAME[:CHECKPOINT]`` run in process, or through Triton when ``backend`` is triton://HOST:PORT.
    model: str = "samem-compact"
    image_size: int | None = None
    backend: str = "local"
    torch_threads: int = 1
    #: Engine state checkpoint to Redis every this many frames (and after the last).
    checkpoint_every: int = 10
    #: A worker's claim on a job expires this long after its last frame; then another worker resumes the job.
    lease_s: float = 30.0
    #: Limits: one gRPC message, one upload, running jobs per user.
    max_message_bytes: int = 8 * 1024 * 1024
    max_upload_bytes: int = 4 * 1024**3
    max_active_jobs: int = 4

    def __post_init__(self) -> None:
        for name in ("checkpoint_every", "torch_threads", "max_message_bytes", "max_upload_bytes", "max_active_jobs"):
            if getattr(self, name) < 1:
                raise InputError(f"service setting {name} must be >= 1, got {getattr(self, name)}")
        if self.lease_s <= 0:
            raise InputError(f"service setting lease_s must be > 0, got {self.lease_s}")
        if self.image_size is not None and self.image_size < 32:
            raise InputError(f"service setting image_size must be >= 32, got {self.image_size}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> ServiceConfig:
        """Overrides (not None) first, then ``SAMEM_*`` variables, then defaults."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if overrides.get(field.name) is not None:
                values[field.name] = overrides[field.name]
                continue
            text = environ.get(ENV_PREFIX + field.name.upper())
            if text is None or text == "":
                continue
            values[field.name] = _parse(field.name, text, field.type)
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise InputError(f"unknown service setting(s) {unknown}")
        return cls(**values)

    def environment(self) -> dict[str, str]:
        """These settings as ``SAMEM_*`` variables (to hand to a worker process)."""
        env = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                env[ENV_PREFIX + field.name.upper()] = str(value)
        return env


def _parse(name: str, text: str, kind: Any) -> Any:
    kind = str(kind)
    try:
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
        if "Path" in kind:
            return Path(text).expanduser()
    except ValueError as e:
        raise InputError(f"{ENV_PREFIX}{name.upper()}={text!r} is not a valid {kind.split()[0]}") from e
    return text
