"""Funnel-plot asymmetry tests against R metafor on real metadat data.

Every expected number comes from ``tests/reference/small_study_reference.json``, made by
``validation/make_small_study_reference.R`` with R metafor (``regtest``, ``ranktest``,
``escalc``; versions recorded in the file). None came from trialsynth. Tolerance 1e-6 relative:
metafor's REML meta-regression was run with a convergence threshold of 1e-15, the lm-based tests
are closed form, and Begg's exact p-value is a finite sum, so both sides are exact solutions.

Data: dat.egger2001 (magnesium in myocardial infarction, Egger's own funnel-plot example, with and
without ISIS-4 as in metafor's ?regtest), dat.bcg, dat.moore1998, dat.hackshaw1998,
dat.raudenbush1985 (tied variances: Begg's normal approximation), dat.haeuser2009 (pain, SMD/MD).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialsynth as ts
from trialsynth.assess.bias import (
    MIN_K,
    SmallStudyTest,
    begg_test,
    begg_test_from_result,
    egger_test,
    egger_test_from_result,
    egger_tests,
    harbord_test,
    peters_test,
    peters_test_from_counts,
)

REFERENCE = Path(__file__).parent / "reference" / "small_study_reference.json"
DOC = json.loads(REFERENCE.read_text())
CASES = DOC["cases"]
BY_ID = {c["id"]: c for c in CASES}
RTOL = 1e-6
FIELDS = ("statistic", "pvalue", "df", "intercept", "intercept_se", "intercept_ci_low",
          "intercept_ci_high", "slope", "slope_se", "tau2")


def check(result: SmallStudyTest, expected: dict) -> None:
    assert result.skipped_reason is None
    for name in FIELDS:
        want = expected.get(name)
        if want is None:
            continue
        got = getattr(result, name)
        assert got is not None, name
        assert math.isclose(got, want, rel_tol=RTOL), (name, got, want)
    assert result.distribution == expected["distribution"]


def frame(case: dict) -> pd.DataFrame:
    return pd.DataFrame(case["data"])


def cases(test: str) -> list:
    return [pytest.param(c, id=c["id"]) for c in CASES if c["test"] == test]


def test_reference_records_versions_and_provenance() -> None:
    assert DOC["generated_by"] == "validation/make_small_study_reference.R"
    assert DOC["metafor_version"] and DOC["r_version"].startswith("R version")
    assert DOC["n_cases"] == len(CASES) >= 40
    assert {c["test"] for c in CASES} == {"egger", "peters", "harbord", "begg"}


@pytest.mark.parametrize("case", cases("egger"))
def test_egger_matches_metafor_regtest(case: dict) -> None:
    e = case["expected"]
    check(egger_test(case["inputs"]["yi"], case["inputs"]["vi"], model=e["model"]), e)


def _pooled(case: dict) -> ts.PooledResult:
    measure = {"GEN": "GENERIC"}.get(case["measure"], case["measure"])
    return ts.pool(frame(case), measure, "REML")


@pytest.mark.parametrize("case", cases("egger"))
def test_egger_from_a_pooled_result_matches_metafor(case: dict) -> None:
    """End to end: trialsynth's own effect sizes (escalc conventions) feed the test."""
    e = case["expected"]
    check(egger_test_from_result(_pooled(case), model=e["model"]), e)


@pytest.mark.parametrize("case", cases("begg"))
def test_begg_matches_metafor_ranktest(case: dict) -> None:
    e = case["expected"]
    r = begg_test(case["inputs"]["yi"], case["inputs"]["vi"])
    check(r, e)
    assert r.distribution == ("normal" if e["ties"] else "exact")
    check(begg_test_from_result(_pooled(case)), e)


@pytest.mark.parametrize("case", cases("peters"))
def test_peters_matches_metafor_regtest_ninv(case: dict) -> None:
    e, inp, d = case["expected"], case["inputs"], frame(case)
    if e["weights"] == "inverse_variance":  # metafor's predictor="ninv" with weights 1/vi
        check(peters_test(inp["yi"], inp["vi"], inp["ni"]), e)
    else:  # Peters et al. 2006 weights, passed to regtest as vi
        check(peters_test(inp["yi"], inp["vi"], inp["ni"], weight_vi=inp["weight_vi"]), e)
    from_counts = peters_test_from_counts(d.events_t, d.n_t, d.events_c, d.n_c,
                                          measure=case["measure"], weights=e["weights"])
    check(from_counts, e)
    assert from_counts.weights == e["weights"]


@pytest.mark.parametrize("case", cases("harbord"))
def test_harbord_matches_metafor_on_peto_log_odds_ratios(case: dict) -> None:
    d = frame(case)
    r = harbord_test(d.events_t, d.n_t, d.events_c, d.n_c)
    check(r, case["expected"])
    # the R script also fitted Harbord's regression lm(Z/sqrt(V) ~ sqrt(V)) directly:
    # its intercept is our tested coefficient, its slope our limit estimate
    direct = case["harbord_check"]
    assert math.isclose(r.slope, direct["intercept"], rel_tol=RTOL)
    assert math.isclose(r.slope_se, direct["intercept_se"], rel_tol=RTOL)
    assert math.isclose(r.statistic, direct["t"], rel_tol=RTOL)
    assert math.isclose(r.pvalue, direct["p"], rel_tol=RTOL)
    assert math.isclose(r.intercept, direct["slope"], rel_tol=RTOL)


def test_egger_2001_example_detects_asymmetry_as_published() -> None:
    """Egger's magnesium example: strong asymmetry with ISIS-4 (metafor: t = −5.78, p < 0.001)."""
    e = BY_ID["egger2001_OR_egger_lm"]["expected"]
    r = egger_test(BY_ID["egger2001_OR_egger_lm"]["inputs"]["yi"],
                   BY_ID["egger2001_OR_egger_lm"]["inputs"]["vi"])
    assert r.pvalue < 0.001 and math.isclose(r.bias, e["slope"], rel_tol=RTOL)


# ---- the k < 10 guard (METHODS §2.6) --------------------------------------------------------

def test_guard_skips_fewer_than_ten_studies_by_default() -> None:
    assert MIN_K == 10
    case = BY_ID["egger2001_OR_egger_lm"]
    yi, vi = case["inputs"]["yi"][:9], case["inputs"]["vi"][:9]
    for r in (egger_test(yi, vi), egger_test(yi, vi, model="rma"), begg_test(yi, vi)):
        assert r.skipped and r.k == 9 and r.min_k == 10
        assert "fewer than 10" in r.skipped_reason and "Core GRADE 4" in r.skipped_reason
        assert r.statistic is None and r.pvalue is None and r.slope is None
    d = frame(case).iloc[:9]
    assert harbord_test(d.events_t, d.n_t, d.events_c, d.n_c).skipped
    assert peters_test_from_counts(d.events_t, d.n_t, d.events_c, d.n_c).skipped


def test_guard_is_a_parameter() -> None:
    case = BY_ID["bcg_RR_egger_lm"]  # k = 13
    yi, vi = case["inputs"]["yi"], case["inputs"]["vi"]
    assert egger_test(yi, vi, min_k=14).skipped
    check(egger_test(yi, vi, min_k=13), case["expected"])
    tiny = egger_test(yi[:2], vi[:2], min_k=0)
    assert tiny.skipped and "at least 3" in tiny.skipped_reason


def test_equal_precision_cannot_be_tested() -> None:
    r = egger_test(np.linspace(-1, 1, 12), np.full(12, 0.04))  # constructed: identical SEs
    assert r.skipped and "same value of the predictor" in r.skipped_reason


# ---- batch and invariants --------------------------------------------------------------------

@pytest.mark.parametrize("model", ["lm", "rma"])
def test_batch_of_analyses_equals_each_reference(model: str) -> None:
    ids = [f"bcg_RR_egger_{model}", f"hackshaw1998_GEN_egger_{model}",
           f"moore1998_OR_egger_{model}", f"egger2001_noisis4_OR_egger_{model}"]
    yi = np.concatenate([BY_ID[i]["inputs"]["yi"] for i in ids])
    vi = np.concatenate([BY_ID[i]["inputs"]["vi"] for i in ids])
    group = np.repeat(np.arange(len(ids)), [len(BY_ID[i]["inputs"]["yi"]) for i in ids])
    for r, i in zip(egger_tests(yi, vi, group, model=model), ids, strict=True):
        check(r, BY_ID[i]["expected"])


def test_result_does_not_depend_on_study_order() -> None:
    case = BY_ID["moore1998_OR_egger_rma"]
    yi, vi = np.array(case["inputs"]["yi"]), np.array(case["inputs"]["vi"])
    perm = np.random.default_rng(1).permutation(yi.size)
    for model in ("lm", "rma"):
        a, b = egger_test(yi, vi, model=model), egger_test(yi[perm], vi[perm], model=model)
        assert math.isclose(a.statistic, b.statistic, rel_tol=1e-12)
    assert math.isclose(begg_test(yi, vi).pvalue, begg_test(yi[perm], vi[perm]).pvalue,
                        rel_tol=1e-12)


def test_result_is_frozen_and_serialisable() -> None:
    case = BY_ID["bcg_RR_egger_rma"]
    r = egger_test(case["inputs"]["yi"], case["inputs"]["vi"], model="rma")
    with pytest.raises(AttributeError):
        r.pvalue = 0.5  # type: ignore[misc]
    d = r.to_dict()
    assert d["test"] == "egger" and d["model"] == "rma" and d["skipped_reason"] is None
    json.dumps(d)
