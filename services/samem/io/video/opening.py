"""Choosing a reader from a path: by folder or file extension."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from samem.errors import InputError
from samem.io.video.base import VideoReader
from samem.io.video.folder import FolderReader
from samem.io.video.mrc import MrcReader
from samem.io.video.ser import SerReader
from samem.io.video.tiff import TiffReader


def _movie(path: Path) -> VideoReader:
    from samem.io.video.movie import MovieReader  # PyAV (FFmpeg) loads only for movies

    return MovieReader(path)


def _dm(path: Path) -> VideoReader:
    from rsciio.digitalmicrograph import file_reader

    from samem.io.video.rsciio_formats import RsciioReader

    return RsciioReader(path, "DigitalMicrograph", file_reader)


def _emd(path: Path) -> VideoReader:
    from rsciio.emd import file_reader

    from samem.io.video.rsciio_formats import RsciioReader

    return RsciioReader(path, "EMD", file_reader)


_READERS: dict[str, Callable[[Path], VideoReader]] = {
    ".tif": TiffReader,
    ".tiff": TiffReader,
    ".mp4": _movie,
    ".avi": _movie,
    ".mov": _movie,
    ".mkv": _movie,
    ".dm3": _dm,
    ".dm4": _dm,
    ".ser": SerReader,
    ".emd": _emd,
    ".mrc": MrcReader,
    ".mrcs": MrcReader,
}

#: File extensions :func:`open_video` accepts (a folder of images is accepted too).
SUPPORTED_EXTENSIONS = tuple(_READERS)


def open_video(path: str | os.PathLike[str]) -> VideoReader:
    """Open a video file or a folder of frame images for lazy reading; use the result as a context manager.

    Supported: multi-page TIFF, MP4/AVI/MOV/MKV, Gatan DM3/DM4, TIA SER, EMD (Velox and NCEM), MRC/MRCS, and
    folders of PNG/JPEG/TIFF/BMP frames. Raises :class:`~samem.errors.InputError` with a one-line message for a
    missing, unsupported, unreadable or empty input.
    """
    source = Path(path)
    if source.is_dir():
        reader: VideoReader = FolderReader(source)
    elif not source.exists():
        raise InputError(f"video {str(source)!r} does not exist")
    else:
        opener = _READERS.get(source.suffix.lower())
        if opener is None:
            raise InputError(
                f"unsupported video format {source.suffix or '(no extension)'!r} for {source.name};"
                f" supported are {', '.join(SUPPORTED_EXTENSIONS)} and folders of images"
            )
        if source.stat().st_size == 0:
            raise InputError(f"video file {str(source)!r} is empty")
        reader = opener(source)
    info = reader.info
    if info.n_frames < 1 or info.height < 1 or info.width < 1:
        reader.close()
        raise InputError(f"{source.name} contains no frames ({info.n_frames} x {info.height} x {info.width})")
    return reader
