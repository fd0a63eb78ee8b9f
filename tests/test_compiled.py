"""The compiled kernels of large batches (trialsynth.pooling.compiled) give the numpy kernels' numbers.

The numpy kernels are the reference engine (checked against R metafor throughout the suite);
here the compiled engine is held to them and, on the same reference files, to metafor itself:
``tests/reference/metafor_reference.json`` (``validation/make_metafor_reference.R``) and
``tests/reference/tau2_hard_reference.json`` (``validation/make_tau2_hard_reference.R``).
``TRIALSYNTH_COMPILED=1`` makes every call use the compiled kernels, ``0`` none.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import test_metafor_reference as metafor_ref
import test_tau2_hard as hard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialsynth.pooling import compiled, engine
from trialsynth.pooling.batch import PooledBatch, pool_arrays
from trialsynth.pooling.control import DEFAULT_CONTROL

IV_METHODS = ("IV", "DL", "REML", "ML", "PM", "EB", "HE", "SJ")


def test_numba_is_installed_where_the_tests_run() -> None:
    """The test extra installs numba: the compiled engine is tested, not silently absent."""
    assert engine.enabled(), "install the test extra (numba) to test the compiled kernels"


def test_size_rule_and_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIALSYNTH_COMPILED", raising=False)
    monkeypatch.setattr(engine, "_expected", False)
    assert not engine.use_compiled(engine.MIN_STUDIES - 1)
    assert engine.use_compiled(engine.MIN_STUDIES)
    engine.expect(engine.MIN_STUDIES - 1)  # a small run: partitions stay with numpy
    assert not engine.use_compiled(engine.MIN_PART)
    engine.expect(engine.MIN_STUDIES)  # a large run: its partitions are compiled
    assert engine.use_compiled(engine.MIN_PART) and not engine.use_compiled(engine.MIN_PART - 1)
    monkeypatch.setenv("TRIALSYNTH_COMPILED", "1")
    assert engine.use_compiled(3)
    monkeypatch.setenv("TRIALSYNTH_COMPILED", "0")
    assert not engine.use_compiled(10 * engine.MIN_STUDIES) and not engine.enabled()


def test_small_calls_do_not_load_numba() -> None:
    """A review's analyses are pooled without importing numba (it costs a third of a second)."""
    code = ("import sys, numpy as np\n"
            "from trialsynth.pooling.batch import pool_arrays\n"
            "g = np.repeat(np.arange(50), 4)\n"
            "pool_arrays('GENERIC', 'REML', {'yi': np.linspace(0, 1, 200),"
            " 'se': np.full(200, 0.3)}, g, 50, hksj=True)\n"
            "assert 'numba' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def simulated_batch(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SIMULATED analyses (not real trials): k from 1 to 40, true τ² from 0 to 1, study variances
    spread over up to eight orders of magnitude, some analyses of identical effects."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 41, n)
    group = np.repeat(np.arange(n), k)
    spread = 10.0 ** rng.uniform(0, 8, n)[group]
    vi = rng.uniform(0.01, 1, group.size) * np.where(rng.random(group.size) < 0.2, spread, 1.0)
    tau2 = rng.choice([0.0, 0.0, 0.01, 0.1, 1.0], n)[group]
    yi = rng.normal(0.2, np.sqrt(vi + tau2))
    same = rng.random(n) < 0.05
    yi = np.where(same[group], 0.3, yi)
    return yi, vi, group


def _pooled(monkeypatch: pytest.MonkeyPatch, flag: str, method: str, hksj: bool | str,
            yi: np.ndarray, vi: np.ndarray, group: np.ndarray, n: int) -> PooledBatch:
    monkeypatch.setenv("TRIALSYNTH_COMPILED", flag)
    return pool_arrays("GENERIC", method, {"yi": yi, "se": np.sqrt(vi)}, group, n,
                       hksj=hksj if method != "IV" else False, tau2_ci=False)


@pytest.mark.parametrize("method", IV_METHODS)
@pytest.mark.parametrize("hksj", [False, True, "adhoc"])
def test_compiled_equals_numpy_on_simulated_batches(monkeypatch: pytest.MonkeyPatch, method: str,
                                                    hksj: bool | str) -> None:
    yi, vi, group = simulated_batch(7)
    n = int(group.max()) + 1
    ours = _pooled(monkeypatch, "1", method, hksj, yi, vi, group, n)
    ref = _pooled(monkeypatch, "0", method, hksj, yi, vi, group, n)
    assert np.array_equal(ours.converged, ref.converged)
    assert np.array_equal(ours.k, ref.k)
    vmin = np.minimum.reduceat(vi, np.searchsorted(group, np.arange(n)))
    # iterations: the compiled scoring stops at a boundary root instead of halving its way there
    # (never more steps); elsewhere mostly the same. The last steps of a root are below the
    # rounding of the sums here (variances over eight orders of magnitude): whether a step meets
    # the 1e-14 rule then depends on that rounding, which differs between the one-pass sums of
    # the compiled scoring and the two-pass numpy sums (typical data: the next test)
    interior = ~(ref.tau2 <= 1e-8 * vmin)
    assert (ours.iterations <= ref.iterations)[~interior].all()
    assert np.mean((ours.iterations == ref.iterations)[interior]) > 0.8
    for f in fields(PooledBatch):
        a, b = getattr(ours, f.name), getattr(ref, f.name)
        if a.dtype.kind != "f":
            continue
        assert np.array_equal(np.isnan(a), np.isnan(b)), f.name
        ok = np.isnan(a) | np.isclose(a, b, rtol=1e-9, atol=1e-12)
        if f.name in ("tau2", "i2", "h2"):  # boundary roots: 0 or below 1e-14 (unit scale)
            ok |= np.abs(a - b) <= {"tau2": 1e-12 * vmin, "i2": 1e-10, "h2": 1e-12}[f.name]
        assert ok.all(), (f.name, a[~ok][:3], b[~ok][:3])


def test_compiled_reml_takes_the_same_steps_on_typical_data(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """SIMULATED analyses (not real trials) of 3–30 studies, vᵢ ~ U(0.01, 0.4), τ² = 0 for a
    quarter, else U(0, 0.3) (as benchmarks/bench_scale.py): REML's scoring takes the same number
    of steps in both engines for 98% of the interior roots or more, the same τ² to 1e-10."""
    rng = np.random.default_rng(21)
    n = 3000
    k = rng.integers(3, 31, n)
    group = np.repeat(np.arange(n), k)
    tau2 = np.where(rng.random(n) < 0.25, 0.0, rng.uniform(0, 0.3, n))[group]
    vi = rng.uniform(0.01, 0.4, group.size)
    yi = rng.normal(rng.normal(0, 0.5, n)[group], np.sqrt(vi + tau2))
    ours = _pooled(monkeypatch, "1", "REML", False, yi, vi, group, n)
    ref = _pooled(monkeypatch, "0", "REML", False, yi, vi, group, n)
    interior = ref.tau2 > 1e-8 * np.minimum.reduceat(vi, np.searchsorted(group, np.arange(n)))
    assert interior.sum() > 0.6 * n
    assert np.mean((ours.iterations == ref.iterations)[interior]) >= 0.98
    assert np.allclose(ours.tau2[interior], ref.tau2[interior], rtol=1e-10, atol=0)


def test_compiled_reml_matches_metafor_on_hard_cases() -> None:
    """Every hard case of the τ² reference in one compiled batch: metafor's τ², or a τ² at least
    as likely where metafor stopped at a local maximum (the rule of tests/test_tau2_hard.py)."""
    cases = [c for c in hard.CASES if "REML" in c["expected"]]
    yi = np.concatenate([c["yi"] for c in cases])
    vi = np.concatenate([c["vi"] for c in cases])
    k = np.array([len(c["yi"]) for c in cases])
    group = np.repeat(np.arange(len(cases)), k)
    starts = np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    fit = compiled.restricted_maximum_likelihood(yi, vi, group, len(cases), starts,
                                                 DEFAULT_CONTROL)
    assert len(cases) >= 60 and fit.converged.all()
    for j, case in enumerate(cases):
        want = case["expected"]["REML"]
        tau2 = float(fit.tau2[j])
        if math.isclose(tau2, want["tau2"], rel_tol=1e-6, abs_tol=1e-9):
            continue
        y, v = np.array(case["yi"]), np.array(case["vi"])
        assert hard.loglik(y, v, tau2, True) >= want["loglik"] - 1e-9 * abs(want["loglik"]), \
            (case["id"], tau2, want)


@pytest.mark.parametrize("case", [c for c in metafor_ref.CASES if c.get("expected")],
                         ids=lambda c: c["id"])
def test_compiled_engine_matches_metafor(monkeypatch: pytest.MonkeyPatch, case: dict) -> None:
    """The metafor reference cases (real metadat data) through the compiled engine."""
    monkeypatch.setenv("TRIALSYNTH_COMPILED", "1")
    metafor_ref.test_matches_metafor(case)


def test_base_install_without_numba_uses_numpy() -> None:
    """Without numba (the base install) the engine says so, and even a forced call pools with
    the numpy kernels."""
    code = ("import importlib.util, sys\n"
            "find = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a: None if name == 'numba' else find(name, *a)\n"
            "sys.modules['numba'] = None\n"
            "import numpy as np\n"
            "from trialsynth.pooling import engine\n"
            "from trialsynth.pooling.batch import pool_arrays\n"
            "assert not engine.enabled() and not engine.use_compiled(10**7)\n"
            "g = np.repeat(np.arange(3), 4)\n"
            "r = pool_arrays('GENERIC', 'REML', {'yi': np.linspace(0, 1, 12),"
            " 'se': np.full(12, 0.3)}, g, 3)\n"
            "assert np.isfinite(r.estimate).all()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TRIALSYNTH_COMPILED": "1"})
    assert proc.returncode == 0, proc.stderr


def simulated_tables(seed: int, n: int = 500) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """SIMULATED 2×2 tables (not real trials): k from 1 to 30, arms of 5 to 400, event risks from
    0 to 0.9, so that zero cells, double-zero tables and analyses without events occur."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 31, n)
    group = np.repeat(np.arange(n), k)
    n1, n2 = rng.integers(5, 401, group.size), rng.integers(5, 401, group.size)
    risk = rng.choice([0.0, 0.01, 0.05, 0.3, 0.9], n)[group]
    ai = rng.binomial(n1, risk)
    ci = rng.binomial(n2, np.clip(risk * rng.uniform(0.5, 1.5, group.size), 0, 1))
    cols = {"events_t": ai, "n_t": n1, "events_c": ci, "n_c": n2}
    return {key: value.astype(np.float64) for key, value in cols.items()}, group


def assert_same_batch(ours: PooledBatch, ref: PooledBatch) -> None:
    """Both engines' batches: the same NaNs, masks and counts; numbers to rounding."""
    for f in fields(PooledBatch):
        a, b = getattr(ours, f.name), getattr(ref, f.name)
        if a.dtype.kind == "f":
            assert np.array_equal(np.isnan(a), np.isnan(b)), f.name
            assert np.allclose(a, b, rtol=1e-11, atol=1e-13, equal_nan=True), f.name
        else:
            assert np.array_equal(a, b), f.name


def edge_tables() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """SIMULATED 2×2 tables (not real trials), one analysis per row of ``rows``: zero cells,
    double zeros (no events, all events), an arm without participants, missing, negative,
    non-finite and inexact (above 2^53) counts, mixed with ordinary tables."""
    big, nan, inf = 2.0**60, np.nan, np.inf
    rows = [  # (events_t, n_t, events_c, n_c) per table
        [(3, 20, 5, 21), (0, 15, 4, 16), (2, 30, 0, 28)],
        [(0, 10, 0, 12), (0, 8, 0, 9)],  # no events anywhere
        [(10, 10, 12, 12), (7, 7, 3, 9)],  # all events in both arms; in one
        [(10, 10, 12, 12)],
        [(4, 12, 6, 13), (nan, 10, 2, 11), (3, 9, 2, nan)],
        [(1, 10, 2, 11), (big, big, 3, 10), (2, 8, 1, 9)],
        [(0, 0, 3, 10), (2, 10, 3, 10)],  # an empty arm
        [(-1, 10, 2, 10), (12, 10, 2, 10), (5, 10, inf, inf)],
        [(0, 10, 5, 10), (0, 12, 0, 12), (1, 1, 1, 1)],
        [(5, 50, 10, 50)],
        [(0, 50, 0, 50)],
    ]
    group = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    flat = np.array([t for r in rows for t in r], dtype=np.float64)
    cols = dict(zip(("events_t", "n_t", "events_c", "n_c"), flat.T, strict=True))
    return {key: np.ascontiguousarray(v) for key, v in cols.items()}, group


def _policies() -> list:
    from trialsynth.effects.zero_cells import METAFOR, NO_CORRECTION, REVMAN, ZeroCellPolicy

    return [METAFOR, REVMAN, NO_CORRECTION, ZeroCellPolicy("all", add=0.5, to="all"),
            ZeroCellPolicy("all, drop00", add=0.25, to="all", drop00=True),
            ZeroCellPolicy("none, drop00", add=0.5, to="none", drop00=True)]


@pytest.mark.parametrize("measure", ["OR", "RR"])
@pytest.mark.parametrize("base", ["metafor", "revman"])
@pytest.mark.parametrize("study_policy", range(6))
@pytest.mark.parametrize("mh_policy", range(6))
def test_compiled_tables_equal_numpy_on_edge_tables(monkeypatch: pytest.MonkeyPatch, measure: str,
                                                    base: str, study_policy: int,
                                                    mh_policy: int) -> None:
    """The one-pass M-H kernel and the numpy path agree on every field, table by table, for
    every zero-cell policy it takes, with RevMan's and metafor's other conventions."""
    from dataclasses import replace

    from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS

    pols = _policies()
    conv = replace(METAFOR_CONVENTIONS if base == "metafor" else REVMAN_CONVENTIONS,
                   mh_study_zero_cells=pols[study_policy], mh_zero_cells=pols[mh_policy])
    assert compiled.takes_tables(measure, "MH", conv)
    sim, sim_group = simulated_tables(5, n=60)
    edge, edge_group = edge_tables()
    cols = {c: np.concatenate([edge[c], sim[c]]) for c in edge}
    group = np.concatenate([edge_group, sim_group + edge_group.max() + 1])
    n = int(group.max()) + 1
    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv("TRIALSYNTH_COMPILED", flag)
        with np.errstate(all="ignore"):  # the numpy path meets inf − inf in the hostile tables
            out.append(pool_arrays(measure, "MH", cols, group, n, conventions=conv))
    assert_same_batch(*out)
    assert not out[0].included[group == 7].all()  # the hostile tables are judged, not pooled


def test_tables_kernel_leaves_other_policies_to_numpy() -> None:
    """``if0all`` (every table of an analysis with a zero cell) is the numpy path's alone."""
    from dataclasses import replace

    from trialsynth.conventions import METAFOR_CONVENTIONS
    from trialsynth.effects.zero_cells import ZeroCellPolicy

    conv = replace(METAFOR_CONVENTIONS, mh_zero_cells=ZeroCellPolicy("if0all", to="if0all"))
    assert not compiled.takes_tables("OR", "MH", conv)
    assert not compiled.takes_tables("RD", "MH", METAFOR_CONVENTIONS)
    assert compiled.takes_tables("RR", "MH", METAFOR_CONVENTIONS)


@pytest.mark.parametrize("measure", ["OR", "RR"])
@pytest.mark.parametrize("conventions", ["metafor", "revman"])
def test_compiled_mantel_haenszel_equals_numpy(monkeypatch: pytest.MonkeyPatch, measure: str,
                                               conventions: str) -> None:
    from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS

    conv = METAFOR_CONVENTIONS if conventions == "metafor" else REVMAN_CONVENTIONS
    cols, group = simulated_tables(11)
    n = int(group.max()) + 1
    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv("TRIALSYNTH_COMPILED", flag)
        out.append(pool_arrays(measure, "MH", cols, group, n, conventions=conv))
    assert_same_batch(*out)


@pytest.mark.shared_data
@pytest.mark.parametrize("options", [
    {"method": "DL"}, {"method": "REML", "hksj": True}, {"method": "MH", "revman": True},
    {"method": "MH"}, {"method": "PM", "hksj": "adhoc", "revman": True}, {"method": "IV"},
])
def test_real_reviews_same_through_either_engine(monkeypatch: pytest.MonkeyPatch,
                                                  options: dict) -> None:
    """Real Cochrane reviews (Pairwise70 corpus; the rows of tests/test_batch.py) pooled by
    ``trialsynth batch``'s engine with and without the compiled kernels: the same table."""
    import test_batch

    from trialsynth.corpus import run_batch

    for key in test_batch.SAMPLE:
        path = test_batch.PW70 / f"{key}_data.csv"
        tables = []
        for flag in ("1", "0"):
            monkeypatch.setenv("TRIALSYNTH_COMPILED", flag)
            tables.append(run_batch(path, **options))
        ours, ref = tables
        assert list(ours["analysis"]) == list(ref["analysis"]) and len(ref) >= 5
        for col in test_batch.NUMERIC:
            a, b = ours[col].to_numpy(float), ref[col].to_numpy(float)
            if col == "tau":  # √ of a boundary τ² (0, or below 1e-14 in unit scale): compare τ²
                a, b = a**2, b**2
            assert np.array_equal(np.isnan(a), np.isnan(b)), col
            assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True), (col, key)
        for col in ("k", "converged", "warnings", "measure"):
            assert list(ours[col]) == list(ref[col]), col


_finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_variance = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
_analysis = st.lists(st.tuples(_finite, _variance), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_analysis, min_size=1, max_size=6), st.sampled_from(["REML", "DL", "ML", "PM"]),
       st.booleans())
def test_compiled_equals_numpy_on_any_batch(batch: list, method: str, repeat: bool) -> None:
    """Any batch (generated, SIMULATED: effects up to ±1000, variances over twelve orders of
    magnitude, analyses of 1 to 12 studies, some of identical effects): both engines agree."""
    if repeat:  # identical effects within each analysis
        batch = [[(rows[0][0], v) for _, v in rows] for rows in batch]
    yi = np.array([y for rows in batch for y, _ in rows])
    vi = np.array([v for rows in batch for _, v in rows])
    group = np.repeat(np.arange(len(batch)), [len(rows) for rows in batch])
    out = []
    for flag in ("1", "0"):
        os.environ["TRIALSYNTH_COMPILED"] = flag
        try:
            out.append(pool_arrays("GENERIC", method, {"yi": yi, "se": np.sqrt(vi)}, group,
                                   len(batch), hksj=True, tau2_ci=False))
        finally:
            del os.environ["TRIALSYNTH_COMPILED"]
    ours, ref = out
    vmin = np.array([min(v for _, v in rows) for rows in batch])
    assert np.array_equal(ours.converged, ref.converged)
    for name in ("estimate", "se", "pvalue", "q", "weight"):
        a, b = getattr(ours, name), getattr(ref, name)
        assert np.allclose(a, b, rtol=1e-8, atol=1e-12, equal_nan=True), (name, a, b)
    # τ²: a root to the stopping rule's precision, or the boundary (0 or below 1e-14 × v₍₁₎)
    assert (np.isclose(ours.tau2, ref.tau2, rtol=1e-8, atol=0, equal_nan=True)
            | (np.abs(ours.tau2 - ref.tau2) <= 1e-12 * vmin)).all(), (ours.tau2, ref.tau2)


def test_a_runs_size_reaches_every_partition(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    """``trialsynth batch`` estimates its input's studies once and sends the figure with every
    partition (``pool_partition`` on this process's threads or on a Dask worker), where a large
    run makes the engine compile its partitions."""
    import trialsynth.corpus.run as batch_run

    yi, vi, group = simulated_batch(3, n=40)
    src = tmp_path / "long.csv"
    src.write_text("analysis,yi,se\n" + "".join(
        f"a{g},{float(y)!r},{float(v) ** 0.5!r}\n" for g, y, v in zip(group, yi, vi, strict=True)))
    monkeypatch.delenv("TRIALSYNTH_COMPILED", raising=False)
    real = batch_run.pool_partition
    seen: list[int] = []

    def spy(payload: dict, options: dict) -> object:
        seen.append(options["expect_studies"])
        return real(payload, options)

    monkeypatch.setattr(batch_run, "pool_partition", spy)
    for size, expected in ((engine.MIN_STUDIES - 1, False), (engine.MIN_STUDIES, True)):
        monkeypatch.setattr(engine, "_expected", False)
        monkeypatch.setattr(batch_run, "_studies_estimate", lambda path, size=size: size)
        seen.clear()
        table = batch_run.run_batch(src, tmp_path / f"out{size}.csv", method="REML")
        assert len(table) == 40 and seen and set(seen) == {size}
        assert engine._expected is expected


def test_chi2_tail_by_finite_sums_equals_scipy() -> None:
    """The χ² upper tail of the compiled Q p-value (Abramowitz & Stegun 26.4.4/26.4.5) against
    scipy's ``chdtrc`` (what heterogeneity.q_pvalue calls) over whole df 1–200 and x up to 1400:
    within 1e-12 relative; NaN (left to chdtrc) beyond."""
    from scipy.special import chdtrc

    xs = np.concatenate([[0.0, 1e-300, 1e-12, 1e-3], np.linspace(0.01, 60, 120),
                         np.geomspace(60, 1400, 25)])
    for df in range(1, compiled.CHI2_MAX_DF + 1):
        ours = np.array([compiled._chi2_sf_whole(x, df) for x in xs])
        ref = chdtrc(df, xs)
        big = ref > 1e-290
        assert np.allclose(ours[big], ref[big], rtol=1e-12, atol=0), df
        assert (ours[~big] < 1e-280).all(), df
    for x, df in ((1401.0, 3), (10.0, 201), (np.nan, 4), (-1.0, 4), (5.0, 0)):
        assert np.isnan(compiled._chi2_sf_whole(x, df))


def test_q_pvalue_beyond_the_finite_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIMULATED analyses whose Q p-value the finite sums leave to scipy (250 studies; Q far
    beyond 1400) get the numpy engine's p-values from the compiled engine too."""
    rng = np.random.default_rng(3)
    k = np.array([250, 5, 4])
    group = np.repeat(np.arange(3), k)
    yi = rng.normal(0, 1, group.size)
    yi[group == 1] = [0.0, 50.0, -50.0, 100.0, 3.0]  # Q in the tens of thousands
    se = np.full(group.size, 0.2)
    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv("TRIALSYNTH_COMPILED", flag)
        out.append(pool_arrays("GENERIC", "DL", {"yi": yi, "se": se}, group, 3))
    assert out[0].q[1] > 1400 and np.isfinite(out[0].q_pvalue).all()
    assert_same_batch(*out)


def test_compiled_tables_with_empty_analyses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Analyses without a table (first, between and last) in a batch the compiled M-H kernel
    pools: the same fields as the numpy path (SIMULATED counts)."""
    cols = {"events_t": np.array([3.0, 0, 5, 2, 7]), "n_t": np.array([20.0, 15, 30, 12, 40]),
            "events_c": np.array([4.0, 2, 6, 1, 9]), "n_c": np.array([21.0, 14, 29, 13, 41])}
    group = np.array([1, 1, 3, 3, 3])
    out = []
    for flag in ("1", "0"):
        monkeypatch.setenv("TRIALSYNTH_COMPILED", flag)
        out.append(pool_arrays("OR", "MH", cols, group, 6))
    assert list(out[0].k) == [0, 2, 0, 3, 0, 0]
    assert_same_batch(*out)
