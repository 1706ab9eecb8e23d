"""``samem up`` / ``samem down``: the whole single-machine stack as detached processes recorded in a state directory.

``up`` starts, in order and each only once the previous is healthy: Redis (unless one answers on the configured
URL; then it is used and left alone), Triton (``backend="triton"``: the model exported to a repository and served
as ``samem triton`` does), the gRPC service, one Celery worker and the Streamlit dashboard (when its app exists).
It writes ``stack.json`` (pids with their start times, addresses, log paths), ``logs/`` and a ``tokens.json``
(generated once, kept across restarts) into the state directory. If a part does not become healthy, everything
started so far is stopped again and the error names the part and its log. ``down`` stops what ``up`` started,
last first (SIGTERM, then SIGKILL after a grace period), and is idempotent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import getpass
import json
import os
import secrets
import socket
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis

from samem.errors import InputError
from samem.service import processes
from samem.service.config import ServiceConfig
from samem.service.processes import ProcessId

STATE_FILE, TOKENS_FILE, LOCK_FILE = "stack.json", "tokens.json", ".lock"
DEFAULT_STATE_DIR = Path.home() / ".samem" / "stack"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
REPO_ROOT = Path(__file__).resolve().parents[3]


def default_dashboard_app() -> Path:
    """``SAMEM_DASHBOARD_APP``, else the repository's ``dashboard/app.py`` next to the package."""
    return Path(os.environ.get("SAMEM_DASHBOARD_APP") or REPO_ROOT / "dashboard" / "app.py")


@dataclass(frozen=True, kw_only=True)
class StackOptions:
    """What ``samem up`` starts and where (port 0: a free one)."""

    state_dir: Path = DEFAULT_STATE_DIR
    host: str = "127.0.0.1"
    port: int = 50051
    dashboard: bool = True
    dashboard_port: int = 8501
    dashboard_app: Path | None = None
    #: ``local`` (the engine in the worker process) or ``triton`` (a Triton server the stack starts).
    backend: str = "local"
    triton_port: int = 0
    #: Service settings left None come from ``SAMEM_*`` variables, then the defaults (storage: in the state dir).
    redis_url: str | None = None
    storage: Path | None = None
    model: str | None = None
    image_size: int | None = None
    #: How long each part may take to become healthy.
    timeout_s: float = 180.0

    def __post_init__(self) -> None:
        if self.backend not in ("local", "triton"):
            raise InputError(f"backend must be 'local' or 'triton', got {self.backend!r}")
        for name in ("port", "dashboard_port", "triton_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise InputError(f"{name} must lie in 0..65535 (0: a free port), got {getattr(self, name)}")


@dataclass
class Part:
    """One started (or found) component."""

    name: str
    address: str
    log: str = ""
    pid: int = 0
    start_ticks: int = 0
    #: Processes the part's process started in their own sessions (tritonserver under ``samem triton``).
    extra: list[list[int]] = field(default_factory=list)
    #: False for a Redis that was already running (``down`` leaves it alone).
    started: bool = True

    def processes(self) -> list[ProcessId]:
        """The part's processes, its own first."""
        own = [ProcessId(self.pid, self.start_ticks)] if self.started and self.pid else []
        return own + [ProcessId(pid, ticks) for pid, ticks in self.extra]


@dataclass
class StackState:
    """What ``stack.json`` records."""

    state_dir: str
    address: str = ""
    redis_url: str = ""
    tokens_file: str = ""
    token: str = ""
    admin_token: str = ""
    dashboard_url: str = ""
    parts: list[Part] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def save(self) -> None:
        """Write ``stack.json`` atomically."""
        path = Path(self.state_dir) / STATE_FILE
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(dataclasses.asdict(self), indent=2))
        scratch.replace(path)

    @classmethod
    def load(cls, state_dir: Path) -> StackState | None:
        """The recorded stack, None if there is none."""
        path = state_dir / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"{path} is unreadable ({e}); remove it after checking that nothing runs") from e
        data["parts"] = [Part(**p) for p in data.get("parts", [])]
        return cls(**data)

    def running(self) -> list[Part]:
        """Parts with a live process."""
        return [p for p in self.parts if any(processes.alive(q) for q in p.processes())]


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise InputError(f"another `samem up` or `samem down` is working on {state_dir}; wait for it") from e
        yield


def _tokens(state_dir: Path) -> tuple[Path, str, str]:
    """The stack's tokens file (created once, mode 0600): a user token and an admin token."""
    path = state_dir / TOKENS_FILE
    if not path.exists():
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "user"
        tokens = {
            secrets.token_urlsafe(24): {"user": user, "admin": False},
            secrets.token_urlsafe(24): {"user": "admin", "admin": True},
        }
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(tokens, handle, indent=2)
    data = json.loads(path.read_text())
    user_token = next((t for t, info in data.items() if not info.get("admin")), "")
    admin_token = next((t for t, info in data.items() if info.get("admin")), "")
    return path, user_token, admin_token


def _port(host: str, port: int, part: str, option: str) -> int:
    if port == 0:
        return processes.free_port(host)
    if not processes.port_free(host, port):
        raise InputError(f"{part}: port {host}:{port} is in use; choose another with {option} (0: a free one)")
    return port


class _Launcher:
    """Starts the parts one by one, recording each in the state file as soon as its process exists."""

    def __init__(self, options: StackOptions, state: StackState, env: dict[str, str]) -> None:
        self.options, self.state, self.env = options, state, env
        self.state_dir = Path(state.state_dir)

    def log(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def start(
        self, name: str, address: str, command: list[str], healthy: Callable[[], bool], env: dict[str, str]
    ) -> Part:
        log = self.log(name)
        process = processes.spawn(command, log_path=log, env=env, cwd=self.state_dir)
        part = Part(name=name, address=address, log=str(log), pid=process.pid, start_ticks=process.start_ticks)
        self.state.parts.append(part)
        self.state.save()
        reason = processes.wait_until(healthy, timeout_s=self.options.timeout_s, process=process)
        if reason is not None:
            raise _PartFailed(f"{name} ({address}) failed to start: {reason}; see its log {log}:\n"
                              f"{processes.log_tail(log)}")  # fmt: skip
        return part


class _PartFailed(InputError):
    """A part did not become healthy."""


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def up(options: StackOptions) -> StackState:
    """Start the stack (see the module docstring); return what was started. Refuses a state dir in use."""
    state_dir = options.state_dir.expanduser().resolve()
    with _locked(state_dir):
        previous = StackState.load(state_dir)
        if previous is not None:
            running = previous.running()
            if running:
                names = ", ".join(p.name for p in running)
                raise InputError(
                    f"a samem stack is already running from {state_dir} ({names}; service {previous.address}); "
                    f"stop it with `samem down --state-dir {state_dir}` first"
                )
            (state_dir / STATE_FILE).unlink()  # stale: everything it recorded has exited
        tokens_file, token, admin_token = _tokens(state_dir)
        # the stack serves plaintext on this machine: TLS settings of the environment are not passed on
        plain = {k: v for k, v in os.environ.items() if k not in ("SAMEM_TLS_CERT", "SAMEM_TLS_KEY")}
        config = ServiceConfig.from_env(
            plain, redis_url=options.redis_url, storage=options.storage or state_dir / "storage",
            tokens_file=tokens_file, model=options.model, image_size=options.image_size,
        )  # fmt: skip
        state = StackState(
            state_dir=str(state_dir), redis_url=config.redis_url, tokens_file=str(tokens_file), token=token,
            admin_token=admin_token,
        )  # fmt: skip
        env = {**plain, "PYTHONUNBUFFERED": "1"}
        launcher = _Launcher(options, state, env)
        try:
            _start_redis(launcher, config)
            if options.backend == "triton":
                config = _start_triton(launcher, config)
            _start_service(launcher, config)
            _start_worker(launcher, config)
            _start_dashboard(launcher)
        except BaseException:
            _stop(state, grace_s=10.0)
            (state_dir / STATE_FILE).unlink(missing_ok=True)
            raise
        state.save()
        return state


def _start_redis(launcher: _Launcher, config: ServiceConfig) -> None:
    client = redis.Redis.from_url(config.redis_url, socket_timeout=2, socket_connect_timeout=2)
    with contextlib.suppress(redis.RedisError):
        if client.ping():
            launcher.state.parts.append(Part(name="redis", address=config.redis_url, started=False))
            launcher.state.notices.append(f"using the Redis already answering at {config.redis_url} (left alone)")
            launcher.state.save()
            return
    url = urlsplit(config.redis_url)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if host not in LOOPBACK_HOSTS:
        raise InputError(f"redis: nothing answers at {config.redis_url} and it is not on this machine; start it "
                         "there or pass --redis-url of a local port")  # fmt: skip
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        raise InputError("redis: redis-server is not installed (apt-get install -y redis-server)")
    data = launcher.state_dir / "redis"
    data.mkdir(exist_ok=True)
    command = [binary, "--bind", host, "--port", str(_port(host, port, "redis", "--redis-url")), "--dir", str(data),
               "--appendonly", "yes", "--save", "", "--daemonize", "no"]  # fmt: skip
    launcher.start("redis", config.redis_url, command, client.ping, launcher.env)


def _start_triton(launcher: _Launcher, config: ServiceConfig) -> ServiceConfig:
    from samem.service.catalogue import Catalogue
    from samem.serving.repository import write_repository

    host = launcher.options.host
    port = _port(host, launcher.options.triton_port, "triton", "--triton-port")
    repository = launcher.state_dir / "repository"
    model = Catalogue.from_config(config).default.spec  # Triton serves the catalogue's default model
    try:
        write_repository(repository, model, image_size=config.image_size)
    except Exception as e:
        raise InputError(f"triton: cannot export {model!r} to {repository}: {e}") from e
    address = f"{host}:{port}"
    command = _python("samem", "triton", "--repository", str(repository), "--host", host, "--grpc-port", str(port),
                      "--http-port", "0", "--metrics-port", "0", "--threads", str(config.torch_threads),
                      "--log", str(launcher.log("tritonserver")))  # fmt: skip

    def ready() -> bool:
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(address)
        try:
            return bool(client.is_server_ready())
        finally:
            client.close()

    part = launcher.start("triton", address, command, ready, launcher.env)
    part.extra = [[pid, processes.start_ticks(pid) or 0] for pid in processes.children(part.pid)]
    launcher.state.save()
    return dataclasses.replace(config, backend=f"triton://{address}")


def _start_service(launcher: _Launcher, config: ServiceConfig) -> None:
    from grpc_health.v1 import health_pb2

    host = launcher.options.host
    address = f"{host}:{_port(host, launcher.options.port, 'service', '--port')}"
    env = {**launcher.env, **config.environment()}

    def healthy() -> bool:
        import grpc
        from grpc_health.v1 import health_pb2_grpc

        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    launcher.start("service", address, _python("samem", "serve", "--address", address), healthy, env)
    launcher.state.address = address


def _start_worker(launcher: _Launcher, config: ServiceConfig) -> None:
    from samem.service.celery_app import make_celery

    env = {**launcher.env, **config.environment(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    app = make_celery(config)
    part_pid: list[int] = []

    def pong() -> bool:
        name = f"samem-{part_pid[0]}@{socket.gethostname()}"
        return bool(app.control.ping(destination=[name], timeout=1.0))

    log = launcher.log("worker")
    process = processes.spawn(_python("samem", "worker"), log_path=log, env=env, cwd=launcher.state_dir)
    part_pid.append(process.pid)
    part = Part(name="worker", address=f"queue {config.prefix} on {config.redis_url}", log=str(log), pid=process.pid,
                start_ticks=process.start_ticks)  # fmt: skip
    launcher.state.parts.append(part)
    launcher.state.save()
    reason = processes.wait_until(pong, timeout_s=launcher.options.timeout_s, process=process, interval_s=0.5)
    if reason is not None:
        raise _PartFailed(f"worker failed to start: {reason}; see its log {log}:\n{processes.log_tail(log)}")


def _start_dashboard(launcher: _Launcher) -> None:
    options = launcher.options
    if not options.dashboard:
        return
    app = (options.dashboard_app or default_dashboard_app()).resolve()
    if not app.is_file():
        launcher.state.notices.append(f"no dashboard: {app} does not exist yet (skipped)")
        return
    host = options.host
    port = _port(host, options.dashboard_port, "dashboard", "--dashboard-port")
    url = f"http://{host}:{port}"
    env = {**launcher.env, "SAMEM_ADDRESS": launcher.state.address, "SAMEM_TOKEN": launcher.state.token}
    command = _python("streamlit", "run", str(app), "--server.port", str(port), "--server.address", host,
                      "--server.headless", "true", "--browser.gatherUsageStats", "false")  # fmt: skip

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
            return bool(reply.status == 200)

    launcher.start("dashboard", url, command, healthy, env)
    launcher.state.dashboard_url = url


def _stop(state: StackState, *, grace_s: float) -> list[str]:
    stopped = []
    for part in reversed(state.parts):
        mine = part.processes()
        if not mine or not any(processes.alive(p) for p in mine):
            continue
        for process in mine:
            processes.stop(process, grace_s=grace_s)
        stopped.append(part.name)
    return stopped


def down(state_dir: Path = DEFAULT_STATE_DIR, *, grace_s: float = 15.0) -> list[str]:
    """Stop what ``up`` started in ``state_dir`` (a Redis it found running is left alone); the parts stopped."""
    state_dir = state_dir.expanduser().resolve()
    if not (state_dir / STATE_FILE).exists():
        return []
    with _locked(state_dir):
        state = StackState.load(state_dir)
        if state is None:
            return []
        stopped = _stop(state, grace_s=grace_s)
        left = state.running()
        if left:
            raise InputError(f"could not stop {', '.join(p.name for p in left)}; see {state_dir / STATE_FILE}")
        (state_dir / STATE_FILE).unlink()
        return stopped
