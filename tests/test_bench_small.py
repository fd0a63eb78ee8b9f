"""A small version of benchmarks/bench_scale.py, for correctness only (no timing assertions).

200 SIMULATED analyses (stored inputs, tests/reference/bench_small_reference.json, made by
validation/make_bench_small_reference.py with R 4.2.2 + metafor 3.8-1): trialsynth's batch kernels
against metafor's ``rma`` DL, ``rma`` REML + knha + ``predict`` and ``rma.mh`` OR, and against
PyMARE and statsmodels where they estimate the same thing. Also: the chunked batch path gives the
same bits as one pass, and ``tau2_ci=False`` changes only the interval fields.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

import trialsynth.pooling.batch as batch
from trialsynth.pooling._roots import ActiveSet
from trialsynth.pooling.batch import PooledBatch, pool_arrays
from trialsynth.pooling.tau2 import _reml_loglik

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "bench_small_reference.json").read_text())
RTOL, ATOL = 1e-6, 1e-10


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
_inp = {k: np.asarray(v, dtype=np.float64) for k, v in REF["inputs"].items()}
GROUP = _inp.pop("group").astype(np.intp)
N = int(GROUP.max()) + 1
DATA = bench.Simulated(N, GROUP, _inp["yi"], _inp["sei"], _inp["ai"], _inp["n1i"], _inp["ci"],
                       _inp["n2i"])
GENERIC = {"yi": DATA.yi, "se": DATA.sei}
TABLES = {"events_t": DATA.ai, "n_t": DATA.n1i, "events_c": DATA.ci, "n_c": DATA.n2i}


def _ref(block: str, name: str) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in REF["metafor"][block][name]])


def _close(ours: np.ndarray, theirs: np.ndarray, rtol: float = RTOL) -> None:
    ok = np.isfinite(theirs)
    assert ok.sum() >= 0.95 * ok.size
    np.testing.assert_allclose(np.asarray(ours)[ok], theirs[ok], rtol=rtol, atol=ATOL)


def test_dl_matches_metafor():
    res = pool_arrays("GENERIC", "DL", GENERIC, GROUP, N)
    for f in ("estimate", "se", "tau2"):
        _close(getattr(res, f), _ref("dl", f))


def test_reml_hksj_prediction_interval_matches_metafor():
    res = pool_arrays("GENERIC", "REML", GENERIC, GROUP, N, hksj=True)
    assert res.converged.all()  # also where metafor's Fisher scoring stopped with an error
    for f in ("estimate", "se", "tau2", "pi_low", "pi_high"):
        _close(getattr(res, f), _ref("reml_knha", f))


def test_mantel_haenszel_or_matches_metafor():
    res = pool_arrays("OR", "MH", TABLES, GROUP, N)
    for f in ("estimate", "se"):
        _close(getattr(res, f), _ref("mh_or", f))


def test_pymare_dl_and_reml():
    """PyMARE's DL (Wald SE) is the same closed form; its REML comes from a bounded scalar search,
    so trialsynth's REML τ² must be at least as likely as PyMARE's and close to it."""
    _, res, _ = bench.run_pymare(DATA)
    dl = pool_arrays("GENERIC", "DL", GENERIC, GROUP, N)
    for f in ("estimate", "se", "tau2"):
        np.testing.assert_allclose(getattr(dl, f), res["dl"][f], rtol=1e-10, atol=1e-12)
    reml = pool_arrays("GENERIC", "REML", GENERIC, GROUP, N)
    studies = ActiveSet(DATA.yi, DATA.sei**2, GROUP, np.ones(N, dtype=bool))
    ll_ours = _reml_loglik(studies, reml.tau2, N)
    ll_pymare = _reml_loglik(studies, np.maximum(res["reml"]["tau2"], 0.0), N)
    assert np.all(ll_ours >= ll_pymare - 1e-9 * np.abs(ll_ours))
    np.testing.assert_allclose(reml.tau2, res["reml"]["tau2"], atol=0.02)


def test_statsmodels_dl():
    """statsmodels' combine_effects(method_re="chi2") is DL without truncating τ² at 0: equal
    wherever its τ² is not negative."""
    _, res, _ = bench.run_statsmodels(DATA)
    dl = pool_arrays("GENERIC", "DL", GENERIC, GROUP, N)
    keep = res["tau2"] >= 0
    assert keep.sum() > N // 2
    for f in ("estimate", "se", "tau2"):
        np.testing.assert_allclose(getattr(dl, f)[keep], res[f][keep], rtol=1e-10, atol=1e-12)
    assert np.all(dl.tau2[~keep] == 0)


CASES = [("GENERIC", "DL", GENERIC, False), ("GENERIC", "REML", GENERIC, True),
         ("GENERIC", "PM", GENERIC, False), ("OR", "MH", TABLES, False),
         ("PETO_OR", "PETO", TABLES, False), ("OR", "MH_RANDOM", TABLES, True),
         ("RR", "EB", TABLES, False)]


@pytest.mark.parametrize(("measure", "method", "cols", "hksj"), CASES)
@pytest.mark.parametrize("shuffled", [False, True])
def test_chunked_equals_one_pass(monkeypatch, measure, method, cols, hksj, shuffled):
    """Chunks of whole analyses (and the sort of an unsorted batch) give the same bits."""
    order = np.random.default_rng(7).permutation(GROUP.size) if shuffled else np.arange(GROUP.size)
    group = np.where(GROUP % 17 == 3, GROUP + 1, GROUP)[order]  # some analyses left empty
    n = N + 2  # and two empty ones at the end
    data = {k: v[order] for k, v in cols.items()}
    one = pool_arrays(measure, method, data, group, n, hksj=hksj)
    monkeypatch.setattr(batch, "CHUNK_ROWS", 97)
    chunked = pool_arrays(measure, method, data, group, n, hksj=hksj)
    for f in fields(PooledBatch):
        assert np.array_equal(getattr(one, f.name), getattr(chunked, f.name), equal_nan=True), f.name


def test_tau2_ci_off_changes_only_the_intervals():
    full = pool_arrays("GENERIC", "REML", GENERIC, GROUP, N, hksj=True)
    lean = pool_arrays("GENERIC", "REML", GENERIC, GROUP, N, hksj=True, tau2_ci=False)
    interval = {"tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low", "h2_ci_high"}
    for f in fields(PooledBatch):
        a, b = getattr(full, f.name), getattr(lean, f.name)
        if f.name in interval:
            assert np.isnan(b).all() and np.isfinite(a).all()
        elif f.name == "tau2_ci_beyond":
            assert not b.any()
        else:
            assert np.array_equal(a, b, equal_nan=True), f.name


def test_benchmark_command_runs():
    """The benchmark command itself, tiny: prints its table and the differences from the peers."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "--n", "300",
                           "--peers", "pymare,statsmodels", "--no-corpus", "--reps", "1"],
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for text in ("REML+HKSJ+PI", "MH OR", "PyMARE", "statsmodels", "physical limit"):
        assert text in proc.stdout
