"""The Redis store: videos, prompts, jobs, per-frame results, engine checkpoints, worker leases, cancel flags.

Keys start with the configured prefix. Ownership is checked here: a record owned by another user reads as
missing (:class:`~samem.service.errors.NotFound`) unless the caller is an admin. Per-frame results are hash fields
keyed by frame, so a frame written twice (a resumed job recomputing frames after its last checkpoint) is stored
once. An engine checkpoint is written in one transaction with the frame it follows.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

import redis

from samem.service.audit import FINISH, AuditEvent, AuditLog
from samem.service.errors import NotFound
from samem.service.records import ACTIVE_STATES, FINAL_STATES, JobRecord, VideoRecord

#: Lease scripts: act only while the lease holds this worker's name (atomic in Redis).
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RESERVE = """
local total = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') + tonumber(ARGV[2])
if total > tonumber(ARGV[3]) then return -1 end
return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def new_id(kind: str) -> str:
    """A fresh random id such as ``vid-3f2a...``."""
    return f"{kind}-{uuid.uuid4().hex}"


class Store:
    """Typed access to the service's Redis keys."""

    def __init__(self, client: redis.Redis, *, prefix: str = "samem", audit_max: int = 10000) -> None:
        self.redis = client
        self.prefix = prefix
        self.audit = AuditLog(client, self.key("audit"), max_events=audit_max)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "samem", audit_max: int = 10000) -> Store:
        """Connect (lazily) to the Redis at ``url``."""
        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        return cls(client, prefix=prefix, audit_max=audit_max)

    def key(self, *parts: str) -> str:
        """A namespaced key."""
        return ":".join((self.prefix, *parts))

    # ----- videos -----

    def put_video(self, video: VideoRecord) -> None:
        """Create or overwrite a video record and index it under its owner."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key("video", video.video_id), mapping=video.to_hash())
            pipe.sadd(self.key("videos", video.owner), video.video_id)
            pipe.sadd(self.key("videos"), video.video_id)
            pipe.execute()

    def video(self, video_id: str, *, user: str, admin: bool = False) -> VideoRecord:
        """The video ``video_id`` if ``user`` may see it, else NotFound."""
        data = self.redis.hgetall(self.key("video", video_id)) if video_id else {}
        if not data:
            raise NotFound(f"no video {video_id!r}")
        record = VideoRecord.from_hash(data)
        if record.owner != user and not admin:
            raise NotFound(f"no video {video_id!r}")
        return record

    def videos(self, *, user: str | None) -> list[VideoRecord]:
        """A user's videos (every user's with ``user=None``), oldest first."""
        ids = self.redis.smembers(self.key("videos") if user is None else self.key("videos", user))
        records = [self.redis.hgetall(self.key("video", i.decode())) for i in ids]
        return sorted((VideoRecord.from_hash(r) for r in records if r), key=lambda v: v.created_unix)

    def delete_video(self, video: VideoRecord) -> None:
        """Remove a video with its prompts and all its jobs' keys."""
        job_ids = [i.decode() for i in self.redis.smembers(self.key("video", video.video_id, "jobs"))]
        with self.redis.pipeline() as pipe:
            for job_id in job_ids:
                self._delete_job(pipe, job_id, video.owner)
            pipe.delete(self.key("video", video.video_id), self.key("prompts", video.video_id))
            pipe.delete(self.key("video", video.video_id, "jobs"))
            pipe.srem(self.key("videos", video.owner), video.video_id)
            pipe.srem(self.key("videos"), video.video_id)
            if video.uploaded:
                pipe.hincrby(self.key("usage"), video.owner, -video.size_bytes)
            pipe.execute()

    # ----- storage quota -----

    def reserve_bytes(self, user: str, size: int, limit: int) -> int | None:
        """Count ``size`` more bytes against ``user``'s quota unless that passes ``limit``; the new total, or None."""
        total = self.redis.eval(_RESERVE, 1, self.key("usage"), user, size, limit)
        return None if int(total) < 0 else int(total)

    def release_bytes(self, user: str, size: int) -> None:
        """Give back bytes counted by :meth:`reserve_bytes` (an upload that did not become a video)."""
        self.redis.hincrby(self.key("usage"), user, -size)

    def used_bytes(self, user: str) -> int:
        """Bytes of uploads ``user`` stores (and uploads under way)."""
        return int(self.redis.hget(self.key("usage"), user) or 0)

    # ----- prompts -----

    def set_prompts(self, video_id: str, prompts: Iterable[dict[str, Any]]) -> None:
        """Add or replace prompts, one per (particle, frame)."""
        mapping = {f"{p['particle']}:{p['frame']}": json.dumps(p) for p in prompts}
        if mapping:
            self.redis.hset(self.key("prompts", video_id), mapping=mapping)

    def remove_prompts(self, video_id: str, particle: int, frame: int | None) -> int:
        """Remove a particle's prompt on ``frame`` (every frame when None); return how many were removed."""
        fields = (
            [f"{particle}:{frame}"]
            if frame is not None
            else [
                f.decode()
                for f in self.redis.hkeys(self.key("prompts", video_id))
                if f.decode().split(":")[0] == str(particle)
            ]
        )
        return int(self.redis.hdel(self.key("prompts", video_id), *fields)) if fields else 0

    def prompts(self, video_id: str) -> list[dict[str, Any]]:
        """The video's prompts ordered by particle, then frame."""
        values = [json.loads(v) for v in self.redis.hvals(self.key("prompts", video_id))]
        return sorted(values, key=lambda p: (p["particle"], p["frame"]))

    # ----- jobs -----

    def put_job(self, job: JobRecord) -> None:
        """Create a job record and index it (active jobs also in the active set)."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key("job", job.job_id), mapping=job.to_hash())
            pipe.sadd(self.key("jobs", job.owner), job.job_id)
            pipe.sadd(self.key("jobs"), job.job_id)
            pipe.sadd(self.key("video", job.video_id, "jobs"), job.job_id)
            if job.state in ACTIVE_STATES:
                pipe.sadd(self.key("active"), job.job_id)
            pipe.execute()

    def job(self, job_id: str, *, user: str | None = None, admin: bool = False) -> JobRecord:
        """The job ``job_id`` if ``user`` may see it (``user=None``: workers, no check), else NotFound."""
        data = self.redis.hgetall(self.key("job", job_id)) if job_id else {}
        if not data:
            raise NotFound(f"no job {job_id!r}")
        record = JobRecord.from_hash(data)
        if user is not None and record.owner != user and not admin:
            raise NotFound(f"no job {job_id!r}")
        return record

    def jobs(self, *, user: str | None, video_id: str | None = None) -> list[JobRecord]:
        """A user's jobs (every user's with ``user=None``), optionally of one video, oldest first."""
        if video_id:
            ids = self.redis.smembers(self.key("video", video_id, "jobs"))
        else:
            ids = self.redis.smembers(self.key("jobs") if user is None else self.key("jobs", user))
        records = [JobRecord.from_hash(r) for i in ids if (r := self.redis.hgetall(self.key("job", i.decode())))]
        return sorted((r for r in records if user is None or r.owner == user), key=lambda j: j.created_unix)

    def active_jobs(self) -> list[str]:
        """Ids of the jobs that are queued or running."""
        return sorted(i.decode() for i in self.redis.smembers(self.key("active")))

    def count_active(self, user: str) -> int:
        """How many of ``user``'s jobs are queued or running."""
        owners = [self.redis.hget(self.key("job", i), "owner") for i in self.active_jobs()]
        return sum(1 for o in owners if o is not None and o.decode() == user)

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set some fields of a job (``state`` also moves it in or out of the active set; a final one is audited)."""
        mapping = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in fields.items()}
        mapping["updated_unix"] = str(time.time())
        final = fields.get("state") in FINAL_STATES
        owner, video_id, kind = (
            self.redis.hmget(self.key("job", job_id), ["owner", "video_id", "kind"]) if final else [None] * 3
        )
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key("job", job_id), mapping=mapping)
            if final and owner is not None:
                event = AuditEvent(
                    user=owner.decode(), action=FINISH, job_id=job_id, video_id=video_id.decode(), kind=kind.decode(),
                    outcome=fields["state"], detail=str(fields.get("error", "")),
                )  # fmt: skip
                self.audit.record(event, pipe)
            if "state" in fields:
                if fields["state"] in ACTIVE_STATES:
                    pipe.sadd(self.key("active"), job_id)
                else:
                    pipe.srem(self.key("active"), job_id)
            pipe.execute()

    def _delete_job(self, pipe: Any, job_id: str, owner: str) -> None:
        pipe.set(self.key("job", job_id, "cancel"), b"1", ex=3600)
        pipe.delete(*(self.key("job", job_id, part) for part in ("rows", "masks", "state", "analysis")))
        pipe.delete(self.key("job", job_id))
        pipe.srem(self.key("jobs", owner), job_id)
        pipe.srem(self.key("jobs"), job_id)
        pipe.srem(self.key("active"), job_id)

    # ----- per-frame results and checkpoints -----

    def put_frame(self, job_id: str, frame: int, rows: list[dict[str, Any]], labels_png: bytes) -> None:
        """Store one frame's measurement rows and label image (idempotent per frame)."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key("job", job_id, "rows"), str(frame), json.dumps(rows))
            pipe.hset(self.key("job", job_id, "masks"), str(frame), labels_png)
            pipe.execute()

    def frames_done(self, job_id: str) -> int:
        """How many frames have results."""
        return int(self.redis.hlen(self.key("job", job_id, "rows")))

    def frame_rows(self, job_id: str, frames: Iterable[int] | None = None) -> dict[int, list[dict[str, Any]]]:
        """Measurement rows by frame (all frames, or those asked for that exist)."""
        key = self.key("job", job_id, "rows")
        if frames is None:
            items = self.redis.hgetall(key).items()
            return {int(k): json.loads(v) for k, v in items}
        wanted = list(frames)
        values = self.redis.hmget(key, [str(f) for f in wanted]) if wanted else []
        return {f: json.loads(v) for f, v in zip(wanted, values, strict=True) if v is not None}

    def frame_masks(self, job_id: str, frames: list[int]) -> list[bytes | None]:
        """PNG label images of ``frames`` (None where a frame has none)."""
        return list(self.redis.hmget(self.key("job", job_id, "masks"), [str(f) for f in frames])) if frames else []

    def checkpoint(self, job_id: str, state: bytes, extra: dict[str, Any] | None = None) -> None:
        """Save the engine state (and job fields with it) in one transaction."""
        with self.redis.pipeline() as pipe:
            pipe.set(self.key("job", job_id, "state"), state)
            if extra:
                pipe.hset(self.key("job", job_id), mapping={k: str(v) for k, v in extra.items()})
            pipe.execute()

    def load_checkpoint(self, job_id: str) -> bytes | None:
        """The last saved engine state, if any."""
        value = self.redis.get(self.key("job", job_id, "state"))
        return None if value is None else bytes(value)

    # ----- leases and cancel flags -----

    def claim(self, job_id: str, worker: str, ttl_s: float) -> bool:
        """Take the job's lease unless another worker holds a live one."""
        key = self.key("job", job_id, "lease")
        if self.redis.set(key, worker, nx=True, px=int(ttl_s * 1000)):
            return True
        holder = self.redis.get(key)
        return holder is not None and holder.decode() == worker

    def renew(self, job_id: str, worker: str, ttl_s: float) -> bool:
        """Extend the lease if this worker still holds it (compare-and-set); False if it was lost."""
        key = self.key("job", job_id, "lease")
        return bool(self.redis.eval(_RENEW, 1, key, worker, int(ttl_s * 1000)))

    def release(self, job_id: str, worker: str) -> None:
        """Drop the lease if this worker holds it (compare-and-delete)."""
        self.redis.eval(_RELEASE, 1, self.key("job", job_id, "lease"), worker)

    def lease_holder(self, job_id: str) -> str | None:
        """The worker holding the job's lease, if any."""
        holder = self.redis.get(self.key("job", job_id, "lease"))
        return None if holder is None else holder.decode()

    def take_requeue(self, job_id: str, ttl_s: float) -> bool:
        """True for the first caller per ``ttl_s`` (so one worker re-enqueues an orphaned job)."""
        return bool(self.redis.set(self.key("job", job_id, "requeue"), b"1", nx=True, px=int(ttl_s * 1000)))

    def queued_messages(self, queue: str) -> bytes:
        """The raw task messages waiting in the broker's ``queue`` list (job ids appear in their headers)."""
        return b"\n".join(self.redis.lrange(queue, 0, -1))

    def request_cancel(self, job_id: str) -> None:
        """Ask the job's worker to stop."""
        self.redis.set(self.key("job", job_id, "cancel"), b"1", ex=7 * 24 * 3600)

    def cancel_requested(self, job_id: str) -> bool:
        """Whether a cancel was asked for."""
        return bool(self.redis.exists(self.key("job", job_id, "cancel")))

    # ----- analysis -----

    def put_analysis(self, job_id: str, stats_json: str, files: dict[str, bytes]) -> None:
        """Store an analysis job's statistics and files."""
        self.redis.hset(self.key("job", job_id, "analysis"), mapping={"stats.json": stats_json.encode(), **files})

    def analysis(self, job_id: str) -> dict[str, bytes]:
        """An analysis job's files by name (``stats.json`` included)."""
        return {k.decode(): bytes(v) for k, v in self.redis.hgetall(self.key("job", job_id, "analysis")).items()}
