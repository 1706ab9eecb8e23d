"""Result encodings: label images as 16-bit PNG and run lengths, measurement rows as trajectories.csv text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import numpy as np
from PIL import Image

from samem.measure import MEASUREMENT_COLUMNS


def labels_to_png(labels: np.ndarray) -> bytes:
    """A uint16 label image (H, W) as a lossless 16-bit greyscale PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_to_labels(data: bytes) -> np.ndarray:
    """The inverse of :func:`labels_to_png`."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image, dtype=np.uint16)


def run_lengths(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-major runs of equal values: (values, lengths), lengths summing to the pixel count."""
    flat = np.asarray(labels).ravel()
    if flat.size == 0:
        return np.zeros(0, np.uint32), np.zeros(0, np.uint32)
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    lengths = np.diff(np.append(starts, flat.size))
    return flat[starts].astype(np.uint32), lengths.astype(np.uint32)


def from_run_lengths(values: Iterable[int], lengths: Iterable[int], *, height: int, width: int) -> np.ndarray:
    """The label image (H, W) of :func:`run_lengths` output."""
    flat = np.repeat(np.asarray(list(values), np.uint16), np.asarray(list(lengths), np.int64))
    if flat.size != height * width:
        raise ValueError(f"run lengths cover {flat.size} pixels, a {height} x {width} image has {height * width}")
    return flat.reshape(height, width)


def trajectories_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    """Measurement rows as trajectories.csv (the columns and formatting of ``samem track``)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MEASUREMENT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()
