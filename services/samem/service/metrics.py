"""Prometheus metrics of the gRPC service and the Celery workers, each process serving its own registry over HTTP.

Off unless ``metrics_port`` (env ``SAMEM_METRICS_PORT``) is set; the Helm chart and compose use 9100. The HTTP
server listens on all interfaces (a pod's metrics port must be reachable by Prometheus).

Service (``samem serve``): ``samem_grpc_requests_total`` and ``samem_grpc_request_duration_seconds`` by ``method``
and ``code`` (a server interceptor sees every RPC, health checks included), ``samem_jobs{state}`` and
``samem_queue_length`` (Celery tasks waiting in the Redis list), both read from Redis at scrape time, and
``samem_redis_up``.

Workers (``samem worker``, Celery's solo pool: tasks run in the process that serves the metrics, so no multiprocess
mode is needed): ``samem_worker_frames_total``, ``samem_worker_jobs_total{kind,state}``,
``samem_worker_job_duration_seconds{kind}`` and ``samem_worker_frames_per_second`` (of the last propagation job).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from samem.service.records import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED

if TYPE_CHECKING:
    from celery import Celery

    from samem.service.config import ServiceConfig
    from samem.service.store import Store

log = logging.getLogger(__name__)

BIND_ADDRESS = "0.0.0.0"  # a pod's metrics port must be reachable from Prometheus
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)

F = TypeVar("F", bound=Callable[..., Any])


def serve_registry(registry: CollectorRegistry, port: int) -> bool:
    """Serve ``registry`` at ``http://0.0.0.0:port/metrics`` from a daemon thread; False if the port is taken.

    A busy port is logged, not raised: metrics never take the service or a worker down (on one machine give the
    service and each worker their own ``SAMEM_METRICS_PORT``).
    """
    try:
        start_http_server(port, addr=BIND_ADDRESS, registry=registry)
    except OSError as e:
        log.error("cannot serve metrics on port %d (%s); set another SAMEM_METRICS_PORT", port, e)
        return False
    log.info("metrics on port %d", port)
    return True


# ----- the gRPC service -----


class _StoreCollector(Collector):
    """Jobs by state and the Celery queue length, read from Redis when scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        """One scrape: a pipelined read of every job's state and the queue's list length."""
        up = GaugeMetricFamily("samem_redis_up", "1 if the service could read Redis at this scrape")
        jobs = GaugeMetricFamily("samem_jobs", "Jobs recorded in Redis, by state", labels=["state"])
        queue = GaugeMetricFamily("samem_queue_length", "Celery tasks waiting in the service's Redis queue")
        try:
            redis = self.store.redis
            ids = list(redis.smembers(self.store.key("jobs")))
            with redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hget(self.store.key("job", job_id.decode()), "state")
                states = pipe.execute()
            length = int(redis.llen(self.store.prefix))
        except Exception as e:  # a scrape must answer even when Redis is down
            log.warning("metrics could not read Redis: %s", e)
            up.add_metric([], 0)
            yield up
            return
        counts = dict.fromkeys(STATES, 0)
        for state in states:
            if state is not None:
                key = state.decode()
                counts[key] = counts.get(key, 0) + 1
        for state, count in counts.items():
            jobs.add_metric([state], count)
        queue.add_metric([], length)
        up.add_metric([], 1)
        yield from (up, jobs, queue)


class ServiceMetrics:
    """The service's registry: RPC counts and latencies, and the Redis collector."""

    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "samem_grpc_requests", "RPCs handled, by method and status code", ["method", "code"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "samem_grpc_request_duration_seconds", "RPC handling time (streams: until the last message), by method "
            "and status code", ["method", "code"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        if store is not None:
            self.registry.register(_StoreCollector(store))

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        """Record one finished RPC."""
        self.requests.labels(method, code.name).inc()
        self.latency.labels(method, code.name).observe(seconds)


def _code(context: grpc.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    code = context.code()  # set by abort() / set_code(); None when the handler returned normally
    if isinstance(code, grpc.StatusCode):
        return code
    if error is None:
        return grpc.StatusCode.OK
    return grpc.StatusCode.CANCELLED if isinstance(error, GeneratorExit) else grpc.StatusCode.UNKNOWN


class MetricsInterceptor(grpc.ServerInterceptor):
    """Times every RPC and counts it by method and final status code."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:  # fmt: skip
        """Wrap the method's behaviour (unary or streaming response) with a timer."""
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.lstrip("/")
        observe = self.metrics.observe

        def unary(behavior: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
                start, error = time.perf_counter(), None
                try:
                    return behavior(request, context)
                except BaseException as e:
                    error = e
                    raise
                finally:
                    observe(method, _code(context, error), time.perf_counter() - start)

            return wrapped

        def streaming(behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]]) -> Callable[..., Any]:
            def wrapped(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                start, error = time.perf_counter(), None
                try:
                    yield from behavior(request, context)
                except BaseException as e:
                    error = e
                    raise
                finally:
                    observe(method, _code(context, error), time.perf_counter() - start)

            return wrapped

        kinds = (
            ("unary_unary", grpc.unary_unary_rpc_method_handler, unary),
            ("unary_stream", grpc.unary_stream_rpc_method_handler, streaming),
            ("stream_unary", grpc.stream_unary_rpc_method_handler, unary),
            ("stream_stream", grpc.stream_stream_rpc_method_handler, streaming),
        )
        for attribute, make, wrap in kinds:
            behavior = getattr(handler, attribute)
            if behavior is not None:
                return make(
                    wrap(behavior),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler


def server_interceptors(config: ServiceConfig, store: Store) -> list[grpc.ServerInterceptor]:
    """The service's interceptors; also serves the metrics on ``config.metrics_port`` when it is set."""
    metrics = ServiceMetrics(store)
    port = int(getattr(config, "metrics_port", 0) or 0)
    if port:
        serve_registry(metrics.registry, port)
    return [MetricsInterceptor(metrics)]


# ----- the workers -----

WORKER_REGISTRY = CollectorRegistry()
FRAMES = Counter("samem_worker_frames", "Video frames tracked by this worker", registry=WORKER_REGISTRY)
JOBS = Counter("samem_worker_jobs", "Jobs this worker ended, by kind and final state", ["kind", "state"],
               registry=WORKER_REGISTRY)  # fmt: skip
JOB_SECONDS = Histogram("samem_worker_job_duration_seconds", "Wall time of a job on this worker, by kind", ["kind"],
                        buckets=JOB_BUCKETS, registry=WORKER_REGISTRY)  # fmt: skip
FPS = Gauge("samem_worker_frames_per_second", "Frames per second of this worker's last propagation job",
            registry=WORKER_REGISTRY)  # fmt: skip
_frames_lock = threading.Lock()
_frames_done = 0


def frame_processed() -> None:
    """Count one tracked frame (called by the propagation loop)."""
    global _frames_done
    FRAMES.inc()
    with _frames_lock:
        _frames_done += 1


def timed_job(kind: str) -> Callable[[F], F]:
    """Decorate a task returning its final state: record its duration, state and (propagation) frames per second."""

    def decorate(task: F) -> F:
        @functools.wraps(task)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            start, before, state = time.perf_counter(), _frames_done, "FAILED"
            try:
                state = task(*args, **kwargs)
                return state
            finally:
                seconds = time.perf_counter() - start
                if state != "SKIPPED":
                    JOBS.labels(kind, str(state)).inc()
                    JOB_SECONDS.labels(kind).observe(seconds)
                    frames = _frames_done - before
                    if frames and seconds > 0:
                        FPS.set(frames / seconds)

        return wrapped  # type: ignore[return-value]

    return decorate


def install_worker_metrics(app: Celery, config: ServiceConfig) -> None:
    """Serve the worker registry on ``config.metrics_port`` once ``app``'s worker starts (not in the server)."""
    port = int(getattr(config, "metrics_port", 0) or 0)
    if not port:
        return
    from celery import signals

    def on_worker_init(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            serve_registry(WORKER_REGISTRY, port)

    signals.worker_init.connect(on_worker_init, weak=False)
