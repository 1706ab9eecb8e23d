"""MRC / MRCS image stacks, memory-mapped with mrcfile."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np

from samem.errors import InputError
from samem.io.video.base import VideoInfo, VideoReader, check_pixel_dtype, first_line
from samem.io.video.units import length_to_nm


class MrcReader(VideoReader):
    """An MRC image (one frame) or image stack / volume (frames along z), memory-mapped.

    The pixel size is the header's x voxel size (Ångström, converted to nm); MRC records no frame interval.
    """

    def __init__(self, path: Path) -> None:
        try:
            self._mrc = mrcfile.mmap(path, mode="r")
            data = self._mrc.data
        except Exception as e:
            raise InputError(f"{path.name} is not a readable MRC file: {first_line(e)}") from e
        try:
            if data is None or data.ndim not in (2, 3):
                shape = None if data is None else data.shape
                raise InputError(f"{path.name}: cannot interpret MRC data of shape {shape} as frames x height x width")
            self._data = data if data.ndim == 3 else data[np.newaxis]
            with np.errstate(divide="ignore", invalid="ignore"):  # an empty stack has zero depth
                voxel = self._mrc.voxel_size
            self.info = VideoInfo(
                path=path,
                format="MRC",
                n_frames=self._data.shape[0],
                height=self._data.shape[1],
                width=self._data.shape[2],
                dtype=check_pixel_dtype(data.dtype.newbyteorder("="), path),
                px_nm=length_to_nm(float(voxel.x), "Å"),
            )
        except BaseException:
            self._mrc.close()
            raise

    def close(self) -> None:
        """Close the memory map."""
        self._data = None
        self._mrc.close()

    def _read(self, index: int) -> np.ndarray:
        return np.array(self._data[index], dtype=self.info.dtype)
