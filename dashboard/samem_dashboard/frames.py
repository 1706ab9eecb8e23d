"""Frames to look at: fetched from the service (``Videos.GetFrame``), kept for a few views, and the mask overlay.

The service reads the video where it lies (an upload or a file registered on its storage), stretches the contrast
and sends an 8-bit PNG, scaled down to at most :data:`MAX_SIZE` px; the dashboard never reads the storage itself.
"""

from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from samem.client import Client
from samem.measure import mask_box

from .colors import particle_rgb

MAX_SIZE = 1024  # longest side fetched: more than the page shows
FRAMES = "frames"  # (video id, frame) -> uint8 image, the most recently viewed frames of this session
FRAMES_KEPT = 32


def png_gray(data: bytes) -> np.ndarray:
    """An 8-bit greyscale PNG as a uint8 array (H, W)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("L"))


def service_frame(client: Client, video_id: str, frame: int) -> np.ndarray:
    """Frame ``frame`` of the video for display (uint8, contrast-stretched by the service), kept per session.

    Kept in this session only (not across users): the service checks each user's access to the video.
    """
    recent: OrderedDict[tuple[str, int], np.ndarray] = st.session_state.setdefault(FRAMES, OrderedDict())
    key = (video_id, int(frame))
    if key not in recent:
        recent[key] = png_gray(client.get_frame(video_id, int(frame), max_size=MAX_SIZE).png)
        while len(recent) > FRAMES_KEPT:
            recent.popitem(last=False)
    recent.move_to_end(key)
    return recent[key]


def fit(gray: np.ndarray, height: int, width: int) -> np.ndarray:
    """``gray`` resized to ``height`` x ``width`` (nearest neighbour when enlarging, to keep pixels visible)."""
    if gray.shape == (height, width):
        return gray
    enlarging = width > gray.shape[1] or height > gray.shape[0]
    resample = Image.Resampling.NEAREST if enlarging else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(gray).resize((width, height), resample))


def display_scale(width: int, height: int, max_width: int = 760, max_height: int = 600) -> float:
    """Zoom for showing a frame: fill ``max_width`` (small frames are enlarged) without exceeding ``max_height``."""
    return min(max_width / width, max_height / height)


def frame_png(gray: np.ndarray, scale: float = 1.0) -> bytes:
    """A uint8 frame as PNG bytes, resized by ``scale`` (nearest neighbour when enlarging, to keep pixels visible)."""
    image = Image.fromarray(gray)
    if scale != 1.0:
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        image = image.resize(size, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def overlay(gray: np.ndarray | None, labels: np.ndarray, scale: float = 1.0, alpha: float = 0.45) -> Image.Image:
    """The frame with each particle's mask tinted in its colour, outlined, and labelled with its id.

    ``gray`` is the uint8 frame (None: a black background when the frame itself is not available here); ``labels``
    the label image of the same shape (0 = background, k = particle k).
    """
    if gray is None:
        gray = np.zeros(labels.shape, np.uint8)
    if gray.shape != labels.shape:
        raise ValueError(f"frame {gray.shape} and masks {labels.shape} differ in shape")
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float64)
    ids = [int(k) for k in np.unique(labels) if k]
    edges = _edges(labels)
    for k in ids:
        inside = labels == k
        color = np.array(particle_rgb(k), np.float64)
        rgb[inside] = (1 - alpha) * rgb[inside] + alpha * color
        rgb[inside & edges] = color
    image = Image.fromarray(np.rint(rgb).astype(np.uint8))
    if scale != 1.0:
        size = (max(1, round(labels.shape[1] * scale)), max(1, round(labels.shape[0] * scale)))
        image = image.resize(size, Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    font = _font(max(12, round(14 * max(1.0, scale) ** 0.3)))
    for k in ids:
        _, y0, x1, _ = mask_box(labels == k)
        text = str(k)
        width = draw.textlength(text, font=font) + 6
        x = min((x1 + 0.5) * scale + 3, image.width - width)  # beside the mask, inside the image
        y = max(2.0, (y0 + 0.5) * scale - 4)
        box = draw.textbbox((x, y), text, font=font)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=particle_rgb(k))
        draw.text((x, y), text, fill=(0, 0, 0), font=font)
    return image


def _edges(labels: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another label (mask outlines)."""
    edge = np.zeros(labels.shape, bool)
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    return edge & (labels > 0)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def image_png(image: Image.Image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
