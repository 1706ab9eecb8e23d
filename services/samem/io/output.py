"""Output directories that are written completely or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from samem.errors import OutputError


def check_writable_dir(path: str | os.PathLike[str]) -> Path:
    """Fail early, with a clear message, if ``path`` cannot become a writable directory."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputError(f"output path {str(target)!r} exists and is not a directory")
    probe = target
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"output directory {str(target)!r} is not writable ({str(probe)!r} denies writing)")
    return target


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a staging directory whose files land in ``path`` only if the block succeeds.

    Files are written into a hidden sibling directory. On success a new ``path`` is created by one rename, or,
    when ``path`` already exists, each staged file replaces its namesake there by an atomic rename. On failure the
    staging directory is removed and ``path`` is left exactly as it was.
    """
    target = check_writable_dir(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        if not target.exists():
            staging.rename(target)
            return
        for source in sorted(staging.rglob("*")):
            if source.is_file():
                destination = target / source.relative_to(staging)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, destination)
    except OSError as e:
        raise OutputError(f"could not move results into {str(target)!r}: {e}") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a temporary sibling of ``path``, sync it, then rename it over ``path``.

    A failed write (a full disk, an exception in ``write``) removes the temporary file and leaves any previous
    ``path`` intact; :class:`OutputError` says so for operating-system errors.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        previous = "the previous file is intact" if path.exists() else "nothing was written"
        raise OutputError(f"could not write {str(path)!r}: {e.strerror or e}; {previous}") from e
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
