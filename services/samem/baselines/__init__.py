"""Classical baselines that the learned tracker is compared against.

:func:`~samem.baselines.trackpy_baseline.track_with_trackpy` runs trackpy (Crocker-Grier localisation and
nearest-neighbour linking) on a video and returns a trajectory table and a label stack, both scoreable with
:mod:`samem.evaluate`.
"""

from samem.baselines.trackpy_baseline import BaselineResult, estimate_diameter, track_with_trackpy, tune_parameters

__all__ = ["BaselineResult", "estimate_diameter", "track_with_trackpy", "tune_parameters"]
