"""samem: segment and track nanoparticles in liquid-phase TEM videos.

Subpackages, one concern each:

- ``samem.sim``: physics-based LPTEM video simulator with exact ground truth.
- ``samem.analysis``: trajectory statistics (MSD, diffusion, van Hove, VACF, drift) and reports.
- ``samem.io``: reading and writing tables and stacks, atomic output directories.
"""

__version__ = "0.1.0"
