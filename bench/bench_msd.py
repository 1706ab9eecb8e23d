"""Benchmark: samem imsd + emsd against trackpy on 1,000 Brownian trajectories x 1,000 frames with gaps.

Run: .venv/bin/python bench/bench_msd.py [--particles N] [--frames T] [--repeats R]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import pandas as pd
import trackpy
from hardware import cpu_line

from samem.analysis.msd import compute_msd

PX_NM, FPS, MAX_LAG = 2.0, 25.0, 100


def make_tracks(n_particles: int, n_frames: int, seed: int = 0) -> pd.DataFrame:
    """Brownian tracks (pixels) with 2 % of frames missing and a 20-frame gap in every tenth particle."""
    rng = np.random.default_rng(seed)
    xy = np.cumsum(rng.normal(0.0, 0.8, (n_particles, n_frames, 2)), axis=1) + rng.uniform(0, [2048, 1024],
                                                                                            (n_particles, 1, 2))
    keep = rng.random((n_particles, n_frames)) > 0.02
    keep[::10, 300:320] = False
    keep[:, 0] = True
    p, f = np.nonzero(keep)
    return pd.DataFrame({"frame": f, "particle": p, "x": xy[p, f, 0], "y": xy[p, f, 1]})


def best_time(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--particles", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tracks = make_tracks(args.particles, args.frames)
    print(cpu_line())
    print(f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"trackpy {trackpy.__version__}")
    print(f"data: {args.particles} particles x {args.frames} frames, {len(tracks)} rows, max_lag {MAX_LAG}")

    ours_t, ours = best_time(lambda: compute_msd(tracks, PX_NM, FPS, MAX_LAG), args.repeats)

    def reference() -> tuple[pd.DataFrame, pd.Series]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (trackpy.imsd(tracks, PX_NM, FPS, max_lagtime=MAX_LAG),
                    trackpy.emsd(tracks, PX_NM, FPS, max_lagtime=MAX_LAG))

    ref_t, (ref_i, ref_e) = best_time(reference, max(1, min(args.repeats, 2)))
    np.testing.assert_allclose(ours.msd.T, ref_i.to_numpy(), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(ours.ensemble, ref_e.to_numpy(), rtol=1e-9)
    rel = np.nanmax(np.abs(ours.msd.T / ref_i.to_numpy() - 1))
    print(f"numbers agree with trackpy: max relative difference {rel:.2e} (rtol 1e-9)")
    print(f"{'implementation':<28}{'best time (s)':>14}")
    print(f"{'samem imsd+emsd (FFT)':<28}{ours_t:>14.3f}")
    print(f"{'trackpy imsd+emsd':<28}{ref_t:>14.3f}")
    print(f"speed-up: {ref_t / ours_t:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    main()
