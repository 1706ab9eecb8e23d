"""Trajectory statistics with figures and an HTML report.

MSD, diffusion coefficient and localisation error, anomalous exponent, van Hove distributions, velocity
autocorrelation and drift.

Units throughout: nm and s (MSD nm^2, D nm^2/s, velocities nm/s). Input tables are in pixels and frames.
"""

from samem.analysis.cve import cve
from samem.analysis.diffusion import fit_alpha, fit_msd_linear
from samem.analysis.drift import compute_drift, subtract_drift
from samem.analysis.msd import compute_msd, emsd, imsd
from samem.analysis.pipeline import AnalysisResult, analyze
from samem.analysis.vacf import vacf
from samem.analysis.vanhove import van_hove

__all__ = [
    "AnalysisResult", "analyze", "compute_drift", "compute_msd", "cve", "emsd", "fit_alpha", "fit_msd_linear",
    "imsd", "subtract_drift", "vacf", "van_hove", "write_analysis",
]


def __getattr__(name: str) -> object:
    """Import the writer (and with it matplotlib, lazily) only when asked for."""
    if name == "write_analysis":
        from samem.analysis.writer import write_analysis

        return write_analysis
    raise AttributeError(name)
