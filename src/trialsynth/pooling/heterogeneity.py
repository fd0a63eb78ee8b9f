"""Heterogeneity: Cochran's Q, I², H², the typical within-study variance and the Q-profile CI."""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc

from trialsynth._dist import chi2_isf, chi2_ppf
from trialsynth._segments import (
    FloatArray,
    IntArray,
    SegmentSum,
    per_unique,
    segment_count,
    segment_sum,
)
from trialsynth.pooling._roots import Blocks, solve_q
from trialsynth.pooling.control import DEFAULT_CONTROL, Control


def weighted_mean(yi: FloatArray, wi: FloatArray, group: IntArray, n: int,
                  ssum: SegmentSum | None = None) -> tuple[FloatArray, FloatArray]:
    """Inverse-variance weighted mean per analysis and the sum of weights.

    ``ssum``: the sum per analysis over ``group`` (``Segments.sum``), when the caller has one."""
    if ssum is None:
        def ssum(x: FloatArray) -> FloatArray:
            return segment_sum(x, group, n)
    sw = ssum(wi)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = ssum(wi * yi) / sw
    return mu, sw


def cochran_q(yi: FloatArray, vi: FloatArray, group: IntArray, n: int,
              center: FloatArray | None = None, ssum: SegmentSum | None = None) -> FloatArray:
    """Q = Σ wᵢ(yᵢ − θ)², wᵢ = 1/vᵢ (Cochran 1954, Biometrics 10:101).

    θ is the inverse-variance estimate unless ``center`` gives another (RevMan and metafor
    centre Q on the Mantel–Haenszel estimate for M-H analyses; Deeks & Higgins 2010).
    ``ssum``: as in :func:`weighted_mean`.
    """
    if ssum is None:
        def ssum(x: FloatArray) -> FloatArray:
            return segment_sum(x, group, n)
    wi = 1 / vi
    if center is None:
        center, _ = weighted_mean(yi, wi, group, n, ssum)
    return ssum(wi * (yi - center[group]) ** 2)


def q_pvalue(q: FloatArray, df: FloatArray) -> FloatArray:
    """Upper-tail χ² probability of Q on df degrees of freedom (NaN when df < 1)."""
    with np.errstate(invalid="ignore"):
        # scipy's chi2.sf is chdtrc(df, q) inside (scipy.stats chi2_gen._sf); called directly,
        # without the per-call argument checks; Q ≥ 0 (or NaN), inside the support
        p = chdtrc(df, np.maximum(q, 0.0))
    return np.where(df >= 1, p, np.nan)


def typical_variance(vi: FloatArray, group: IntArray, n: int,
                     sums: tuple[FloatArray, FloatArray, np.ndarray] | None = None) -> FloatArray:
    """ṽ = (k−1)·Σw / ((Σw)² − Σw²), wᵢ = 1/vᵢ (Higgins & Thompson 2002, Stat Med 21:1539, eq 9).

    ``sums``: (Σw, Σw², k) of these studies, when the caller has them (saves the passes)."""
    if sums is None:
        wi = 1 / vi
        sums = segment_sum(wi, group, n), segment_sum(wi**2, group, n), segment_count(group, n)
    sw, sw2, k = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        return (k - 1) * sw / (sw**2 - sw2)  # Higgins & Thompson 2002 eq. 9


def i2_from_tau2(tau2: FloatArray, vt: FloatArray) -> FloatArray:
    """I² = 100·τ²/(τ² + ṽ) (Higgins & Thompson 2002 eq. 9–10; metafor ``rma.uni``; RevMan 2024)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100 * tau2 / (tau2 + vt)


def h2_from_tau2(tau2: FloatArray, vt: FloatArray) -> FloatArray:
    """H² = (τ² + ṽ)/ṽ (Higgins & Thompson 2002 eq. 9)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (tau2 + vt) / vt


def i2_from_q(q: FloatArray, df: FloatArray) -> FloatArray:
    """I² = max(0, 100·(Q − df)/Q) (Higgins & Thompson 2002 eq. 10; Higgins et al. 2003, BMJ)."""
    # a subnormal Q overflows (Q − df)/Q to −inf, which the max(0, ·) below turns into 0, as it should
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        i2 = np.where(q > 0, 100 * (q - df) / q, 0.0)
    return np.where(df >= 1, np.maximum(0.0, i2), 0.0)


def h2_from_q(q: FloatArray, df: FloatArray) -> FloatArray:
    """H² = Q/df (Higgins & Thompson 2002 eq. 6, squared)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(df >= 1, q / df, 1.0)


def generalized_q(yi: FloatArray, vi: FloatArray, group: IntArray, n: int):
    """Return f(τ²) → (Q(τ²), dQ/dτ²) for all analyses at once (Viechtbauer 2007 eq. 6)."""

    def f(tau2: FloatArray) -> tuple[FloatArray, FloatArray]:
        wi = 1 / (vi + tau2[group])
        mu, _ = weighted_mean(yi, wi, group, n)
        r2 = (yi - mu[group]) ** 2
        return segment_sum(wi * r2, group, n), -segment_sum(wi**2 * r2, group, n)

    return f


TAU2_CI_SEARCHES = ("unbounded", "metafor")
MAX_WIDENINGS = 40  # ×10 each: the search reaches 1e40·max(100, 10·τ̂²), far past any real bound


def q_profile_ci(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, tau2: FloatArray,
                 confidence_level: float = 0.95, *, k: np.ndarray | None = None,
                 q0: FloatArray | None = None, search: str = "unbounded",
                 control: Control = DEFAULT_CONTROL) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """Q-profile confidence interval for τ² (Viechtbauer 2007, Stat Med 26:37, eq. 6–7).

    The bounds solve Q(τ²) = χ²_{k−1; 1−α/2} (lower) and χ²_{k−1; α/2} (upper); a bound below 0 is
    set to 0. Q(τ²) decreases to 0 as τ² grows (every weight 1/(vᵢ + τ²) → 0), so both bounds
    exist wherever Q(0) exceeds the critical value.

    ``search="unbounded"`` (default) finds them wherever they lie: the search interval starts at
    [0, max(100, 10·τ̂²)] and its end is widened tenfold until Q there is below the lower
    critical value. ``search="metafor"`` is metafor's convention (``confint.rma.uni`` with its
    default ``control = list(tau2.max = max(100, 10·τ̂²))``): a bound beyond that end is
    reported as the end itself with ``beyond`` set (metafor warns and prints "> tau2.max").
    ``k`` (studies per analysis) and ``q0`` (Cochran's Q, which is Q(0)), when the caller has
    them, save passes over the studies. ``control``: ``control.tau2_max`` replaces the end of
    the search interval, and each bound is solved to ``control.tol`` in at most
    ``control.q_maxiter`` steps (:class:`~trialsynth.pooling.control.Control`).
    """
    if search not in TAU2_CI_SEARCHES:
        raise ValueError(f"tau2 CI search must be one of {', '.join(TAU2_CI_SEARCHES)}, "
                         f"not {search!r}")
    k_int = segment_count(group, n) if k is None else k
    k = k_int.astype(np.float64)
    df = k - 1
    alpha = 1 - confidence_level
    ok = df >= 1
    with np.errstate(invalid="ignore"):
        crit_u = np.where(ok, per_unique(lambda d: chi2_isf(alpha / 2, d), np.maximum(df, 1)), np.nan)
        crit_l = np.where(ok, per_unique(lambda d: chi2_ppf(alpha / 2, d), np.maximum(df, 1)), np.nan)
    # the studies of every analysis with k ≥ 2 as dense blocks, built once for Q(τ²max) and for
    # both root searches (Blocks sums are those of segment_sum, bit for bit)
    blocks = Blocks(yi, vi, group, k_int, ok)
    zero = np.zeros(n)
    if control.tau2_max is None:  # metafor confint.rma.uni default: tau2.max = max(100, 10·τ̂²)
        tau2_max = np.maximum(100.0, 10 * np.nan_to_num(tau2))
    else:  # confint(..., control = list(tau2.max = ...))
        tau2_max = np.full(n, float(control.tau2_max))
    if q0 is None:
        q0, _ = blocks.q_and_slope(zero, n)
    qmax, _ = blocks.q_and_slope(tau2_max, n)  # NaN where not ok; every use below is masked by ok
    if search == "unbounded":
        tau2_max, qmax = _widen(blocks, tau2_max, qmax, crit_l, ok, n)
    with np.errstate(invalid="ignore"):
        # upper bound: Q(τ²) = lower critical value (metafor confint.rma.uni, "qp")
        need_ub = ok & (q0 >= crit_l) & (qmax <= crit_l)
        ub, _, _ = solve_q(yi, vi, group, n, crit_l, zero, tau2_max, need_ub, blocks=blocks,
                           rtol=control.tol, maxiter=control.q_maxiter)
        ub = np.where(ok & (q0 < crit_l), 0.0, ub)
        beyond = ok & (q0 >= crit_l) & (qmax > crit_l)
        ub = np.where(beyond, tau2_max, ub)
        need_lb = ok & (q0 >= crit_u) & (qmax <= crit_u)
        lb, _, _ = solve_q(yi, vi, group, n, crit_u, zero, tau2_max, need_lb, blocks=blocks,
                           rtol=control.tol, maxiter=control.q_maxiter)
        lb = np.where(ok & (q0 < crit_u), 0.0, lb)
        lb = np.where(ok & (qmax > crit_u), tau2_max, lb)
    lb = np.where(ok, lb, np.nan)
    ub = np.where(ok, ub, np.nan)
    return lb, ub, beyond


def _widen(blocks: Blocks, tau2_max: FloatArray, qmax: FloatArray, crit_l: FloatArray,
           ok: np.ndarray, n: int) -> tuple[FloatArray, FloatArray]:
    """The end of the search interval, ×10 until Q(end) ≤ the lower critical value (then both
    bounds lie inside: the upper critical value is larger), for every analysis at once."""
    for _ in range(MAX_WIDENINGS):
        with np.errstate(invalid="ignore"):
            need = ok & (qmax > crit_l) & np.isfinite(qmax)
        if not need.any():
            break
        tau2_max = np.where(need, 10 * tau2_max, tau2_max)
        q_new, _ = blocks.q_and_slope(tau2_max, n)
        qmax = np.where(need, q_new, qmax)
    return tau2_max, qmax
