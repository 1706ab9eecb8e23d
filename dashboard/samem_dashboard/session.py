"""Per-browser-session state: the signed-in client, the selected video, the current step, and what belongs to them.

Every ``st.session_state`` key the dashboard uses is named here, so pages share one vocabulary.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from samem.client import Client
from samem.service.api import tracking_pb2 as pb

from .config import DashboardConfig

STEPS = ("1 · Video", "2 · Particles", "3 · Track", "4 · Results")
VIDEO, PARTICLES, TRACK, RESULTS = STEPS

CLIENT = "client"  # a samem.client.Client once signed in
USER_TOKEN = "token"  # the token the client was made with
VIDEO_ID = "video_id"  # the selected video
STEP = "step"  # the step radio's value
GOTO = "_goto"  # a step to switch to on the next run (widgets cannot be changed after they are drawn)
FLASH = "_flash"  # a success message to show once, after a rerun


def config() -> DashboardConfig:
    """The deployment's settings (read once per session)."""
    if "config" not in st.session_state:
        st.session_state["config"] = DashboardConfig.from_env()
    return st.session_state["config"]


def client() -> Client | None:
    """The signed-in client, or None."""
    return st.session_state.get(CLIENT)


def sign_in(token: str) -> Client:
    """Connect with ``token`` and check it with one call; keep the client only if the service accepts it."""
    cfg = config()
    candidate = Client(cfg.address, token=token.strip(), timeout_s=cfg.timeout_s, tls=cfg.tls, root_ca=cfg.tls_ca)
    try:
        candidate.list_videos()
    except BaseException:
        candidate.close()
        raise
    sign_out()
    st.session_state[CLIENT] = candidate
    st.session_state[USER_TOKEN] = token.strip()
    return candidate


def sign_out() -> None:
    """Close the connection and forget everything of the session except its settings."""
    old = st.session_state.get(CLIENT)
    if old is not None:
        old.close()
    for key in list(st.session_state.keys()):
        if key != "config":
            del st.session_state[key]


def store(name: str) -> dict[Any, Any]:
    """A named dict in the session (created empty), e.g. prompts per video or analysis jobs per job."""
    return st.session_state.setdefault(name, {})


def video_id() -> str | None:
    """The selected video's id."""
    return st.session_state.get(VIDEO_ID)


def selected_video(client: Client) -> pb.Video | None:
    """The selected video's record, or None (with a hint to pick one) when none is selected."""
    selected = video_id()
    if not selected:
        st.info("Pick a video in the sidebar, or bring one in at step 1.")
        return None
    return client.get_video(selected)


def select_video(video: str | None) -> None:
    """Select a video (its step pages follow it)."""
    st.session_state[VIDEO_ID] = video


def goto(step: str, message: str | None = None) -> None:
    """Switch to ``step`` on the next run (with a one-off success ``message``) and rerun now."""
    st.session_state[GOTO] = step
    if message:
        st.session_state[FLASH] = message
    st.rerun()


def apply_goto() -> None:
    """Before the step selector is drawn: take a pending step switch."""
    if GOTO in st.session_state:
        st.session_state[STEP] = st.session_state.pop(GOTO)


def show_flash() -> None:
    """Show the pending success message once."""
    message = st.session_state.pop(FLASH, None)
    if message:
        st.success(message, icon=":material/check_circle:")
