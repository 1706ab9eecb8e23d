"""A folder of single-image files (PNG, JPEG, TIFF, BMP), one frame each, in natural order."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from samem.errors import InputError
from samem.io.video.base import VideoInfo, VideoReader, check_pixel_dtype, first_line

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_TIFF = (".tif", ".tiff")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value: ``frame2`` before ``frame10``, case-insensitively."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


class FolderReader(VideoReader):
    """Frames stored as separate image files in one folder (hidden files and other extensions ignored).

    All images must share height and width; only the file headers are read when opening, and one file per frame
    when reading. Colour images are reduced to luminance. No pixel size or frame interval is known.
    """

    def __init__(self, path: Path) -> None:
        files = [f for f in path.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith(".")]
        if not files:
            raise InputError(f"folder {str(path)!r} contains no images (looked for {', '.join(IMAGE_EXTENSIONS)})")
        self.files = sorted(files, key=lambda f: natural_key(f.name))
        shapes = {f: _image_shape(f) for f in self.files}
        first = self.files[0]
        for f, shape in shapes.items():
            if shape != shapes[first]:
                raise InputError(
                    f"folder {path.name!r} holds images of different sizes: {first.name} is"
                    f" {shapes[first][1]} x {shapes[first][0]} px, {f.name} is {shape[1]} x {shape[0]} px"
                )
        frame = _load(first)
        self.info = VideoInfo(
            path=path,
            format="image folder",
            n_frames=len(self.files),
            height=shapes[first][0],
            width=shapes[first][1],
            dtype=check_pixel_dtype(frame.dtype, first),
        )

    def _read(self, index: int) -> np.ndarray:
        frame = _load(self.files[index])
        if frame.dtype != self.info.dtype:
            raise InputError(
                f"folder {self.info.path.name!r}: {self.files[index].name} has {frame.dtype} pixels,"
                f" {self.files[0].name} has {self.info.dtype}; all frames must share one pixel type"
            )
        return frame


def _image_shape(file: Path) -> tuple[int, int]:
    """(height, width) from the file header."""
    try:
        if file.suffix.lower() in _TIFF:
            with tifffile.TiffFile(file) as tif:
                page = tif.pages.first
                return int(page.imagelength), int(page.imagewidth)
        with Image.open(file) as im:
            return im.height, im.width
    except Exception as e:
        raise InputError(f"{file.name} is not a readable image: {first_line(e)}") from e


def _load(file: Path) -> np.ndarray:
    """The first image of ``file`` in its native dtype (palette and 1-bit images become 8-bit)."""
    try:
        if file.suffix.lower() in _TIFF:
            return tifffile.imread(file, key=0)
        with Image.open(file) as im:
            if im.mode in ("P", "PA"):
                im = im.convert("RGBA" if im.mode == "PA" or "transparency" in im.info else "RGB")
            elif im.mode in ("1", "LA"):
                im = im.convert("L")
            array = np.asarray(im)
            if im.mode.startswith("I;16") or (im.mode == "I" and im.format == "PNG"):  # 16-bit PNG
                array = array.astype(np.uint16)
            return array
    except Exception as e:
        raise InputError(f"{file.name} is not a readable image: {first_line(e)}") from e
