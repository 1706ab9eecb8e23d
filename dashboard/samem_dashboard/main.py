"""The page frame: title, sidebar, the four steps, each page inside the error boundary."""

from __future__ import annotations

import streamlit as st

from . import jobs, prompts, results, session, sidebar, videos
from .errors import shown_errors

PAGES = {session.VIDEO: videos.render, session.PARTICLES: prompts.render, session.TRACK: jobs.render,
         session.RESULTS: results.render}  # fmt: skip
STYLE = """
<style>
  [data-testid="stSidebar"] { min-width: 360px; }
  div[data-testid="stMetricValue"] { font-size: 1.4rem; }
  .block-container { padding-top: 2.2rem; }
</style>
"""


def welcome() -> None:
    """What the app does, before sign-in."""
    st.title(":material/biotech: samem")
    st.subheader("Particle tracking for liquid-cell TEM", divider="gray")
    st.markdown(
        "Segment and track nanoparticles in your liquid-phase TEM videos, then get their trajectories, diffusion "
        "coefficients and motion statistics.\n\n"
        "1. **Video**: upload a recording (TIFF, MP4/AVI, DM3/DM4, SER, EMD, MRC) or pick one on the shared "
        "storage.\n"
        "2. **Particles**: draw a box around each particle on a frame.\n"
        "3. **Track**: follow every particle through the video, with live progress.\n"
        "4. **Results**: masks, trajectories, MSD, displacement distributions, statistics and downloads.\n\n"
        "**Sign in with your access token in the sidebar to start.**"
    )


def main() -> None:
    """One run of the app."""
    st.set_page_config(
        page_title="samem · LPTEM particle tracking", page_icon="🔬", layout="wide",
        initial_sidebar_state="expanded",
        menu_items={"About": "samem: segmenting and tracking nanoparticles in liquid-phase TEM videos (SAM-EM)."},
    )  # fmt: skip
    st.set_option("client.showErrorDetails", "none")  # a safety net: errors are shown as sentences already
    st.set_option("client.toolbarMode", "viewer")  # no developer menu for facility users
    st.markdown(STYLE, unsafe_allow_html=True)
    try:
        cfg = session.config()
    except Exception as e:
        from .errors import describe

        st.error(f"The dashboard is misconfigured: {describe(e)}")
        return
    client = sidebar.render()
    if client is None:
        welcome()
        return
    session.apply_goto()
    step = st.radio("Step", session.STEPS, horizontal=True, key=session.STEP, label_visibility="collapsed")
    session.show_flash()
    with shown_errors(cfg.address):
        PAGES[step](client)
