"""The sidebar: sign-in with a token, the user's videos to pick from, and the selected video's jobs with status."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from samem.client import Client
from samem.service.api import tracking_pb2 as pb

from . import session
from .errors import shown_errors

STATE_NAMES = {
    pb.QUEUED: "queued", pb.RUNNING: "running", pb.SUCCEEDED: "done", pb.FAILED: "failed", pb.CANCELLED: "cancelled",
}  # fmt: skip
KIND_NAMES = {pb.PROPAGATION: "tracking", pb.ANALYSIS: "statistics"}


def video_label(video: pb.Video) -> str:
    """How a video is named in lists: file name, size in frames and pixels, and a short id."""
    return f"{video.filename} · {video.n_frames} fr · {video.width}×{video.height} · {video.video_id[-6:]}"


def job_rows(jobs: list[pb.Job]) -> pd.DataFrame:
    """Jobs as a table, newest first: what (started when), model, state, progress."""
    rows = []
    for job in sorted(jobs, key=lambda j: j.created_unix, reverse=True):
        done = job.frames_done / job.frames_total if job.kind == pb.PROPAGATION and job.frames_total else None
        rows.append({
            "job": f"{dt.datetime.fromtimestamp(job.created_unix).strftime('%H:%M')} {KIND_NAMES.get(job.kind, '?')}",
            "model": job.model or "–", "state": STATE_NAMES.get(job.state, "?"),
            "progress": done if job.state != pb.SUCCEEDED else 1.0,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["job", "model", "state", "progress"])


def render() -> Client | None:
    """Draw the sidebar; return the signed-in client (None until sign-in)."""
    cfg = session.config()
    with st.sidebar:
        st.markdown("## :material/biotech: samem")
        st.caption(f"LPTEM particle tracking · service `{cfg.address}`")
        client = session.client()
        if client is None:
            _sign_in_form(cfg.token)
            return None
        head, out = st.columns([3, 2], vertical_alignment="center")
        head.markdown("**Signed in**")
        if out.button("Sign out", width="stretch"):
            session.sign_out()
            st.rerun()
        with shown_errors(cfg.address):
            _videos(client)
        return client


def _sign_in_form(prefill: str) -> None:
    with st.form("sign-in"):
        st.markdown("**Sign in**")
        token = st.text_input("Access token", value=prefill, type="password",
                              help="The token the facility gave you (or SAMEM_TOKEN).")  # fmt: skip
        submitted = st.form_submit_button("Sign in", type="primary", width="stretch")
    if submitted:
        if not token.strip():
            st.error("Enter your access token first.")
            return
        with shown_errors(session.config().address):
            session.sign_in(token)
            st.rerun()


def _videos(client: Client) -> None:
    videos = sorted(client.list_videos(), key=lambda v: v.created_unix, reverse=True)
    st.markdown("**Your videos**")
    if not videos:
        st.caption("No videos yet: upload one in step 1.")
        session.select_video(None)
        return
    ids = [v.video_id for v in videos]
    current = session.video_id()
    if current not in ids:
        current = None
    by_id = {v.video_id: v for v in videos}
    chosen = st.radio(
        "Your videos", ids, index=ids.index(current) if current else None, format_func=lambda i: video_label(by_id[i]),
        label_visibility="collapsed", key=f"video-pick-{current}",
    )  # fmt: skip
    if chosen != current:
        session.select_video(chosen)
        st.rerun()
    if current is None:
        return
    if st.button("↻ Refresh", width="stretch"):
        st.rerun()
    jobs = client.list_jobs(current)
    st.markdown("**Jobs of this video**")
    if jobs:
        st.dataframe(
            job_rows(jobs), hide_index=True, width="stretch",
            column_config={
                "job": st.column_config.TextColumn(width="small"),
                "model": st.column_config.TextColumn(width="small"),
                "state": st.column_config.TextColumn(width="small"),
                "progress": st.column_config.ProgressColumn("done", min_value=0.0, max_value=1.0, width="small"),
            },
        )  # fmt: skip
    else:
        st.caption("None yet.")
