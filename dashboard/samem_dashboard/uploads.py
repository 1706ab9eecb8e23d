"""Files a user uploads through the browser: their calibration from metadata, and local copies to send.

The browser hands the dashboard the bytes; the dashboard keeps a copy (keyed by SHA-256) that the client's chunked
upload sends, and reads the file's metadata with the engine's own readers (:mod:`samem.io.video`) to prefill the
calibration. Nothing here reads the service's storage.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from samem.io.video import VideoInfo, open_video


@dataclass(frozen=True, kw_only=True)
class Calibration:
    """Pixel size (nm) and frame rate (1/s) from a file's metadata; ``None`` where the file does not say."""

    px_nm: float | None
    fps: float | None


def calibration(info: VideoInfo) -> Calibration:
    """The calibration a reader found in the file."""
    fps = 1.0 / info.frame_interval_s if info.frame_interval_s else None
    return Calibration(px_nm=info.px_nm or None, fps=fps)


def probe(path: Path) -> VideoInfo:
    """Open a video just to read its size and metadata (raises :class:`samem.errors.InputError` if unreadable)."""
    with open_video(path) as reader:
        return reader.info


class FileCache:
    """Local copies of uploaded video files: ``<root>/<sha256>/<file name>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def store(self, name: str, data: bytes) -> Path:
        """Keep ``data`` under its SHA-256 with its file name (the suffix picks the reader); return the path."""
        digest = hashlib.sha256(data).hexdigest()
        folder = self.root / digest
        target = folder / Path(name).name
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{target.name}.partial"
            partial.write_bytes(data)
            partial.replace(target)
        return target

    def find(self, sha256: str) -> Path | None:
        """The local copy of a file with this SHA-256, if the dashboard has one."""
        folder = self.root / sha256
        if not sha256 or not folder.is_dir():
            return None
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        return files[0] if files else None

    def discard(self, path: Path) -> None:
        """Forget a local copy (when its upload failed or its video was deleted)."""
        if path.parent.parent == self.root:
            shutil.rmtree(path.parent, ignore_errors=True)
