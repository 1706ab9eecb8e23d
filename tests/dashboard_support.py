"""Shared pieces of the dashboard tests: the real service stack and the Streamlit app on a free port.

The stack is a real redis-server, the gRPC server in process and (optionally) a real Celery worker process, as in
``test_service_e2e.py``; the app runs as ``samem up`` starts it, ``streamlit run dashboard/app.py``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from service_support import TOKENS, Worker, redis_server, write_present_checkpoint

from samem.service.config import ServiceConfig
from samem.service.server import create_server
from samem.serving.server import free_port

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
if str(APP.parent) not in sys.path:  # the dashboard's modules, as `streamlit run dashboard/app.py` sees them
    sys.path.insert(0, str(APP.parent))
TOKEN = "alice-token"  # one of service_support.TOKENS
MODEL_B = "shipped"  # the second model the test stack offers: the shipped samem-compact weights


@dataclass(frozen=True)
class Stack:
    """A running service: its address and configuration, and the worker (None without one)."""

    address: str
    config: ServiceConfig
    worker: Worker | None


@contextlib.contextmanager
def service_stack(root: Path, *, worker: bool = True) -> Iterator[Stack]:
    """Redis, the gRPC server (in process) and one Celery worker process with small random 'present' weights.

    Two models are offered: ``samem-compact`` (the default, these random weights) and ``shipped``, the shipped
    samem-compact weights (the browser journey picks it, so its screenshots show real masks).
    """
    checkpoint = write_present_checkpoint(root / "present.pt")
    with redis_server() as url:
        config = ServiceConfig(
            redis_url=url, storage=root / "storage", tokens=TOKENS,
            models=f"samem-compact=samem-compact:{checkpoint},{MODEL_B}=samem-compact",
            checkpoint_every=10, lease_s=5.0, max_upload_bytes=64 << 20,
        )  # fmt: skip
        server, port, _ = create_server(config)
        process = Worker(config, root / "worker.log") if worker else None
        try:
            if process is not None:
                process.wait_ready()
            yield Stack(f"127.0.0.1:{port}", config, process)
        finally:
            if process is not None:
                process.stop()
            server.stop(0)


@contextlib.contextmanager
def streamlit_app(address: str, cache: Path, log_path: Path, *, token: str = "") -> Iterator[str]:
    """``streamlit run dashboard/app.py`` on a free port (as ``samem up`` starts it); yields its URL."""
    port = free_port()
    env = {**os.environ, "SAMEM_ADDRESS": address, "SAMEM_DASHBOARD_CACHE": str(cache),
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "OMP_NUM_THREADS": "1"}  # fmt: skip
    env.pop("SAMEM_TOKEN", None)
    if token:
        env["SAMEM_TOKEN"] = token
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
