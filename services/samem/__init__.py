"""samem: segment and track nanoparticles in liquid-phase TEM videos.

Subpackages, one concern each:

- ``samem.sim``: physics-based LPTEM video simulator with exact ground truth.
- ``samem.io``: trajectory tables, atomic output directories, video and microscopy readers.
- ``samem.model``: SAM 2 configs, building and strict checkpoint loading.
- ``samem.engine``: stateless SAM 2 steps, per-video memory state, the tracker.
- ``samem.measure`` and ``samem.results``: masks to measurements and output files.
- ``samem.tracking``: ``samem track`` end to end (also ``samem.track(video, prompts, model=...)``).
- ``samem.analysis``: trajectory statistics (MSD, diffusion, van Hove, VACF, drift) and reports.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``samem.track`` without importing torch at ``import samem`` (the CLI starts fast)."""
    if name == "track":
        from samem.tracking.api import track

        return track
    raise AttributeError(f"module 'samem' has no attribute {name!r}")
