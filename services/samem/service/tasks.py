"""Celery tasks: propagation (the engine, via :mod:`.propagation`) and trajectory analysis."""

from __future__ import annotations

import functools

from celery import Celery

from samem.service.config import ServiceConfig
from samem.service.metrics import install_worker_metrics, timed_job
from samem.service.records import ANALYSIS, PROPAGATION
from samem.service.storage import Storage
from samem.service.store import Store


def register_tasks(app: Celery, config: ServiceConfig) -> None:
    """Register the tasks on ``app``; they use ``config``'s Redis, storage and engine."""
    from samem.service.celery_app import ANALYZE, PROPAGATE, worker_name

    @functools.cache
    def resources() -> tuple[Store, Storage]:
        store = Store.from_url(config.redis_url, prefix=config.prefix, audit_max=config.audit_max)
        return store, Storage(config.storage)

    install_worker_metrics(app, config)

    @app.task(name=PROPAGATE)
    @timed_job(PROPAGATION)
    def propagate(job_id: str) -> str:
        from samem.service.engine import worker_model
        from samem.service.propagation import run_propagation
        from samem.service.retry import Backoff

        store, storage = resources()
        return run_propagation(
            job_id,
            store=store,
            storage=storage,
            model=lambda name: worker_model(config, name),
            worker=worker_name(),
            checkpoint_every=config.checkpoint_every,
            lease_s=config.lease_s,
            backoff=Backoff.of(config),
        )

    @app.task(name=ANALYZE)
    @timed_job(ANALYSIS)
    def analyze(job_id: str) -> str:
        from samem.service.analysis import run_analysis

        store, _ = resources()
        return run_analysis(job_id, store=store)
