"""Batch kernel of the multivariate random-effects model y ~ N(Xβ, S + Σ_c θ_c G_c).

Many analyses (networks, multilevel meta-analyses, the node-splitting models of one network...)
are fitted in one call. Their studies are stored as padded blocks: ``y`` (n_studies, m), the known
sampling covariance ``v`` (n_studies, m, m), the design ``x`` (n_studies, m, p) and the random-effects
structures ``g`` (n_components, n_studies, m, m); ``group`` names the analysis of each study. A padded
row has y = 0, x = 0, g = 0 and unit sampling variance, so it adds nothing to any sum below (log 1 =
0); a parameter an analysis does not use has a zero column and a unit diagonal in X'V⁻¹X. Every
quantity the estimators need is a sum over study blocks, computed for all analyses at once
(batched matrix inverses, then per-analysis sums as one sparse product).

Formulas (metafor ``rma.mv`` 3.8-1, Viechtbauer 2010, J Stat Softw 36(3) §3.4; Harville 1977,
JASA 72:320, eq. 3.3–3.6 for the likelihoods and their derivatives):

* GLS: A = X'V⁻¹X, β̂ = A⁻¹X'V⁻¹y, Var(β̂) = A⁻¹, r = y − Xβ̂, e = V⁻¹r (= Py).
* ML: ℓ = −½(n log 2π + log|V| + r'V⁻¹r); REML adds −½ log|A| + ½ log|X'X| and uses n − p
  (metafor's ``REMLf = TRUE`` form, so log-likelihoods agree with ``logLik(rma.mv(...))``).
* Scores ∂ℓ/∂θ_c = −½ tr(P G_c) + ½ e'G_c e (REML, P = V⁻¹ − V⁻¹XA⁻¹X'V⁻¹) or
  −½ tr(V⁻¹G_c) + ½ e'G_c e (ML); expected information ½ tr(P G_c P G_d) or ½ tr(V⁻¹G_c V⁻¹G_d)
  (Harville 1977, eq. 3.6). Block-wise: tr(P G) = Σ tr(V⁻¹G) − tr(A⁻¹ Σ X'V⁻¹GV⁻¹X) and
  tr(PG_cPG_d) = Σ tr(V⁻¹G_cV⁻¹G_d) − 2 tr(A⁻¹ Σ X'V⁻¹G_cV⁻¹G_dV⁻¹X) + tr(A⁻¹B_c A⁻¹B_d).
* Fisher scoring on θ ≥ 0 with step halving whenever the likelihood would fall (the boundary
  is handled by projection), iterated for all analyses together with a convergence mask.
* Moment estimator (one component): θ = max(0, (Q − df)/tr(P₀G)), P₀ = P at θ = 0, Q = r₀'S⁻¹r₀,
  df = n − p: E[Q] = df + θ tr(P₀G) (DerSimonian & Laird 1986 generalised to a covariance
  structure; Jackson, White & Riley 2012, Biom J 54:655, §3; in network meta-analysis this is
  the estimator of netmeta, Rücker & Schwarzer 2014 / Jackson et al. 2012, see
  :mod:`trialsynth.nma.model`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.sparse import csr_matrix

from trialsynth._dist import chi2_sf
from trialsynth._segments import FloatArray, IntArray

Method = Literal["FE", "ML", "REML", "DL"]
METHODS: tuple[str, ...] = ("FE", "ML", "REML", "DL")
LOG_2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True, slots=True)
class Control:
    """Tuning of the iterative estimators (metafor ``control=``): convergence when every
    |Δθ| < ``threshold``·max(1, θ); at most ``maxiter`` scoring steps; at most ``halvings`` step
    halvings per step."""

    threshold: float = 1e-12
    maxiter: int = 500
    halvings: int = 40


DEFAULT_CONTROL = Control()


@dataclass(frozen=True, slots=True)
class MvBlocks:
    """Many multivariate meta-analyses as padded study blocks (see the module docstring)."""

    y: FloatArray  # (S, m)
    v: FloatArray  # (S, m, m) known sampling covariance; identity on padding
    x: FloatArray  # (S, m, p)
    g: FloatArray  # (c, S, m, m) random-effects structures; zero on padding
    rows: np.ndarray  # (S, m) real rows
    group: IntArray  # (S,) analysis of each study
    n_groups: int
    n_params: IntArray  # (n_groups,) parameters used by each analysis (the first n_params columns)
    _sum: csr_matrix = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = self.group.size
        m = csr_matrix((np.ones(s), (self.group, np.arange(s))), shape=(self.n_groups, s))
        object.__setattr__(self, "_sum", m)

    @property
    def n_components(self) -> int:
        return self.g.shape[0]

    def per_group(self, a: FloatArray) -> FloatArray:
        """Sum over the studies of each analysis of an (S, ...) array: (n_groups, ...)."""
        flat = np.asarray(a).reshape(a.shape[0], -1)
        return np.asarray(self._sum @ flat).reshape((self.n_groups, *a.shape[1:]))

    @property
    def k(self) -> np.ndarray:
        """Observed estimates (real rows) per analysis."""
        return np.rint(self.per_group(self.rows.sum(axis=1).astype(float))).astype(np.int64)

    def subset(self, groups: np.ndarray) -> MvBlocks:
        """The analyses ``groups`` (indices), renumbered 0 … len(groups) − 1."""
        new = np.full(self.n_groups, -1, dtype=np.intp)
        new[groups] = np.arange(groups.size)
        keep = new[self.group] >= 0
        return MvBlocks(self.y[keep], self.v[keep], self.x[keep], self.g[:, keep], self.rows[keep],
                        new[self.group[keep]], int(groups.size), self.n_params[groups])


@dataclass(frozen=True, slots=True)
class MvFit:
    """Per analysis: coefficients (n_groups, p), their covariance, variance components θ
    (n_groups, c), the heterogeneity statistic Q (at θ = 0) and the likelihood."""

    method: str
    beta: FloatArray
    vcov: FloatArray
    theta: FloatArray
    q: FloatArray
    q_df: np.ndarray
    q_pvalue: FloatArray
    rss: FloatArray  # r'V(θ̂)⁻¹r at the fitted θ (a Wald-type quadratic form)
    loglik: FloatArray  # ML/REML log-likelihood at θ̂ (NaN for FE and DL)
    converged: np.ndarray
    iterations: np.ndarray
    k: np.ndarray
    n_params: np.ndarray
    tr_p0g: FloatArray  # tr(P₀G) of the moment estimator (one component), NaN otherwise

    @property
    def se(self) -> FloatArray:
        return np.sqrt(np.clip(np.diagonal(self.vcov, axis1=1, axis2=2), 0.0, None))


@dataclass(frozen=True, slots=True)
class _Gls:
    vinv: FloatArray
    ainv: FloatArray
    beta: FloatArray
    e: FloatArray  # V⁻¹r per study (S, m)
    rss: FloatArray  # r'V⁻¹r per analysis
    logdet_v: FloatArray
    logdet_a: FloatArray


def _unused(b: MvBlocks) -> FloatArray:
    """(n_groups, p, p): unit diagonal on the parameters an analysis does not use."""
    p = b.x.shape[2]
    mask = np.arange(p)[None, :] >= b.n_params[:, None]
    return mask[:, :, None] * np.eye(p)[None] * 1.0


def _gls(b: MvBlocks, theta: FloatArray) -> _Gls:
    """Generalised least squares for every analysis at variance components ``theta``."""
    v = b.v + np.einsum("gc,cgij->gij", theta[b.group], b.g) if b.n_components else b.v
    vinv = np.linalg.inv(v)
    _, logdet = np.linalg.slogdet(v)
    vx = vinv @ b.x  # (S, m, p)
    a = b.per_group(np.einsum("smp,smq->spq", b.x, vx)) + _unused(b)
    ainv = np.linalg.inv(a)
    xty = b.per_group(np.einsum("smp,sm->sp", vx, b.y))
    beta = np.einsum("gpq,gq->gp", ainv, xty)
    r = b.y - np.einsum("smp,sp->sm", b.x, beta[b.group])
    e = np.einsum("smn,sn->sm", vinv, r)
    rss = b.per_group(np.einsum("sm,sm->s", r, e))
    return _Gls(vinv, ainv, beta, e, rss, b.per_group(logdet), np.linalg.slogdet(a)[1])


def _loglik(b: MvBlocks, fit: _Gls, reml: bool, logdet_xx: FloatArray) -> FloatArray:
    """ML or REML log-likelihood (Harville 1977, eq. 3.3/3.5; metafor's REMLf form)."""
    k = b.k
    if reml:
        n = k - b.n_params
        return (-0.5 * n * LOG_2PI + 0.5 * logdet_xx - 0.5 * fit.logdet_v - 0.5 * fit.logdet_a
                - 0.5 * fit.rss)
    return -0.5 * k * LOG_2PI - 0.5 * fit.logdet_v - 0.5 * fit.rss


def _logdet_xx(b: MvBlocks) -> FloatArray:
    """log|X'X| per analysis (the constant of metafor's REML log-likelihood)."""
    xx = b.per_group(np.einsum("smp,smq->spq", b.x, b.x)) + _unused(b)
    return np.linalg.slogdet(xx)[1]


def _score_info(b: MvBlocks, fit: _Gls, reml: bool) -> tuple[FloatArray, FloatArray]:
    """Score (n_groups, c) and expected information (n_groups, c, c) (Harville 1977, eq. 3.6)."""
    vg = np.einsum("smn,csnk->csmk", fit.vinv, b.g)  # V⁻¹G_c
    t1 = b.per_group(np.einsum("csmm->sc", vg))  # Σ tr(V⁻¹G_c)
    u = b.per_group(np.einsum("sm,csmn,sn->sc", fit.e, b.g, fit.e))  # Σ e'G_c e
    t2 = b.per_group(np.einsum("csmn,dsnm->scd", vg, vg))  # Σ tr(V⁻¹G_cV⁻¹G_d)
    if not reml:
        return -0.5 * t1 + 0.5 * u, 0.5 * t2
    vx = fit.vinv @ b.x  # V⁻¹X
    bmat = b.per_group(np.einsum("smp,csmn,snq->scpq", vx, b.g, vx))  # X'V⁻¹G_cV⁻¹X
    gvx = np.einsum("csmn,snq->csmq", b.g, vx)  # G_d V⁻¹X
    cmat = b.per_group(np.einsum("csmp,dsmq->scdpq",  # X'V⁻¹G_cV⁻¹G_dV⁻¹X
                                 np.einsum("smn,csnp->csmp", fit.vinv, gvx), gvx))
    ab = np.einsum("gpq,gcqr->gcpr", fit.ainv, bmat)  # A⁻¹B_c
    tr_ab = np.einsum("gcpp->gc", ab)
    score = -0.5 * (t1 - tr_ab) + 0.5 * u
    info = 0.5 * (t2 - 2 * np.einsum("gpq,gcdqp->gcd", fit.ainv, cmat)
                  + np.einsum("gcpq,gdqp->gcd", ab, ab))
    return score, info


def moment_theta(b: MvBlocks) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Moment estimate of one variance component (generalised DerSimonian–Laird):
    θ = max(0, (Q − df)/tr(P₀G)) with the components' structures summed into one G
    (Jackson, White & Riley 2012, §3). Returns (θ per analysis, Q, tr(P₀G))."""
    zero = np.zeros((b.n_groups, b.n_components))
    fit = _gls(b, zero)
    gsum = b.g.sum(axis=0)
    vx = fit.vinv @ b.x
    t1 = b.per_group(np.einsum("smn,snm->s", fit.vinv, gsum))
    bmat = b.per_group(np.einsum("smp,smn,snq->spq", vx, gsum, vx))
    tr = t1 - np.einsum("gpq,gqp->g", fit.ainv, bmat)  # tr(P₀G)
    df = b.k - b.n_params
    with np.errstate(invalid="ignore", divide="ignore"):
        theta = np.maximum(0.0, (fit.rss - df) / tr)  # Jackson, White & Riley 2012, eq. (8) form
    theta = np.where(df > 0, theta, 0.0)
    return theta, fit.rss, tr


def _scoring(b: MvBlocks, theta: FloatArray, reml: bool, control: Control
             ) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """Projected Fisher scoring with step halving for every analysis of ``b``."""
    lxx = _logdet_xx(b)
    converged = np.zeros(b.n_groups, dtype=bool)
    iters = np.zeros(b.n_groups, dtype=np.int64)
    active = np.arange(b.n_groups)
    sub, sub_lxx, sub_theta = b, lxx, theta.copy()
    for _ in range(control.maxiter):
        fit = _gls(sub, sub_theta)
        ll = _loglik(sub, fit, reml, sub_lxx)
        score, info = _score_info(sub, fit, reml)
        step = np.einsum("gcd,gd->gc", np.linalg.pinv(info), score)  # Fisher step I⁻¹U
        new = np.maximum(sub_theta + step, 0.0)
        for _h in range(control.halvings):  # halve where the likelihood would fall
            ll_new = _loglik(sub, _gls(sub, new), reml, sub_lxx)
            worse = ll_new < ll - 1e-12 * np.maximum(1.0, np.abs(ll))
            if not worse.any():
                break
            step = np.where(worse[:, None], step / 2, step)
            new = np.where(worse[:, None], np.maximum(sub_theta + step, 0.0), new)
        iters[active] += 1
        done = np.all(np.abs(new - sub_theta) < control.threshold * np.maximum(1.0, new), axis=1)
        theta[active] = new
        converged[active[done]] = True
        if done.all():
            break
        keep = np.flatnonzero(~done)
        active, sub_lxx, sub_theta = active[keep], sub_lxx[keep], new[keep]
        sub = sub.subset(keep)
    return theta, converged, iters


def fit_mv(b: MvBlocks, method: Method | str, *, theta: FloatArray | None = None,
           control: Control = DEFAULT_CONTROL) -> MvFit:
    """Fit every analysis of ``b``: ``FE`` (no random effects), ``DL`` (moment estimator, one
    component), ``ML`` or ``REML`` (Fisher scoring); ``theta`` fixes the variance components
    (n_groups, c) instead of estimating them (metafor ``rma.mv(..., tau2=)``)."""
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    c, n = b.n_components, b.n_groups
    k, p = b.k, b.n_params
    df = k - p
    zero_it = np.zeros(n, dtype=np.int64)
    converged = np.ones(n, dtype=bool)
    tr = np.full(n, np.nan)
    if theta is not None:
        theta = np.asarray(theta, dtype=np.float64).reshape(n, c).copy()
    elif method == "FE" or c == 0:
        theta = np.zeros((n, c))
    elif method == "DL":
        if c != 1:
            raise ValueError("the moment (DL) estimator takes one variance component")
        t, _, tr = moment_theta(b)
        theta = t[:, None]
    else:
        theta, converged, zero_it = _fit_likelihood(b, method == "REML", control)
    fit0 = _gls(b, np.zeros((n, c)))
    fit = _gls(b, theta)
    loglik = np.full(n, np.nan)
    if method in ("ML", "REML"):
        loglik = _loglik(b, fit, method == "REML", _logdet_xx(b))
    q_p = np.where(df > 0, chi2_sf(fit0.rss, np.maximum(df, 1)), np.nan)
    vcov = fit.ainv * (np.arange(b.x.shape[2])[None, :, None] < p[:, None, None])
    return MvFit(method, fit.beta, vcov, theta, fit0.rss, df, q_p, fit.rss, loglik, converged,
                 zero_it, k, p, tr)


def _fit_likelihood(b: MvBlocks, reml: bool, control: Control
                    ) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """ML/REML: start from the moment estimate split evenly over the components (a small
    positive value where it is 0, so every component can move), score, and keep θ = 0 where it
    is at least as likely (metafor's check of the boundary)."""
    n, c = b.n_groups, b.n_components
    df = b.k - b.n_params
    start, _, _ = moment_theta(b)
    scale = np.nanmean(np.where(b.rows, np.diagonal(b.v, axis1=1, axis2=2), np.nan), axis=1)
    typical = np.bincount(b.group, weights=np.nan_to_num(scale), minlength=n) / np.maximum(
        np.bincount(b.group, minlength=n), 1)
    init = np.where(start > 0, start, 0.01 * typical)[:, None] / c * np.ones((n, c))
    fitted = np.flatnonzero(df > 0)
    theta = np.zeros((n, c))
    converged = np.ones(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    if fitted.size:
        sub = b.subset(fitted)
        t, conv, it = _scoring(sub, init[fitted], reml, control)
        lxx = _logdet_xx(sub)
        ll_hat = _loglik(sub, _gls(sub, t), reml, lxx)
        ll_0 = _loglik(sub, _gls(sub, np.zeros_like(t)), reml, lxx)
        zero_wins = ll_0 >= ll_hat  # the boundary is at least as likely
        theta[fitted] = np.where(zero_wins[:, None], 0.0, t)
        converged[fitted], iters[fitted] = conv, it
    return theta, converged, iters


def loglik_at(b: MvBlocks, theta: FloatArray, method: str) -> FloatArray:
    """ML or REML log-likelihood of every analysis at given variance components (n_groups, c)."""
    theta = np.asarray(theta, dtype=np.float64).reshape(b.n_groups, b.n_components)
    return _loglik(b, _gls(b, theta), method.upper() == "REML", _logdet_xx(b))


def pack_blocks(y: list[FloatArray], v: list[FloatArray], x: list[FloatArray],
                g: list[list[FloatArray]], group: IntArray, n_groups: int,
                n_params: IntArray) -> MvBlocks:
    """Padded blocks from per-study lists: ``y[s]`` (m_s,), ``v[s]`` (m_s, m_s), ``x[s]``
    (m_s, p_s) with p_s ≤ p, ``g[c][s]`` (m_s, m_s) per component."""
    s = len(y)
    m = max((len(t) for t in y), default=1)
    p = max(int(np.max(n_params)) if len(n_params) else 1, 1)
    c = len(g)
    yy = np.zeros((s, m))
    vv = np.tile(np.eye(m), (s, 1, 1))
    xx = np.zeros((s, m, p))
    gg = np.zeros((c, s, m, m))
    rows = np.zeros((s, m), dtype=bool)
    for i in range(s):
        k = len(y[i])
        yy[i, :k] = y[i]
        vv[i, :k, :k] = v[i]
        xx[i, :k, : x[i].shape[1]] = x[i]
        rows[i, :k] = True
        for j in range(c):
            gg[j, i, :k, :k] = g[j][i]
    return MvBlocks(yy, vv, xx, gg, rows, np.asarray(group, dtype=np.intp), int(n_groups),
                    np.asarray(n_params, dtype=np.intp))
