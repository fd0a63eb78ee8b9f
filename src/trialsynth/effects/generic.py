"""Generic inverse-variance input: an estimate with its SE, or with a confidence interval."""

from __future__ import annotations

import numpy as np

from trialsynth._dist import norm_ppf
from trialsynth._segments import FloatArray


def from_se(estimate: FloatArray, se: FloatArray) -> tuple[FloatArray, FloatArray]:
    """yi = estimate, vi = se² (Cochrane Handbook v6.4 §6.3.1)."""
    return np.asarray(estimate, float), np.asarray(se, float) ** 2


def from_ci(estimate: FloatArray, lower: FloatArray, upper: FloatArray, *,
            ratio: bool = False, confidence_level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Estimate and variance from a symmetric normal-theory CI.

    SE = (upper − lower) / (2·z_{1−α/2}) (Cochrane Handbook v6.4 §6.3.1); ratio measures
    (RR, OR, HR) are taken to the log scale first (Handbook §6.3.2).
    """
    est, lo, hi = (np.asarray(x, float) for x in (estimate, lower, upper))
    if ratio:
        est, lo, hi = np.log(est), np.log(lo), np.log(hi)
    z = norm_ppf(0.5 + confidence_level / 2)
    se = (hi - lo) / (2 * z)  # Handbook §6.3.1: SE = (upper − lower)/3.92 for a 95% CI
    return est, se**2
