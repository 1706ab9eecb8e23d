"""What to simulate: keyword-only dataclasses, validated on construction.

Units: lengths in nm, times in s, translational diffusion coefficients in nm^2/s (nm^2/s^alpha for fractional
Brownian motion), rotational ones in rad^2/s, dose rate in electrons per A^2 per s. Positions are in nm from the
centre of the top-left pixel, x to the right (columns), y downwards (rows); so ``x_nm / px_nm`` is the column
coordinate of the video. Every invalid value raises :class:`~samem.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from samem.errors import InputError
from samem.sim.materials import LIQUIDS, MATERIALS

SHAPES = ("sphere", "rod", "triangle", "cube", "aggregate")
MOTIONS = ("brownian", "fbm", "ctrw", "confined")
QUANTIZE = ("none", "8bit", "jpeg")
DEFAULT_ASPECT = {"sphere": 1.0, "rod": 3.0, "triangle": 4.0, "cube": 1.0, "aggregate": 1.0}


def _finite(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise InputError(f"{name} must be finite, got {value!r}")
    return number


def _positive(name: str, value: float) -> float:
    number = _finite(name, value)
    if number <= 0:
        raise InputError(f"{name} must be > 0, got {value!r}")
    return number


def _non_negative(name: str, value: float) -> float:
    number = _finite(name, value)
    if number < 0:
        raise InputError(f"{name} must be >= 0, got {value!r}")
    return number


def _choice(name: str, value: str, options: tuple[str, ...] | dict) -> str:
    if value not in options:
        raise InputError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")
    return value


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"{name} must be an integer > 0, got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class MotionSpec:
    """How one particle moves.

    Attributes
    ----------
    kind : {"brownian", "fbm", "ctrw", "confined"}
        Brownian motion; fractional Brownian motion (MSD = 4 D t^alpha); continuous-time random walk with
        Lomax (shifted Pareto) waiting times of tail exponent ``alpha``; Ornstein-Uhlenbeck motion in a harmonic trap.
    D_nm2_s : float
        Translational diffusion coefficient, nm^2/s (for ``fbm`` the generalised one, nm^2/s^alpha; for ``ctrw`` the
        one of the jumps: jump variance per axis is 2 D tau0).
    alpha : float
        Anomalous exponent in (0, 2): MSD exponent for ``fbm``, waiting-time tail exponent for ``ctrw``
        (MSD ~ t^alpha for alpha < 1); ignored otherwise.
    drift_nm_s : tuple of float
        Constant drift (vx, vy), nm/s; for ``confined`` the trap centre moves with it.
    trap_radius_nm : float or None
        ``confined`` only: stationary RMS displacement per axis from the trap centre, nm (so theta = D / r^2).
    wait_scale_s : float or None
        ``ctrw`` only: the waiting-time scale tau0 of the Lomax distribution, s; None means one frame interval.
    D_rot_rad2_s : float
        In-plane rotational diffusion coefficient, rad^2/s.
    """

    kind: str = "brownian"
    D_nm2_s: float = 50.0
    alpha: float = 1.0
    drift_nm_s: tuple[float, float] = (0.0, 0.0)
    trap_radius_nm: float | None = None
    wait_scale_s: float | None = None
    D_rot_rad2_s: float = 0.0

    def __post_init__(self) -> None:
        _choice("motion", self.kind, MOTIONS)
        _non_negative("D", self.D_nm2_s)
        alpha = _finite("alpha", self.alpha)
        if not 0 < alpha < 2:
            raise InputError(f"alpha must lie in (0, 2), got {self.alpha!r}")
        if len(self.drift_nm_s) != 2:
            raise InputError(f"drift must be two numbers (vx, vy) in nm/s, got {self.drift_nm_s!r}")
        object.__setattr__(self, "drift_nm_s", tuple(_finite("drift", v) for v in self.drift_nm_s))
        if self.kind == "confined":
            if self.trap_radius_nm is None:
                raise InputError("confined motion needs a trap radius (nm)")
            _positive("trap radius", self.trap_radius_nm)
        if self.wait_scale_s is not None:
            _positive("CTRW waiting-time scale", self.wait_scale_s)
        _non_negative("rotational diffusion coefficient", self.D_rot_rad2_s)


@dataclass(frozen=True, kw_only=True)
class ParticleSpec:
    """One particle: shape, size, material, initial pose and motion.

    Attributes
    ----------
    shape : {"sphere", "rod", "triangle", "cube", "aggregate"}
        See :mod:`samem.sim.shapes` for the geometry of each.
    size_nm : float
        Sphere/aggregate-member diameter, rod diameter, triangle edge or cube edge, nm.
    aspect : float or None
        Rod: total length / diameter (>= 1, default 3); triangle: edge / prism thickness (default 4); else unused.
    material : str
        A key of :data:`samem.sim.materials.MATERIALS`.
    x_nm, y_nm : float
        Initial centre, nm (may lie outside the field of view).
    orientation_rad : float
        Initial in-plane orientation, radians (see :mod:`samem.sim.render` for the convention).
    offsets_nm : tuple of (float, float)
        ``aggregate`` only: member sphere centres relative to the particle centre (unrotated), nm; mean zero.
    motion : MotionSpec
        How it moves.
    """

    shape: str = "sphere"
    size_nm: float = 10.0
    aspect: float | None = None
    material: str = "Au"
    x_nm: float = 0.0
    y_nm: float = 0.0
    orientation_rad: float = 0.0
    offsets_nm: tuple[tuple[float, float], ...] = ()
    motion: MotionSpec = field(default_factory=MotionSpec)

    def __post_init__(self) -> None:
        _choice("shape", self.shape, SHAPES)
        _positive("particle size", self.size_nm)
        _choice("material", self.material, MATERIALS)
        aspect = DEFAULT_ASPECT[self.shape] if self.aspect is None else _positive("aspect", self.aspect)
        if self.shape == "rod" and aspect < 1:
            raise InputError(f"rod aspect (length / diameter) must be >= 1, got {aspect!r}")
        object.__setattr__(self, "aspect", aspect)
        for name in ("x_nm", "y_nm", "orientation_rad"):
            _finite(name, getattr(self, name))
        offsets = tuple((_finite("offset", a), _finite("offset", b)) for a, b in self.offsets_nm)
        if self.shape == "aggregate" and not offsets:
            raise InputError("an aggregate needs the offsets of its member spheres")
        object.__setattr__(self, "offsets_nm", offsets)
        if not isinstance(self.motion, MotionSpec):
            raise InputError("motion must be a MotionSpec")


@dataclass(frozen=True, kw_only=True)
class ImagingSpec:
    """The microscope, the liquid cell and the detector.

    Attributes
    ----------
    thickness_nm : float
        Liquid thickness at the frame centre, nm.
    liquid : str
        The liquid, a key of :data:`samem.sim.materials.LIQUIDS`.
    bulge : float
        Window bulging in [0, 1): the liquid thins to ``thickness_nm * (1 - bulge)`` at the frame corners
        (parabolic profile).
    dose_rate : float
        Electron dose rate, e-/A^2/s.
    exposure_s : float
        Exposure time per frame, s (at most 1 / fps).
    blur_px : float
        Detector point-spread function, Gaussian sigma in pixels (applied after shot noise); 0 = none.
    gradient : float
        Illumination gradient in [0, 1): relative change of beam intensity from the centre to a corner.
    gradient_angle_rad : float
        Direction of increasing illumination, radians from +x towards +y.
    illum_drift : float
        Relative amplitude in [0, 1) of slow sinusoidal beam-intensity drift over time.
    illum_period_s : float
        Period of that drift, s.
    quantize : {"none", "8bit", "jpeg"}
        Output quantisation: float32 counts, or uint8 (JPEG: uint8 after a JPEG round trip).
    jpeg_quality : int
        JPEG quality 1-100.
    """

    thickness_nm: float = 150.0
    liquid: str = "water"
    bulge: float = 0.1
    dose_rate: float = 40.0
    exposure_s: float = 0.05
    blur_px: float = 1.0
    gradient: float = 0.05
    gradient_angle_rad: float = 0.0
    illum_drift: float = 0.02
    illum_period_s: float = 20.0
    quantize: str = "none"
    jpeg_quality: int = 80

    def __post_init__(self) -> None:
        _positive("liquid thickness", self.thickness_nm)
        _choice("liquid", self.liquid, LIQUIDS)
        _positive("dose rate", self.dose_rate)
        _positive("exposure time", self.exposure_s)
        _non_negative("blur", self.blur_px)
        for name in ("bulge", "gradient", "illum_drift"):
            value = _finite(name, getattr(self, name))
            if not 0 <= value < 1:
                raise InputError(f"{name} must lie in [0, 1), got {value!r}")
        _finite("gradient angle", self.gradient_angle_rad)
        _positive("illumination drift period", self.illum_period_s)
        _choice("quantisation", self.quantize, QUANTIZE)
        if isinstance(self.jpeg_quality, bool) or not isinstance(self.jpeg_quality, int):
            raise InputError(f"JPEG quality must be an integer 1-100, got {self.jpeg_quality!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise InputError(f"JPEG quality must lie in 1-100, got {self.jpeg_quality!r}")


@dataclass(frozen=True, kw_only=True)
class VideoSpec:
    """A whole video: frame geometry, timing, particles, imaging and the random seed.

    ``supersample`` sub-samples per pixel and axis anti-alias the projected thickness.
    """

    width: int = 512
    height: int = 384
    n_frames: int = 200
    fps: float = 20.0
    px_nm: float = 0.5
    particles: tuple[ParticleSpec, ...] = ()
    imaging: ImagingSpec = field(default_factory=ImagingSpec)
    seed: int = 0
    supersample: int = 3

    def __post_init__(self) -> None:
        _positive_int("frame width", self.width)
        _positive_int("frame height", self.height)
        _positive_int("number of frames", self.n_frames)
        _positive("fps", self.fps)
        _positive("pixel size (nm/px)", self.px_nm)
        _positive_int("supersampling", self.supersample)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be an integer >= 0, got {self.seed!r}")
        particles = tuple(self.particles)
        if not all(isinstance(p, ParticleSpec) for p in particles):
            raise InputError("particles must be ParticleSpec objects")
        if len(particles) > 65535:
            raise InputError("at most 65535 particles fit the uint16 label map")
        object.__setattr__(self, "particles", particles)
        if not isinstance(self.imaging, ImagingSpec):
            raise InputError("imaging must be an ImagingSpec")
        if self.imaging.exposure_s > 1.0 / self.fps * (1 + 1e-9):
            raise InputError(
                f"exposure time {self.imaging.exposure_s} s exceeds the frame interval 1/fps = {1.0 / self.fps:g} s"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every parameter (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoSpec:
        """Rebuild a spec from :meth:`to_dict` output (e.g. the ``spec`` entry of meta.json)."""
        try:
            values = dict(data)
            values["imaging"] = ImagingSpec(**values.get("imaging", {}))
            particles = []
            for p in values.get("particles", ()):
                p = dict(p)
                motion = dict(p.get("motion", {}))
                if "drift_nm_s" in motion:
                    motion["drift_nm_s"] = tuple(motion["drift_nm_s"])
                p["motion"] = MotionSpec(**motion)
                p["offsets_nm"] = tuple(tuple(o) for o in p.get("offsets_nm", ()))
                particles.append(ParticleSpec(**p))
            values["particles"] = tuple(particles)
            return cls(**values)
        except TypeError as e:
            raise InputError(f"invalid video spec: {e}") from None
