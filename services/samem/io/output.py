"""Output directories that are written completely or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
