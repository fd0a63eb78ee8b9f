"""Common-effect pooling: Mantel–Haenszel and Peto, batch-first.

Inverse-variance pooling is :func:`heterogeneity.weighted_mean`; this module holds the
methods that pool 2×2 tables directly. Cells are ``a, b`` (experimental events, non-events)
and ``c, d`` (control), already corrected by the policy in force.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trialsynth._segments import FloatArray, IntArray, segment_sum
from trialsynth.conventions import RdVariance
from trialsynth.effects.binary import peto_terms


def mantel_haenszel(measure: str, a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray,
                    group: IntArray, n: int, rd_variance: RdVariance = "sato",
                    variance_cells: tuple[FloatArray, ...] | None = None,
                    ssum: Callable[[FloatArray], FloatArray] | None = None,
                    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Mantel–Haenszel estimate (log scale for RR and OR), its SE, per-table M-H weights and
    their sum per analysis.

    OR: Σ(aᵢdᵢ/Nᵢ)/Σ(bᵢcᵢ/Nᵢ) (Mantel & Haenszel 1959), variance of Robins, Breslow & Greenland
    1986 (Biometrics 42:311, eq. 13). RR: Σ(aᵢn₂ᵢ/Nᵢ)/Σ(cᵢn₁ᵢ/Nᵢ), variance of Greenland & Robins
    1985 (Biometrics 41:55, eq. 13). RD: Σ(aᵢn₂ᵢ − cᵢn₁ᵢ)/Nᵢ / Σn₁ᵢn₂ᵢ/Nᵢ, variance of Sato,
    Greenland & Robins 1989 (Biometrics 45:1323, eq. 3; metafor) or Greenland & Robins 1985 (eq. 4).
    ``variance_cells`` (RD, Greenland–Robins only): cells for the variance numerator, RevMan's
    0.5-corrected cells while the estimate and weights use the raw counts.
    ``ssum``: the sum per analysis over ``group`` (``Segments.sum``), when the caller has one.
    """
    n1, n2 = a + b, c + d
    big_n = n1 + n2

    def s(v: FloatArray) -> FloatArray:
        return segment_sum(v, group, n) if ssum is None else ssum(v)

    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            p, q = (a + d) / big_n, (b + c) / big_n
            r, t = a * d / big_n, b * c / big_n
            sr, st = s(r), s(t)
            est = np.log(sr / st)  # Mantel & Haenszel 1959
            var = 0.5 * (s(p * r) / sr**2 + s(p * t + q * r) / (sr * st)
                         + s(q * t) / st**2)  # Robins, Breslow & Greenland 1986, eq. 13
            weights, sw = t, st
        elif measure == "RR":
            weights = c * n1 / big_n
            sr, st = s(a * n2 / big_n), s(weights)
            est = np.log(sr / st)  # Mantel & Haenszel 1959 / Nurminen 1981
            var = s(n1 * n2 * (a + c) / big_n**2 - a * c / big_n) / (sr * st)  # G&R 1985 eq. 13
            sw = st
        elif measure == "RD":
            weights = n1 * n2 / big_n
            sw = s(weights)
            est = s((a * n2 - c * n1) / big_n) / sw  # Greenland & Robins 1985, eq. 2
            if rd_variance == "sato":
                num = est * s(c * (n1 / big_n) ** 2 - a * (n2 / big_n) ** 2
                              + (n1 / big_n) * (n2 / big_n) * (n2 - n1) / 2)
                num = num + s(a * (n2 - c) / big_n + c * (n1 - a) / big_n) / 2
                var = num / sw**2  # Sato, Greenland & Robins 1989, eq. 3
            else:
                va, vb, vc, vd = variance_cells if variance_cells is not None else (a, b, c, d)
                vn1, vn2 = va + vb, vc + vd
                vN = vn1 + vn2
                var = s((va * vb * vn2**2 / vn1 + vc * vd * vn1**2 / vn2) / vN**2) / sw**2  # G&R 1985 eq 4
        else:
            raise ValueError(f"Mantel-Haenszel pooling is defined for RR, OR and RD, not {measure}")
        if measure != "RD":  # no events (or no non-events) in one arm of every table: no estimate,
            defined = (sr > 0) & (st > 0)  # as metafor rma.mh returns NA
            est, var = np.where(defined, est, np.nan), np.where(defined, var, np.nan)
        return est, np.sqrt(var), weights, sw


def peto(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray, group: IntArray, n: int
         ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, np.ndarray]:
    """Peto's pooled log odds ratio Σ(O−E)/ΣV, SE 1/√ΣV, and the Peto Q statistic.

    Q = Σ(O−E)²/V − (Σ(O−E))²/ΣV over tables with V > 0 (Yusuf et al. 1985, p. 361;
    Deeks & Higgins 2010, Peto method). Returns (estimate, se, q, V per table, V > 0 mask).
    """
    o_e, v = peto_terms(a, b, c, d)
    sv, so = segment_sum(v, group, n), segment_sum(o_e, group, n)
    pos = v > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        est = so / sv  # Yusuf 1985: ln OR = Σ(O−E)/ΣV
        se = 1 / np.sqrt(sv)
        q = segment_sum(np.where(pos, o_e**2 / v, 0.0), group, n) - so**2 / sv  # Yusuf 1985
    return est, se, np.maximum(q, 0.0), v, pos
