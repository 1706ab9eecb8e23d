"""Step 4: review a finished tracking job, with statistics computed by the service's analysis jobs.

Masks over the frames, trajectories, MSD, displacement distributions, velocity autocorrelation, the statistics
table, and downloads.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
import tifffile

from samem.analysis.positions import Gaps
from samem.client import Client, ClientError
from samem.errors import SamemError
from samem.service.api import tracking_pb2 as pb

from . import jobs, plots, session
from .colors import particle_color
from .errors import shown_errors
from .frames import display_scale, fit, image_png, overlay, service_frame

ANALYSES = "analyses"  # propagation job id -> {"job": analysis job id, "settings": (px_nm, fps, exposure)}
FETCHED = "fetched"  # (kind, job id) -> bytes or decoded results, fetched once per session
MASKS = "masks"  # (job id, frame) -> label image, the most recently viewed frames
MASKS_KEPT = 16
PLOT_NAMES = ("trajectories.png", "msd.png", "vanhove.png", "vacf.png", "diffusion.png")


def _fetched(key: tuple[Any, ...], fetch: Any) -> Any:
    cache = session.store(FETCHED)
    if key not in cache:
        cache[key] = fetch()
    return cache[key]


def trajectories(client: Client, job_id: str) -> tuple[bytes, pd.DataFrame]:
    """trajectories.csv of a finished job, as bytes and as a table."""
    data = _fetched(("csv", job_id), lambda: client.trajectories_csv(job_id))
    return data, pd.read_csv(io.BytesIO(data))


def frame_masks(client: Client, job_id: str, frame: int) -> np.ndarray | None:
    """The label image of one frame (None when the job has none for it); the last few are kept in the session."""
    recent: OrderedDict[tuple[str, int], np.ndarray | None] = st.session_state.setdefault(MASKS, OrderedDict())
    key = (job_id, frame)
    if key not in recent:
        recent[key] = client.masks(job_id, frame, frame + 1).get(frame)
        while len(recent) > MASKS_KEPT:
            recent.popitem(last=False)
    recent.move_to_end(key)
    return recent[key]


def masks_tif(client: Client, job_id: str, video: pb.Video) -> bytes:
    """masks.tif: the T x H x W uint16 label stack (frames without results are 0), zlib-compressed."""
    stack = np.zeros((video.n_frames, video.height, video.width), np.uint16)
    for frame, labels in client.masks(job_id).items():
        stack[frame] = labels
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, stack, compression="zlib", metadata={"axes": "TYX"})
    return buffer.getvalue()


def analysis_zip(files: dict[str, bytes], stats_json: str) -> bytes:
    """Every analysis output in one zip file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("stats.json", stats_json)
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
    return buffer.getvalue()


def render(client: Client) -> None:
    """The step's page."""
    video = session.selected_video(client)
    if video is None:
        return
    video_id = video.video_id
    done = sorted(
        (j for j in client.list_jobs(video_id) if j.kind == pb.PROPAGATION and j.state == pb.SUCCEEDED),
        key=lambda j: j.created_unix, reverse=True,
    )  # fmt: skip
    st.subheader(f"Results · {video.filename}")
    if not done:
        st.info("No finished tracking job for this video yet: start one in step 3.")
        return
    ids = [j.job_id for j in done]
    preferred = session.store(jobs.ACTIVE).get(video_id)
    job_id = st.selectbox(
        "Tracking job", ids, index=ids.index(preferred) if preferred in ids else 0,
        format_func=lambda i: _job_label(next(j for j in done if j.job_id == i)),
    )  # fmt: skip
    csv, table = trajectories(client, job_id)
    present = table["present"].astype(str).str.lower().isin(("true", "1")) if "present" in table else None
    cols = st.columns(4)
    cols[0].metric("Particles", table["particle"].nunique())
    cols[1].metric("Frames", table["frame"].nunique())
    cols[2].metric("Present", f"{100 * present.mean():.0f} %" if present is not None and len(table) else "–")
    cols[3].metric("Mean mask score", f"{table['mask_score'].mean():.2f}" if "mask_score" in table else "–")
    masks_tab, traj_tab, msd_tab, vh_tab, vacf_tab, stats_tab, files_tab = st.tabs(
        ["Masks", "Trajectories", "MSD", "Displacements", "Velocity autocorrelation", "Statistics", "Downloads"]
    )
    with masks_tab:
        frame = _masks(client, job_id, video, table)
        confidence_slot = st.container()  # drawn once the statistics' gate is known
    table_slot = stats_tab.container()
    analysis = None
    with stats_tab, shown_errors(session.config().address):  # a failed analysis spoils only the statistics
        analysis = _analysis(client, job_id, video, stats_tab)
    if analysis is None:
        for tab in (traj_tab, msd_tab, vh_tab, vacf_tab):
            tab.info("Statistics need the pixel size and frame rate: set them in the Statistics tab.")
    else:
        stats, files = analysis
        px_nm, fps = stats["parameters"]["px_nm"], stats["parameters"]["fps"]
        traj_tab.plotly_chart(plots.trajectories_figure(table, px_nm=px_nm, fps=fps), key="fig-traj")
        msd_tab.plotly_chart(plots.msd_figure(_csv(files, "msd.csv"), stats), key="fig-msd")
        vh_tab.plotly_chart(plots.vanhove_figure(_csv(files, "vanhove.csv"), stats), key="fig-vh")
        vacf_tab.plotly_chart(plots.vacf_figure(_csv(files, "vacf.csv")), key="fig-vacf")
        with table_slot:
            particles = _csv(files, "particles.csv")
            st.dataframe(plots.stats_table(particles, stats), hide_index=True, width="stretch")
            st.plotly_chart(plots.diffusion_figure(particles, stats), key="fig-diffusion")
            drift = stats.get("drift", {})
            st.caption(
                f"{stats.get('n_particles', 0)} particle(s) analysed (at least "
                f"{stats['parameters'].get('min_length', '?')} frames each){_gaps_text(stats.get('gaps'))} · drift "
                f"{_fmt(drift.get('velocity_x_nm_s'))}, {_fmt(drift.get('velocity_y_nm_s'))} nm/s (x, y) · errors: "
                "per particle from each estimator's variance, ensemble by bootstrap over particles."
            )  # fmt: skip
            show_notes(stats)
    if "predicted_iou" in table:
        gate = (analysis[0].get("gaps") or {}).get("min_iou") if analysis is not None else None
        confidence_slot.plotly_chart(plots.confidence_figure(table, min_iou=gate, frame=frame), key="fig-confidence")
    with files_tab:
        _downloads(client, job_id, video, csv, analysis)


def show_notes(stats: dict[str, Any]) -> None:
    """The analysis's warnings (e.g. a failed check of the CVE's assumptions), one warning box each."""
    for note in stats.get("notes", []):
        st.warning(f"Analysis note: {note}.")


def _gaps_text(gaps: dict[str, Any] | None) -> str:
    """What the statistics left out as gaps (stats.json ``gaps``), as a clause of the caption."""
    parts = Gaps(**gaps).left_out() if gaps else []
    return f" · positions left out as gaps: {', '.join(parts)}" if parts else ""


def _job_label(job: pb.Job) -> str:
    started = dt.datetime.fromtimestamp(job.created_unix).strftime("%Y-%m-%d %H:%M")
    model = f" · model {job.model}" if job.model else ""
    return f"{started} · {job.frames_done} frames{model} · {job.job_id}"


def _gray(client: Client, video: pb.Video, frame: int) -> np.ndarray | None:
    """The frame under the masks at the video's size, or None (masks on black) when the service cannot show it."""
    try:
        return fit(service_frame(client, video.video_id, frame), video.height, video.width)
    except ClientError:
        return None


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{float(value):.3g}"


def _csv(files: dict[str, bytes], name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(files[name]))


def _masks(client: Client, job_id: str, video: pb.Video, table: pd.DataFrame) -> int:
    """The chosen frame's masks over the image and its rows; returns the frame."""
    frame = 0
    if video.n_frames > 1:
        frame = st.slider("Frame", 0, video.n_frames - 1, 0, key=f"result-frame-{job_id}")
    labels = frame_masks(client, job_id, frame)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        if labels is None:
            st.info(f"No masks for frame {frame} (tracking started later).")
        else:
            gray = _gray(client, video, frame)
            scale = display_scale(video.width, video.height, 720, 540)
            st.image(image_png(overlay(gray, labels, scale)), caption=f"frame {frame}" + (
                "" if gray is not None else " (masks only: the service cannot show this frame)"))  # fmt: skip
    with right:
        rows = table[table["frame"] == frame]
        names = {"particle": "id", "present": "present", "x": "x", "y": "y", "area_px": "area", "mask_score": "score",
                 "predicted_iou": "IoU est.", "at_edge": "at edge"}  # fmt: skip
        shown = rows[[c for c in names if c in rows]].rename(columns=names)
        st.markdown(f"**Frame {frame}** (pixels)")
        st.dataframe(
            shown.style.apply(lambda r: [f"background-color: {particle_color(int(r['id']))}55" for _ in r], axis=1)
            .format({"x": "{:.1f}", "y": "{:.1f}", "area": "{:.0f}", "score": "{:.2f}", "IoU est.": "{:.2f}"}),
            hide_index=True, width="stretch",
        )  # fmt: skip
    return frame


def _analysis(client: Client, job_id: str, video: pb.Video, tab: Any) -> tuple[dict, dict[str, bytes]] | None:
    entry = session.store(ANALYSES).get(job_id)
    title = "Settings: pixel size, frame rate, exposure, frame edge, doubtful and resized masks"
    calibrated = video.px_nm > 0 and video.fps > 0
    with tab, st.expander(title, expanded=entry is None and not calibrated), st.form(f"analysis-{job_id}"):
        cols = st.columns(3)
        default = entry["settings"] if entry else (video.px_nm, video.fps, 1.0, False, 0.0, None)
        px_nm = cols[0].number_input("Pixel size (nm)", min_value=0.0, value=float(default[0]), format="%.4f")
        fps = cols[1].number_input("Frame rate (frames/s)", min_value=0.0, value=float(default[1]), format="%.3f")
        exposure = cols[2].number_input(
            "Exposure fraction", min_value=0.0, max_value=1.0, value=float(default[2]), step=0.1,
            help="Fraction of each frame interval the camera integrates (1 for TEM movie mode); corrects the "
                 "localisation error for motion blur.",
        )  # fmt: skip
        keep_edge = st.checkbox(
            "Keep particles cut by the frame edge", value=bool(default[3]), key=f"keep-edge-{job_id}",
            help="By default positions whose mask touches the frame edge are gaps: the particle is partly outside "
                 "the field of view, so its centre is biased inward.",
        )  # fmt: skip
        min_iou = st.number_input(
            "Minimum predicted IoU", min_value=0.0, max_value=1.0, value=float(default[4]), step=0.1,
            key=f"min-iou-{job_id}",
            help="Positions whose mask the model itself doubts (its predicted IoU is below this) are gaps: masks "
                 "that slid onto a neighbour or stayed behind a particle that left. 0 keeps them all; 0.6 brought D "
                 "from 4.2 to 1.9 times the truth (median) on crowded, fast simulated videos (README).",
        )  # fmt: skip
        max_area_change = st.number_input(
            "Maximum area change (×)", min_value=1.05, value=default[5], step=0.5, key=f"max-area-{job_id}",
            placeholder="off",
            help="Positions whose mask area differs from the particle's first (its prompted mask) by more than this "
                 "factor either way are gaps: masks that shrank onto part of a fast particle, slid onto a neighbour of "
                 "another size or stayed behind as a sliver. Empty: off (particles that grow, dissolve or merge change "
                 "size). 2 brought D from 4.2 to 0.71 times the truth (median) on crowded, fast simulated videos while "
                 "keeping 96 % of the good positions (README).",
        )  # fmt: skip
        again = st.form_submit_button(  # keyed: the label changes once statistics exist, the button must not
            "Recompute statistics" if entry else "Compute statistics", key=f"analyse-{job_id}"
        )
    settings = (px_nm, fps, exposure, keep_edge, min_iou, max_area_change)
    if entry is None and not again and not calibrated:
        tab.info("Enter the pixel size and frame rate, then compute the statistics.")
        return None
    if entry is None or (again and settings != entry["settings"]):
        if not (px_nm > 0 and fps > 0):
            tab.error("The pixel size and the frame rate must both be above 0.")
            return None
        started = client.start_analysis(job_id, px_nm=px_nm, fps=fps, exposure_fraction=exposure,
                                        keep_edge=keep_edge, min_iou=min_iou or None,
                                        max_area_change=max_area_change)  # fmt: skip
        entry = {"job": started.job_id, "settings": settings}
        session.store(ANALYSES)[job_id] = entry
    analysis_id = entry["job"]

    def fetch() -> tuple[dict, dict[str, bytes]]:
        with st.spinner("Computing statistics on the service …"):
            final = client.wait(analysis_id, timeout_s=300)
        if final.state != pb.SUCCEEDED:
            session.store(ANALYSES).pop(job_id, None)
            raise SamemError(f"the statistics job ended {pb.JobState.Name(final.state)}: {final.error}")
        result = client.analysis(analysis_id)
        return json.loads(result.stats_json), {f.name: f.content for f in result.files}

    return _fetched(("analysis", analysis_id), fetch)


def _download(column: Any, label: str, data: bytes | str, file_name: str, mime: str) -> None:
    column.download_button(label, data, file_name=file_name, mime=mime, icon=":material/download:",
                           key=f"dl-{label}", width="stretch")  # fmt: skip


def _downloads(client: Client, job_id: str, video: pb.Video, csv: bytes, analysis: Any) -> None:
    stem = video.filename.rsplit(".", 1)[0]
    st.markdown("**Tracking**")
    cols = st.columns(3)
    _download(cols[0], "trajectories.csv", csv, f"{stem}_trajectories.csv", "text/csv")
    tif_key = ("masks.tif", job_id)
    if tif_key in session.store(FETCHED):
        _download(cols[1], "masks.tif", session.store(FETCHED)[tif_key], f"{stem}_masks.tif", "image/tiff")
    elif cols[1].button("Prepare masks.tif", key="prep-masks", width="stretch"):
        with st.spinner("Collecting the masks of every frame …"):
            _fetched(tif_key, lambda: masks_tif(client, job_id, video))
        st.rerun()
    if analysis is None:
        st.caption("Statistics files appear once the statistics are computed.")
        return
    stats, files = analysis
    stats_json = json.dumps(stats, indent=2)
    st.markdown("**Statistics and plots**")
    cols = st.columns(3)
    _download(cols[0], "report.html", files["report.html"], f"{stem}_report.html", "text/html")
    _download(cols[1], "stats.json", stats_json, f"{stem}_stats.json", "application/json")
    _download(cols[2], "all statistics (zip)", analysis_zip(files, stats_json), f"{stem}_analysis.zip",
              "application/zip")  # fmt: skip
    cols = st.columns(len(PLOT_NAMES))
    for col, name in zip(cols, PLOT_NAMES, strict=True):
        if name in files:
            _download(col, name, files[name], f"{stem}_{name}", "image/png")
