"""Trajectories on a regular frame grid: padding with a presence mask, and masked correlations by FFT.

Each particle is placed on its own grid that starts at its first frame; missing frames are left empty (mask 0), so
a gap is never closed by row order. Particles are processed in chunks of similar length so that one very long
trajectory does not inflate the memory used for all the short ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import fft as sp_fft

#: Upper bound on the number of grid cells (particles x FFT length) handled at once.
CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class GridChunk:
    """A group of particles laid out on a common frame grid.

    Attributes
    ----------
    rows : numpy.ndarray
        Indices (into the particle order of :func:`particle_layout`) of the particles in this chunk, shape (P,).
    pos : numpy.ndarray
        Positions, shape (P, T, 2), in the caller's length unit; 0 where the mask is 0.
    mask : numpy.ndarray
        Presence mask, shape (P, T), 1.0 where the particle was observed in that frame.
    """

    rows: np.ndarray
    pos: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class ParticleLayout:
    """Per-particle bookkeeping derived from a sorted trajectory table.

    Attributes
    ----------
    ids : numpy.ndarray
        Particle ids in ascending order, shape (P,).
    first_frame, span, n_frames : numpy.ndarray
        First frame, ``last - first + 1`` and number of observed frames per particle, shape (P,).
    row : numpy.ndarray
        For each table row, the index of its particle in ``ids``, shape (n_rows,).
    offset : numpy.ndarray
        For each table row, ``frame - first_frame`` of its particle, shape (n_rows,).
    """

    ids: np.ndarray
    first_frame: np.ndarray
    span: np.ndarray
    n_frames: np.ndarray
    row: np.ndarray
    offset: np.ndarray


def particle_layout(tracks: pd.DataFrame) -> ParticleLayout:
    """Index the particles of a validated trajectory table (columns ``frame`` and ``particle``)."""
    ids, row = np.unique(tracks["particle"].to_numpy(), return_inverse=True)
    frames = tracks["frame"].to_numpy(dtype=np.int64)
    first = np.full(len(ids), np.iinfo(np.int64).max)
    last = np.full(len(ids), np.iinfo(np.int64).min)
    np.minimum.at(first, row, frames)
    np.maximum.at(last, row, frames)
    n_frames = np.bincount(row, minlength=len(ids))
    return ParticleLayout(ids, first, last - first + 1, n_frames, row, frames - first[row])


def iter_chunks(
    layout: ParticleLayout, xy: np.ndarray, max_lag: int, *, center: bool = True, cells: int = CHUNK_CELLS
) -> Iterator[tuple[GridChunk, int]]:
    """Yield particles on padded grids, grouped by trajectory span, with the FFT length to use.

    Parameters
    ----------
    layout : ParticleLayout
        From :func:`particle_layout` on the same table.
    xy : numpy.ndarray
        Positions of the table rows, shape (n_rows, 2).
    max_lag : int
        Largest lag (frames) that will be correlated; the FFT length is at least ``T + max_lag`` so that circular
        wrap-around never mixes frames.
    center : bool
        Subtract each particle's mean position first. Displacements are unchanged, and the sums of squares that
        the FFT method subtracts from each other stay small, which keeps round-off far below 1e-9 relative.
    cells : int
        Memory bound: particles x FFT length per chunk.
    """
    xy = np.asarray(xy, dtype=float)
    if center:
        sums = np.zeros((len(layout.ids), 2))
        np.add.at(sums, layout.row, xy)
        xy = xy - (sums / layout.n_frames[:, None])[layout.row]
    order = np.argsort(layout.span, kind="stable")
    rows_of = np.argsort(layout.row, kind="stable")  # table rows grouped by particle index
    starts = np.concatenate(([0], np.cumsum(layout.n_frames)))
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order):
            span = int(layout.span[order[stop]])
            if (stop + 1 - start) * sp_fft.next_fast_len(span + min(max_lag, span - 1) + 1) > cells:
                break
            stop += 1
        chunk_rows = order[start:stop]
        n_grid = int(layout.span[chunk_rows].max())
        lag = min(max_lag, n_grid - 1)
        n_fft = sp_fft.next_fast_len(n_grid + lag + 1, real=True)
        table_rows = np.concatenate([rows_of[starts[r] : starts[r + 1]] for r in chunk_rows])
        local = np.repeat(np.arange(len(chunk_rows)), layout.n_frames[chunk_rows])
        pos = np.zeros((len(chunk_rows), n_grid, 2))
        mask = np.zeros((len(chunk_rows), n_grid))
        pos[local, layout.offset[table_rows]] = xy[table_rows]
        mask[local, layout.offset[table_rows]] = 1.0
        yield GridChunk(chunk_rows, pos, mask), n_fft
        start = stop


def cross_correlation(a: np.ndarray, b: np.ndarray, n_fft: int, max_lag: int) -> np.ndarray:
    """``c[..., k] = sum_t a[..., t] * b[..., t + k]`` for ``k = 0 .. max_lag`` along the last axis, by FFT.

    ``n_fft`` must be at least ``a.shape[-1] + max_lag`` so that no circular wrap-around occurs.
    """
    fa = sp_fft.rfft(a, n=n_fft, axis=-1)
    fb = fa if b is a else sp_fft.rfft(b, n=n_fft, axis=-1)
    return sp_fft.irfft(np.conj(fa) * fb, n=n_fft, axis=-1)[..., : max_lag + 1]
