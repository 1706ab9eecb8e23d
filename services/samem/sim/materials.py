"""Materials and their mean free paths for mass-thickness contrast.

The transmitted (unscattered into the objective aperture) fraction of a beam through thickness ``t`` of a
material is ``exp(-t / lambda)``. The values below are APPROXIMATE effective attenuation lengths at 200 kV with a
typical objective aperture (order-of-magnitude estimates that scale roughly with 1 / density and atomic number);
they set realistic relative contrast levels, not quantitative intensities.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Material:
    """A material: name, approximate mean free path (nm, 200 kV) and density (g/cm^3, informational)."""

    name: str
    mfp_nm: float
    density_g_cm3: float


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material(name="water", mfp_nm=300.0, density_g_cm3=1.0),
        Material(name="SiO2", mfp_nm=150.0, density_g_cm3=2.2),
        Material(name="Fe3O4", mfp_nm=60.0, density_g_cm3=5.2),
        Material(name="Ag", mfp_nm=30.0, density_g_cm3=10.5),
        Material(name="Au", mfp_nm=15.0, density_g_cm3=19.3),
        Material(name="Pt", mfp_nm=14.0, density_g_cm3=21.4),
    )
}
"""Approximate mean free paths at 200 kV (see the module docstring)."""

LIQUIDS = ("water",)
"""Materials allowed as the liquid layer."""

PARTICLE_MATERIALS = tuple(name for name in MATERIALS if name not in LIQUIDS)
"""Materials a particle is usually made of."""


def mean_free_path(name: str) -> float:
    """Mean free path (nm) of material ``name``; KeyError if unknown."""
    return MATERIALS[name].mfp_nm
