"""Prepare the next frame on a worker thread while the engine works on this one.

On a GPU a tracking step is short and the CPU work per frame (reading, intensity normalisation, resizing to the
model's input) is not: at 1024 px it takes about 15 ms of one core, a third of a hiera-large step on an H200.
:class:`Prefetcher` overlaps it with the step. The two threads hardly contend for the GIL: PIL, numpy and torch
release it in their heavy parts, and the caller waits for the GPU with it released.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """``load(index)`` computed once per index, the next index queued whenever one is asked for.

    Every call of ``load`` runs on one worker thread, one at a time (a video reader need not be thread-safe); an
    error of ``load`` is raised by :meth:`get` of that index, never by a prefetch. The results of the last ``keep``
    indices asked for stay available, so memory does not grow with the video.
    """

    def __init__(self, load: Callable[[int], T], *, stop: int, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self._load, self._stop, self._keep = load, stop, keep
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="samem-prefetch")
        self._futures: OrderedDict[int, Future[T]] = OrderedDict()

    def _future(self, index: int) -> Future[T]:
        future = self._futures.get(index)
        if future is None:
            future = self._futures[index] = self._pool.submit(self._load, index)
        self._futures.move_to_end(index)
        return future

    def get(self, index: int) -> T:
        """``load(index)``; queues ``index + 1`` (below ``stop``) before waiting."""
        future = self._future(index)
        if index + 1 < self._stop and index + 1 not in self._futures:
            self._futures[index + 1] = self._pool.submit(self._load, index + 1)
        while len(self._futures) > self._keep + 1:
            oldest = next(iter(self._futures))
            self._futures.pop(oldest).cancel()
        return future.result()

    def close(self) -> None:
        """Drop queued work and stop the worker (a load in progress finishes first)."""
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
