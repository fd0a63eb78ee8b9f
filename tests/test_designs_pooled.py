"""A crossover, a cluster-randomised and a three-arm trial in one analysis (with a parallel trial)
give the pooled result a statistician computes by hand from the Cochrane Handbook v6.4
formulas; the pooled part is cross-checked with R metafor on the same adjusted yi/vi
(tests/reference/designs_reference.json, validation/make_designs_reference.R).

The trial numbers are CONSTRUCTED for this test (not real trials)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import trialsynth as ts

REF = json.loads((Path(__file__).parent / "reference" / "designs_reference.json").read_text())

# CONSTRUCTED data: one row per comparison, as a reviewer would extract it
ROWS = [
    # crossover: both periods' means/SDs, N = 24 who completed both, Corr 0.6
    dict(study="Cross 2010", design="crossover", mean_t=42, sd_t=20, n_t=24, mean_c=50, sd_c=22,
         n_c=24, corr=0.6),
    # cluster-randomised: M = 11 participants per cluster, ICC 0.05
    dict(study="Clust 2015", design="cluster", mean_t=45, sd_t=21, n_t=120, mean_c=51, sd_c=23,
         n_c=130, cluster_size=11, icc=0.05),
    # three-arm: dose A and dose B against one placebo group (49, SD 20, n 40), entered twice
    dict(study="Multi 2012", mean_t=40, sd_t=18, n_t=30, mean_c=49, sd_c=20, n_c=40),
    dict(study="Multi 2012", mean_t=44, sd_t=19, n_t=32, mean_c=49, sd_c=20, n_c=40),
    dict(study="Para 2018", design="parallel", mean_t=43, sd_t=19, n_t=60, mean_c=50, sd_c=21,
         n_c=58),
]


def by_hand() -> tuple[list[float], list[float]]:
    """Per-study MD and variance, each from its Handbook formula."""
    # §23.2.7.1: SE(MD) = √((SD_E² + SD_C² − 2·Corr·SD_E·SD_C)/N)
    cross = (42 - 50, (20**2 + 22**2 - 2 * 0.6 * 20 * 22) / 24)
    # §23.1.4: design effect 1 + (M − 1)·ICC = 1 + 10 × 0.05 = 1.5; n divided by it
    deff = 1 + (11 - 1) * 0.05
    clust = (45 - 51, 21**2 / (120 / deff) + 23**2 / (130 / deff))
    # §23.3.4: the shared placebo group (n = 40) split evenly between the two comparisons
    arm_a = (40 - 49, 18**2 / 30 + 20**2 / 20)
    arm_b = (44 - 49, 19**2 / 32 + 20**2 / 20)
    para = (43 - 50, 19**2 / 60 + 21**2 / 58)  # MD, SE² = SD_E²/n_E + SD_C²/n_C
    pairs = [cross, clust, arm_a, arm_b, para]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def dl_by_hand(y: list[float], v: list[float]) -> dict[str, float]:
    """DerSimonian–Laird random effects, written out (DerSimonian & Laird 1986)."""
    w = [1 / x for x in v]
    sw = sum(w)
    mu_fe = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / sw
    q = sum(wi * (yi - mu_fe) ** 2 for wi, yi in zip(w, y, strict=True))
    tau2 = max(0.0, (q - (len(y) - 1)) / (sw - sum(wi**2 for wi in w) / sw))
    ws = [1 / (x + tau2) for x in v]
    mu = sum(wi * yi for wi, yi in zip(ws, y, strict=True)) / sum(ws)
    se = 1 / math.sqrt(sum(ws))
    return {"estimate": mu, "se": se, "tau2": tau2, "q": q, "fe": mu_fe,
            "fe_se": 1 / math.sqrt(sw)}


def test_per_study_effects_are_the_handbook_formulas() -> None:
    res = ts.pool(pd.DataFrame(ROWS), "MD", "DL")
    y, v = by_hand()
    assert [s.yi for s in res.studies] == pytest.approx(y, rel=1e-12)
    assert [s.se**2 for s in res.studies] == pytest.approx(v, rel=1e-12)
    assert REF["yi"] == pytest.approx(y, rel=1e-12) and REF["vi"] == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize(("method", "ref_method"), [("DL", "DL"), ("IV", "EE"), ("REML", "REML")])
def test_pooled_result_matches_hand_and_metafor(method: str, ref_method: str) -> None:
    res = ts.pool(pd.DataFrame(ROWS), "MD", method)
    ref = next(f for f in REF["fits"] if f["method"] == ref_method)
    for key in ("estimate", "se", "ci_low", "ci_high", "pvalue"):
        assert getattr(res, key) == pytest.approx(ref[key], rel=1e-6), key
    assert res.q == pytest.approx(ref["q"], rel=1e-6)
    hand = dl_by_hand(*by_hand())
    if method == "DL":
        assert res.estimate == pytest.approx(hand["estimate"], rel=1e-10)
        assert res.se == pytest.approx(hand["se"], rel=1e-10)
        assert res.tau2 == pytest.approx(hand["tau2"], abs=1e-12)
    if method == "IV":
        assert res.estimate == pytest.approx(hand["fe"], rel=1e-10)
        assert res.se == pytest.approx(hand["fe_se"], rel=1e-10)


def test_every_adjustment_is_recorded_and_the_shared_group_reported() -> None:
    res = ts.pool(pd.DataFrame(ROWS), "MD", "DL")
    rows = res.settings["designs"]["rows"]
    assert [r["design"] for r in rows] == ["crossover", "cluster", "parallel", "parallel",
                                           "parallel"]
    assert "Corr = 0.600" in rows[0]["adjustments"][0]
    assert "1.5" in rows[1]["adjustments"][0] and "§23.1.4" in rows[1]["adjustments"][0]
    assert all("split evenly" in r["adjustments"][0] for r in rows[2:4])
    assert rows[4]["adjustments"] == []
    assert res.settings["designs"]["shared_comparator_groups"] == [
        {"study": "Multi 2012", "rows": [4, 5]}]
    assert any("Multi 2012" in w and "split" in w for w in res.warnings)
    assert res.participants == pytest.approx(24 + 250 / 1.5 + 30 + 32 + 40 + 118)


def test_multi_arm_combine_and_as_entered() -> None:
    frame = pd.DataFrame(ROWS)
    both = ts.pool(frame, "MD", "IV", designs={"multi_arm": "combine"})
    # Handbook Table 6.5.a: N = 62, M = (30·40 + 32·44)/62, SD from the pooled sums of squares
    n, m = 62, (30 * 40 + 32 * 44) / 62
    sd = math.sqrt((29 * 18**2 + 31 * 19**2 + 30 * 32 / 62 * (40 - 44) ** 2) / 61)
    multi = both.studies[2]
    assert multi.yi == pytest.approx(m - 49, rel=1e-12)
    assert multi.se**2 == pytest.approx(sd**2 / n + 20**2 / 40, rel=1e-12)
    assert both.studies[3].included is False and both.studies[3].weight is None
    entered = ts.pool(frame, "MD", "IV", designs={"multi_arm": "as_entered"})
    assert entered.studies[2].se**2 == pytest.approx(18**2 / 30 + 20**2 / 40, rel=1e-12)
    assert any("counted as entered" in w for w in entered.warnings)
