"""Particle geometry: projected thickness along the beam (z), projected area, volume, bounding radius.

All particles lie flat on the window (their long axes in the image plane); the beam runs along z. Coordinates
``(u, v)`` are in nm in the particle's own frame: the image offsets from the centre rotated by minus the
orientation, so ``u`` runs along the orientation direction.

=========  =======================================  ==============================================
shape      size_nm / aspect                         geometry
=========  =======================================  ==============================================
sphere     diameter                                 ball
rod        diameter / total length over diameter    spherocylinder with its axis along u
triangle   edge / edge over prism thickness         equilateral prism, one vertex along +u
cube       edge                                     cube on a face, face normals along u and v
aggregate  member diameter; offsets_nm              touching equal spheres (centres in the plane)
=========  =======================================  ==============================================
"""

from __future__ import annotations

import math

import numpy as np

from samem.sim.spec import ParticleSpec

_SQRT3 = math.sqrt(3.0)


def _ball(u: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray:
    return 2.0 * np.sqrt(np.maximum(radius * radius - (u * u + v * v), 0.0))


def projected_thickness(particle: ParticleSpec, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Thickness of ``particle`` along the beam at in-plane points ``(u, v)`` of its own frame.

    Parameters
    ----------
    particle : ParticleSpec
        Shape and size.
    u, v : ndarray
        Coordinates relative to the particle centre in its rotated frame, nm (broadcastable).

    Returns
    -------
    ndarray
        Projected thickness, nm (0 outside the particle).
    """
    size = particle.size_nm
    if particle.shape == "sphere":
        return _ball(u, v, size / 2)
    if particle.shape == "rod":
        half_segment = (particle.aspect * size - size) / 2
        along = np.maximum(np.abs(u) - half_segment, 0.0)
        return _ball(along, v, size / 2)
    if particle.shape == "triangle":
        inradius = size / (2 * _SQRT3)
        inside = (-u <= inradius) & (0.5 * u + 0.5 * _SQRT3 * v <= inradius) & (0.5 * u - 0.5 * _SQRT3 * v <= inradius)
        return np.where(inside, size / particle.aspect, 0.0)
    if particle.shape == "cube":
        inside = (np.abs(u) <= size / 2) & (np.abs(v) <= size / 2)
        return np.where(inside, size, 0.0)
    if particle.shape == "aggregate":
        total = np.zeros(np.broadcast_shapes(np.shape(u), np.shape(v)))
        for du, dv in particle.offsets_nm:
            total += _ball(u - du, v - dv, size / 2)
        return total
    raise ValueError(f"unknown shape {particle.shape!r}")


def bounding_radius_nm(particle: ParticleSpec) -> float:
    """Radius (nm) of a disc around the centre that contains the whole projection."""
    size = particle.size_nm
    if particle.shape == "rod":
        return particle.aspect * size / 2
    if particle.shape == "triangle":
        return size / _SQRT3
    if particle.shape == "cube":
        return size / math.sqrt(2.0)
    if particle.shape == "aggregate":
        return max(math.hypot(du, dv) for du, dv in particle.offsets_nm) + size / 2
    return size / 2


def projected_area_nm2(particle: ParticleSpec) -> float:
    """Area (nm^2) of the particle's projection onto the image plane."""
    size = particle.size_nm
    radius = size / 2
    if particle.shape == "rod":
        return math.pi * radius**2 + size * (particle.aspect * size - size)
    if particle.shape == "triangle":
        return _SQRT3 / 4 * size**2
    if particle.shape == "cube":
        return size**2
    if particle.shape == "aggregate":
        return len(particle.offsets_nm) * math.pi * radius**2
    return math.pi * radius**2


def volume_nm3(particle: ParticleSpec) -> float:
    """Volume (nm^3) of the particle."""
    size = particle.size_nm
    radius = size / 2
    ball = 4 / 3 * math.pi * radius**3
    if particle.shape == "rod":
        return ball + math.pi * radius**2 * (particle.aspect * size - size)
    if particle.shape == "triangle":
        return _SQRT3 / 4 * size**2 * (size / particle.aspect)
    if particle.shape == "cube":
        return size**3
    if particle.shape == "aggregate":
        return len(particle.offsets_nm) * ball
    return ball


def aggregate_offsets(rng: np.random.Generator, n_spheres: int, diameter_nm: float) -> tuple[tuple[float, float], ...]:
    """Centres (nm, mean zero) of ``n_spheres`` equal touching spheres grown as a random planar cluster.

    Each new sphere touches a randomly chosen member at a random angle and overlaps none; the centres' mean is the
    centroid of the projection because the discs do not overlap.
    """
    centres = [np.zeros(2)]
    while len(centres) < n_spheres:
        anchor = centres[int(rng.integers(len(centres)))]
        angle = rng.uniform(0, 2 * math.pi)
        candidate = anchor + diameter_nm * np.array([math.cos(angle), math.sin(angle)])
        if all(np.hypot(*(candidate - c)) >= diameter_nm * (1 - 1e-9) for c in centres):
            centres.append(candidate)
    points = np.array(centres)
    points -= points.mean(axis=0)
    return tuple((float(a), float(b)) for a, b in points)
