"""Figures of an analysis (matplotlib, Agg backend, PNG bytes).

Trajectories, MSD, van Hove, VACF, D per particle, and the model's predicted IoU per particle.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from samem.analysis.pipeline import AnalysisResult

DPI = 130
MAX_FAINT_CURVES = 300


def _figure(width: float = 6.4, height: float = 4.8) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def trajectories_png(result: AnalysisResult) -> bytes:
    """Trajectories in nm, each segment coloured by its time in s, y axis pointing down as in the image."""
    from matplotlib.collections import LineCollection

    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot()
    px, fps = result.parameters["px_nm"], result.parameters["fps"]
    t = result.tracks
    frames = t["frame"].to_numpy()
    xy = t[["x", "y"]].to_numpy() * px
    same = (t["particle"].to_numpy()[1:] == t["particle"].to_numpy()[:-1]) & (np.diff(frames) == 1)
    segments = np.stack([xy[:-1][same], xy[1:][same]], axis=1)
    lines = LineCollection(segments, cmap="viridis", linewidths=0.8)
    lines.set_array(frames[1:][same] / fps)
    lines.set_clim(frames.min() / fps, max(frames.max(), frames.min() + 1) / fps)
    ax.add_collection(lines)
    ax.autoscale()
    ax.set_aspect("equal")
    ax.invert_yaxis()
    ax.set_xlabel("x (nm)")
    ax.set_ylabel("y (nm)")
    ax.set_title(f"Trajectories ({t['particle'].nunique()} particles; gaps not drawn)")
    fig.colorbar(lines, ax=ax, label="time (s)", shrink=0.85)
    return _png(fig)


def msd_png(result: AnalysisResult) -> bytes:
    """MSD vs lag time on log-log axes: particles faint, ensemble bold, linear and power-law fits, tau^1 guide."""
    fig = _figure()
    ax = fig.add_subplot()
    m = result.msd
    for curve in m.msd[:MAX_FAINT_CURVES]:
        ax.plot(m.lag_s, curve, color="0.6", alpha=0.15, linewidth=0.6)
    ax.plot(m.lag_s, m.ensemble, color="C0", linewidth=2.2, label="ensemble MSD")
    lin, alpha = result.ensemble["msd_fit"], result.ensemble["alpha_fit"]
    dt = result.parameters["dt_s"]
    tau = m.lag_s
    if np.isfinite(lin["D_nm2_s"]):
        n = lin["n_lags"]
        model = 4 * lin["D_nm2_s"] * tau + 4 * (lin["sigma2_nm2"] - 2 * result.parameters["motion_blur_R"] * dt
                                                * lin["D_nm2_s"])
        ax.plot(tau[: max(n, 1) * 4], model[: max(n, 1) * 4], "--", color="C3",
                label=f"linear fit, first {n} lags: D = {lin['D_nm2_s']:.3g} nm$^2$/s")
    if np.isfinite(alpha["alpha"]):
        n = alpha["n_lags"]
        curve = 4 * alpha["K_nm2_s_alpha"] * tau[:n] ** alpha["alpha"] + alpha["offset_nm2"]
        ax.plot(tau[:n], curve, ":", color="C2", linewidth=2.0, label=f"power-law fit: α = {alpha['alpha']:.3f}")
    finite = m.ensemble[np.isfinite(m.ensemble) & (m.ensemble > 0)]
    if len(finite):
        guide = tau / tau[0] * finite[0]
        ax.plot(tau, guide, color="k", linewidth=0.8, alpha=0.6, label=r"$\propto\tau^1$ guide")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("lag time τ (s)")
    ax.set_ylabel("MSD (nm$^2$)")
    ax.set_title("Mean squared displacement")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return _png(fig)


def vanhove_png(result: AnalysisResult) -> bytes:
    """Displacement histograms per lag with Gaussian and Laplace maximum-likelihood densities, log y axis."""
    panels = max(1, len(result.vanhove))
    fig = _figure(3.6 * panels, 3.6)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    for ax, vh in zip(axes, result.vanhove, strict=False):
        centers = 0.5 * (vh.edges[1:] + vh.edges[:-1])
        shown = vh.density > 0
        ax.step(centers[shown], vh.density[shown], where="mid", color="0.3", label=f"data (n = {vh.n})")
        fine = np.linspace(vh.edges[0], vh.edges[-1], 400)
        ax.plot(fine, vh.gaussian.pdf(fine), color="C0", label=f"Gaussian (AIC {vh.gaussian.aic:.0f})")
        ax.plot(fine, vh.laplace.pdf(fine), "--", color="C3", label=f"Laplace (AIC {vh.laplace.aic:.0f})")
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(vh.density[shown].min() / 3, 1e-12) if shown.any() else None)
        ax.set_xlabel("displacement Δx, Δy (nm)")
        ax.set_title(f"lag {vh.lag_frames} frames ({vh.lag_s:.3g} s), α₂ = {vh.alpha2:.2f}", fontsize=9)
        ax.legend(fontsize=7, frameon=False, loc="lower center")
    axes[0].set_ylabel("probability density (1/nm)")
    return _png(fig)


def vacf_png(result: AnalysisResult) -> bytes:
    """Normalised velocity autocorrelation C(τ)/C(0) vs lag time."""
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    v = result.vacf
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.plot(v.lag_s, v.c_norm, "o-", color="C0", markersize=4, label="C(τ)/C(0)")
    ax.set_xlabel("lag time τ (s)")
    ax.set_ylabel("normalised VACF C(τ)/C(0)")
    ax.set_title("Velocity autocorrelation, v = Δr / Δt")
    ax.legend(frameon=False)
    return _png(fig)


def diffusion_png(result: AnalysisResult) -> bytes:
    """CVE D of each particle with its standard error, against the pooled D; the test of one shared D in the title."""
    fig = _figure(6.4, 4.0)
    ax = fig.add_subplot()
    p, pooled = result.particles, result.ensemble["cve"]
    shown = np.isfinite(p["D_cve_nm2_s"].to_numpy())
    order = np.arange(int(shown.sum()))
    ax.axhspan(pooled["D_nm2_s"] - pooled["D_err_nm2_s"], pooled["D_nm2_s"] + pooled["D_err_nm2_s"], color="C1",
               alpha=0.25, linewidth=0)  # fmt: skip
    ax.axhline(pooled["D_nm2_s"], color="C1", linewidth=1.2, label=f"pooled D = {pooled['D_nm2_s']:.4g} nm²/s")
    ax.errorbar(order, p["D_cve_nm2_s"][shown], yerr=p["D_cve_err_nm2_s"][shown], fmt="o", color="C0",
                markersize=4, capsize=2, label="per particle ± s.e.")  # fmt: skip
    ax.set_xticks(order, [str(k) for k in p["particle"][shown]], rotation=90 if len(order) > 20 else 0, fontsize=7)
    ax.set_xlabel("particle")
    ax.set_ylabel("D, CVE (nm²/s)")
    q, dof, pvalue = pooled["homogeneity_q"], pooled["homogeneity_dof"], pooled["homogeneity_p"]
    test = f"Cochran's Q = {q:.3g} on {dof} dof, p = {pvalue:.2g}" if dof >= 1 else "too few long tracks to test"
    ax.set_title(f"Diffusion coefficient per particle ({test})", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def confidence_png(positions: pd.DataFrame, *, fps: float, min_iou: float | None) -> bytes:
    """:func:`confidence_figure` as PNG."""
    return _png(confidence_figure(positions, fps=fps, min_iou=min_iou))


def confidence_figure(positions: pd.DataFrame, *, fps: float, min_iou: float | None) -> Figure:
    """Each particle's predicted IoU (the model's estimate of its mask's IoU) over time, the ``--min-iou`` gate dashed.

    ``positions`` are the tracked rows before gaps were taken (columns frame, particle, predicted_iou; rows whose
    ``present`` is false are not drawn, and lines break at missing frames).
    """
    import pandas as pd

    from samem.io.tables import drop_absent_rows

    fig = _figure(7.4, 3.6)
    ax = fig.add_subplot()
    shown = drop_absent_rows(positions)
    shown = shown.assign(**{c: pd.to_numeric(shown[c], errors="coerce") for c in ("frame", "predicted_iou")})
    shown = shown.dropna(subset=["frame", "predicted_iou"])
    for index, (particle, rows) in enumerate(shown.groupby("particle")):
        if index >= MAX_FAINT_CURVES:
            break
        rows = rows.sort_values("frame")
        frames, iou = rows["frame"].to_numpy(float), rows["predicted_iou"].to_numpy(float)
        breaks = np.flatnonzero(np.diff(frames) != 1) + 1
        for part, (f, v) in enumerate(zip(np.split(frames, breaks), np.split(iou, breaks), strict=True)):
            label = None if part else f"particle {particle}"
            ax.plot(f / fps, v, color=f"C{index % 10}", linewidth=0.9, label=label)
    if min_iou is not None:
        ax.axhline(min_iou, color="k", linestyle="--", linewidth=1.0, label=f"--min-iou {min_iou:g} (below: gaps)")
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("predicted IoU")
    ax.set_title("Model's predicted IoU per particle (low: the mask may not be the particle's)", fontsize=9)
    if shown["particle"].nunique() <= 12:
        ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def all_plots(result: AnalysisResult) -> dict[str, bytes]:
    """Every figure, keyed by file name."""
    return {
        "trajectories.png": trajectories_png(result),
        "msd.png": msd_png(result),
        "vanhove.png": vanhove_png(result),
        "vacf.png": vacf_png(result),
        "diffusion.png": diffusion_png(result),
    }
