"""Write a benchmark: markdown and self-contained HTML tables, a J&F / HOTA bar plot, CSV and JSON, all or nothing.

Files in the output directory (:data:`REPORT_FILES`): ``results.md`` (the table, the goals with PASS/FAIL, notes,
per-video scores), ``readme_table.md`` (the table alone, as in the README), ``report.html`` (the same with the plot
inline), ``jf_hota.png``, ``summary.csv``, ``per_video.csv`` and ``results.json`` (settings, tuning, goals).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from samem.evaluate.benchmark import BenchmarkResult
from samem.evaluate.goals import GoalCheck, check_goals
from samem.io.output import atomic_output_dir

REPORT_FILES = (
    "results.md", "readme_table.md", "report.html", "jf_hota.png", "summary.csv", "per_video.csv", "results.json",
)  # fmt: skip

#: (summary column, table header, scale, decimals); scores in [0, 1] are shown x 100 as DAVIS does.
COLUMNS = (
    ("label", "method", None, None),
    ("thickness_nm", "water (nm)", 1.0, 0),
    ("snr", "SNR", 1.0, 2),
    ("J", "J", 100.0, 1),
    ("F", "F", 100.0, 1),
    ("J&F", "J&F", 1.0, 1),
    ("Dice", "Dice", 100.0, 1),
    ("HOTA", "HOTA", 100.0, 1),
    ("IDF1", "IDF1", 100.0, 1),
    ("detection_recall", "recall", 100.0, 1),
    ("id_switches", "ID sw.", 1.0, 0),
    ("centroid_rmse_px", "RMSE (px)", 1.0, 2),
    ("D_nm2_s", "D (nm²/s)", 1.0, 2),
    ("D_error_pct", "D error (%)", 1.0, 1),
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.PASS { color: #176f2c; font-weight: bold; } .FAIL { color: #b00020; font-weight: bold; } img { max-width: 100%; }
"""


def _cell(value: Any, scale: float | None, decimals: int | None) -> str:
    if scale is None:
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        return "n/a"
    return f"{number * scale:.{decimals}f}"


def table_rows(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of the method x thickness table."""
    header = [title for _, title, _, _ in COLUMNS]
    rows = [[_cell(row[key], scale, decimals) for key, _, scale, decimals in COLUMNS] for _, row in summary.iterrows()]
    return header, rows


def markdown_table(summary: pd.DataFrame) -> str:
    """The method x thickness table in GitHub markdown (numbers right-aligned)."""
    header, rows = table_rows(summary)
    align = ["---" if scale is None else "---:" for _, _, scale, _ in COLUMNS]
    lines = ["| " + " | ".join(cells) + " |" for cells in (header, align, *rows)]
    return "\n".join(lines) + "\n"


def _per_video_markdown(per_video: pd.DataFrame) -> str:
    keys = ["method", "video", "snr", "J&F", "HOTA", "IDF1", "id_switches", "centroid_rmse_px",
            "trajectory_rmse_px", "fps"]  # fmt: skip
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for _, row in per_video.iterrows():
        cells = [f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _goal_lines(goals: list[GoalCheck]) -> str:
    return "".join(f"- **{g.verdict}** {g.goal} ({g.detail})\n" for g in goals)


def bar_plot_png(summary: pd.DataFrame) -> bytes:
    """Grouped bars of J&F and HOTA (both x 100) per thickness, one colour per method; PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    methods = list(dict.fromkeys(summary["label"]))
    thicknesses = sorted(set(summary["thickness_nm"]))
    fig = Figure(figsize=(9.0, 4.2), dpi=120, layout="constrained")
    width = 0.8 / max(len(methods), 1)
    positions = np.arange(len(thicknesses))
    for ax, key, scale, title in zip(fig.subplots(1, 2), ("J&F", "HOTA"), (1.0, 100.0), ("J&F", "HOTA x 100"),
                                     strict=True):  # fmt: skip
        for k, method in enumerate(methods):
            rows = summary[summary["label"] == method].set_index("thickness_nm")
            values = [float(rows[key].get(t, math.nan)) * scale for t in thicknesses]
            ax.bar(positions + (k - (len(methods) - 1) / 2) * width, np.nan_to_num(values), width, label=method)
        ax.set_xticks(positions, [f"{t:g} nm" for t in thicknesses])
        ax.set_xlabel("water thickness")
        ax.set_ylim(0, 100)
        ax.set_title(title)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=max(1, len(methods)), fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    cells = ["".join(f"<td{'' if i == 0 else ' class=num'}>{html.escape(c)}</td>" for i, c in enumerate(r))
             for r in rows]  # fmt: skip
    body = "".join(f"<tr>{row}</tr>" for row in cells)
    return f"<table>{head}{body}</table>"


def render_html(
    result: BenchmarkResult, goals: list[GoalCheck], description: str, notes: list[str], plot: bytes
) -> str:
    """The self-contained HTML report (the plot as a data URI)."""
    header, rows = table_rows(result.summary)
    goal_items = "".join(
        f"<li><span class={g.verdict.replace(' ', '_')}>{g.verdict}</span> {html.escape(g.goal)}"
        f" ({html.escape(g.detail)})</li>"
        for g in goals
    )
    note_items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    image = base64.b64encode(plot).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>samem eval</title><style>{STYLE}</style></head>
<body>
<h1>Segmentation and tracking on simulated LPTEM test sets</h1>
<p>{html.escape(description)}</p>
{_html_table(header, rows)}
<p>{html.escape(LEGEND)}</p>
<h2>Goals</h2><ul>{goal_items}</ul>
<figure><img src="data:image/png;base64,{image}" alt="J&amp;F and HOTA per method and thickness"></figure>
<h2>Notes</h2><ul>{note_items or "<li>none</li>"}</ul>
</body></html>
"""


LEGEND = (
    "J, F, Dice, HOTA, IDF1 and detection recall x 100, averaged over the test videos of a thickness; ID switches"
    " summed; RMSE = centroid error of matched masks (px); D from the method's pooled trajectories by the"
    " covariance-based estimator, error relative to the simulator's D."
)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(result: BenchmarkResult, settings: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """Write :data:`REPORT_FILES` into ``out_dir`` atomically; ``settings`` must hold a ``description`` line."""
    goals = check_goals(result.summary)
    plot = bar_plot_png(result.summary)
    table = markdown_table(result.summary)
    floors = result.summary.drop_duplicates("thickness_nm")[["thickness_nm", "D_floor_pct"]]
    floor_text = ", ".join(f"{t:g} nm: {f:+.1f} %" for t, f in floors.itertuples(index=False))
    notes = [
        *settings.get("notes", []),
        *result.notes,
        f"D error of the estimator on the true positions (the floor set by the number of steps): {floor_text}",
    ]
    markdown = (
        f"# samem eval\n\n{settings['description']}\n\n{table}\n{LEGEND}\n\n## Goals\n\n{_goal_lines(goals)}\n"
        f"## Notes\n\n" + "".join(f"- {n}\n" for n in notes) + "\n## Per video\n\n"
        + _per_video_markdown(result.per_video)
    )  # fmt: skip
    payload = {
        "settings": settings, "tuning": result.tuning, "notes": notes,
        "goals": [{"goal": g.goal, "verdict": g.verdict, "detail": g.detail} for g in goals],
        "summary": result.summary.to_dict(orient="records"), "per_video": result.per_video.to_dict(orient="records"),
    }  # fmt: skip
    with atomic_output_dir(out_dir) as staging:
        (staging / "results.md").write_text(markdown, encoding="utf-8")
        (staging / "readme_table.md").write_text(table, encoding="utf-8")
        (staging / "report.html").write_text(
            render_html(result, goals, settings["description"], notes, plot), encoding="utf-8"
        )
        (staging / "jf_hota.png").write_bytes(plot)
        result.summary.to_csv(staging / "summary.csv", index=False)
        result.per_video.to_csv(staging / "per_video.csv", index=False)
        (staging / "results.json").write_text(json.dumps(_json_safe(payload), indent=2, allow_nan=False) + "\n")
    return Path(out_dir)
