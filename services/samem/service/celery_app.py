"""The Celery application: Redis broker, one queue named after the key prefix, tasks acknowledged on receipt.

Recovery from a lost worker does not rely on broker redelivery (Redis redelivers unacknowledged messages only
after a visibility timeout, and would also redeliver tasks that merely run long): a job's worker holds a lease in
Redis that it renews every frame, and :class:`Reaper` threads in the workers re-enqueue RUNNING jobs whose lease
has expired; the next worker resumes from the job's checkpoint.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from celery import Celery

from samem.service.config import ServiceConfig
from samem.service.records import RUNNING
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
    """Re-enqueues RUNNING jobs whose worker's lease expired (the worker died), every ``lease_s / 3`` seconds."""

    def __init__(self, app: Celery, store: Store, *, lease_s: float) -> None:
        super().__init__(name="samem-reaper", daemon=True)
        self.app, self.store, self.lease_s = app, store, lease_s
        self.stopped = threading.Event()

    def run(self) -> None:
        """Scan until stopped; Redis errors are logged and retried."""
        while not self.stopped.wait(max(self.lease_s / 3, 0.2)):
            try:
                self.scan()
            except Exception:
                log.exception("reaper scan failed")

    def scan(self) -> list[str]:
        """Re-enqueue orphaned jobs once; return their ids."""
        requeued = []
        for job_id in self.store.active_jobs():
            job = self.store.job(job_id)
            if job.state != RUNNING or self.store.lease_holder(job_id) is not None:
                continue
            if not self.store.take_requeue(job_id, self.lease_s):
                continue
            if self.store.job(job_id).state != RUNNING:
                continue
            self.store.update_job(job_id, resumes=job.resumes + 1)
            self.app.send_task(PROPAGATE, args=[job_id])
            log.warning("job %s lost its worker; re-enqueued to resume from its checkpoint", job_id)
            requeued.append(job_id)
        return requeued
