"""Batch kernels of the sensitivity analyses: many sub-analyses of one analysis, pooled at once.

A sub-analysis is a subset of the studies (leave one out, the first i by year, the low-risk
ones). All subsets are laid out as one flat batch with a group index and pooled by ONE call of
:func:`trialsynth.pooling.batch.pool_arrays`, so each sub-analysis is exactly the validated
analysis on fewer studies, as metafor refits ``rma.uni`` for ``leave1out``, ``cumul`` and
``influence`` (Viechtbauer 2010, J Stat Softw 36(3) §3.6; Viechtbauer & Cheung 2010, Res Synth
Methods 1:112).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from trialsynth._dist import chi2_cdf
from trialsynth._segments import FloatArray
from trialsynth.conventions import METAFOR_CONVENTIONS, Conventions
from trialsynth.pooling.batch import Hksj, PooledBatch, pool_arrays


def pool_subsets(measure: str, method: str, columns: Mapping[str, FloatArray],
                 subsets: Sequence[np.ndarray], *, hksj: Hksj = False,
                 conventions: Conventions = METAFOR_CONVENTIONS,
                 confidence_level: float = 0.95) -> PooledBatch:
    """Pool every subset of study rows (index arrays into ``columns``) in one batch call."""
    idx = np.concatenate([np.asarray(s, dtype=np.intp) for s in subsets]) if subsets else \
        np.zeros(0, dtype=np.intp)
    group = np.repeat(np.arange(len(subsets), dtype=np.intp), [len(s) for s in subsets])
    flat = {c: np.asarray(v, dtype=np.float64)[idx] for c, v in columns.items()}
    return pool_arrays(measure, method, flat, group, len(subsets), hksj=hksj,
                       conventions=conventions, confidence_level=confidence_level)


def leave_one_out_subsets(k: int) -> list[np.ndarray]:
    """Subset i holds every study but i (metafor ``leave1out``)."""
    every = np.arange(k)
    return [every[every != i] for i in range(k)]


def cumulative_subsets(order: Sequence[int]) -> list[np.ndarray]:
    """Subset i holds the first i + 1 studies in ``order`` (metafor ``cumul``; Lau et al. 1992,
    N Engl J Med 327:248)."""
    order = np.asarray(order, dtype=np.intp)
    return [order[: i + 1] for i in range(len(order))]


@dataclass(frozen=True, slots=True)
class InfluenceArrays:
    """Case-deletion diagnostics per study (metafor ``influence.rma.uni``)."""

    rstudent: FloatArray
    dffits: FloatArray
    cook_d: FloatArray
    cov_r: FloatArray
    tau2_del: FloatArray
    qe_del: FloatArray
    hat: FloatArray
    weight: FloatArray
    dfbetas: FloatArray
    influential: np.ndarray


def influence_arrays(yi: FloatArray, vi: FloatArray, full: PooledBatch, deleted: PooledBatch,
                     random: bool) -> InfluenceArrays:
    """Influence diagnostics of the intercept-only model from the full fit (analysis 0 of
    ``full``) and the k leave-one-out fits (analysis i of ``deleted`` omits study i).

    Viechtbauer & Cheung 2010 (Res Synth Methods 1:112–125), §3, with metafor 3.8-1's
    Knapp–Hartung scaling s² (1 for Wald tests):

    * externally studentized residual (eq. 10): (yᵢ − μ̂₍ᵢ₎)/√(s²₍ᵢ₎(vᵢ + τ̂²₍ᵢ₎) + Var(μ̂₍ᵢ₎));
    * DFFITS (eq. 11): (μ̂ − μ̂₍ᵢ₎)/√(s²₍ᵢ₎ hᵢ (τ̂²₍ᵢ₎ + vᵢ));
    * Cook's distance (eq. 12): (μ̂ − μ̂₍ᵢ₎)²/Var(μ̂);
    * COVRATIO (eq. 13): Var(μ̂₍ᵢ₎)/Var(μ̂);
    * DFBETAS: (μ̂ − μ̂₍ᵢ₎)/√(s²₍ᵢ₎/Σⱼ 1/(vⱼ + τ̂²₍ᵢ₎)) (all k studies in the sum);
    * hat value hᵢ = wᵢ/Σw, weight 100·wᵢ/Σw;
    * flagged influential (metafor's rule) if |DFFITS| > 3√(p/(k − p)), P(χ²₁ ≤ Cook's d) > 0.5,
      hᵢ > 3p/k or |DFBETAS| > 1, with p = 1.
    """
    k = len(yi)
    beta, vb = full.estimate[0], full.se[0] ** 2
    tau2 = full.tau2[0] if random else 0.0
    w = 1 / (vi + tau2)
    hat = w / w.sum()
    hat = np.where(hat > 1 - 10 * np.finfo(float).eps, 1.0, hat)
    tau2_del = deleted.tau2 if random else np.zeros(k)
    b_del, vb_del = deleted.estimate, deleted.se**2
    # s²₍ᵢ₎ recovered from the fit: Var(μ̂₍ᵢ₎) = s²₍ᵢ₎/Σ_{j≠i} wⱼ (Knapp & Hartung 2003, eq. 7)
    w_all = 1 / (vi[None, :] + tau2_del[:, None])
    others = ~np.eye(k, dtype=bool)
    s2w = vb_del * (w_all * others).sum(axis=1)
    resid = yi - b_del
    resid = np.where(np.abs(resid) < 100 * np.finfo(float).eps, 0.0, resid)
    with np.errstate(invalid="ignore", divide="ignore"):
        rstudent = resid / np.sqrt(vi * s2w + vb_del + tau2_del * s2w)  # V&C 2010, eq. 10
        dfb = beta - b_del
        dffits = dfb / np.sqrt(s2w * hat * (tau2_del + vi))  # V&C 2010, eq. 11
        dfbetas = dfb / np.sqrt(s2w / w_all.sum(axis=1))
        cook = dfb**2 / vb  # V&C 2010, eq. 12
        cov_r = vb_del / vb  # V&C 2010, eq. 13
        flag = ((np.abs(dffits) > 3 * np.sqrt(1 / (k - 1))) | (chi2_cdf(cook, 1) > 0.5)
                | (hat > 3 / k) | (np.abs(dfbetas) > 1))
    return InfluenceArrays(rstudent=rstudent, dffits=dffits, cook_d=cook, cov_r=cov_r,
                           tau2_del=tau2_del, qe_del=deleted.q,
                           hat=hat, weight=100 * hat, dfbetas=dfbetas,
                           influential=np.where(np.isfinite(dffits), flag, False))
