"""Run one propagation job on a worker: the engine frame by frame, results and checkpoints to Redis.

The job's engine state is checkpointed every ``checkpoint_every`` frames, after the frames it covers are stored.
A worker that takes over a job (the previous one lost its lease) restores the last checkpoint and recomputes the
frames after it; results are keyed by frame, so none is missing or duplicated and the final table equals an
uninterrupted run's. The cancel flag is read after every frame. The lease is renewed compare-and-set after every
frame, and an unreachable backend is retried with exponential backoff (:mod:`.retry`). The job runs with the
catalogue model it names (:func:`samem.service.engine.worker_model`); what ran is recorded in the job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from samem.engine import Preprocessor, Tracker
from samem.io.video import FrameGeometry, IntensityNormalizer, open_video
from samem.service import metrics
from samem.service.encoding import labels_to_png
from samem.service.engine import RunningModel
from samem.service.records import CANCELLED, FAILED, FINAL_STATES, RUNNING, SUCCEEDED
from samem.service.retry import Backoff, transient
from samem.service.storage import Storage
from samem.service.store import Store
from samem.tracking.api import FrameFeed, add_prompts, measure_result, resolve_zoom

log = logging.getLogger(__name__)

NO_RETRY = Backoff(0, 1.0, 1.0)


class LeaseLost(Exception):
    """Another worker holds the job now (this worker's lease expired); this worker must stop touching it."""


class _Lease:
    """A worker's lease on a job: renewed compare-and-set, so a lost lease is noticed, never stolen back."""

    def __init__(self, store: Store, job_id: str, worker: str, ttl_s: float) -> None:
        self.store, self.job_id, self.worker, self.ttl_s = store, job_id, worker, ttl_s

    def renew(self) -> None:
        if not self.store.renew(self.job_id, self.worker, self.ttl_s):
            holder = self.store.lease_holder(self.job_id)
            raise LeaseLost(f"job {self.job_id}: lease lost to {holder or 'nobody'}; stopping")

    def sleep(self, seconds: float) -> bool:
        """Wait, keeping the lease; False as soon as a cancel is requested."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, self.ttl_s / 3))
            self.renew()
            if self.store.cancel_requested(self.job_id):
                return False
        return True


def run_propagation(
    job_id: str,
    *,
    store: Store,
    storage: Storage,
    model: Callable[[str], RunningModel],
    worker: str,
    checkpoint_every: int,
    lease_s: float,
    backoff: Backoff = NO_RETRY,
) -> str:
    """Run (or resume) a propagation job; return its final state, or ``"SKIPPED"`` if another worker holds it.

    ``model`` gives the running model of a catalogue name (the job's; empty: the default).
    While the backend is unreachable (Triton down) the job is retried after ``backoff``'s waits, each time from
    its last checkpoint; when no retry is left it FAILS with the reason. A worker that loses its lease stops
    (``"LOST"``) and leaves the job to the worker that holds it.
    """
    job = store.job(job_id)
    if job.state in FINAL_STATES:
        return job.state
    if not store.claim(job_id, worker, lease_s):
        log.info("job %s is held by %s; skipping", job_id, store.lease_holder(job_id))
        return "SKIPPED"
    lease = _Lease(store, job_id, worker, lease_s)
    try:
        if store.cancel_requested(job_id):
            store.update_job(job_id, state=CANCELLED)
            return CANCELLED
        store.update_job(job_id, state=RUNNING)
        attempt, started = 0, time.monotonic()
        while True:
            try:
                state = _propagate(job_id, store, storage, model, lease, checkpoint_every)
                store.update_job(job_id, state=state, error="")
                return state
            except LeaseLost:
                raise
            except Exception as e:
                if not transient(e):
                    raise
                reason, delay = f"{type(e).__name__}: {e}", backoff.delay(attempt)
                attempt += 1
                if delay is None:
                    spent = time.monotonic() - started
                    raise _GaveUp(f"{reason} (gave up after {attempt} attempts over {spent:.1f} s)") from e
                log.warning("job %s: attempt %d failed, the backend is unreachable (%s); retrying in %.1f s "
                            "(retry %d of %d)", job_id, attempt, reason, delay, attempt, backoff.retries)  # fmt: skip
                store.update_job(job_id, error=f"attempt {attempt} failed, retrying in {delay:.1f} s: {reason}")
                if not lease.sleep(delay):
                    store.update_job(job_id, state=CANCELLED)
                    return CANCELLED
    except LeaseLost as e:
        log.warning("%s", e)
        return "LOST"
    except Exception as e:  # the job fails with the reason; the worker lives on
        log.exception("job %s failed", job_id)
        store.update_job(job_id, state=FAILED, error=str(e) if isinstance(e, _GaveUp) else f"{type(e).__name__}: {e}")
        return FAILED
    finally:
        store.release(job_id, worker)


class _GaveUp(Exception):
    """The backend stayed unreachable through every retry."""


def _propagate(
    job_id: str, store: Store, storage: Storage, model: Callable[[str], RunningModel], lease: _Lease, every: int
) -> str:
    """Track from the last checkpoint (or the prompts) to the end; SUCCEEDED or CANCELLED (not yet recorded)."""
    job = store.job(job_id)
    running = model(job.model)
    store.update_job(job_id, model=running.name, model_spec=running.spec, model_sha256=running.checkpoint_sha256)
    backend = running.backend
    video = store.video(job.video_id, user=job.owner)
    with open_video(storage.path(video.path)) as reader:
        if "low" in job.params:
            normalizer = IntensityNormalizer(low=float(job.params["low"]), high=float(job.params["high"]))
        else:
            normalizer = IntensityNormalizer.fit(reader)
            store.update_job(job_id, params={**job.params, "low": normalizer.low, "high": normalizer.high})
        geometry = FrameGeometry(height=video.height, width=video.width, size=backend.settings.image_size)
        saved = store.load_checkpoint(job_id)
        if saved is None:
            prompts = job.prompt_specs()
            zoom = resolve_zoom("auto", prompts, height=video.height, width=video.width)
            tracker = Tracker(backend, height=video.height, width=video.width, num_frames=video.n_frames, zoom=zoom)
            add_prompts(tracker, prompts)
        else:
            tracker = Tracker.from_state(backend, saved)
            log.info("job %s resumes at frame %s", job_id, tracker.state.next_frame)
        preprocessor = Preprocessor(normalizer=normalizer, geometry=geometry)
        with FrameFeed(reader, preprocessor, windows=tracker.zoom is not None) as feed:
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
                lease.renew()
                if store.cancel_requested(job_id):
                    return CANCELLED
    return SUCCEEDED
