"""Compressed movies (MP4, AVI, MOV, MKV...) decoded with PyAV (FFmpeg)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from samem.errors import InputError
from samem.io.video.base import VideoInfo, VideoReader, first_line

#: A read this many frames or fewer ahead of the decoder decodes forward instead of seeking.
_FORWARD_LIMIT = 32


class MovieReader(VideoReader):
    """The first video stream of a movie file, as luma (gray) frames of 8 or 16 bits.

    Opening decodes the whole stream once: the frame count stored in containers is often 0 or wrong, so frames
    are counted exactly by decoding them (one pass, frames discarded; its cost is that of reading the video once).
    The presentation time stamp of each frame is kept, so :meth:`read` can seek to the key frame before a frame
    and decode forward to it; :meth:`iter_frames` decodes sequentially. The frame interval is the median time stamp
    step, or the stream's average rate. No pixel size is known.
    """

    def __init__(self, path: Path) -> None:
        try:
            self._container = av.open(str(path))
        except Exception as e:
            raise InputError(f"{path.name} is not a readable video file: {first_line(e)}") from e
        try:
            if not self._container.streams.video:
                raise InputError(f"{path.name} contains no video stream")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            codec_format = self._stream.codec_context.format
            deep = codec_format is not None and max(c.bits for c in codec_format.components) > 8
            self._gray = "gray16le" if deep else "gray"
            self._pts = self._count_frames(path)
            if not self._pts:
                raise InputError(f"{path.name} contains no decodable video frames")
            self._index_of = {pts: i for i, pts in enumerate(self._pts) if pts is not None}
            self._decoder: Iterator[av.VideoFrame] | None = None
            self._pending: av.VideoFrame | None = None
            self._next = 0
            self.info = VideoInfo(
                path=path,
                format=f"video ({self._stream.codec_context.name})",
                n_frames=len(self._pts),
                height=self._stream.codec_context.height,
                width=self._stream.codec_context.width,
                dtype=np.dtype(np.uint16 if deep else np.uint8),
                frame_interval_s=self._frame_interval(),
            )
        except BaseException:
            self._container.close()
            raise

    def close(self) -> None:
        """Close the container."""
        self._container.close()

    def _count_frames(self, path: Path) -> list[int | None]:
        try:
            pts = [frame.pts for frame in self._container.decode(self._stream)]
        except Exception as e:
            raise InputError(f"{path.name} is corrupt or truncated: {first_line(e)}") from e
        return pts

    def _frame_interval(self) -> float | None:
        pts = self._pts
        if len(pts) > 1 and all(p is not None for p in pts) and self._stream.time_base:
            step = float(np.median(np.diff(np.asarray(pts, dtype=np.int64))))
            if step > 0:
                return step * float(self._stream.time_base)
        rate = self._stream.average_rate or self._stream.guessed_rate
        return 1.0 / float(rate) if rate else None

    def _read(self, index: int) -> np.ndarray:
        if self._decoder is None or not self._next <= index <= self._next + _FORWARD_LIMIT:
            self._seek(index)
        while True:
            frame = self._decode_next()
            self._next += 1
            if self._next > index:
                return frame.to_ndarray(format=self._gray)

    def _seek(self, index: int) -> None:
        """Position the decoder so that the next decoded frame is ``index`` or an earlier one."""
        target = self._pts[index]
        if target is not None:
            self._container.seek(target, stream=self._stream, backward=True)
            self._decoder = self._container.decode(self._stream)
            frame = self._decode_next()
            if frame.pts is not None and frame.pts <= target and frame.pts in self._index_of:
                self._next = self._index_of[frame.pts]
                self._pending = frame
                return
        self._container.seek(self._pts[0] if self._pts[0] is not None else 0, stream=self._stream, backward=True)
        self._decoder = self._container.decode(self._stream)
        self._next = 0

    def _decode_next(self) -> av.VideoFrame:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        assert self._decoder is not None
        try:
            return next(self._decoder)
        except StopIteration:
            raise InputError(f"{self.info.path.name}: the video ended before frame {self._next}") from None
        except av.FFmpegError as e:
            raise InputError(f"{self.info.path.name}: frame {self._next} cannot be decoded: {first_line(e)}") from e
