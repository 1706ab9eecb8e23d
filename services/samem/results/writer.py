"""Stream tracking results into a directory: trajectories.csv, masks.tif, the overlay preview and run.json."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from samem.measure import MEASUREMENT_COLUMNS
from samem.results.measured import MeasuredFrame
from samem.results.overlay import OverlayWriter

TRAJECTORIES = "trajectories.csv"
MASKS = "masks.tif"
RUN = "run.json"


class TrackOutputWriter:
    """Write one frame's results at a time into ``directory`` (an existing, empty staging directory).

    ``masks.tif`` holds one uint16 label page per video frame (T x H x W, label = particle id, overlaps to the
    larger logit); frames that were not tracked (before the first prompt) stay empty. ``trajectories.csv`` has a
    row per particle per tracked frame with the columns of :data:`samem.measure.MEASUREMENT_COLUMNS`
    (lost particles: ``present = False``). Frames must arrive in increasing order.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        n_frames: int,
        height: int,
        width: int,
        fps: float,
        overlay: str | None = "overlay.mp4",
    ) -> None:
        self.directory = Path(directory)
        self.n_frames, self.shape = n_frames, (height, width)
        self._next_page = 0
        self._masks = tifffile.TiffWriter(self.directory / MASKS)
        self._table_file = open(self.directory / TRAJECTORIES, "w", newline="")  # noqa: SIM115 - closed in close()
        self._table = csv.DictWriter(self._table_file, fieldnames=MEASUREMENT_COLUMNS, lineterminator="\n")
        self._table.writeheader()
        self._overlay = (
            OverlayWriter(self.directory / overlay, fps=fps, height=height, width=width) if overlay else None
        )
        self.frames_written = 0

    def add_frame(self, measured: MeasuredFrame, frame: np.ndarray) -> None:
        """Record a measured frame; ``frame`` is its normalised image (for the overlay)."""
        index = measured.frame
        if index < self._next_page or index >= self.n_frames:
            raise ValueError(f"frame {index} is out of order or range (next is {self._next_page})")
        while self._next_page < index:
            self._write_page(np.zeros(self.shape, np.uint16))
        self._write_page(measured.labels)
        self._table.writerows(measured.rows)
        if self._overlay is not None:
            self._overlay.append(frame, measured.labels)
        self.frames_written += 1

    def _write_page(self, labels: np.ndarray) -> None:
        self._masks.write(labels, contiguous=True, photometric="minisblack")
        self._next_page += 1

    def close(self, run_info: dict[str, Any]) -> None:
        """Fill the untracked tail of masks.tif, close every file and write run.json."""
        while self._next_page < self.n_frames:
            self._write_page(np.zeros(self.shape, np.uint16))
        self._masks.close()
        self._table_file.close()
        if self._overlay is not None:
            self._overlay.close()
        with open(self.directory / RUN, "w") as handle:
            json.dump(run_info, handle, indent=2, default=str)
            handle.write("\n")
