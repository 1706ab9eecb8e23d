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
    #: Without ``models`` it is the one model offered, named after its config (``samem-compact``).
    model: str = "samem-compact"
    #: Models offered per job (:mod:`samem.service.catalogue`): ``name=NAME[:CHECKPOINT],...``; ``default_model``
    #: names the one of jobs that name none (empty: the first). A worker keeps ``model_cache_size`` loaded.
    models: str = ""
    default_model: str = ""
    model_cache_size: int = 2
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
    #: Bytes of uploaded videos one user may keep on the storage (RESOURCE_EXHAUSTED beyond).
    max_user_bytes: int = 50 * 1024**3
    #: A job whose backend (Triton) is unreachable retries this many times, first after ``backend_retry_s``,
    #: doubling up to ``backend_retry_max_s``, then fails with the reason.
    backend_retries: int = 5
    backend_retry_s: float = 1.0
    backend_retry_max_s: float = 30.0
    #: A QUEUED job no worker has claimed and whose task is no longer in the queue (its message died with a
    #: worker) is enqueued again after this long.
    requeue_after_s: float = 60.0
    #: Entries kept in the audit log of jobs (newest first).
    audit_max: int = 10000
    #: Live mode (Live.Track): "" (off: UNIMPLEMENTED), "local" (the engine in the server process) or
    #: triton://HOST:PORT (the server keeps each session's state, Triton runs the model); at most
    #: ``live_sessions`` at once, each at most ``live_max_frames`` frames.
    live_backend: str = ""
    live_sessions: int = 2
    live_max_frames: int = 1_000_000
    #: Prometheus metrics HTTP port of this process (samem serve / samem worker); 0: no metrics server.
    metrics_port: int = 0
    #: TLS of the gRPC server: PEM certificate (chain) and private key files, both or neither (then plaintext).
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __post_init__(self) -> None:
        for name in ("checkpoint_every", "torch_threads", "max_message_bytes", "max_upload_bytes", "max_active_jobs"):
            if getattr(self, name) < 1:
                raise InputError(f"service setting {name} must be >= 1, got {getattr(self, name)}")
        for name in ("lease_s", "backend_retry_s", "backend_retry_max_s", "requeue_after_s"):
            if getattr(self, name) <= 0:
                raise InputError(f"service setting {name} must be > 0, got {getattr(self, name)}")
        for name in ("max_user_bytes", "audit_max", "live_sessions", "live_max_frames", "model_cache_size"):
            if getattr(self, name) < 1:
                raise InputError(f"service setting {name} must be >= 1, got {getattr(self, name)}")
        if self.backend_retries < 0:
            raise InputError(f"service setting backend_retries must be >= 0, got {self.backend_retries}")
        if self.image_size is not None and self.image_size < 32:
            raise InputError(f"service setting image_size must be >= 32, got {self.image_size}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InputError("TLS needs both SAMEM_TLS_CERT and SAMEM_TLS_KEY (PEM files), or neither for plaintext")

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
