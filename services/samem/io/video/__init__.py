"""Reading microscopy videos frame by frame, and preparing frames for a model.

``open_video(path)`` returns a :class:`VideoReader` for TIFF stacks, image folders, MP4/AVI, DM3/DM4, SER, EMD
and MRC; :class:`IntensityNormalizer` and :class:`FrameGeometry` turn its frames into model input.
"""

from samem.io.video.array import ArrayVideo
from samem.io.video.base import VideoInfo, VideoReader, to_gray
from samem.io.video.folder import IMAGE_EXTENSIONS, natural_key
from samem.io.video.geometry import FrameGeometry, ResizeMode
from samem.io.video.normalize import IntensityNormalizer
from samem.io.video.opening import SUPPORTED_EXTENSIONS, open_video

__all__ = [
    "IMAGE_EXTENSIONS",
    "SUPPORTED_EXTENSIONS",
    "ArrayVideo",
    "FrameGeometry",
    "IntensityNormalizer",
    "ResizeMode",
    "VideoInfo",
    "VideoReader",
    "natural_key",
    "open_video",
    "to_gray",
]
