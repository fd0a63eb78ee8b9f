"""The convergence control (trialsynth.pooling.control.Control, metafor's ``control=``): passed
through ``pool`` and ``pool_arrays`` to the iterative estimators and the Q-profile search, checked
against what metafor returns with the same control (tests/reference/control_metafor.json, made by
validation/make_control_reference.R), and the defaults leave every result as it was."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialsynth as ts
from trialsynth.pooling.control import DEFAULT_CONTROL, Control, as_control

REF = json.loads((Path(__file__).parent / "reference" / "control_metafor.json").read_text())
CASES = {c["id"]: c for c in REF["cases"]}
REL = 1e-6


def close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(b))


def arrays(data_set: str) -> tuple[np.ndarray, np.ndarray]:
    d = REF["data"][data_set]
    return np.asarray(d["yi"], float), np.asarray(d["vi"], float)


def pooled(data_set: str, method: str, **kw):
    yi, vi = arrays(data_set)
    return ts.pool_arrays("GENERIC", method, {"yi": yi, "se": np.sqrt(vi)},
                          np.zeros(yi.size, np.intp), 1, **kw)


@pytest.mark.parametrize("case", [c for c in REF["cases"] if "stepadj" in c["control"]],
                         ids=lambda c: c["id"])
def test_a_damped_fisher_scoring_reaches_metafors_root(case):
    """metafor with control = list(stepadj = ...) and the same step damping here: the same τ²."""
    fit = pooled(case["data_set"], case["method"], control={"stepadj": case["control"]["stepadj"]})
    assert bool(fit.converged[0])
    assert close(float(fit.tau2[0]), case["tau2"])
    assert close(float(fit.estimate[0]), case["estimate"])
    assert close(float(fit.se[0]), case["se"])


@pytest.mark.parametrize("method", ["REML", "ML", "EB"])
def test_the_step_adjustment_is_applied(method):
    """A step of half the length needs more Fisher-scoring steps to reach the same root."""
    full = pooled("bcg", method)
    half = pooled("bcg", method, control=Control(stepadj=0.5))
    assert int(half.iterations[0]) > int(full.iterations[0])
    assert close(float(half.tau2[0]), float(full.tau2[0]), 1e-9)


@pytest.mark.parametrize("case", [c for c in REF["cases"] if "tau2_max" in c["control"]],
                         ids=lambda c: c["id"])
def test_the_q_profile_search_bound_is_metafors_tau2_max(case):
    """confint(..., control = list(tau2.max = x)): a bound beyond x is reported as x ("> x")."""
    fit = pooled(case["data_set"], "REML", tau2_ci_search="metafor",
                 control={"tau2_max": case["control"]["tau2_max"]})
    assert close(float(fit.tau2[0]), case["tau2"])
    assert close(float(fit.tau2_ci_low[0]), case["tau2_ci_low"])
    assert float(fit.tau2_ci_high[0]) == pytest.approx(case["tau2_ci_high"], rel=1e-12)
    assert bool(fit.tau2_ci_beyond[0]) == (case["ub_sign"] == ">")
    # the unbounded search goes past the same bound and finds the root (above it)
    free = pooled(case["data_set"], "REML", control={"tau2_max": case["control"]["tau2_max"]})
    assert float(free.tau2_ci_high[0]) > case["tau2_ci_high"] and not bool(free.tau2_ci_beyond[0])
    assert close(float(free.tau2_ci_low[0]), case["tau2_ci_low"])


@pytest.mark.parametrize("data_set", ["bcg", "normand"])
def test_an_iteration_budget_too_small_is_reported_not_hidden(data_set):
    """metafor stops with "did not converge" at maxiter = 1; here the bracketed fallback finds
    the root unless its budget is cut too, and then the result says it did not converge."""
    assert "did not converge" in CASES[f"{data_set}_REML_maxiter1"]["error"]
    rescued = pooled(data_set, "REML", control={"maxiter": 1})
    assert bool(rescued.converged[0])
    assert close(float(rescued.tau2[0]), CASES[f"{data_set}_REML_stepadj0.5"]["tau2"])
    stuck = pooled(data_set, "REML", control={"maxiter": 1, "root_maxiter": 1})
    assert not bool(stuck.converged[0])


def test_the_defaults_change_nothing_bit_for_bit():
    """Control() is today's constants: every method, every field identical to no control."""
    yi, vi = arrays("bcg")
    cols = {"yi": yi, "se": np.sqrt(vi)}
    group = np.zeros(yi.size, np.intp)
    for method in ("REML", "ML", "EB", "PM", "DL", "SJ", "HE"):
        a = ts.pool_arrays("GENERIC", method, cols, group, 1)
        b = ts.pool_arrays("GENERIC", method, cols, group, 1, control=Control())
        for name in a.analysis_fields():
            assert np.array_equal(getattr(a, name), getattr(b, name), equal_nan=True), name


def test_pool_records_a_control_other_than_the_defaults_and_refuses_bad_ones():
    yi, vi = arrays("normand")
    frame = pd.DataFrame({"yi": yi, "se": np.sqrt(vi)})
    plain = ts.pool(frame, "GENERIC", "PM")
    assert "control" not in plain.settings
    tuned = ts.pool(frame, "GENERIC", "PM", control={"tau2_max": 1.0, "tol": 1e-14})
    assert tuned.settings["control"]["tau2_max"] == 1.0
    # Paule–Mandel's root lies far above the first bracket [0, 1]: it is found all the same
    assert close(tuned.tau2, plain.tau2, 1e-9)
    for bad in ({"maxiter": 0}, {"threshold": -1.0}, {"nonsense": 1}, {"tau2_max": math.nan}):
        with pytest.raises(ts.DataError, match="control"):
            ts.pool(frame, "GENERIC", "REML", control=bad)
    assert as_control(None) is DEFAULT_CONTROL
