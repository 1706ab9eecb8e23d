"""Shared pieces of the serving tests: the engine test weights as a checkpoint file, a small image size, tracking."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from engine_support import BOXES, HEIGHT, N_FRAMES, WIDTH, compact_state_dict, synthetic_frames

from samem.engine import Backend, Preprocessor, Tracker
from samem.io.video import FrameGeometry, IntensityNormalizer

IMAGE_SIZE = 128  # small and fast; at this size the test weights still give present and absent objects
CLICK_PARTICLE, CLICK_FRAME, CLICK = 4, 2, (107.0, 60.0)


def write_checkpoint(path: Path) -> Path:
    """The engine tests' weights (objects present and absent) in SAM 2 format."""
    torch.save({"model": compact_state_dict()}, path)
    return path


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run in-process PyTorch with ``count`` threads (as the test server does), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def model_images(size: int = IMAGE_SIZE) -> list[torch.Tensor]:
    """The synthetic video's model images at ``size``."""
    geometry = FrameGeometry(height=HEIGHT, width=WIDTH, size=size)
    prep = Preprocessor(normalizer=IntensityNormalizer(low=0.0, high=255.0), geometry=geometry)
    return [prep(frame) for frame in synthetic_frames()]


def track_all(
    backend: Backend, zoom: float | None = None, *, one_layout: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mask logits [T, N, H, W] and object scores [T, N] of 3 boxes (one added on frame 4) and a click.

    ``zoom`` tracks in windows (see :mod:`samem.engine.windows`); ``one_layout`` prompts the 3 boxes on frame 0 and
    no click, so that every tracked frame has one memory layout.
    """
    if zoom is None:
        images = model_images(backend.settings.image_size)
    else:
        images = IntensityNormalizer(low=0.0, high=255.0)(synthetic_frames().astype(np.float32))
    tracker = Tracker(backend, height=HEIGHT, width=WIDTH, num_frames=N_FRAMES, zoom=zoom)
    for particle, (frame, box) in BOXES.items():
        tracker.add_prompt(0 if one_layout else frame, particle, box=box)
    if not one_layout:
        tracker.add_prompt(CLICK_FRAME, CLICK_PARTICLE, points=[CLICK], labels=[1])
    results = list(tracker.propagate(lambda index: images[index]))
    return np.stack([r.mask_logits for r in results]), np.stack([r.object_scores for r in results])
