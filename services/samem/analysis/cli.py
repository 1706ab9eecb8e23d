"""The ``samem analyze`` subcommand: trajectory table in, statistics, figures and a report out."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from samem.argtypes import factor_above_one, fraction, int_list, positive_float, positive_int

if TYPE_CHECKING:  # pragma: no cover
    from samem.io.tables import GapRules

EPILOG = (
    "Outputs in OUT: stats.json, msd.csv, particles.csv, drift.csv, vanhove.csv, vacf.csv, five PNG figures (six "
    "with a predicted_iou column: confidence.png) and report.html. Units: nm, s (MSD nm^2, D nm^2/s)."
)

KEEP_EDGE_HELP = (
    "keep positions whose mask touches the frame edge (at_edge column; by default they are gaps: the particle is "
    "cut by the edge of the field of view and its centroid biased inward)"
)
MIN_IOU_HELP = (
    "take positions whose predicted_iou (the model's estimate of its mask's IoU) is below P as gaps: masks that "
    "slid onto a neighbour or stayed behind a particle that left; 0.6 on crowded videos (README; default: keep "
    "all, as the gate also drops good positions of small or faint particles)"
)
MAX_AREA_CHANGE_HELP = (
    "take positions whose mask area differs from their particle's first (its prompted mask) by more than a factor "
    "F either way as gaps: masks that shrank onto part of a fast particle, slid onto a neighbour of another size or "
    "stayed behind as a sliver; 2 on crowded videos (README; default: keep all, as particles that grow, dissolve or "
    "merge change size)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` subcommand."""
    p = subparsers.add_parser(
        "analyze", help="trajectory statistics: MSD, diffusion coefficient, alpha, van Hove, VACF, drift",
        description="Analyse a trackpy-compatible trajectory table (frame, particle, x, y in pixels).",
        epilog=EPILOG,
    )
    p.add_argument("trajectories", metavar="TRAJECTORIES.csv", help="table with columns frame, particle, x, y")
    p.add_argument("--px-nm", type=positive_float, required=True, help="pixel size in nm")
    p.add_argument("--fps", type=positive_float, required=True, help="frame rate in frames per second")
    p.add_argument("--out", required=True, metavar="OUT_DIR", help="output directory (written atomically)")
    p.add_argument("--max-lag", type=positive_int, default=100, help="largest MSD lag in frames (default 100)")
    p.add_argument("--fit-lags", type=positive_int, default=4, help="lags in the linear MSD fit (default 4)")
    p.add_argument("--alpha-lags", type=positive_int, default=10, help="lags in the alpha fit (default 10)")
    p.add_argument("--min-length", type=positive_int, default=10, help="minimum frames per particle (default 10)")
    p.add_argument("--vanhove-lags", type=int_list, default=[1, 4, 16], help="lags in frames (default 1,4,16)")
    p.add_argument("--vacf-lags", type=positive_int, default=20, help="largest VACF lag in frames (default 20)")
    p.add_argument(
        "--exposure-fraction", type=fraction, default=1.0,
        help="exposure time / frame interval in [0, 1]; motion blur R = value/6 (default 1: continuous exposure, "
        "0: instantaneous positions such as simulator ground truth)",
    )
    p.add_argument("--subtract-drift", action="store_true", help="remove the ensemble drift first")
    p.add_argument("--keep-edge", action="store_true", help=KEEP_EDGE_HELP)
    p.add_argument("--min-iou", type=fraction, metavar="P", help=MIN_IOU_HELP)
    p.add_argument("--max-area-change", type=factor_above_one, metavar="F", help=MAX_AREA_CHANGE_HELP)
    p.set_defaults(handler=run)


def gap_rules(args: argparse.Namespace) -> GapRules:
    """The gap rules of the options ``--keep-edge``, ``--min-iou`` and ``--max-area-change``."""
    from samem.io.tables import GapRules

    return GapRules(keep_edge=args.keep_edge, min_iou=args.min_iou, max_area_change=args.max_area_change)


def run(args: argparse.Namespace) -> int:
    """Read, analyse, write; print a short summary to stdout."""
    from samem.analysis.pipeline import analyze
    from samem.analysis.positions import analysed_positions
    from samem.analysis.writer import write_analysis
    from samem.io.output import check_writable_dir
    from samem.io.tables import read_trajectory_csv

    check_writable_dir(args.out)
    positions = read_trajectory_csv(args.trajectories)
    tracks, gaps = analysed_positions(positions, gap_rules(args), name=str(args.trajectories))
    result = analyze(
        tracks, px_nm=args.px_nm, fps=args.fps, max_lag=args.max_lag, fit_lags=args.fit_lags,
        alpha_lags=args.alpha_lags, min_length=args.min_length, vanhove_lags=args.vanhove_lags,
        vacf_lags=args.vacf_lags, exposure_fraction=args.exposure_fraction, subtract_drift=args.subtract_drift,
    )
    out = write_analysis(result, args.out, source=str(args.trajectories), gaps=gaps, positions=positions)
    print(result.summary())
    print(f"results written to {out}")
    return 0
