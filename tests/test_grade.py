"""GRADE per analysis: every rule's branches, overrides, and the k < 10 funnel-test guard.

Pooled results are built with ``trialsynth.pool`` on real data wherever a branch can be reached
that way: the flagship review (Ferraro et al. 2025, CD015373.pub2, ketamine for chronic pain;
analyses 1.1, 1.4, 1.8 and 1.9, pooled with DerSimonian–Laird as the review did), dat.bcg
(Colditz et al. 1994), dat.egger2001 (magnesium, Egger's funnel example), dat.moore1998 and
dat.hackshaw1998. Risk-of-bias judgements and PICO flags for those studies are **constructed**
(the data files carry no usable overall RoB 2 judgement), and so are the small data sets marked
``CONSTRUCTED`` that reach a branch no real analysis at hand reaches. Expected values are the
branch taken and numbers computed here from the published formulas (METHODS §4, §6), never
numbers read back from trialsynth.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

import trialsynth as ts
from trialsynth.assess import rules
from trialsynth.assess.bias import egger_test
from trialsynth.assess.certainty import grade
from trialsynth.assess.certainty.grade import (
    Certainty,
    DomainJudgement,
    Flags,
    Override,
    assess,
    imprecision,
    inconsistency,
    indirectness,
    make_threshold,
    optimal_information_size,
    publication_bias,
    risk_of_bias,
)
from trialsynth.assess.rules import DEFAULT_RULES, RULE, RULES, RuleSet

DATA = Path(__file__).parents[2] / "shared" / "data"
METADAT = DATA / "metadat"
FLAGSHIP = DATA / "pairwise70" / "CD015373_pub2_data.csv"
REFERENCE = Path(__file__).parent / "reference" / "small_study_reference.json"
Z = norm.isf(0.025) + norm.isf(0.20)  # z_{1-α/2} + z_{1-β}, α = 0.05, β = 0.20 (Core GRADE 2)


def flagship(number: int) -> tuple[ts.PooledResult, pd.DataFrame]:
    d = pd.read_csv(FLAGSHIP)
    a = d[(d["Analysis.group"] == 1) & (d["Analysis.number"] == number)]
    if a["Experimental.mean"].notna().any():
        f = pd.DataFrame({"study": a.Study, "mean_t": a["Experimental.mean"],
                          "sd_t": a["Experimental.SD"], "n_t": a["Experimental.N"],
                          "mean_c": a["Control.mean"], "sd_c": a["Control.SD"],
                          "n_c": a["Control.N"]})
        return ts.pool(f, "MD", "DL"), f
    f = pd.DataFrame({"study": a.Study, "events_t": a["Experimental.cases"],
                      "n_t": a["Experimental.N"], "events_c": a["Control.cases"],
                      "n_c": a["Control.N"]})
    return ts.pool(f, "RR", "DL"), f


def bcg(measure: str = "RR") -> tuple[ts.PooledResult, pd.DataFrame]:
    d = pd.read_csv(METADAT / "dat.bcg.csv")
    f = pd.DataFrame({"study": d.author, "events_t": d.tpos, "n_t": d.tpos + d.tneg,
                      "events_c": d.cpos, "n_c": d.cpos + d.cneg})
    return ts.pool(f, measure, "REML"), f


def egger2001(rows: slice = slice(None)) -> tuple[ts.PooledResult, pd.DataFrame]:
    d = pd.read_csv(METADAT / "dat.egger2001.csv").iloc[rows]
    f = pd.DataFrame({"study": d.study, "events_t": d.ai, "n_t": d.n1i, "events_c": d.ci,
                      "n_c": d.n2i})
    return ts.pool(f, "OR", "REML"), f


def constructed_generic(yi: list[float], se: list[float], method: str = "REML") -> ts.PooledResult:
    """CONSTRUCTED data (not from any study): generic effects with their SEs."""
    return ts.pool(pd.DataFrame({"study": [f"c{i}" for i in range(len(yi))], "yi": yi, "se": se}),
                   "GENERIC", method)


def constructed_md(md: list[float], sd: float, n: int) -> ts.PooledResult:
    """CONSTRUCTED arm data (not from any study): mean differences ``md``, SD ``sd``, n per arm."""
    k = len(md)
    f = pd.DataFrame({"study": [f"c{i}" for i in range(k)], "mean_t": md, "sd_t": [sd] * k,
                      "n_t": [n] * k, "mean_c": [0.0] * k, "sd_c": [sd] * k, "n_c": [n] * k})
    return ts.pool(f, "MD", "DL")


MID10 = make_threshold("MD", 10.0, "lower")


# ---- risk of bias (Core GRADE 4 Fig 2) -------------------------------------------------------

def equal_weights(yi: list[float]) -> ts.PooledResult:
    return constructed_generic(yi, [0.2] * len(yi))  # equal SEs → each study 1/k of the weight


def test_rob_nobody_assessed_is_rated_down_and_provisional() -> None:
    """No risk-of-bias judgement at all is never a silent 'no concern' (rule
    rob.not_assessed_downgrade): serious (−1), provisional, and the reason says why."""
    j = risk_of_bias(bcg()[0], None, MID10)
    assert j.downgrade == 1 and j.provisional and j.numbers["assessed"] is False
    assert "no risk-of-bias judgement for any study" in j.reasons[0]
    assert "provisional" in j.plain and "Core GRADE" not in j.plain  # plain words, no citations
    assert risk_of_bias(bcg()[0], None, MID10,
                        rules=RuleSet({"rob.not_assessed_downgrade": 0})).downgrade == 0
    # with an override the reviewer has assessed it: no longer provisional
    c = assess(bcg()[0], rob=None, mid=None, outcome_type="dichotomous",
               direction_of_benefit="lower", pico_match=[True] * 13,
               overrides={"risk_of_bias": Override(0, "all trials at low risk (reviewer)")})
    assert c.domains["risk_of_bias"].downgrade == 0 and c.provisional == ()


def test_rob_dominating_share_rates_down_unless_bias_only_underestimates() -> None:
    r = equal_weights([-0.5] * 10)  # CONSTRUCTED; 7 of 10 equal weights not at low risk = 70%
    rob = ["high"] * 4 + ["some_concerns"] * 3 + ["low"] * 3
    thr = make_threshold("GENERIC", 0.1, "lower")
    j = risk_of_bias(r, rob, thr)
    assert j.downgrade == 1 and j.numbers["dominance"] == "dominating"
    assert math.isclose(j.numbers["share_not_low"], 0.7)
    assert "assumed it could explain" in j.reasons[0]
    assert risk_of_bias(r, rob, thr, flags=Flags(rob_bias_direction="could_explain")).downgrade == 1
    assert risk_of_bias(r, rob, thr, flags=Flags(rob_bias_direction="underestimates")).downgrade == 0
    # without the project's fold of "some concerns" into high, only 40% is at high risk
    unfolded = RuleSet({"rob.some_concerns_as_high": False})
    assert risk_of_bias(r, rob, thr, rules=unfolded).numbers["dominance"] == "not dominating"


def test_rob_possibly_dominating_depends_on_the_low_risk_estimate() -> None:
    thr = make_threshold("GENERIC", 0.1, "lower")
    rob = ["high"] * 6 + ["low"] * 4  # 60%: possibly dominating (55–65%)
    same = equal_weights([-0.5] * 6 + [-0.4] * 4)  # CONSTRUCTED: low-risk studies also benefit
    j = risk_of_bias(same, rob, thr)
    assert j.numbers["dominance"] == "possibly dominating" and j.downgrade == 0
    assert math.isclose(j.numbers["estimate_low_rob"], -0.4)
    other = equal_weights([-0.5] * 6 + [0.0] * 4)  # CONSTRUCTED: low-risk studies show nothing
    j = risk_of_bias(other, rob, thr)
    assert j.downgrade == 1 and not j.numbers["estimate_low_rob"] < thr.lower


def test_rob_not_dominating_never_rates_down_but_flags_a_different_low_risk_estimate() -> None:
    r, _ = bcg()  # real weights; RoB labels CONSTRUCTED
    rob = ["low"] * 13
    j = risk_of_bias(r, rob, make_threshold("RR", 0.25, "lower"))
    assert j.downgrade == 0 and j.numbers["share_not_low"] == 0
    thr = make_threshold("GENERIC", 0.1, "lower")
    r = equal_weights([-0.5] * 5 + [0.0] * 5)  # CONSTRUCTED
    j = risk_of_bias(r, ["high"] * 5 + ["low"] * 5, thr)  # 50% not low, 50% low differs
    assert j.downgrade == 0 and j.numbers["use_low_rob_estimate"] is True


def test_rob_shares_are_the_analysis_weights() -> None:
    r, _ = bcg()
    rob = ["low", "High risk", "Some concerns", None] + ["low"] * 9  # RevMan wording accepted
    j = risk_of_bias(r, rob, make_threshold("RR", 0.25, "lower"))
    w = [s.weight / 100 for s in r.studies]
    assert math.isclose(j.numbers["share_high"], w[1])
    assert math.isclose(j.numbers["share_some_concerns"], w[2])
    assert math.isclose(j.numbers["share_not_assessed"], w[3])
    with pytest.raises(ValueError, match="unknown risk-of-bias"):
        risk_of_bias(r, ["medium"] * 13, make_threshold("RR", 0.25, "lower"))
    with pytest.raises(ValueError, match="entries for 13 studies"):
        risk_of_bias(r, ["low"] * 12, make_threshold("RR", 0.25, "lower"))


@pytest.mark.parametrize(("rob", "complete", "rules_", "not_low", "downgrade", "phrase"), [
    # CONSTRUCTED equal weights (10 studies, 10% each); each row: inputs → share, change, reason
    (["low"] * 10, [True] * 10, DEFAULT_RULES, 0.0, 0, "100% low risk"),
    (["low"] * 10, [False] * 4 + [True] * 6, DEFAULT_RULES, 0.4, 0, "only some domains"),
    (["low"] * 10, [False] * 7 + [True] * 3, DEFAULT_RULES, 0.7, 1, "counted as some concerns"),
    (["low"] * 10, [False] * 7 + [True] * 3, RuleSet({"rob.incomplete_low_as_unclear": False}),
     0.0, 0, "only some domains"),
    (["high"] * 2 + ["low"] * 8, [False] * 2 + [True] * 8, DEFAULT_RULES, 0.2, 0, "20% high risk"),
    (["low"] * 3 + [None] * 7, None, DEFAULT_RULES, 0.7, 1, "without a judgement"),
    (["low"] * 3 + [None] * 7, None, RuleSet({"rob.unassessed_as_not_low": False}), 0.0, 0,
     "70% no judgement"),
])
def test_rob_missing_domains_and_studies_never_count_as_low(
        rob: list, complete: list | None, rules_: RuleSet, not_low: float, downgrade: int,
        phrase: str) -> None:
    """RoB 2 (Sterne 2019): an overall 'low' needs every domain low; no judgement is not 'low'."""
    r = equal_weights([-0.5] * 10)
    j = risk_of_bias(r, rob, make_threshold("GENERIC", 0.1, "lower"), rules=rules_,
                     complete=complete)
    assert math.isclose(j.numbers["share_not_low"], not_low, abs_tol=1e-12)
    assert j.downgrade == downgrade and phrase in j.reasons[0], j.reasons


def test_assess_passes_rob_completeness() -> None:
    r = equal_weights([-0.5] * 10)
    c = assess(r, rob=["low"] * 10, mid=0.1, outcome_type="continuous",
               direction_of_benefit="lower", rob_complete=[False] * 10)
    assert c.domains["risk_of_bias"].downgrade == 1
    assert math.isclose(c.domains["risk_of_bias"].numbers["share_incomplete_low"], 1.0)
    with pytest.raises(ValueError, match="complete has"):
        assess(r, rob=["low"] * 10, mid=0.1, outcome_type="continuous",
               direction_of_benefit="lower", rob_complete=[True])


# ---- inconsistency (Core GRADE 3) ------------------------------------------------------------

def test_single_study_inconsistency_is_not_applicable() -> None:
    r, _ = flagship(8)  # CD015373 1.8: one study
    j = inconsistency(r, MID10)
    assert r.k == 1 and j.downgrade == 0 and j.numbers["applicable"] is False
    assert "not applicable" in j.reasons[0]


def test_low_i2_is_not_rated_down() -> None:
    r, _ = flagship(4)  # CD015373 1.4: I² = 0
    j = inconsistency(r, MID10)
    assert j.downgrade == 0 and "seldom see serious inconsistency" in j.reasons[0]


def test_flagship_1_1_estimates_either_side_of_the_mid_are_rated_down() -> None:
    """CD015373 1.1 (IV ketamine, pain, immediate term): I² ≈ 69%, Lumanauw 2019 −1.3 (little or
    no difference) against Noppers 2011a −18.0 and Sigtermans 2009 −27.7 (important benefit),
    on either side of the 10-point MID. Every pair of CIs overlaps, which must not hide it
    (Core GRADE 3): rated down one level, the reason naming the positions and I² with its CI."""
    r, _ = flagship(1)
    j = inconsistency(r, MID10)
    rows = r.studies
    apart = sum(a.ci_high < b.ci_low or b.ci_high < a.ci_low
                for i, a in enumerate(rows) for b in rows[i + 1:])
    assert apart == 0 and 50 < r.i2 < 75 and j.numbers["nonoverlapping_pairs"] == 0
    assert sorted(j.numbers["zones"].values()) == ["benefit", "benefit", "trivial"]
    assert j.numbers["share_in_pooled_zone"] < 0.75 and j.downgrade == 1
    # the Q-profile upper bound of τ² is 7006.54 (R metafor 3.8-1 confint with tau2.max = 1e8:
    # I² 99.09%); metafor's default search stops at 10·τ̂² = 1423.76 and prints "> 95.69%"
    assert "I² = 69% (95% CI 0% to 99%)" in j.reasons[0]
    assert "1 (34% of the weight) little or no difference" in j.reasons[0]
    assert "smallest important difference" in j.plain and "Core GRADE" not in j.plain


def test_scatter_across_the_threshold_that_chance_explains_is_not_rated_down() -> None:
    """CONSTRUCTED: estimates on both sides of the MID, I² between 30% and 50%, every CI pair
    overlapping and heterogeneity p ≥ 0.10: compatible with chance (Core GRADE 3)."""
    r = constructed_generic([-18.0, -4.0, -16.0, -6.0], [5.5, 5.5, 5.5, 5.5], "DL")
    j = inconsistency(r, MID10)
    assert 30 <= r.i2 < 50 and r.q_pvalue >= 0.10, (r.i2, r.q_pvalue)
    assert j.numbers["nonoverlapping_pairs"] == 0 and j.numbers["share_in_pooled_zone"] < 0.75
    assert j.downgrade == 0 and "compatible with chance" in j.reasons[0]


def test_an_unexplained_subgroup_difference_counts_as_inconsistency() -> None:
    """The same scatter, plus a test for subgroup differences p = 0.03 that no reviewer has called
    credible: more than chance (Core GRADE 3; ICEMAN). Called credible: not rated down."""
    r = constructed_generic([-18.0, -4.0, -16.0, -6.0], [5.5, 5.5, 5.5, 5.5], "DL")
    j = inconsistency(r, MID10, subgroup_tests=[("dose", 0.03)])
    assert j.downgrade == 1 and "subgroup difference by dose (p = 0.03)" in j.reasons[0]
    ok = inconsistency(r, MID10, subgroup_tests=[("dose", 0.03)],
                       flags=Flags(subgroup_explains_inconsistency=True))
    assert ok.downgrade == 0 and "credible" in ok.reasons[0]
    assert inconsistency(r, MID10, subgroup_tests=[("dose", 0.4)]).downgrade == 0


def test_most_weight_on_one_side_is_not_rated_down() -> None:
    r = constructed_md([-30, -60, -32, -58, -31, -61, -35], sd=5, n=200)  # CONSTRUCTED
    j = inconsistency(r, MID10)
    assert j.numbers["nonoverlapping_pairs"] > 0
    assert math.isclose(j.numbers["share_in_pooled_zone"], 1)
    assert j.downgrade == 0 and "most of the weight (100%)" in j.reasons[0]


def test_scattered_estimates_rate_down_one_or_two_levels() -> None:
    r, _ = bcg()  # I² ≈ 92%, estimates on both sides of RR 0.75
    thr = make_threshold("RR", 0.25, "lower")
    j = inconsistency(r, thr)
    assert j.numbers["share_in_pooled_zone"] < 0.75 and j.numbers["pi_spans_both_thresholds"]
    assert j.downgrade == 2 and "project convention" in j.reasons[0]
    one = RuleSet({"inconsistency.two_levels_pi_spans_both": False})
    assert inconsistency(r, thr, rules=one).downgrade == 1
    explained = inconsistency(r, thr, flags=Flags(subgroup_explains_inconsistency=True))
    assert explained.downgrade == 0 and "subgroup" in explained.reasons[0]


# ---- indirectness (Core GRADE 5) -------------------------------------------------------------

def test_indirectness_default_and_weight_rule() -> None:
    r, _ = bcg()
    j = indirectness(r, None)
    assert j.downgrade == 0 and j.reasons[0].startswith("not assessed: no judgement of the "
                                                        "question's PICO against the studies'")
    assert j.provisional and "has not been assessed" in j.plain
    w = np.array([s.weight for s in r.studies]) / 100
    order = np.argsort(-w)
    flags = [True] * 13  # CONSTRUCTED PICO flags: the heaviest studies indirect
    for i in order[:4]:
        flags[i] = False
    j = indirectness(r, flags)
    assert math.isclose(j.numbers["share_indirect"], w[order[:4]].sum())
    assert j.downgrade == int(w[order[:4]].sum() > 0.5)
    flags = [False] * 13
    assert indirectness(r, flags).downgrade == 1
    with pytest.raises(ValueError):
        indirectness(r, [True] * 3)


# ---- imprecision (Core GRADE 2 Fig 4) and the OIS (METHODS §4.4, §6) --------------------------

def test_ois_formulas() -> None:
    # binary: n_arm = z²[p0(1−p0) + p1(1−p1)]/(p0 − p1)², p1 = p0(1 − 0.25); OIS = 2⌈n_arm⌉
    p0, p1 = 0.2, 0.15
    n_arm = Z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2
    assert optimal_information_size("dichotomous", control_risk=0.2) == 2 * math.ceil(n_arm)
    p1 = 0.25  # an increase is the benefit when higher is better
    n_arm = Z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2
    assert optimal_information_size("dichotomous", control_risk=0.2, benefit="higher") == \
        2 * math.ceil(n_arm)
    # continuous: n_arm = 2z²σ²/δ²; METHODS §4.4: SMD 0.2 gives ≈ 785 ("or 800")
    assert optimal_information_size("continuous", sd=20, mid=10) == 2 * math.ceil(2 * Z**2 * 4)
    assert abs(optimal_information_size("continuous", sd=1, mid=0.2) - 785) < 2
    assert optimal_information_size("dichotomous") is None
    assert optimal_information_size("continuous", sd=20) is None


def flagship_rows(group: int, number: int) -> pd.DataFrame:
    """The 2×2 counts of one flagship analysis (CD015373.pub2, real data)."""
    d = pd.read_csv(FLAGSHIP)
    a = d[(d["Analysis.group"] == group) & (d["Analysis.number"] == number)]
    return pd.DataFrame({"study": a.Study, "events_t": a["Experimental.cases"],
                         "n_t": a["Experimental.N"], "events_c": a["Control.cases"],
                         "n_c": a["Control.N"]}).reset_index(drop=True)


def ois_binary(p0: float, benefit: str = "lower") -> float:
    """Core GRADE 2 / METHODS §4.4: RRR 25%, α 0.05, β 0.20; OIS = 2⌈n_arm⌉."""
    p1 = p0 * 0.75 if benefit == "lower" else p0 * 1.25
    return 2 * math.ceil(Z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2)


def ois_continuous(sd: float, mid: float) -> float:
    return 2 * math.ceil(2 * Z**2 * sd**2 / mid**2)


NO_FEW = RuleSet({"imprecision.few_information_two_levels": False})
NO_THREE = RuleSet({"imprecision.three_levels": False})
NO_APPRECIABLE = RuleSet({"imprecision.appreciable_without_mid": False})
CORE_GRADE_2 = RuleSet({"imprecision.ois_for_all_effects": False})


FEW = RuleSet({"imprecision.few_information_two_levels": True})
GRADE_6 = RuleSet({"imprecision.ois_for_all_effects": True})


FEW = RuleSet({"imprecision.few_information_two_levels": True})
GRADE_6 = RuleSet({"imprecision.ois_for_all_effects": True})


def test_ci_crossing_one_threshold_rates_down_one_whatever_the_sample_size() -> None:
    """Core GRADE 2 Fig 4: a CI that crosses the threshold is rated down one level, and 'Core
    GRADE users … do not need to consider sample size'. GRADE 34's two levels for far too little
    information is the option imprecision.few_information_two_levels."""
    r, f = flagship(1)  # CD015373 1.1: MD −15.8 (−32.1 to 0.5), N = 173, crosses −10 only
    assert r.ci_low < -10 < r.ci_high < 10
    n, sd = f["n_c"].to_numpy(float), f["sd_c"].to_numpy(float)
    pooled_sd = math.sqrt(((n - 1) * sd**2).sum() / (n - 1).sum())  # Handbook 6.5.2.10
    j = imprecision(r, MID10, "continuous", mid=10, sd=pooled_sd)
    assert j.numbers["ois"] == ois_continuous(pooled_sd, 10)
    assert j.downgrade == 1 and "crosses the MID threshold" in j.reasons[0]
    assert "important benefit as well as little or no difference" in j.plain
    j = imprecision(r, MID10, "continuous", mid=10)  # no SD: OIS 800 (Core GRADE 2 default)
    assert j.numbers["ois"] == 800 and r.participants < 0.3 * 800 and j.downgrade == 1
    j = imprecision(r, MID10, "continuous", mid=10, rules=FEW)
    assert j.downgrade == 2 and "far below the OIS" in j.reasons[0] and "very small" in j.plain
    # the null as threshold: no MID to size an OIS with, so Core GRADE 2's 800 applies
    null = imprecision(r, make_threshold("MD", None, "lower"), "continuous", sd=pooled_sd)
    assert null.numbers["ois"] == 800 and null.downgrade == 1 and "the null" in null.reasons[0]


@pytest.mark.parametrize("k", [1, 2])
def test_below_the_ois_but_not_far_below_rates_down_one(k: int) -> None:
    """CONSTRUCTED: N = 60 is 48% of the OIS (126 for SD 20, MID 10); CI crosses −10 only."""
    r = constructed_md([-15.0] * k, sd=20, n=30 // k)
    assert r.ci_low < -10 < r.ci_high < 10
    ois = ois_continuous(20, 10)
    assert 0.3 * ois < r.participants < ois
    j = imprecision(r, MID10, "continuous", mid=10, sd=20)
    assert j.numbers["ois"] == ois and j.downgrade == 1


def test_ci_crossing_both_thresholds_rates_down_two_or_three_levels() -> None:
    r = constructed_md([-20, 18], sd=40, n=15)  # CONSTRUCTED: wide CI across −10 and +10
    assert r.ci_low < -10 and r.ci_high > 10
    ois = ois_continuous(40, 10)  # 60 participants < 30% of the OIS
    j = imprecision(r, MID10, "continuous", mid=10, sd=40)
    assert j.numbers["ois"] == ois and r.participants < 0.3 * ois
    assert j.downgrade == 3 and "GRADE 34" in j.reasons[0]
    assert imprecision(r, MID10, "continuous", mid=10).downgrade == 3  # 60 < 30% of 800 too
    assert imprecision(r, MID10, "continuous", mid=10, sd=40, rules=NO_THREE).downgrade == 2
    big = constructed_md([-20, 18], sd=40, n=500)  # CONSTRUCTED: N = 2000 ≥ 30% of the OIS
    if big.ci_low < -10 and big.ci_high > 10:
        assert imprecision(big, MID10, "continuous", mid=10, sd=40).downgrade == 2


def test_flagship_single_tiny_study_is_extremely_imprecise() -> None:
    """CD015373 2.3 (ketamine vs morphine, adverse events): one trial, 3 + 3 participants.

    RR 1.0-ish with a CI far beyond RR 0.75 and 1.25 (GRADE 6 appreciable benefit and harm); the
    OIS from the control risk 1/3 dwarfs N = 6: −3 (GRADE 34). Before this rule it was −1.
    """
    f = flagship_rows(2, 3)
    r = ts.pool(f, "RR", "DL")
    assert r.k == 1 and r.participants == 6
    assert r.ci_low < math.log(0.75) and r.ci_high > math.log(1.25)
    c = assess(r, rob=None, mid=None, outcome_type="dichotomous", direction_of_benefit="lower",
               counts=f)
    j = c.domains["imprecision"]
    assert math.isclose(j.numbers["control_risk"], 1 / 3)
    assert j.numbers["ois"] == ois_binary(1 / 3) and j.numbers["thresholds_crossed"] == 2
    assert j.downgrade == 3 and c.level == "very_low"
    assert "appreciable benefit and appreciable harm" in j.reasons[0]
    assert c.domains["inconsistency"].numbers["applicable"] is False
    assert c.domains["inconsistency"].downgrade == 0
    # without GRADE 6's appreciable limits the CI crosses only the null: one level (two with
    # GRADE 34's option, the six participants being far below the OIS)
    j = imprecision(r, make_threshold("RR", None, "lower"), "dichotomous", control_risk=1 / 3,
                    rules=NO_APPRECIABLE)
    assert j.numbers["thresholds_crossed"] == 1 and j.downgrade == 1
    j = imprecision(r, make_threshold("RR", None, "lower"), "dichotomous", control_risk=1 / 3,
                    rules=NO_APPRECIABLE.replace(**{"imprecision.few_information_two_levels": True}))
    assert j.downgrade == 2


def test_no_control_events_falls_back_to_the_300_event_rule() -> None:
    """CD015373 1.13 (hallucinations): 2/68 vs 0/32 — no control risk, so no computed OIS."""
    f = flagship_rows(1, 13)
    r = ts.pool(f, "RR", "DL")
    c = assess(r, rob=None, mid=None, outcome_type="dichotomous", direction_of_benefit="lower",
               counts=f)
    j = c.domains["imprecision"]
    assert j.numbers["ois"] is None and j.numbers["ois_events_rule_used"]
    assert j.numbers["events"] == 2 and math.isclose(j.numbers["information_fraction"], 2 / 300)
    assert j.downgrade == 3 and "300-event rule" in j.reasons[0]


def test_ci_not_crossing_a_moderate_effect_is_not_rated_down() -> None:
    """Core GRADE 2 Fig 4: CI crossing no threshold, moderate effect → not rated down (no OIS).
    GRADE 6 (abstract) checks the OIS for any effect: the option imprecision.ois_for_all_effects."""
    r = constructed_md([-15, -16, -14], sd=10, n=100)  # CONSTRUCTED: CI within (−20, −11)
    j = imprecision(r, MID10, "continuous", mid=10)  # no SD: 600 < 800
    assert j.downgrade == 0 and j.numbers["large_effect"] is False and "not large" in j.reasons[0]
    assert imprecision(r, MID10, "continuous", mid=10, sd=10, rules=GRADE_6).downgrade == 0
    j = imprecision(r, MID10, "continuous", mid=10, rules=GRADE_6)
    assert j.downgrade == 1 and "OIS is not met" in j.reasons[0]


@pytest.mark.parametrize(("n", "expected"), [(300, 0), (60, 1), (15, 2)])
def test_large_continuous_effect_goes_to_the_ois(n: int, expected: int) -> None:
    r = constructed_md([-60, -62, -58], sd=20, n=n // 6)  # CONSTRUCTED: MD ≈ −60 ≥ 5 MIDs
    ois = ois_continuous(20, 10)  # 126
    j = imprecision(r, MID10, "continuous", mid=10, sd=20)
    assert r.ci_high < -10 and j.numbers["large_effect"] and j.numbers["ois"] == ois
    assert j.downgrade == expected, (r.participants, ois)


def test_large_continuous_effect_without_sd_uses_800() -> None:
    r = constructed_md([-60, -62, -58], sd=20, n=50)  # CONSTRUCTED, N = 300 < 800
    j = imprecision(r, MID10, "continuous", mid=10)
    assert j.numbers["ois"] == 800 and j.numbers["ois_default_used"] and j.downgrade == 1


def test_assess_reads_the_sd_from_the_control_arms() -> None:
    r, f = flagship(4)  # four trials with control SDs
    n, sd = f["n_c"].to_numpy(float), f["sd_c"].to_numpy(float)
    pooled = math.sqrt(((n - 1) * sd**2).sum() / (n - 1).sum())  # Handbook 6.5.2.10 pooled SD
    c = assess(r, rob=None, mid=10, outcome_type="continuous", direction_of_benefit="lower",
               counts=f)
    j = c.domains["imprecision"]
    assert math.isclose(j.numbers["sd"], pooled) and j.numbers["ois"] == ois_continuous(pooled, 10)


def test_the_ci_ratio_only_stands_in_for_an_ois_that_cannot_be_computed() -> None:
    """CD015373 1.9 adverse events: RR ≈ 3.3 (1.05 to 10.1), CI ratio ≈ 9.6 ≥ 3. With a control
    risk the OIS decides (N = 140 is far below it: −2, Core GRADE 2 'N < 30% of the OIS'); with
    neither a control risk nor an event count the ratio says 'OIS probably not met': −1."""
    r, _ = flagship(9)
    null = make_threshold("RR", None, "lower")
    j = imprecision(r, null, "dichotomous", control_risk=0.3)
    assert j.numbers["ois"] == ois_binary(0.3) and "ci_ratio" not in j.numbers
    assert j.downgrade == 2 and "far below the OIS" in j.reasons[0]
    j = imprecision(r, null, "dichotomous")
    assert math.isclose(j.numbers["ci_ratio"], math.exp(r.ci_high - r.ci_low))
    assert j.numbers["ci_ratio"] >= 3 and j.downgrade == 1 and "probably not met" in j.reasons[0]
    mid = make_threshold("RR", 0.25, "lower")  # with RR 0.75/1.25 the CI crosses 1.25
    assert imprecision(r, mid, "dichotomous", mid=0.25).downgrade == 1


def constructed_large_binary(p0: float, n_arm: int, k: int) -> pd.DataFrame:
    """CONSTRUCTED 2×2 tables (not from any study): k trials of n_arm per arm, control risk p0,
    one event per trial with the intervention (OR well below 0.1, CI ratio ≥ 2.5)."""
    e_c, e_t = round(p0 * n_arm), 1
    return pd.DataFrame({"study": [f"c{i}" for i in range(k)], "events_t": [e_t] * k,
                         "n_t": [n_arm] * k, "events_c": [e_c] * k, "n_c": [n_arm] * k})


def test_a_precise_large_effect_with_the_ois_met_is_never_rated_down() -> None:
    """OR ≈ 0.06 with a CI ratio ≥ 2.5, ~15,000 participants. Once the OIS is met, no rule rates
    down a CI lying wholly beyond every threshold (the old 'CI ratio ≥ 3' rule gave −2 here)."""
    f = constructed_large_binary(0.034, 750, 10)  # control risk 3.5%: OIS ≈ 12,300 < 15,000
    r = ts.pool(f, "OR", "MH")
    assert math.exp(r.ci_high - r.ci_low) >= 2.5 and r.participants == 15000
    assert math.exp(r.ci_high) < 0.75  # wholly beyond GRADE 6's appreciable benefit
    c = assess(r, rob=["low"] * 10, mid=None, outcome_type="dichotomous",
               direction_of_benefit="lower", counts=f)
    j = c.domains["imprecision"]
    p0 = f.events_c.sum() / f.n_c.sum()
    assert j.numbers["ois"] == ois_binary(p0) < 15000 and j.downgrade == 0
    assert "OIS is met" in j.reasons[0]
    for p0 in (0.034, 0.02, 0.0128):  # whatever the control risk: never two levels at N ≥ 30% OIS
        f = constructed_large_binary(p0, 750, 10)
        r = ts.pool(f, "OR", "MH")
        j = imprecision(r, make_threshold("OR", None, "lower"), "dichotomous",
                        control_risk=p0, events=float(f.events_t.sum() + f.events_c.sum()))
        assert j.downgrade <= (0 if j.numbers["information_fraction"] >= 1 else 1)


def summary_only(measure: str, est: float, lo: float, hi: float, n: int, k: int = 10
                 ) -> ts.PooledResult:
    """A pooled result carrying only a summary (estimate, CI, studies, participants)."""
    base = ts.pool(pd.DataFrame({"study": ["s"], "yi": [0.0], "se": [0.1]}), "GENERIC", "IV")
    f = math.log if measure in ("RR", "OR") else float
    return replace(base, measure=measure, estimate=f(est), ci_low=f(lo), ci_high=f(hi), k=k,
                   participants=n, i2=0.0)


def test_the_issues_precise_large_effect_at_a_low_control_risk_is_not_rated_down() -> None:
    """Issue 13's own example: OR 0.06 (0.03 to 0.13), ~15,000 participants, control risk ≈ 1.3%,
    12 fewer per 1000 (13 to 11 fewer). The OIS for a 25% relative reduction (≈ 33,400) is not
    met, and ~100 events fall short of the OIS in events too, but GRADE 6's exception for low
    event rates with a large sample applies: the CI of the absolute effect decides, and it is
    narrower than the OIS trial's (SE 0.34 against 1.2 per 1000). Not rated down."""
    r = summary_only("OR", 0.06, 0.03, 0.13, 15000)
    j = imprecision(r, make_threshold("OR", None, "lower"), "dichotomous", control_risk=0.013,
                    events=104.0)
    n = j.numbers
    assert n["ois"] == ois_binary(0.013) and 33000 < n["ois"] < 34000
    assert 0.3 <= n["information_fraction"] < 1 and n["ois_events"] > 104
    # the SoF's absolute effect: 12 fewer per 1000 (13 to 11 fewer)
    assert round(-1000 * n["absolute_ci_low"]) == 13 and round(-1000 * n["absolute_ci_high"]) == 11
    assert n["absolute_se"] < n["absolute_se_ois"] and n["low_event_rate_exception"]
    assert j.downgrade == 0 and "GRADE 6" in j.reasons[0] and "13 fewer to 11 fewer" in j.reasons[0]


def test_the_low_event_rate_exception_needs_a_large_sample_a_low_risk_and_a_precise_rd() -> None:
    """Each condition of the exception can fail on its own, and then the OIS rule stands."""
    thr = make_threshold("OR", None, "lower")
    small = imprecision(summary_only("OR", 0.06, 0.03, 0.13, 4000), thr, "dichotomous",
                        control_risk=0.013)  # 12% of the OIS: far below it, −2
    assert small.downgrade == 2 and "low_event_rate_exception" not in small.numbers
    # a common outcome (40%): a large effect from 250 people and ~50 events stays rated down
    common = imprecision(summary_only("RR", 0.05, 0.012, 0.2, 250, k=2),
                         make_threshold("RR", None, "lower"), "dichotomous", control_risk=0.4)
    assert common.downgrade >= 1 and "low_event_rate_exception" not in common.numbers
    # a low risk and a large sample, but a wide absolute CI (RR 0.2 to 0.69): one level
    wide = imprecision(summary_only("RR", 0.37, 0.2, 0.69, 15000),
                       make_threshold("RR", None, "lower"), "dichotomous", control_risk=0.013)
    assert wide.numbers["absolute_se"] > wide.numbers["absolute_se_ois"] and wide.downgrade == 1
    off = DEFAULT_RULES.replace(**{"imprecision.low_event_rate_exception": False})
    assert imprecision(summary_only("OR", 0.06, 0.03, 0.13, 15000), thr, "dichotomous",
                       control_risk=0.013, rules=off).downgrade == 1


def test_large_binary_effect_compares_participants_with_the_ois() -> None:
    r, _ = egger2001(slice(0, 15))  # magnesium without ISIS-4: OR ≈ 0.42, CI ratio ≈ 2.3 < 2.5
    null = make_threshold("OR", None, "lower")
    for p0, expected in ((0.10, 0), (0.05, 1)):
        ois = ois_binary(p0)
        j = imprecision(r, null, "dichotomous", control_risk=p0)
        assert j.numbers["ois"] == ois and j.downgrade == expected, (r.participants, ois)
    # no control risk: the CI ratio (≈ 2.3 < 2.5) stands in for the OIS
    assert imprecision(r, null, "dichotomous").downgrade == 0
    assert "CI ratio" in imprecision(r, null, "dichotomous").reasons[0]


# ---- publication bias (Core GRADE 4 Fig 5) and the k < 10 guard --------------------------------

def reference(case_id: str) -> dict:
    return next(c for c in json.loads(REFERENCE.read_text())["cases"] if c["id"] == case_id)


def test_fewer_than_ten_studies_no_funnel_test() -> None:
    r, f = egger2001(slice(0, 9))  # nine trials
    j = publication_bias(r, "dichotomous", counts=f)
    assert j.downgrade == 0 and "funnel-plot tests not used" in j.reasons[0]
    assert "test" not in j.numbers
    j = publication_bias(r, "dichotomous", counts=f, flags=Flags(unpublished_trials=True))
    assert j.downgrade == 1 and "Q4" in j.reasons[1]


def test_harbord_asymmetry_rates_down_one_level() -> None:
    r, f = egger2001()  # 16 trials; Harbord p ≈ 5.5e-5 (metafor reference)
    j = publication_bias(r, "dichotomous", counts=f)
    want = reference("egger2001_harbord")["expected"]["pvalue"]
    assert j.numbers["test"] == "harbord" and math.isclose(j.numbers["pvalue"], want, rel_tol=1e-6)
    assert j.downgrade == 1
    peters = publication_bias(r, "dichotomous", counts=f,
                              rules=RuleSet({"funnel.binary_test": "peters"}))
    want = reference("egger2001_OR_peters")["expected"]["pvalue"]
    assert peters.numbers["test"] == "peters" and math.isclose(peters.numbers["pvalue"], want,
                                                               rel_tol=1e-6)


def test_no_asymmetry_and_missing_counts_do_not_rate_down() -> None:
    r, f = bcg()  # Harbord p ≈ 0.23
    assert publication_bias(r, "dichotomous", counts=f).downgrade == 0
    j = publication_bias(r, "dichotomous")
    assert j.downgrade == 0 and "no 2×2 counts" in j.reasons[0]
    j = publication_bias(r, "dichotomous", flags=Flags(small_industry_funded=True))
    assert j.downgrade == 1 and "Q1" in j.reasons[0]
    j = publication_bias(r, "dichotomous", counts=f, flags=Flags(unpublished_trials=True))
    assert j.downgrade == 0 and "consider an override" in j.reasons[-1]
    assert publication_bias(r, "dichotomous", counts=f,
                            rules=RuleSet({"funnel.min_k": 14})).numbers.get("test") is None


def test_continuous_outcomes_use_egger() -> None:
    d = pd.read_csv(METADAT / "dat.hackshaw1998.csv")  # 37 studies, Egger p ≈ 0.023
    r = ts.pool(pd.DataFrame({"study": d.author, "yi": d.yi, "se": np.sqrt(d.vi)}), "GENERIC",
                "REML")
    j = publication_bias(r, "continuous")
    want = reference("hackshaw1998_GEN_egger_lm")["expected"]["pvalue"]
    assert j.numbers["test"] == "egger" and math.isclose(j.numbers["pvalue"], want, rel_tol=1e-6)
    assert j.downgrade == 1
    given = egger_test(d.yi, d.vi, model="rma")  # a test computed elsewhere takes precedence
    assert publication_bias(r, "continuous", small_study=given).numbers["model"] == "rma"


# ---- assess: certainty, overrides, output contract ----------------------------------------------

def test_assess_sums_downgrades_from_high() -> None:
    r, f = bcg()
    c = assess(r, rob=["low"] * 13, mid=0.25, outcome_type="dichotomous",
               direction_of_benefit="lower", control_risk=0.05, counts=f)
    assert isinstance(c, Certainty) and c.downgrades == 2 and c.level == "low"
    assert all(isinstance(j, DomainJudgement) for j in c.domains.values())
    over = {"imprecision": Override(3, "CONSTRUCTED rationale: test of the floor")}
    c = assess(r, rob=["low"] * 13, mid=0.25, outcome_type="dichotomous",
               direction_of_benefit="lower", counts=f, overrides=over)
    assert c.downgrades == 5 and c.level == "very_low"


def test_override_keeps_proposed_and_final() -> None:
    r, f = flagship(1)
    rationale = "CONSTRUCTED: the trivial-effect trial used a low dose; reviewer judges it explained"
    c = assess(r, rob=None, mid=10, outcome_type="continuous", direction_of_benefit="lower",
               counts=f, overrides={"inconsistency": Override(0, rationale, reviewer="tester")})
    j = c.domains["inconsistency"]
    assert (j.proposed, j.downgrade) == (1, 0) and j.override.rationale == rationale
    assert j.to_dict()["override"] == {"proposed": 1, "final": 0, "rationale": rationale,
                                       "reviewer": "tester"}
    assert c.domains["imprecision"].override is None
    assert c.level == "low"  # −1 risk of bias (not assessed), 0 inconsistency, −1 imprecision


def test_override_validation() -> None:
    with pytest.raises(ValueError, match="rationale"):
        Override(1, "  ")
    with pytest.raises(ValueError):
        Override(4, "x")
    r, _ = flagship(1)
    kw = {"rob": None, "mid": 10, "outcome_type": "continuous", "direction_of_benefit": "lower"}
    with pytest.raises(ValueError, match="imprecision only"):
        assess(r, **kw, overrides={"risk_of_bias": Override(3, "x")})
    with pytest.raises(ValueError, match="unknown GRADE domain"):
        assess(r, **kw, overrides={"bias": Override(1, "x")})
    with pytest.raises(ValueError, match="does not fit"):
        assess(r, **{**kw, "outcome_type": "dichotomous"})


def test_to_dict_contract() -> None:
    r, f = flagship(1)
    d = assess(r, rob=["low", "some_concerns", "high"], mid=10, outcome_type="continuous",
               direction_of_benefit="lower").to_dict()
    assert {"level", "domains"} <= set(d)
    # randomised evidence: high less one level per level rated down, floor very low (METHODS §4.1)
    down = sum(dom["downgrade"] for dom in d["domains"].values())
    assert d["level"] == ("very_low", "low", "moderate", "high")[max(0, 3 - down)]
    assert list(d["domains"]) == ["risk_of_bias", "inconsistency", "indirectness", "imprecision",
                                  "publication_bias"]
    for dom in d["domains"].values():
        assert {"downgrade", "reasons", "override"} <= set(dom)
        assert isinstance(dom["reasons"], list) and dom["override"] is None
    assert d["domains"]["indirectness"]["reasons"][0].startswith("not assessed")
    assert d["provisional"] == ["indirectness"] and d["domains"]["indirectness"]["provisional"]
    json.dumps(d)


# ---- the rules table ----------------------------------------------------------------------------

def test_every_rule_has_a_source_and_conventions_are_marked() -> None:
    assert len({r.name for r in RULES}) == len(RULES)
    for r in RULES:
        assert r.source and r.unit, r.name
    convention = {r.name for r in rules.conventions()}
    assert {"funnel.p_cutoff", "band.md_over_mid", "rob.some_concerns_as_high",
            "inconsistency.most_weight_one_side"} <= convention
    assert "funnel.min_k" not in convention and RULE["funnel.min_k"].value == 10
    assert RULE["ois.rrr"].value == 0.25 and RULE["ois.alpha"].value == 0.05
    assert RULE["ois.beta"].value == 0.20 and RULE["mid.pain_0_100"].value == 10
    assert RULE["band.smd"].value == (0.2, 0.5, 0.8)


def test_every_rule_read_by_the_code_exists() -> None:
    src = "".join(f.read_text() for f in Path(grade.__file__).parent.glob("*.py")
                  if f.name != "rules.py")
    used = set(re.findall(r'rules\["([a-z_.0-9]+)"\]', src))
    used |= set(re.findall(r'"((?:imprecision|rob|inconsistency)\.[a-z_0-9]+)"', src))
    assert used and used <= set(RULE), used - set(RULE)


def test_rule_set_overrides_are_validated() -> None:
    with pytest.raises(KeyError):
        RuleSet({"funnel.min_studies": 5})
    assert DEFAULT_RULES["funnel.min_k"] == 10 and DEFAULT_RULES.replace(
        **{"funnel.min_k": 5})["funnel.min_k"] == 5
    table = RuleSet({"funnel.p_cutoff": 0.1}).table()
    row = next(t for t in table if t["name"] == "funnel.p_cutoff")
    assert row["value"] == 0.1 and row["changed"] and row["project_convention"]


def test_every_rule_is_documented_with_its_source() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "methods" / "grade.md").read_text()
    for r in RULES:
        assert f"`{r.name}`" in doc, r.name
