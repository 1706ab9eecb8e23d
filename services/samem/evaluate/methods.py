"""The methods ``samem eval`` compares, behind one interface: a test video in, a label stack and trajectories out.

- :class:`SamemMethod`: SAM 2 tracking (:func:`samem.track`) of any ``NAME[:CHECKPOINT]`` model, prompted as in
  SAM-EM with one box per particle on the first frame (the box enclosing its ground-truth mask).
- :class:`TrackpyMethod`: :func:`~samem.baselines.track_with_trackpy` with ``diameter_px`` and ``minmass`` from
  :func:`~samem.baselines.tune_parameters` on the thickness's separate tuning video, never on a test video.
- :class:`UnetMethod`: :func:`~samem.baselines.track_with_unet` with a :func:`~samem.baselines.train_unet`
  checkpoint, its smallest instance area from :func:`~samem.baselines.tune_unet` on the thickness's tuning video.
- :class:`TruthMethod`: the ground truth itself (labels and mask centroids), the reference that scores 100.

Trajectory tables have ``frame``, ``particle``, ``x``, ``y`` in pixels (x = column, y = row) and possibly a
``present`` column whose false rows are gaps.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import tifffile

from samem.errors import InputError
from samem.evaluate.testsets import EvalVideo
from samem.measure import label_boxes


@dataclass(frozen=True, kw_only=True)
class MethodOutput:
    """What a method produced on one video: labels ``T x H x W``, trajectories (px), wall time (s), parameters."""

    labels: np.ndarray
    trajectories: pd.DataFrame
    seconds: float
    parameters: dict[str, Any] = field(default_factory=dict)


class Method(Protocol):
    """A segmentation-and-tracking method under evaluation."""

    key: str  # short id used in tables: samem, unet, trackpy, truth
    label: str  # what the report calls it

    def tune(self, video: EvalVideo) -> dict[str, Any] | None:
        """Fit parameters on a tuning video of one thickness (None: nothing to tune)."""
        ...

    def run(self, video: EvalVideo) -> MethodOutput:
        """Segment and track the particles of a test video."""
        ...

    def fingerprint(self) -> str:
        """What decides its results besides the code and the video (model, checkpoint hash, device, precision)."""
        ...


def gt_labels(video: EvalVideo) -> np.ndarray:
    """The ground-truth label stack ``T x H x W`` of a test video (memory-mapped when possible)."""
    path = video.directory / "gt_masks.tif"
    try:
        return tifffile.memmap(path, mode="r")
    except ValueError:  # not memory-mappable (e.g. compressed): read it
        return tifffile.imread(path)


class SamemMethod:
    """SAM 2 tracking with box prompts on frame 0; the model is built once, at construction."""

    key = "samem"

    def __init__(self, model: str, *, device: str = "cpu", precision: str = "fp32") -> None:
        from samem.device import resolve_device
        from samem.model import build_model

        self.model_spec, self.precision = model, precision
        self.loaded = build_model(model, device=resolve_device(device))
        self.label = f"samem ({self.loaded.spec})" + (f" {precision}" if precision != "fp32" else "")

    def fingerprint(self) -> str:
        """Hashes of the config file and the checkpoint (not their paths), device and precision."""
        from samem.model.build import file_sha256

        device = next(self.loaded.model.parameters()).device
        weights = self.loaded.checkpoint_sha256 or "random"
        return f"samem config={file_sha256(self.loaded.spec.config_path)} weights={weights} {device} {self.precision}"

    def tune(self, video: EvalVideo) -> dict[str, Any] | None:
        """Nothing to tune: the model is used as given."""
        return None

    def run(self, video: EvalVideo) -> MethodOutput:
        """Track every particle visible on the first frame from its box."""
        from samem.tracking import track
        from samem.tracking.prompts import PromptSpec

        boxes = label_boxes(np.asarray(gt_labels(video)[0]))
        if not boxes:
            raise InputError(f"{video.name}: no particle visible on frame 0 to prompt")
        prompts = [PromptSpec(particle=k, frame=0, box=box) for k, box in boxes.items()]
        started = time.perf_counter()
        result = track(
            video.video_path, prompts, model=self.loaded, return_masks=True, overlay=None, precision=self.precision
        )
        seconds = time.perf_counter() - started
        assert result.masks is not None
        return MethodOutput(
            labels=result.masks, trajectories=result.trajectories, seconds=seconds,
            parameters={"model": str(self.loaded.spec), "prompts": {str(k): list(b) for k, b in boxes.items()}},
        )  # fmt: skip


class TrackpyMethod:
    """trackpy locate + link, tuned per liquid thickness on that thickness's tuning video."""

    key = "trackpy"
    label = "trackpy (tuned)"

    def __init__(self) -> None:
        from samem.baselines.common import import_trackpy

        import_trackpy()  # fail now, with the install hint, rather than after the test sets are rendered
        self.tuned: dict[float, dict[str, Any]] = {}

    def fingerprint(self) -> str:
        """Nothing beyond the code and trackpy's version."""
        return "trackpy"

    def tune(self, video: EvalVideo) -> dict[str, Any]:
        """Grid-search ``diameter_px`` and ``minmass`` against the tuning video's ground-truth tracks.

        Returns the best trial with the whole grid (every trial's parameters and scores) and the video's name.
        """
        from samem.baselines import tune_parameters

        gt_tracks = pd.read_csv(video.directory / "gt_tracks.csv")
        best = tune_parameters(video.video_path, gt_tracks)
        self.tuned[video.thickness_nm] = {key: best[key] for key in ("diameter_px", "minmass")}
        return best | {"tuning_video": video.name}

    def run(self, video: EvalVideo) -> MethodOutput:
        """Track with the parameters tuned for the video's thickness."""
        from samem.baselines import track_with_trackpy

        if video.thickness_nm not in self.tuned:
            raise InputError(f"trackpy has no parameters tuned for {video.thickness_nm:g} nm; call tune() first")
        started = time.perf_counter()
        result = track_with_trackpy(video.video_path, **self.tuned[video.thickness_nm])
        seconds = time.perf_counter() - started
        assert result.labels is not None
        return MethodOutput(
            labels=result.labels, trajectories=result.trajectories, seconds=seconds, parameters=result.parameters
        )


class UnetMethod:
    """The U-Net baseline from a :func:`~samem.baselines.train_unet` checkpoint (checked at construction).

    The net is used as trained; only the smallest instance kept (``min_area_px``) is tuned per liquid thickness on
    that thickness's tuning video (:func:`~samem.baselines.tune_unet`), the default where none was tuned.
    """

    key = "unet"
    label = "U-Net"

    def __init__(self, checkpoint: str | os.PathLike[str], *, device: str = "cpu") -> None:
        from samem.baselines import load_unet

        load_unet(checkpoint, device)
        self.checkpoint, self.device = checkpoint, device
        self.tuned: dict[float, dict[str, Any]] = {}

    def fingerprint(self) -> str:
        """The checkpoint's hash and the device."""
        from samem.model.build import file_sha256

        return f"unet sha256={file_sha256(Path(self.checkpoint))} {self.device}"

    def tune(self, video: EvalVideo) -> dict[str, Any]:
        """Pick ``min_area_px`` against the tuning video's ground-truth tracks; returns the best cut and the grid."""
        from samem.baselines import tune_unet

        gt_tracks = pd.read_csv(video.directory / "gt_tracks.csv")
        best = tune_unet(video.video_path, self.checkpoint, gt_tracks, device=self.device)
        self.tuned[video.thickness_nm] = {"min_area_px": best["min_area_px"]}
        return best | {"tuning_video": video.name}

    def run(self, video: EvalVideo) -> MethodOutput:
        """Segment every frame, link the components (with the cut tuned for the video's thickness, if any)."""
        from samem.baselines import track_with_unet

        started = time.perf_counter()
        tuned = self.tuned.get(video.thickness_nm, {})
        result = track_with_unet(video.video_path, self.checkpoint, device=self.device, **tuned)
        seconds = time.perf_counter() - started
        assert result.labels is not None
        return MethodOutput(
            labels=result.labels, trajectories=result.trajectories, seconds=seconds, parameters=result.parameters
        )


class TruthMethod:
    """The ground truth as a method: its labels, and its mask centroids as trajectories."""

    key = "truth"
    label = "ground truth"

    def tune(self, video: EvalVideo) -> dict[str, Any] | None:
        """Nothing to tune."""
        return None

    def fingerprint(self) -> str:
        """Nothing beyond the video."""
        return "truth"

    def run(self, video: EvalVideo) -> MethodOutput:
        """Read gt_masks.tif and gt_tracks.csv (``x_mask``, ``y_mask`` as the positions)."""
        started = time.perf_counter()
        labels = np.asarray(gt_labels(video))
        tracks = pd.read_csv(video.directory / "gt_tracks.csv")
        columns = ["frame", "particle", "x_mask", "y_mask"]
        trajectories = tracks[columns].set_axis(["frame", "particle", "x", "y"], axis=1)
        return MethodOutput(labels=labels, trajectories=trajectories, seconds=time.perf_counter() - started)
