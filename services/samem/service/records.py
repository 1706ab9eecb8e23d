"""What the store keeps about videos and jobs, as typed records with flat string fields for Redis hashes."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from samem.tracking.prompts import PromptSpec

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"
ACTIVE_STATES = (QUEUED, RUNNING)
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)
PROPAGATION, ANALYSIS = "PROPAGATION", "ANALYSIS"


class _Hash:
    """Round trip of a flat dataclass through a Redis hash (every value as text; JSON for the rest)."""

    _json_fields: ClassVar[tuple[str, ...]] = ()

    def to_hash(self) -> dict[str, str]:
        out = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            out[field.name] = json.dumps(value) if field.name in self._json_fields else str(value)
        return out

    @classmethod
    def from_hash(cls, data: dict[bytes, bytes]) -> Any:
        text = {k.decode(): v.decode() for k, v in data.items()}
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if field.name not in text:
                continue
            raw = text[field.name]
            kind = str(field.type)
            if field.name in cls._json_fields:
                values[field.name] = json.loads(raw)
            elif kind == "int":
                values[field.name] = int(raw)
            elif kind == "float":
                values[field.name] = float(raw)
            else:
                values[field.name] = raw
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class VideoRecord(_Hash):
    """A registered video: where its file lies on the shared storage and what it holds."""

    video_id: str
    owner: str
    path: str  # relative to the storage root
    uploaded: int  # 1: the file belongs to the video (deleted with it); 0: a registered shared file
    filename: str
    format: str
    n_frames: int
    height: int
    width: int
    px_nm: float
    fps: float
    size_bytes: int
    sha256: str
    created_unix: float


@dataclass(frozen=True, kw_only=True)
class JobRecord(_Hash):
    """A job: its video, a snapshot of the prompts it tracks, where it stands."""

    _json_fields: ClassVar[tuple[str, ...]] = ("prompts", "params")

    job_id: str
    video_id: str
    owner: str
    kind: str
    state: str
    first_frame: int
    frames_total: int
    error: str = ""
    created_unix: float
    updated_unix: float
    resumes: int = 0
    #: Propagation: the catalogue name of its model; what the worker ran (spec, checkpoint SHA-256) once it runs.
    model: str = ""
    model_spec: str = ""
    model_sha256: str = ""
    prompts: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Kind-specific inputs (analysis: px_nm, fps, exposure_fraction, source job).
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def prompt_specs(self) -> list[PromptSpec]:
        """The tracked prompts."""
        return [prompt_from_json(p) for p in self.prompts]


def prompt_to_json(prompt: PromptSpec) -> dict[str, Any]:
    """A prompt as JSON-ready values."""
    return {
        "particle": prompt.particle,
        "frame": prompt.frame,
        "box": None if prompt.box is None else list(prompt.box),
        "points": [list(p) for p in prompt.points],
        "labels": list(prompt.labels),
    }


def prompt_from_json(data: dict[str, Any]) -> PromptSpec:
    """The inverse of :func:`prompt_to_json`."""
    box = data.get("box")
    return PromptSpec(
        particle=int(data["particle"]),
        frame=int(data["frame"]),
        box=None if box is None else (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        points=tuple((float(x), float(y)) for x, y in data.get("points", [])),
        labels=tuple(int(v) for v in data.get("labels", [])),
    )
