"""Validation with the inference engine itself: box prompts on frame 0, the engine Tracker, mean IoU J.

Tracked as ``samem track`` would: in windows when the particles are small in the frame (``zoom="auto"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from samem.engine import LocalBackend, Preprocessor, Prompt, Tracker
from samem.engine.windows import auto_zoom
from samem.io.video import ArrayVideo, FrameGeometry, IntensityNormalizer
from samem.measure import mask_box
from samem.train.data import visible_ids
from samem.train.sources import LabelledVideo


def frame_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two boolean masks; 1 when both are empty (a correctly absent object)."""
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def video_ious(model: torch.nn.Module, video: LabelledVideo, *, max_objects: int) -> list[float]:
    """IoU per object and frame (input resolution) of tracking the particles visible on frame 0 of ``video``."""
    n_frames, height, width = video.video.shape
    size = int(model.image_size)
    geometry = FrameGeometry(height=height, width=width, size=size)
    ids = visible_ids(video.labels[0], geometry)[:max_objects]
    if not ids:
        return []
    boxes = [mask_box(video.labels[0] == p) for p in ids]
    zoom = auto_zoom([Prompt(box=box) for box in boxes], height=height, width=width)
    tracker = Tracker(LocalBackend(model), height=height, width=width, num_frames=n_frames, zoom=zoom)
    tracker.add_boxes(0, ids, boxes)
    prep = Preprocessor(normalizer=IntensityNormalizer.fit(ArrayVideo(video.video)), geometry=geometry)

    def frame(t: int) -> torch.Tensor | np.ndarray:
        """The model image of frame ``t``; in window mode the frame as read (the tracker cuts the windows)."""
        return prep(video.video[t]) if zoom is None else np.asarray(video.video[t], dtype=np.float32)

    ious = []
    for result in tracker.propagate(frame):
        for k, pid in enumerate(result.particle_ids):
            ious.append(frame_iou(result.masks[k], video.labels[result.frame] == pid))
    return ious


def validation_iou(model: torch.nn.Module, videos: Sequence[LabelledVideo], *, max_objects: int) -> float:
    """Mean IoU J over every tracked object and frame of ``videos`` (the model is put back in its mode)."""
    was_training = model.training
    model.eval()
    try:
        ious = [iou for video in videos for iou in video_ious(model, video, max_objects=max_objects)]
    finally:
        model.train(was_training)
    return float(np.mean(ious)) if ious else float("nan")
