"""Binomial-normal random-effects model for sparse 2×2 tables (odds ratio), by maximum
likelihood with adaptive Gauss–Hermite quadrature.

Conditional on the total number of events m_i = a_i + c_i of study i, the events of the
experimental arm are approximately x_i = a_i ~ Binomial(m_i, π_i) with
logit π_i = log(n1_i/n2_i) + θ_i and θ_i ~ N(μ, τ²): the approximate conditional likelihood
of Stijnen, Hamza & Özdemir (2010, Stat Med 29:3046–3067, §3.2, the "binomial-normal" model
for rare events), metafor's ``rma.glmm(measure="OR", model="CM.AL")`` (Viechtbauer 2010),
fitted there by ``lme4::glmer`` with ``nAGQ = 7``. Tables with no events, or only events, in
both arms carry no information and are left out (``drop00``).

The likelihood of each study is integrated over u = (θ_i − μ)/τ ~ N(0, 1) by adaptive
Gauss–Hermite quadrature (Liu & Pierce 1994; lme4's ``nAGQ``): centred at the conditional
mode û_i, scaled by s_i = (1 + τ²·m_i·p_i(1 − p_i))^(−1/2) at û_i. The kernel
(:func:`loglik`) is vectorised over the studies of many analyses (flat arrays plus an analysis
index); each analysis' two parameters (μ, τ) are then maximised with τ ≥ 0, and the SE of μ̂
comes from the inverse observed information of (μ, τ), as ``lme4`` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import minimize
from scipy.special import expit, gammaln

from trialsynth._dist import norm_isf, norm_sf
from trialsynth._segments import FloatArray, IntArray

NAGQ = 7  # lme4/metafor default quadrature points for rma.glmm


@dataclass(frozen=True, slots=True)
class GlmmFit:
    """μ̂ (log OR), its SE, τ̂², the Wald CI and test, per analysis."""

    estimate: FloatArray
    se: FloatArray
    tau2: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    z: FloatArray
    pvalue: FloatArray
    k: np.ndarray
    converged: np.ndarray


def _nodes(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = hermegauss(nagq)  # ∫ f(z) e^{−z²/2} dz ≈ Σ w f(z)
    return z, w / np.sqrt(2 * np.pi)  # weights of the standard normal density


def loglik(x: FloatArray, m: FloatArray, off: FloatArray, group: IntArray, n: int,
           mu: FloatArray, tau: FloatArray, nagq: int = NAGQ) -> FloatArray:
    """Log-likelihood of each of ``n`` analyses at (μ_g, τ_g), by adaptive Gauss–Hermite
    quadrature with ``nagq`` points (``nagq = 1``: the Laplace approximation)."""
    mu_i, tau_i = mu[group], np.abs(tau[group])
    u = np.zeros_like(x)
    for _ in range(100):  # Newton for the conditional mode (the integrand is log-concave)
        p = expit(off + mu_i + tau_i * u)
        grad = tau_i * (x - m * p) - u
        curv = tau_i**2 * m * p * (1 - p) + 1
        step = grad / curv
        u = u + step
        if np.max(np.abs(step)) < 1e-13:
            break
    p = expit(off + mu_i + tau_i * u)
    s = 1 / np.sqrt(tau_i**2 * m * p * (1 - p) + 1)
    z, w = _nodes(nagq)
    uu = u[:, None] + s[:, None] * z[None, :]
    eta = off[:, None] + mu_i[:, None] + tau_i[:, None] * uu
    h = x[:, None] * eta - m[:, None] * np.logaddexp(0, eta) - uu**2 / 2  # log f(y|u) + log e^{−u²/2}
    top = h.max(axis=1)
    # ∫ f(y|u) φ(u) du ≈ s·Σ_k w_k f(y|û + s z_k) φ(û + s z_k)/φ(z_k)  (adaptive GHQ)
    per = top + np.log(np.sum(w * np.exp(h - top[:, None] + z**2 / 2), axis=1)) + np.log(s)
    per = per + gammaln(m + 1) - gammaln(x + 1) - gammaln(m - x + 1)
    return np.bincount(group, weights=per, minlength=n)


def _fit_one(x: np.ndarray, m: np.ndarray, off: np.ndarray, nagq: int
             ) -> tuple[float, float, float, bool]:
    g = np.zeros(x.size, np.intp)

    def nll(par: np.ndarray) -> float:
        return -float(loglik(x, m, off, g, 1, par[:1], par[1:], nagq)[0])

    best = None
    for tau0 in (0.1, 0.5, 1.5):  # a few starts: the likelihood may be flat in τ
        res = minimize(nll, np.array([0.0, tau0]), method="L-BFGS-B",
                       bounds=[(-30, 30), (0, 20)],
                       options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 2000})
        if best is None or res.fun < best.fun:
            best = res
    mu, tau = float(best.x[0]), float(best.x[1])
    mu, tau = _polish(nll, mu, tau)
    se = _se(nll, mu, tau)
    return mu, tau, se, bool(best.success)


def _hessian(f: object, p: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``p``."""
    k = p.size
    out = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            out[i, j] = (f(p + e_i + e_j) - f(p + e_i - e_j) - f(p - e_i + e_j)
                         + f(p - e_i - e_j)) / (4 * h * h)
    return out


def _polish(nll: object, mu: float, tau: float) -> tuple[float, float]:
    """A few Newton steps from the optimiser's answer (interior optimum), or on μ alone when τ̂
    is on its boundary 0, for the precision of the reference software."""
    for _ in range(8):
        if tau > 1e-6:
            p = np.array([mu, tau])
            hess = _hessian(nll, p)
            grad = np.array([(nll(p + d) - nll(p - d)) / 2e-6 for d in np.eye(2) * 1e-6])
            if np.all(np.linalg.eigvalsh(hess) > 0):
                step = np.linalg.solve(hess, grad)
                mu, tau = mu - step[0], max(tau - step[1], 0.0)
                if np.max(np.abs(step)) < 1e-10:
                    break
                continue
        p = np.array([mu, 0.0])
        d = 1e-5
        g1 = (nll(p + [d, 0]) - nll(p - [d, 0])) / (2 * d)
        h1 = (nll(p + [d, 0]) - 2 * nll(p) + nll(p - [d, 0])) / d**2
        mu, tau = mu - g1 / h1, 0.0
        if abs(g1 / h1) < 1e-10:
            break
    return mu, tau


def _se(nll: object, mu: float, tau: float) -> float:
    """SE of μ̂: √[(H⁻¹)_μμ] with H the observed information of (μ, τ) (of μ alone when τ̂ = 0)."""
    if tau > 1e-6:
        cov = np.linalg.inv(_hessian(nll, np.array([mu, tau])))
        return float(np.sqrt(cov[0, 0]))
    h = _hessian(lambda q: nll(np.array([q[0], 0.0])), np.array([mu]))
    return float(1 / np.sqrt(h[0, 0]))


def binomial_normal(a: FloatArray, n1: FloatArray, c: FloatArray, n2: FloatArray,
                    group: IntArray, n: int, *, nagq: int = NAGQ,
                    confidence_level: float = 0.95) -> GlmmFit:
    """Fit the binomial-normal model (Stijnen et al. 2010; metafor ``model="CM.AL"``) to each
    of ``n`` analyses; ``a, c`` events and ``n1, n2`` participants per arm."""
    a, n1, c, n2 = (np.asarray(v, float) for v in (a, n1, c, n2))
    group = np.asarray(group, np.intp)
    b, d = n1 - a, n2 - c
    keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))  # drop00 (metafor's default)
    x, m, off = a[keep], (a + c)[keep], np.log(n1 / n2)[keep]
    g = group[keep]
    k = np.bincount(g, minlength=n)
    est, se, tau2 = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    conv = np.zeros(n, bool)
    for j in range(n):
        rows = g == j
        if not rows.any():
            continue
        mu, tau, s, ok = _fit_one(x[rows], m[rows], off[rows], nagq)
        est[j], se[j], tau2[j], conv[j] = mu, s, tau**2, ok
    q = float(norm_isf((1 - confidence_level) / 2))
    z = est / se
    return GlmmFit(est, se, tau2, est - q * se, est + q * se, z, 2 * norm_sf(np.abs(z)), k, conv)
