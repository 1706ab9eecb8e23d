"""Shared pieces of the service tests: a real Redis server, real Celery worker processes, a simulated video."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import redis
import tifffile
import torch

from samem.measure import mask_box
from samem.model import build_model
from samem.service.config import ServiceConfig
from samem.serving.server import free_port
from samem.tracking.prompts import PromptSpec

HEIGHT, WIDTH, N_FRAMES = 96, 128, 40
IMAGE_SIZE = 64  # small and fast
TOKENS = "alice-token=alice,bob-token-x=bob,admin-token=root:admin"
START_S = 60.0


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free loopback port, keeping nothing on disk; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


class RedisServer:
    """A redis-server on a fixed port that keeps its data in ``data_dir`` (append-only file), so it can be stopped
    and started again with everything it held."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir, self.port = data_dir, port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        """Start it and wait until it answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data_dir), "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except (redis.ConnectionError, redis.exceptions.BusyLoadingError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (it flushes its append-only file) and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


def write_present_checkpoint(path: Path, *, seed: int = 0) -> Path:
    """Random compact weights (``seed``) whose object score says 'present' (non-empty masks), at ``IMAGE_SIZE``."""
    state = build_model("samem-compact:random", seed=seed).model.state_dict()
    state["sam_mask_decoder.pred_obj_score_head.layers.2.bias"] += 20.0
    torch.save({"model": state, "image_size": IMAGE_SIZE}, path)
    return path


def write_video(path: Path, n_frames: int = N_FRAMES) -> tuple[Path, list[PromptSpec]]:
    """A simulated LPTEM video (TIFF) with 2 particles, and a box prompt per particle on frame 0."""
    from samem.sim import layout_spec, simulate_video

    spec = layout_spec(
        seed=3, width=WIDTH, height=HEIGHT, n_frames=n_frames, n_particles=2, shape="sphere", size_nm=(8.0, 10.0)
    )
    clip = simulate_video(spec)
    tifffile.imwrite(path, clip.video, photometric="minisblack")  # 3 or 4 frames are not RGB
    prompts = [
        PromptSpec(particle=int(k), frame=0, box=mask_box(clip.labels[0] == k)) for k in np.unique(clip.labels[0]) if k
    ]
    return path, prompts


class Worker:
    """A ``samem worker`` process (a real Celery worker) with its log; kill it by pid."""

    def __init__(self, config: ServiceConfig, log_path: Path) -> None:
        env = {**os.environ, **config.environment(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "samem", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = START_S) -> Worker:
        """Wait until Celery reports the worker ready."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ready." in self.log_path.read_text(errors="replace"):
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task, as on a node failure."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL after 10 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
