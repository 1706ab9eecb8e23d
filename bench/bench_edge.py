"""What leaving out positions at the frame edge does to D, measured with perfect masks.

Simulated videos (``samem simulate --seed S --particles N --shape SHAPE``, D = 50 nm^2/s at 0.5 nm/px and 20
frames/s): the true masks are measured as ``samem track`` measures its own (largest piece, ``at_edge``), and the CVE
D of those centroids, with edge positions kept and left out (:func:`samem.io.tables.drop_edge_rows`), is compared
with the CVE D of the true centres of the same video. No model runs: what is left is the measurement's own bias.

Run: .venv/bin/python bench/bench_edge.py [--seeds 21-30] [--particles 2] [--shape sphere]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from hardware import cpu_line

from samem.analysis import analyze
from samem.io.tables import drop_absent_rows, drop_edge_rows, validate_trajectories
from samem.measure import measure_frame

PX_NM, FPS = 0.5, 20.0


def cve_d(tracks: pd.DataFrame) -> float:
    """Ensemble CVE D (nm^2/s) of instantaneous positions."""
    table = validate_trajectories(tracks[["frame", "particle", "x", "y"]])
    result = analyze(table, px_nm=PX_NM, fps=FPS, exposure_fraction=0.0, n_bootstrap=0, vanhove_lags=(1,))
    return float(result.ensemble["cve"]["D_nm2_s"])


def measured_truth(labels: np.ndarray) -> pd.DataFrame:
    """The true masks measured as ``samem track`` measures its masks; absent rows dropped."""
    ids = sorted(int(i) for i in np.unique(labels) if i)
    rows = [row for t in range(len(labels))
            for row in measure_frame(np.stack([labels[t] == i for i in ids]), frame=t, particle_ids=ids)]  # fmt: skip
    return drop_absent_rows(pd.DataFrame(rows))


def one_video(seed: int, particles: int, shape: str, scratch: Path) -> dict[str, float]:
    """Relative D errors (%) of one simulated video with edge positions kept and left out."""
    out = scratch / f"v{seed}"
    subprocess.run([sys.executable, "-m", "samem", "simulate", str(out), "--seed", str(seed), "--px-nm", str(PX_NM),
                    "--fps", str(FPS), "--particles", str(particles), "--shape", shape, "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    real = cve_d(pd.read_csv(out / "gt_tracks.csv"))
    measured = measured_truth(tifffile.imread(out / "gt_masks.tif"))
    kept, left_out = cve_d(measured), cve_d(drop_edge_rows(measured))
    return {"seed": seed, "D_true_centres": real, "edge_rows": int(measured["at_edge"].sum()),
            "kept_pct": 100 * (kept / real - 1), "left_out_pct": 100 * (left_out / real - 1)}  # fmt: skip


def seed_range(text: str) -> list[int]:
    """``A-B`` (inclusive) or ``A,B,C``."""
    if "-" in text:
        first, last = (int(v) for v in text.split("-"))
        return list(range(first, last + 1))
    return [int(v) for v in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seed_range, default=seed_range("21-30"), help="A-B or A,B,C (default 21-30)")
    parser.add_argument("--particles", type=int, default=2, help="particles per video (default 2)")
    parser.add_argument("--shape", default="sphere", help="particle shape (default sphere)")
    args = parser.parse_args()
    print(cpu_line())
    with tempfile.TemporaryDirectory(prefix="samem-bench-edge-") as scratch:
        table = pd.DataFrame([one_video(s, args.particles, args.shape, Path(scratch)) for s in args.seeds])
    print(table.to_string(index=False, float_format=lambda v: f"{v:+.1f}" if abs(v) < 20 else f"{v:.1f}"))
    for name, rows in (("videos with edge positions", table[table.edge_rows > 0]), ("all videos", table)):
        if len(rows):
            print(f"{name} ({len(rows)}): D error kept mean {rows.kept_pct.mean():+.1f} % (mean |e| "
                  f"{rows.kept_pct.abs().mean():.1f} %), left out mean {rows.left_out_pct.mean():+.1f} % (mean |e| "
                  f"{rows.left_out_pct.abs().mean():.1f} %)")


if __name__ == "__main__":
    main()
