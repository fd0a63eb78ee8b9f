"""Property tests: invariants of ``trialsynth.pool`` and ``trialsynth.pool_arrays``.

All inputs here are SIMULATED: hypothesis draws 2×2 tables, arm summaries (mean, SD, n) and
generic estimates with standard errors from the strategies below; none is real trial data. No
expected number is hard-coded: each test compares trialsynth with itself under a transformation
that must not change the answer (study order, arm labels, batching) or checks a bound that holds
for every input (CI contains the estimate, τ² ≥ 0, weights sum to 100, the ML/REML τ² is at
least as likely as any other τ² ≥ 0).

Tolerances: closed-form estimators give the same numbers up to rounding (relative 1e-9 allowed);
ML, REML, EB and PM iterate until the change in τ² is below ~1e-12, so two runs that visit the
studies in a different order may stop that far apart, which moves the weights 1/(vᵢ + τ²) by up
to 1e-12/min(vᵢ) relatively (see ``tolerance``). The batch-versus-alone property sums the
studies of each analysis in the same order and is checked to 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trialsynth
from trialsynth import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS
from trialsynth.effects.table import COLUMNS

SETTINGS = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

IV_METHODS = ("IV", "DL", "REML", "ML", "PM", "HE", "SJ", "EB")
RANDOM_METHODS = ("DL", "REML", "ML", "PM", "HE", "SJ", "EB", "MH_RANDOM")
ALL_METHODS = (*IV_METHODS, "MH", "MH_RANDOM", "PETO")
MEASURES_OF = {
    **{m: ("RR", "OR", "RD", "PETO_OR", "MD", "SMD", "GENERIC") for m in IV_METHODS},
    "MH": ("RR", "OR", "RD"),
    "MH_RANDOM": ("RR", "OR", "RD"),
    "PETO": ("PETO_OR",),
}
BINARY = ("RR", "OR", "RD", "PETO_OR")
ITERATIVE = ("REML", "ML", "EB", "PM")
REL, ABS = 1e-9, 1e-10  # two orderings / arm labellings of the same data, closed-form methods
TAU2_CONVERGENCE = 1e-12  # |Δτ²| (·max(1, τ²)) at which iterations stop (pooling/tau2.py)
ANALYSIS_FIELDS = ("estimate", "se", "ci_low", "ci_high", "statistic", "pvalue", "tau2",
                   "tau2_ci_low", "tau2_ci_high", "i2", "i2_ci_low", "i2_ci_high", "h2", "q",
                   "q_df", "q_pvalue", "pi_low", "pi_high")


# ------------------------------------------------------------------------------------------
# SIMULATED inputs (hypothesis strategies)
# ------------------------------------------------------------------------------------------

@st.composite
def binary_study(draw, zero_cells: bool = True) -> dict:
    """A SIMULATED 2×2 table; without ``zero_cells`` every cell is at least 1."""
    lo = 0 if zero_cells else 1
    n_t = draw(st.integers(2, 400))
    n_c = draw(st.integers(2, 400))
    return {"events_t": draw(st.integers(lo, n_t - lo)), "n_t": n_t,
            "events_c": draw(st.integers(lo, n_c - lo)), "n_c": n_c}


def _float(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def continuous_study(draw) -> dict:
    """SIMULATED arm summaries (mean, SD, n) of one study."""
    return {"mean_t": draw(_float(-50, 50)), "sd_t": draw(_float(0.1, 30)),
            "n_t": draw(st.integers(2, 400)), "mean_c": draw(_float(-50, 50)),
            "sd_c": draw(_float(0.1, 30)), "n_c": draw(st.integers(2, 400))}


@st.composite
def generic_study(draw) -> dict:
    """A SIMULATED generic estimate with its standard error."""
    return {"yi": draw(_float(-5, 5)), "se": draw(_float(0.01, 3))}


def study_strategy(measure: str, zero_cells: bool = True) -> st.SearchStrategy[dict]:
    if measure in BINARY:
        return binary_study(zero_cells)
    if measure in ("MD", "SMD"):
        return continuous_study()
    return generic_study()


def frame_of(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "study", [f"S{i + 1}" for i in range(len(rows))])
    return frame


@st.composite
def analysis(draw, method: str, min_k: int = 1, max_k: int = 12, zero_cells: bool = True):
    """(measure, frame) for ``method``: a SIMULATED meta-analysis of min_k..max_k studies."""
    measure = draw(st.sampled_from(MEASURES_OF[method]))
    rows = draw(st.lists(study_strategy(measure, zero_cells), min_size=min_k, max_size=max_k))
    return measure, frame_of(rows)


def hksj_for(method: str) -> st.SearchStrategy:
    return st.sampled_from([False, True, "adhoc"]) if method in RANDOM_METHODS \
        else st.just(False)


def swap_arms(frame: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Treatment ↔ control (generic data: the effect of control vs treatment is −yi)."""
    if measure == "GENERIC":
        return frame.assign(yi=-frame["yi"])
    pairs = {"events_t": "events_c", "n_t": "n_c", "mean_t": "mean_c", "sd_t": "sd_c"}
    pairs |= {v: k for k, v in pairs.items()}
    return frame.rename(columns=pairs)


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------

def _value(x) -> float:
    return math.nan if x is None else float(x)


def assert_same(a, b, name: str, rel: float = REL, abs_: float = ABS) -> None:
    """Equal up to tolerance; None/NaN only matches None/NaN, ±inf only the same infinity."""
    x, y = _value(a), _value(b)
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or math.isinf(y):
        assert (math.isnan(x) and math.isnan(y)) or x == y, f"{name}: {a!r} vs {b!r}"
        return
    assert math.isclose(x, y, rel_tol=rel, abs_tol=abs_), f"{name}: {a!r} vs {b!r}"


def tolerance(result, method: str) -> tuple[float, float]:
    """(relative, absolute) tolerance for comparing two runs on the same studies.

    An iterative estimator stops within ~TAU2_CONVERGENCE of its limit (at a boundary optimum
    τ² = 0 it creeps down by step halving and stops at ~1e-12 > 0), and where it stops depends
    on rounding. A change δ in τ² changes every weight 1/(vᵢ + τ²) by at most δ/min(vᵢ)
    relatively, so that bound (×100) is allowed on top of REL/ABS; the absolute part is scaled
    by the size of the effects, since the estimate is a weighted mean of them.
    """
    if method not in ITERATIVE:
        return REL, ABS
    studies = [s for s in result.studies if s.included and s.se]
    if not studies:
        return REL, ABS
    slack = 100 * TAU2_CONVERGENCE / min(s.se**2 for s in studies)
    scale = 1 + max(abs(s.yi) for s in studies)
    return REL + slack, ABS + slack * scale


def pool(frame, measure, method, hksj=False, revman=False):
    return trialsynth.pool(frame, measure, method, hksj=hksj, revman=revman)


def all_arms_extreme(frame: pd.DataFrame) -> bool:
    """Every arm of every 2×2 table has no events or only events."""
    t = (frame["events_t"] == 0) | (frame["events_t"] == frame["n_t"])
    c = (frame["events_c"] == 0) | (frame["events_c"] == frame["n_c"])
    return bool((t & c).all())


def included_weights(result) -> list[float]:
    return [s.weight for s in result.studies if s.included and s.weight is not None]


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ALL_METHODS)
@SETTINGS
@given(data=st.data())
def test_results_do_not_depend_on_study_order(method, data):
    measure, frame = data.draw(analysis(method))
    hksj = data.draw(hksj_for(method))
    revman = data.draw(st.booleans())
    order = data.draw(st.permutations(range(len(frame))))
    a = pool(frame, measure, method, hksj, revman)
    b = pool(frame.iloc[list(order)].reset_index(drop=True), measure, method, hksj, revman)
    rel, abs_ = tolerance(a, method)
    for name in (*ANALYSIS_FIELDS, "k"):
        assert_same(getattr(a, name), getattr(b, name), name, rel, abs_)
    # each study keeps its weight wherever it sits
    by_study = {s.study: s.weight for s in b.studies}
    for s in a.studies:
        assert_same(s.weight, by_study[s.study], f"weight of {s.study}", rel, abs_)


@pytest.mark.parametrize("method", ALL_METHODS)
@SETTINGS
@given(data=st.data())
def test_swapping_arms_negates_the_estimate(method, data):
    measure, frame = data.draw(analysis(method))
    hksj = data.draw(hksj_for(method))
    revman = data.draw(st.booleans())
    a = pool(frame, measure, method, hksj, revman)
    b = pool(swap_arms(frame, measure), measure, method, hksj, revman)
    rel, abs_ = tolerance(a, method)
    assert_same(a.estimate, None if b.estimate is None else -b.estimate, "estimate", rel, abs_)
    assert_same(a.ci_low, None if b.ci_high is None else -b.ci_high, "ci_low vs -ci_high",
                rel, abs_)
    for name in ("se", "tau2", "q", "i2", "h2", "q_pvalue", "pvalue", "k"):
        assert_same(getattr(a, name), getattr(b, name), name, rel, abs_)


@pytest.mark.parametrize("method", ALL_METHODS)
@SETTINGS
@given(data=st.data())
def test_ci_contains_estimate_tau2_nonnegative_weights_sum_to_100(method, data):
    hksj = data.draw(hksj_for(method))
    measure, frame = data.draw(analysis(method, min_k=2 if hksj else 1))
    revman = data.draw(st.booleans())
    res = pool(frame, measure, method, hksj, revman)
    if res.k == 0:  # RevMan drops double-zero tables: nothing left to pool
        assert res.estimate is None and "no study could be pooled" in res.warnings, res
        assert all(w is None for w in res.weights)
        return
    if res.estimate is None or not math.isfinite(res.estimate):
        # only M-H / Peto can have no finite estimate (e.g. no events in one arm of every table)
        assert method in ("MH", "MH_RANDOM", "PETO"), res
        return
    weights = included_weights(res)
    assert len(weights) == res.k
    assert all(w >= 0 for w in weights)
    assert sum(weights) == pytest.approx(100.0, rel=1e-12), weights
    effects = [s.yi for s in res.studies if s.included]
    if method == "MH" and measure in ("RR", "RD") and all_arms_extreme(frame):
        # the M-H variances of the RD (Sato et al.) and RR (Greenland & Robins) are exactly 0
        # when every arm has risk 0 or 1 and no cell is corrected (e.g. 2/2 vs 2/2: log RR 0,
        # SE 0); rounded, the variance can come out as −1e-17 and the SE as NaN (None).
        # metafor rma.mh gives the same (SE 0, or NaN with a warning).
        assert res.se is None or res.se >= 0
        return
    assert res.se is not None and res.ci_low is not None and res.ci_high is not None
    assert res.ci_low <= res.estimate <= res.ci_high
    if hksj is True and max(effects) - min(effects) <= 1e-12 * (1 + max(map(abs, effects))):
        # plain HKSJ scales the SE by Σwᵢ(yᵢ − μ̂)²/(k − 1), which is 0 when all studies agree:
        # a zero-width CI (as metafor test="knha"); the "adhoc" variant is never below Wald
        assert res.se >= 0
    else:
        assert res.se > 0
        assert res.ci_low < res.estimate < res.ci_high
    if res.pi_low is not None:  # the prediction interval is never narrower than the CI
        tol = 1e-12 * max(1.0, abs(res.ci_low), abs(res.ci_high))
        assert res.pi_low <= res.ci_low + tol
        assert res.pi_high >= res.ci_high - tol
    if method in RANDOM_METHODS:
        assert res.tau2 is not None and res.tau2 >= 0
    if res.i2 is not None:
        assert 0 <= res.i2 <= 100
    if res.h2 is not None:  # Q/df can be below 1; (τ² + ṽ)/ṽ cannot
        assert res.h2 >= 0
        if method in IV_METHODS[1:] and not revman:
            assert res.h2 >= 1 - 1e-12


@st.composite
def homogeneous(draw):
    """SIMULATED studies that all have the same effect yi (different variances)."""
    measure = draw(st.sampled_from(("GENERIC", "MD", "SMD", "RR", "OR", "RD")))
    k = draw(st.integers(2, 12))
    if measure == "GENERIC":
        yi = draw(_float(-5, 5))
        rows = [{"yi": yi, "se": draw(_float(0.01, 3))} for _ in range(k)]
    elif measure in ("MD", "SMD"):
        m_t = draw(_float(-50, 50))
        m_c = m_t if measure == "SMD" else draw(_float(-50, 50))  # SMD: identical only at 0
        rows = [{"mean_t": m_t, "sd_t": draw(_float(0.1, 30)), "n_t": draw(st.integers(2, 400)),
                 "mean_c": m_c, "sd_c": draw(_float(0.1, 30)), "n_c": draw(st.integers(2, 400))}
                for _ in range(k)]
    else:  # the same 2×2 table k times, no zero cell (M-H needs none)
        rows = [draw(binary_study(zero_cells=False))] * k
    return measure, frame_of(rows)


@pytest.mark.parametrize("method", (*RANDOM_METHODS, "MH"))
@SETTINGS
@given(data=st.data())
def test_homogeneous_studies_give_tau2_zero_and_the_common_effect(method, data):
    measure, frame = data.draw(homogeneous().filter(
        lambda mf: method not in ("MH", "MH_RANDOM") or mf[0] in ("RR", "OR", "RD")))
    revman = data.draw(st.booleans())
    common = pool(frame, measure, "IV", revman=revman)
    res = pool(frame, measure, method, revman=revman)
    effects = [abs(s.yi) for s in res.studies]
    # the mean of k equal numbers can be off by an ulp, so Σ(yᵢ − ȳ)² may be ~(ulp·y)² > 0
    rounding = (4 * np.finfo(float).eps * (1 + max(effects))) ** 2
    if method != "MH":
        assert res.tau2 == pytest.approx(0.0, abs=rounding)
    assert res.q == pytest.approx(0.0, abs=1e-9)
    assert_same(res.estimate, common.estimate, "estimate", rel=1e-12, abs_=1e-14)
    if method != "MH":  # M-H has its own variance formula
        assert_same(res.se, common.se, "se", rel=1e-12, abs_=1e-14)


def log_likelihood(yi: np.ndarray, vi: np.ndarray, tau2: float, restricted: bool) -> float:
    """(Restricted) log-likelihood of the random-effects model at τ², μ profiled out, without
    constants (Viechtbauer 2005, J Educ Behav Stat 30:261, eqs. 5 and 8)."""
    w = 1 / (vi + tau2)
    mu = np.sum(w * yi) / np.sum(w)
    ll = -0.5 * (np.sum(np.log(vi + tau2)) + np.sum(w * (yi - mu) ** 2))
    return ll - 0.5 * math.log(np.sum(w)) if restricted else ll


# SIMULATED analysis 1308 of ``python benchmarks/bench_core.py --seed 1``: its restricted
# likelihood has a local maximum at τ² = 0 (score < 0 there) and its global maximum at
# τ² ≈ 0.0655, which metafor rma(method="REML") finds.
BIMODAL_REML = frame_of([{"yi": y, "se": se} for y, se in zip(
    [-1.3740942572188573, 0.7773975253733685, 0.02620782256082424, 0.20199688522961765,
     -0.11190898664378277, -0.4341960899262695, 0.5182371958890382, 0.5640115303440925,
     -0.7791907144284, -0.5197950656009342],
    [0.5841231461565836, 0.5332956303097487, 0.26672794232928626, 0.6141195688598683,
     0.17010558566389025, 0.5962300081596861, 0.4575651405848795, 0.5363855522697936,
     0.42939500712742634, 0.6066501287652116], strict=True)])


def assert_maximum_likelihood(frame: pd.DataFrame, measure: str, method: str) -> None:
    """τ̂² of ML/REML is at least as likely as τ² = 0 and as every point of a grid on [0, ∞)."""
    res = pool(frame, measure, method)
    studies = [s for s in res.studies if s.included]
    if len(studies) < 2:
        return
    yi = np.array([s.yi for s in studies])
    vi = np.array([s.se for s in studies]) ** 2
    restricted = method == "REML"
    best = log_likelihood(yi, vi, res.tau2, restricted)
    spread = float(np.var(yi)) + float(np.max(vi))
    for tau2 in [0.0, *(spread * 2.0 ** np.arange(-30, 6))]:
        other = log_likelihood(yi, vi, tau2, restricted)
        assert best >= other - 1e-9 * (1 + abs(other)), (
            f"{method} tau2 = {res.tau2!r} (converged={res.converged}, "
            f"{res.iterations} iterations): log-likelihood {best!r} < {other!r} at tau2 = {tau2!r}")


@pytest.mark.parametrize("method", ("REML", "ML"))
@SETTINGS
@given(data=st.data())
def test_likelihood_estimators_maximise_the_likelihood(method, data):
    measure, frame = data.draw(analysis(method, min_k=2))
    assert_maximum_likelihood(frame, measure, method)


def test_reml_finds_the_global_maximum_of_a_bimodal_restricted_likelihood():
    assert_maximum_likelihood(BIMODAL_REML, "GENERIC", "REML")
    assert_maximum_likelihood(BIMODAL_REML, "GENERIC", "ML")


# SIMULATED examples that hypothesis found for the property above (kept so that they are always
# run); metafor 3.8-1 rma() gives the τ² in the comment.
@pytest.mark.parametrize(("method", "measure", "rows"), [
    # ll(0) > ll at the Fisher-scoring root: metafor's ll0check sets τ² = 0
    ("ML", "GENERIC", [{"yi": 2.0, "se": 0.03125}, {"yi": 1.25, "se": 0.28125}]),
    ("REML", "GENERIC", [{"yi": 4.0, "se": 0.625}, {"yi": 2.25, "se": 0.0625},
                         {"yi": 2.25, "se": 0.0625}]),
    # bimodal ML likelihood with a local maximum at the boundary: metafor 3.8-1 stops at τ² = 0
    # (log-likelihood −2.2570), the global maximum is τ² = 0.643 (−1.8902); we report the latter
    ("ML", "GENERIC", [{"yi": 0.0, "se": 2.0}, {"yi": 0.0, "se": 0.75}, {"yi": 2.0, "se": 0.125}]),
    # positive τ² more likely than 0 (metafor ML τ² = 0.65138677012681068)
    ("ML", "RR", [{"events_t": 1, "n_t": 2, "events_c": 1, "n_c": 2},
                  {"events_t": 2, "n_t": 2, "events_c": 1, "n_c": 2},
                  {"events_t": 2, "n_t": 3, "events_c": 0, "n_c": 51}]),
])
def test_likelihood_counterexamples(method, measure, rows):
    assert_maximum_likelihood(frame_of(rows), measure, method)


@pytest.mark.parametrize("rows", [
    [{"events_t": 3, "n_t": 3, "events_c": 2, "n_c": 2}],
    [{"events_t": 0, "n_t": 2, "events_c": 0, "n_c": 3},
     {"events_t": 3, "n_t": 3, "events_c": 2, "n_c": 2}],
])
def test_no_pooled_estimate_when_no_table_enters_the_mh_sums(rows):
    """SIMULATED counter-example found by hypothesis: RevMan M-H RR of tables with all events (or
    none) in both arms reports k = 0 and "no study could be pooled", and then an estimate."""
    res = pool(frame_of(rows), "RR", "MH", revman=True)
    if res.k == 0:
        assert res.estimate is None and res.se is None, res
    else:
        assert res.estimate is not None and "no study could be pooled" not in res.warnings


@st.composite
def batch(draw):
    """A SIMULATED batch: several analyses of one measure, their studies interleaved."""
    method = draw(st.sampled_from(ALL_METHODS))
    measure = draw(st.sampled_from(MEASURES_OF[method]))
    hksj = draw(hksj_for(method))
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=6))
    analyses = [draw(st.lists(study_strategy(measure), min_size=k, max_size=k)) for k in sizes]
    # interleave the analyses in the flat arrays, each keeping the order of its own studies
    owner = draw(st.permutations(np.repeat(np.arange(len(sizes)), sizes).tolist()))
    return method, measure, hksj, analyses, owner


def _columns(rows: list[dict], measure: str) -> dict[str, np.ndarray]:
    return {c: np.array([r[c] for r in rows], dtype=np.float64) for c in COLUMNS[measure]}


@SETTINGS
@given(case=batch(), revman=st.booleans())
def test_batch_equals_each_analysis_alone(case, revman):
    method, measure, hksj, analyses, owner = case
    conventions = REVMAN_CONVENTIONS if revman else METAFOR_CONVENTIONS
    cursor = [0] * len(analyses)
    flat = []
    for g in owner:
        flat.append(analyses[g][cursor[g]])
        cursor[g] += 1
    group = np.array(owner, dtype=np.intp)
    both = trialsynth.pool_arrays(measure, method, _columns(flat, measure), group, len(analyses),
                                  hksj=hksj, conventions=conventions)
    for g, rows in enumerate(analyses):
        alone = trialsynth.pool_arrays(measure, method, _columns(rows, measure),
                                       np.zeros(len(rows), dtype=np.intp), 1, hksj=hksj,
                                       conventions=conventions)
        for name in both.analysis_fields():
            x, y = getattr(both, name)[g], getattr(alone, name)[0]
            if np.issubdtype(np.asarray(x).dtype, np.floating):
                np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=name)
            else:
                assert x == y, name
        np.testing.assert_allclose(both.weight[group == g], alone.weight, rtol=1e-12,
                                   atol=1e-12, err_msg="weight")
        # and trialsynth.pool on the same studies gives the same analysis
        res = pool(frame_of(rows), measure, method, hksj, revman)
        for name in ("estimate", "se", "tau2", "q", "i2"):
            value = float(getattr(alone, name)[0])  # pool reports non-finite numbers as None
            assert_same(getattr(res, name), value if math.isfinite(value) else None, name,
                        rel=0, abs_=0)


@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("k", [1, 2])
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_one_or_two_studies_do_not_crash(method, k, data):
    measure, frame = data.draw(analysis(method, min_k=k, max_k=k,
                                        zero_cells=data.draw(st.booleans())))
    hksj, revman = data.draw(hksj_for(method)), data.draw(st.booleans())
    res = pool(frame, measure, method, hksj, revman)
    assert len(res.studies) == k
    if method in IV_METHODS:  # k counts exactly the studies whose effects were pooled
        assert res.k == sum(s.included for s in res.studies)
    else:  # M-H and Peto count the 2×2 tables in their sums (RevMan), estimable or not
        assert res.k <= k
    if any(s.included for s in res.studies):  # the pooled studies' weights make up the whole
        assert sum(s.weight for s in res.studies if s.included) == pytest.approx(100, abs=1e-9)
    if res.k == 1 and method in RANDOM_METHODS:
        assert res.tau2 == 0.0
    if res.k >= 1 and method not in ("MH", "MH_RANDOM", "PETO"):
        assert res.estimate is not None and math.isfinite(res.estimate)
    if res.k == 1 and method in IV_METHODS:
        assert_same(res.estimate, next(s.yi for s in res.studies if s.included),
                    "estimate = the one study", rel=1e-12, abs_=1e-14)
