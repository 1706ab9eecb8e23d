"""Run a real Triton Inference Server on loopback from the ``nvidia-pytriton`` wheel (it runs on CPU-only machines).

The wheel ships the ``tritonserver`` binary and the python backend. The backend goes into a backend directory of
our own together with the stub built for this Python; ``LD_LIBRARY_PATH`` gets the wheel's libraries and ``PATH``
this interpreter's ``bin`` first (the stub runs the ``python`` it finds there, so models import this environment's
packages).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import util
from pathlib import Path
from types import TracebackType

from samem.errors import SamemError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
INSTALL_HINT = "install it with `pip install --no-deps nvidia-pytriton==0.7.0` (as `make setup` does)"


class TritonError(SamemError):
    """The Triton server could not be found, started or reached."""


@dataclass(frozen=True, kw_only=True)
class TritonInstall:
    """Where the wheel keeps the server, the python backend, the stub for this Python and the libraries."""

    server: Path
    python_backend: Path
    stub: Path
    libs: Path

    @classmethod
    def locate(cls) -> TritonInstall:
        """Find the files in the installed ``nvidia-pytriton`` wheel."""
        found = util.find_spec("pytriton")
        if found is None or found.origin is None:
            raise TritonError(
                f"Triton's server binary comes from the nvidia-pytriton wheel, which is missing: {INSTALL_HINT}"
            )
        package = Path(found.origin).parent
        root = package / "tritonserver"
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        install = cls(
            server=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            stub=root / "python_backend_stubs" / version / "triton_python_backend_stub",
            libs=package.parent / "nvidia_pytriton.libs",
        )
        for path in (install.server, install.python_backend, install.stub, install.libs):
            if not path.exists():
                raise TritonError(
                    f"{path} is missing from the nvidia-pytriton wheel (Python {version}); {INSTALL_HINT}"
                )
        return install

    def backend_directory(self, directory: Path) -> Path:
        """Fill ``directory`` with a ``python`` backend (the wheel's plus this Python's stub) and return it."""
        target = directory / "python"
        shutil.copytree(self.python_backend, target, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(self.stub, target / self.stub.name)
        return directory

    def environment(self) -> dict[str, str]:
        """The server's environment: the wheel's libraries, and this interpreter's ``bin`` first on ``PATH``."""
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(self.libs), env.get("LD_LIBRARY_PATH")) if p)
        env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH")) if p)
        return env


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class TritonServer:
    """A ``tritonserver`` process serving ``repository`` on loopback; a context manager.

    Ports default to free ones; ``threads`` caps each model's PyTorch/OpenMP threads (default: the libraries'
    own choice, all cores). ``start`` waits until the server and every model are ready (or fails with the end
    of the server's log); ``stop`` sends SIGTERM, waits ``grace`` seconds, then kills. ``poll_seconds`` makes the
    server rescan the repository that often and load, reload or unload what changed (Triton's poll mode).
    """

    def __init__(
        self,
        repository: str | os.PathLike[str],
        *,
        host: str = LOOPBACK,
        grpc_port: int | None = None,
        http_port: int | None = None,
        metrics_port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        verbose: bool = False,
        poll_seconds: int | None = None,
    ) -> None:
        self.repository = Path(repository).resolve()
        if not self.repository.is_dir():
            raise TritonError(f"model repository {str(self.repository)!r} is not a directory; run `samem export` first")
        self.host = host
        self.grpc_port = grpc_port or free_port(host)
        self.http_port = http_port or free_port(host)
        self.metrics_port = metrics_port or free_port(host)
        self.threads, self.verbose = threads, verbose
        if poll_seconds is not None and poll_seconds < 1:
            raise TritonError(f"poll_seconds must be >= 1, got {poll_seconds}")
        self.poll_seconds = poll_seconds
        self._workdir: Path | None = None
        self._log_path = Path(log_path) if log_path else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def grpc_url(self) -> str:
        """``HOST:PORT`` of the gRPC endpoint."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        if self._log_path is None:
            raise TritonError("the server has not been started")
        return self._log_path

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the running server."""
        return None if self._process is None else self._process.pid

    def command(self, backend_directory: Path) -> list[str]:
        """The ``tritonserver`` command line."""
        install = TritonInstall.locate()
        poll = ["--model-control-mode=poll", f"--repository-poll-secs={self.poll_seconds}"] if self.poll_seconds else []
        return [
            str(install.server),
            *poll,
            f"--model-repository={self.repository}",
            f"--backend-directory={backend_directory}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            "--exit-on-error=true",
            "--strict-readiness=true",
            f"--log-verbose={1 if self.verbose else 0}",
        ]

    def start(self, timeout: float = 180.0) -> TritonServer:
        """Start the server and wait until it and all its models are ready."""
        if self._process is not None:
            raise TritonError("the server is already running")
        install = TritonInstall.locate()
        self._workdir = Path(tempfile.mkdtemp(prefix="samem-triton-"))
        backends = install.backend_directory(self._workdir / "backends")
        if self._log_path is None:
            self._log_path = self._workdir / "tritonserver.log"
        command = self.command(backends)
        log.info("starting %s", " ".join(command))
        with self._log_path.open("wb") as log_file:
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self._environment(install),
                start_new_session=True,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _environment(self, install: TritonInstall) -> dict[str, str]:
        env = install.environment()
        if self.threads is not None:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(self.threads)
        return env

    def _wait_ready(self, timeout: float) -> None:
        import tritonclient.grpc as grpcclient

        deadline = time.monotonic() + timeout
        client = grpcclient.InferenceServerClient(self.grpc_url)
        try:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise TritonError(
                        f"tritonserver exited with code {self._process.returncode} while starting: {self.failure()}"
                    )
                with contextlib.suppress(Exception):  # not listening yet
                    if client.is_server_ready():
                        return
                time.sleep(0.2)
        finally:
            client.close()
        raise TritonError(f"tritonserver was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def failure(self) -> str:
        """The first model-load error in the log (one line), else the log's last lines."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, TritonError):
            return "(no log)"
        for line in text.splitlines():
            if "failed to load '" in line and "version" in line:
                message = line.split("failed to load ", 1)[1].split("\\n", 1)[0].rstrip('"')
                return f"failed to load {message.replace('Internal: ', '')}"
        return self.log_tail()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, TritonError):
            return "(no log)"

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL the server's process group."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("tritonserver did not stop within %.0f s; killing it", grace)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._workdir is not None:  # the backend copy, and the log unless the caller chose where it goes
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> TritonServer:
        return self.start() if self._process is None else self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
