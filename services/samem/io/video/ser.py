"""FEI/Thermo Fisher TIA series files (.ser) holding a series of 2-D images, read one element at a time.

RosettaSciIO's TIA reader loads every element into memory even when asked to be lazy, so this module parses the
small header itself (layout as in RosettaSciIO's ``rsciio/tia/_api.py`` and Boothroyd's SER description) and reads
each frame at its recorded offset.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from samem.errors import InputError
from samem.io.video.base import VideoInfo, VideoReader, check_pixel_dtype
from samem.io.video.units import length_to_nm, time_to_s

_SER_ID = 0x0197
_IMAGE_SERIES = 0x4122
_SPECTRUM_SERIES = 0x4120
_DTYPES = {1: "<u1", 2: "<u2", 3: "<u4", 4: "<i1", 5: "<i2", 6: "<i4", 7: "<f4", 8: "<f8", 9: "<c8", 10: "<c16"}
#: Per-image header: x and y calibrations (offset f8, delta f8, element u4, each), data type u2, size x, size y u4.
_ELEMENT_HEADER = struct.Struct("<ddIddIHII")


class SerReader(VideoReader):
    """A TIA image series: frames are the series elements, rows flipped to top-down order as TIA stores them upward.

    The pixel size is the x calibration (metres, converted to nm); the frame interval is the series dimension's
    calibration step when its unit is a time unit.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        try:
            self._parse(path)
        except (struct.error, ValueError, KeyError) as e:
            self._file.close()
            raise InputError(f"{path.name} is not a readable SER file (truncated or corrupt header)") from e
        except BaseException:
            self._file.close()
            raise

    def _parse(self, path: Path) -> None:
        f = self._file
        byte_order, series_id, version, data_type_id, _tag_type, _total, n_valid = _unpack(f, "<HHHIIII")
        if byte_order != 0x4949 or series_id != _SER_ID:
            raise InputError(f"{path.name} is not a TIA SER file (bad signature)")
        if data_type_id == _SPECTRUM_SERIES:
            raise InputError(f"{path.name} holds a series of spectra, not images")
        if data_type_id != _IMAGE_SERIES:
            raise InputError(f"{path.name} has unknown SER data type {data_type_id:#x}")
        wide = version > 0x0210
        offset_array, n_dims = _unpack(f, "<QI" if wide else "<II")
        dims = [_read_dimension(f) for _ in range(n_dims)]
        if n_dims > 1 and sum(d[0] > 1 for d in dims) > 1:
            sizes = " x ".join(str(d[0]) for d in dims)
            raise InputError(f"{path.name}: cannot interpret a {sizes} grid of images as one video")
        if n_valid == 0:
            raise InputError(f"{path.name} contains no frames")
        f.seek(offset_array)
        offsets = np.fromfile(f, dtype="<u8" if wide else "<u4", count=n_valid)
        if offsets.size != n_valid:
            raise ValueError("offset array truncated")
        self._offsets = offsets.astype(np.int64)
        calibration_x, dtype, width, height = self._element_header(0)
        frame_dim = next((d for d in dims if d[0] > 1), None)
        self.info = VideoInfo(
            path=path,
            format="SER",
            n_frames=int(n_valid),
            height=height,
            width=width,
            dtype=check_pixel_dtype(dtype, path).newbyteorder("="),
            px_nm=length_to_nm(calibration_x, "m"),
            frame_interval_s=None if frame_dim is None else time_to_s(frame_dim[1], frame_dim[2]),
        )

    def _element_header(self, index: int) -> tuple[float, np.dtype, int, int]:
        self._file.seek(int(self._offsets[index]))
        values = _unpack(self._file, _ELEMENT_HEADER.format)
        return values[1], np.dtype(_DTYPES[values[6]]), int(values[7]), int(values[8])

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def _read(self, index: int) -> np.ndarray:
        try:
            _, dtype, width, height = self._element_header(index)
        except (struct.error, KeyError) as e:
            raise InputError(f"{self.info.path.name}: frame {index} has a corrupt element header") from e
        if (height, width) != (self.info.height, self.info.width) or dtype.newbyteorder("=") != self.info.dtype:
            raise InputError(f"{self.info.path.name}: frame {index} is {height} x {width} {dtype}, unlike frame 0")
        pixels = np.fromfile(self._file, dtype=dtype, count=width * height)
        if pixels.size != width * height:
            raise InputError(f"{self.info.path.name}: frame {index} is truncated")
        return pixels.reshape(height, width)[::-1].astype(self.info.dtype)


def _unpack(f: BinaryIO, fmt: str) -> tuple:
    layout = struct.Struct(fmt)
    return layout.unpack(f.read(layout.size))


def _read_dimension(f: BinaryIO) -> tuple[int, float, str]:
    """(size, calibration delta, units) of one series dimension."""
    size, _offset, delta, _element, description_length = _unpack(f, "<IddII")
    f.seek(description_length, 1)
    (units_length,) = _unpack(f, "<I")
    units = f.read(units_length).decode("latin-1")
    return size, delta, units
