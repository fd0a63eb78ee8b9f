"""``PooledResult.summary_frame()`` and ``studies_frame()``: the pooled result as pandas tables,
checked against R metafor's own values (tests/reference/metafor_reference.json, made by
validation/make_metafor_reference.R on metadat's dat.bcg: Colditz et al. 1994, JAMA 271:698)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialsynth as ts

REF = json.loads((Path(__file__).parent / "reference" / "metafor_reference.json").read_text())
CASE = next(c for c in REF["cases"] if c["id"] == "bcg_RR_REML_z")
EXP = CASE["expected"]


@pytest.fixture(scope="module")
def result():
    return ts.pool(pd.DataFrame(CASE["data"]), "RR", "REML")


def test_studies_frame_is_metafors_escalc_and_weights(result):
    frame = result.studies_frame()
    assert list(frame.columns) == ["study", "subgroup", "yi", "se", "ci_low", "ci_high",
                                   "weight", "included"]
    assert list(frame["study"]) == CASE["data"]["study"]
    np.testing.assert_allclose(frame["yi"], CASE["escalc"]["yi"], rtol=1e-6)
    np.testing.assert_allclose(frame["se"] ** 2, CASE["escalc"]["vi"], rtol=1e-6)
    np.testing.assert_allclose(frame["weight"], EXP["weights"], rtol=1e-6)  # weights(res), %
    z = 1.959963984540054
    np.testing.assert_allclose(frame["ci_low"], frame["yi"] - z * frame["se"], rtol=1e-12)
    ratios = result.studies_frame(exp=True)
    np.testing.assert_allclose(ratios["yi"], np.exp(CASE["escalc"]["yi"]), rtol=1e-6)
    np.testing.assert_allclose(ratios["se"], frame["se"])  # standard errors stay on the log scale


def test_summary_frame_pooled_row_is_metafors_rma_and_predict(result):
    frame = result.summary_frame()
    pooled = frame[frame["kind"] == "pooled"].iloc[0]
    for key in ("estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert pooled[key] == pytest.approx(EXP[key], rel=1e-6), key
    assert pooled["k"] == EXP["k"] == 13 and pooled["weight"] == 100
    assert frame.index[-1] == "pooled (random effect, REML)"
    studies = frame[frame["kind"] == "study"]
    assert len(studies) == 13 and studies["weight"].sum() == pytest.approx(100)
    back = result.summary_frame(exp=True).iloc[-1]
    assert back["estimate"] == pytest.approx(math.exp(EXP["estimate"]), rel=1e-6)
    assert back["pi_high"] == pytest.approx(math.exp(EXP["pi_high"]), rel=1e-6)


def test_summary_frame_subtotals_are_the_subgroups_own_pooling():
    """Subgroups by allocation: each subtotal row is the subgroup pooled alone (metafor on the
    subset, checked against the same reference's escalc values pooled here directly), with its
    studies' share of the overall weight."""
    data = pd.DataFrame(CASE["data"])
    alloc = ["random", "random", "random", "random", "alternate", "alternate", "random",
             "random", "random", "systematic", "systematic", "systematic", "systematic"]
    data["alloc"] = alloc  # dat.bcg's alloc column, in the reference's study order
    res = ts.pool(data, "RR", "REML", subgroup="alloc")
    frame = res.summary_frame()
    subs = frame[frame["kind"] == "subgroup"]
    assert list(subs["subgroup"]) == ["random", "alternate", "systematic"]
    for name, row in subs.iterrows():
        alone = ts.pool(data[data["alloc"] == row["subgroup"]], "RR", "REML")
        assert row["estimate"] == pytest.approx(alone.estimate, rel=1e-12), name
        shares = frame[(frame["kind"] == "study") & (frame["subgroup"] == row["subgroup"])]
        assert row["weight"] == pytest.approx(shares["weight"].sum())
    assert subs["weight"].sum() == pytest.approx(100)
