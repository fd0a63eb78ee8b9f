"""Bayesian normal-normal hierarchical model (NNHM) by numerical integration over τ, batched.

Model (Röver 2020, J Stat Softw 93(6), eq. 1-2): y_i | μ, τ ~ N(μ, s_i² + τ²), μ ~ N(m₀, s₀²) or
flat, τ ~ p(τ). Given τ, the posterior of μ is normal (Röver 2020, eq. 7-8; Gelman et al. 2014,
BDA3 eq. 5.20):

    V(τ) = 1 / (Σ w_i + 1/s₀²),  μ̂(τ) = V(τ)·(Σ w_i y_i + m₀/s₀²),  w_i = 1/(s_i² + τ²),

and the marginal posterior of τ is (Röver 2020, eq. 9; BDA3 eq. 5.21)

    p(τ | y) ∝ p(τ) · V(τ)^½ · Π (s_i² + τ²)^-½ · exp(-½ [Σ w_i (y_i - μ̂)² + (m₀ - μ̂)²/s₀²]).

Every posterior quantity is then a one-dimensional integral over τ; the marginal of μ and the
predictive of a new study's effect θ* (N(μ̂, V + τ²) given τ; Röver 2020, eq. 12) are normal
mixtures over τ. bayesmeta evaluates these integrals by adaptive quadrature and the "DIRECT"
discretisation (Röver & Friede 2017, J Comput Graph Stat 26:1028); here the integral over
x = log τ is taken by composite Gauss-Legendre quadrature after the substitution
x = ℓ + h·tan(π(u - ½)), u ∈ (0, 1), which maps the whole real line (τ from 0 to ∞) to (0, 1)
with polynomially decaying integrands at both ends. The same nodes u serve every analysis of a
batch (each with its own centre ℓ), so the work is a few sparse matrix products.

No MCMC: results are deterministic; the quadrature error is far below the printed digits (tests
compare with bayesmeta's published output and with a long Metropolis run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import legendre
from scipy import sparse
from scipy.special import ndtr

from trialsynth._segments import FloatArray, IntArray, segment_count, segment_sum
from trialsynth.assess.bayes.priors import TauPrior

PANELS = 96  # composite Gauss-Legendre: panels on (0, 1) ...
NODES = 16  # ... with this many nodes each (1,536 nodes per analysis)
SPREAD = 2.5  # h of the tan substitution, in units of log τ
_XI, _WQ = legendre.leggauss(NODES)


def _grid() -> tuple[FloatArray, FloatArray]:
    """Nodes u and weights of the composite Gauss-Legendre rule on (0, 1)."""
    edges = np.linspace(0.0, 1.0, PANELS + 1)
    half = np.diff(edges) / 2
    mid = (edges[:-1] + edges[1:]) / 2
    u = (mid[:, None] + half[:, None] * _XI[None, :]).ravel()
    w = (half[:, None] * _WQ[None, :]).ravel()
    return u, w


_U, _W = _grid()


@dataclass(frozen=True, slots=True)
class NnhmBatch:
    """Posterior of many NNHM analyses; per-analysis arrays, and the τ grid with posterior masses
    for further queries (:meth:`mu_cdf`, :meth:`predictive_cdf`)."""

    k: np.ndarray
    mu_mean: FloatArray
    mu_sd: FloatArray
    mu_median: FloatArray
    mu_low: FloatArray
    mu_high: FloatArray
    tau_mean: FloatArray
    tau_sd: FloatArray
    tau_median: FloatArray
    tau_low: FloatArray
    tau_high: FloatArray
    pred_mean: FloatArray
    pred_sd: FloatArray
    pred_low: FloatArray
    pred_high: FloatArray
    level: float
    tau: FloatArray = field(repr=False)  # (A, G) grid of τ
    mass: FloatArray = field(repr=False)  # (A, G) posterior probability of each node
    cond_mean: FloatArray = field(repr=False)  # (A, G) μ̂(τ)
    cond_var: FloatArray = field(repr=False)  # (A, G) V(τ)

    def mu_cdf(self, x: FloatArray) -> FloatArray:
        """P(μ ≤ x_a | y) for each analysis a (normal mixture over τ)."""
        return _mixture_cdf(np.asarray(x, dtype=np.float64), self.mass, self.cond_mean,
                            self.cond_var)

    def predictive_cdf(self, x: FloatArray) -> FloatArray:
        """P(θ* ≤ x_a | y): the effect of a new study (Röver 2020, eq. 12)."""
        return _mixture_cdf(np.asarray(x, dtype=np.float64), self.mass, self.cond_mean,
                            self.cond_var + self.tau ** 2)

    def mu_quantile(self, p: float) -> FloatArray:
        return _mixture_quantile(p, self.mass, self.cond_mean, self.cond_var)

    def predictive_quantile(self, p: float) -> FloatArray:
        return _mixture_quantile(p, self.mass, self.cond_mean, self.cond_var + self.tau ** 2)


def nnhm_batch(y: FloatArray, se: FloatArray, group: IntArray, n_groups: int,
               priors: TauPrior | list[TauPrior], *, mu_prior_mean: float | None = None,
               mu_prior_sd: float | None = None, level: float = 0.95) -> NnhmBatch:
    """Posterior summaries of ``n_groups`` NNHM analyses at once.

    ``y``, ``se``: study effects and standard errors (flat, finite, se > 0); ``group``: analysis
    index of each study. ``priors``: one τ prior for all analyses or one per analysis. A normal μ
    prior is given by ``mu_prior_mean``/``mu_prior_sd``; without them μ has a flat prior.
    Intervals are central (equal-tailed) at ``level``.
    """
    y = np.asarray(y, dtype=np.float64)
    v = np.asarray(se, dtype=np.float64) ** 2
    group = np.asarray(group, dtype=np.intp)
    prior_list = [priors] * n_groups if isinstance(priors, TauPrior) else list(priors)
    k = segment_count(group, n_groups)
    # per-analysis centre ℓ of the substitution: the smaller of the prior median and the
    # typical within-study SD (both only place nodes; the integral covers 0 < τ < ∞)
    typical = np.sqrt(segment_sum(v, group, n_groups) / np.maximum(k, 1))
    med = np.array([p.quantile(0.5) for p in prior_list])
    centre = np.log(np.where(np.isfinite(typical) & (typical > 0), np.minimum(med, typical), med))
    # a log-normal/log-t prior is centred on its median with a spread matched to its own scale,
    # so that even a near-point prior (τ fixed) is resolved
    is_log = np.array([p.kind in ("log-normal", "log-t") for p in prior_list])
    scale = np.array([p.scale for p in prior_list])
    centre = np.where(is_log, np.log(med), centre)
    spread = np.where(is_log, np.minimum(SPREAD, 2 * scale), SPREAD)
    tan = np.tan(np.pi * (_U - 0.5))
    x = np.clip(centre[:, None] + spread[:, None] * tan[None, :], -300.0, 300.0)  # log τ, (A, G)
    log_jac = np.log(spread * math.pi)[:, None] - 2 * np.log(np.abs(np.cos(np.pi * (_U - 0.5))))
    tau = np.exp(x)
    logpost, cond_mean, cond_var = _log_marginal(y, v, group, n_groups, tau, mu_prior_mean,
                                                 mu_prior_sd)
    logprior = np.vstack([p.logpdf(tau[a]) for a, p in enumerate(prior_list)]) if \
        len({id(p) for p in prior_list}) > 1 else prior_list[0].logpdf(tau)
    # density of x = log τ is p(τ)·τ; of u, times dx/du
    lp = logpost + logprior + x + log_jac
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    top = lp.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    dens = np.exp(lp - top)  # unnormalised density in u at the nodes
    raw = dens * _W[None, :]
    total = raw.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mass = raw / total
    empty = k == 0
    mass[empty] = np.nan
    mu_mean = (mass * cond_mean).sum(axis=1)
    # law of total variance over the mixture
    mu_var = (mass * (cond_var + cond_mean ** 2)).sum(axis=1) - mu_mean ** 2
    pred_var = mu_var + (mass * tau ** 2).sum(axis=1)
    lo_p, hi_p = (1 - level) / 2, (1 + level) / 2
    tau_q = _tau_quantiles(dens / total, centre, spread, (lo_p, 0.5, hi_p))
    tau_mean = (mass * tau).sum(axis=1)
    out = NnhmBatch(
        k=k, mu_mean=mu_mean, mu_sd=np.sqrt(np.maximum(mu_var, 0)),
        mu_median=_mixture_quantile(0.5, mass, cond_mean, cond_var),
        mu_low=_mixture_quantile(lo_p, mass, cond_mean, cond_var),
        mu_high=_mixture_quantile(hi_p, mass, cond_mean, cond_var),
        tau_mean=tau_mean, tau_sd=np.sqrt(np.maximum((mass * tau ** 2).sum(axis=1) - tau_mean ** 2,
                                                  0)), tau_median=tau_q[1], tau_low=tau_q[0],
        tau_high=tau_q[2], pred_mean=mu_mean, pred_sd=np.sqrt(np.maximum(pred_var, 0)),
        pred_low=_mixture_quantile(lo_p, mass, cond_mean, cond_var + tau ** 2),
        pred_high=_mixture_quantile(hi_p, mass, cond_mean, cond_var + tau ** 2),
        level=level, tau=tau, mass=mass, cond_mean=cond_mean, cond_var=cond_var)
    return out


def _log_marginal(y: FloatArray, v: FloatArray, group: IntArray, n_groups: int, tau: FloatArray,
                  m0: float | None, s0: float | None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """log p(y | τ) up to a constant, μ̂(τ) and V(τ) at every node (A, G) (module docstring)."""
    n = len(y)
    member = sparse.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(n_groups, n))
    tau2_study = tau[group] ** 2  # (n, G): each study sees its own analysis' grid
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        tot = v[:, None] + tau2_study
        w = 1.0 / tot
        s0w = member @ w
        s1 = member @ (w * y[:, None])
        s2 = member @ (w * (y ** 2)[:, None])
        slog = member @ np.log(tot)
        if m0 is not None and s0 is not None:  # the normal μ prior acts as one more datum
            p0 = 1.0 / s0 ** 2
            s0w, s1, s2 = s0w + p0, s1 + p0 * m0, s2 + p0 * m0 ** 2
        cond_mean = s1 / s0w
        cond_var = 1.0 / s0w
        q = s2 - s1 ** 2 / s0w  # Σ w (y - μ̂)² (+ prior term), Röver 2020 eq. 9
        logml = -0.5 * slog - 0.5 * np.log(s0w) - 0.5 * q
    return logml, cond_mean, cond_var


def _mixture_cdf(x: FloatArray, mass: FloatArray, mean: FloatArray, var: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x[:, None] - mean) / np.sqrt(var)
        return np.nansum(mass * ndtr(z), axis=1) + np.where(np.isnan(mass).all(axis=1), np.nan, 0)


def _mixture_quantile(p: float, mass: FloatArray, mean: FloatArray, var: FloatArray) -> FloatArray:
    """Quantile of a normal mixture per row: bracketing bisection, then safeguarded Newton."""
    sd = np.sqrt(var)
    ok = np.isfinite(mass).all(axis=1) & (np.nansum(mass, axis=1) > 0)
    live = mass > 1e-16  # nodes carrying less cannot move a quantile by a printed digit
    lo = np.where(live, mean - 40 * sd, np.inf).min(axis=1)
    hi = np.where(live, mean + 40 * sd, -np.inf).max(axis=1)
    lo, hi = np.where(ok, lo, 0.0), np.where(ok, hi, 1.0)
    for _ in range(64):
        mid = (lo + hi) / 2
        below = _mixture_cdf(mid, np.where(ok[:, None], mass, 0), mean, var) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    xq = (lo + hi) / 2
    for _ in range(4):  # Newton polish: f = Σ mass φ(z)/sd
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z = (xq[:, None] - mean) / sd
            dens = np.nansum(mass * np.exp(-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)) / sd, axis=1)
            step = (_mixture_cdf(xq, mass, mean, var) - p) / dens
        xq = np.where(np.isfinite(step) & (np.abs(step) < (hi - lo) + 1e-12), xq - step, xq)
    return np.where(ok, xq, np.nan)


_LEG_AT_NODES = legendre.legvander(_XI, NODES - 1)  # P_n(ξ_j), (NODES, NODES)
# discrete Legendre transform: c_n = (2n + 1)/2 · Σ_j w_j g(ξ_j) P_n(ξ_j), exact for degree < NODES
_TO_COEF = (_LEG_AT_NODES * _WQ[:, None]).T * ((2 * np.arange(NODES) + 1) / 2)[:, None]


def _tau_quantiles(dens: FloatArray, centre: FloatArray, spread: FloatArray,
                   probs: tuple[float, ...]) -> list[FloatArray]:
    """Quantiles of τ from the normalised density in u at the nodes: find the panel by cumulative
    panel integrals, then invert the integral of the panel's Legendre interpolant (spectrally
    accurate for a smooth integrand)."""
    n_a = dens.shape[0]
    per_panel = dens.reshape(n_a, PANELS, NODES)
    half = 0.5 / PANELS
    panel_mass = (per_panel * _WQ[None, None, :]).sum(axis=2) * half
    cum = np.cumsum(panel_mass, axis=1)
    edges = np.linspace(0.0, 1.0, PANELS + 1)
    out = []
    rows = np.arange(n_a)
    for p in probs:
        j = np.minimum((cum < p).sum(axis=1), PANELS - 1)
        before = np.where(j > 0, cum[rows, np.maximum(j - 1, 0)], 0.0)
        coef = per_panel[rows, j] @ _TO_COEF.T  # (A, NODES) Legendre coefficients
        integ = legendre.legint(coef.T, lbnd=-1).T * half  # antiderivative from ξ = -1
        lo, hi = np.full(n_a, -1.0), np.full(n_a, 1.0)
        for _ in range(55):
            mid = (lo + hi) / 2
            val = before + legendre.legval(mid, integ.T, tensor=False)
            below = val < p
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        u = (edges[j] + edges[j + 1]) / 2 + half * (lo + hi) / 2
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.clip(centre + spread * np.tan(np.pi * (u - 0.5)), -300, 300)
        out.append(np.where(np.isfinite(dens).all(axis=1), np.exp(x), np.nan))
    return out
