"""argparse value types that reject bad numbers with a one-line message (argparse exits with code 2)."""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0."""
    value = float(_number(text, float))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite float >= 0."""
    value = float(_number(text, float))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number >= 0")
    return value


def fraction(text: str) -> float:
    """A finite float in [0, 1]."""
    value = non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def factor_above_one(text: str) -> float:
    """A finite float > 1 (a ratio allowed either way, e.g. an area that may double or halve)."""
    value = positive_float(text)
    if value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 1")
    return value


def positive_int(text: str) -> int:
    """An integer > 0."""
    value = int(_number(text, int))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer > 0")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be an integer >= 0")
    return value


def int_list(text: str) -> list[int]:
    """Comma-separated positive integers, e.g. ``1,4,16``."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must list integers > 0")
    return values


def zoom_choice(text: str) -> float | str | None:
    """``auto``, ``off`` (None) or a finite number >= 1."""
    if text in ("auto", "off"):
        return None if text == "off" else text
    value = float(_number(text, float))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be auto, off or a number >= 1")
    return value


def int_pair(text: str) -> tuple[int, int]:
    """Two positive integers ``MIN,MAX`` with MIN <= MAX, e.g. ``512,1024``."""
    values = int_list(text)
    if len(values) != 2 or values[0] > values[1]:
        raise argparse.ArgumentTypeError(f"{text!r} must be two integers MIN,MAX with MIN <= MAX")
    return values[0], values[1]


def float_pair(text: str) -> tuple[float, float]:
    """Two finite numbers ``MIN,MAX`` with MIN <= MAX, e.g. ``6,10``."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} must be two numbers MIN,MAX")
    low, high = (float(_number(part, float)) for part in parts)
    if low > high:
        raise argparse.ArgumentTypeError(f"{text!r} must be two numbers MIN,MAX with MIN <= MAX")
    return low, high
