"""Prompts as users write them: ``--box``, ``--point`` and a JSON prompt file."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from samem.errors import InputError


@dataclass(frozen=True, kw_only=True)
class PromptSpec:
    """One particle's prompt on one frame, in input pixels (x = column, y = row)."""

    particle: int
    frame: int
    box: tuple[float, float, float, float] | None = None
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()


def _numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{what} {text!r} must be {count} comma-separated numbers") from None
    if len(values) != count:
        raise InputError(f"{what} {text!r} must be {count} comma-separated numbers, got {len(values)}")
    return values


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``X0,Y0,X1,Y1`` in input pixels."""
    x0, y0, x1, y1 = _numbers(text, 4, "box")
    return x0, y0, x1, y1


def parse_point(text: str) -> tuple[int, tuple[float, float], int]:
    """``ID:X,Y`` (positive) or ``ID:X,Y:0`` (negative) -> (particle, (x, y), label)."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise InputError(f"point {text!r} must look like ID:X,Y or ID:X,Y:LABEL")
    try:
        particle = int(parts[0])
        label = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise InputError(f"point {text!r}: particle id and label must be integers") from None
    if label not in (0, 1):
        raise InputError(f"point {text!r}: label must be 1 (positive) or 0 (negative)")
    x, y = _numbers(parts[1], 2, "point")
    return particle, (x, y), label


def prompts_from_options(
    boxes: Sequence[str], points: Sequence[str], *, frame: int
) -> list[PromptSpec]:
    """``--box`` values become particles 1..N; ``--point ID:...`` values join particle ID's prompt."""
    by_particle: dict[int, PromptSpec] = {}
    for particle, text in enumerate(boxes, start=1):
        by_particle[particle] = PromptSpec(particle=particle, frame=frame, box=parse_box(text))
    for text in points:
        particle, xy, label = parse_point(text)
        old = by_particle.get(particle, PromptSpec(particle=particle, frame=frame))
        by_particle[particle] = PromptSpec(
            particle=particle, frame=frame, box=old.box, points=(*old.points, xy), labels=(*old.labels, label)
        )
    return list(by_particle.values())


def read_prompt_file(path: str | os.PathLike[str]) -> list[PromptSpec]:
    """Read prompts from a JSON list of objects.

    Each is ``{"particle": 1, "frame": 0, "box": [x0, y0, x1, y1]}``, optionally with ``"points": [[x, y], ...]``
    and ``"labels": [1, ...]`` (1 positive, 0 negative; default all positive).
    """
    source = Path(path)
    try:
        entries = json.loads(source.read_text())
    except FileNotFoundError:
        raise InputError(f"prompt file {str(source)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"prompt file {str(source)!r} is not valid JSON: {e}") from e
    if not isinstance(entries, list) or not entries:
        raise InputError(f"prompt file {str(source)!r} must hold a non-empty JSON list of prompts")
    prompts = []
    for index, entry in enumerate(entries):
        where = f"prompt {index} in {source.name}"
        if not isinstance(entry, dict) or "particle" not in entry:
            raise InputError(f"{where} must be an object with at least 'particle' and a 'box' or 'points'")
        try:
            points = tuple((float(x), float(y)) for x, y in entry.get("points", []))
            labels = tuple(int(v) for v in entry.get("labels", [1] * len(points)))
            box = entry.get("box")
            prompts.append(
                PromptSpec(
                    particle=int(entry["particle"]),
                    frame=int(entry.get("frame", 0)),
                    box=None if box is None else parse_box(",".join(str(v) for v in box)),
                    points=points,
                    labels=labels,
                )
            )
        except (TypeError, ValueError) as e:
            raise InputError(f"{where} has malformed values: {e}") from e
    return prompts
