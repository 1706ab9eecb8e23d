"""Records <-> protobuf messages, and the validation of prompts that arrive as messages."""

from __future__ import annotations

import math
from typing import Any

from samem.engine.prompts import make_prompt
from samem.errors import InputError
from samem.results.labels import MAX_LABEL
from samem.service.api import tracking_pb2 as pb
from samem.service.audit import AuditEvent
from samem.service.records import JobRecord, VideoRecord, prompt_to_json
from samem.tracking.prompts import PromptSpec


def video_message(video: VideoRecord) -> pb.Video:
    """A video record as a message."""
    return pb.Video(
        video_id=video.video_id, owner=video.owner, filename=video.filename, format=video.format,
        n_frames=video.n_frames, height=video.height, width=video.width, px_nm=video.px_nm, fps=video.fps,
        size_bytes=video.size_bytes, sha256=video.sha256, created_unix=video.created_unix,
    )  # fmt: skip


def job_message(job: JobRecord, frames_done: int) -> pb.Job:
    """A job record (and its progress) as a message."""
    return pb.Job(
        job_id=job.job_id, video_id=job.video_id, owner=job.owner, kind=pb.JobKind.Value(job.kind),
        state=pb.JobState.Value(job.state), frames_done=frames_done, frames_total=job.frames_total, error=job.error,
        created_unix=job.created_unix, updated_unix=job.updated_unix, resumes=job.resumes, model=job.model,
    )  # fmt: skip


def prompt_message(data: dict[str, Any]) -> pb.Prompt:
    """A stored prompt as a message (points with labels 1 are positive)."""
    message = pb.Prompt(particle=data["particle"], frame=data["frame"])
    if data.get("box") is not None:
        x0, y0, x1, y1 = data["box"]
        message.box.CopyFrom(pb.Box(x0=x0, y0=y0, x1=x1, y1=y1))
    for (x, y), label in zip(data.get("points", []), data.get("labels", []), strict=True):
        message.points.append(pb.Point(x=x, y=y, positive=bool(label)))
    return message


def prompt_from_message(message: pb.Prompt, video: VideoRecord) -> dict[str, Any]:
    """Validate a prompt against the video (frame range, particle id, box inside the frame) -> stored form."""
    where = f"prompt of particle {message.particle} on frame {message.frame}"
    if not 1 <= message.particle <= MAX_LABEL:
        raise InputError(f"{where}: particle ids must lie in 1..{MAX_LABEL}")
    if not 0 <= message.frame < video.n_frames:
        raise InputError(
            f"{where}: frame out of range for a video of {video.n_frames} frames (0 to {video.n_frames - 1})"
        )
    box = None
    if message.HasField("box"):
        box = (message.box.x0, message.box.y0, message.box.x1, message.box.y1)
    points = [(p.x, p.y) for p in message.points]
    if any(not math.isfinite(v) for xy in points for v in xy):
        raise InputError(f"{where}: point coordinates must be finite")
    labels = [1 if p.positive else 0 for p in message.points]
    make_prompt(box=box, points=points or None, labels=labels or None, height=video.height, width=video.width,
                where=where)  # fmt: skip
    spec = PromptSpec(particle=message.particle, frame=message.frame, box=box, points=tuple(points),
                      labels=tuple(labels))  # fmt: skip
    return prompt_to_json(spec)


def frame_message(frame: int, rows: list[dict[str, Any]]) -> pb.FrameResult:
    """One frame's measurement rows as a message."""
    return pb.FrameResult(
        frame=frame,
        particles=[
            pb.ParticleResult(particle=int(r["particle"]), present=bool(r["present"]), x=r["x"], y=r["y"],
                              area_px=r["area_px"], mask_score=r["mask_score"],
                              predicted_iou=r.get("predicted_iou", math.nan),  # rows stored before: NaN
                              at_edge=bool(r.get("at_edge", False)))  # rows stored before at_edge existed: False
            for r in rows
        ],
    )  # fmt: skip


def audit_message(event: AuditEvent) -> pb.AuditEvent:
    """An audit log entry as a message."""
    return pb.AuditEvent(
        time_unix=event.time_unix, user=event.user, action=event.action, job_id=event.job_id,
        video_id=event.video_id, kind=pb.JobKind.Value(event.kind), outcome=pb.JobState.Value(event.outcome),
        detail=event.detail,
    )  # fmt: skip
