"""Gatan DigitalMicrograph (DM3/DM4) and EMD (Velox, NCEM) files, read lazily through RosettaSciIO."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from samem.errors import InputError
from samem.io.video.base import VideoInfo, VideoReader, check_pixel_dtype, first_line
from samem.io.video.units import length_to_nm, time_to_s


class RsciioReader(VideoReader):
    """The first image or image stack in a file that RosettaSciIO reads as (frames, y, x) or (y, x).

    The data are a dask array over the file (memory map for DM, HDF5 chunks for EMD); :meth:`read` computes one
    frame. Pixel size comes from the x axis calibration, the frame interval from a time-calibrated frame axis.
    """

    def __init__(self, path: Path, format_name: str, file_reader: Callable[..., list[dict[str, Any]]]) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # notes on missing optional metadata
                signals = file_reader(str(path), lazy=True)
        except Exception as e:
            raise InputError(f"{path.name} is not a readable {format_name} file: {first_line(e)}") from e
        self._hdf5_files = _hdf5_files(signals)
        try:
            signal = _pick_image_signal(signals, path)
            data = signal["data"]
            self._data = data if data.ndim == 3 else data[np.newaxis]
            axes = _ordered_axes(signal.get("axes", []), data.ndim)
            frame_axis = axes[0] if data.ndim == 3 else {}
            self.info = VideoInfo(
                path=path,
                format=format_name,
                n_frames=int(self._data.shape[0]),
                height=int(self._data.shape[1]),
                width=int(self._data.shape[2]),
                dtype=check_pixel_dtype(data.dtype, path),
                px_nm=length_to_nm(axes[-1].get("scale"), axes[-1].get("units")),
                frame_interval_s=time_to_s(frame_axis.get("scale"), frame_axis.get("units")),
            )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the HDF5 file RosettaSciIO left open for lazy reading (DM memory maps close with the array)."""
        self._data = None
        for file in self._hdf5_files:
            file.close()
        self._hdf5_files = []

    def _read(self, index: int) -> np.ndarray:
        try:
            return np.asarray(self._data[index].compute())
        except Exception as e:
            raise InputError(f"{self.info.path.name}: frame {index} is unreadable: {first_line(e)}") from e


def _hdf5_files(signals: Sequence[Mapping[str, Any]]) -> list[h5py.File]:
    """The open HDF5 files behind the signals' dask arrays (``from_array`` keeps the dataset in the graph)."""
    files: dict[h5py.h5f.FileID, h5py.File] = {}
    for signal in signals:
        graph = getattr(signal.get("data"), "__dask_graph__", None)
        for node in dict(graph()).values() if graph is not None else ():
            if isinstance(node, h5py.Dataset | h5py.Group) and node.id.valid:
                files.setdefault(node.file.id, node.file)
    return list(files.values())


def _pick_image_signal(signals: Sequence[Mapping[str, Any]], path: Path) -> Mapping[str, Any]:
    """The first 2-D signal, or 3-D one that is not a spectrum image (one signal axis, or energy last)."""
    found = []
    for signal in signals:
        data = signal.get("data")
        if data is None:
            continue
        axes = signal.get("axes", [])
        signal_dims = sum(1 for a in axes if not a.get("navigate", False))
        found.append(tuple(data.shape))
        last_unit = str(axes[-1].get("units", "")) if axes else ""
        if data.ndim == 2 or (data.ndim == 3 and signal_dims != 1 and last_unit not in ("eV", "keV")):
            return signal
    raise InputError(
        f"{path.name}: found no image or image stack (frames x height x width) among datasets of shape(s)"
        f" {', '.join(map(str, found)) or 'none'}"
    )


def _ordered_axes(axes: Sequence[Mapping[str, Any]], ndim: int) -> list[Mapping[str, Any]]:
    """Axes dictionaries in array order (by ``index_in_array`` where given), padded with empty ones."""
    ordered = sorted(axes, key=lambda a: a.get("index_in_array", axes.index(a)))
    return [*ordered, *([{}] * (ndim - len(ordered)))][:ndim]
