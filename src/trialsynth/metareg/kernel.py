"""Batch kernel of the mixed-effects meta-regression yᵢ ~ N(xᵢ'β, vᵢ + τ²).

Studies of many analyses sit in flat arrays with an analysis index ``group``; the design matrix
``X`` (N × p, the same p columns for every analysis) is flat too. Every matrix the estimators
need is a p × p per-analysis sum Σ wᵢᵐ xᵢxᵢ' (segment sums), so τ² of all analyses is found by
one vectorised Fisher-scoring loop with a convergence mask.

Formulas: Viechtbauer 2005 (J Educ Behav Stat 30:261, eq. 9–10, with a design matrix) and
Viechtbauer 2010 (J Stat Softw 36(3), §3.2–3.4), as implemented by metafor ``rma.uni`` 3.8-1:

* P = W − WX(X'WX)⁻¹X'W, W = diag(1/(vᵢ + τ²)); Py = W·r with r = y − Xβ̂, so
  y'Py = Σwᵢrᵢ², y'PPy = Σwᵢ²rᵢ², tr P = Σwᵢ − tr(A⁻¹B₂), tr PP = Σwᵢ² − 2tr(A⁻¹B₃) + tr((A⁻¹B₂)²)
  with A = X'WX and Bₘ = X'WᵐX.
* DL: τ² = (Q_E − (k − p))/tr P at W = diag(1/vᵢ) (Raudenbush 2009, eq. 16.42; DerSimonian &
  Laird 1986 generalised to moderators).
* ML and REML: Fisher scoring from the Hedges-type start (RSS_OLS − tr(P_OLS V))/(k − p)
  (Viechtbauer 2005, eq. 9/10; metafor's starting value), steps halved at the boundary τ² ≥ 0,
  and metafor's check that τ² is more likely than τ² = 0 (``ll0check``).
* Knapp & Hartung 2003 (Stat Med 22:2693, eq. 7–8): Var(β̂) scaled by s² = Σwᵢrᵢ²/(k − p), t and
  F tests on k − p df; Q_M/m ~ F(m, k − p). ``adhoc`` truncates s² at 1 (Knapp & Hartung 2003, §3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsynth import _dist
from trialsynth._segments import FloatArray, IntArray, segment_count, segment_sum

METHODS = ("FE", "DL", "ML", "REML")
TESTS = ("z", "knha", "adhoc")
THRESHOLD = 1e-14  # |Δτ²| < THRESHOLD·max(1, τ²) (metafor default 1e-5, tightened for 1e-6 agreement)
MAXITER = 1000
LL_TOL = 1e-12  # relative log-likelihood margin for the τ² = 0 check


@dataclass(frozen=True, slots=True)
class MetaRegBatch:
    """Results per analysis; coefficient arrays have shape (n, p)."""

    k: np.ndarray
    p: int
    beta: FloatArray
    se: FloatArray
    statistic: FloatArray
    pvalue: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    df: FloatArray  # residual df k − p of t and F tests (NaN for z)
    tau2: FloatArray
    i2: FloatArray
    h2: FloatArray
    qm: FloatArray
    qm_df: np.ndarray  # m (numerator df)
    qm_pvalue: FloatArray
    qe: FloatArray
    qe_df: np.ndarray
    qe_pvalue: FloatArray
    s2w: FloatArray  # Knapp–Hartung scale (1 for z)
    vb: FloatArray  # (n, p, p) covariance of β̂ (scaled for knha)
    converged: np.ndarray
    iterations: np.ndarray


def _gram(X: FloatArray, w: FloatArray, g: IntArray, n: int) -> FloatArray:
    """Per-analysis Σ wᵢ xᵢxᵢ' as an (n, p, p) array."""
    p = X.shape[1]
    out = np.empty((n, p, p))
    for a in range(p):
        for b in range(a, p):
            out[:, a, b] = out[:, b, a] = segment_sum(w * X[:, a] * X[:, b], g, n)
    return out


def _xty(X: FloatArray, w: FloatArray, y: FloatArray, g: IntArray, n: int) -> FloatArray:
    return np.stack([segment_sum(w * X[:, a] * y, g, n) for a in range(X.shape[1])], axis=1)


def _inv(a: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            return np.linalg.inv(a)
        except np.linalg.LinAlgError:  # a singular analysis: invert one by one, NaN where singular
            out = np.full_like(a, np.nan)
            for i in range(a.shape[0]):
                try:
                    out[i] = np.linalg.inv(a[i])
                except np.linalg.LinAlgError:
                    pass
            return out


def _wls(y: FloatArray, X: FloatArray, w: FloatArray, g: IntArray, n: int
         ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Weighted least squares per analysis: β̂ (n, p), (X'WX)⁻¹ (n, p, p), residuals r (N)."""
    ainv = _inv(_gram(X, w, g, n))
    beta = np.einsum("nij,nj->ni", ainv, _xty(X, w, y, g, n))
    r = y - np.einsum("ij,ij->i", X, beta[g])
    return beta, ainv, r


def _traces(X: FloatArray, w: FloatArray, g: IntArray, n: int, ainv: FloatArray
            ) -> tuple[FloatArray, FloatArray]:
    """tr P and tr PP for P = W − WXA⁻¹X'W (Viechtbauer 2005, eq. 10 terms)."""
    m2 = ainv @ _gram(X, w**2, g, n)
    m3 = ainv @ _gram(X, w**3, g, n)
    tr_p = segment_sum(w, g, n) - np.trace(m2, axis1=1, axis2=2)
    tr_pp = (segment_sum(w**2, g, n) - 2 * np.trace(m3, axis1=1, axis2=2)
             + np.einsum("nij,nji->n", m2, m2))
    return tr_p, tr_pp


def _loglik(y: FloatArray, v: FloatArray, X: FloatArray, g: IntArray, n: int, k: np.ndarray,
            tau2: FloatArray, reml: bool) -> FloatArray:
    """ML or REML log-likelihood at τ² (Viechtbauer 2005, eq. 5 and 7)."""
    w = 1 / (v + tau2[g])
    a = _gram(X, w, g, n)
    _, ainv, r = _wls(y, X, w, g, n)
    p = X.shape[1]
    ll = -0.5 * segment_sum(np.log(v + tau2[g]), g, n) - 0.5 * segment_sum(w * r**2, g, n)
    if reml:
        with np.errstate(invalid="ignore"):
            ll = ll - 0.5 * (k - p) * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(a)[1]
    else:
        ll = ll - 0.5 * k * np.log(2 * np.pi)
    return ll


def _start(y: FloatArray, v: FloatArray, X: FloatArray, g: IntArray, n: int, k: np.ndarray
           ) -> FloatArray:
    """Hedges-type start (RSS − tr(P V))/(k − p) from OLS (metafor rma.uni; Raudenbush 2009)."""
    ones = np.ones_like(y)
    _, ainv, r = _wls(y, X, ones, g, n)
    tr_pv = segment_sum(v, g, n) - np.trace(ainv @ _gram(X, v, g, n), axis1=1, axis2=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.maximum(0.0, (segment_sum(r**2, g, n) - tr_pv) / (k - X.shape[1]))


def tau2_metareg(y: FloatArray, v: FloatArray, X: FloatArray, g: IntArray, n: int, method: str
                 ) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """Residual τ² per analysis for ``method`` in FE, DL, ML, REML; (τ², converged, iterations)."""
    k = segment_count(g, n)
    p = X.shape[1]
    zero_it = np.zeros(n, dtype=np.int64)
    if method == "FE":
        return np.zeros(n), np.ones(n, dtype=bool), zero_it
    if method == "DL":
        w = 1 / v
        _, ainv, r = _wls(y, X, w, g, n)
        tr_p, _ = _traces(X, w, g, n, ainv)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau2 = (segment_sum(w * r**2, g, n) - (k - p)) / tr_p  # generalised DL (Raudenbush 2009)
        return np.maximum(0.0, tau2), np.ones(n, dtype=bool), zero_it
    if method not in ("ML", "REML"):
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    reml = method == "REML"
    tau2 = _start(y, v, X, g, n, k)
    active = (k > p) & np.isfinite(tau2)
    converged = ~active
    iters = np.zeros(n, dtype=np.int64)
    for _ in range(MAXITER):
        if not active.any():
            break
        w = 1 / (v + tau2[g])
        _, ainv, r = _wls(y, X, w, g, n)
        tr_p, tr_pp = _traces(X, w, g, n, ainv)
        ypp = segment_sum(w**2 * r**2, g, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            if reml:  # Fisher scoring, REML (Viechtbauer 2005, eq. 10)
                adj = (ypp - tr_p) / tr_pp
            else:  # Fisher scoring, ML (Viechtbauer 2005, eq. 9)
                adj = (ypp - segment_sum(w, g, n)) / segment_sum(w**2, g, n)
            # step halving while τ² + adj < 0 (metafor rma.uni)
            halvings = np.ceil(np.log2(np.where(tau2 > 0, -adj / tau2, 1.0)))
            adj = np.where(tau2 + adj < 0, np.where(tau2 > 0, adj / 2.0**halvings, 0.0), adj)
        new = np.where(active, np.maximum(0.0, tau2 + adj), tau2)
        iters += active
        done = active & (np.abs(new - tau2) < THRESHOLD * np.maximum(1.0, new))
        tau2 = new
        converged |= done
        active &= ~done & np.isfinite(tau2)
    # metafor's ll0check: τ² = 0 wins if it is more likely than the scoring solution
    ll_hat = _loglik(y, v, X, g, n, k, tau2, reml)
    ll_0 = _loglik(y, v, X, g, n, k, np.zeros(n), reml)
    zero_wins = (ll_0 - ll_hat > LL_TOL * np.maximum(1.0, np.abs(ll_hat))) & (tau2 > 0)
    tau2 = np.where(zero_wins, 0.0, tau2)
    return np.where(k > p, tau2, np.nan), converged, iters


def metareg_arrays(yi: FloatArray, vi: FloatArray, X: FloatArray, group: IntArray, n: int, *,
                   method: str = "REML", test: str = "z", intercept_col: int | None = 0,
                   confidence_level: float = 0.95) -> MetaRegBatch:
    """Fit yᵢ = xᵢ'β + uᵢ + εᵢ for every analysis of a flat batch (metafor ``rma(yi, vi, mods)``).

    ``intercept_col``: the intercept column, left out of the omnibus test Q_M (metafor ``btt``);
    ``None`` tests every coefficient. With one column (intercept only) Q_M tests it.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
    y, v = np.asarray(yi, dtype=np.float64), np.asarray(vi, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64).reshape(len(y), -1)
    g = np.asarray(group, dtype=np.intp)
    p = X.shape[1]
    k = segment_count(g, n)
    tau2, converged, iters = tau2_metareg(y, v, X, g, n, method)
    t2 = np.nan_to_num(tau2)
    w = 1 / (v + t2[g])
    beta, vb, r = _wls(y, X, w, g, n)
    df = (k - p).astype(np.float64)
    s2w = np.ones(n)
    if test in ("knha", "adhoc"):  # Knapp & Hartung 2003, eq. 7: s² = Σwᵢrᵢ²/(k − p)
        rss = segment_sum(w * r**2, g, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / df)
        if test == "adhoc":
            s2w = np.maximum(s2w, 1.0)  # Knapp & Hartung 2003, §3 (never below the model-based SE)
        vb = vb * s2w[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
        stat = beta / se
    alpha = 1 - confidence_level
    btt = [j for j in range(p) if j != intercept_col] if p > 1 else list(range(p))
    m = len(btt)
    sub = vb[:, btt][:, :, btt]
    bb = beta[:, btt]
    qm = np.einsum("ni,nij,nj->n", bb, _inv(sub), bb)  # Wald Q_M (Viechtbauer 2010, §3.3)
    with np.errstate(invalid="ignore", divide="ignore"):
        if test == "z":
            crit = np.full(n, _dist.norm_isf(alpha / 2))
            pval = 2 * _dist.norm_sf(np.abs(stat))
            qm_p = _dist.chi2_sf(qm, m)
            df_out = np.full(n, np.nan)
        else:
            dfp = np.where(df > 0, df, np.nan)
            crit = _dist.t_isf(alpha / 2, dfp)
            pval = 2 * _dist.t_sf(np.abs(stat), dfp[:, None])
            qm = qm / m  # F statistic (Knapp & Hartung 2003, eq. 8)
            qm_p = _dist.f_sf(qm, m, dfp)
            df_out = df
    ci_low = beta - crit[:, None] * se
    ci_high = beta + crit[:, None] * se
    # residual heterogeneity Q_E at the fixed-effects weights (Viechtbauer 2010, §3.3)
    wf = 1 / v
    _, ainv_f, r_f = _wls(y, X, wf, g, n)
    qe = np.maximum(0.0, segment_sum(wf * r_f**2, g, n))
    tr_pf, _ = _traces(X, wf, g, n, ainv_f)
    with np.errstate(invalid="ignore", divide="ignore"):
        qe_p = _dist.chi2_sf(qe, df)
        vt = df / tr_pf  # "typical" sampling variance (Higgins & Thompson 2002; metafor i2def "1")
        if method == "FE":
            i2 = np.maximum(0.0, 100 * (qe - df) / qe)
            h2 = qe / df
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
    none = k <= p  # metafor: Q_E = 0, p = 1, I² = 0, H² = 1 when k = p
    qe, qe_p = np.where(none, 0.0, qe), np.where(none, 1.0, qe_p)
    i2, h2 = np.where(none, 0.0, i2), np.where(none, 1.0, h2)
    return MetaRegBatch(
        k=k, p=p, beta=beta, se=se, statistic=stat, pvalue=pval, ci_low=ci_low, ci_high=ci_high,
        df=df_out, tau2=tau2 if method != "FE" else np.zeros(n), i2=i2, h2=h2, qm=qm,
        qm_df=np.full(n, m), qm_pvalue=qm_p, qe=qe, qe_df=k - p, qe_pvalue=qe_p, s2w=s2w, vb=vb,
        converged=converged, iterations=iters)


def r2_metareg(y: FloatArray, v: FloatArray, X: FloatArray, g: IntArray, n: int, method: str,
               tau2: FloatArray) -> FloatArray:
    """Pseudo-R² (%): heterogeneity accounted for by the moderators.

    Random effects: max(0, (τ²₀ − τ²)/τ²₀), τ²₀ from the intercept-only model with the same
    estimator, 0 when τ²₀ = 0 (Raudenbush 2009, eq. 16.43; López-López et al. 2014, Br J Math Stat
    Psychol 67:30). Common effect: the adjusted R² of the weighted least-squares fit (metafor
    ``rma.uni`` for method "FE").
    """
    k = segment_count(g, n)
    p = X.shape[1]
    if method == "FE":
        w = 1 / v
        _, _, r = _wls(y, X, w, g, n)
        ybar = segment_sum(w * y, g, n) / segment_sum(w, g, n)
        tss = segment_sum(w * (y - ybar[g]) ** 2, g, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = 1 - segment_sum(w * r**2, g, n) / tss
            adj = 1 - (1 - r2) * (k - 1) / (k - p)  # adjusted R² of lm(yi ~ X, weights = 1/vi)
        return np.where(tss == 0, 0.0, np.maximum(0.0, 100 * adj))
    tau2_0, _, _ = tau2_metareg(y, v, np.ones((len(y), 1)), g, n, method)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(tau2_0 == 0, 0.0, (tau2_0 - tau2) / tau2_0)
    return np.maximum(0.0, 100 * r2)
