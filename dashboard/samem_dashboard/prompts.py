"""Step 2: scrub the frames, draw a box around each particle on the image, edit ids in a table, add clicks.

The session holds each video's boxes and points (video pixels); the canvas and the tables both edit them. A canvas
is keyed by (video, frame, version): a table edit bumps the version so the canvas redraws from the session, and a
canvas edit bumps the tables' version so they reload. The service receives the prompts when they are saved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from samem.client import Client, ClientError
from samem.service.api import tracking_pb2 as pb

from . import session
from .boxes import (
    BOX_COLUMNS,
    NEGATIVE_COLOR,
    POINT_COLUMNS,
    POSITIVE_COLOR,
    boxes_frame,
    canvas_objects,
    drawing,
    from_messages,
    next_particle,
    points_frame,
    prompt_specs,
    records,
    same,
)  # fmt: skip
from .colors import particle_color
from .errors import describe
from .frames import display_scale, fit, frame_png, service_frame

PROMPTS = "prompts"  # video id -> {"boxes": [...], "points": [...]}
CANVAS_VERSION = "canvas_version"  # video id -> int
TABLE_VERSION = "table_version"  # video id -> int
CANVAS_INIT = "canvas_init"  # canvas key -> the initial drawing it was mounted with
TOOLS = {"Box": "labeled_rect", "Click +": "point", "Click −": "point"}  # −: a click on the background


def blank(width: int, height: int) -> bytes:
    """A dark placeholder frame of the canvas size."""
    return frame_png(np.full((height, width), 40, np.uint8))


def prompts_of(client: Client, video_id: str) -> dict[str, list[dict[str, Any]]]:
    """The session's prompts of a video, loaded from the service the first time."""
    store = session.store(PROMPTS)
    if video_id not in store:
        boxes, points = from_messages(client.list_prompts(video_id))
        store[video_id] = {"boxes": boxes, "points": points}
    return store[video_id]


def save(client: Client, video_id: str) -> int:
    """Send the session's prompts of a video to the service (removing the ones deleted here); return how many."""
    state = prompts_of(client, video_id)
    specs = prompt_specs(state["boxes"], state["points"])
    wanted = {(s.particle, s.frame) for s in specs}
    for old in client.list_prompts(video_id):
        if (old.particle, old.frame) not in wanted:
            client.remove_prompt(video_id, old.particle, old.frame)
    if specs:
        client.set_prompts(video_id, specs)
    return len(specs)


def _bump(name: str, video_id: str) -> None:
    versions = session.store(name)
    versions[video_id] = versions.get(video_id, 0) + 1


def legend(boxes: list[dict[str, Any]]) -> str:
    """HTML chips: each particle id in its colour, with the frames it is prompted on."""
    frames: dict[int, list[int]] = {}
    for b in boxes:
        frames.setdefault(int(b["particle"]), []).append(int(b["frame"]))
    chips = [
        f'<span style="display:inline-block;margin:2px 2px 2px 0;padding:1px 8px;border-radius:10px;'
        f'background:{particle_color(k)};color:#000;font-weight:600">{k}</span>'
        f'<span style="font-size:0.8em;color:#666;margin-right:10px">frame {", ".join(map(str, sorted(f)))}</span>'
        for k, f in sorted(frames.items())
    ]
    title = '<div style="font-size:0.875rem;margin-bottom:0.55rem">Particles</div>'
    return title + ("".join(chips) or '<span style="color:#666">None yet: draw a box on the frame.</span>')


def render(client: Client) -> None:
    """The step's page."""
    video = session.selected_video(client)
    if video is None:
        return
    video_id = video.video_id
    state = prompts_of(client, video_id)
    st.subheader(f"Mark the particles · {video.filename}")
    st.caption("Draw a box around each particle on a frame where it is clearly visible; each box gets the id shown "
               "on the right (the next free one). Scrub to other frames to prompt late arrivals. Edit ids, move or "
               "delete boxes in the table below.")  # fmt: skip
    frame = 0
    if video.n_frames > 1:
        frame = st.slider("Frame", 0, video.n_frames - 1, 0, key=f"frame-{video_id}")
    tool_col, id_col, legend_col = st.columns([2, 1, 2], gap="medium")
    tool = tool_col.radio(
        "Tool", list(TOOLS), key=f"tool-{video_id}", horizontal=True,
        help="Box: drag around a particle. Click +: a point on a particle (it joins the box around it). "
             "Click −: a point on the background next to a particle.",
    )  # fmt: skip
    particle = int(id_col.number_input(
        "Particle id for the next box", min_value=1, max_value=65535, value=next_particle(state["boxes"]), step=1,
        key=f"pid-{video_id}-{session.store(TABLE_VERSION).get(video_id, 0)}",
    ))  # fmt: skip
    with legend_col:
        st.markdown(legend(state["boxes"]), unsafe_allow_html=True)
        if state["points"]:
            st.caption(f"{len(state['points'])} click(s): green on a particle, red on the background.")
    st.markdown('<div style="height: 1.6rem"></div>', unsafe_allow_html=True)  # room for the canvas toolbar
    _canvas(client, video, state, frame, tool, particle)
    _tables(video, state)
    left, right, _ = st.columns([1, 1, 2])
    if left.button("Save prompts", key="save-prompts"):
        st.success(f"Saved {save(client, video_id)} prompt(s) on the service.")
    if right.button("Save and track →", type="primary", key="save-track", disabled=not state["boxes"]):
        count = save(client, video_id)
        session.goto(session.TRACK, f"Saved {count} prompt(s). Start tracking when ready.")


def _canvas(
    client: Client, video: pb.Video, state: dict[str, list[dict]], frame: int, tool: str, particle: int
) -> None:
    from streamlit_drawable_canvas import st_canvas  # registers its component: needs a running app

    scale = display_scale(video.width, video.height, 760, 540)
    width, height = round(video.width * scale), round(video.height * scale)
    try:
        image = frame_png(fit(service_frame(client, video.video_id, frame), height, width))
    except ClientError as e:  # e.g. the file left the storage: boxes can still be typed in
        image = blank(width, height)
        st.warning(f"Frame {frame} cannot be shown: {describe(e)} Boxes can be typed into the table below.")
    here = [b for b in state["boxes"] if b["frame"] == frame]
    clicks = [p for p in state["points"] if p["frame"] == frame]
    version = session.store(CANVAS_VERSION).get(video.video_id, 0)
    key = f"canvas-{video.video_id}-{frame}-{version}"
    initial = session.store(CANVAS_INIT).setdefault(key, drawing(here, clicks, scale))
    mode = TOOLS[tool]
    stroke = particle_color(particle) if mode == "labeled_rect" else (
        NEGATIVE_COLOR if tool == "Click −" else POSITIVE_COLOR)  # fmt: skip
    result = st_canvas(
        fill_color="rgba(0, 0, 0, 0)" if mode == "labeled_rect" else stroke, stroke_width=2, stroke_color=stroke,
        background_image=image, update_streamlit=True, height=height, width=width, drawing_mode=mode,
        initial_drawing=initial, point_display_radius=4, key=key, font_size=13,
        label=str(particle) if mode == "labeled_rect" else "",
    )  # fmt: skip
    boxes, points = canvas_objects(result.json_data, frame=frame, scale=scale, default_particle=particle)
    if same(boxes, here) and same(points, clicks):
        return
    state["boxes"] = [b for b in state["boxes"] if b["frame"] != frame] + boxes
    state["points"] = [p for p in state["points"] if p["frame"] != frame] + points
    _bump(TABLE_VERSION, video.video_id)
    st.rerun()


def _tables(video: pb.Video, state: dict[str, list[dict]]) -> None:
    version = session.store(TABLE_VERSION).get(video.video_id, 0)
    limits = {"n_frames": video.n_frames, "width": video.width, "height": video.height}
    coordinate = st.column_config.NumberColumn(format="%.1f", step=0.1)
    ids = {  # the columns that say which particle and frame a box or click belongs to
        "particle": st.column_config.NumberColumn("particle id", min_value=1, max_value=65535, step=1),
        "frame": st.column_config.NumberColumn(min_value=0, max_value=video.n_frames - 1, step=1),
    }
    boxes_col, points_col = st.columns([3, 2], gap="medium")
    with boxes_col:
        st.markdown("**Boxes** (video pixels; x = column, y = row)")
        edited = st.data_editor(
            boxes_frame(state["boxes"]), key=f"boxes-{video.video_id}-{version}", num_rows="dynamic",
            hide_index=True, width="stretch",
            column_config={**ids, **{c: coordinate for c in ("x0", "y0", "x1", "y1")}},
        )  # fmt: skip
        _take(edited, BOX_COLUMNS, "boxes", video, state, limits)
    with points_col:
        st.markdown("**Clicks** (optional refinements)")
        edited = st.data_editor(
            points_frame(state["points"]), key=f"points-{video.video_id}-{version}", num_rows="dynamic",
            hide_index=True, width="stretch",
            column_config={
                **ids, "x": coordinate, "y": coordinate,
                "positive": st.column_config.CheckboxColumn("on particle", default=True),
            },
        )  # fmt: skip
        _take(edited, POINT_COLUMNS, "points", video, state, limits)


def _take(edited: Any, columns: tuple[str, ...], name: str, video: pb.Video, state: dict, limits: dict) -> None:
    try:
        rows = records(edited, columns, **limits)
    except ValueError as e:
        st.error(f"Not taken: {e}.")
        return
    if same(rows, state[name]):
        return
    state[name] = rows
    _bump(CANVAS_VERSION, video.video_id)
    _bump(TABLE_VERSION, video.video_id)
    st.rerun()
