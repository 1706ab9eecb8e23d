"""Classical baselines that the learned tracker is compared against.

:func:`~samem.baselines.trackpy_baseline.track_with_trackpy` runs trackpy (Crocker-Grier localisation and
nearest-neighbour linking) on a video and returns a trajectory table and a label stack, both scoreable with
:mod:`samem.evaluate`. :func:`~samem.baselines.unet.track_with_unet` does the same with a compact U-Net
(:func:`~samem.baselines.unet.train_unet`) segmenting each frame, connected components and trackpy linking.
"""

from samem.baselines.trackpy_baseline import BaselineResult, estimate_diameter, track_with_trackpy, tune_parameters
from samem.baselines.unet import load_unet, track_with_unet, train_unet, tune_unet

__all__ = [
    "BaselineResult",
    "estimate_diameter",
    "load_unet",
    "track_with_trackpy",
    "track_with_unet",
    "train_unet",
    "tune_parameters",
    "tune_unet",
]
