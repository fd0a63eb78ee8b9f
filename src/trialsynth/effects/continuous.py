"""Effect sizes for continuous outcomes: mean difference and standardised mean difference."""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import gammaln

from trialsynth._segments import FloatArray

SmdCorrection = Literal["exact", "approx"]
SmdVariance = Literal["metafor", "revman"]


def mean_difference(m1: FloatArray, sd1: FloatArray, n1: FloatArray,
                    m2: FloatArray, sd2: FloatArray, n2: FloatArray
                    ) -> tuple[FloatArray, FloatArray]:
    """MD = m1 − m2 with vi = sd1²/n1 + sd2²/n2 (Deeks & Higgins 2010, MD; metafor "MD", vtype LS)."""
    return m1 - m2, sd1**2 / n1 + sd2**2 / n2  # Deeks & Higgins 2010, SE(MD)²


def hedges_correction(df: FloatArray, kind: SmdCorrection = "exact") -> FloatArray:
    """Small-sample bias correction J for Cohen's d.

    exact: J = Γ(m/2) / (√(m/2) Γ((m−1)/2)), m = n1+n2−2 (Hedges 1981, J Educ Stat 6:107, eq. 6e).
    approx: J = 1 − 3/(4m − 1) = 1 − 3/(4N − 9) (Hedges 1981, eq. 6f; used by RevMan 5).
    """
    df = np.asarray(df, dtype=np.float64)
    if kind == "approx":
        return 1 - 3 / (4 * df - 1)  # Hedges 1981 eq. 6f (RevMan: 1 − 3/(4N − 9))
    with np.errstate(invalid="ignore"):
        return np.exp(gammaln(df / 2) - 0.5 * np.log(df / 2) - gammaln((df - 1) / 2))  # Hedges 1981, 6e


def standardized_mean_difference(
    m1: FloatArray, sd1: FloatArray, n1: FloatArray,
    m2: FloatArray, sd2: FloatArray, n2: FloatArray,
    *, correction: SmdCorrection = "exact", variance: SmdVariance = "metafor",
) -> tuple[FloatArray, FloatArray]:
    """Hedges' g and its variance.

    g = J·(m1 − m2)/s_p with s_p² = ((n1−1)sd1² + (n2−1)sd2²)/(n1+n2−2) (Hedges 1981).
    Variance ``"metafor"`` (escalc vtype "LS"): 1/n1 + 1/n2 + g²/(2(n1+n2)) (Hedges 1982; Borenstein
    2009 eq. 4.20 with g). ``"revman"``: (n1+n2)/(n1·n2) + g²/(2(n1+n2−3.94)) (Deeks & Higgins 2010).
    """
    n = n1 + n2
    sp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n - 2))  # pooled SD, Hedges 1981
    with np.errstate(divide="ignore", invalid="ignore"):
        g = hedges_correction(n - 2, correction) * (m1 - m2) / sp
        if variance == "revman":
            vi = n / (n1 * n2) + g**2 / (2 * (n - 3.94))  # Deeks & Higgins 2010, SE(g)²
        else:
            vi = 1 / n1 + 1 / n2 + g**2 / (2 * n)  # metafor escalc SMD, vtype "LS"
    return g, vi
