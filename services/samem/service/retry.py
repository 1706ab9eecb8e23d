"""When a worker retries a job: which failures are transient (an unreachable backend) and the backoff between tries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import redis

from samem.service.config import ServiceConfig

#: Words in a Triton error that mean the server is not there (now), or unloads or loads its models (a shutdown or
#: a restart), not that the request was wrong.
_UNREACHABLE = ("cannot reach triton", "is not live", "unavailable", "deadline", "connection refused",
                "failed to connect", "socket closed", "does not serve a ready", "has no available versions",
                "not ready", "shutting down")  # fmt: skip


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def transient(error: BaseException) -> bool:
    """Whether ``error`` (or its cause) says the backend or Redis is unreachable, so that trying again may work."""
    from samem.serving.server import TritonError

    for cause in _causes(error):
        if isinstance(cause, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            return True
        if isinstance(cause, TritonError) and any(w in str(cause).lower() for w in _UNREACHABLE):
            return True
    return False


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``retries`` waits of ``first_s``, doubling, each at most ``max_s``."""

    retries: int
    first_s: float
    max_s: float

    @classmethod
    def of(cls, config: ServiceConfig) -> Backoff:
        """The service's backend retry policy."""
        return cls(config.backend_retries, config.backend_retry_s, config.backend_retry_max_s)

    def delay(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (0-based), None when no retry is left."""
        if attempt >= self.retries:
            return None
        return min(self.first_s * 2.0**attempt, self.max_s)
