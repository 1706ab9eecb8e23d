"""A self-contained HTML report: inline PNG figures, the ensemble statistics, units and references."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

from samem.analysis.positions import Gaps

REFERENCES = (
    "H. Qian, M. P. Sheetz, E. L. Elson, Biophys. J. 60, 910 (1991): MSD variance, Eq. (B4), used as weights.",
    "X. Michalet, Phys. Rev. E 82, 041914 (2010): MSD fit with localisation offset, number of fitted lags.",
    "C. L. Vestergaard, P. C. Blainey, H. Flyvbjerg, Phys. Rev. E 89, 022726 (2014): covariance-based estimator, "
    "Eqs. (14)-(15), and its variance.",
    "A. J. Berglund, Phys. Rev. E 82, 011917 (2010): motion blur in camera-based tracking.",
    "A. Rahman, Phys. Rev. 136, A405 (1964): non-Gaussian parameter.",
    "W. G. Cochran, Biometrics 10, 101 (1954): Q test of one D for all particles.",
)

FIGURES = (
    ("trajectories.png", "Trajectories coloured by time"),
    ("msd.png", "Mean squared displacement"),
    ("vanhove.png", "Displacement distributions (van Hove)"),
    ("vacf.png", "Velocity autocorrelation"),
    ("diffusion.png", "Diffusion coefficient per particle, with the test of one D for all"),
    ("confidence.png", "The model's predicted IoU per particle: where it drops, check the overlay"),
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 10px; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; } img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return html.escape(str(value))


def _row(cells: list[Any], header: bool = False) -> str:
    tag = "th" if header else "td"
    numeric = [not header and isinstance(c, int | float) and not isinstance(c, bool) for c in cells]
    parts = [f"<{tag}{' class=num' if n else ''}>{_fmt(c)}</{tag}>" for c, n in zip(cells, numeric, strict=True)]
    return "<tr>" + "".join(parts) + "</tr>"


def render_report(stats: dict[str, Any], figures: dict[str, bytes]) -> str:
    """HTML text of the report.

    Parameters
    ----------
    stats : dict
        The content of stats.json (see :func:`samem.analysis.writer.stats_dict`).
    figures : dict
        PNG bytes keyed by file name; each is embedded as a base64 data URI.
    """
    e = stats["ensemble"]
    rows = [
        _row(["estimate", "value", "standard error", "unit", "method"], header=True),
        _row(["D (CVE)", e["cve"]["D_nm2_s"], e["cve"]["D_err_nm2_s"], "nm²/s", e["cve"]["method"]]),
        _row(["σ (CVE)", e["cve"]["sigma_nm"], e["cve"]["sigma_err_nm"], "nm", "per axis"]),
        _row(["D (MSD fit)", e["msd_fit"]["D_nm2_s"], e["msd_fit"]["D_err_nm2_s"], "nm²/s", e["msd_fit"]["method"]]),
        _row(["σ (MSD fit)", e["msd_fit"]["sigma_nm"], e["msd_fit"]["sigma_err_nm"], "nm", "from the offset"]),
        _row(["α", e["alpha_fit"]["alpha"], e["alpha_fit"]["alpha_err"], "1", e["alpha_fit"]["method"]]),
        _row(["K", e["alpha_fit"]["K_nm2_s_alpha"], e["alpha_fit"]["K_err_nm2_s_alpha"], "nm²/s^α", ""]),
        _row(["Cochran's Q", e["cve"]["homogeneity_q"], "", f"{e['cve']['homogeneity_dof']} dof",
              f"one D for all particles? p = {_fmt(e['cve']['homogeneity_p'])}"]),
    ]
    vh_rows = [_row(["lag (frames)", "lag (s)", "n", "α₂", "Gaussian σ (nm)", "Laplace b (nm)", "ΔAIC (G − L)",
                     "preferred"], header=True)]
    for v in stats["vanhove"]:
        vh_rows.append(_row([v["lag_frames"], v["lag_s"], v["n"], v["alpha2"], v["gaussian"]["scale_nm"],
                             v["laplace"]["scale_nm"], v["gaussian"]["aic"] - v["laplace"]["aic"], v["preferred"]]))
    p = stats["parameters"]
    gaps = f" {html.escape(Gaps(**stats['gaps']).sentence())}" if stats.get("gaps") else ""
    params = [_row(["parameter", "value"], header=True)] + [_row([k, v]) for k, v in p.items()]
    drift = stats["drift"]
    figs = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(figures[name]).decode("ascii")}" alt="{name}">'
        f"<figcaption>{html.escape(caption)} ({name})</figcaption></figure>"
        for name, caption in FIGURES
        if name in figures
    )
    refs = "".join(f"<li>{html.escape(r)}</li>" for r in REFERENCES)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>samem trajectory analysis</title><style>{STYLE}</style></head>
<body>
<h1>Trajectory analysis</h1>
<p>Input: {_fmt(stats.get("input", "(in memory)"))}. {stats["n_particles"]} particles analysed (of
{p["n_particles_input"]}). Units: lengths nm, times s, MSD nm², D nm²/s, velocities nm/s; σ is the localisation
error per axis. Lags are true frame differences; gaps are never closed.{gaps}</p>
<h2>Ensemble estimates</h2><table>{"".join(rows)}</table>
{"".join(f"<p class=note>Note: {html.escape(note)}</p>" for note in stats.get("notes", []))}
<p>Drift: net ({_fmt(drift["net_x_nm"])}, {_fmt(drift["net_y_nm"])}) nm, mean velocity
({_fmt(drift["velocity_x_nm_s"])}, {_fmt(drift["velocity_y_nm_s"])}) nm/s;
{"subtracted" if p["subtract_drift"] else "not subtracted"}.</p>
<h2>Displacement distributions</h2><table>{"".join(vh_rows)}</table>
<h2>Figures</h2>{figs}
<h2>Parameters</h2><table>{"".join(params)}</table>
<h2>Methods and references</h2><ul>{refs}</ul>
</body></html>
"""
