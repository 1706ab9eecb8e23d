"""Conversion of calibrations found in file metadata to nanometres and seconds."""

from __future__ import annotations

import math

_NM_PER_UNIT = {
    "pm": 1e-3,
    "a": 0.1,
    "å": 0.1,
    "angstrom": 0.1,
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometre": 1.0,
    "um": 1e3,
    "µm": 1e3,
    "μm": 1e3,
    "micron": 1e3,
    "microns": 1e3,
    "micrometer": 1e3,
    "micrometre": 1e3,
    "mm": 1e6,
    "m": 1e9,
    "meter": 1e9,
    "meters": 1e9,
    "metre": 1e9,
}

_S_PER_UNIT = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
}


def _normalise(unit: object) -> str:
    return str(unit).strip().lower()


def positive_or_none(value: object) -> float | None:
    """``value`` as a float if it is a finite positive number, else None."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def length_to_nm(value: object, unit: object) -> float | None:
    """``value`` in ``unit`` as nanometres; None for an unknown unit (pixels, 1/nm, blank) or a non-positive value."""
    factor = _NM_PER_UNIT.get(_normalise(unit))
    number = positive_or_none(value)
    return None if factor is None or number is None else number * factor


def time_to_s(value: object, unit: object) -> float | None:
    """``value`` in ``unit`` as seconds; None for an unknown unit or a non-positive value."""
    factor = _S_PER_UNIT.get(_normalise(unit))
    number = positive_or_none(value)
    return None if factor is None or number is None else number * factor
