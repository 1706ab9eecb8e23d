"""Run one propagation job on a worker: the engine frame by frame, results and checkpoints to Redis.

The job's engine state is checkpointed every ``checkpoint_every`` frames, after the frames it covers are stored.
A worker that takes over a job (the previous one lost its lease) restores the last checkpoint and recomputes the
frames after it; results are keyed by frame, so none is missing or duplicated and the final table equals an
uninterrupted run's. The cancel flag is read after every frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from samem.engine import Backend, Preprocessor, Tracker
from samem.io.video import FrameGeometry, IntensityNormalizer, open_video
from samem.service import metrics
from samem.service.encoding import labels_to_png
from samem.service.records import CANCELLED, FAILED, FINAL_STATES, RUNNING, SUCCEEDED
from samem.service.storage import Storage
from samem.service.store import Store
from samem.tracking.api import FrameFeed, add_prompts, measure_result

log = logging.getLogger(__name__)


def run_propagation(
    job_id: str,
    *,
    store: Store,
    storage: Storage,
    backend: Callable[[], Backend],
    worker: str,
    checkpoint_every: int,
    lease_s: float,
) -> str:
    """Run (or resume) a propagation job; return its final state, or ``"SKIPPED"`` if another worker holds it."""
    job = store.job(job_id)
    if job.state in FINAL_STATES:
        return job.state
    if not store.claim(job_id, worker, lease_s):
        log.info("job %s is held by %s; skipping", job_id, store.lease_holder(job_id))
        return "SKIPPED"
    try:
        if store.cancel_requested(job_id):
            store.update_job(job_id, state=CANCELLED)
            return CANCELLED
        store.update_job(job_id, state=RUNNING)
        return _propagate(job_id, store, storage, backend(), worker, checkpoint_every, lease_s)
    except Exception as e:  # the job fails with the reason; the worker lives on
        log.exception("job %s failed", job_id)
        store.update_job(job_id, state=FAILED, error=f"{type(e).__name__}: {e}")
        return FAILED
    finally:
        store.release(job_id, worker)


def _propagate(
    job_id: str, store: Store, storage: Storage, backend: Backend, worker: str, every: int, lease_s: float
) -> str:
    job = store.job(job_id)
    video = store.video(job.video_id, user=job.owner)
    with open_video(storage.path(video.path)) as reader:
        if "low" in job.params:
            normalizer = IntensityNormalizer(low=float(job.params["low"]), high=float(job.params["high"]))
        else:
            normalizer = IntensityNormalizer.fit(reader)
            store.update_job(job_id, params={**job.params, "low": normalizer.low, "high": normalizer.high})
        geometry = FrameGeometry(height=video.height, width=video.width, size=backend.settings.image_size)
        feed = FrameFeed(reader, Preprocessor(normalizer=normalizer, geometry=geometry))
        saved = store.load_checkpoint(job_id)
        if saved is None:
            tracker = Tracker(backend, height=video.height, width=video.width, num_frames=video.n_frames)
            add_prompts(tracker, job.prompt_specs())
        else:
            tracker = Tracker.from_state(backend, saved)
            log.info("job %s resumes at frame %s", job_id, tracker.state.next_frame)
        since_checkpoint = 0
        for result in tracker.propagate(feed):
            measured = measure_result(result)
            store.put_frame(job_id, result.frame, measured.rows, labels_to_png(measured.labels))
            metrics.frame_processed()
            since_checkpoint += 1
            last = result.frame == video.n_frames - 1
            if since_checkpoint >= every or last:
                store.checkpoint(job_id, tracker.state.to_bytes())
                since_checkpoint = 0
            store.renew(job_id, worker, lease_s)
            if store.cancel_requested(job_id):
                store.update_job(job_id, state=CANCELLED)
                return CANCELLED
    store.update_job(job_id, state=SUCCEEDED)
    return SUCCEEDED
