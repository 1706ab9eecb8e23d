"""Frames to look at: local copies of video files, contrast for display, and the mask overlay.

The service answers with masks, not frames, so the dashboard keeps a local copy of each file it uploads (keyed by
SHA-256, which the service reports for every video) and, when the shared storage is mounted here, reads videos
registered by path from it. Frames are read with :mod:`samem.io.video`, the engine's own readers.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from samem.io.video import VideoInfo, open_video
from samem.measure import mask_box

from .colors import particle_rgb


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """Pixel size (nm) and frame rate (1/s) from a file's metadata; ``None`` where the file does not say."""

    px_nm: float | None
    fps: float | None


def calibration(info: VideoInfo) -> Calibration:
    """The calibration a reader found in the file."""
    fps = 1.0 / info.frame_interval_s if info.frame_interval_s else None
    return Calibration(px_nm=info.px_nm or None, fps=fps)


def probe(path: Path) -> VideoInfo:
    """Open a video just to read its size and metadata (raises :class:`samem.errors.InputError` if unreadable)."""
    with open_video(path) as reader:
        return reader.info


class FileCache:
    """Local copies of uploaded video files: ``<root>/<sha256>/<file name>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def store(self, name: str, data: bytes) -> Path:
        """Keep ``data`` under its SHA-256 with its file name (the suffix picks the reader); return the path."""
        digest = hashlib.sha256(data).hexdigest()
        folder = self.root / digest
        target = folder / Path(name).name
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{target.name}.partial"
            partial.write_bytes(data)
            partial.replace(target)
        return target

    def find(self, sha256: str) -> Path | None:
        """The local copy of a file with this SHA-256, if the dashboard has one."""
        folder = self.root / sha256
        if not sha256 or not folder.is_dir():
            return None
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        return files[0] if files else None

    def discard(self, path: Path) -> None:
        """Forget a local copy (when its upload failed or its video was deleted)."""
        if path.parent.parent == self.root:
            shutil.rmtree(path.parent, ignore_errors=True)


def read_frame(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a video file as stored (2-D, native dtype)."""
    with open_video(path) as reader:
        return reader.read(int(index))


def to_uint8(frame: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> np.ndarray:
    """Contrast-stretch a frame to 0-255 between two percentiles (a flat frame becomes mid-grey)."""
    data = np.asarray(frame, dtype=np.float64)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.full(data.shape, 128, np.uint8)
    low, high = np.percentile(finite, [low_pct, high_pct])
    if high <= low:
        return np.full(data.shape, 128, np.uint8)
    scaled = np.clip((np.nan_to_num(data, nan=low) - low) / (high - low), 0.0, 1.0)
    return np.rint(scaled * 255).astype(np.uint8)


def display_scale(width: int, height: int, max_width: int = 760, max_height: int = 600) -> float:
    """Zoom for showing a frame: fill ``max_width`` (small frames are enlarged) without exceeding ``max_height``."""
    return min(max_width / width, max_height / height)


def frame_png(gray: np.ndarray, scale: float = 1.0) -> bytes:
    """A uint8 frame as PNG bytes, resized by ``scale`` (nearest neighbour when enlarging, to keep pixels visible)."""
    image = Image.fromarray(gray)
    if scale != 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        image = image.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def overlay(gray: np.ndarray | None, labels: np.ndarray, scale: float = 1.0, alpha: float = 0.45) -> Image.Image:
    """The frame with each particle's mask tinted in its colour, outlined, and labelled with its id.

    ``gray`` is the uint8 frame (None: a black background when the frame itself is not available here); ``labels``
    the label image of the same shape (0 = background, k = particle k).
    """
    if gray is None:
        gray = np.zeros(labels.shape, np.uint8)
    if gray.shape != labels.shape:
        raise ValueError(f"frame {gray.shape} and masks {labels.shape} differ in shape")
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float64)
    ids = [int(k) for k in np.unique(labels) if k]
    edges = _edges(labels)
    for k in ids:
        inside = labels == k
        color = np.array(particle_rgb(k), np.float64)
        rgb[inside] = (1 - alpha) * rgb[inside] + alpha * color
        rgb[inside & edges] = color
    image = Image.fromarray(np.rint(rgb).astype(np.uint8))
    if scale != 1.0:
        size = (max(1, round(labels.shape[1] * scale)), max(1, round(labels.shape[0] * scale)))
        image = image.resize(size, Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    font = _font(max(12, round(14 * max(1.0, scale) ** 0.3)))
    for k in ids:
        _, y0, x1, _ = mask_box(labels == k)
        text = str(k)
        width = draw.textlength(text, font=font) + 6
        x = min((x1 + 0.5) * scale + 3, image.width - width)  # beside the mask, inside the image
        y = max(2.0, (y0 + 0.5) * scale - 4)
        box = draw.textbbox((x, y), text, font=font)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=particle_rgb(k))
        draw.text((x, y), text, fill=(0, 0, 0), font=font)
    return image


def _edges(labels: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another label (mask outlines)."""
    edge = np.zeros(labels.shape, bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & (labels > 0)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def image_png(image: Image.Image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
