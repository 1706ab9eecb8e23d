"""Celery tasks: propagation (the engine, via :mod:`.propagation`) and trajectory analysis."""

from __future__ import annotations

import functools

from celery import Celery

from samem.service.config import ServiceConfig
from samem.service.storage import Storage
from samem.service.store import Store


def register_tasks(app: Celery, config: ServiceConfig) -> None:
    """Register the tasks on ``app``; they use ``config``'s Redis, storage and engine."""
    from samem.service.celery_app import ANALYZE, PROPAGATE, worker_name

    @functools.cache
    def resources() -> tuple[Store, Storage]:
        return Store.from_url(config.redis_url, prefix=config.prefix), Storage(config.storage)

    @app.task(name=PROPAGATE)
    def propagate(job_id: str) -> str:
        from samem.service.engine import worker_backend
        from samem.service.propagation import run_propagation

        store, storage = resources()
        return run_propagation(
            job_id,
            store=store,
            storage=storage,
            backend=lambda: worker_backend(config),
            worker=worker_name(),
            checkpoint_every=config.checkpoint_every,
            lease_s=config.lease_s,
        )

    @app.task(name=ANALYZE)
    def analyze(job_id: str) -> str:
        from samem.service.analysis import run_analysis

        store, _ = resources()
        return run_analysis(job_id, store=store)
