"""Image formation: thickness -> expected counts -> Poisson shot noise -> detector blur -> quantisation.

Mass-thickness contrast: a pixel's expected count is ``N0(x, y, t) * exp(-tau)`` with optical depth
``tau = sum_k t_k / lambda_k + max(L(x, y) - sum_k t_k, 0) / lambda_liquid``: the particles (projected
thicknesses ``t_k``) displace liquid along the beam, and where they are together thicker than the liquid layer
``L`` no liquid is left in that column (the window bulges around them). ``N0`` is the incident count per pixel,
dose rate (e-/A^2/s) x exposure (s) x pixel area ((10 px_nm)^2 A^2), modulated by an illumination gradient and a
slow sinusoidal drift. The liquid profile ``L`` is thickest at the frame centre (window bulging).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

from samem.sim.spec import ImagingSpec


def _normalised_offsets(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row offsets from the frame centre divided by the centre-to-corner distance."""
    cy, cx = (height - 1) / 2, (width - 1) / 2
    corner = max(math.hypot(cx, cy), 1e-9)
    return (np.arange(width) - cx)[None, :] / corner, (np.arange(height) - cy)[:, None] / corner


def liquid_thickness_map(height: int, width: int, imaging: ImagingSpec) -> np.ndarray:
    """Liquid thickness (nm) per pixel: ``L0 (1 - bulge rho^2)``, rho = distance from centre / centre-to-corner."""
    u, v = _normalised_offsets(height, width)
    return imaging.thickness_nm * (1.0 - imaging.bulge * (u * u + v * v))


def illumination_map(height: int, width: int, imaging: ImagingSpec) -> np.ndarray:
    """Relative beam intensity per pixel: ``1 + gradient * (projection on the gradient direction)``, in [1-g, 1+g]."""
    u, v = _normalised_offsets(height, width)
    angle = imaging.gradient_angle_rad
    return 1.0 + imaging.gradient * (u * math.cos(angle) + v * math.sin(angle))


def illumination_drift(time_s: float, imaging: ImagingSpec) -> float:
    """Relative beam intensity at time ``time_s`` (s): ``1 + a sin(2 pi t / period)``."""
    return 1.0 + imaging.illum_drift * math.sin(2 * math.pi * time_s / imaging.illum_period_s)


def incident_counts(imaging: ImagingSpec, px_nm: float) -> float:
    """Mean electrons per pixel per frame without specimen: dose rate x exposure x (10 px_nm)^2 A^2."""
    return imaging.dose_rate * imaging.exposure_s * (10.0 * px_nm) ** 2


def detect(expected: np.ndarray, rng: np.random.Generator, blur_px: float) -> np.ndarray:
    """Poisson shot noise on ``expected`` counts, then the detector PSF (Gaussian, sigma in px); float32 counts."""
    counts = rng.poisson(expected).astype(np.float32)
    if blur_px > 0:
        counts = gaussian_filter(counts, blur_px, mode="reflect")
    return counts


class Quantizer:
    """Map float counts to uint8 with one fixed window for the whole video, optionally through JPEG.

    The window is set from the first frame it sees: its 0.05 and 99.95 percentiles, widened by 15 % of their
    span on each side so that later frames (illumination drift) rarely clip.
    """

    def __init__(self, mode: str, jpeg_quality: int) -> None:
        self.mode = mode
        self.jpeg_quality = jpeg_quality
        self.low: float | None = None
        self.high: float | None = None

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """The output frame: ``counts`` unchanged (mode none) or uint8."""
        if self.mode == "none":
            return counts
        if self.low is None:
            lo, hi = np.percentile(counts, [0.05, 99.95])
            span = max(float(hi - lo), 1e-6)
            self.low, self.high = float(lo) - 0.15 * span, float(hi) + 0.15 * span
        scaled = (counts - self.low) * (255.0 / (self.high - self.low))
        image = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        if self.mode == "jpeg":
            import imagecodecs  # loaded only for JPEG artefacts

            image = imagecodecs.jpeg8_decode(imagecodecs.jpeg8_encode(image, level=self.jpeg_quality))
        return image

    def describe(self) -> dict[str, float | int | str | None]:
        """The mapping, for meta.json: uint8 value = (counts - low) * 255 / (high - low)."""
        return {"mode": self.mode, "low_counts": self.low, "high_counts": self.high, "jpeg_quality": self.jpeg_quality}
