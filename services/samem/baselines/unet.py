"""The learned-segmentation baseline: a compact U-Net per frame, connected components, trackpy linking.

Everything happens at the video's own pixel size, so a particle covers as many pixels in training as in use.
Training (:func:`train_unet`) draws frames from randomised simulated clips (:func:`samem.sim.random_spec` with its
own frame sizes, :data:`SIM_FRAME_SIZE`, or any spec factory) or from a dataset directory written by
:func:`samem.sim.write_dataset`. Every clip is normalised as the tracker normalises a video (intensity percentiles
over the clip mapped to [0, 1], then inverted for dark particles); from each chosen frame one ``image_size x
image_size`` window is cut without resizing (half of them, by default, around a random particle pixel; frames
smaller than the window are reflected), flipped and rotated at random, and the net
(:class:`~samem.baselines.unet_model.UNet`) learns the foreground (ground-truth label > 0) with BCE + soft Dice loss
and AdamW. The checkpoint is a torch file ``{"model": state_dict, "config": {...}, "history": [loss per step]}``;
its config says ``"scale": "native"`` (checkpoints of resized training are refused).

Tracking (:func:`track_with_unet`), reading frames lazily (one at a time, after a percentile fit):

1. Each frame is prepared as above (:class:`~samem.io.video.IntensityNormalizer`, inversion) and segmented whole,
   fully convolutionally at its native size (reflect-padded to the net's multiple, the padding cropped off), before
   the ``threshold`` on the probability.
2. 8-connected components (``scipy.ndimage.label``) of at least ``min_area_px`` pixels are instances; their
   centroids (x = column, y = row, as in :mod:`samem.measure`) are the detections.
3. ``trackpy.link`` joins detections with ``search_range_px`` (default: twice the median equivalent diameter of
   the detections, at least 3 px) and ``memory``; particle ids are 1, 2, ... in order of first appearance.
4. The label stack (``T x H x W`` uint16) paints each instance with its linked particle id.

At native scale the net also marks small specks of noise in large noisy frames; :func:`tune_unet` picks the
smallest instance kept (``min_area_px``) on a video with ground truth, as trackpy's ``minmass`` is tuned.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from tqdm import tqdm

from samem.baselines.common import check_memory, import_trackpy, link_features, prepare_frame
from samem.baselines.trackpy_baseline import BaselineResult, count_matched_minmasses, detection_scores
from samem.baselines.unet_model import UNet, dice_bce_loss
from samem.errors import InputError, OutputError
from samem.io.output import atomic_write
from samem.io.video import IntensityNormalizer, open_video

#: Columns of the U-Net baseline's trajectory table (x = column, y = row; ``mass`` = summed probability,
#: ``score`` = mean probability of the instance).
UNET_TRAJECTORY_COLUMNS = ("frame", "particle", "x", "y", "area_px", "mass", "score")

SpecFactory = Callable[[np.random.Generator], Any]  # rng -> samem.sim.VideoSpec

#: Frame side range (px) of the default simulated clips: :func:`samem.sim.random_spec`'s own, whose particles
#: span about 4-150 px; raised to the crop side where that is larger.
SIM_FRAME_SIZE = (512, 1024)
#: Marks checkpoints trained on native-size crops (``config["scale"]``).
NATIVE_SCALE = "native"

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def _normalise_clip(video: np.ndarray, low: float, high: float, invert: bool) -> np.ndarray:
    lo, hi = np.percentile(video[np.isfinite(video)], [low, high]) if video.size else (0.0, 1.0)
    image = IntensityNormalizer(low=float(lo), high=float(hi))(video)
    return 1.0 - image if invert else image


def _crop(
    rng: np.random.Generator, image: np.ndarray, mask: np.ndarray, size: int, positive_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """A ``size x size`` window of a frame and its mask at native pixel size.

    With probability ``positive_fraction`` (when the frame has foreground) the window contains a random foreground
    pixel at a random place, otherwise it lies anywhere. Frames smaller than the window are reflected to fit (the
    mask alike).
    """
    pad = ((0, max(0, size - image.shape[0])), (0, max(0, size - image.shape[1])))
    if any(after for _, after in pad):
        image, mask = np.pad(image, pad, mode="reflect"), np.pad(mask, pad, mode="reflect")
    height, width = image.shape
    rows, cols = np.nonzero(mask)
    if rows.size and rng.uniform() < positive_fraction:
        pick = int(rng.integers(rows.size))
        top = int(np.clip(rows[pick] - rng.integers(size), 0, height - size))
        left = int(np.clip(cols[pick] - rng.integers(size), 0, width - size))
    else:
        top, left = int(rng.integers(height - size + 1)), int(rng.integers(width - size + 1))
    return image[top : top + size, left : left + size], mask[top : top + size, left : left + size]


def _as_batch(planes: list[np.ndarray]) -> torch.Tensor:
    """``N x 1 x H x W`` float32 tensor of equally sized 2-D arrays."""
    return torch.from_numpy(np.stack(planes).astype(np.float32)[:, None])


def _simulated_clips(rng: np.random.Generator, spec_factory: SpecFactory | None, image_size: int) -> Iterator[Any]:
    from samem.sim import random_spec, simulate_video

    frame_size = (max(SIM_FRAME_SIZE[0], image_size), max(SIM_FRAME_SIZE[1], image_size))
    while True:
        if spec_factory is not None:
            spec = spec_factory(rng)
        else:
            spec = random_spec(rng, frame_size=frame_size, n_frames=(2, 4))
        sim = simulate_video(spec)
        yield sim.video, sim.labels


def _dataset_clips(rng: np.random.Generator, root: Path, split: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    import tifffile

    try:
        index = json.loads((root / "dataset.json").read_text())
        paths = [root / clip["path"] for clip in index["clips"] if clip.get("split", split) == split]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{root}: not a samem dataset directory ({error})") from None
    if not paths:
        raise InputError(f"{root}: no clips in split {split!r}")
    while True:
        clip = paths[int(rng.integers(len(paths)))]
        with open_video(clip / "video.tif") as reader:
            video = np.stack([frame for _, frame in reader.iter_frames()])
        yield video, tifffile.imread(clip / "gt_masks.tif")


def train_unet(
    *,
    steps: int,
    image_size: int = 128,
    seed: int = 0,
    out_path: str | os.PathLike[str],
    frames_from: str | os.PathLike[str] | SpecFactory | None = None,
    split: str = "train",
    batch_size: int = 8,
    frames_per_clip: int = 4,
    clips_per_refresh: int = 4,
    refresh_every: int = 10,
    positive_fraction: float = 0.5,
    learning_rate: float = 3e-3,
    weight_decay: float = 1e-4,
    base_channels: int = 16,
    levels: int = 4,
    invert: bool = True,
    low_percentile: float = 0.5,
    high_percentile: float = 99.5,
    device: str = "cpu",
    progress: bool = False,
) -> Path:
    """Train a :class:`~samem.baselines.unet_model.UNet` for foreground segmentation and save a checkpoint.

    Parameters
    ----------
    steps
        Optimiser steps.
    image_size
        Side of the square training crops (px, cut at the frames' own pixel size), a multiple of
        ``2 ** (levels - 1)``.
    seed
        Seeds the data stream and the weights.
    out_path
        Checkpoint file to write (parents created).
    frames_from
        None: randomised clips of :func:`samem.sim.random_spec` (sides in :data:`SIM_FRAME_SIZE`, at least
        ``image_size``; 2-4 frames); a callable ``rng -> VideoSpec``: clips of those specs; a path: a dataset
        directory of :func:`samem.sim.write_dataset` (clips of ``split``).
    split
        The dataset split used when ``frames_from`` is a directory.
    batch_size, frames_per_clip, clips_per_refresh, refresh_every
        Crops per step; frames kept (one crop each) per clip; a pool of ``clips_per_refresh`` clips is drawn anew
        every ``refresh_every`` steps.
    positive_fraction
        Share of the crops placed around a random particle pixel (the rest anywhere), in [0, 1].
    learning_rate, weight_decay
        AdamW settings (cosine decay of the learning rate to 5 % over the run).
    base_channels, levels
        The net's shape.
    invert, low_percentile, high_percentile
        Frame preparation, as in :func:`track_with_unet`.
    device
        Torch device.
    progress
        Show a progress bar (stderr).

    Returns
    -------
    pathlib.Path
        ``out_path``. The checkpoint holds ``model`` (state dict), ``config`` (net shape, crop side ``image_size``,
        ``scale`` = :data:`NATIVE_SCALE` and frame preparation) and ``history`` (loss per step).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be an integer >= 1, got {steps!r}")
    multiple = 2 ** (levels - 1)
    is_int = isinstance(image_size, int) and not isinstance(image_size, bool)
    if not is_int or image_size < multiple or image_size % multiple:
        raise InputError(f"image size must be a positive multiple of {multiple}, got {image_size!r}")
    if not 0 <= positive_fraction <= 1:
        raise InputError(f"positive fraction must be in [0, 1], got {positive_fraction!r}")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    if frames_from is None or callable(frames_from):
        clips = _simulated_clips(rng, frames_from, image_size)
    else:
        clips = _dataset_clips(rng, Path(frames_from), split)

    def pool() -> tuple[torch.Tensor, torch.Tensor]:
        images, masks = [], []
        for _ in range(clips_per_refresh):
            video, labels = next(clips)
            frames = _normalise_clip(np.asarray(video, dtype=np.float32), low_percentile, high_percentile, invert)
            for index in rng.choice(len(video), size=min(frames_per_clip, len(video)), replace=False):
                image, mask = _crop(rng, frames[index], labels[index] > 0, image_size, positive_fraction)
                images.append(image)
                masks.append(mask)
        return _as_batch(images), _as_batch(masks)

    model = UNet(1, base_channels, levels).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=0.05 * learning_rate)
    history: list[float] = []
    model.train()
    for step in tqdm(range(steps), desc="train U-Net", unit="step", disable=not progress, file=sys.stderr):
        if step % refresh_every == 0:
            pool_images, pool_masks = pool()
        pick = torch.from_numpy(rng.choice(len(pool_images), size=batch_size, replace=len(pool_images) < batch_size))
        images, masks = pool_images[pick], pool_masks[pick]
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        images, masks = torch.rot90(images, turns, (2, 3)), torch.rot90(masks, turns, (2, 3))
        if flip:
            images, masks = images.flip(3), masks.flip(3)
        loss = dice_bce_loss(model(images.to(device)), masks.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(float(loss.detach()))
    config = {
        **model.config,
        "image_size": image_size,
        "scale": NATIVE_SCALE,
        "positive_fraction": positive_fraction,
        "invert": invert,
        "low_percentile": low_percentile,
        "high_percentile": high_percentile,
        "steps": steps,
        "seed": seed,
    }
    out = Path(out_path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {str(out.parent)!r}: {e.strerror or e}") from e
    payload = {"model": model.state_dict(), "config": config, "history": history}
    atomic_write(out, lambda handle: torch.save(payload, handle))
    return out


def load_unet(checkpoint: str | os.PathLike[str], device: str = "cpu") -> tuple[UNet, dict[str, Any]]:
    """The net (in eval mode) and config of a :func:`train_unet` checkpoint; InputError when unusable."""
    path = Path(checkpoint)
    try:
        data = torch.load(path, map_location=device, weights_only=True)
        config = dict(data["config"])
        model = UNet(int(config["in_channels"]), int(config["base_channels"]), int(config["levels"]))
        model.load_state_dict(data["model"])
        int(config["image_size"])
    except Exception as error:  # missing, truncated, foreign or mismatched files all read the same to the user
        raise InputError(f"{path}: not a usable U-Net checkpoint ({type(error).__name__}: {error})") from None
    if config.get("scale") != NATIVE_SCALE:
        raise InputError(f"{path}: a U-Net checkpoint trained on resized frames; retrain it with samem train-unet")
    return model.to(device).eval(), config


@torch.no_grad()
def predict_foreground(model: UNet, image: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Foreground probability (``H x W`` float32) of one prepared frame, segmented whole at its own pixel size.

    The frame is reflect-padded on the bottom and right to multiples of :attr:`UNet.multiple`; the padding is cut
    off the result.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 2 or image.size == 0:
        raise InputError(f"expected one non-empty 2-D frame, got an array of shape {image.shape}")
    height, width = image.shape
    padded = np.pad(image, ((0, -height % model.multiple), (0, -width % model.multiple)), mode="reflect")
    logits = model(torch.from_numpy(padded)[None, None].to(device))
    return torch.sigmoid(logits)[0, 0, :height, :width].cpu().numpy()


_INSTANCE_COLUMNS = ["frame", "component", "x", "y", "area_px", "mass", "score"]


def _frame_instances(prob: np.ndarray, threshold: float, min_area_px: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Instances of one probability map: their numbered components (uint16) and rows (without ``frame``)."""
    regions, count = ndimage.label(prob > threshold, structure=_EIGHT_CONNECTED)
    if count == 0:
        return np.zeros(prob.shape, dtype=np.uint16), []
    ids = np.arange(1, count + 1)
    areas = ndimage.sum_labels(np.ones_like(prob), regions, ids)
    masses = ndimage.sum_labels(prob, regions, ids)
    centres = ndimage.center_of_mass(np.ones_like(prob), regions, ids)
    keep = np.flatnonzero(areas >= min_area_px)[: np.iinfo(np.uint16).max]
    lookup = np.zeros(count + 1, dtype=np.uint16)
    lookup[keep + 1] = np.arange(1, keep.size + 1)
    rows = [
        {"component": number, "x": centres[k][1], "y": centres[k][0], "area_px": int(areas[k]),
         "mass": float(masses[k]), "score": float(masses[k] / areas[k])}
        for number, k in enumerate(keep, start=1)
    ]  # fmt: skip
    return lookup[regions], rows


def _segment_video(
    video_path: str | os.PathLike[str],
    model: UNet,
    config: dict[str, Any],
    *,
    threshold: float,
    min_area_px: int,
    device: str,
    keep_components: bool,
) -> tuple[pd.DataFrame, np.ndarray | None, IntensityNormalizer]:
    """Segment every frame of a video and number its instances.

    Returns the instances (``frame, component, x, y, area_px, mass, score``), their component stack (``T x H x W``
    uint16, when ``keep_components``) and the video's normaliser.
    """
    invert = bool(config.get("invert", True))
    rows: list[dict[str, Any]] = []
    with open_video(video_path) as reader:
        info = reader.info
        normalizer = IntensityNormalizer.fit(
            reader, low_percentile=config["low_percentile"], high_percentile=config["high_percentile"]
        )
        components = np.zeros((info.n_frames, info.height, info.width), dtype=np.uint16) if keep_components else None
        for index, frame in reader.iter_frames():
            prob = predict_foreground(model, prepare_frame(frame, normalizer, invert), device)
            numbered, frame_rows = _frame_instances(prob, threshold, min_area_px)
            if components is not None:
                components[index] = numbered
            rows.extend({"frame": index, **row} for row in frame_rows)
    return pd.DataFrame(rows, columns=_INSTANCE_COLUMNS), components, normalizer


def _check_threshold(threshold: float) -> float:
    if not 0 < threshold < 1:
        raise InputError(f"threshold must be in (0, 1), got {threshold!r}")
    return float(threshold)


def track_with_unet(
    video_path: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    *,
    threshold: float = 0.5,
    min_area_px: int = 4,
    search_range_px: float | None = None,
    memory: int = 3,
    device: str = "cpu",
) -> BaselineResult:
    """Track the particles of a video with a trained U-Net (see the module docstring for the pipeline).

    Parameters
    ----------
    video_path
        Any video :func:`~samem.io.video.open_video` reads; frames are read lazily.
    checkpoint
        A :func:`train_unet` checkpoint file.
    threshold
        Foreground probability threshold.
    min_area_px
        Smaller connected components are dropped.
    search_range_px
        Largest displacement between linked detections, pixels; default twice the median equivalent diameter of
        the detections (at least 3).
    memory
        Frames a particle may vanish and still keep its id.
    device
        Torch device.

    Returns
    -------
    BaselineResult
        Trajectories (columns :data:`UNET_TRAJECTORY_COLUMNS`, sorted by frame then particle), the label stack and
        the parameters used.
    """
    threshold = _check_threshold(threshold)
    memory = check_memory(memory)
    if search_range_px is not None and not search_range_px > 0:
        raise InputError(f"search range must be > 0 pixels, got {search_range_px!r}")
    trackpy = import_trackpy()
    model, config = load_unet(checkpoint, device)
    features, components, normalizer = _segment_video(
        video_path, model, config, threshold=threshold, min_area_px=min_area_px, device=device, keep_components=True
    )
    assert components is not None
    if search_range_px is None:
        diameter = float(np.median(np.sqrt(4 * features["area_px"] / math.pi))) if len(features) else 1.5
        search_range_px = max(3.0, 2.0 * diameter)
    labels = np.zeros_like(components)
    if len(features):
        linked = link_features(trackpy, features, search_range=float(search_range_px), memory=memory)
        for frame_index, group in linked.groupby("frame"):
            lookup = np.zeros(int(group["component"].max()) + 1, dtype=np.uint16)
            lookup[group["component"].to_numpy(int)] = group["particle"].to_numpy(np.uint16)
            labels[frame_index] = lookup[components[frame_index]]
    else:
        linked = pd.DataFrame(columns=list(UNET_TRAJECTORY_COLUMNS))
    trajectories = (
        linked[list(UNET_TRAJECTORY_COLUMNS)]
        .astype({"frame": np.int64, "particle": np.int64, "area_px": np.int64})
        .sort_values(["frame", "particle"])
        .reset_index(drop=True)
    )
    parameters = {
        "threshold": float(threshold),
        "min_area_px": int(min_area_px),
        "search_range_px": float(search_range_px),
        "memory": int(memory),
        "invert": bool(config.get("invert", True)),
        "training_crop_px": int(config["image_size"]),
        "checkpoint": str(checkpoint),
        "normalizer": {"low": normalizer.low, "high": normalizer.high},
    }
    return BaselineResult(trajectories=trajectories, labels=labels, parameters=parameters)


def tune_unet(
    video_path: str | os.PathLike[str],
    checkpoint: str | os.PathLike[str],
    gt_tracks: pd.DataFrame,
    *,
    threshold: float = 0.5,
    default_min_area_px: int = 4,
    gt_xy: tuple[str, str] = ("x_mask", "y_mask"),
    device: str = "cpu",
) -> dict[str, Any]:
    """Pick ``min_area_px`` (the smallest instance kept) on a video with ground-truth tracks.

    The video is segmented once; its instances are cut at ``default_min_area_px`` and at the areas that keep about
    1, 2 and 4 times the true number of positions (:func:`~samem.baselines.trackpy_baseline.count_matched_minmasses`
    applied to the areas, rounded up), as trackpy's ``minmass`` is tuned. Each cut is scored by detection F1 and
    centroid RMSE (per-frame optimal matching within the median equivalent radius of the true-count largest
    instances, the same for every cut); the best has the highest F1, then the lowest RMSE. A net applied at
    native scale to noisy frames also marks small specks of noise; their area, far below a particle's, separates them.

    Returns
    -------
    dict
        ``{"min_area_px", "threshold", "detection_f1", "centroid_rmse_px", "n_detections", "match_px", "grid": [the
        same keys but threshold for every cut]}``; pass ``min_area_px`` (and ``threshold``) to
        :func:`track_with_unet`.
    """
    threshold = _check_threshold(threshold)
    gt = gt_tracks[["frame", *gt_xy]].set_axis(["frame", "x", "y"], axis=1).dropna()
    model, config = load_unet(checkpoint, device)
    instances, _, _ = _segment_video(
        video_path, model, config, threshold=threshold, min_area_px=1, device=device, keep_components=False
    )
    areas = instances["area_px"].to_numpy(float)
    if areas.size == 0:
        raise InputError(f"{Path(video_path).name}: the U-Net finds no instance to tune on")
    largest = np.sort(areas)[::-1][: max(1, len(gt))]
    match_px = float(np.sqrt(np.median(largest) / math.pi))
    cuts = sorted({int(default_min_area_px), *(math.ceil(c) for c in count_matched_minmasses(areas, len(gt)))})
    grid = []
    for cut in cuts:
        kept = instances[areas >= cut]
        f1, rmse = detection_scores(kept, gt, match_px)
        grid.append({"min_area_px": cut, "detection_f1": f1, "centroid_rmse_px": rmse, "n_detections": len(kept),
                     "match_px": match_px})  # fmt: skip
    best = max(grid, key=lambda row: (np.nan_to_num(row["detection_f1"], nan=-1.0), -row["centroid_rmse_px"]))
    return {**best, "threshold": threshold, "grid": grid}
