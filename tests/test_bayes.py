"""Bayesian random-effects meta-analysis (trialsynth.assess.bayes) against bayesmeta's published output,
a brute-force two-dimensional integration, a long Metropolis-within-Gibbs run and limiting cases.

References: tests/reference/bayes_reference.json (validation/make_bayes_reference.py transcribes
the bayesmeta vignette's printed posterior for the eight-schools example and the Crins et al.
2014 log odds ratios).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from trialsynth.api import pool
from trialsynth.assess.bayes import (
    TauPrior,
    bayes_summaries,
    bayes_summary,
    half_cauchy,
    half_normal,
    mid_bounds,
    nnhm_batch,
    rhodes,
    turner,
)
from trialsynth.errors import DataError

REF = json.loads((Path(__file__).parent / "reference" / "bayes_reference.json").read_text())
SCHOOLS = REF["schools"]
CRINS = REF["crins"]


def _schools():
    y, s = np.array(SCHOOLS["effect"]), np.array(SCHOOLS["stderr"])
    return nnhm_batch(y, s, np.zeros(len(y), dtype=np.intp), 1, half_cauchy(25.0),
                      mu_prior_mean=0.0, mu_prior_sd=50.0)


def test_schools_tau_matches_bayesmeta_published():
    """τ's marginal is an exact one-dimensional integral in bayesmeta too: agree to 1e-6."""
    b, pub = _schools(), SCHOOLS["posterior"]["tau"]
    assert b.tau_median[0] == pytest.approx(pub["median"], rel=1e-6)
    assert b.tau_mean[0] == pytest.approx(pub["mean"], rel=1e-6)
    assert b.tau_sd[0] == pytest.approx(pub["sd"], rel=1e-6)
    # the posterior mode of τ is 0, so the shortest 95% interval is [0, 95% quantile]
    upper = _tau_quantile(b, 0.95)
    assert upper == pytest.approx(pub["upper95"], rel=1e-6)


def _tau_quantile(b, p):
    cdf = np.cumsum(b.mass[0])
    lo, hi = b.tau[0][np.searchsorted(cdf, p) - 1], b.tau[0][np.searchsorted(cdf, p) + 1]
    # refine with the module's spectral quantile: re-run with level 2p - 1 (upper = p)
    y, s = np.array(SCHOOLS["effect"]), np.array(SCHOOLS["stderr"])
    q = nnhm_batch(y, s, np.zeros(len(y), dtype=np.intp), 1, half_cauchy(25.0), mu_prior_mean=0.0,
                   mu_prior_sd=50.0, level=2 * p - 1).tau_high[0]
    assert lo <= q <= hi
    return q


def test_schools_mu_matches_bayesmeta_published_within_its_direct_accuracy():
    """bayesmeta's μ marginal is its DIRECT mixture approximation (Röver & Friede 2017, accuracy
    δ = 1%): published μ numbers agree within 1e-3 posterior SDs (observed: ≤ 5.2e-4 SD)."""
    b, pub = _schools(), SCHOOLS["posterior"]["mu"]
    tol = 1e-3 * pub["sd"]
    assert abs(b.mu_mean[0] - pub["mean"]) < tol
    assert abs(b.mu_median[0] - pub["median"]) < tol
    assert abs(b.mu_sd[0] - pub["sd"]) < tol
    # shortest 95% interval: minimise the width over the lower tail probability
    res = optimize.minimize_scalar(lambda p: float(b.mu_quantile(p + 0.95)[0] - b.mu_quantile(p)[0]),
                                   bounds=(1e-4, 0.0499), method="bounded",
                                   options={"xatol": 1e-10})
    assert abs(b.mu_quantile(res.x)[0] - pub["lower95"]) < tol
    assert abs(b.mu_quantile(res.x + 0.95)[0] - pub["upper95"]) < tol


def test_schools_exact_against_brute_force_two_dimensional_quadrature():
    """The quadrature over log τ agrees with a brute-force integration of the joint posterior
    p(μ, τ | y) to 1e-8: μ by composite Simpson on a fine grid, τ by scipy's adaptive quad
    (independent of the grid, the substitution and the conditional normal formulas)."""
    y, s = np.array(SCHOOLS["effect"]), np.array(SCHOOLS["stderr"])
    mu = np.linspace(-150, 170, 16001)

    def slice_(tau):  # ∫ (1, μ) p(μ, τ | y) dμ, unnormalised
        tot = s ** 2 + tau ** 2
        logp = (-0.5 * (((y[None, :] - mu[:, None]) ** 2) / tot).sum(axis=1)
                - 0.5 * np.log(tot).sum() + stats.norm.logpdf(mu, 0, 50)
                + stats.cauchy.logpdf(tau, scale=25) + 30.0)
        p = np.exp(logp)
        return integrate.simpson(p, x=mu), integrate.simpson(p * mu, x=mu)

    opts = {"epsabs": 0, "epsrel": 1e-11, "limit": 200}
    z = integrate.quad(lambda t: slice_(t)[0], 0, np.inf, **opts)[0]
    mu_mean = integrate.quad(lambda t: slice_(t)[1], 0, np.inf, **opts)[0] / z
    tau_mean = integrate.quad(lambda t: t * slice_(t)[0], 0, np.inf, **opts)[0] / z
    b = _schools()
    assert b.mu_mean[0] == pytest.approx(mu_mean, rel=1e-8)
    assert b.tau_mean[0] == pytest.approx(tau_mean, rel=1e-8)


def _mcmc(y, v, prior_scale, n_iter, seed):
    """Seeded Metropolis-within-Gibbs for the NNHM with flat μ prior and half-normal τ prior:
    μ | τ, y is drawn exactly (normal); log τ by a random-walk Metropolis step."""
    rng = np.random.default_rng(seed)

    def log_target_tau(tau, mu):  # p(τ) p(y | μ, τ), on the log τ scale (Jacobian τ)
        tot = v + tau ** 2
        return (-0.5 * np.sum(np.log(tot) + (y - mu) ** 2 / tot) - 0.5 * (tau / prior_scale) ** 2
                + math.log(tau))

    tau, mu = prior_scale, float(np.mean(y))
    mus, taus = np.empty(n_iter), np.empty(n_iter)
    steps, unif, normals = rng.normal(0, 0.9, n_iter), rng.random(n_iter), rng.normal(size=n_iter)
    cur = log_target_tau(tau, mu)
    for i in range(n_iter):
        w = 1 / (v + tau ** 2)
        mu = float(np.sum(w * y) / np.sum(w) + normals[i] / math.sqrt(np.sum(w)))
        cur = log_target_tau(tau, mu)
        prop = tau * math.exp(steps[i])
        new = log_target_tau(prop, mu)
        if math.log(unif[i]) < new - cur:
            tau, cur = prop, new
        mus[i], taus[i] = mu, tau
    return mus[n_iter // 10:], taus[n_iter // 10:]


def _batch_se(x, stat, n_batches=50):
    parts = np.array_split(x, n_batches)
    vals = np.array([stat(p) for p in parts])
    return float(np.std(vals, ddof=1) / math.sqrt(n_batches))


def test_crins_against_long_mcmc_run():
    """Posterior mean and quantiles of μ and τ agree with a seeded 200,000-draw MCMC run within
    4 Monte Carlo standard errors (batch means)."""
    y, v = np.array(CRINS["yi"]), np.array(CRINS["vi"])
    mus, taus = _mcmc(y, v, 0.5, 200_000, seed=20240611)
    b = nnhm_batch(y, np.sqrt(v), np.zeros(len(y), dtype=np.intp), 1, half_normal(0.5))
    checks = [
        (b.mu_mean[0], mus, np.mean), (b.mu_median[0], mus, np.median),
        (b.mu_low[0], mus, lambda x: np.quantile(x, 0.025)),
        (b.mu_high[0], mus, lambda x: np.quantile(x, 0.975)),
        (b.tau_mean[0], taus, np.mean), (b.tau_median[0], taus, np.median),
        (b.tau_high[0], taus, lambda x: np.quantile(x, 0.975)),
        (b.pred_mean[0], mus, np.mean),
    ]
    for ours, draws, stat in checks:
        assert abs(ours - stat(draws)) < 4 * _batch_se(draws, stat)
    # predictive: θ* = μ + τ·ε
    rng = np.random.default_rng(7)
    theta = mus + taus * rng.normal(size=len(mus))
    for ours, p in ((b.pred_low[0], 0.025), (b.pred_high[0], 0.975)):
        stat = lambda x, p=p: np.quantile(x, p)  # noqa: E731
        assert abs(ours - stat(theta)) < 4 * _batch_se(theta, stat)


def test_tau_prior_at_zero_gives_the_common_effect_result():
    """A half-normal prior with scale 1e-9 puts τ at 0: μ's posterior is the IV common-effect
    N(Σwy/Σw, 1/Σw) with a flat μ prior (computed here directly), to 1e-8."""
    y, v = np.array(CRINS["yi"]), np.array(CRINS["vi"])
    b = nnhm_batch(y, np.sqrt(v), np.zeros(6, dtype=np.intp), 1, half_normal(1e-9))
    w = 1 / v
    est, se = float(np.sum(w * y) / np.sum(w)), math.sqrt(1 / np.sum(w))
    assert b.mu_mean[0] == pytest.approx(est, rel=1e-8)
    assert b.mu_sd[0] == pytest.approx(se, rel=1e-8)
    assert b.mu_median[0] == pytest.approx(est, rel=1e-8)
    assert b.mu_low[0] == pytest.approx(est - stats.norm.isf(0.025) * se, rel=1e-8)
    assert b.mu_high[0] == pytest.approx(est + stats.norm.isf(0.025) * se, rel=1e-8)


def test_point_tau_prior_gives_the_frequentist_iv_estimate_with_that_tau():
    """A log-normal prior with log-SD 1e-9 fixes τ = 0.3: μ's posterior is the inverse-variance
    random-effects estimate with τ² = 0.09 and its Wald SE (exact, 1e-8); metafor-style pooling
    by trialsynth.pool with the stored τ² agrees too."""
    y, v = np.array(CRINS["yi"]), np.array(CRINS["vi"])
    prior = TauPrior("log-normal", 1e-9, location=math.log(0.3))
    b = nnhm_batch(y, np.sqrt(v), np.zeros(6, dtype=np.intp), 1, prior)
    w = 1 / (v + 0.09)
    assert b.mu_mean[0] == pytest.approx(np.sum(w * y) / np.sum(w), rel=1e-8)
    assert b.mu_sd[0] == pytest.approx(math.sqrt(1 / np.sum(w)), rel=1e-8)
    assert b.tau_median[0] == pytest.approx(0.3, rel=1e-8)
    assert b.pred_sd[0] == pytest.approx(math.sqrt(1 / np.sum(w) + 0.09), rel=1e-8)


@pytest.mark.parametrize("prior", [half_normal(0.5), half_cauchy(0.3), turner(),
                                   turner("pain", "pharmacological vs placebo"), rhodes(),
                                   rhodes("mental", "non-pharmacological")])
def test_prior_densities_integrate_to_one_and_match_their_quantiles(prior):
    """Integrated over x = log τ (the log-t density of τ is singular at 0)."""
    def dens(x):
        return math.exp(prior.logpdf(np.array([math.exp(x)]))[0] + x)

    opts = {"epsabs": 0, "epsrel": 1e-10, "limit": 400}
    total = integrate.quad(dens, -np.inf, 0, **opts)[0] + integrate.quad(dens, 0, 200, **opts)[0]
    assert total == pytest.approx(1.0, abs=1e-8)
    half = integrate.quad(dens, -np.inf, math.log(prior.quantile(0.5)), **opts)[0]
    assert half == pytest.approx(0.5, abs=1e-8)


def test_turner_and_rhodes_parameters_are_the_published_ones_halved():
    """Turner 2015 Table IV (pain, pharmacological vs placebo): log τ² ~ N(−1.83, 1.52²);
    Rhodes 2015 general setting: log τ² ~ t5(−3.44, 2.59); on τ both halve."""
    t = turner("pain", "pharmacological vs placebo")
    assert (t.kind, t.location, t.scale) == ("log-normal", -1.83 / 2, 1.52 / 2)
    g = turner()
    assert (g.location, g.scale) == (-2.56 / 2, 1.74 / 2)
    r = rhodes()
    assert (r.kind, r.location, r.scale, r.df) == ("log-t", -3.44 / 2, 2.59 / 2, 5.0)
    with pytest.raises(DataError):
        turner("no such outcome", None)


def _result(yi, se, measure="GENERIC", method="DL"):
    import pandas as pd

    frame = pd.DataFrame({"study": [f"s{i}" for i in range(len(yi))], "yi": yi, "se": se})
    res = pool(frame, "GENERIC", method)
    from dataclasses import replace

    return replace(res, measure=measure)


def test_bayes_summary_probabilities_and_mid_convention():
    """Probabilities of benefit, harm and trivial add to 1; they equal the μ mixture CDF at the
    MID thresholds; ratio MIDs are relative changes (0.1 → RR 0.9 and 1.1)."""
    res = _result(list(np.array(CRINS["yi"])), list(np.sqrt(CRINS["vi"])), measure="OR")
    s = bayes_summary(res, mid=0.1, direction="lower", prior=half_normal(0.5))
    assert (s.mid_lower, s.mid_upper) == (math.log(0.9), math.log(1.1))
    assert s.p_benefit + s.p_harm + s.p_trivial == pytest.approx(1.0, abs=1e-12)
    b = nnhm_batch(np.array(CRINS["yi"]), np.sqrt(CRINS["vi"]), np.zeros(6, dtype=np.intp), 1,
                   half_normal(0.5))
    assert s.p_benefit == pytest.approx(float(b.mu_cdf(np.array([math.log(0.9)]))[0]), rel=1e-12)
    assert s.p_benefit > 0.9  # the log ORs are all well below 0
    flipped = bayes_summary(res, mid=0.1, direction="higher", prior=half_normal(0.5))
    assert flipped.p_harm == pytest.approx(s.p_benefit, rel=1e-12)
    assert s.exp["mu_median"] == pytest.approx(math.exp(s.mu_median))
    d = s.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False))["p_benefit"] == pytest.approx(s.p_benefit)
    assert s.predictive_p_benefit < s.p_benefit  # a new study is less certain than the mean
    with pytest.raises(DataError):
        mid_bounds("RR", 1.2)
    with pytest.raises(DataError):
        bayes_summary(res, mid=0.1, direction="up")


def test_batch_equals_one_at_a_time():
    a = _result([0.1, 0.3, -0.2, 0.5], [0.2, 0.25, 0.3, 0.15], measure="SMD")
    b = _result([1.0, 2.5, 0.4], [0.8, 1.1, 0.6], measure="MD")
    both = bayes_summaries([a, b], mids=[0.2, 1.0], directions=["higher", "lower"],
                           priors=[rhodes(), half_normal(2.0)])
    one = bayes_summary(b, mid=1.0, direction="lower", prior=half_normal(2.0))
    assert both[1].mu_median == pytest.approx(one.mu_median, rel=1e-12)
    assert both[1].p_benefit == pytest.approx(one.p_benefit, rel=1e-12)
    assert both[0].prior["kind"] == "log-t"


@pytest.mark.parametrize("prior", [half_normal(0.5), half_cauchy(0.3), turner(), rhodes()])
def test_prior_densities_and_quantiles_equal_scipy_stats(prior):
    """The closed forms in trialsynth.assess.bayes.priors against scipy.stats' own distributions."""
    tau = np.array([0.0, 1e-6, 0.01, 0.2, 1.0, 3.7, 50.0])
    s = prior.scale
    with np.errstate(divide="ignore", invalid="ignore"):
        if prior.kind == "half-normal":
            ref = stats.halfnorm.logpdf(tau, scale=s)
            q = stats.halfnorm.ppf(0.3, scale=s)
        elif prior.kind == "half-cauchy":
            ref = stats.halfcauchy.logpdf(tau, scale=s)
            q = stats.halfcauchy.ppf(0.3, scale=s)
        else:
            base = stats.norm(prior.location, s) if prior.kind == "log-normal" else \
                stats.t(prior.df, prior.location, s)
            ref = np.where(tau > 0, base.logpdf(np.log(tau)) - np.log(tau), -np.inf)
            q = math.exp(base.ppf(0.3))
        ours = prior.logpdf(tau)
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
    ok = np.isfinite(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-12)
    assert prior.quantile(0.3) == pytest.approx(q, rel=1e-12)
