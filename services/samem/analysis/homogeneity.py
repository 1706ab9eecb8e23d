"""Do the particles share one diffusion coefficient? Cochran's Q test of the per-particle CVE estimates.

Under the null hypothesis every particle diffuses with the same D and has the same localisation error, so each
particle's CVE estimate D_i scatters about the pooled estimate with the CVE's variance evaluated at the pooled
displacement moments and that particle's number of steps N_i (:func:`samem.analysis.cve.cve_from_moments`).
``Q = sum_i (D_i - D_pooled)^2 / var_i`` is then approximately chi-squared with P - 1 degrees of freedom (the
pooled estimate weights particles by N_i, their inverse variance to leading order). A small p-value says the
particles differ beyond their errors: either they really differ (sizes, surroundings, a mixture), and the ensemble
D is an average over them, or positions of some particles are wrong (a tracker whose masks jump between
particles). Particles with fewer than :data:`MIN_STEPS` steps are left out: the estimate of a short track is
skewed, and a few of them would reject the null on their own.

References
----------
W. G. Cochran, "The combination of estimates from different experiments", Biometrics 10, 101-129 (1954).
C. L. Vestergaard, P. C. Blainey, H. Flyvbjerg, Phys. Rev. E 89, 022726 (2014) (the CVE and its variance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from samem.analysis.cve import StepMoments, cve_from_moments

#: Particles with fewer consecutive-frame displacements than this do not enter the test.
MIN_STEPS = 30
#: The null is rejected below this p-value (rare false alarms: the test runs on every analysis).
REJECT_P = 1e-3


@dataclass(frozen=True)
class Homogeneity:
    """Cochran's Q of per-particle D about the pooled D.

    Attributes
    ----------
    q : float
        The statistic (NaN with fewer than two particles tested).
    dof : int
        Degrees of freedom: particles tested - 1.
    p : float
        Upper tail of chi-squared(dof) at q (NaN when untested).
    spread : float
        Ratio of the largest to the smallest per-particle D among those tested (NaN when untested or any D <= 0).
    """

    q: float
    dof: int
    p: float
    spread: float

    @property
    def rejected(self) -> bool:
        """True when the particles' D differ beyond their errors (:data:`REJECT_P`)."""
        return bool(self.dof >= 1 and self.p < REJECT_P)


def d_homogeneity(moments: StepMoments, dt: float, r_blur: float) -> Homogeneity:
    """Test whether the particles of ``moments`` (:func:`samem.analysis.cve.step_moments`) share one D.

    ``dt`` and ``r_blur`` as for :func:`samem.analysis.cve.cve_from_moments`.
    """
    tested = (moments.n_sq >= MIN_STEPS) & (moments.n_cov >= 1)
    if tested.sum() < 2:
        return Homogeneity(q=float("nan"), dof=0, p=float("nan"), spread=float("nan"))
    moments = moments.subset(tested)
    d = cve_from_moments(moments, dt, r_blur).D
    null_err = cve_from_moments(moments.at_pooled_moments(), dt, r_blur).D_err
    q = float(np.sum((d - cve_from_moments(moments.pooled(), dt, r_blur).D) ** 2 / null_err**2))
    dof = int(tested.sum()) - 1
    spread = float(d.max() / d.min()) if d.min() > 0 else float("nan")
    return Homogeneity(q=q, dof=dof, p=float(stats.chi2.sf(q, dof)), spread=spread)
