"""One colour per particle id, the same on the drawing canvas, the box table, the mask overlay and every plot."""

from __future__ import annotations

#: Distinguishable on grey TEM frames (no greys, no near-black); id k takes entry (k - 1) modulo the length.
PALETTE: tuple[str, ...] = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
)  # fmt: skip


def particle_color(particle: int) -> str:
    """The hex colour of a particle id (ids start at 1)."""
    return PALETTE[(int(particle) - 1) % len(PALETTE)]


def particle_rgb(particle: int) -> tuple[int, int, int]:
    """The colour of a particle id as an (r, g, b) tuple of 0-255 integers."""
    text = particle_color(particle).lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def rgba(particle: int, alpha: float) -> str:
    """The colour of a particle id as a CSS ``rgba(...)`` string with opacity ``alpha``."""
    r, g, b = particle_rgb(particle)
    return f"rgba({r}, {g}, {b}, {alpha})"
