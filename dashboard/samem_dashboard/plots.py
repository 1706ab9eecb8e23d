"""Interactive figures (plotly) of the service's results, and a table.

Trajectories, MSD, van Hove, VACF, D per particle, and the model's predicted IoU per particle.

Inputs are the CSV tables and stats.json of ``samem analyze``; units nm and s throughout.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .colors import particle_color

TEMPLATE = "plotly_white"


def trajectories_figure(table: pd.DataFrame, *, px_nm: float, fps: float) -> go.Figure:
    """Each particle's path in nm, points coloured by time (s), line in the particle's colour, y down as on screen.

    ``table`` is trajectories.csv (pixels); rows with ``present`` false are gaps and are not drawn.
    """
    data = table
    if "present" in data:
        data = data[data["present"].astype(str).str.lower().isin(("true", "1"))]
    fig = go.Figure()
    t_max = float(data["frame"].max()) / fps if len(data) else 1.0
    for particle, rows in data.groupby("particle"):
        rows = rows.sort_values("frame")
        x, y, t = rows["x"] * px_nm, rows["y"] * px_nm, rows["frame"] / fps
        color = particle_color(int(particle))
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines", line={"color": color, "width": 1.5}, opacity=0.55,
            name=f"particle {particle}", legendgroup=str(particle), hoverinfo="skip",
        ))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="markers", legendgroup=str(particle), showlegend=False, name=f"particle {particle}",
            marker={"color": t, "colorscale": "Viridis", "cmin": 0.0, "cmax": max(t_max, 1e-9), "size": 5,
                    "colorbar": {"title": {"text": "time (s)"}, "thickness": 14}},
            customdata=np.stack([rows["frame"], t], axis=1),
            hovertemplate=f"particle {particle}<br>x %{{x:.1f}} nm, y %{{y:.1f}} nm<br>"
                          "frame %{customdata[0]:.0f}, t %{customdata[1]:.2f} s<extra></extra>",
        ))  # fmt: skip
        fig.add_annotation(x=x.iloc[0], y=y.iloc[0], text=f"<b>{particle}</b>", showarrow=False, yshift=10,
                           font={"color": "#111"}, bgcolor=color, opacity=0.9)  # fmt: skip
    fig.update_yaxes(autorange="reversed", scaleanchor="x", scaleratio=1, title="y (nm)")
    fig.update_xaxes(title="x (nm)")
    fig.update_layout(template=TEMPLATE, title="Trajectories (colour: time)", height=560,
                      legend={"orientation": "h", "y": -0.15}, margin={"t": 50})  # fmt: skip
    return fig


def msd_figure(msd: pd.DataFrame, stats: dict[str, Any]) -> go.Figure:
    """MSD vs lag time, log-log: particles thin in their colours, ensemble bold, the linear and power-law fits."""
    fig = go.Figure()
    tau = msd["lag_s"].to_numpy(float)
    for column in [c for c in msd.columns if c.startswith("msd_nm2_p")]:
        particle = int(column.removeprefix("msd_nm2_p"))
        fig.add_trace(go.Scatter(x=tau, y=msd[column], mode="lines", name=f"particle {particle}", opacity=0.6,
                                 line={"color": particle_color(particle), "width": 1}))  # fmt: skip
    fig.add_trace(go.Scatter(x=tau, y=msd["msd_nm2"], mode="lines+markers", name="ensemble",
                             line={"color": "#1f3b73", "width": 3}, marker={"size": 5}))  # fmt: skip
    ensemble, parameters = stats.get("ensemble", {}), stats.get("parameters", {})
    linear, power = ensemble.get("msd_fit", {}), ensemble.get("alpha_fit", {})
    d, sigma2 = _num(linear.get("D_nm2_s")), _num(linear.get("sigma2_nm2"))
    if math.isfinite(d) and math.isfinite(sigma2):
        n = int(linear.get("n_lags") or 4)
        r, dt = _num(parameters.get("motion_blur_R"), 0.0), _num(parameters.get("dt_s"), 0.0)
        shown = tau[: max(n, 1) * 4]
        fig.add_trace(go.Scatter(
            x=shown, y=4 * d * shown + 4 * (sigma2 - 2 * r * dt * d), mode="lines", line={"dash": "dash",
            "color": "#d62728"}, name=f"linear fit, {n} lags: D = {d:.3g} nm²/s",
        ))  # fmt: skip
    alpha, k = _num(power.get("alpha")), _num(power.get("K_nm2_s_alpha"))
    if math.isfinite(alpha) and math.isfinite(k):
        n = int(power.get("n_lags") or 10)
        shown = tau[:n]
        fig.add_trace(go.Scatter(
            x=shown, y=4 * k * shown**alpha + _num(power.get("offset_nm2"), 0.0), mode="lines",
            line={"dash": "dot", "color": "#2ca02c", "width": 3}, name=f"power-law fit: α = {alpha:.3f}",
        ))  # fmt: skip
    fig.update_xaxes(type="log", title="lag time τ (s)", dtick="D2")
    fig.update_yaxes(type="log", title="MSD (nm²)", dtick="D2")
    fig.update_layout(template=TEMPLATE, title="Mean squared displacement", height=480, margin={"t": 50})
    return fig


def vanhove_figure(vanhove: pd.DataFrame, stats: dict[str, Any]) -> go.Figure:
    """Displacement distributions per lag with the Gaussian and Laplace maximum-likelihood fits (log density)."""
    lags = sorted(vanhove["lag_frames"].unique())
    fits = {int(v["lag_frames"]): v for v in stats.get("vanhove", [])}
    titles = []
    for lag in lags:
        v = fits.get(int(lag), {})
        titles.append(f"lag {lag} fr ({_num(v.get('lag_s')):.3g} s), α₂ = {_num(v.get('alpha2')):.2f}, "
                      f"{v.get('preferred', '?')} preferred")  # fmt: skip
    fig = make_subplots(rows=1, cols=max(len(lags), 1), subplot_titles=titles or None, shared_yaxes=True)
    for i, lag in enumerate(lags, start=1):
        rows = vanhove[vanhove["lag_frames"] == lag]
        data = rows[rows["density_per_nm"] > 0]
        first = i == 1
        fig.add_trace(go.Bar(x=data["bin_center_nm"], y=data["density_per_nm"], width=data["bin_width_nm"],
                             marker={"color": "#9aa5b1"}, name="data", showlegend=first, legendgroup="data"),
                      row=1, col=i)  # fmt: skip
        fig.add_trace(go.Scatter(x=rows["bin_center_nm"], y=rows["gaussian_pdf_per_nm"], mode="lines",
                                 line={"color": "#1f77b4", "width": 2}, name="Gaussian fit", showlegend=first,
                                 legendgroup="g"), row=1, col=i)  # fmt: skip
        fig.add_trace(go.Scatter(x=rows["bin_center_nm"], y=rows["laplace_pdf_per_nm"], mode="lines",
                                 line={"color": "#d62728", "width": 2, "dash": "dash"}, name="Laplace fit",
                                 showlegend=first, legendgroup="l"), row=1, col=i)  # fmt: skip
        fig.update_xaxes(title="Δx, Δy (nm)", row=1, col=i)
    positive = vanhove["density_per_nm"][vanhove["density_per_nm"] > 0]
    low, high = (positive.min() / 3, positive.max() * 3) if len(positive) else (1e-6, 1.0)
    fig.update_yaxes(type="log", range=[math.log10(low), math.log10(high)], exponentformat="power")
    fig.update_yaxes(title="density (1/nm)", row=1, col=1)
    fig.update_layout(template=TEMPLATE, title="Displacement distributions (van Hove)", height=420, bargap=0,
                      margin={"t": 80}, legend={"orientation": "h", "y": -0.2})  # fmt: skip
    fig.update_annotations(font_size=11)
    return fig


def vacf_figure(vacf: pd.DataFrame) -> go.Figure:
    """Normalised velocity autocorrelation C(τ)/C(0) vs lag time."""
    fig = go.Figure(go.Scatter(x=vacf["lag_s"], y=vacf["vacf_normalised"], mode="lines+markers",
                               line={"color": "#1f77b4"}, name="C(τ)/C(0)",
                               customdata=vacf["n_pairs"], hovertemplate="τ %{x:.3g} s: %{y:.3f} "
                               "(%{customdata} pairs)<extra></extra>"))  # fmt: skip
    fig.add_hline(y=0.0, line={"color": "#888", "width": 1})
    fig.update_xaxes(title="lag time τ (s)")
    fig.update_yaxes(title="C(τ)/C(0)")
    fig.update_layout(template=TEMPLATE, title="Velocity autocorrelation, v = Δr/Δt", height=400, margin={"t": 50})
    return fig


def diffusion_figure(particles: pd.DataFrame, stats: dict[str, Any]) -> go.Figure:
    """CVE D of each particle ± its standard error against the pooled D (band: ± its error), with the Q test."""
    cve = stats["ensemble"]["cve"]
    shown = particles[np.isfinite(particles["D_cve_nm2_s"].astype(float))]
    ids = [str(int(k)) for k in shown["particle"]]
    fig = go.Figure(go.Scatter(
        x=ids, y=shown["D_cve_nm2_s"], mode="markers", name="per particle ± s.e.",
        error_y={"type": "data", "array": shown["D_cve_err_nm2_s"], "visible": True},
        marker={"color": [particle_color(int(k)) for k in shown["particle"]], "size": 8},
        hovertemplate="particle %{x}: D = %{y:.4g} nm²/s<extra></extra>",
    ))  # fmt: skip
    pooled, error = _num(cve.get("D_nm2_s")), _num(cve.get("D_err_nm2_s"), 0.0)
    fig.add_hrect(y0=pooled - error, y1=pooled + error, fillcolor="#ff7f0e", opacity=0.2, line_width=0)
    fig.add_hline(y=pooled, line={"color": "#ff7f0e", "width": 2},
                  annotation_text=f"pooled D = {pooled:.4g} nm²/s", annotation_position="top left")  # fmt: skip
    dof = int(_num(cve.get("homogeneity_dof"), 0))
    test = (f"Cochran's Q = {_num(cve.get('homogeneity_q')):.3g} on {dof} dof, p = {_num(cve.get('homogeneity_p')):.2g}"
            if dof >= 1 else "too few long tracks to test one D")  # fmt: skip
    fig.update_xaxes(title="particle", type="category")
    fig.update_yaxes(title="D, CVE (nm²/s)")
    fig.update_layout(template=TEMPLATE, title=f"Diffusion coefficient per particle ({test})", height=380,
                      margin={"t": 50}, showlegend=False)  # fmt: skip
    return fig


def confidence_figure(table: pd.DataFrame, *, min_iou: float | None = None, frame: int | None = None) -> go.Figure:
    """Each particle's predicted IoU per frame (the model's estimate of its mask's IoU), with the gate and a frame.

    ``table`` is trajectories.csv; frames where a particle is absent or missing break its line. ``min_iou`` (the
    statistics' gate: positions below it are gaps) is drawn dashed, ``frame`` (the one on screen) as a vertical line.
    """
    data = table.assign(predicted_iou=pd.to_numeric(table["predicted_iou"], errors="coerce"))
    if "present" in data:
        present = data["present"].astype(str).str.lower().isin(("true", "1"))
        data = data.assign(predicted_iou=data["predicted_iou"].where(present))
    fig = go.Figure()
    for particle, rows in data.groupby("particle"):
        rows = rows.set_index("frame").sort_index()
        span = range(int(rows.index.min()), int(rows.index.max()) + 1)
        iou = rows["predicted_iou"].reindex(span)
        fig.add_trace(go.Scatter(
            x=list(span), y=[None if np.isnan(v) else float(v) for v in iou], mode="lines",
            line={"color": particle_color(int(particle)), "width": 1.5}, name=f"particle {particle}",
            hovertemplate=f"particle {particle}, frame %{{x}}: predicted IoU %{{y:.2f}}<extra></extra>",
        ))  # fmt: skip
    if min_iou is not None:
        fig.add_hline(y=min_iou, line={"color": "#111", "width": 1.5, "dash": "dash"},
                      annotation_text=f"minimum predicted IoU {min_iou:g}: below, positions are gaps",
                      annotation_position="bottom left")  # fmt: skip
    if frame is not None:
        fig.add_vline(x=frame, line={"color": "#888", "width": 1})
    fig.update_xaxes(title="frame")
    fig.update_yaxes(title="predicted IoU", range=[0.0, 1.02])
    fig.update_layout(template=TEMPLATE, title="How sure the model is of each mask (low: check the overlay)",
                      height=320, margin={"t": 50}, legend={"orientation": "h", "y": -0.25})  # fmt: skip
    return fig


def _num(value: Any, default: float = float("nan")) -> float:
    try:
        return default if value is None else float(value)
    except (TypeError, ValueError):
        return default


def _pm(value: Any, error: Any, digits: int = 3) -> str:
    v, e = _num(value), _num(error)
    if not math.isfinite(v):
        return "–"
    return f"{v:.{digits}g} ± {e:.2g}" if math.isfinite(e) else f"{v:.{digits}g}"


def stats_table(particles: pd.DataFrame, stats: dict[str, Any]) -> pd.DataFrame:
    """One row per particle and one for the ensemble: D (two estimators), exponent α and localisation error σ."""
    rows = []
    for r in particles.to_dict(orient="records"):
        rows.append({
            "particle": str(int(r["particle"])), "frames": int(r["n_frames"]),
            "D, CVE (nm²/s)": _pm(r.get("D_cve_nm2_s"), r.get("D_cve_err_nm2_s")),
            "D, MSD fit (nm²/s)": _pm(r.get("D_msd_nm2_s"), r.get("D_msd_err_nm2_s")),
            "exponent α": _pm(r.get("alpha"), r.get("alpha_err")),
            "σ localisation, CVE (nm)": _pm(r.get("sigma_cve_nm"), r.get("sigma_cve_err_nm")),
            "σ localisation, MSD (nm)": _pm(r.get("sigma_msd_nm"), r.get("sigma_msd_err_nm")),
        })  # fmt: skip
    e = stats.get("ensemble", {})
    cve, lin, power = e.get("cve", {}), e.get("msd_fit", {}), e.get("alpha_fit", {})
    rows.append({
        "particle": "ensemble", "frames": int(particles["n_frames"].sum()) if len(particles) else 0,
        "D, CVE (nm²/s)": _pm(cve.get("D_nm2_s"), cve.get("D_err_nm2_s")),
        "D, MSD fit (nm²/s)": _pm(lin.get("D_nm2_s"), lin.get("D_err_nm2_s")),
        "exponent α": _pm(power.get("alpha"), power.get("alpha_err")),
        "σ localisation, CVE (nm)": _pm(cve.get("sigma_nm"), cve.get("sigma_err_nm")),
        "σ localisation, MSD (nm)": _pm(lin.get("sigma_nm"), lin.get("sigma_err_nm")),
    })  # fmt: skip
    return pd.DataFrame(rows)
