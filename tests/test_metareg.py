"""Meta-regression against R metafor's ``rma(yi, vi, mods = ~ ...)``.

Expected numbers come from ``tests/reference/beyond_reference.json`` (made by
``validation/make_beyond_reference.R`` with metafor 3.8-1, never by trialsynth): coefficients,
SEs, test statistics, p-values and CIs, τ², I², H², R², Q_M (with df) and Q_E, for REML, ML, DL
and common-effect (EE) models with Knapp–Hartung (``test="knha"``) and z tests, on numeric and
categorical covariates: dat.bcg (latitude, year, allocation), dat.hackshaw1998 (design, year),
dat.molloy2014 (mean age, quality, controls), dat.curtis1998 (functional group, time, method;
k = 102) and the flagship review CD015373 analysis 7.2 (pain condition; dose).
Tolerance 1e-6 relative (1e-9 absolute for τ², I², R² at 0).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from trialsynth.errors import DataError
from trialsynth.metareg import MetaRegression, design_matrix, meta_regression, metareg_arrays

REFERENCE = Path(__file__).parent / "reference" / "beyond_reference.json"
CASES = [c for c in json.loads(REFERENCE.read_text())["cases"] if c["kind"] == "metareg"]
ATOL = {"tau2", "i2", "r2"}


def as_list(x: object) -> list:
    """jsonlite writes length-1 vectors as scalars (auto_unbox)."""
    return [] if x is None else [x] if isinstance(x, str | int | float) else list(x)


def fit(case: dict) -> MetaRegression:
    d = case["data"]
    mods = {v: as_list(d[v]) for v in as_list(case["covariates"])}
    return meta_regression(d["yi"], d["vi"], mods, method=case["method"], test=case["test"],
                           categorical=as_list(case["categorical"]))


def close(got: float | None, want: float | None, field: str) -> bool:
    if want is None:
        return got is None
    return got is not None and math.isclose(got, want, rel_tol=1e-6,
                                            abs_tol=1e-9 if field in ATOL else 0.0)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_meta_regression_matches_metafor_rma_mods(case: dict) -> None:
    r = fit(case)
    e = case["expected"]
    assert r.skipped_reason is None and r.converged
    assert r.k == e["k"]
    assert len(r.coefficients) == len(e["estimate"])
    for j, c in enumerate(r.coefficients):
        for field in ("estimate", "se", "statistic", "pvalue", "ci_low", "ci_high"):
            assert close(getattr(c, field), e[field][j], field), (c.name, field)
    if case["method"] != "IV":
        assert close(r.tau2, e["tau2"], "tau2")
    for field in ("i2", "h2", "r2", "qm", "qm_pvalue", "qe", "qe_pvalue"):
        assert close(getattr(r, field), e[field], field), field
    assert list(r.qm_df) == [int(x) for x in np.atleast_1d(e["qm_df"])]
    assert r.qe_df == e["qe_df"]
    assert r.df == (e["k"] - len(e["estimate"]) if case["test"] == "knha" else None)


def test_reference_covers_methods_tests_and_covariate_kinds() -> None:
    assert {c["method"] for c in CASES} == {"REML", "ML", "DL", "IV"}
    assert {c["test"] for c in CASES} == {"knha", "z"}
    assert any(as_list(c["categorical"]) for c in CASES) and any(not as_list(c["categorical"]) for c in CASES)
    assert any(len(as_list(c["covariates"])) >= 3 for c in CASES)
    assert any(c["dataset"].startswith("flagship") for c in CASES)


def test_coefficient_names_follow_r_treatment_coding() -> None:
    case = next(c for c in CASES if c["id"].startswith("metareg_bcg_RR__ablat_factor_alloc__REML_knha"))
    r = fit(case)
    assert [c.name for c in r.coefficients] == ["intercept", "ablat", "alloc[random]",
                                               "alloc[systematic]"]
    assert r.levels["alloc"] == ("alternate", "random", "systematic")
    other = meta_regression(case["data"]["yi"], case["data"]["vi"],
                            {"ablat": case["data"]["ablat"], "alloc": case["data"]["alloc"]},
                            reference={"alloc": "random"})
    # a different reference level changes the dummies but not the fit
    assert other.coefficients[2].name == "alloc[alternate]"
    assert math.isclose(other.tau2, r.tau2, rel_tol=1e-9)
    assert math.isclose(other.qm, r.qm, rel_tol=1e-9)


def test_batch_kernel_fits_several_analyses_at_once() -> None:
    picks = [c for c in CASES if c["formula"] == "~ ablat" and c["test"] == "knha"
             and c["method"] == "REML"]
    case = picks[0]
    y, v = np.asarray(case["data"]["yi"]), np.asarray(case["data"]["vi"])
    X = np.column_stack([np.ones_like(y), case["data"]["ablat"]])
    # the same analysis twice plus a half (simulated split) in one batch
    half = slice(0, 7)
    Y = np.concatenate([y, y, y[half]])
    V = np.concatenate([v, v, v[half]])
    XX = np.vstack([X, X, X[half]])
    g = np.concatenate([np.zeros(13, int), np.ones(13, int), np.full(7, 2)])
    b = metareg_arrays(Y, V, XX, g, 3, method="REML", test="knha")
    single = metareg_arrays(y[half], v[half], X[half], np.zeros(7, int), 1, method="REML", test="knha")
    for i in (0, 1):
        assert np.allclose(b.beta[i], case["expected"]["estimate"], rtol=1e-6)
    assert np.allclose(b.beta[2], single.beta[0], rtol=1e-12)
    assert math.isclose(b.tau2[2], single.tau2[0], rel_tol=1e-12, abs_tol=1e-15)


def test_missing_covariates_drop_studies_and_too_few_studies_skip() -> None:
    case = CASES[0]
    d = case["data"]
    ablat = list(d["ablat"])
    ablat[0] = None
    r = meta_regression(d["yi"], d["vi"], {"ablat": ablat}, labels=d["study"])
    assert r.k == len(d["yi"]) - 1 and r.dropped == (d["study"][0],)
    tiny = meta_regression(d["yi"][:2], d["vi"][:2], {"ablat": d["ablat"][:2]})
    assert tiny.skipped_reason is not None and tiny.coefficients == ()
    json.dumps(tiny.to_dict(), allow_nan=False)


def test_bad_input_raises_data_error() -> None:
    case = CASES[0]
    d = case["data"]
    with pytest.raises(DataError, match="unknown method"):
        meta_regression(d["yi"], d["vi"], {"ablat": d["ablat"]}, method="XYZ")
    with pytest.raises(DataError, match="reference level"):
        meta_regression(d["yi"], d["vi"], {"a": ["x", "y"] * 6 + ["x"]}, reference={"a": "z"})
    with pytest.raises(DataError, match="has 2 values, expected 3"):
        design_matrix({"a": [1, 2, 3], "b": [1, 2]})


def test_shifting_a_covariate_moves_only_the_intercept() -> None:
    # invariant: x → x + c leaves slopes, τ², Q_M, Q_E and R² unchanged (reparametrisation)
    for case in [c for c in CASES if c["formula"] == "~ ablat + year"]:
        d = case["data"]
        a = fit(case)
        b = meta_regression(d["yi"], d["vi"], {"ablat": [x + 10 for x in d["ablat"]],
                                               "year": [x - 1900 for x in d["year"]]},
                            method=case["method"], test=case["test"])
        for j in (1, 2):
            assert math.isclose(a.coefficients[j].estimate, b.coefficients[j].estimate, rel_tol=1e-8)
            assert math.isclose(a.coefficients[j].se, b.coefficients[j].se, rel_tol=1e-8)
        for f in ("tau2", "qm", "qe", "r2"):
            assert math.isclose(getattr(a, f), getattr(b, f), rel_tol=1e-8), f


def test_scaling_the_effects_scales_tau2_and_keeps_the_tests() -> None:
    case = next(c for c in CASES if c["id"].startswith("metareg_bcg_RR__ablat_factor_alloc__REML_knha"))
    d = case["data"]
    a = fit(case)
    b = meta_regression([3 * y for y in d["yi"]], [9 * v for v in d["vi"]],
                        {"ablat": d["ablat"], "alloc": d["alloc"]}, method="REML", test="knha")
    assert math.isclose(b.tau2, 9 * a.tau2, rel_tol=1e-8)
    assert math.isclose(b.qm, a.qm, rel_tol=1e-8) and math.isclose(b.qe, a.qe, rel_tol=1e-8)
    assert math.isclose(b.coefficients[1].pvalue, a.coefficients[1].pvalue, rel_tol=1e-8)
