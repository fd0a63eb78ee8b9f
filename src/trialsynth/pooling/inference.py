"""Confidence intervals, tests and prediction intervals for the pooled effect."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, stdtr

from trialsynth._dist import norm_isf, t_isf
from trialsynth._segments import FloatArray, IntArray, SegmentSum, per_unique, segment_sum


def interval(est: FloatArray, se: FloatArray, df: FloatArray | None, confidence_level: float
             ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """CI, test statistic and two-sided p: normal (Wald) when ``df`` is None or NaN, else t on df.

    Wald: θ̂ ± z_{1−α/2}·SE, z = θ̂/SE (Cochrane Handbook v6.4 §10.3). With df: the
    Hartung–Knapp–Sidik–Jonkman t-interval (Hartung & Knapp 2001, Stat Med 20:3875, eq. 6).
    """
    alpha = 1 - confidence_level
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
        # scipy's norm.sf(x) is ndtr(−x) and t.sf(x, df) is stdtr(df, −x) inside (scipy.stats
        # norm_gen._sf, t_gen._sf): called directly, without the per-call argument checks
        minus_abs = -np.abs(stat)
        if df is None:
            crit = norm_isf(alpha / 2)
            p = 2 * ndtr(minus_abs)
        else:
            use_t = df >= 1
            dfp = np.where(use_t, df, 1.0)
            crit = np.where(use_t, per_unique(lambda d: t_isf(alpha / 2, d), dfp), norm_isf(alpha / 2))
            p = np.where(use_t, 2 * stdtr(dfp, minus_abs), 2 * ndtr(minus_abs))
        return est - crit * se, est + crit * se, stat, p


def hksj_residual_sum(yi: FloatArray, wi: FloatArray, est: FloatArray, group: IntArray, n: int,
                      ssum: SegmentSum | None = None) -> FloatArray:
    """Σw*ᵢ(yᵢ − μ̂)² per analysis, the numerator of the Hartung–Knapp q (H&K 2001 eq. 5)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        est_g = est[group]
        r = yi - est_g
        # a residual at the rounding level of its operands is 0 (identical effects): otherwise
        # q, and with it the test statistic, is rounding noise that depends on study order
        r = np.where(np.abs(r) <= 4 * np.finfo(float).eps * np.maximum(np.abs(yi), np.abs(est_g)),
                     0.0, r)
        wr2 = wi * r**2
        return segment_sum(wr2, group, n) if ssum is None else ssum(wr2)


def hksj_from_sum(residual_sum: FloatArray, sw: FloatArray, k: np.ndarray, adhoc: bool = False
                  ) -> FloatArray:
    """Hartung–Knapp–Sidik–Jonkman SE √(q/Σw*), q = Σw*ᵢ(yᵢ − μ̂)²/(k−1), from the residual sum
    (:func:`hksj_residual_sum`) and Σw*ᵢ.

    Hartung & Knapp 2001 eq. 5; Sidik & Jonkman 2002, Stat Med 21:3153. ``adhoc`` uses max(1, q)
    so that the SE is never below the Wald SE (Knapp & Hartung 2003; Jackson et al. 2017,
    Stat Med 36:3923, §4.3; metafor ``test="adhoc"``).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        q = residual_sum / (k - 1)  # Hartung & Knapp 2001 eq. 5
        if adhoc:
            q = np.maximum(1.0, q)  # Jackson et al. 2017 §4.3
        return np.sqrt(q / sw)


def prediction_interval(est: FloatArray, se: FloatArray, tau2: FloatArray, df: FloatArray | None,
                        confidence_level: float) -> tuple[FloatArray, FloatArray]:
    """μ̂ ± q·√(τ̂² + SE²), q normal or t on df (Higgins, Thompson & Spiegelhalter 2009,
    JRSS A 172:137, eq. 12; Riley et al. 2011 BMJ 342:d549 use df = k − 2)."""
    alpha = 1 - confidence_level
    with np.errstate(invalid="ignore"):
        if df is None:
            crit = norm_isf(alpha / 2)
        else:
            use_t = df >= 1
            dfp = np.where(use_t, df, 1.0)
            crit = np.where(use_t, per_unique(lambda d: t_isf(alpha / 2, d), dfp), norm_isf(alpha / 2))
        half = crit * np.sqrt(tau2 + se**2)  # Higgins et al. 2009 eq. 12
    return est - half, est + half
