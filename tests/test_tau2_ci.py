"""The Q-profile CI of τ² found wherever its bounds lie, and metafor's capped search as a named
convention.

Every expected number is R metafor's own (``validation/make_tau2_ci_reference.R`` →
``tests/reference/tau2_ci_reference.json``): ``confint.rma.uni(type = "QP")`` once with a
search range wide enough for every bound (the true bounds) and once with metafor's default range
max(100, 10·τ̂²) (the ``"metafor"`` search). Data: metadat dat.curtis1998, dat.normand1999,
dat.hine1989 (first two studies), dat.bcg (all, and pairs of consecutive trials).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import trialsynth as ts

REFERENCE = json.loads((Path(__file__).parent / "reference" / "tau2_ci_reference.json").read_text())
CASES = REFERENCE["cases"]
KEYS = ("tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low", "h2_ci_high")


def _pool(case: dict, search: str) -> ts.PooledResult:
    return ts.pool(pd.DataFrame(case["data"]), case["measure"], case["method"],
                   tau2_ci_search=search)


def _close(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def test_reference_holds_bounds_beyond_metafors_range() -> None:
    beyond = [c for c in CASES if c["metafor"]["ub_sign"] == ">"]
    assert len(beyond) >= 8
    by_id = {c["id"]: c for c in CASES}
    assert round(by_id["curtis1998_MD_DL"]["unbounded"]["tau2_ci_high"], 1) == 634.4
    assert round(by_id["bcg_k2_1_OR_DL"]["unbounded"]["tau2_ci_high"], 1) == 269.2


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_unbounded_search_gives_metafors_true_bounds(case: dict) -> None:
    res = _pool(case, "unbounded")
    assert _close(res.tau2, case["tau2"]) or (case["tau2"] < 1e-8 and res.tau2 < 1e-8)
    for key in KEYS:
        assert _close(getattr(res, key), case["unbounded"][key]), (key, getattr(res, key))
    assert not any("search range" in w for w in res.warnings)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_metafor_search_gives_metafors_default_output(case: dict) -> None:
    res = _pool(case, "metafor")
    for key in KEYS:
        assert _close(getattr(res, key), case["metafor"][key]), (key, getattr(res, key))
    capped = case["metafor"]["ub_sign"] == ">"
    assert any("beyond metafor's search range" in w for w in res.warnings) == capped


def test_unknown_search_is_refused() -> None:
    with pytest.raises(ts.DataError, match="tau2_ci_search"):
        _pool(CASES[0], "capped")
