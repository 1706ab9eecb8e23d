"""The typed, bounded, serialisable tracking state of one video.

It holds what SAM 2's video predictor keeps per object, minus what it can never attend to again: prompts per frame
(input pixels), conditioning-frame memories (kept for the whole video) and recent non-conditioning memories (dropped
once older than the model's mask and pointer windows). Mask memories are stored in bfloat16 exactly as upstream
stores them; object pointers, object scores and predicted IoUs in float32; low-resolution mask logits on
conditioning frames, where they are the frame's output, and, for models with mask propagation, on the latest
tracked frame, whose mask prompts the next. In window mode (:mod:`samem.engine.windows`) every memory records
the window it was computed in (tracked ones also the mask's centre: motion following's history) and every object
the window of its next frame.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from samem.engine.prompts import Prompt
from samem.engine.settings import ModelSettings
from samem.engine.windows import Window
from samem.errors import InputError

STATE_FORMAT = "samem.engine.state"
STATE_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class FrameMemory:
    """One object's outputs on one frame that later frames may need."""

    obj_ptr: Tensor  # [C] float32
    object_score: Tensor  # [1] float32 logit; > 0 means present
    iou: Tensor  # [1] float32 predicted IoU
    maskmem: Tensor | None = None  # [Cm, h, w] bfloat16; None once out of the mask window
    low_res_logits: Tensor | None = None  # [1, S/4, S/4] float32: conditioning frames, latest tracked frame
    window: Window | None = None  # window mode: the window this frame's outputs are in
    centre: tuple[float, float] | None = None  # window mode, tracked frames: the mask's centre (x, y, input px)


@dataclass(frozen=True, kw_only=True)
class ObjectState:
    """One particle: its prompts and memories, keyed by frame index (prompts in the order they were given)."""

    particle_id: int
    prompts: Mapping[int, Prompt] = field(default_factory=dict)
    cond: Mapping[int, FrameMemory] = field(default_factory=dict)
    non_cond: Mapping[int, FrameMemory] = field(default_factory=dict)
    window: Window | None = None  # window mode: where to look on the frame after the latest output

    def memory_at(self, frame: int) -> FrameMemory | None:
        """The memory of ``frame``, conditioning or not."""
        return self.cond.get(frame, self.non_cond.get(frame))


@dataclass(frozen=True, kw_only=True)
class VideoState:
    """Everything needed to continue tracking a video on any worker (with the same model).

    ``next_frame`` is the next frame propagation will process, or None before propagation starts (and after any
    prompt change, which restarts it). ``zoom`` (window side / particle size) is set in window mode, where
    ``follow_motion`` moves each window and mask prompt by the particle's motion (:mod:`samem.engine.motion`).
    """

    height: int
    width: int
    num_frames: int
    image_size: int
    resize_mode: str = "square"
    zoom: float | None = None
    follow_motion: bool = False
    objects: tuple[ObjectState, ...] = ()
    next_frame: int | None = None

    @property
    def particle_ids(self) -> tuple[int, ...]:
        """Particle ids in the order they were first prompted (the order of every output)."""
        return tuple(obj.particle_id for obj in self.objects)

    def pruned(self, settings: ModelSettings) -> VideoState:
        """Drop non-conditioning memories that no frame from ``next_frame`` on can attend to.

        Mask logits of tracked frames are kept for the frame just before ``next_frame`` only.
        """
        if self.next_frame is None:
            return self
        mask_oldest = self.next_frame - settings.mask_window()
        ptr_window = settings.max_ptrs(self.num_frames) - 1 if settings.use_obj_ptrs_in_encoder else 0
        oldest = min(mask_oldest, self.next_frame - ptr_window)
        objects = []
        for obj in self.objects:
            kept = {}
            for frame, memory in obj.non_cond.items():
                if frame < oldest:
                    continue
                if frame < mask_oldest and memory.maskmem is not None:
                    memory = dataclasses.replace(memory, maskmem=None)
                if frame < self.next_frame - 1 and memory.low_res_logits is not None:
                    memory = dataclasses.replace(memory, low_res_logits=None)
                kept[frame] = memory
            objects.append(dataclasses.replace(obj, non_cond=kept))
        return dataclasses.replace(self, objects=tuple(objects))

    def to_bytes(self) -> bytes:
        """Serialise with ``torch.save`` (tensors and plain containers only, loadable with ``weights_only``)."""
        payload = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "video": {
                "height": self.height,
                "width": self.width,
                "num_frames": self.num_frames,
                "image_size": self.image_size,
                "resize_mode": self.resize_mode,
                "zoom": self.zoom,
                "follow_motion": self.follow_motion,
                "next_frame": self.next_frame,
            },
            "objects": [_object_to_plain(obj) for obj in self.objects],
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> VideoState:
        """Restore a state written by :meth:`to_bytes`; refuse other formats and versions."""
        try:
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many types for foreign data
            raise InputError(f"tracking state cannot be read: {str(e).strip().splitlines()[0]}") from e
        if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
            raise InputError("data is not a samem tracking state")
        if payload.get("version") != STATE_VERSION:
            raise InputError(
                f"tracking state has format version {payload.get('version')!r}; this samem reads version"
                f" {STATE_VERSION} only (re-run tracking from the prompts)"
            )
        video = payload["video"]
        objects = tuple(_object_from_plain(plain) for plain in payload["objects"])
        return cls(objects=objects, **video)


def _window_to_plain(window: Window | None) -> list[int] | None:
    return None if window is None else [window.x0, window.y0, window.side]


def _window_from_plain(plain: list[int] | None) -> Window | None:
    return None if plain is None else Window(*(int(v) for v in plain))


def _memory_to_plain(memory: FrameMemory) -> dict[str, Any]:
    plain = {f.name: getattr(memory, f.name) for f in dataclasses.fields(memory)}
    return plain | {"window": _window_to_plain(memory.window)}


def _memory_from_plain(plain: dict[str, Any]) -> FrameMemory:
    return FrameMemory(**(plain | {"window": _window_from_plain(plain.get("window"))}))


def _object_to_plain(obj: ObjectState) -> dict[str, Any]:
    return {
        "particle_id": obj.particle_id,
        "prompts": [
            [frame, None if p.box is None else list(p.box), [list(xy) for xy in p.points], list(p.labels)]
            for frame, p in obj.prompts.items()
        ],
        "cond": [[frame, _memory_to_plain(m)] for frame, m in obj.cond.items()],
        "non_cond": [[frame, _memory_to_plain(m)] for frame, m in obj.non_cond.items()],
        "window": _window_to_plain(obj.window),
    }


def _object_from_plain(plain: dict[str, Any]) -> ObjectState:
    prompts = {
        int(frame): Prompt(
            box=None if box is None else tuple(box),
            points=tuple((float(x), float(y)) for x, y in points),
            labels=tuple(int(v) for v in labels),
        )
        for frame, box, points, labels in plain["prompts"]
    }
    return ObjectState(
        particle_id=int(plain["particle_id"]),
        prompts=prompts,
        cond={int(frame): _memory_from_plain(m) for frame, m in plain["cond"]},
        non_cond={int(frame): _memory_from_plain(m) for frame, m in plain["non_cond"]},
        window=_window_from_plain(plain.get("window")),
    )
