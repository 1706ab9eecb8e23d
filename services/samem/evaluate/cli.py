"""The ``samem eval`` subcommand: render the test sets, run the methods, write the report (and the README table)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

METHODS = ("samem", "unet", "trackpy", "truth")
DEFAULT_METHODS = "samem,unet,trackpy"
RUNS_DIR = "runs"  # finished runs, under --out


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: choose methods among {', '.join(METHODS)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r} lists a method twice")
    return names


def _thicknesses(text: str) -> tuple[float, ...]:
    from samem.errors import InputError
    from samem.evaluate.testsets import check_thicknesses

    try:
        return check_thicknesses([float(part) for part in text.split(",") if part.strip()])
    except (ValueError, InputError) as e:
        raise argparse.ArgumentTypeError(
            f"{text!r}: {e}"
            if isinstance(e, InputError)
            else f"{text!r} is not a comma-separated list of thicknesses in nm"
        ) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` subcommand."""
    p = subparsers.add_parser(
        "eval",
        help="benchmark samem against the baselines on simulated LPTEM test sets (J&F, HOTA, D error, ...)",
        description=(
            "Render the held-out test sets (5, 50, 150 nm of water; 1 particle / 275 frames / 512 px, 2 particles"
            " / 300 frames, 4 particles / 600 frames / 1024 px), run each method, score it against the ground"
            " truth and write OUT/results.md, readme_table.md, report.html, jf_hota.png, summary.csv,"
            " per_video.csv and results.json. Test sets are cached in OUT/testsets/, finished runs in OUT/runs/:"
            " a run whose code, method and test video are unchanged is reused, so an interrupted evaluation"
            " resumes and another method can be added without rerunning the others."
        ),
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument(
        "--model",
        default="samem-compact",
        metavar="NAME[:CHECKPOINT]",
        help="samem's model (default samem-compact, the shipped weights; NAME:random for random weights)",
    )
    p.add_argument("--unet", metavar="CHECKPOINT", help="U-Net baseline checkpoint (samem train-unet); without it"
                   " the U-Net is skipped with a note in the report")  # fmt: skip
    p.add_argument(
        "--methods",
        type=_names,
        default=_names(DEFAULT_METHODS),
        help=f"comma-separated among {', '.join(METHODS)} (default {DEFAULT_METHODS})",
    )
    p.add_argument(
        "--thicknesses",
        type=_thicknesses,
        default=(5.0, 50.0, 150.0),
        metavar="NM,NM,...",
        help="water thicknesses, nm (default 5,50,150)",
    )
    p.add_argument("--quick", action="store_true", help="small test sets (frames / 4 in size, / 30 in number)")
    p.add_argument("--readme-table", action="store_true", help="print the markdown table for the README to stdout")
    p.add_argument("--device", default="cpu", help="torch device for samem and the U-Net (default cpu)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="samem's precision: fp32 (default) or bf16 autocast")  # fmt: skip
    p.add_argument("--fresh", action="store_true", help="discard the runs stored in OUT/runs/ and run everything")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch")
    p.add_argument("--no-progress", "--quiet", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(handler=run)


def _methods(args: argparse.Namespace, notes: list[str]) -> list[Any]:
    """Build the chosen methods now, so a bad model or checkpoint fails before anything is written."""
    from samem.evaluate.methods import SamemMethod, TrackpyMethod, TruthMethod, UnetMethod

    methods: list[Any] = []
    for name in args.methods:
        if name == "samem":
            methods.append(SamemMethod(args.model, device=args.device, precision=args.precision))
        elif name == "unet":
            if args.unet is None:
                notes.append("U-Net skipped: no checkpoint given (train one with `samem train-unet --out FILE`,"
                             " then pass --unet FILE)")  # fmt: skip
                continue
            methods.append(UnetMethod(args.unet, device=args.device))
        elif name == "trackpy":
            methods.append(TrackpyMethod())
        else:
            methods.append(TruthMethod())
    return methods


def _description(args: argparse.Namespace) -> str:
    from samem.evaluate import testsets as ts

    cases = ts.eval_cases(args.quick)
    shapes = "; ".join(
        f"{c.n_particles} particle{'s' if c.n_particles > 1 else ''} / {c.n_frames} frames / {c.side_px} px"
        for c in cases
    )
    return (
        f"Simulated test sets{' (quick scale)' if args.quick else ''}: gold spheres of {ts.PARTICLE_NM:g} nm"
        f" ({ts.PARTICLE_NM / ts.PX_NM:g} px), Brownian motion with D = {ts.D_NM2_S:g} nm²/s, {ts.PX_NM:g} nm/px,"
        f" {ts.FPS:g} frames/s, dose rate {ts.DOSE_RATE:g} e-/Å²/s in {', '.join(f'{t:g}' for t in args.thicknesses)}"
        f" nm of water; per thickness: {shapes}. Box prompt per particle on frame 0 for samem; trackpy (diameter,"
        " minmass) and the U-Net (smallest instance area) tuned on a separate video per thickness."
    )


def run(args: argparse.Namespace) -> int:
    """Handle ``samem eval``."""
    import torch

    from samem.errors import InputError
    from samem.evaluate import testsets as ts
    from samem.evaluate.benchmark import run_benchmark
    from samem.evaluate.report import write_report
    from samem.evaluate.runcache import RunCache
    from samem.io.output import check_writable_dir

    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    out = check_writable_dir(args.out)
    notes: list[str] = []
    methods = _methods(args, notes)
    if not methods:
        raise InputError("no method left to evaluate (the U-Net needs --unet CHECKPOINT)")
    cache = out / "testsets"
    videos = {t: [ts.write_eval_video(case, t, cache) for case in ts.eval_cases(args.quick)] for t in args.thicknesses}
    tuning = {t: ts.write_eval_video(ts.tuning_case(args.quick), t, cache) for t in args.thicknesses}
    if args.fresh:
        shutil.rmtree(out / RUNS_DIR, ignore_errors=True)
    result = run_benchmark(methods, videos, tuning, progress=args.progress, cache=RunCache(out / RUNS_DIR))
    settings = {
        "description": _description(args), "notes": notes, "model": args.model, "unet": args.unet,
        "methods": [m.key for m in methods], "thicknesses_nm": list(args.thicknesses), "quick": args.quick,
        "test_sets": str(cache), "command": " ".join(["samem", *sys.argv[1:]]),
    }  # fmt: skip
    write_report(result, settings, out)
    if args.readme_table:
        sys.stdout.write((Path(out) / "readme_table.md").read_text())
    else:
        print(f"wrote {out}/results.md, report.html, jf_hota.png ({len(result.per_video)} runs)")
    return 0
