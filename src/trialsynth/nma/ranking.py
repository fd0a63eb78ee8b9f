"""P-scores (Rücker & Schwarzer 2015, BMC Med Res Methodol 15:58, eq. 2–3).

P_i = 1/(T − 1) · Σ_{j≠i} Φ((θ̂_j − θ̂_i)/s_ij) when small values are desirable (Φ((θ̂_i − θ̂_j)/s_ij)
when large values are), θ̂ the network estimates against a common reference and s_ij the SE of
their difference: the mean extent of certainty that treatment i is better than another treatment,
the frequentist analogue of SUCRA. Computed for many networks alike; one network here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from trialsynth._dist import norm_cdf
from trialsynth.nma.model import NetworkFit

SmallValues = Literal["desirable", "undesirable"]


def p_scores(d: np.ndarray, vcov: np.ndarray, small_values: SmallValues = "desirable"
             ) -> np.ndarray:
    """P-score of every treatment from the estimates ``d`` (against any common reference) and
    their covariance."""
    if small_values not in ("desirable", "undesirable"):
        raise ValueError("small_values must be 'desirable' or 'undesirable'")
    t = d.size
    var = np.diag(vcov)
    se = np.sqrt(np.maximum(var[:, None] + var[None, :] - 2 * vcov, 0.0))
    diff = d[None, :] - d[:, None]  # θ̂_j − θ̂_i
    sign = 1.0 if small_values == "desirable" else -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        p = norm_cdf(sign * diff / se)  # Rücker & Schwarzer 2015, eq. 2
    np.fill_diagonal(p, 0.0)
    return p.sum(axis=1) / (t - 1)  # eq. 3: mean over the other treatments


def ranking(fit: NetworkFit, small_values: SmallValues = "desirable") -> dict[str, dict[str, float]]:
    """``{treatment: {"p_score": P}}`` for a fitted network."""
    p = p_scores(fit.d, fit.vcov, small_values)
    return {name: {"p_score": float(p[i])} for i, name in enumerate(fit.treatments)}
