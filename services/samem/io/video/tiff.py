"""Multi-page TIFF stacks (including ImageJ hyperstacks) read page by page with tifffile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from samem.errors import InputError
from samem.io.video.base import VideoInfo, VideoReader, check_pixel_dtype, first_line
from samem.io.video.units import length_to_nm, positive_or_none, time_to_s

_SPATIAL = ("Y", "X")
#: tifffile's resolution unit code for centimetres (inches are usually a meaningless 72 dpi and are ignored).
_RESUNIT_CENTIMETER = 3


class TiffReader(VideoReader):
    """A TIFF whose first series is one frame (YX, YXS) or a stack with one frame axis (T, Z, I, Q...).

    Frames are read one page at a time, so memory does not grow with the number of frames. Pixel size and frame
    interval come from ImageJ metadata (``unit``, XResolution, ``finterval``/``fps``) or, failing that, a
    centimetre resolution unit.
    """

    def __init__(self, path: Path) -> None:
        try:
            self._tif = tifffile.TiffFile(path)
            series = self._tif.series[0]
            shape, axes = tuple(series.shape), str(series.axes)
        except Exception as e:
            raise InputError(f"{path.name} is not a readable TIFF file: {first_line(e)}") from e
        try:
            self._series = series
            imagej_mode = (self._tif.imagej_metadata or {}).get("mode", "")
            # A plain ImageJ stack may come out as channels; only a composite or colour one really has channels.
            plain_stack = self._tif.is_imagej and imagej_mode not in ("composite", "color")
            n_frames, height, width, self._colour = _interpret(shape, axes, path, channels_are_frames=plain_stack)
            self._planar = "S" in axes and axes.index("S") < axes.index("Y")
            if n_frames > 1 and len(series.pages) != n_frames:
                raise InputError(
                    f"{path.name}: cannot read the {axes} stack of shape {shape} page by page"
                    f" ({len(series.pages)} pages for {n_frames} frames)"
                )
            self.info = VideoInfo(
                path=path,
                format="TIFF",
                n_frames=n_frames,
                height=height,
                width=width,
                dtype=check_pixel_dtype(series.dtype, path),
                **_calibration(self._tif),
            )
        except BaseException:
            self._tif.close()
            raise

    def close(self) -> None:
        """Close the TIFF file."""
        self._tif.close()

    def _read(self, index: int) -> np.ndarray:
        try:
            page = self._series.asarray(key=index) if self.info.n_frames > 1 else self._series.asarray()
        except Exception as e:
            raise InputError(f"{self.info.path.name}: frame {index} is unreadable: {first_line(e)}") from e
        height, width = self.info.height, self.info.width
        if not self._colour:
            return page.reshape(height, width)
        if self._planar:
            return np.moveaxis(page.reshape(self._colour, height, width), 0, -1)
        return page.reshape(height, width, self._colour)


def _interpret(
    shape: tuple[int, ...], axes: str, path: Path, *, channels_are_frames: bool
) -> tuple[int, int, int, int]:
    """Return (n_frames, height, width, colour samples or 0) for a series, or raise for what is not a video."""
    sizes = dict(zip(axes, shape, strict=True))
    if not all(a in sizes for a in _SPATIAL):
        raise InputError(f"{path.name}: cannot interpret a TIFF series with axes {axes} and shape {shape}")
    others = {a: n for a, n in sizes.items() if a not in (*_SPATIAL, "S") and n > 1}
    colour = sizes.get("S", 1)
    if colour not in (1, 3, 4) or ("C" in others and not channels_are_frames) or len(others) > 1:
        raise InputError(
            f"{path.name}: cannot interpret a TIFF stack with axes {axes} and shape {shape} as one grayscale"
            " or RGB video (expected frames x height x width, optionally with 3 or 4 colour samples)"
        )
    n_frames = next(iter(others.values()), 1)
    return n_frames, sizes["Y"], sizes["X"], colour if colour > 1 else 0


def _calibration(tif: tifffile.TiffFile) -> dict[str, float | None]:
    page = tif.pages.first
    resolution = page.tags.get("XResolution")
    px_per_unit = None
    if resolution is not None:
        num, den = resolution.value
        px_per_unit = num / den if den else None
    px_nm = frame_s = None
    imagej = tif.imagej_metadata or {}
    if imagej:
        if px_per_unit:
            px_nm = length_to_nm(1.0 / px_per_unit, _imagej_unit(imagej.get("unit", "")))
        time_unit = imagej.get("tunit", "s")
        frame_s = time_to_s(imagej.get("finterval"), time_unit)
        fps = positive_or_none(imagej.get("fps"))
        if frame_s is None and fps:
            frame_s = 1.0 / fps
    elif px_per_unit and page.tags.valueof("ResolutionUnit") == _RESUNIT_CENTIMETER:
        px_nm = length_to_nm(1e4 / px_per_unit, "um")
    return {"px_nm": px_nm, "frame_interval_s": frame_s}


def _imagej_unit(unit: object) -> str:
    text = str(unit)
    return "um" if text.replace("\\u00B5", "µ") in ("µm", "micron") else text
