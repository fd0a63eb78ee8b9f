"""Effect sizes for dichotomous outcomes, vectorised over studies.

Arms: ``a`` events and ``b`` non-events in the experimental arm, ``c`` and ``d`` in the control arm
(metafor's ``ai, bi, ci, di``). All functions take corrected cells (see :mod:`zero_cells`).
"""

from __future__ import annotations

import numpy as np

from trialsynth._segments import FloatArray


def log_risk_ratio(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray
                   ) -> tuple[FloatArray, FloatArray]:
    """Log risk ratio and its variance.

    yi = log(a/n1) − log(c/n2); vi = 1/a − 1/n1 + 1/c − 1/n2
    (Deeks & Higgins 2010, RevMan 5 statistical algorithms, eq. for RR; metafor ``escalc`` "RR").
    """
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(a / n1) - np.log(c / n2)  # Deeks & Higgins 2010, RR
        vi = 1 / a - 1 / n1 + 1 / c - 1 / n2  # Deeks & Higgins 2010, SE(ln RR)²
    return yi, vi


def log_odds_ratio(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray
                   ) -> tuple[FloatArray, FloatArray]:
    """Log odds ratio and its (Woolf 1955) variance: yi = log(ad/bc), vi = 1/a + 1/b + 1/c + 1/d."""
    # overflow: an absurd count (1e308) gives inf here and is kept out by the range rule later
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        yi = np.log(a * d / (b * c))  # Woolf 1955; Deeks & Higgins 2010, OR
        vi = 1 / a + 1 / b + 1 / c + 1 / d  # Woolf 1955 variance of ln OR
    return yi, vi


def risk_difference(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray
                    ) -> tuple[FloatArray, FloatArray]:
    """Risk difference and its variance: yi = a/n1 − c/n2; vi = a·b/n1³ + c·d/n2³."""
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = a / n1 - c / n2  # Deeks & Higgins 2010, RD
        vi = a * b / n1**3 + c * d / n2**3  # Deeks & Higgins 2010, SE(RD)² = p1q1/n1 + p2q2/n2
    return yi, vi


def peto_terms(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray
               ) -> tuple[FloatArray, FloatArray]:
    """Peto's observed-minus-expected and hypergeometric variance per study.

    O − E = a − (a+c)·n1/N; V = (a+c)(b+d)·n1·n2 / (N²(N−1))
    (Yusuf et al. 1985, Prog Cardiovasc Dis 27:335, eqs. on p. 361; Deeks & Higgins 2010, Peto OR).
    """
    n1, n2 = a + b, c + d
    n = n1 + n2
    events = a + c
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # as in log_odds_ratio
        o_minus_e = a - events * n1 / n  # Yusuf 1985: O − E
        v = events * (b + d) * (n1 / n) * (n2 / n) / (n - 1)  # Yusuf 1985: hypergeometric variance
    return o_minus_e, v


def peto_log_odds_ratio(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray
                        ) -> tuple[FloatArray, FloatArray]:
    """Peto's one-step log odds ratio: yi = (O − E)/V, vi = 1/V (Yusuf et al. 1985)."""
    o_minus_e, v = peto_terms(a, b, c, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        return o_minus_e / v, 1 / v  # Yusuf 1985: ln OR_Peto = (O−E)/V, var = 1/V
