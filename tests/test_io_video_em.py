"""Electron-microscopy formats: DM3/DM4, SER, EMD (Velox) and MRC, on minimal files written here.

No library writes DM3/DM4, SER or Velox EMD, so the tests write the smallest files that follow the layouts parsed by
RosettaSciIO's readers (``rsciio/digitalmicrograph``, ``rsciio/tia``, ``rsciio/emd/_emd_velox.py``).
"""

import json
import struct
from pathlib import Path

import h5py
import mrcfile
import numpy as np
import pytest

from samem.errors import InputError
from samem.io.video import open_video

N, H, W = 5, 24, 40


def _frames(dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100.0, 20.0, (N, H, W)).astype(dtype)
    return rng.integers(0, min(np.iinfo(dtype).max, 4000), (N, H, W)).astype(dtype)


# --- Gatan DigitalMicrograph -------------------------------------------------------------------------------------

_DM_ELEMENT = {"uint8": 10, "uint16": 4, "float32": 6}  # tag encoding of the pixel array
_DM_IMAGE_TYPE = {"uint8": 6, "uint16": 10, "float32": 2}  # ImageData.DataType


def write_dm(path: Path, frames: np.ndarray, version: int, scale: float, unit: str, frame_s: float) -> None:
    """A DM3 (version 3) or DM4 file with one image stack, calibrated x/y (``unit``) and z (seconds)."""
    length = ">q" if version == 4 else ">l"

    def enc(*values: int) -> bytes:
        return b"".join(struct.pack(length, v) for v in values)

    def header(tag_id: int, name: str, body: bytes) -> bytes:
        size = struct.pack(">q", len(body)) if version == 4 else b""
        return bytes([tag_id]) + struct.pack(">h", len(name)) + name.encode() + size + body

    def data(name: str, info: list[int], payload: bytes) -> bytes:
        return header(21, name, b"%%%%" + enc(len(info), *info) + payload)

    def group(name: str, *children: bytes) -> bytes:
        return header(20, name, b"\x00\x00" + enc(len(children)) + b"".join(children))

    def number(name: str, value: float) -> bytes:
        return data(name, [6], struct.pack("<f", value))

    def text(name: str, value: str) -> bytes:
        return data(name, [20, 4, len(value)], np.array([ord(c) for c in value], "<u2").tobytes())

    def axis(origin: float, step: float, units: str) -> bytes:
        return group("", number("Origin", origin), number("Scale", step), text("Units", units))

    dtype = frames.dtype.name
    pixels = frames.astype(frames.dtype.newbyteorder("<")).tobytes()
    image = group(
        "",
        group(
            "ImageData",
            group(
                "Calibrations",
                group("Brightness", number("Origin", 0), number("Scale", 1), text("Units", "")),
                group("Dimension", axis(0, scale, unit), axis(0, scale, unit), axis(0, frame_s, "s")),
            ),
            data("Data", [20, _DM_ELEMENT[dtype], frames.size], pixels),
            data("DataType", [3], struct.pack("<l", _DM_IMAGE_TYPE[dtype])),
            group("Dimensions", *(data("", [5], struct.pack("<L", n)) for n in frames.shape[::-1])),
        ),
        group("ImageTags"),
        text("Name", "stack"),
    )
    root = b"\x00\x00" + enc(1) + group("ImageList", image)
    path.write_bytes(struct.pack(">l", version) + enc(len(root)) + struct.pack(">l", 1) + root)


@pytest.mark.parametrize(("version", "dtype"), [(3, "uint16"), (4, "float32"), (4, "uint8")])
def test_dm_stack_round_trips_with_calibration(tmp_path: Path, version: int, dtype: str) -> None:
    frames = _frames(dtype)
    path = tmp_path / f"stack.dm{version}"
    write_dm(path, frames, version, scale=2.5, unit="Å", frame_s=0.04)
    with open_video(path) as video:
        assert (video.info.n_frames, video.info.height, video.info.width) == (N, H, W)
        assert video.info.dtype == np.dtype(dtype)
        assert video.info.px_nm == pytest.approx(0.25)
        assert video.info.frame_interval_s == pytest.approx(0.04)
        for index, frame in video.iter_frames():
            np.testing.assert_array_equal(frame, frames[index])


def test_dm_single_image_in_micrometres(tmp_path: Path) -> None:
    frames = _frames("uint16")[:1]
    path = tmp_path / "one.dm4"
    write_dm(path, frames[0][np.newaxis], 4, scale=0.002, unit="µm", frame_s=1.0)
    with open_video(path) as video:
        assert video.info.n_frames == 1
        assert video.info.px_nm == pytest.approx(2.0)
        np.testing.assert_array_equal(video.read(0), frames[0])


# --- FEI/Thermo TIA SER -------------------------------------------------------------------------------------------

_SER_TYPE = {"uint8": 1, "uint16": 2, "int16": 5, "float32": 7}


def write_ser(path: Path, frames: np.ndarray, px_m: float, frame_s: float) -> None:
    """A 64-bit-offset (version 0x220) SER image series with a time-calibrated series axis."""
    n, height, width = frames.shape
    units, description = b"s", b"Time"
    head = struct.pack("<HHHIIII", 0x4949, 0x0197, 0x0220, 0x4122, 0x4152, n, n)
    dims = struct.pack("<IddII", n, 0.0, frame_s, 0, len(description)) + description
    dims += struct.pack("<I", len(units)) + units
    position = len(head) + struct.calcsize("<QI") + len(dims)
    elements, data_offsets, tag_offsets = [], [], []
    for frame in frames:
        element = struct.pack("<ddIddIHII", 0.0, px_m, 0, 0.0, px_m, 0, _SER_TYPE[frames.dtype.name], width, height)
        element += np.ascontiguousarray(frame[::-1], dtype=frames.dtype.newbyteorder("<")).tobytes()
        data_offsets.append(position)
        elements.append(element)
        position += len(element)
    for index in range(n):
        tag_offsets.append(position)
        elements.append(struct.pack("<HHI", 0x4152, 0, index))
        position += 8
    offsets = struct.pack(f"<{2 * n}Q", *data_offsets, *tag_offsets)
    path.write_bytes(head + struct.pack("<QI", position, 1) + dims + b"".join(elements) + offsets)


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_ser_series_round_trips_and_agrees_with_rosettasciio(tmp_path: Path, dtype: str) -> None:
    from rsciio.tia import file_reader

    frames = _frames(dtype)
    path = tmp_path / "series_1.ser"
    write_ser(path, frames, px_m=0.8e-9, frame_s=0.1)
    with open_video(path) as video:
        assert (video.info.n_frames, video.info.height, video.info.width) == (N, H, W)
        assert video.info.dtype == np.dtype(dtype)
        assert video.info.px_nm == pytest.approx(0.8)
        assert video.info.frame_interval_s == pytest.approx(0.1)
        ours = np.stack([video.read(i) for i in range(N)])
    np.testing.assert_array_equal(ours, frames)
    reference = file_reader(str(path))[0]
    np.testing.assert_array_equal(reference["data"], frames)  # the writer matches an independent reader
    assert reference["axes"][-1]["scale"] == pytest.approx(0.8)


def test_ser_truncated_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.ser"
    write_ser(path, _frames("uint16"), px_m=1e-9, frame_s=0.1)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match="SER"):
        open_video(path)


# --- EMD (Velox) --------------------------------------------------------------------------------------------------


def write_velox(path: Path, frames: np.ndarray, px_m: float, frame_s: float) -> None:
    """A Velox-style EMD: one image stack stored (y, x, frame) with per-frame JSON metadata."""
    metadata = {
        "BinaryResult": {
            "PixelSize": {"width": str(px_m), "height": str(px_m)},
            "PixelUnitX": "m",
            "PixelUnitY": "m",
            "Offset": {"x": "0", "y": "0"},
            "DetectorIndex": "0",
        },
        "Scan": {"FrameTime": str(frame_s)},
        "Detectors": {"Detector-0": {"DetectorName": "BM-Ceta", "ExposureTime": str(frame_s)}},
        "Acquisition": {"AcquisitionStartDatetime": {"DateTime": "1600000000"}},
    }
    text = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("Version", data=np.array([json.dumps({"format": "Velox", "version": "11"}).encode()]))
        image = f.create_group("Data/Image/0123456789abcdef")
        image.create_dataset("Data", data=np.moveaxis(frames, 0, -1), chunks=(*frames.shape[1:], 1))
        block = np.zeros((text.size + 16, frames.shape[0]), dtype=np.uint8)
        block[: text.size, :] = text[:, np.newaxis]
        image.create_dataset("Metadata", data=block)


def test_velox_emd_stack_round_trips_with_calibration(tmp_path: Path) -> None:
    frames = _frames("uint16")
    path = tmp_path / "stack.emd"
    write_velox(path, frames, px_m=0.25e-9, frame_s=0.05)
    with open_video(path) as video:
        assert (video.info.n_frames, video.info.height, video.info.width) == (N, H, W)
        assert video.info.dtype == np.uint16
        assert video.info.px_nm == pytest.approx(0.25)
        assert video.info.frame_interval_s == pytest.approx(0.05)
        np.testing.assert_array_equal(video.read(3), frames[3])
        np.testing.assert_array_equal(np.stack([f for _, f in video.iter_frames()]), frames)
    with h5py.File(path, "a"):  # the reader closed the file: it can be reopened for writing
        pass


def test_ncem_emd_stack_round_trips_with_calibration(tmp_path: Path) -> None:
    from rsciio.emd import file_writer

    frames = _frames("float32")
    axes = [
        {"name": "time", "size": N, "scale": 20.0, "offset": 0.0, "units": "ms", "navigate": True},
        {"name": "y", "size": H, "scale": 1.5, "offset": 0.0, "units": "Å", "navigate": False},
        {"name": "x", "size": W, "scale": 1.5, "offset": 0.0, "units": "Å", "navigate": False},
    ]
    path = tmp_path / "ncem.emd"
    file_writer(
        str(path),
        {"data": frames, "axes": axes, "metadata": {"General": {"title": "s"}, "Signal": {}}, "original_metadata": {}},
    )
    with open_video(path) as video:
        assert (video.info.n_frames, video.info.height, video.info.width) == (N, H, W)
        assert video.info.px_nm == pytest.approx(0.15)
        assert video.info.frame_interval_s == pytest.approx(0.02)
        np.testing.assert_array_equal(video.read(3), frames[3])


def test_emd_without_images_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.emd"
    with h5py.File(path, "w") as f:
        f.create_dataset("junk", data=np.zeros(3))
    with pytest.raises(InputError, match=r"empty\.emd"):
        open_video(path)


# --- MRC ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int16", "float32", "uint16"])
def test_mrc_stack_round_trips_with_voxel_size(tmp_path: Path, dtype: str) -> None:
    frames = _frames(dtype)
    path = tmp_path / "stack.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(frames)
        mrc.voxel_size = 3.0  # Å
    with open_video(path) as video:
        assert (video.info.n_frames, video.info.height, video.info.width) == (N, H, W)
        assert video.info.dtype == np.dtype(dtype)
        assert video.info.px_nm == pytest.approx(0.3)
        assert video.info.frame_interval_s is None
        np.testing.assert_array_equal(video.read(-1), frames[-1])
        np.testing.assert_array_equal(np.stack([f for _, f in video.iter_frames(1, 3)]), frames[1:3])


def test_mrc_single_image_is_one_frame(tmp_path: Path) -> None:
    frame = _frames("float32")[0]
    path = tmp_path / "one.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(frame)
    with open_video(path) as video:
        assert len(video) == 1
        np.testing.assert_array_equal(video.read(0), frame)
