"""The run's JSON-lines logs (one object per line), truncated to a step when a run resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from samem.errors import OutputError

TRAIN_LOG = "log.jsonl"  # one line per step: step, loss terms, train IoU, lr, seconds
VAL_LOG = "val.jsonl"  # one line per validation: step, val_iou (mean J), seconds


class JsonlLog:
    """Appends records to ``path``, flushing each line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[dict[str, Any]]:
        """Every record written so far."""
        if not self.path.exists():
            return []
        with self.path.open() as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def truncate_after(self, step: int) -> None:
        """Drop the records of steps after ``step`` (written after the checkpoint being resumed)."""
        kept = [r for r in self.read() if r["step"] <= step]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with tmp.open("w") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in kept)
            os.replace(tmp, self.path)
        except OSError as e:
            raise OutputError(f"could not rewrite {str(self.path)!r}: {e.strerror or e}") from e

    def append(self, record: dict[str, Any]) -> None:
        """Write one record."""
        try:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
        except OSError as e:
            raise OutputError(f"could not write {str(self.path)!r}: {e.strerror or e}") from e
