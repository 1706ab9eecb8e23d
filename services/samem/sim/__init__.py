"""Physics-based liquid-phase TEM video simulator with exact ground truth.

Modules, one job each: :mod:`~samem.sim.spec` (what to simulate), :mod:`~samem.sim.materials` (mean free paths),
:mod:`~samem.sim.shapes` (projected thickness), :mod:`~samem.sim.motion` (trajectories),
:mod:`~samem.sim.imaging` (thickness to noisy counts), :mod:`~samem.sim.render` (frames, labels, tracks),
:mod:`~samem.sim.snr` (measured SNR), :mod:`~samem.sim.result` (in-memory clips), :mod:`~samem.sim.writer` (files),
:mod:`~samem.sim.layout` (spec from CLI knobs), :mod:`~samem.sim.randomize` and :mod:`~samem.sim.dataset`
(training data), :mod:`~samem.sim.cli` (``samem simulate``).

The main names are importable from here (loaded on first use, so the CLI starts fast)::

    from samem.sim import VideoSpec, ParticleSpec, MotionSpec, ImagingSpec, simulate, simulate_video, write_video
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VideoSpec": "samem.sim.spec",
    "ParticleSpec": "samem.sim.spec",
    "MotionSpec": "samem.sim.spec",
    "ImagingSpec": "samem.sim.spec",
    "Frame": "samem.sim.render",
    "simulate": "samem.sim.render",
    "SimResult": "samem.sim.result",
    "simulate_video": "samem.sim.result",
    "write_video": "samem.sim.writer",
    "layout_spec": "samem.sim.layout",
    "random_spec": "samem.sim.randomize",
    "write_dataset": "samem.sim.dataset",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'samem.sim' has no attribute {name!r}")
