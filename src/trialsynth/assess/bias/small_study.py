"""Small-study effects: regression and rank tests for funnel-plot asymmetry.

All regression tests are one weighted regression of the effect ``yi`` on a precision
predictor ``x`` (metafor ``regtest`` parametrisation, Viechtbauer 2010)::

    yi = intercept + slope · x        weights 1/vi   (model "lm": multiplicative dispersion)
    yi ~ N(intercept + slope · x, vi + τ²)           (model "rma": REML meta-regression)

and test ``slope = 0``. ``intercept`` is the "limit estimate" (the effect at x = 0, infinite
precision). With x = SE this is Egger's test: dividing by SE gives Egger's radial regression
``yi/SE = slope + intercept · (1/SE)``, so ``slope`` here is *Egger's intercept* (the bias
coefficient) and ``intercept`` is his slope.

* Egger et al. 1997 (BMJ 315:629): x = SEᵢ, weights 1/vᵢ, model "lm" (the classical test,
  ``regtest(model="lm")``); the "rma" version is Sterne & Egger 2005 (``regtest()`` default).
* Peters et al. 2006 (JAMA 295:676): log OR on x = 1/Nᵢ, weights 1/(1/(a+c) + 1/(b+d)) (the
  variance of the average event rate). metafor's ``predictor="ninv"`` weights by 1/vᵢ instead;
  both are available (``weights=``).
* Harbord, Egger & Sterne 2006 (Stat Med 25:3443): regress Zᵢ/√Vᵢ on √Vᵢ, test the intercept, with
  Zᵢ = a − (a+c)n₁/N the efficient score and Vᵢ = n₁n₂(a+c)(b+d)/(N²(N−1)) its variance. This is
  Egger's classical test applied to Peto's log OR Z/V with variance 1/V.
* Begg & Mazumdar 1994 (Biometrics 50:1088): Kendall's τ between (yᵢ − θ̂_FE)/√(vᵢ − 1/Σw) and vᵢ
  (metafor ``ranktest``: exact p-value without ties, normal approximation with ties).

Tests are skipped (``skipped_reason``) with fewer than ``min_k`` studies, default 10
(Core GRADE 4 Fig 5; Cochrane Handbook 5.1 §10.4.3.1; METHODS §2.6). Validated against R
metafor 3.8-1 (``validation/make_small_study_reference.R``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from trialsynth import _dist
from trialsynth._json import finite
from trialsynth._segments import FloatArray, IntArray, segment_count, segment_sum
from trialsynth._words import count
from trialsynth.assess.rules import value as rule_value
from trialsynth.effects.binary import peto_terms
from trialsynth.effects.table import study_effects
from trialsynth.effects.zero_cells import METAFOR
from trialsynth.pooling.result import PooledResult

Model = Literal["lm", "rma"]
MIN_K: int = rule_value("funnel.min_k")  # Core GRADE 4 Fig 5; Handbook 5.1 §10.4.3.1
THRESHOLD = 1e-14  # REML convergence on |Δτ²|/max(1, τ²) (metafor default 1e-5, tightened)
MAXITER = 1000


@dataclass(frozen=True, slots=True)
class SmallStudyTest:
    """Result of one funnel-plot asymmetry test.

    ``statistic`` is t (model "lm", df = k − 2), z (model "rma") or Kendall's τ (Begg).
    ``slope`` is the tested asymmetry coefficient, ``intercept`` the limit estimate (see the
    module docstring). Every number is ``None`` when the test was skipped (``skipped_reason``).
    """

    test: str
    k: int
    min_k: int
    model: str | None = None
    predictor: str | None = None
    weights: str | None = None
    statistic: float | None = None
    distribution: str | None = None
    df: float | None = None
    pvalue: float | None = None
    intercept: float | None = None
    intercept_se: float | None = None
    intercept_ci_low: float | None = None
    intercept_ci_high: float | None = None
    slope: float | None = None
    slope_se: float | None = None
    tau2: float | None = None
    skipped_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    @property
    def bias(self) -> float | None:
        """The asymmetry coefficient that is tested (Egger's intercept for x = SE)."""
        return self.statistic if self.test == "begg" else self.slope

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _skip_reason(k: int, min_k: int, x: FloatArray) -> str | None:
    if k < min_k:
        return (f"{count(k, 'study', 'studies')}: fewer than {min_k}, the minimum for a "
                "funnel-plot asymmetry test "
                "(Core GRADE 4 Fig 5; Cochrane Handbook 5.1 §10.4.3.1)")
    if k < 3:
        return f"{count(k, 'study', 'studies')}: a regression on two parameters needs at least 3"
    if np.ptp(x) == 0:
        return "every study has the same value of the predictor: the test is not defined"
    return None


# ---- regression kernels (all analyses together, segment sums) ------------------------------

def _wls(y: FloatArray, x: FloatArray, w: FloatArray, g: IntArray, n: int
         ) -> tuple[FloatArray, ...]:
    """Weighted least squares of y on [1, x] per analysis, centred (two-pass) for accuracy.

    Returns b0, b1, the unscaled variances (X'WX)⁻¹₀₀, (X'WX)⁻¹₁₁, and Σw·r².
    """
    s0 = segment_sum(w, g, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = segment_sum(w * x, g, n) / s0
        ybar = segment_sum(w * y, g, n) / s0
        dx = x - xbar[g]
        sxx = segment_sum(w * dx**2, g, n)
        b1 = segment_sum(w * dx * (y - ybar[g]), g, n) / sxx
        b0 = ybar - b1 * xbar
        r = y - b0[g] - b1[g] * x
        return b0, b1, 1 / s0 + xbar**2 / sxx, 1 / sxx, segment_sum(w * r**2, g, n)


def _reml_step(y: FloatArray, x: FloatArray, v: FloatArray, g: IntArray, n: int,
               tau2: FloatArray) -> FloatArray:
    """Fisher-scoring step (y'PPy − tr P)/tr(PP) of REML for yi ~ [1, x] with τ²
    (Viechtbauer 2005, eq. 9 with a design matrix; metafor ``rma.uni``), P = W − WX(X'WX)⁻¹X'W.

    Traces from per-analysis sums of wᵐxʲ; x is centred on its unweighted mean first (P does
    not depend on the parametrisation of X).
    """
    def ssum(a: FloatArray) -> FloatArray:
        return segment_sum(a, g, n)

    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x - (ssum(x) / segment_count(g, n))[g]
        w = 1 / (v + tau2[g])
        s = [ssum(w * xc**j) for j in range(3)]
        t = [ssum(w**2 * xc**j) for j in range(3)]
        u = [ssum(w**3 * xc**j) for j in range(3)]
        det = s[0] * s[2] - s[1] ** 2
        i00, i01, i11 = s[2] / det, -s[1] / det, s[0] / det
        tr_p = s[0] - (i00 * t[0] + 2 * i01 * t[1] + i11 * t[2])
        tr_ac = i00 * u[0] + 2 * i01 * u[1] + i11 * u[2]
        m00, m01 = i00 * t[0] + i01 * t[1], i00 * t[1] + i01 * t[2]
        m10, m11 = i01 * t[0] + i11 * t[1], i01 * t[1] + i11 * t[2]
        tr_pp = t[0] - 2 * tr_ac + m00**2 + 2 * m01 * m10 + m11**2
        y0, y1 = ssum(w * y), ssum(w * xc * y)
        b0, b1 = i00 * y0 + i01 * y1, i01 * y0 + i11 * y1
        r = y - b0[g] - b1[g] * xc
        return (ssum(w**2 * r**2) - tr_p) / tr_pp


def _reml_tau2(y: FloatArray, x: FloatArray, v: FloatArray, g: IntArray, n: int,
               active: np.ndarray) -> FloatArray:
    """REML τ² of the meta-regression, Fisher scoring from the Hedges-type start (metafor),
    step halving at the boundary, τ² ≥ 0; a bracketed root search finishes any analysis
    that has not converged after MAXITER steps."""
    k = segment_count(g, n)
    b0, b1, _, _, _ = _wls(y, x, np.ones_like(y), g, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = segment_sum(x, g, n) / k
        sxx = segment_sum((x - xbar[g]) ** 2, g, n)
        hat = 1 / k[g] + (x - xbar[g]) ** 2 / sxx[g]
        rss = segment_sum((y - b0[g] - b1[g] * x) ** 2, g, n)
        tau2 = np.maximum(0.0, (rss - segment_sum(v * (1 - hat), g, n)) / (k - 2))
    tau2 = np.where(active, tau2, np.nan)
    todo = active.copy()
    for _ in range(MAXITER):
        if not todo.any():
            break
        adj = _reml_step(y, x, v, g, n, np.where(todo, tau2, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            halvings = np.ceil(np.log2(np.where(tau2 > 0, -adj / tau2, 1.0)))
            adj = np.where(tau2 + adj < 0, np.where(tau2 > 0, adj / 2.0**halvings, 0.0), adj)
        new = np.where(todo, np.maximum(0.0, tau2 + adj), tau2)
        done = todo & (np.abs(new - tau2) < THRESHOLD * np.maximum(1.0, new))
        tau2 = new
        todo &= ~done & np.isfinite(tau2)
    for i in np.flatnonzero(todo):  # rare: scoring oscillates; solve the score equation
        m = g == i
        yi, xi, vi, gi = y[m], x[m], v[m], np.zeros(int(m.sum()), dtype=np.intp)

        def score(t2: float, yi: FloatArray = yi, xi: FloatArray = xi, vi: FloatArray = vi,
                  gi: IntArray = gi) -> float:
            return float(_reml_step(yi, xi, vi, gi, 1, np.array([t2]))[0])

        if score(0.0) <= 0:
            tau2[i] = 0.0
            continue
        hi = 1.0
        while score(hi) > 0:
            hi *= 4
        tau2[i] = optimize.brentq(score, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    return tau2


def regression_tests(yi: ArrayLike, vi: ArrayLike, x: ArrayLike, group: ArrayLike | None = None,
                     *, test: str, predictor: str, model: Model = "lm", weights: str | None = None,
                     min_k: int = MIN_K, confidence_level: float = 0.95
                     ) -> tuple[SmallStudyTest, ...]:
    """Regression tests of ``yi`` on the predictor ``x`` for every analysis in ``group``.

    ``vi`` gives the weights 1/vᵢ (model "lm") or the sampling variances (model "rma", τ² by
    REML, z test). Studies with a non-finite yi, vi or x, or vi ≤ 0, are left out.
    """
    y, v, xx = (np.asarray(a, dtype=np.float64) for a in (yi, vi, x))
    g_all = np.zeros(y.shape, dtype=np.intp) if group is None else np.asarray(group, dtype=np.intp)
    n = int(g_all.max()) + 1 if g_all.size else 1
    ok = np.isfinite(y) & np.isfinite(v) & np.isfinite(xx) & (v > 0)
    y, v, xx, g = y[ok], v[ok], xx[ok], g_all[ok]
    k = segment_count(g, n)
    reasons = [_skip_reason(int(k[i]), min_k, xx[g == i]) for i in range(n)]
    active = np.array([r is None for r in reasons])
    keep = active[g]
    y, v, xx, g = y[keep], v[keep], xx[keep], g[keep]
    alpha = 1 - confidence_level
    with np.errstate(divide="ignore", invalid="ignore"):
        if model == "lm":  # weighted lm, residual variance scales the covariance (metafor "lm")
            tau2 = np.full(n, np.nan)
            b0, b1, c00, c11, rss = _wls(y, xx, 1 / v, g, n)
            df = k - 2.0
            s2 = rss / df
            se0, se1 = np.sqrt(s2 * c00), np.sqrt(s2 * c11)
            stat = b1 / se1
            p = 2 * _dist.t_sf(np.abs(stat), df)  # Egger 1997: t on k − 2 df
            crit = _dist.t_isf(alpha / 2, df)
        elif model == "rma":  # mixed-effects meta-regression (Sterne & Egger 2005)
            tau2 = _reml_tau2(y, xx, v, g, n, active)
            b0, b1, c00, c11, _ = _wls(y, xx, 1 / (v + tau2[g]), g, n)
            df = np.full(n, np.nan)
            se0, se1 = np.sqrt(c00), np.sqrt(c11)
            stat = b1 / se1
            p = 2 * _dist.norm_sf(np.abs(stat))
            crit = np.full(n, _dist.norm_isf(alpha / 2))
        else:
            raise ValueError(f"unknown model {model!r}; expected 'lm' or 'rma'")
    out = []
    for i in range(n):
        common = {"test": test, "k": int(k[i]), "min_k": min_k, "model": model,
                  "predictor": predictor, "weights": weights}
        if reasons[i] is not None:
            out.append(SmallStudyTest(**common, skipped_reason=reasons[i]))
            continue
        out.append(SmallStudyTest(
            **common, statistic=finite(stat[i]), distribution="t" if model == "lm" else "z",
            df=finite(df[i]), pvalue=finite(p[i]), intercept=finite(b0[i]), intercept_se=finite(se0[i]),
            intercept_ci_low=finite(b0[i] - crit[i] * se0[i]),
            intercept_ci_high=finite(b0[i] + crit[i] * se0[i]), slope=finite(b1[i]), slope_se=finite(se1[i]),
            tau2=finite(tau2[i]) if model == "rma" else None))
    return tuple(out)


# ---- the published tests -----------------------------------------------------------------------

def egger_test(yi: ArrayLike, vi: ArrayLike, *, model: Model = "lm", min_k: int = MIN_K,
               confidence_level: float = 0.95) -> SmallStudyTest:
    """Egger's regression test (Egger et al. 1997): yᵢ on SEᵢ with weights 1/vᵢ.

    ``model="lm"`` is the classical test (t, k − 2 df; metafor ``regtest(model="lm")``),
    ``"rma"`` the random-effects meta-regression version (metafor's default).
    """
    v = np.asarray(vi, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        sei = np.sqrt(v)
    return regression_tests(yi, v, sei, test="egger", predictor="sei", model=model,
                            weights="inverse_variance", min_k=min_k,
                            confidence_level=confidence_level)[0]


def egger_tests(yi: ArrayLike, vi: ArrayLike, group: ArrayLike, *, model: Model = "lm",
                min_k: int = MIN_K) -> tuple[SmallStudyTest, ...]:
    """Egger's test for every analysis of a flat batch (``group`` = analysis index)."""
    v = np.asarray(vi, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        sei = np.sqrt(v)
    return regression_tests(yi, v, sei, group, test="egger", predictor="sei", model=model,
                            weights="inverse_variance", min_k=min_k)


def peters_test(yi: ArrayLike, vi: ArrayLike, ni: ArrayLike, *, weight_vi: ArrayLike | None = None,
                model: Model = "lm", min_k: int = MIN_K) -> SmallStudyTest:
    """Regression of yᵢ on 1/Nᵢ (Peters et al. 2006; metafor ``predictor="ninv"``).

    Weights are 1/``weight_vi`` when given (Peters' 1/(1/(a+c) + 1/(b+d)), see
    :func:`peters_test_from_counts`), else the inverse variances 1/vᵢ (metafor's ``ninv``).
    """
    n = np.asarray(ni, dtype=np.float64)
    wv, label = (vi, "inverse_variance") if weight_vi is None else (weight_vi, "supplied")
    return regression_tests(yi, wv, 1 / n, test="peters", predictor="ninv", model=model,
                            weights=label, min_k=min_k)[0]


def _counts(events_t: ArrayLike, n_t: ArrayLike, events_c: ArrayLike, n_c: ArrayLike
            ) -> dict[str, FloatArray]:
    return {"events_t": np.asarray(events_t, dtype=np.float64),
            "n_t": np.asarray(n_t, dtype=np.float64),
            "events_c": np.asarray(events_c, dtype=np.float64),
            "n_c": np.asarray(n_c, dtype=np.float64)}


def peters_test_from_counts(events_t: ArrayLike, n_t: ArrayLike, events_c: ArrayLike,
                            n_c: ArrayLike, *, measure: str = "OR",
                            weights: Literal["peters2006", "inverse_variance"] = "peters2006",
                            model: Model = "lm", min_k: int = MIN_K) -> SmallStudyTest:
    """Peters' test from 2×2 counts: log OR (or ``measure``) on 1/N, N = n_t + n_c.

    Effects as metafor ``escalc`` (½ added to tables with a zero cell). ``weights="peters2006"``
    uses 1/(1/(a+c) + 1/(b+d)) from the raw counts (Peters et al. 2006, JAMA 295:676, "Methods");
    ``"inverse_variance"`` is metafor's ``regtest(predictor="ninv")``.
    """
    cols = _counts(events_t, n_t, events_c, n_c)
    group = np.zeros(cols["n_t"].shape, dtype=np.intp)
    eff = study_effects(measure.upper(), cols, group, 1, zero_cells=METAFOR)
    a, c = cols["events_t"], cols["events_c"]
    b, d = cols["n_t"] - a, cols["n_c"] - c
    with np.errstate(divide="ignore"):
        wv = 1 / (a + c) + 1 / (b + d)  # Peters 2006: variance of the average event rate
    use = wv if weights == "peters2006" else eff.vi
    return regression_tests(eff.yi, use, 1 / (cols["n_t"] + cols["n_c"]), test="peters",
                            predictor="ninv", model=model, weights=weights, min_k=min_k)[0]


def harbord_test(events_t: ArrayLike, n_t: ArrayLike, events_c: ArrayLike, n_c: ArrayLike, *,
                 min_k: int = MIN_K) -> SmallStudyTest:
    """Harbord's score-based test (Harbord, Egger & Sterne 2006, Stat Med 25:3443, eq. 3).

    Zᵢ/√Vᵢ = β₀ + β₁√Vᵢ (ordinary least squares), test β₀ = 0 (t, k − 2 df), with
    Zᵢ = a − (a+c)n₁/N and Vᵢ = n₁n₂(a+c)(b+d)/(N²(N−1)) from the raw counts. Computed as
    Egger's classical test on Peto's log OR Zᵢ/Vᵢ with variance 1/Vᵢ (identical regression);
    ``slope`` is Harbord's β₀. Tables with Vᵢ = 0 (no events, or only events) carry no
    information and are left out.
    """
    cols = _counts(events_t, n_t, events_c, n_c)
    a, c = cols["events_t"], cols["events_c"]
    z, v = peto_terms(a, cols["n_t"] - a, c, cols["n_c"] - c)  # Harbord 2006: score Z, variance V
    with np.errstate(divide="ignore", invalid="ignore"):
        yi, vi = z / v, 1 / v
        sei = np.sqrt(vi)
    return regression_tests(yi, vi, sei, test="harbord", predictor="sei", model="lm",
                            weights="score_variance", min_k=min_k)[0]


def begg_test(yi: ArrayLike, vi: ArrayLike, *, min_k: int = MIN_K) -> SmallStudyTest:
    """Begg & Mazumdar's rank correlation test (Biometrics 1994;50:1088), as metafor ``ranktest``.

    Kendall's τ between yᵢ* = (yᵢ − θ̂)/√(vᵢ − 1/Σwⱼ) (θ̂ the common-effect estimate, wᵢ = 1/vᵢ)
    and vᵢ; exact p-value when there are no ties, else the normal approximation with tie
    correction (R ``cor.test(method="kendall", exact=TRUE)``). Not recommended for binary
    outcomes (Handbook 5.1 §10.4.3.1); kept for comparison.
    """
    y, v = np.asarray(yi, dtype=np.float64), np.asarray(vi, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[ok], v[ok]
    k = int(y.size)
    reason = _skip_reason(k, min_k, v)
    if reason is not None:
        return SmallStudyTest(test="begg", k=k, min_k=min_k, skipped_reason=reason)
    w = 1 / v
    theta = np.sum(w * y) / np.sum(w)
    ystar = (y - theta) / np.sqrt(v - 1 / np.sum(w))  # Begg & Mazumdar 1994, eq. 1
    ties = min(np.unique(ystar).size, np.unique(v).size) < k
    from scipy import stats  # Kendall's tau: only here, scipy.stats is slow to import

    res = stats.kendalltau(ystar, v, method="asymptotic" if ties else "exact")
    return SmallStudyTest(test="begg", k=k, min_k=min_k, statistic=finite(res.statistic),
                          distribution="normal" if ties else "exact", pvalue=finite(res.pvalue))


# ---- from a pooled result ---------------------------------------------------------------------

def result_inputs(result: PooledResult) -> tuple[FloatArray, FloatArray]:
    """Per-study (yi, vi) of the studies that entered ``result`` (analysis scale)."""
    rows: Sequence = [s for s in result.studies if s.included and s.yi is not None
                      and s.se is not None]
    return (np.array([s.yi for s in rows], dtype=np.float64),
            np.array([s.se**2 for s in rows], dtype=np.float64))


def egger_test_from_result(result: PooledResult, *, model: Model = "lm",
                           min_k: int = MIN_K) -> SmallStudyTest:
    """Egger's test on the studies of a pooled result (its yi and SE)."""
    yi, vi = result_inputs(result)
    return egger_test(yi, vi, model=model, min_k=min_k)


def begg_test_from_result(result: PooledResult, *, min_k: int = MIN_K) -> SmallStudyTest:
    """Begg's rank correlation test on the studies of a pooled result."""
    yi, vi = result_inputs(result)
    return begg_test(yi, vi, min_k=min_k)
