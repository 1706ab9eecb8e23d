"""Step 1: bring a video in, by the client's streamed upload or as a path on the shared storage.

The calibration is prefilled from the file's metadata; the selected video is shown and can be deleted.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from samem.client import Client
from samem.io.video import SUPPORTED_EXTENSIONS
from samem.service.api import tracking_pb2 as pb

from . import session
from .errors import shown_errors
from .uploads import Calibration, FileCache, calibration, probe

UPLOADED = "uploaded_files"  # file_id of the browser upload -> local path of its copy


def render(client: Client) -> None:
    """The step's page."""
    st.subheader("Bring in a video")
    address = session.config().address
    upload, shared = st.columns(2, gap="large")
    with upload, st.container(border=True), shown_errors(address):  # a bad file spoils only its own column
        _upload(client)
    with shared, st.container(border=True), shown_errors(address):
        _register(client)
    selected = session.video_id()
    if selected:
        _details(client, client.get_video(selected))


def _calibration_inputs(found: Calibration, key: str, *, probed: bool = True) -> tuple[float, float]:
    left, right = st.columns(2)
    px_nm = left.number_input(
        "Pixel size (nm)", min_value=0.0, value=float(found.px_nm or 0.0), format="%.4f", key=f"{key}-px",
        help="From the file's metadata when it records it; 0 = unknown (statistics will ask for it).",
    )  # fmt: skip
    fps = right.number_input(
        "Frame rate (frames/s)", min_value=0.0, value=float(found.fps or 0.0), format="%.3f", key=f"{key}-fps",
        help="From the file's frame time when it records it; 0 = unknown.",
    )  # fmt: skip
    if not probed:
        st.caption("0 takes the calibration recorded in the file.")
        return px_nm, fps
    said = [name for name, value in (("pixel size", found.px_nm), ("frame rate", found.fps)) if value]
    missing = [name for name, value in (("pixel size", found.px_nm), ("frame rate", found.fps)) if not value]
    st.caption(
        (f"From the file: {' and '.join(said)}. " if said else "")
        + (f"Not in the file: {' and '.join(missing)}; enter {'it' if len(missing) == 1 else 'them'} if known."
           if missing else "Edit if the file is wrong.")
    )  # fmt: skip
    return px_nm, fps


def _upload(client: Client) -> None:
    st.markdown("**Upload a file**")
    st.caption("TIFF stacks, MP4/AVI/MOV/MKV, Gatan DM3/DM4, TIA SER, EMD (Velox, NCEM), MRC.")
    file = st.file_uploader("Video file", type=[e.lstrip(".") for e in SUPPORTED_EXTENSIONS], key="upload-file")
    if file is None:
        return
    copies = session.store(UPLOADED)
    cache = FileCache(session.config().cache_dir)
    path = copies.get(file.file_id)
    if path is None:
        path = cache.store(file.name, file.getvalue())
        copies[file.file_id] = path
    try:
        info = probe(path)
    except Exception:
        cache.discard(path)
        copies.pop(file.file_id, None)
        raise
    st.caption(f"{info.format} · {info.n_frames} frames · {info.width} × {info.height} px · {info.dtype}")
    px_nm, fps = _calibration_inputs(calibration(info), f"up-{file.file_id}")
    if st.button("Upload to the service", type="primary", key="upload-go"):
        with st.spinner(f"Uploading {file.name} …"):
            video = client.upload_video(path, px_nm=px_nm, fps=fps)
        session.select_video(video.video_id)
        session.goto(session.PARTICLES, f"Uploaded {video.filename}: {video.n_frames} frames. Now mark the particles.")


def _register(client: Client) -> None:
    st.markdown("**Use a file on the shared storage**")
    st.caption("For large recordings already on the facility storage: give the path relative to its root.")
    path = st.text_input("Path on the shared storage", placeholder="2026-11/sample3/movie.dm4", key="register-path")
    px_nm, fps = _calibration_inputs(Calibration(px_nm=None, fps=None), "register", probed=False)
    if st.button("Register", type="primary", key="register-go", disabled=not path.strip()):
        with st.spinner("Opening the file on the storage …"):
            video = client.register_video(path.strip(), px_nm=px_nm, fps=fps)
        session.select_video(video.video_id)
        session.goto(session.PARTICLES, f"Registered {video.filename}: {video.n_frames} frames.")


def _details(client: Client, video: pb.Video) -> None:
    st.subheader(f"Selected: {video.filename}")
    cols = st.columns(5)
    cols[0].metric("Frames", f"{video.n_frames}")
    cols[1].metric("Size (px)", f"{video.width} × {video.height}")
    cols[2].metric("Pixel size", f"{video.px_nm:.4g} nm" if video.px_nm else "unknown")
    cols[3].metric("Frame rate", f"{video.fps:.4g} /s" if video.fps else "unknown")
    cols[4].metric("Format", video.format or "?")
    created = dt.datetime.fromtimestamp(video.created_unix).strftime("%Y-%m-%d %H:%M")
    st.caption(f"id `{video.video_id}` · {video.size_bytes / 1e6:.1f} MB · added {created} · SHA-256 "
               f"`{video.sha256[:12]}…`")  # fmt: skip
    go, delete = st.columns([1, 1])
    if go.button("Mark particles →", type="primary"):
        session.goto(session.PARTICLES)
    with delete.popover("Delete this video"):
        st.write("Deletes the video with its prompts, jobs and results on the service.")
        if st.button("Yes, delete", type="primary", key="delete-yes"):
            client.delete_video(video.video_id)
            session.select_video(None)
            session.goto(session.VIDEO, f"Deleted {video.filename}.")
