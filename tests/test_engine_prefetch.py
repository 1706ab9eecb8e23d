"""The frame prefetcher: one load per index, on one worker thread, the next index under way, errors where asked."""

from __future__ import annotations

import threading

import pytest

from samem.engine.prefetch import Prefetcher


class RecordingLoader:
    """Returns index * 10; records which indices were loaded, on which threads, and how many ran at once."""

    def __init__(self, fail: int | None = None) -> None:
        self.loaded: list[int] = []
        self.threads: set[str] = set()
        self.running = self.most_running = 0
        self.started = {i: threading.Event() for i in range(100)}
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, index: int) -> int:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.started[index].set()
        self.threads.add(threading.current_thread().name)
        self.loaded.append(index)
        with self._lock:
            self.running -= 1
        if index == self.fail:
            raise OSError(f"frame {index} is corrupt")
        return index * 10


def test_each_index_loads_once_on_one_worker_and_the_next_one_is_under_way() -> None:
    loader = RecordingLoader()
    with Prefetcher(loader, stop=5) as frames:
        for index in range(5):
            assert frames.get(index) == index * 10
            assert frames.get(index) == index * 10  # asked again (the overlay's raw frame): not loaded again
            if index + 1 < 5:
                assert loader.started[index + 1].wait(5.0), f"frame {index + 1} was not prefetched"
    assert loader.loaded == [0, 1, 2, 3, 4]  # nothing past stop, nothing twice
    assert loader.most_running == 1 and len(loader.threads) == 1
    assert threading.current_thread().name not in loader.threads


def test_a_prefetch_error_is_raised_only_when_that_frame_is_asked_for() -> None:
    loader = RecordingLoader(fail=2)
    with Prefetcher(loader, stop=5) as frames:
        assert frames.get(1) == 10
        assert loader.started[2].wait(5.0)
        with pytest.raises(OSError, match="frame 2 is corrupt"):
            frames.get(2)


def test_only_the_last_frames_are_kept() -> None:
    loader = RecordingLoader()
    with Prefetcher(loader, stop=50, keep=2) as frames:
        for index in (10, 0, 1, 2, 3):  # a prompt frame first, then the propagation from 0
            frames.get(index)
        assert sorted(frames._futures) == [2, 3, 4]
        frames.get(10)  # dropped long ago: loaded again
    assert loader.loaded.count(10) == 2


def test_keep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep must be >= 1"):
        Prefetcher(lambda index: index, stop=3, keep=0)
