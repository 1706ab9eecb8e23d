"""Prompts as the dashboard holds them: plain box and point records, and their conversions.

Three coordinate systems meet here: the canvas (display pixels, origin at the top-left corner of the image), the
video (input pixels, x = column, pixel centres at integer coordinates, so the image spans -0.5 .. W - 0.5) and the
service's prompts (video pixels). ``scale`` is display pixels per video pixel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from samem.tracking.prompts import PromptSpec

from .colors import particle_color

BOX_COLUMNS = ("particle", "frame", "x0", "y0", "x1", "y1")
POINT_COLUMNS = ("particle", "frame", "x", "y", "positive")
POSITIVE_COLOR, NEGATIVE_COLOR = "#00e676", "#ff1744"
DECIMALS = 1


def canvas_to_video(u: float, scale: float) -> float:
    """A canvas coordinate (display pixels from the image corner) in video pixels."""
    return round(u / scale - 0.5, DECIMALS)


def video_to_canvas(x: float, scale: float) -> float:
    """A video pixel coordinate on the canvas."""
    return (x + 0.5) * scale


def parse_particle(label: object, default: int) -> int:
    """A box label as a particle id (1-65535), or ``default`` when the label is not one."""
    try:
        value = int(str(label).strip())
    except ValueError:
        return default
    return value if 1 <= value <= 65535 else default


def canvas_objects(json_data: dict[str, Any] | None, *, frame: int, scale: float, default_particle: int,
                   boxes_on_frame: Sequence[dict[str, Any]] = ()) -> tuple[list[dict], list[dict]]:
    """Boxes and points drawn on the canvas of ``frame``, in video pixels.

    A box keeps the particle id of its label; a point belongs to the particle whose box (on this frame) contains
    it, else to ``default_particle``. Points drawn in :data:`NEGATIVE_COLOR` are negative clicks.
    """
    boxes, points = [], []
    for obj in (json_data or {}).get("objects", []):
        kind = str(obj.get("type", "")).lower()
        if kind in ("labeledrect", "rect"):
            sx, sy = obj.get("scaleX", 1) or 1, obj.get("scaleY", 1) or 1
            width, height = obj.get("width", 0) * sx, obj.get("height", 0) * sy
            left = obj.get("left", 0) - {"center": 0.5, "right": 1.0}.get(obj.get("originX", "left"), 0.0) * width
            top = obj.get("top", 0) - {"center": 0.5, "bottom": 1.0}.get(obj.get("originY", "top"), 0.0) * height
            if width < 1 or height < 1:
                continue  # a click, not a box
            x0, x1 = sorted((canvas_to_video(left, scale), canvas_to_video(left + width, scale)))
            y0, y1 = sorted((canvas_to_video(top, scale), canvas_to_video(top + height, scale)))
            particle = parse_particle(obj.get("label", ""), default_particle)
            boxes.append({"particle": particle, "frame": frame, "x0": x0, "y0": y0, "x1": x1, "y1": y1})
        elif kind == "circle":
            radius = obj.get("radius", 0) * (obj.get("scaleX", 1) or 1)
            stroke = obj.get("strokeWidth", 0) or 0
            cx = obj.get("left", 0) + (radius + stroke / 2 if obj.get("originX", "left") == "left" else 0.0)
            cy = obj.get("top", 0) + (radius + stroke / 2 if obj.get("originY", "center") == "top" else 0.0)
            x, y = canvas_to_video(cx, scale), canvas_to_video(cy, scale)
            owner = next(
                (b["particle"] for b in list(boxes) + list(boxes_on_frame)
                 if b["x0"] <= x <= b["x1"] and b["y0"] <= y <= b["y1"]),
                default_particle,
            )  # fmt: skip
            positive = str(obj.get("stroke", "")).lower() != NEGATIVE_COLOR
            points.append({"particle": owner, "frame": frame, "x": x, "y": y, "positive": positive})
    return boxes, points


def drawing(boxes: Iterable[dict[str, Any]], points: Iterable[dict[str, Any]], scale: float) -> dict[str, Any]:
    """The canvas ``initial_drawing`` showing these boxes (labelled, in their particle's colour) and points."""
    objects: list[dict[str, Any]] = []
    for b in boxes:
        objects.append({
            "type": "LabeledRect", "label": str(b["particle"]),
            "left": video_to_canvas(b["x0"], scale), "top": video_to_canvas(b["y0"], scale),
            "width": (b["x1"] - b["x0"]) * scale, "height": (b["y1"] - b["y0"]) * scale,
            "originX": "left", "originY": "top", "scaleX": 1, "scaleY": 1, "angle": 0,
            "stroke": particle_color(b["particle"]), "strokeWidth": 2, "fill": "rgba(0, 0, 0, 0)",
            "lockRotation": True, "strokeUniform": True,
        })  # fmt: skip
    for p in points:
        objects.append({
            "type": "Circle", "left": video_to_canvas(p["x"], scale), "top": video_to_canvas(p["y"], scale),
            "originX": "center", "originY": "center", "radius": 4, "strokeWidth": 2,
            "stroke": POSITIVE_COLOR if p["positive"] else NEGATIVE_COLOR,
            "fill": POSITIVE_COLOR if p["positive"] else NEGATIVE_COLOR, "scaleX": 1, "scaleY": 1,
        })  # fmt: skip
    return {"objects": objects}


def same(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], tolerance: float = 0.11) -> bool:
    """Whether two lists of boxes (or points) are equal, coordinates within ``tolerance`` video pixels."""
    if len(a) != len(b):
        return False
    for p, q in zip(a, b, strict=True):
        if p.keys() != q.keys():
            return False
        for key in p:
            if isinstance(p[key], float) or isinstance(q[key], float):
                if abs(float(p[key]) - float(q[key])) > tolerance:
                    return False
            elif p[key] != q[key]:
                return False
    return True


def next_particle(boxes: Iterable[dict[str, Any]]) -> int:
    """The smallest particle id not used yet."""
    used = {int(b["particle"]) for b in boxes}
    candidate = 1
    while candidate in used:
        candidate += 1
    return candidate


def boxes_frame(boxes: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The boxes as a table (one row per box) for the editor."""
    return pd.DataFrame(list(boxes), columns=list(BOX_COLUMNS)).astype(
        {"particle": "int64", "frame": "int64", "x0": "float64", "y0": "float64", "x1": "float64", "y1": "float64"}
    )


def points_frame(points: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The points as a table for the editor."""
    return pd.DataFrame(list(points), columns=list(POINT_COLUMNS)).astype(
        {"particle": "int64", "frame": "int64", "x": "float64", "y": "float64", "positive": "bool"}
    )


def records(table: pd.DataFrame, columns: Sequence[str], *, n_frames: int, width: int, height: int) -> list[dict]:
    """Rows of an edited table back as records, checked: complete rows, ids 1-65535, frames and coordinates inside.

    Raises :class:`ValueError` naming the first bad row.
    """
    out = []
    for number, row in enumerate(table.to_dict(orient="records"), start=1):
        if any(pd.isna(row.get(c)) for c in columns):
            continue  # a half-filled new row: ignore until complete
        record: dict[str, Any] = {}
        for c in columns:
            value = row[c]
            record[c] = bool(value) if c == "positive" else int(value) if c in ("particle", "frame") else float(value)
        if not 1 <= record["particle"] <= 65535:
            raise ValueError(f"row {number}: particle id {record['particle']} must lie between 1 and 65535")
        if not 0 <= record["frame"] < n_frames:
            raise ValueError(f"row {number}: frame {record['frame']} is outside 0..{n_frames - 1}")
        xs = [record[c] for c in columns if c.startswith("x")]
        ys = [record[c] for c in columns if c.startswith("y")]
        if any(not -0.5 <= x <= width - 0.5 for x in xs) or any(not -0.5 <= y <= height - 0.5 for y in ys):
            raise ValueError(f"row {number}: coordinates lie outside the {width} x {height} frame")
        if "x1" in record and (record["x1"] <= record["x0"] or record["y1"] <= record["y0"]):
            raise ValueError(f"row {number}: a box needs x1 > x0 and y1 > y0")
        out.append(record)
    return out


def prompt_specs(boxes: Sequence[dict[str, Any]], points: Sequence[dict[str, Any]]) -> list[PromptSpec]:
    """One :class:`PromptSpec` per (particle, frame): its box (if any) and its points.

    Two boxes for the same particle and frame raise :class:`ValueError`.
    """
    grouped: dict[tuple[int, int], dict[str, Any]] = {}
    for b in boxes:
        key = (int(b["particle"]), int(b["frame"]))
        if key in grouped:
            raise ValueError(f"particle {key[0]} has two boxes on frame {key[1]}; give one of them another id")
        grouped[key] = {"box": (b["x0"], b["y0"], b["x1"], b["y1"]), "points": [], "labels": []}
    for p in points:
        entry = grouped.setdefault((int(p["particle"]), int(p["frame"])), {"box": None, "points": [], "labels": []})
        entry["points"].append((p["x"], p["y"]))
        entry["labels"].append(1 if p["positive"] else 0)
    return [
        PromptSpec(particle=particle, frame=frame, box=entry["box"], points=tuple(entry["points"]),
                   labels=tuple(entry["labels"]))
        for (particle, frame), entry in sorted(grouped.items())
    ]  # fmt: skip


def from_messages(prompts: Iterable[Any]) -> tuple[list[dict], list[dict]]:
    """Boxes and points from the service's ``Prompt`` messages."""
    boxes, points = [], []
    for p in prompts:
        if p.HasField("box"):
            boxes.append({"particle": p.particle, "frame": p.frame, "x0": p.box.x0, "y0": p.box.y0,
                          "x1": p.box.x1, "y1": p.box.y1})  # fmt: skip
        for q in p.points:
            points.append({"particle": p.particle, "frame": p.frame, "x": q.x, "y": q.y, "positive": q.positive})
    return boxes, points
