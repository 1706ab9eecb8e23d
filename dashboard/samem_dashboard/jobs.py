"""Step 3: pick a model, start tracking the prompted particles, watch the live progress (WatchJob), cancel.

The models are the service's catalogue (``ListModels``), its default preselected; the chosen one goes with the job.

The stream is read on a helper thread that hands events to the page through a queue, so the page keeps
refreshing (and Streamlit can stop it when the user clicks Cancel) even while no event arrives.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import streamlit as st

from samem.client import Client
from samem.service.api import tracking_pb2 as pb

from . import prompts, session

ACTIVE = "active_job"  # video id -> the propagation job started or watched here
SHOWN = "results_shown"  # job ids whose results page was opened once on completion
FINAL = (pb.SUCCEEDED, pb.FAILED, pb.CANCELLED)
TICK_S = 0.25


def model_label(model: pb.Model) -> str:
    """How a model is named in the picker: its name, the default marked, and what it is."""
    return f"{model.name}{' (default)' if model.is_default else ''} · {model.description}"


def choose_model(client: Client) -> str:
    """A select box of the offered models, the default preselected; the chosen name."""
    models = client.list_models()
    names = [m.name for m in models]
    default = next((i for i, m in enumerate(models) if m.is_default), 0)
    by_name = {m.name: m for m in models}
    chosen = st.selectbox(
        "Model", names, index=default, key="track-model", format_func=lambda n: model_label(by_name[n]),
        help="The models this facility offers. The default suits most videos; others may be fine-tuned for "
             "particular samples.",
    )  # fmt: skip
    model = by_name[chosen]
    if model.checkpoint_sha256:
        st.caption(f"Checkpoint SHA-256 `{model.checkpoint_sha256[:16]}…`")
    return chosen


def progress_text(job: pb.Job, elapsed_s: float) -> str:
    """One line of progress: state, frames and a rate."""
    state = pb.JobState.Name(job.state).lower()
    if job.state == pb.QUEUED:
        return f"Queued, waiting for a worker … ({elapsed_s:.0f} s)"
    rate = f" · {job.frames_done / elapsed_s:.1f} frames/s" if job.frames_done and elapsed_s > 0 else ""
    resumed = f" · resumed {job.resumes}×" if job.resumes else ""
    model = f" · model {job.model}" if job.model else ""
    return f"{state.capitalize()}: frame {job.frames_done} of {job.frames_total}{rate}{model}{resumed}"


def _watch(client: Client, job_id: str, events: queue.Queue[Any], stop: threading.Event) -> None:
    try:
        for event in client.watch(job_id):
            if event.HasField("job"):
                events.put(event.job)
            if stop.is_set():
                return
    except Exception as e:  # handed to the page, which shows it
        events.put(e)
    finally:
        events.put(None)


def watch(client: Client, job: pb.Job) -> pb.Job:
    """Show a live progress bar until the job ends; return its final record."""
    bar = st.progress(job.frames_done / max(job.frames_total, 1), text=progress_text(job, 0.0))
    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=_watch, args=(client, job.job_id, events, stop), daemon=True).start()
    started = time.monotonic() - max(0.0, time.time() - job.created_unix)
    try:
        while True:
            try:
                item = events.get(timeout=TICK_S)
            except queue.Empty:
                bar.progress(job.frames_done / max(job.frames_total, 1), text=progress_text(job, _since(started)))
                continue
            if item is None:
                return client.get_job(job.job_id)
            if isinstance(item, Exception):
                raise item
            job = item
            bar.progress(job.frames_done / max(job.frames_total, 1), text=progress_text(job, _since(started)))
            if job.state in FINAL:
                return job
    finally:
        stop.set()


def _since(started: float) -> float:
    return time.monotonic() - started


def render(client: Client) -> None:
    """The step's page."""
    video = session.selected_video(client)
    if video is None:
        return
    video_id = video.video_id
    state = prompts.prompts_of(client, video_id)
    st.subheader(f"Track · {video.filename}")
    particles = sorted({b["particle"] for b in state["boxes"]} | {p["particle"] for p in state["points"]})
    first = min([b["frame"] for b in state["boxes"]] + [p["frame"] for p in state["points"]], default=0)
    cols = st.columns(3)
    cols[0].metric("Particles", len(particles))
    cols[1].metric("Frames to track", max(video.n_frames - first, 0))
    cols[2].metric("From frame", first)
    model = choose_model(client)
    active = session.store(ACTIVE)
    job_id = active.get(video_id) or _unfinished(client, video_id)
    job = client.get_job(job_id) if job_id else None
    running = job is not None and job.state not in FINAL
    start, cancel, _ = st.columns([1, 1, 5])
    if start.button("Start tracking", type="primary", disabled=running or not particles, key="start-track"):
        prompts.save(client, video_id)
        job = client.start_propagation(video_id, model=model)
        active[video_id] = job.job_id
        running = True
    if not particles:
        st.info("No particles marked yet: draw boxes in step 2.")
    if job is None:
        return
    if cancel.button("Cancel", disabled=not running, key="cancel-track"):
        job = client.cancel(job.job_id)
        running = job.state not in FINAL
    if running:
        job = watch(client, job)
    _outcome(job)


def _unfinished(client: Client, video_id: str) -> str | None:
    """The newest queued or running tracking job of the video (started elsewhere or in an earlier session)."""
    jobs = [j for j in client.list_jobs(video_id) if j.kind == pb.PROPAGATION and j.state not in FINAL]
    return max(jobs, key=lambda j: j.created_unix).job_id if jobs else None


def _outcome(job: pb.Job) -> None:
    if job.state == pb.SUCCEEDED:
        st.progress(1.0, text=f"Done: {job.frames_done} frames tracked with model {job.model}.")
        if st.button("See the results →", type="primary", key="to-results"):
            session.goto(session.RESULTS)
        if job.job_id not in session.store(SHOWN):
            session.store(SHOWN)[job.job_id] = True
            session.goto(session.RESULTS, f"Tracking finished: {job.frames_done} frames.")
    elif job.state == pb.CANCELLED:
        st.warning(f"Tracking was cancelled after {job.frames_done} of {job.frames_total} frames.",
                   icon=":material/stop_circle:")  # fmt: skip
    elif job.state == pb.FAILED:
        st.error(f"Tracking failed: {job.error or 'no reason given'}. Check the prompts and try again, or tell the "
                 "facility staff.")  # fmt: skip
