"""Trim-and-fill (Duval & Tweedie 2000) against R metafor's ``trimfill``.

Expected numbers come from ``tests/reference/beyond_reference.json`` (made by
``validation/make_beyond_reference.R`` with metafor 3.8-1, never by trialsynth): k0, the side
metafor chose (or was given), SE of k0, the p-value of R0, the filled studies and the pooled
estimate, SE, CI, τ², I² and Q of the filled analysis, for L0 and R0 with common-effect (EE), DL
and REML models on dat.hackshaw1998, dat.bcg, dat.egger2001, dat.molloy2014, dat.curtis1998 and
dat.normand1999. Tolerance 1e-6 relative (k0 and side exactly); τ² and I² near 0 also absolutely.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialsynth as ts
from trialsynth.assess.bias.trimfill import TrimFill, trimfill, trimfill_arrays, trimfill_from_result

REFERENCE = Path(__file__).parent / "reference" / "beyond_reference.json"
CASES = [c for c in json.loads(REFERENCE.read_text())["cases"] if c["kind"] == "trimfill"]
FIELDS = ("se_k0", "p_k0", "estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "i2", "q")


def vec(x: object) -> list[float]:
    return [] if x is None else list(np.atleast_1d(np.asarray(x, dtype=float)))


def run(case: dict, **kw: object) -> TrimFill:
    d = case["data"]
    return trimfill(d["yi"], d["vi"], method=case["method"], estimator=case["estimator"],
                    side=case.get("side"), hksj=case["test"] == "knha", min_k=1, **kw)


def check(got: TrimFill, exp: dict, method: str) -> None:
    assert got.k0 == exp["k0"]
    assert got.side == exp["side"]
    for f in FIELDS:
        want = exp.get(f)
        have = getattr(got, f)
        if f == "tau2" and method == "IV":
            assert have is None
            continue
        if want is None:
            assert have is None, f
            continue
        assert have is not None and math.isclose(
            have, want, rel_tol=1e-6, abs_tol=1e-9 if f in ("tau2", "i2") else 0.0), (f, have, want)
    assert np.allclose(sorted(got.filled_yi), sorted(vec(exp["filled_yi"])), rtol=1e-6, atol=0)
    assert np.allclose(sorted(got.filled_vi), sorted(vec(exp["filled_vi"])), rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_trimfill_matches_metafor(case: dict) -> None:
    check(run(case), case["expected"], case["method"])


def test_reference_covers_both_sides_both_estimators_and_k0_zero() -> None:
    assert {c["estimator"] for c in CASES} == {"L0", "R0"}
    assert {c["expected"]["side"] for c in CASES} == {"left", "right"}
    assert any(c["expected"]["k0"] == 0 for c in CASES)
    assert any(c["expected"]["k0"] >= 5 for c in CASES)
    assert {c["method"] for c in CASES} == {"IV", "DL", "REML"}


def test_batch_of_analyses_equals_one_at_a_time() -> None:
    picks = [c for c in CASES if c["estimator"] == "L0" and c["method"] == "REML"
             and c["test"] == "z" and "side" not in c]
    ys = [c["data"]["yi"] for c in picks]
    vs = [c["data"]["vi"] for c in picks]
    g = np.concatenate([np.full(len(y), i) for i, y in enumerate(ys)])
    info, pooled, _, _, _ = trimfill_arrays(np.concatenate(ys), np.concatenate(vs), g, len(picks),
                                            method="REML", estimator="L0")
    for i, c in enumerate(picks):
        assert info["k0"][i] == c["expected"]["k0"]
        assert math.isclose(pooled.estimate[i], c["expected"]["estimate"], rel_tol=1e-6)


def test_guard_skips_small_analyses_with_the_reason() -> None:
    c = next(c for c in CASES if c["dataset"] == "normand1999_MD")  # k = 9
    res = trimfill(c["data"]["yi"], c["data"]["vi"], method="DL")
    assert res.skipped and res.k0 is None and res.estimate is None
    assert res.skipped_reason.startswith("9 studies: fewer than 10")
    assert json.loads(json.dumps(res.to_dict()))["skipped_reason"] == res.skipped_reason
    assert not trimfill(c["data"]["yi"], c["data"]["vi"], method="DL", min_k=9).skipped


def test_from_pooled_result_uses_its_method() -> None:
    c = next(c for c in CASES if c["id"] == "trimfill_hackshaw1998_DL_z_L0")
    d = c["data"]
    r = ts.pool(pd.DataFrame({"study": d["study"], "yi": d["yi"], "se": np.sqrt(d["vi"])}),
                "GENERIC", "DL")
    check(trimfill_from_result(r), c["expected"], "DL")


def test_unknown_estimator_or_method_is_refused() -> None:
    c = CASES[0]
    with pytest.raises(ValueError):
        trimfill_arrays(c["data"]["yi"], c["data"]["vi"], np.zeros(len(c["data"]["yi"]), int), 1,
                        estimator="Q9")  # type: ignore[arg-type]
    res = trimfill(c["data"]["yi"], c["data"]["vi"], method="PM")
    assert res.skipped and "not PM" in res.skipped_reason


def test_mirroring_the_data_mirrors_trim_and_fill() -> None:
    # invariant: −yᵢ swaps the side, keeps k0, negates estimate and filled studies
    for c in [c for c in CASES if "side" not in c and c["test"] == "z"][:12]:
        d = c["data"]
        a = trimfill(d["yi"], d["vi"], method=c["method"], estimator=c["estimator"], min_k=1)
        b = trimfill([-y for y in d["yi"]], d["vi"], method=c["method"], estimator=c["estimator"],
                     min_k=1)
        assert a.k0 == b.k0 and {a.side, b.side} == {"left", "right"}
        assert math.isclose(a.estimate, -b.estimate, rel_tol=1e-9)
        assert np.allclose(sorted(a.filled_yi), sorted(-x for x in b.filled_yi), rtol=1e-9)


# ---- contour-enhanced funnel plot numbers (Peters et al. 2008) ---------------------------------

from trialsynth.assess.bias.contours import funnel_contours, funnel_contours_from_result  # noqa: E402

CONTOURS = [c for c in json.loads(REFERENCE.read_text())["cases"] if c["kind"] == "contours"]


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CONTOURS])
def test_contour_numbers_match_metafor(case: dict) -> None:
    d, e = case["data"], case["expected"]
    fc = funnel_contours(d["yi"], d["vi"], min_k=1)
    assert np.allclose(fc.study_z, e["z"], rtol=1e-9, atol=0)
    assert np.allclose(fc.study_p, e["pvalue"], rtol=1e-6, atol=0)
    assert np.allclose(fc.z, e["crit"], rtol=1e-12)
    assert math.isclose(fc.se_max, e["se_max"], rel_tol=1e-12)
    for (lo, hi), z in zip(fc.bounds, e["crit"], strict=True):
        assert math.isclose(hi, z * e["se_max"], rel_tol=1e-12) and math.isclose(lo, -hi)
    # every study in exactly one band, consistent with its p-value
    assert sum(n for side in fc.counts.values() for n in side.values()) == fc.k == len(d["yi"])
    for p, band in zip(fc.study_p, fc.study_band, strict=True):
        assert (band == "p > 0.1") == (p > 0.1)
        assert (band == "p ≤ 0.01") == (p <= 0.01)
    json.dumps(fc.to_dict(), allow_nan=False)


def test_contours_are_skipped_below_ten_studies() -> None:
    c = next(c for c in CASES if c["dataset"] == "normand1999_MD")
    d = c["data"]
    r = ts.pool(pd.DataFrame({"study": d["study"], "yi": d["yi"], "se": np.sqrt(d["vi"])}),
                "GENERIC", "DL")
    fc = funnel_contours_from_result(r)
    assert fc.skipped and fc.skipped_reason.startswith("9 studies: fewer than 10") and fc.z == ()
