"""Where training clips come from: the simulator on the fly, or a dataset written by ``samem simulate --dataset``.

Clip ``k`` of step ``s`` depends only on ``(seed, s, k)``, never on worker or run history, so a resumed run and a
run with data-loader workers see the same clips. Validation videos are fixed: seeds of their own (simulator) or the
dataset's ``val`` split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
import torch

from samem.errors import InputError
from samem.sim import random_spec, simulate_video
from samem.train.data import TrainingClip, make_clip, make_window_clip
from samem.train.recipe import TrainRecipe

TRAIN_STREAM, VAL_STREAM = 0, 1
MAX_ATTEMPTS = 50


@dataclass(frozen=True, kw_only=True)
class LabelledVideo:
    """A raw video [T, H, W] with its label stack [T, H, W] (0 background, k particle k)."""

    video: np.ndarray
    labels: np.ndarray
    name: str


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _clip_frames(rng: np.random.Generator, recipe: TrainRecipe) -> int:
    """Frames of the next clip: 2 for a ``short_clips`` fraction of clips, else ``recipe.frames``."""
    if recipe.short_clips > 0 and rng.uniform() < recipe.short_clips:
        return 2
    return recipe.frames


def _training_clip(
    video: LabelledVideo, rng: np.random.Generator, recipe: TrainRecipe, image_size: int, frames: int
) -> TrainingClip | None:
    # drawn only when window clips are asked for, so that other recipes draw the clips they always drew
    if recipe.window_clips > 0 and rng.uniform() < recipe.window_clips:
        return make_window_clip(
            video.video,
            video.labels,
            rng=rng,
            frames=frames,
            image_size=image_size,
            zoom=recipe.window_zoom,
            quantum=image_size // 4,
            box_noise=recipe.box_noise,
            box_noise_bound=recipe.box_noise_bound,
        )
    return make_clip(
        video.video,
        video.labels,
        rng=rng,
        frames=frames,
        max_objects=recipe.max_objects,
        image_size=image_size,
        box_noise=recipe.box_noise,
        box_noise_bound=recipe.box_noise_bound,
        crop=recipe.crop,
    )


class SimulatedSource:
    """Broadly randomised clips from :func:`samem.sim.random_spec`, rendered in memory."""

    def __init__(self, recipe: TrainRecipe, image_size: int) -> None:
        self.recipe, self.image_size = recipe, image_size

    def describe(self) -> str:
        """For recipe.json and messages."""
        return "simulator (on the fly)"

    def _video(
        self, rng: np.random.Generator, n_frames: int, name: str, cnr: tuple[float, float] | None = None
    ) -> LabelledVideo:
        spec = random_spec(
            rng,
            frame_size=self.recipe.frame_size,
            n_frames=(n_frames, n_frames),
            max_particles=self.recipe.max_particles,
            cnr=self.recipe.cnr if cnr is None else cnr,
            step_px=self.recipe.step_px,
            exits=self.recipe.exits,
        )
        result = simulate_video(spec)
        return LabelledVideo(video=result.video, labels=result.labels, name=name)

    def train_clip(self, step: int, index: int) -> TrainingClip:
        """Clip ``index`` of training step ``step``."""
        r = self.recipe
        for attempt in range(MAX_ATTEMPTS):
            rng = _rng(r.seed, TRAIN_STREAM, step, index, attempt)
            frames = _clip_frames(rng, r)
            video = self._video(rng, frames, f"step{step}", r.cnr_range(step))
            clip = _training_clip(video, rng, r, self.image_size, frames)
            if clip is not None:
                return clip
        raise RuntimeError(f"no simulated clip with a visible particle in {MAX_ATTEMPTS} attempts")

    def val_videos(self) -> list[LabelledVideo]:
        """The fixed validation videos (each with a particle visible on its first frame)."""
        videos = []
        for i in range(self.recipe.val_clips):
            for attempt in range(MAX_ATTEMPTS):
                video = self._video(_rng(self.recipe.seed, VAL_STREAM, i, attempt), self.recipe.val_frames, f"val{i}")
                if np.any(video.labels[0]):
                    videos.append(video)
                    break
        return videos


def _read_clip(directory: Path) -> LabelledVideo:
    try:
        video = tifffile.imread(directory / "video.tif")
        labels = tifffile.imread(directory / "gt_masks.tif")
    except Exception as e:  # missing or corrupt files raise many types
        raise InputError(
            f"dataset clip {str(directory)!r} cannot be read: {str(e).splitlines()[0] if str(e) else e!r}"
        ) from e
    if video.ndim == 2:
        video, labels = video[None], labels[None]
    if video.ndim != 3 or video.shape != labels.shape:
        raise InputError(
            f"dataset clip {str(directory)!r}: video {video.shape} and gt_masks {labels.shape} must be equal T x H x W"
        )
    return LabelledVideo(video=video, labels=labels, name=directory.name)


def _clip_dirs(root: Path, split: str) -> list[Path]:
    return sorted(p for p in (root / split).glob("clip_*") if (p / "video.tif").is_file())


class DatasetSource:
    """Clips of a dataset directory ``DIR/{train,val}/clip_*/{video.tif,gt_masks.tif}``."""

    def __init__(self, root: str | Path, recipe: TrainRecipe, image_size: int) -> None:
        self.root, self.recipe, self.image_size = Path(root), recipe, image_size
        if not self.root.is_dir():
            raise InputError(f"dataset directory {str(self.root)!r} does not exist")
        self.train_dirs = _clip_dirs(self.root, "train")
        self.val_dirs = _clip_dirs(self.root, "val")
        if not self.train_dirs:
            raise InputError(
                f"dataset directory {str(self.root)!r} has no training clips (expected train/clip_*/video.tif,"
                " as written by `samem simulate --dataset`)"
            )

    def describe(self) -> str:
        """For recipe.json and messages."""
        return f"dataset {self.root} ({len(self.train_dirs)} train, {len(self.val_dirs)} val clips)"

    def train_clip(self, step: int, index: int) -> TrainingClip:
        """Clip ``index`` of training step ``step``: a random window of a random training clip."""
        r = self.recipe
        for attempt in range(MAX_ATTEMPTS):
            rng = _rng(r.seed, TRAIN_STREAM, step, index, attempt)
            frames = _clip_frames(rng, r)
            video = _read_clip(self.train_dirs[int(rng.integers(len(self.train_dirs)))])
            clip = _training_clip(video, rng, r, self.image_size, frames)
            if clip is not None:
                return clip
        raise InputError(
            f"dataset {str(self.root)!r}: no training clip of >= {r.frames} frames with a visible particle found in"
            f" {MAX_ATTEMPTS} draws; lower --frames or check the dataset"
        )

    def val_videos(self) -> list[LabelledVideo]:
        """The first ``val_clips`` validation clips, cut to ``val_frames`` frames from their first visible one."""
        videos = []
        for directory in self.val_dirs[: self.recipe.val_clips]:
            video = _read_clip(directory)
            visible = [t for t in range(len(video.labels)) if np.any(video.labels[t])]
            if visible:
                window = slice(visible[0], visible[0] + self.recipe.val_frames)
                videos.append(LabelledVideo(video=video.video[window], labels=video.labels[window], name=video.name))
        return videos


class StepClips(torch.utils.data.Dataset):
    """The clips of steps ``start + 1 .. stop`` as a map-style dataset (item i = the clips of step start + 1 + i)."""

    def __init__(self, source: SimulatedSource | DatasetSource, *, start: int, stop: int, clips_per_step: int) -> None:
        self.source, self.start, self.stop, self.clips_per_step = source, start, stop, clips_per_step

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> list[TrainingClip]:
        step = self.start + 1 + i
        return [self.source.train_clip(step, k) for k in range(self.clips_per_step)]
