"""Trajectory generators: positions (nm) and in-plane orientation (rad) at the frame times t_i = i / fps.

- Brownian: independent Gaussian steps of variance 2 D dt per axis.
- Fractional Brownian: exact fractional Gaussian noise by circulant embedding (Davies-Harte), per-axis
  variance 2 D t^alpha, i.e. MSD = 4 D t^alpha in 2-D.
- CTRW: Lomax (shifted Pareto) waiting times ``tau0 * (U^(-1/alpha) - 1)``, survival ~ t^-alpha, Gaussian
  jumps of variance 2 D tau0 per axis; the walker is read off at the frame times, so it sits still through long waits.
- Confined: exact Ornstein-Uhlenbeck update in a harmonic trap, x' = c + (x - c) e^(-theta dt) + N(0, D/theta
  (1 - e^(-2 theta dt))) with theta = D / r_trap^2; the stationary variance per axis is D/theta (= k_B T / k) and
  the MSD plateaus at 2 D/theta per axis.

Drift ``v t`` is added to every kind (for ``confined`` it moves the trap centre). Orientation diffuses freely:
steps of variance 2 D_rot dt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from samem.sim.spec import MotionSpec


@dataclass(frozen=True, kw_only=True)
class Path:
    """A particle's trajectory: ``xy_nm`` (T x 2, nm) and unwrapped ``angle_rad`` (T,) at the frame times."""

    xy_nm: np.ndarray
    angle_rad: np.ndarray


def fractional_gaussian_noise(rng: np.random.Generator, n: int, hurst: float, size: int = 1) -> np.ndarray:
    """Exact fractional Gaussian noise with unit variance by circulant embedding (Davies-Harte).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Length of each series.
    hurst : float
        Hurst exponent H in (0, 1) (H = alpha / 2).
    size : int
        Number of independent series (1 or 2 per complex draw; more are drawn in pairs).

    Returns
    -------
    ndarray
        Shape (size, n); autocovariance 0.5 (|k+1|^2H - 2|k|^2H + |k-1|^2H).
    """
    k = np.arange(n + 1, dtype=float)
    gamma = 0.5 * (np.abs(k + 1) ** (2 * hurst) - 2 * k ** (2 * hurst) + np.abs(k - 1) ** (2 * hurst))
    row = np.concatenate([gamma, gamma[-2:0:-1]])  # circulant first row, length 2n
    eigenvalues = np.fft.fft(row).real
    eigenvalues = np.maximum(eigenvalues, 0.0)  # exact for fGn (non-negative up to rounding)
    m = row.size
    out = []
    while len(out) < size:
        xi = rng.standard_normal(m) + 1j * rng.standard_normal(m)
        y = np.fft.fft(np.sqrt(eigenvalues / m) * xi)[:n]
        out.extend([y.real, y.imag])  # real and imaginary parts: two independent exact samples
    return np.array(out[:size])


def _brownian(motion: MotionSpec, n: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    steps = rng.standard_normal((n - 1, 2)) * math.sqrt(2 * motion.D_nm2_s * dt)
    return np.vstack([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


def _fbm(motion: MotionSpec, n: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    if n == 1:
        return np.zeros((1, 2))
    noise = fractional_gaussian_noise(rng, n - 1, motion.alpha / 2, size=2).T
    steps = noise * math.sqrt(2 * motion.D_nm2_s * dt**motion.alpha)
    return np.vstack([np.zeros((1, 2)), np.cumsum(steps, axis=0)])


def _ctrw(motion: MotionSpec, n: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    tau0 = motion.wait_scale_s if motion.wait_scale_s is not None else dt
    t_end = (n - 1) * dt
    jump_sd = math.sqrt(2 * motion.D_nm2_s * tau0)
    times: list[np.ndarray] = []
    elapsed = 0.0
    while elapsed <= t_end:
        chunk = max(16, int((t_end - elapsed) / tau0) + 1)
        waits = tau0 * (rng.uniform(size=chunk) ** (-1.0 / motion.alpha) - 1.0)  # Lomax
        events = elapsed + np.cumsum(waits)
        times.append(events)
        elapsed = float(events[-1])
    event_times = np.concatenate(times) if times else np.empty(0)
    event_times = event_times[event_times <= t_end]
    jumps = rng.standard_normal((event_times.size, 2)) * jump_sd
    positions = np.vstack([np.zeros((1, 2)), np.cumsum(jumps, axis=0)])
    frame_times = np.arange(n) * dt
    n_done = np.searchsorted(event_times, frame_times, side="right")
    return positions[n_done]


def _confined(motion: MotionSpec, n: int, dt: float, rng: np.random.Generator) -> np.ndarray:
    variance = motion.trap_radius_nm**2  # stationary variance per axis, D / theta
    if motion.D_nm2_s == 0:
        return np.zeros((n, 2))
    theta = motion.D_nm2_s / variance
    decay = math.exp(-theta * dt)
    sd = math.sqrt(variance * (1 - decay * decay))
    start = rng.standard_normal((1, 2)) * math.sqrt(variance)  # start in the stationary distribution
    kicks = rng.standard_normal((n - 1, 2)) * sd
    return lfilter([1.0], [1.0, -decay], np.vstack([start, kicks]), axis=0)  # x_i = decay x_(i-1) + kick_i


_GENERATORS = {"brownian": _brownian, "fbm": _fbm, "ctrw": _ctrw, "confined": _confined}


def trap_rate(motion: MotionSpec) -> float | None:
    """Relaxation rate theta = D / r_trap^2 (1/s) of a confined particle, else None."""
    if motion.kind != "confined":
        return None
    return motion.D_nm2_s / motion.trap_radius_nm**2


def generate_path(
    motion: MotionSpec,
    *,
    start_nm: tuple[float, float],
    angle0_rad: float,
    n_frames: int,
    fps: float,
    rng: np.random.Generator,
) -> Path:
    """Sample one particle's trajectory at ``n_frames`` frame times spaced 1/fps apart.

    Parameters
    ----------
    motion : MotionSpec
        Kind and parameters.
    start_nm : tuple of float
        Position at t = 0 (the trap centre for ``confined``), nm.
    angle0_rad : float
        Orientation at t = 0, radians.
    n_frames : int
        Number of frames.
    fps : float
        Frame rate, 1/s.
    rng : numpy.random.Generator
        This particle's own random stream.

    Returns
    -------
    Path
        Positions (nm) and unwrapped orientation (rad) per frame.
    """
    dt = 1.0 / fps
    displacement = _GENERATORS[motion.kind](motion, n_frames, dt, rng)
    times = np.arange(n_frames) * dt
    xy = np.asarray(start_nm, dtype=float) + displacement + np.outer(times, motion.drift_nm_s)
    rot_steps = rng.standard_normal(n_frames - 1) * math.sqrt(2 * motion.D_rot_rad2_s * dt)
    angle = angle0_rad + np.concatenate([[0.0], np.cumsum(rot_steps)])
    return Path(xy_nm=xy, angle_rad=angle)
