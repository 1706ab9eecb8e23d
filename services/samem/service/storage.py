"""Video files on the shared storage (a directory; a ReadWriteMany volume in a cluster).

Uploads are written to ``incoming/`` and renamed into ``uploads/<user>/<video id>/`` only once complete, checked
(size, SHA-256) and readable as a video: a broken upload never becomes a video.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from samem.errors import InputError
from samem.io.video import VideoInfo, open_video
from samem.service.errors import NotFound, ResourceExhausted

INCOMING, UPLOADS = "incoming", "uploads"


@dataclass(frozen=True, kw_only=True)
class StoredFile:
    """A video file on the storage, with what its reader says about it."""

    path: str  # relative to the root
    size_bytes: int
    sha256: str
    info: VideoInfo


def safe_filename(name: str) -> str:
    """The base name of an uploaded file, checked (its suffix picks the reader)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    if not base or base in (".", "..") or len(base) > 200 or any(ord(c) < 32 for c in base):
        raise InputError(f"upload file name {name!r} is not a usable file name")
    return base


class Storage:
    """The shared directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        (self.root / INCOMING).mkdir(parents=True, exist_ok=True)
        (self.root / UPLOADS).mkdir(parents=True, exist_ok=True)

    def path(self, relative: str) -> Path:
        """Absolute path of a stored file."""
        return self.root / relative

    def receive(
        self,
        chunks: Iterable[bytes],
        *,
        user: str,
        video_id: str,
        filename: str,
        size_bytes: int,
        sha256: str = "",
        max_bytes: int,
    ) -> StoredFile:
        """Write an upload atomically; any failure (including a broken stream) leaves nothing behind."""
        name = safe_filename(filename)
        if size_bytes <= 0:
            raise InputError("the upload header must give the file's size_bytes (> 0)")
        if size_bytes > max_bytes:
            raise ResourceExhausted(f"upload of {size_bytes} bytes exceeds the limit of {max_bytes} bytes")
        staging = Path(tempfile.mkdtemp(prefix=f"{video_id}-", dir=self.root / INCOMING))
        try:
            digest, written = hashlib.sha256(), 0
            with open(staging / name, "wb") as handle:
                for chunk in chunks:
                    written += len(chunk)
                    if written > size_bytes:
                        raise InputError(f"upload is longer than the announced {size_bytes} bytes")
                    digest.update(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            if written != size_bytes:
                raise InputError(f"upload ended after {written} of the announced {size_bytes} bytes")
            if sha256 and digest.hexdigest() != sha256.lower():
                raise InputError(f"upload SHA-256 {digest.hexdigest()} does not match the announced {sha256}")
            info = self._probe(staging / name, name)
            final = self.root / UPLOADS / user / video_id
            final.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        relative = str((final / name).relative_to(self.root))
        info = dataclasses.replace(info, path=final / name)
        return StoredFile(path=relative, size_bytes=written, sha256=digest.hexdigest(), info=info)

    def register(self, relative: str) -> StoredFile:
        """A file already on the storage (outside the service's own folders)."""
        if not relative or "\0" in relative or len(relative) > 4096:
            raise InputError(f"path {relative[:200]!r} is not a usable path on the shared storage")
        try:
            candidate = (self.root / relative).resolve()
            candidate.exists()
        except (OSError, ValueError) as e:
            raise InputError(f"path {relative[:200]!r} is not a usable path on the shared storage: {e}") from e
        if not candidate.is_relative_to(self.root) or candidate == self.root:
            raise InputError(f"path {relative!r} is outside the shared storage")
        inside = candidate.relative_to(self.root).parts[0]
        if inside in (INCOMING, UPLOADS):
            raise InputError(f"path {relative!r} lies in the service's {inside}/ folder; register your own files")
        if not candidate.exists():
            raise NotFound(f"no file {relative!r} on the shared storage")
        digest = hashlib.sha256()
        size = 0
        if candidate.is_file():
            with open(candidate, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
                    size += len(block)
        path = str(candidate.relative_to(self.root))
        return StoredFile(path=path, size_bytes=size, sha256=digest.hexdigest(), info=self.info(path))

    def info(self, relative: str) -> VideoInfo:
        """What the reader says about a stored video."""
        return self._probe(self.path(relative), relative)

    @staticmethod
    def _probe(path: Path, name: str) -> VideoInfo:
        try:
            with open_video(path) as reader:
                return reader.info
        except InputError as e:
            raise InputError(f"{name!r} is not a readable video: {e}") from e

    def delete_upload(self, relative: str) -> None:
        """Remove an uploaded video's folder."""
        folder = self.path(relative).parent
        if folder.is_relative_to(self.root / UPLOADS) and folder != self.root / UPLOADS:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(folder)
