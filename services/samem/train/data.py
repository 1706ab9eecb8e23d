"""Training clips: frames preprocessed exactly as at inference, box prompts from the ground truth, target masks.

A :class:`TrainingClip` holds ``T`` model images, the box prompts of the objects on its first frame (particles
visible there, at most ``max_objects``, jittered as SAM 2 does) and their ground-truth masks on every frame at the
model image size. Frames go through :class:`~samem.engine.preprocess.Preprocessor` with an
:class:`~samem.io.video.IntensityNormalizer` fitted on the whole source video, as ``samem track`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from samem.engine.preprocess import Preprocessor
from samem.engine.prompts import BOX_LABELS
from samem.io.video import ArrayVideo, FrameGeometry, IntensityNormalizer
from samem.measure import mask_box


@dataclass(frozen=True, kw_only=True)
class TrainingClip:
    """One training clip of T frames and N objects.

    ``images`` [T, 3, S, S] float32; ``targets`` [N, T, S, S] bool; box prompts ``point_coords`` [N, 2, 2]
    (model pixels) with ``point_labels`` [N, 2]; ``particle_ids`` the simulator's ids of the N objects.
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
    n_frames, height, width = video.shape
    geometry = FrameGeometry(height=height, width=width, size=image_size)
    starts = [s for s in rng.permutation(n_frames - frames + 1) if np.any(labels[s])]
    for start in starts:
        ids = visible_ids(labels[start], geometry)
        if ids:
            break
    else:
        return None
    chosen = sorted(int(p) for p in rng.choice(ids, size=min(max_objects, len(ids)), replace=False))
    window = slice(int(start), int(start) + frames)
    prep = Preprocessor(normalizer=IntensityNormalizer.fit(ArrayVideo(video)), geometry=geometry)
    images = torch.stack([prep(frame) for frame in video[window]])
    targets = model_masks(labels[window], chosen, geometry)
    boxes = geometry.boxes_to_model(np.array([mask_box(labels[start] == p) for p in chosen]))
    boxes = jitter_boxes(boxes, rng, noise=box_noise, bound=box_noise_bound, size=image_size)
    return TrainingClip(
        images=images,
        targets=torch.from_numpy(targets),
        point_coords=torch.from_numpy(boxes.reshape(-1, 2, 2).astype(np.float32)),
        point_labels=torch.tensor([BOX_LABELS] * len(chosen), dtype=torch.int32),
        particle_ids=tuple(chosen),
    )
