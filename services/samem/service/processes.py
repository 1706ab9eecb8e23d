"""Detached processes for the single-machine stack: spawn, identify (pid plus start time), wait, stop.

A process is identified by its pid and the start time the kernel records for it (``/proc/PID/stat`` field 22),
so a pid reused by an unrelated process after a crash is never signalled. Each process gets its own session,
so signals go to its whole process group and a terminal's Ctrl-C does not reach it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessId:
    """A running process: pid and kernel start time (clock ticks since boot)."""

    pid: int
    start_ticks: int

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        """The identity of the live process ``pid`` (start time 0 if unknown)."""
        return cls(pid, start_ticks(pid) or 0)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on; the command name may hold spaces


def start_ticks(pid: int) -> int | None:
    """The kernel start time of ``pid``, None if no such process."""
    fields = _stat(pid)
    return None if fields is None else int(fields[19])


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(process: ProcessId) -> bool:
    """Whether the process still runs (a zombie, or a new process under the same pid, counts as gone)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(process.pid, os.WNOHANG)  # reap it if it is our child
    fields = _stat(process.pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return not process.start_ticks or int(fields[19]) == process.start_ticks


def spawn(command: Sequence[str], *, log_path: Path, env: dict[str, str], cwd: Path) -> ProcessId:
    """Start ``command`` in its own session with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=cwd,
            start_new_session=True,
        )  # fmt: skip
    return ProcessId.of(process.pid)


def _signal(process: ProcessId, signum: int) -> None:
    if not alive(process):
        return
    try:
        os.killpg(process.pid, signum)  # its session's group: the process and what it started
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signum)


def stop(process: ProcessId, *, grace_s: float) -> bool:
    """SIGTERM, wait up to ``grace_s``, then SIGKILL; True if it had to be killed."""
    _signal(process, signal.SIGTERM)
    if wait_gone(process, grace_s):
        return False
    _signal(process, signal.SIGKILL)
    wait_gone(process, 5.0)
    return True


def wait_gone(process: ProcessId, timeout_s: float) -> bool:
    """Wait until the process is gone; False if it still runs after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while alive(process):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_until(
    check: Callable[[], bool], *, timeout_s: float, process: ProcessId | None = None, interval_s: float = 0.2
) -> str | None:
    """Poll ``check`` until it is true; the reason it never was (timeout, or the process exited), or None."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return None
        except Exception:  # not up yet
            pass
        if process is not None and not alive(process):
            return "it exited while starting"
        if time.monotonic() > deadline:
            return f"it was not healthy after {timeout_s:.0f} s"
        time.sleep(interval_s)


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` (so a server can bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str) -> int:
    """A port nobody listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
