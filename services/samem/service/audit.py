"""The audit log of jobs: who started or cancelled which job on which video, when, and how each job ended.

Events are JSON entries of one Redis list, newest first, trimmed to the configured length on every write.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

import redis

START, CANCEL, FINISH = "START", "CANCEL", "FINISH"


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One action on a job."""

    user: str
    action: str
    job_id: str
    video_id: str
    kind: str
    outcome: str
    detail: str = ""
    time_unix: float = dataclasses.field(default_factory=time.time)


class AuditLog:
    """A capped list of :class:`AuditEvent` at ``key``."""

    def __init__(self, client: redis.Redis, key: str, *, max_events: int) -> None:
        self.redis, self.key, self.max_events = client, key, max_events

    def record(self, event: AuditEvent, pipe: redis.client.Pipeline | None = None) -> None:
        """Append an event (in ``pipe``'s transaction when given) and drop the oldest beyond the cap."""
        target = pipe if pipe is not None else self.redis.pipeline()
        target.lpush(self.key, json.dumps(dataclasses.asdict(event)))
        target.ltrim(self.key, 0, self.max_events - 1)
        if pipe is None:
            target.execute()

    def events(self, *, limit: int, user: str = "", job_id: str = "") -> list[AuditEvent]:
        """The newest ``limit`` events, optionally of one user or one job."""
        found = []
        for raw in self.redis.lrange(self.key, 0, -1 if user or job_id else limit - 1):
            event = AuditEvent(**json.loads(raw))
            if (not user or event.user == user) and (not job_id or event.job_id == job_id):
                found.append(event)
                if len(found) == limit:
                    break
        return found
