"""The tracking engine: prompts in input pixels, then frame-by-frame propagation over a bounded state.

Semantics equal upstream SAM 2's offline ``propagate_in_video`` after all prompts are added: propagation starts at
the earliest prompted frame; on a prompted (conditioning) frame an object's output is its prompt-decoded mask,
whose memory is encoded from the mask upsampled to ``S x S`` and binarised; every other frame is tracked from the
memory bank, objects prompted on a later frame attending to that future conditioning memory as upstream does.
Models trained with mask propagation (samem's own weights) also get each object's mask on the previous frame as a
mask prompt on tracked frames (see :func:`samem.engine.steps.track_frame`), its largest piece only
(:mod:`samem.engine.pieces`); for them a pixel in two masks goes to the larger logit, in the output and, in window
mode, in the carried masks (:mod:`samem.engine.overlaps`).
Any prompt change restarts propagation (conditioning outputs of unchanged prompts are kept). Not reproduced:
upstream's hole filling of low-resolution masks (``fill_hole_area``; it needs upstream's CUDA extension and is
skipped on CPU), reverse tracking, mask prompts and correction clicks on already tracked frames.

In window mode (``zoom``, see :mod:`samem.engine.windows`) each object is tracked in its own window of the frame,
which follows it; the frame source then gives the frames as read, and the tracker cuts the windows and normalises
and resizes each as a frame of its own. With ``follow_motion`` (the default) each window and mask prompt first
moves by the particle's motion since the previous frame, measured on the two frames (:mod:`samem.engine.motion`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import Tensor

from samem.engine.backend import Backend
from samem.engine.memory import gather_memory, group_by_layout, select_layout
from samem.engine.motion import displacement, recent_step
from samem.engine.overlaps import CAPPED_LOGIT, claim_pixels, taken_by_others, window_samples
from samem.engine.pieces import carried_mask
from samem.engine.preprocess import logits_to_input, self_normalised_image
from samem.engine.prompts import Prompt, make_prompt
from samem.engine.settings import ModelSettings
from samem.engine.state import FrameMemory, ObjectState, VideoState
from samem.engine.steps import FrameFeatures, StepOutput
from samem.engine.windows import (
    Window,
    centred_window,
    check_zoom,
    follow,
    mask_centre,
    paste_logits,
    prompt_window,
    shift_mask,
    translate_mask,
)
from samem.errors import InputError
from samem.io.video.geometry import FrameGeometry, ResizeMode

#: Returns the preprocessed model image [1, S, S] of a frame index (see :mod:`samem.engine.preprocess`), or in
#: window mode the frame normalised to [0, 1] [height, width] (:class:`~samem.io.video.IntensityNormalizer`).
FrameSource = Callable[[int], Tensor | np.ndarray]

#: Motion following's prior on a particle's shift is as wide as its moves over this many frames before.
RECENT_FRAMES = 8


@dataclass(frozen=True, kw_only=True)
class FrameResult:
    """Every object's output on one frame, at input resolution, in ``particle_ids`` order."""

    frame: int
    particle_ids: tuple[int, ...]
    mask_logits: np.ndarray  # [N, height, width] float32
    object_scores: np.ndarray  # [N] float32 logits; > 0 means present
    ious: np.ndarray  # [N] float32 predicted IoU

    @property
    def masks(self) -> np.ndarray:
        """Binary masks [N, height, width]."""
        return self.mask_logits > 0


def _memory(
    out: StepOutput, index: int, memory: Tensor | None, *, keep_logits: bool, window: Window | None
) -> FrameMemory:
    """One object's slice of a batched output, copied so the state holds no views of the batch."""
    return FrameMemory(
        window=window,
        obj_ptr=out.obj_ptr[index].float().clone(),
        object_score=out.object_score_logits[index].float().clone(),
        iou=out.iou[index].float().clone(),
        maskmem=None if memory is None else memory[index].to(torch.bfloat16).clone(),
        low_res_logits=out.low_res_logits[index].float().clone() if keep_logits else None,
    )


class Tracker:
    """Tracks prompted particles through a video with a :class:`Backend`, one frame at a time."""

    def __init__(
        self,
        backend: Backend,
        *,
        height: int,
        width: int,
        num_frames: int,
        resize_mode: ResizeMode = "square",
        zoom: float | None = None,
        follow_motion: bool = True,
    ) -> None:
        """``zoom`` (window side / prompt size, >= 1) tracks each object in its own window; None: whole frames.

        ``follow_motion`` (window mode) moves each window and mask prompt by its particle's motion since the
        previous frame, measured on the images (:mod:`samem.engine.motion`).
        """
        if num_frames < 1:
            raise InputError(f"a video needs at least one frame, got num_frames={num_frames}")
        state = VideoState(
            height=height,
            width=width,
            num_frames=num_frames,
            image_size=backend.settings.image_size,
            resize_mode=resize_mode,
            zoom=check_zoom(zoom),
            follow_motion=bool(follow_motion),
        )
        self._backend = backend
        self._geometry = FrameGeometry(height=height, width=width, size=state.image_size, mode=resize_mode)
        self._state = state

    @classmethod
    def from_state(cls, backend: Backend, state: VideoState | bytes) -> Tracker:
        """A tracker continuing ``state`` (or its serialised bytes)."""
        if isinstance(state, bytes | bytearray):
            state = VideoState.from_bytes(bytes(state))
        if state.image_size != backend.settings.image_size:
            raise InputError(
                f"tracking state is for a {state.image_size} px model, the backend's model takes"
                f" {backend.settings.image_size} px"
            )
        tracker = cls(
            backend, height=state.height, width=state.width, num_frames=state.num_frames, resize_mode=state.resize_mode
        )
        tracker._state = state
        return tracker

    @property
    def state(self) -> VideoState:
        """The current state; serialise with ``state.to_bytes()``."""
        return self._state

    @property
    def settings(self) -> ModelSettings:
        """The backend model's settings."""
        return self._backend.settings

    @property
    def geometry(self) -> FrameGeometry:
        """How frames map to model images."""
        return self._geometry

    @property
    def particle_ids(self) -> tuple[int, ...]:
        """Prompted particles, in output order."""
        return self._state.particle_ids

    @property
    def zoom(self) -> float | None:
        """Window side / prompt size in window mode, None when whole frames are tracked."""
        return self._state.zoom

    @property
    def follow_motion(self) -> bool:
        """Whether windows and mask prompts move with their particles' measured motion (window mode)."""
        return self._state.follow_motion

    # ----- prompts -----

    def _check_frame(self, frame: int) -> int:
        n = self._state.num_frames
        if isinstance(frame, bool) or not isinstance(frame, int | np.integer) or not 0 <= frame < n:
            raise InputError(f"prompt frame {frame!r} is out of range for a video of {n} frame(s) (0 to {n - 1})")
        return int(frame)

    @staticmethod
    def _check_id(particle_id: int) -> int:
        if isinstance(particle_id, bool) or not isinstance(particle_id, int | np.integer):
            raise InputError(f"particle ids must be integers, got {particle_id!r}")
        return int(particle_id)

    def _restart(self, objects: Sequence[ObjectState]) -> None:
        """Store prompt changes: drop every tracked memory, so the next propagation starts over."""
        objects = tuple(dataclasses.replace(obj, non_cond={}, window=None) for obj in objects if obj.prompts)
        self._state = dataclasses.replace(self._state, objects=objects, next_frame=None)

    def _set_prompts(self, frame: int, prompts: dict[int, Prompt]) -> None:
        objects = list(self._state.objects)
        index = {obj.particle_id: i for i, obj in enumerate(objects)}
        for particle_id, prompt in prompts.items():
            obj = objects[index[particle_id]] if particle_id in index else ObjectState(particle_id=particle_id)
            cond = {t: m for t, m in obj.cond.items() if t != frame}
            updated = dataclasses.replace(obj, prompts={**obj.prompts, frame: prompt}, cond=cond)
            if particle_id in index:
                objects[index[particle_id]] = updated
            else:
                index[particle_id] = len(objects)
                objects.append(updated)
        self._restart(objects)

    def add_prompt(
        self,
        frame: int,
        particle_id: int,
        *,
        box: ArrayLike | None = None,
        points: ArrayLike | None = None,
        labels: ArrayLike | None = None,
    ) -> None:
        """Set (add or replace) a particle's prompt on ``frame``: a box (x0, y0, x1, y1) and/or labelled points."""
        frame, particle_id = self._check_frame(frame), self._check_id(particle_id)
        where = f"particle {particle_id} on frame {frame}"
        s = self._state
        prompt = make_prompt(box=box, points=points, labels=labels, height=s.height, width=s.width, where=where)
        self._set_prompts(frame, {particle_id: prompt})

    def add_boxes(self, frame: int, particle_ids: Sequence[int], boxes: ArrayLike) -> None:
        """Set box prompts [N, 4] of N particles on ``frame``."""
        frame = self._check_frame(frame)
        ids = [self._check_id(p) for p in particle_ids]
        duplicates = sorted({p for p in ids if ids.count(p) > 1})
        if duplicates:
            raise InputError(f"duplicate particle ids {duplicates} on frame {frame}; give each particle one box")
        values = np.asarray(boxes, dtype=np.float64)
        if values.shape != (len(ids), 4):
            raise InputError(f"expected {len(ids)} box(es) of shape ({len(ids)}, 4), got shape {values.shape}")
        s = self._state
        prompts = {
            p: make_prompt(
                box=box,
                points=None,
                labels=None,
                height=s.height,
                width=s.width,
                where=f"particle {p} on frame {frame}",
            )
            for p, box in zip(ids, values, strict=True)
        }
        self._set_prompts(frame, prompts)

    def remove_prompt(self, frame: int, particle_id: int) -> None:
        """Remove a particle's prompt on ``frame``; a particle left without prompts is removed."""
        frame, particle_id = self._check_frame(frame), self._check_id(particle_id)
        objects = list(self._state.objects)
        for i, obj in enumerate(objects):
            if obj.particle_id == particle_id and frame in obj.prompts:
                prompts = {t: p for t, p in obj.prompts.items() if t != frame}
                cond = {t: m for t, m in obj.cond.items() if t != frame}
                objects[i] = dataclasses.replace(obj, prompts=prompts, cond=cond)
                self._restart(objects)
                return
        raise InputError(f"particle {particle_id} has no prompt on frame {frame}")

    def remove_particle(self, particle_id: int) -> None:
        """Remove a particle and all its prompts."""
        particle_id = self._check_id(particle_id)
        if particle_id not in self.particle_ids:
            raise InputError(f"no particle {particle_id}; known particles: {list(self.particle_ids)}")
        self._restart([obj for obj in self._state.objects if obj.particle_id != particle_id])

    # ----- propagation -----

    def propagate(self, frames: FrameSource, *, stop: int | None = None) -> Iterator[FrameResult]:
        """Track frame by frame from where the state stands (the earliest prompted frame at first) to ``stop``.

        ``frames(index)`` returns a preprocessed model image (in window mode: the frame as read); it is called
        about once per processed frame (plus once per prompted frame before the first, and in window mode once for
        the frame before where propagation continues a saved state), so memory use does not grow with the video.
        The last two frames are kept: motion following looks at the previous frame again. ``stop`` (exclusive)
        defaults to the end of the video; the state after each yielded frame can be serialised and continued
        elsewhere.
        """
        if not self._state.objects:
            raise InputError("no prompts: add a box or points for at least one particle before propagating")
        frames = functools.lru_cache(maxsize=2)(frames)
        end = self._state.num_frames if stop is None else min(int(stop), self._state.num_frames)
        cache: dict[int, FrameFeatures] = {}
        with torch.inference_mode():
            self._condition(frames, cache)
        if self._state.next_frame is None:
            start = min(t for obj in self._state.objects for t in obj.cond)
            self._state = dataclasses.replace(self._state, next_frame=start)
        while self._state.next_frame < end:
            with torch.inference_mode():
                result = self._step(self._state.next_frame, frames, cache)
            yield result

    def _features(self, frames: FrameSource, frame: int, cache: dict[int, FrameFeatures]) -> FrameFeatures:
        """Features of ``frame``, keeping only the most recent frame's."""
        if frame not in cache:
            image = self._model_image(frames, frame)
            cache.clear()
            cache[frame] = self._backend.encode_frame(image)
        return cache[frame]

    def _model_image(self, frames: FrameSource, frame: int) -> Tensor:
        """The model image [1, 1, S, S] of ``frame``."""
        image = torch.as_tensor(frames(frame), dtype=torch.float32)
        size = self.settings.image_size
        if image.shape[-3:] != (1, size, size) or image.dim() not in (3, 4):
            raise InputError(
                f"frame {frame}: expected a model image of shape (1, {size}, {size}), got {tuple(image.shape)}"
            )
        return image.reshape(1, 1, size, size)

    def _condition(self, frames: FrameSource, cache: dict[int, FrameFeatures]) -> None:
        """Decode every prompt without a conditioning output, batched per frame and point count."""
        pending: dict[int, dict[int, list[int]]] = {}  # frame -> n_points -> object indices
        for i, obj in enumerate(self._state.objects):
            for frame, prompt in obj.prompts.items():
                if frame not in obj.cond:
                    pending.setdefault(frame, {}).setdefault(prompt.n_points, []).append(i)
        objects = list(self._state.objects)
        size = self.settings.image_size
        for frame in sorted(pending):
            prompted = [i for indices in pending[frame].values() for i in indices]
            position = {i: k for k, i in enumerate(prompted)}  # window mode: object -> its image in ``features``
            windows: dict[int, Window] = {}
            if self.zoom is None:
                features = self._features(frames, frame, cache)
            else:
                windows = {i: self._prompt_window(objects[i].prompts[frame]) for i in prompted}
                features = self._window_features(frames, frame, [windows[i] for i in prompted])
            for indices in pending[frame].values():
                if self.zoom is None:
                    group_features = features
                    pairs = [objects[i].prompts[frame].to_model(self._geometry) for i in indices]
                else:
                    group_features = features.take([position[i] for i in indices])
                    pairs = [
                        windows[i].local_prompt(objects[i].prompts[frame]).to_model(windows[i].geometry(size))
                        for i in indices
                    ]
                coords = torch.from_numpy(np.stack([c for c, _ in pairs]))
                labels = torch.from_numpy(np.stack([lab for _, lab in pairs]))
                out = self._backend.decode_prompts(group_features, coords, labels)
                high_res = F.interpolate(out.low_res_logits, size=(size, size), mode="bilinear", align_corners=False)
                memory = self._backend.encode_memory(group_features, high_res, out.object_score_logits, True)
                for k, i in enumerate(indices):
                    output = _memory(out, k, memory, keep_logits=True, window=windows.get(i))
                    objects[i] = dataclasses.replace(objects[i], cond={**objects[i].cond, frame: output})
        self._state = dataclasses.replace(self._state, objects=tuple(objects))

    def _previous_masks(
        self,
        objects: Sequence[ObjectState],
        frame: int,
        windows: Sequence[Window] | None,
        shifts: Sequence[tuple[int, int]] | None = None,
    ) -> Tensor | None:
        """Mask prompts of ``objects`` from their outputs on ``frame - 1`` (zeros where there is none).

        Each is the largest piece of the previous mask (:func:`samem.engine.pieces.carried_mask`). In window mode
        each is moved into the object's window on ``frame``, and by its particle's motion ``shifts`` (whole mask
        pixels). None for models without mask propagation.
        """
        if not self.settings.mask_propagation:
            return None
        size = self.settings.low_res_size
        masks = torch.zeros(len(objects), 1, size, size)
        for k, obj in enumerate(objects):
            previous = obj.memory_at(frame - 1)
            if previous is not None and previous.low_res_logits is not None:
                masks[k] = carried_mask(previous.low_res_logits.cpu())
                if windows is not None and previous.window is not None:
                    masks[k] = translate_mask(masks[k], previous.window, windows[k])
                if shifts is not None and shifts[k] != (0, 0):
                    masks[k] = shift_mask(masks[k], *shifts[k])
        return masks

    def _follow_motion(
        self,
        frames: FrameSource,
        frame: int,
        objects: Sequence[ObjectState],
        windows: dict[int, Window],
        tracked: Sequence[int],
    ) -> dict[int, tuple[int, int]]:
        """Move the windows of ``tracked`` by their particles' motion from ``frame - 1`` (:mod:`samem.engine.motion`).

        Updates ``windows`` in place and returns each moved object's mask shift in whole mask pixels.
        """
        s, size = self._state, self.settings.low_res_size
        before, now = self._frame_as_read(frames, frame - 1), self._frame_as_read(frames, frame)
        shifts = {}
        for i in tracked:
            previous = objects[i].memory_at(frame - 1)
            if previous is None or previous.low_res_logits is None or previous.window is None:
                continue
            if not bool((previous.object_score > 0).all()):
                continue
            old = previous.window
            logits = carried_mask(previous.low_res_logits.cpu()).reshape(1, 1, size, size)
            mask = F.interpolate(logits, size=(old.side, old.side), mode="bilinear", align_corners=False)[0, 0] > 0
            history = [self._memory_centre(objects[i].memory_at(t)) for t in range(frame - RECENT_FRAMES, frame)]
            moved = displacement(before, now, mask.numpy(), (old.x0, old.y0), step=recent_step(history))
            if moved is None:
                continue
            dx, dy = moved
            step = old.side / size
            shift = (round(dx / step), round(dy / step))
            if shift == (0, 0):
                continue
            current = windows[i]
            centre_x, centre_y = current.x0 + (current.side - 1) / 2, current.y0 + (current.side - 1) / 2
            windows[i] = centred_window(centre_x + dx, centre_y + dy, side=current.side, height=s.height,
                                        width=s.width, quantum=size)  # fmt: skip
            shifts[i] = shift
        return shifts

    # ----- window mode -----

    def _prompt_window(self, prompt: Prompt) -> Window:
        s = self._state
        return prompt_window(prompt, zoom=s.zoom, height=s.height, width=s.width, quantum=self.settings.low_res_size)

    def _window_features(self, frames: FrameSource, frame: int, windows: Sequence[Window]) -> FrameFeatures:
        """Features of each window of ``frame`` (:meth:`_window_images`), encoded in one batch."""
        return self._backend.encode_frame(self._window_images(frames, frame, windows))

    def _window_images(self, frames: FrameSource, frame: int, windows: Sequence[Window]) -> Tensor:
        """The model image [n, 1, S, S] of each window of ``frame``.

        Each window is normalised by its own intensity percentiles, as a training frame is. With the video's
        percentiles a 20 px particle of a 512 px frame lies below the low percentile and is clipped flat; its masks
        come out 14 % too large and lag its motion. Measured with samem-compact (README, window mode): mean J of
        ``bench/bench_domain.py`` 0.505 -> 0.548, J on the 1p test videos 0.80 -> 0.86 (5 nm), 0.79 -> 0.83 (150 nm).
        """
        image = self._frame_as_read(frames, frame)
        size = self.settings.image_size
        crops = [self_normalised_image(window.crop(image), window.geometry(size)) for window in windows]
        return torch.stack(crops)

    def _frame_as_read(self, frames: FrameSource, frame: int) -> np.ndarray:
        """Frame ``frame`` as read [height, width] float32 (window mode)."""
        image = np.asarray(frames(frame), dtype=np.float32)
        shape = (self._state.height, self._state.width)
        if image.shape != shape:
            raise InputError(
                f"frame {frame}: window mode expects the frame as read, of shape {shape}, got {image.shape}"
            )
        return image

    @staticmethod
    def _current_window(obj: ObjectState, frame: int) -> Window:
        """Where ``obj`` is looked for on ``frame``: after its latest output, else its nearest prompt's window."""
        if obj.window is not None:
            return obj.window
        nearest = min(obj.cond, key=lambda t: abs(t - frame))
        window = obj.cond[nearest].window
        assert window is not None, "window mode stores a window with every conditioning output"
        return window

    def _step(self, frame: int, frames: FrameSource, cache: dict[int, FrameFeatures]) -> FrameResult:
        """Process one frame: conditioning outputs as they are, one batched track step per memory layout."""
        state, settings = self._state, self.settings
        objects = list(state.objects)
        tracked = [i for i, obj in enumerate(objects) if frame not in obj.cond]
        outputs: dict[int, FrameMemory] = {i: objects[i].cond[frame] for i in range(len(objects)) if i not in tracked}
        logits: dict[int, Tensor] = {i: m.low_res_logits for i, m in outputs.items()}
        windowed = self.zoom is not None
        windows: dict[int, Window] = {i: self._current_window(objects[i], frame) for i in tracked} if windowed else {}
        shifts: dict[int, tuple[int, int]] = {}
        if windowed and self.follow_motion and frame > 0 and tracked:
            shifts = self._follow_motion(frames, frame, objects, windows, tracked)
        if tracked:
            layouts = [
                select_layout(objects[i], frame, settings=settings, num_frames=state.num_frames) for i in tracked
            ]
            groups = group_by_layout(layouts)
            # one memory layout on a frame not encoded yet (the usual case): encoding and tracking in one step, so
            # that a remote backend never sends the features back and forth
            fused = len(groups) == 1 and (windowed or frame not in cache)
            if fused and windowed:
                images = self._window_images(frames, frame, [windows[tracked[g]] for g in groups[0]])
            elif fused:
                images = self._model_image(frames, frame)
            elif windowed:
                features = self._window_features(frames, frame, [windows[i] for i in tracked])
            else:
                features = self._features(frames, frame, cache)
            for group in groups:
                members = [tracked[g] for g in group]
                inputs = gather_memory(
                    [objects[i] for i in members],
                    [layouts[g] for g in group],
                    settings=settings,
                    num_frames=state.num_frames,
                )
                group_windows = [windows[i] for i in members] if windowed else None
                previous = self._previous_masks(
                    [objects[i] for i in members], frame, group_windows, [shifts.get(i, (0, 0)) for i in members]
                )
                if fused:
                    out = self._backend.track_image(images, inputs, previous)
                else:
                    group_features = features.take(group) if windowed else features
                    out = self._backend.track_frame(group_features, inputs, previous)
                for k, i in enumerate(members):
                    outputs[i] = _memory(
                        out, k, out.memory, keep_logits=settings.mask_propagation, window=windows.get(i)
                    )
                    logits[i] = out.low_res_logits[k].float()
        order = range(len(objects))
        if windowed:
            seen = [outputs[i].window for i in order]
            assert all(w is not None for w in seen), "window mode stores a window with every output"
            low_res = torch.stack([logits[i].cpu() for i in order])
            frame_logits = paste_logits(low_res, seen, height=state.height, width=state.width)
        else:  # resized where the model ran (a GPU does it in microseconds), then copied once
            device = next((t.device for t in logits.values() if t.device.type != "cpu"), torch.device("cpu"))
            low_res = torch.stack([logits[i].to(device) for i in order])
            frame_logits = logits_to_input(low_res, self._geometry).cpu()
        if settings.mask_propagation and len(objects) > 1:  # one particle per pixel (samem.engine.overlaps)
            frame_logits = claim_pixels(frame_logits)
            if windowed:
                claimed = self._claimed_carries(frame_logits, logits, tracked, windows)
                logits |= claimed
                outputs |= {i: dataclasses.replace(outputs[i], low_res_logits=claimed[i]) for i in tracked}
        centres = {i: self._centre(outputs[i], logits[i]) for i in order} if windowed else {}
        for i in tracked:
            output = dataclasses.replace(outputs[i], centre=centres.get(i))
            objects[i] = dataclasses.replace(objects[i], non_cond={**objects[i].non_cond, frame: output})
        if windowed:
            objects = [self._follow(objects[i], outputs[i].window, centres[i]) for i in order]
        result = FrameResult(
            frame=frame,
            particle_ids=state.particle_ids,
            mask_logits=frame_logits.numpy(),
            object_scores=torch.cat([outputs[i].object_score.cpu() for i in order]).numpy(),
            ious=torch.cat([outputs[i].iou.cpu() for i in order]).numpy(),
        )
        next_state = dataclasses.replace(state, objects=tuple(objects), next_frame=frame + 1)
        self._state = next_state.pruned(settings)
        return result

    def _claimed_carries(
        self, frame_logits: Tensor, logits: dict[int, Tensor], tracked: Sequence[int], windows: dict[int, Window]
    ) -> dict[int, Tensor]:
        """Each tracked object's low-resolution logits without the pixels other objects hold in the claimed frame.

        What it carries into the next frame (:mod:`samem.engine.overlaps`): a window's mask pixel is lost where
        another object's output holds the input pixel at its centre.
        """
        claimed = {}
        for i in tracked:
            samples = window_samples(frame_logits, windows[i], self.settings.low_res_size)
            taken = taken_by_others(samples, i).to(logits[i].device)
            claimed[i] = torch.where(taken, logits[i].clamp(max=CAPPED_LOGIT), logits[i])
        return claimed

    @classmethod
    def _memory_centre(cls, memory: FrameMemory | None) -> tuple[float, float] | None:
        """Where an object was on a remembered frame: its stored centre, or its conditioning mask's centre."""
        if memory is None:
            return None
        if memory.centre is not None:
            return memory.centre
        if memory.low_res_logits is None or memory.window is None:
            return None
        return cls._centre(memory, memory.low_res_logits)

    @staticmethod
    def _centre(output: FrameMemory, low_res_logits: Tensor) -> tuple[float, float] | None:
        """Centre (x, y, input px) of an object's mask in window mode, None when absent or empty."""
        assert output.window is not None
        present = bool((output.object_score > 0).all())
        return mask_centre(low_res_logits.cpu(), output.window) if present else None

    def _follow(self, obj: ObjectState, window: Window | None, centre: tuple[float, float] | None) -> ObjectState:
        """``obj`` with the window of its next frame, centred on its mask ``centre`` in ``window``."""
        s = self._state
        assert window is not None
        window = follow(window, centre, height=s.height, width=s.width, quantum=self.settings.low_res_size)
        return dataclasses.replace(obj, window=window)
