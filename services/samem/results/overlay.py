"""The overlay preview: the video with each particle's mask outline, id and recent trail, as MP4 or GIF."""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from samem.errors import InputError

# Colour-blind-safe palette (Okabe-Ito) extended by a few distinct tones; particle k uses PALETTE[k % len].
PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
    (255, 255, 255),
    (148, 103, 189),
    (23, 190, 207),
)
TRAIL_FRAMES = 30
FORMATS = {".mp4": ("libx264", "yuv420p"), ".gif": ("gif", "rgb8")}


def colour_of(particle: int) -> tuple[int, int, int]:
    """The overlay colour of a particle id."""
    return PALETTE[particle % len(PALETTE)]


OUTLINE_FOOTPRINT = ndimage.generate_binary_structure(2, 1)
OUTLINE_FOOTPRINT = ndimage.iterate_structure(OUTLINE_FOOTPRINT, 2)  # pixels within 2 steps of 4-connectivity


def outline(labels: np.ndarray) -> np.ndarray:
    """The pixels of each labelled region within 2 pixels of its border (other labels and the image edge count).

    For every label at once what ``region & ~binary_erosion(region, iterations=2)`` gives per region: a pixel is on
    the outline unless every pixel within 2 steps (4-connectivity) carries its label.
    """
    high = ndimage.maximum_filter(labels, footprint=OUTLINE_FOOTPRINT, mode="constant", cval=0)
    low = ndimage.minimum_filter(labels, footprint=OUTLINE_FOOTPRINT, mode="constant", cval=0)
    return (labels > 0) & (high != low)


class OverlayWriter:
    """Append frames with their label image; the file is complete after :meth:`close`.

    Frames are normalised grayscale in [0, 1] at input resolution; the preview is scaled so its longest side is at
    most ``max_side`` pixels (even dimensions for MP4). Each frame is encoded as it comes: memory does not grow
    with the video length.
    """

    def __init__(self, path: str | os.PathLike[str], *, fps: float, height: int, width: int, max_side: int = 768):
        self.path = Path(path)
        try:
            codec, self._pix_fmt = FORMATS[self.path.suffix.lower()]
        except KeyError:
            raise InputError(f"overlay must be .mp4 or .gif, got {self.path.name!r}") from None
        scale = min(1.0, max_side / max(height, width))
        self.scale = scale
        self.size = (max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2))
        import av  # PyAV (FFmpeg) loads only when a preview is written

        self._container = av.open(str(self.path), mode="w")
        self._video_frame = av.VideoFrame.from_ndarray
        self._stream = self._container.add_stream(codec, rate=max(1, round(fps)))
        self._stream.width, self._stream.height = self.size
        self._stream.pix_fmt = self._pix_fmt
        self._trails: dict[int, deque[tuple[float, float]]] = {}
        self._font = ImageFont.load_default(size=max(10, round(14 * max(self.size) / 512)))

    def append(self, frame: np.ndarray, labels: np.ndarray) -> None:
        """Draw one frame: outlines from ``labels`` (uint16, 0 = background), ids and trails of the centroids."""
        gray = (np.clip(frame, 0.0, 1.0) * 255).astype(np.uint8)
        rgb = Image.fromarray(gray).convert("RGB").resize(self.size, Image.Resampling.BILINEAR)
        small_labels = np.asarray(
            Image.fromarray(labels.astype(np.int32)).resize(self.size, Image.Resampling.NEAREST)
        )
        pixels = np.asarray(rgb).copy()
        ids = [int(i) for i in np.flatnonzero(np.bincount(small_labels.ravel())) if i]
        edge = outline(small_labels)
        pixels[edge] = np.asarray(PALETTE, np.uint8)[small_labels[edge] % len(PALETTE)]
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        centroids = ndimage.center_of_mass(labels > 0, labels, ids) if ids else []
        seen: set[int] = set()
        for particle, (row, col) in zip(ids, centroids, strict=True):
            seen.add(particle)
            point = ((col + 0.5) * self.size[0] / labels.shape[1], (row + 0.5) * self.size[1] / labels.shape[0])
            trail = self._trails.setdefault(particle, deque(maxlen=TRAIL_FRAMES))
            trail.append(point)
        for particle in [p for p in self._trails if p not in seen]:
            del self._trails[particle]  # a lost particle's trail restarts when it is found again
        for particle, trail in self._trails.items():
            if len(trail) > 1:
                draw.line(list(trail), fill=colour_of(particle), width=2)
            x, y = trail[-1]
            draw.text(
                (x + 8, y - 8), str(particle), fill=colour_of(particle), font=self._font, stroke_width=2,
                stroke_fill=(0, 0, 0), anchor="lb",
            )
        video_frame = self._video_frame(np.asarray(image), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
