"""The Celery application: Redis broker, one queue named after the key prefix, tasks acknowledged on receipt.

Recovery from a lost worker does not rely on broker redelivery (Redis redelivers unacknowledged messages only
after a visibility timeout, and would also redeliver tasks that merely run long): a job's worker holds a lease in
Redis that it renews every frame, and :class:`Reaper` threads in the workers re-enqueue RUNNING jobs whose lease
has expired (the next worker resumes from the job's checkpoint) and QUEUED jobs whose task message was lost with
a worker that had taken it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

from celery import Celery

from samem.service.config import ServiceConfig
from samem.service.errors import NotFound
from samem.service.records import ANALYSIS, PROPAGATION, QUEUED, RUNNING
from samem.service.store import Store

log = logging.getLogger(__name__)

PROPAGATE = "samem.propagate"
ANALYZE = "samem.analyze"


def make_celery(config: ServiceConfig) -> Celery:
    """A Celery app for ``config`` with the service's tasks registered."""
    from samem.service.tasks import register_tasks

    app = Celery("samem", broker=config.redis_url, set_as_current=False)
    app.conf.update(
        task_default_queue=config.prefix,
        task_acks_late=False,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"socket_timeout": 10, "socket_connect_timeout": 5},
    )
    register_tasks(app, config)
    return app


def worker_name() -> str:
    """The name of this process in leases (host:pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Reaper(threading.Thread):
    """Re-enqueues orphaned jobs every ``lease_s / 3`` seconds (see :meth:`scan`)."""

    def __init__(self, app: Celery, store: Store, *, lease_s: float, requeue_after_s: float = 60.0) -> None:
        super().__init__(name="samem-reaper", daemon=True)
        self.app, self.store, self.lease_s, self.requeue_after_s = app, store, lease_s, requeue_after_s
        self.queue = app.conf.task_default_queue
        self.stopped = threading.Event()

    def run(self) -> None:
        """Scan until stopped; Redis errors are logged and retried."""
        while not self.stopped.wait(max(self.lease_s / 3, 0.2)):
            try:
                self.scan()
            except Exception:
                log.exception("reaper scan failed")

    def scan(self) -> list[str]:
        """Re-enqueue, once per period, jobs nobody works on; return their ids.

        RUNNING propagation jobs whose lease expired lost their worker: they resume from their checkpoint.
        QUEUED jobs unclaimed for ``requeue_after_s`` whose task is no longer waiting in the queue lost their
        message with a worker that had taken it (prefetched, or dead between acknowledging and claiming). A
        message sent twice is harmless: a worker skips a job another holds, or that has ended.
        """
        requeued, waiting = [], None
        now = time.time()
        for job_id in self.store.active_jobs():
            try:
                job = self.store.job(job_id)
            except NotFound:  # deleted meanwhile
                continue
            if self.store.lease_holder(job_id) is not None or self.store.cancel_requested(job_id):
                continue
            if job.state == RUNNING and job.kind == PROPAGATION:
                if not self.store.take_requeue(job_id, self.lease_s) or self.store.job(job_id).state != RUNNING:
                    continue
                self.store.update_job(job_id, resumes=job.resumes + 1)
                log.warning("job %s lost its worker; re-enqueued to resume from its checkpoint", job_id)
            elif job.state == QUEUED and now - job.updated_unix > self.requeue_after_s:
                waiting = self.store.queued_messages(self.queue) if waiting is None else waiting
                if job_id.encode() in waiting or not self.store.take_requeue(job_id, self.requeue_after_s):
                    continue
                self.store.update_job(job_id)  # restarts its clock
                log.warning("queued job %s lost its task message; re-enqueued", job_id)
            else:
                continue
            self.app.send_task(ANALYZE if job.kind == ANALYSIS else PROPAGATE, args=[job_id])
            requeued.append(job_id)
        return requeued
