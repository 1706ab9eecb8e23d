"""Training clips: frames preprocessed exactly as at inference, box prompts from the ground truth, target masks.

A :class:`TrainingClip` holds ``T`` model images, the box prompts of the objects on its first frame (particles
visible there, at most ``max_objects``, jittered as SAM 2 does) and their ground-truth masks on every frame at the
model image size. Frames go through :class:`~samem.engine.preprocess.Preprocessor` with an
:class:`~samem.io.video.IntensityNormalizer` fitted on the whole source video, as ``samem track`` does on whole
frames. A window clip (:func:`make_window_clip`) is what window-mode tracking sees of one particle instead: the
square window of ``zoom`` times its box around it, each frame normalised by its own percentiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from samem.engine.preprocess import Preprocessor, self_normalised_image
from samem.engine.prompts import BOX_LABELS
from samem.engine.windows import centred_window, window_side
from samem.io.video import ArrayVideo, FrameGeometry, IntensityNormalizer
from samem.measure import mask_box


@dataclass(frozen=True, kw_only=True)
class TrainingClip:
    """One training clip of T frames and N objects.

    ``images`` [T, 1, S, S] float32 (grey model images); ``targets`` [N, T, S, S] bool; box prompts
    ``point_coords`` [N, 2, 2] (model pixels) with ``point_labels`` [N, 2]; ``particle_ids`` the simulator's ids of
    the N objects.
    """

    images: Tensor
    targets: Tensor
    point_coords: Tensor
    point_labels: Tensor
    particle_ids: tuple[int, ...]

    @property
    def n_objects(self) -> int:
        """Objects prompted in the clip."""
        return len(self.particle_ids)


def jitter_boxes(boxes: np.ndarray, rng: np.random.Generator, *, noise: float, bound: float, size: int) -> np.ndarray:
    """SAM 2's box noise: each coordinate moves uniformly by up to ``min(noise * side, bound)``; kept in the image."""
    if noise <= 0 or bound <= 0:
        return boxes
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    max_dx, max_dy = np.minimum(width * noise, bound), np.minimum(height * noise, bound)
    scale = np.stack([max_dx, max_dy, max_dx, max_dy], axis=-1)
    jittered = boxes + rng.uniform(-1.0, 1.0, size=boxes.shape) * scale
    return np.clip(jittered, -0.5, size - 0.5)


def model_masks(labels: np.ndarray, particle_ids: list[int], geometry: FrameGeometry) -> np.ndarray:
    """Binary masks [N, T, S, S] of particles in label frames [T, H, W], resized as frames are (threshold 0.5)."""
    out = np.zeros((len(particle_ids), labels.shape[0], geometry.size, geometry.size), dtype=bool)
    for t, frame in enumerate(labels):
        for n, pid in enumerate(particle_ids):
            mask = frame == pid
            if mask.any():
                out[n, t] = geometry.resize(mask.astype(np.float32)) > 0.5
    return out


def visible_ids(labels: np.ndarray, geometry: FrameGeometry) -> list[int]:
    """Particles with a non-empty mask on a label frame, at input and at model resolution."""
    ids = [int(p) for p in np.unique(labels) if p != 0]
    return [p for p in ids if model_masks(labels[None], [p], geometry)[0, 0].any()]


def random_crop(
    video: np.ndarray, labels: np.ndarray, rng: np.random.Generator, fraction: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """The same random window of every frame: each side a uniform ``fraction`` of the frame's, placed uniformly.

    Cropping before resizing to the model size enlarges particles in model pixels: training on crops of half the
    frame at S px shows particles as large as full frames do at 2 S px.
    """
    lo, hi = fraction
    if lo >= 1.0:
        return video, labels
    _, height, width = video.shape
    crop_h = max(8, round(height * rng.uniform(lo, hi)))
    crop_w = max(8, round(width * rng.uniform(lo, hi)))
    y0 = int(rng.integers(0, height - min(crop_h, height) + 1))
    x0 = int(rng.integers(0, width - min(crop_w, width) + 1))
    window = (slice(None), slice(y0, y0 + crop_h), slice(x0, x0 + crop_w))
    return video[window], labels[window]


def make_clip(
    video: np.ndarray,
    labels: np.ndarray,
    *,
    rng: np.random.Generator,
    frames: int,
    max_objects: int,
    image_size: int,
    box_noise: float = 0.0,
    box_noise_bound: float = 0.0,
    crop: tuple[float, float] = (1.0, 1.0),
) -> TrainingClip | None:
    """A clip of ``frames`` consecutive frames from a video and its labels, or None if no window has an object.

    The video is first cut to a :func:`random_crop` of side fraction ``crop``. The window start is drawn among
    frames with at least one visible particle; up to ``max_objects`` of those particles are drawn without
    replacement.
    """
    if video.shape[0] < frames:
        return None
    video, labels = random_crop(video, labels, rng, crop)
    _, height, width = video.shape
    geometry = FrameGeometry(height=height, width=width, size=image_size)
    found = _start_with_particles(labels, rng, frames, geometry)
    if found is None:
        return None
    start, ids = found
    chosen = sorted(int(p) for p in rng.choice(ids, size=min(max_objects, len(ids)), replace=False))
    span = slice(start, start + frames)
    prep = Preprocessor(normalizer=IntensityNormalizer.fit(ArrayVideo(video)), geometry=geometry)
    images = torch.stack([prep(frame) for frame in video[span]])
    return _clip(images, labels[span], chosen, geometry, rng, box_noise=box_noise, box_noise_bound=box_noise_bound)


def make_window_clip(
    video: np.ndarray,
    labels: np.ndarray,
    *,
    rng: np.random.Generator,
    frames: int,
    image_size: int,
    zoom: tuple[float, float],
    quantum: int,
    box_noise: float = 0.0,
    box_noise_bound: float = 0.0,
) -> TrainingClip | None:
    """A clip of one particle as window-mode tracking sees it (:mod:`samem.engine.windows`), or None.

    The particle is drawn among those visible on a random start frame; the window is ``z`` times its box (``z``
    uniform in ``zoom``), sized and placed on the mask grid by the engine's own rules, centred on the box give or
    take a mask pixel (at inference it is centred on the last mask), and stays put for the clip's frames; each
    frame's window is normalised by its own percentiles, as :class:`~samem.engine.Tracker` does.
    """
    if video.shape[0] < frames:
        return None
    _, height, width = video.shape
    native = FrameGeometry(height=height, width=width, size=max(height, width))  # visible in the input pixels
    found = _start_with_particles(labels, rng, frames, native)
    if found is None:
        return None
    start, ids = found
    particle = int(rng.choice(ids))
    x0, y0, x1, y1 = mask_box(labels[start] == particle)
    side = window_side(max(x1 - x0, y1 - y0), zoom=float(rng.uniform(*zoom)), height=height, width=width,
                       quantum=quantum)  # fmt: skip
    shift = rng.uniform(-1.0, 1.0, size=2) * side / quantum  # up to one mask pixel each way
    window = centred_window((x0 + x1) / 2 + shift[0], (y0 + y1) / 2 + shift[1], side=side, height=height,
                            width=width, quantum=quantum)  # fmt: skip
    geometry = window.geometry(image_size)
    span = range(start, start + frames)
    images = torch.stack([self_normalised_image(window.crop(video[t]), geometry) for t in span])
    crops = np.stack([window.crop(labels[t]) for t in span])
    return _clip(images, crops, [particle], geometry, rng, box_noise=box_noise, box_noise_bound=box_noise_bound)


def _start_with_particles(
    labels: np.ndarray, rng: np.random.Generator, frames: int, geometry: FrameGeometry
) -> tuple[int, list[int]] | None:
    """A random first frame of a ``frames``-long span with a particle visible at model size, and those particles."""
    for start in rng.permutation(labels.shape[0] - frames + 1):
        if np.any(labels[start]):
            ids = visible_ids(labels[start], geometry)
            if ids:
                return int(start), ids
    return None


def _clip(
    images: Tensor,
    labels: np.ndarray,
    chosen: list[int],
    geometry: FrameGeometry,
    rng: np.random.Generator,
    *,
    box_noise: float,
    box_noise_bound: float,
) -> TrainingClip:
    """A clip from its model images, the labels of the same frames and the chosen particles (boxes on frame 0)."""
    targets = model_masks(labels, chosen, geometry)
    boxes = geometry.boxes_to_model(np.array([mask_box(labels[0] == p) for p in chosen]))
    boxes = jitter_boxes(boxes, rng, noise=box_noise, bound=box_noise_bound, size=geometry.size)
    return TrainingClip(
        images=images,
        targets=torch.from_numpy(targets),
        point_coords=torch.from_numpy(boxes.reshape(-1, 2, 2).astype(np.float32)),
        point_labels=torch.tensor([BOX_LABELS] * len(chosen), dtype=torch.int32),
        particle_ids=tuple(chosen),
    )
