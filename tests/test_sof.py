"""Summary-of-findings tables (trialsynth.report.sof; METHODS §5, Handbook v6 ch. 14).

Published worked examples for the absolute-effect arithmetic (expected values are the printed
numbers, never trialsynth output):

* Cochrane Handbook 5.1, §12.5.4.2 "Computing absolute risk reduction or NNT from a risk ratio":
  RR = 0.92 with ACR = 0.3 (300 per 1000) → "24 fewer per 1000", NNT 42.
  https://handbook-5-1.cochrane.org/chapter_12/12_5_4_2_computing_absolute_risk_reduction_or_nnt_from_a_risk.htm
* Handbook 5.1, §12.5.4.3 "… from an odds ratio": OR = 0.73 with ACR = 0.3 → "62 fewer per
  1000", NNT 17.
  https://handbook-5-1.cochrane.org/chapter_12/12_5_4_3_computing_absolute_risk_reduction_or_nnt_from_an_odds.htm
* Handbook 5.1, Figure 11.5.a (the same table is Handbook v6 Figure 14.1.a), "Compression
  stockings compared with no compression stockings for people taking long flights":
  symptomless DVT, RR 0.10 (0.04 to 0.26): low-risk population 10 per 1000 → 1 per 1000 (0 to 3),
  high-risk population 30 per 1000 → 3 per 1000 (1 to 8); superficial vein thrombosis,
  RR 0.45 (0.18 to 1.13): 13 per 1000 → 6 per 1000 (2 to 15); oedema (0–10 scale), control-group
  means ranging "from 6 to 9", intervention "4.7 lower (4.9 lower to 4.5 lower)".
  https://handbook-5-1.cochrane.org/chapter_11/figure_11_5_a_example_of_a_summary_of_findings_table.htm

No published numeric example for the hazard-ratio transform was found; the HR tests check
limits the formula must meet (HR = 1, rare events, survival scale), not a number from our code.

The layout tests use the flagship review (Ferraro et al. 2025, CD015373.pub2), analyses 1.1 (pain,
MD) and 1.9 (adverse events, RR), pooled with DerSimonian–Laird and RevMan conventions as the
review did. Their risk-of-bias judgements are CONSTRUCTED (the file carries none).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

import trialsynth as ts
from trialsynth.assess.certainty.grade import DOMAINS, Certainty, DomainJudgement, Override, assess
from trialsynth.readers.revman_rows import read_review
from trialsynth.report.sof import (
    ASTERISK,
    GRADE_DEFINITIONS,
    Comparison,
    OutcomeInfo,
    SofRow,
    assumed_control_risk,
    corresponding_risk,
    no_studies_row,
    not_estimable_row,
    participants_text,
    sof_row,
    sof_table,
)

FLAGSHIP = Path(__file__).parents[2] / "shared" / "data" / "pairwise70" / "CD015373_pub2_data.csv"
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
KETAMINE = Comparison("ketamine", "placebo", "adults with chronic pain", "outpatients")


def certainty(level: str, downgrades: dict[str, int] | None = None) -> Certainty:
    """A Certainty with the given domain downgrades (reasons name the domain)."""
    downgrades = downgrades or {}
    return Certainty(level=level, domains={  # type: ignore[arg-type]
        d: DomainJudgement(d, downgrades.get(d, 0), (f"reason for {d}",)) for d in DOMAINS})


@pytest.fixture(scope="module")
def generic() -> ts.PooledResult:
    """A one-study GENERIC result whose estimate and CI each test overwrites."""
    return ts.pool(pd.DataFrame({"study": ["s"], "yi": [0.0], "se": [0.1]}), "GENERIC", "IV")


def with_effect(result: ts.PooledResult, est: float, lo: float, hi: float, *,
                log: bool) -> ts.PooledResult:
    f = math.log if log else float
    return replace(result, estimate=f(est), ci_low=f(lo), ci_high=f(hi))


# ---- published worked examples ------------------------------------------------------------------

def test_rr_handbook_12_5_4_2(generic):
    # RR 0.92, ACR 0.3 → 24 fewer per 1000; NNT 42
    assert 1000 * (corresponding_risk(0.3, 0.92, "RR") - 0.3) == pytest.approx(-24)
    r = sof_row(with_effect(generic, 0.92, 0.80, 1.05, log=True), certainty("high"),
                OutcomeInfo("Death", generic_measure="RR"), assumed_risk=0.3)
    assert r.risk_comparator == "300 per 1000"
    assert r.risk_difference.startswith("24 fewer per 1000 (")
    assert math.ceil(1 / abs(corresponding_risk(0.3, 0.92, "RR") - 0.3)) == 42


def test_or_handbook_12_5_4_3(generic):
    # OR 0.73, ACR 0.3 → 62 fewer per 1000; NNT 17
    rd = corresponding_risk(0.3, 0.73, "OR") - 0.3
    assert round(1000 * rd) == -62
    assert math.ceil(1 / abs(rd)) == 17
    r = sof_row(with_effect(generic, 0.73, 0.6, 0.9, log=True), certainty("high"),
                OutcomeInfo("Death", generic_measure="OR"), assumed_risk=0.3)
    assert r.risk_difference.startswith("62 fewer per 1000 (")
    assert r.relative_effect == "OR 0.73 (0.60 to 0.90)"


@pytest.mark.parametrize(("rr", "acr", "comparator", "intervention"), [
    ((0.10, 0.04, 0.26), 0.010, "10 per 1000", "1 per 1000 (0 to 3)"),  # symptomless DVT, low risk
    ((0.10, 0.04, 0.26), 0.030, "30 per 1000", "3 per 1000 (1 to 8)"),  # symptomless DVT, high risk
    ((0.45, 0.18, 1.13), 0.013, "13 per 1000", "6 per 1000 (2 to 15)"),  # superficial thrombosis
])
def test_handbook_figure_14_1_a_risks(generic, rr, acr, comparator, intervention):
    r = sof_row(with_effect(generic, *rr, log=True), certainty("high"),
                OutcomeInfo("DVT", generic_measure="RR"), assumed_risk=acr)
    assert (r.risk_comparator, r.risk_intervention) == (comparator, intervention)
    assert r.relative_effect == f"RR {rr[0]:.2f} ({rr[1]:.2f} to {rr[2]:.2f})"


def test_handbook_figure_14_1_a_continuous(generic):
    r = sof_row(with_effect(generic, -4.7, -4.9, -4.5, log=False), certainty("low"),
                OutcomeInfo("Oedema score", "post-flight", "0–10", "worse", generic_measure="MD",
                            comparator_mean=(6, 9)))
    assert r.risk_intervention == "MD 4.7 lower (4.9 lower to 4.5 lower)"
    assert r.risk_comparator == "The mean oedema score ranged across control groups from 6 to 9"
    assert r.relative_effect == "" and r.outcome_type == "continuous"
    assert r.outcome == "Oedema score, 0–10 (higher = worse); post-flight"


# ---- formulas -----------------------------------------------------------------------------------

def test_hr_transform_limits():
    assert corresponding_risk(0.2, 1.0, "HR") == pytest.approx(0.2)  # no effect
    # rare events: the HR behaves like an RR (1 − (1 − p)^h ≈ h·p)
    assert corresponding_risk(1e-4, 0.5, "HR") == pytest.approx(0.5e-4, rel=1e-4)
    # survival scale: S_I = S_C^HR; HR 2 with 50% control risk → survival 0.25
    assert corresponding_risk(0.5, 2.0, "HR") == pytest.approx(0.75)
    assert corresponding_risk(0.5, 0.0, "OR") == 0.0 and corresponding_risk(0.6, 2.0, "RR") == 1.0
    with pytest.raises(ValueError):
        corresponding_risk(1.2, 0.5, "RR")
    with pytest.raises(ValueError):
        corresponding_risk(0.2, 0.5, "MD")


def test_same_transform_on_ci_bounds(generic):
    r = sof_row(with_effect(generic, 0.8, 0.5, 1.3, log=True), certainty("moderate"),
                OutcomeInfo("Death", generic_measure="HR"), assumed_risk=0.2)
    a = r.absolute_per_1000
    for key, hr in (("intervention", 0.8), ("intervention_ci_low", 0.5),
                    ("intervention_ci_high", 1.3)):
        assert a[key] == pytest.approx(1000 * (1 - 0.8 ** hr))
        assert a[key.replace("intervention", "difference")] == pytest.approx(a[key] - 200)
    assert r.risk_difference.endswith("more)")  # upper bound HR 1.3 → more events


def test_smd_reexpression_and_rd(generic):
    smd = sof_row(with_effect(generic, -0.5, -0.8, -0.2, log=False), certainty("low"),
                  OutcomeInfo("Depression", generic_measure="SMD", typical_sd=20,
                              reexpress_scale="BDI-II 0–63"))
    assert smd.risk_intervention == "SMD 0.50 lower (0.80 lower to 0.20 lower)"
    # Handbook v6 §15.5.3: MD = SMD × a typical comparator SD
    assert smd.reexpression == "MD 10.0 lower (16.0 lower to 4.0 lower) on BDI-II 0–63 (SMD × SD 20)"
    assert "Cohen 1988" in smd.comments and smd.participants_text == "(1 RCT)"
    rd = ts.pool(pd.DataFrame({"study": ["s"], "events_t": [5], "n_t": [50], "events_c": [10],
                               "n_c": [50]}), "RD", "MH")
    r = sof_row(rd, certainty("high"), OutcomeInfo("Death"), assumed_risk=0.2)
    assert r.risk_intervention.startswith("100 per 1000 (")  # ACR + RD = 0.2 − 0.1
    assert r.risk_difference.startswith("100 fewer per 1000 (") and r.relative_effect == ""


def test_assumed_risk_options():
    arms = pd.DataFrame({"events_c": [1, 0, 2, 2], "n_c": [32, 4, 6, 10]})
    assert assumed_control_risk(arms)[0] == pytest.approx(5 / 52)  # Σe/Σn
    median = sorted([1 / 32, 0 / 4, 2 / 6, 2 / 10])
    assert assumed_control_risk(arms, "median")[0] == pytest.approx((median[1] + median[2]) / 2)
    with pytest.raises(ValueError):
        assumed_control_risk(arms.assign(n_c=0))


def test_participants_format():
    assert participants_text(1234, 12) == "1,234 (12 RCTs)"
    assert participants_text(24, 1) == "24 (1 RCT)"
    assert participants_text(2637, 9, "study") == "2,637 (9 studies)"


@pytest.mark.parametrize(("level", "text"), [
    ("high", "⊕⊕⊕⊕ High"), ("moderate", "⊕⊕⊕◯ Moderate"), ("low", "⊕⊕◯◯ Low"),
    ("very_low", "⊕◯◯◯ Very low")])
def test_symbols_per_level(generic, level, text):
    r = sof_row(with_effect(generic, 0.9, 0.7, 1.1, log=True), certainty(level),
                OutcomeInfo("Death", generic_measure="RR"), assumed_risk=0.1)
    assert r.certainty_text == text


def test_no_studies_row():
    r = no_studies_row(OutcomeInfo("Pain intensity", "long term", "0–100 NRS", "worse"))
    assert isinstance(r, SofRow) and r.no_studies and r.participants_text == "No studies"
    assert r.studies == 0 and r.participants is None
    with pytest.raises(AttributeError):  # frozen
        r.comments = "hidden"  # type: ignore[misc]
    assert r.comments == "No trials reported this outcome."
    assert r.level is None and r.certainty_text == "—" and r.relative_effect == "—"
    t = sof_table(KETAMINE, [r])
    assert "| Pain intensity, 0–100 NRS (higher = worse); long term | — | — | — | No studies | — | " \
           "No trials reported this outcome. |" in t.to_markdown()


# ---- footnotes ----------------------------------------------------------------------------------

def test_footnote_lettering(generic):
    res = with_effect(generic, 0.9, 0.7, 1.1, log=True)
    info = OutcomeInfo("Death", generic_measure="RR")
    one = sof_row(res, certainty("low", {"risk_of_bias": 1, "imprecision": 1}), info,
                  assumed_risk=0.1)
    two = sof_row(res, certainty("very_low", {"imprecision": 1, "indirectness": 2}), info,
                  control_arms=pd.DataFrame({"events_c": [3], "n_c": [30]}))
    t = sof_table(KETAMINE, [one, two])
    texts = dict(t.explanations)
    assert list(texts) == ["a", "b", "c", "d", "e"]  # reading order, no gaps
    assert texts["a"] == "Downgraded one level for risk of bias: reason for risk_of_bias."
    assert texts["b"] == "Downgraded one level for imprecision: reason for imprecision."
    r1, r2 = t.rows
    assert r1.certainty_text == "⊕⊕◯◯ Low a,b" and r1.effect_keys == ("c",)
    assert texts["c"] == "Risk with the comparator: set by the review authors."
    assert r2.certainty_text == "⊕◯◯◯ Very low b,d"  # the shared imprecision note keeps "b"
    assert texts["d"].startswith("Downgraded two levels for indirectness")
    assert r2.effect_keys == ("e",) and "3/30" in texts["e"]
    assert r2.risk_comparator == "100 per 1000"
    md = t.to_markdown()
    assert "⊕⊕◯◯ Low <sup>a,b</sup>" in md and "100 per 1000 <sup>e</sup>" in md
    assert all(f"{k}. {v}" in md for k, v in texts.items())


def test_override_is_shown(generic):
    res = with_effect(generic, -12.0, -20.0, -4.0, log=False)
    cert = assess(res, rob=None, mid=10, outcome_type="continuous", direction_of_benefit="lower",
                  overrides={"indirectness": Override(1, "mixed pain conditions", reviewer="MCF")})
    r = sof_table(KETAMINE, [sof_row(res, cert, OutcomeInfo("Pain", generic_measure="MD"))]).rows[0]
    assert r.to_dict()["overrides"] == ["indirectness"]
    note = dict(zip(r.certainty_keys, r.certainty_notes, strict=True))
    assert any("Rated down one level for indirectness by the review authors (MCF), instead of the "
               "proposed none: mixed pain conditions." == t for t in note.values())
    assert r.to_dict()["override_details"] == [{"domain": "indirectness", "proposed": 0,
                                                "final": 1, "rationale": "mixed pain conditions",
                                                "reviewer": "MCF"}]


def test_more_than_seven_outcomes_flagged():
    rows = [no_studies_row(OutcomeInfo(f"Outcome {i}")) for i in range(8)]
    assert sof_table(KETAMINE, rows[:7]).warnings == ()
    t = sof_table(KETAMINE, rows)
    assert len(t.rows) == 8 and "8 outcomes" in t.warnings[0]


# ---- the flagship review ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flagship() -> dict[str, pd.DataFrame]:
    review = read_review(FLAGSHIP)
    return {a.id: a.pooled_rows for a in review.analyses if a.id in ("1.1", "1.9")}


def test_flagship_table_layout(flagship):
    pain, ae = flagship["1.1"], flagship["1.9"]
    p_res, a_res = ts.pool(pain, "MD", "DL", revman=True), ts.pool(ae, "RR", "DL", revman=True)
    p_cert = assess(p_res, rob=["high", "some_concerns", "low"], mid=10,  # CONSTRUCTED RoB
                    outcome_type="continuous", direction_of_benefit="lower")
    a_cert = assess(a_res, rob=["high", "low", "some_concerns", "high"], mid=0.25,  # CONSTRUCTED
                    outcome_type="dichotomous", direction_of_benefit="lower")
    rows = [
        sof_row(p_res, p_cert, OutcomeInfo("Pain intensity", "immediate term", "0–100 NRS/VAS",
                                           "worse", mid=10, units="points"),
                control_arms=pain, intervention="ketamine"),
        sof_row(a_res, a_cert, OutcomeInfo("Adverse events (total)"), control_arms=ae,
                intervention="ketamine"),
        no_studies_row(OutcomeInfo("Pain intensity", "long term", "0–100 NRS/VAS", "worse")),
    ]
    t = sof_table(KETAMINE, rows)
    assert t.title == "Ketamine compared with placebo for adults with chronic pain"
    pr, ar, nr = t.rows
    # participants (studies) straight from the data file
    for r, frame in ((pr, pain), (ar, ae)):
        n = int(frame["n_t"].sum() + frame["n_c"].sum())
        assert r.participants_text == f"{n:,} ({len(frame)} RCTs)"
    # continuous row: comparator means from the control arms, MD text, blank relative effect
    lo, hi = pain["mean_c"].min(), pain["mean_c"].max()
    assert (lo, hi) == (54.5, 74.0)  # both printed with one decimal: one style in a cell
    assert pr.risk_comparator == ("The mean pain intensity ranged across control groups from "
                                  "54.5 to 74.0 points")
    assert re.fullmatch(r"MD \d+\.\d (lower|higher) \(\d+\.\d (lower|higher) to \d+\.\d "
                        r"(lower|higher)\)", pr.risk_intervention)
    assert pr.relative_effect == ""
    # dichotomous row: ACR = Σe_C/Σn_C of the control arms; RR·ACR on estimate and CI (Handbook)
    acr = ae["events_c"].sum() / ae["n_c"].sum()
    assert ar.risk_comparator == f"{math.floor(1000 * acr + 0.5)} per 1000"
    rr = a_res.exp
    expected = [math.floor(1000 * acr * rr[k] + 0.5) for k in ("estimate", "ci_low", "ci_high")]
    assert ar.risk_intervention == f"{expected[0]} per 1000 ({expected[1]} to {expected[2]})"
    assert ar.relative_effect == f"RR {rr['estimate']:.2f} ({rr['ci_low']:.2f} to {rr['ci_high']:.2f})"
    # certainty cell and explanations generated from the domain reasons
    for r, cert in ((pr, p_cert), (ar, a_cert)):
        assert r.level == cert.level and r.certainty_text.startswith(
            {"high": "⊕⊕⊕⊕ High", "moderate": "⊕⊕⊕◯ Moderate", "low": "⊕⊕◯◯ Low",
             "very_low": "⊕◯◯◯ Very low"}[cert.level])
        explained = [t for k, t in t.explanations if k in r.certainty_keys]
        noted = [d for d, j in cert.domains.items() if j.downgrade or j.provisional]
        assert len(explained) == len(noted)
        for d in noted:  # the plain reason, never the cited one, in the footnote
            j = cert.domains[d]
            assert any(d.replace("_", " ") in e and (j.plain or j.reasons[0]) in e
                       for e in explained)
            assert not any("Core GRADE" in e or "GRADE 34" in e for e in explained)
    assert "ketamine" in ar.comments.lower() and "ketamine" in pr.comments.lower()
    # the statement, then the NNTH at the assumed comparator risk (Altman 1998)
    assert ar.statement == a_res_statement(a_cert.level)
    assert ar.comments.startswith(ar.statement + " NNTH ") and \
        "at the assumed comparator risk of" in ar.comments and pr.comments.startswith(
        "The evidence is very uncertain" if p_cert.level == "very_low" else "Ketamine")
    assert nr.participants_text == "No studies"
    # footnotes: asterisk, abbreviations, GRADE definitions, method, band convention
    assert t.asterisk == ASTERISK and t.grade_definitions == GRADE_DEFINITIONS
    assert t.abbreviations == "CI: confidence interval; MD: mean difference; RR: risk ratio."
    assert all("random effects, DerSimonian–Laird (RevMan conventions)" in a for a in t.analysis)
    assert any("project convention, not GRADE" in c for c in t.conventions)
    md = t.to_markdown()
    assert md.startswith("## Summary of findings: Ketamine compared with placebo for adults")
    for line in ("**Patient or population:** adults with chronic pain", "**Setting:** outpatients",
                 "**Intervention:** ketamine", "**Comparison:** placebo", ASTERISK,
                 "**GRADE Working Group grades of evidence**"):
        assert line in md
    assert sum(line.startswith("| ") for line in md.splitlines()) == 4  # header + 3 outcomes


def a_res_statement(level: str) -> str:
    """1.9's statement: RR 3.3 (1.05 to 10.1) is a large increase whose CI excludes no effect
    (Santesso 2020; very low uses the 'may … but very uncertain' alternative)."""
    return {"very_low": "Ketamine may result in a large increase in adverse events but the "
                        "evidence is very uncertain.",
            "low": "Ketamine may result in a large increase in adverse events."}[level]


def _keys(obj: object) -> list[str]:
    if isinstance(obj, dict):
        return [k for k in obj] + [k for v in obj.values() for k in _keys(v)]
    if isinstance(obj, list):
        return [k for v in obj for k in _keys(v)]
    return []


def test_json_round_trip(flagship):
    ae = flagship["1.9"]
    res = ts.pool(ae, "RR", "DL", revman=True)
    cert = assess(res, rob=None, mid=0.25, outcome_type="dichotomous", direction_of_benefit="lower")
    t = sof_table(KETAMINE, [sof_row(res, cert, OutcomeInfo("Adverse events"), control_arms=ae),
                             no_studies_row(OutcomeInfo("Serious adverse events"))])
    d = json.loads(json.dumps(t.to_dict()))
    # keys are snake_case, except the footnote letters under "notes"
    letters = {k for r in d["rows"] for k in r["notes"]}
    assert all(SNAKE.match(k) for k in _keys(d) if k not in letters)
    row = d["rows"][0]
    assert row["certainty"] == cert.level and row["measure"] == "RR"
    assert row["assumed_risk"] == pytest.approx(ae["events_c"].sum() / ae["n_c"].sum())
    assert set(row["absolute_per_1000"]) == {"comparator", "intervention", "intervention_ci_low",
                                             "intervention_ci_high", "difference",
                                             "difference_ci_low", "difference_ci_high"}
    assert d["rows"][1]["no_studies"] is True and d["rows"][1]["participants_text"] == "No studies"
    assert set(d["footnotes"]) == {"asterisk", "abbreviations", "grade_definitions",
                                   "explanations", "analysis", "conventions"}


# ---- edge cases: no control events, MD wording, outcome phrases -----------------------------------

def test_no_control_events_shows_a_risk_difference_not_zero_per_1000():
    """CD015373 1.13 (hallucinations): 2/68 vs 0/32. ACR = 0 makes ACR × RR = 0 for any RR, so
    the row must not print "0 per 1000 (0 to 0)": the absolute effect is the RD from the counts."""
    d = pd.read_csv(FLAGSHIP)
    a = d[(d["Analysis.group"] == 1) & (d["Analysis.number"] == 13)]
    arms = pd.DataFrame({"study": a.Study, "events_t": a["Experimental.cases"],
                         "n_t": a["Experimental.N"], "events_c": a["Control.cases"],
                         "n_c": a["Control.N"]}).reset_index(drop=True)
    res = ts.pool(arms, "RR", "DL", revman=True)  # as the review pooled it
    r = sof_row(res, certainty("very_low", {"imprecision": 3}), OutcomeInfo("Hallucinations"),
                control_arms=arms, intervention="ketamine")
    # the absolute effect comes from the same studies and the same model as the RR (the issue:
    # not a common-effect RD beside a random-effects RR)
    used = arms[arms.study.isin([s.study for s in res.studies if s.included and s.yi is not None])]
    rd = ts.pool(used.reset_index(drop=True), "RD", "DL", revman=True)
    p1 = 2 / 68  # RevMan's RD from the raw counts (Deeks & Higgins 2010): 2/68 − 0/32
    assert rd.estimate == pytest.approx(p1)
    lo, hi = rd.ci_low, rd.ci_high
    assert r.risk_comparator == "0 per 1000" and r.risk_intervention == "See comment"
    assert r.risk_difference == (f"{round(1000 * p1)} more per 1000 ({round(-1000 * lo)} fewer to "
                                 f"{round(1000 * hi)} more); risk difference")
    assert r.absolute_per_1000["difference"] == pytest.approx(1000 * p1)
    assert any("same model as the relative effect (random effects, DerSimonian–Laird)" in n
               for n in r.effect_notes)
    assert "0 per 1000 (0 to 0)" not in r.risk_intervention
    assert any("No one in the control groups had the event" in n for n in r.effect_notes)
    t = sof_table(KETAMINE, [r])
    assert any("No one in the control groups had the event" in text for _, text in t.explanations)
    # a reviewer-set assumed risk keeps the usual RR × ACR arithmetic
    set_risk = sof_row(res, certainty("low"), OutcomeInfo("Hallucinations"), assumed_risk=0.05)
    assert set_risk.risk_comparator == "50 per 1000" and "per 1000 (" in set_risk.risk_intervention


def test_md_crossing_zero_reads_lower_to_higher(generic):
    r = sof_row(with_effect(generic, -8.7, -31.0, 13.6, log=False), certainty("very_low"),
                OutcomeInfo("Pain", generic_measure="MD", mid=10))
    assert r.risk_intervention == "MD 8.7 lower (31.0 lower to 13.6 higher)"
    assert r.statement == "The evidence is very uncertain about the effect of the intervention on pain."


def test_md_without_an_mid_has_a_statement_only_where_the_size_does_not_matter(generic):
    """Santesso 2020's very-low wording names no effect size, so an MD on a scale without an MID
    still gets it; at higher certainty the comment says why there is no statement."""
    md = with_effect(generic, 0.0, -1.1, 1.1, log=False)
    info = OutcomeInfo("Disability (Radboud Skills Questionnaire)", generic_measure="MD")
    r = sof_row(md, certainty("very_low"), info, intervention="intravenous ketamine")
    assert r.statement == ("The evidence is very uncertain about the effect of intravenous "
                           "ketamine on disability (Radboud Skills Questionnaire).")
    assert r.comments == r.statement and r.band == ""
    r = sof_row(md, certainty("low"), info, intervention="intravenous ketamine")
    assert r.statement == "" and r.comments.startswith("No minimal important difference is set")


def test_smd_row_carries_the_rule_of_thumb_and_bands_by_cohen(generic):
    r = sof_row(with_effect(generic, 0.83, 0.41, 1.26, log=False), certainty("moderate"),
                OutcomeInfo("Depressive symptoms", generic_measure="SMD", direction_of_benefit="lower"),
                intervention="memantine")
    assert r.risk_intervention == "SMD 0.83 higher (0.41 higher to 1.26 higher)"
    assert r.band == "large" and r.direction == "increase"  # 0.83 ≥ 0.8 (Cohen 1988)
    assert r.statement == "Memantine probably results in a large increase in depressive symptoms."
    assert "0.2 represents a small difference, 0.5 a moderate and 0.8 a large" in r.comments


def test_withdrawal_outcome_is_named_for_what_was_counted(generic):
    """'Tolerability' (withdrawals due to adverse events, lower is better): RR 4.07 must not read
    as 'increases tolerability' (flagship 1.23)."""
    r = sof_row(with_effect(generic, 4.07, 0.50, 33.14, log=True), certainty("moderate"),
                OutcomeInfo("Tolerability", generic_measure="RR"), assumed_risk=0.05,
                intervention="intravenous ketamine")
    assert r.statement == ("Intravenous ketamine probably results in a large increase in "
                           "withdrawals due to adverse events.")
    assert "tolerability" not in r.statement.lower() and r.phrase == "withdrawals due to adverse events"


# --- which outcomes a SoF table shows (Handbook v6.4 §14.1.4: up to seven) --------------------
def _question(**extra):
    from trialsynth.review.protocol import Question

    outcomes = [{"id": "pain", "name": "Pain", "priority": "primary"},
                {"id": "ae", "name": "Adverse events", "priority": "primary"},
                {"id": "qol", "name": "Quality of life", "priority": "secondary"},
                {"id": "nausea", "name": "Nausea"}]
    windows = [{"id": "short", "name": "Short term"}, {"id": "medium", "name": "Medium term"}]
    return Question.model_validate({"outcomes": outcomes, "time_windows": windows, **extra})


def _candidates(pairs):
    from trialsynth.report.model import SofCandidate

    return [SofCandidate(no_studies_row(OutcomeInfo(f"{o} {w}", w)), o, w) for o, w in pairs]


def test_default_main_outcomes_rank_priority_then_question_order_up_to_seven():
    from trialsynth.report.model import main_outcomes

    # analysis order as a review numbers them: harms and secondary outcomes interleaved
    pairs = [("nausea", None), ("qol", "short"), ("pain", "medium"), ("ae", None),
             ("pain", "short"), (None, None), ("qol", "medium"), ("nausea", "short"),
             ("ae", "short"), ("pain", None)]
    main, other, basis = main_outcomes(_candidates(pairs), _question())
    assert [r.name for r in main] == ["pain short", "pain medium", "pain None", "ae short",
                                      "ae None", "qol short", "qol medium"]
    # the rest, none dropped, in the review's order
    assert [r.name for r in other] == ["nausea None", "None None", "nausea short"]
    assert "default rule" in basis and "14.1.4" in basis
    few = _candidates([("qol", "short"), ("pain", "short")])
    main, other, _ = main_outcomes(few, _question())
    assert [r.name for r in main] == ["pain short", "qol short"] and other == []


def test_review_chosen_main_outcomes_in_the_reviews_order():
    from trialsynth.report.model import main_outcomes

    chosen = [{"outcome": "nausea"}, {"outcome": "pain", "time_window": "medium"}]
    pairs = [("pain", "short"), ("nausea", "short"), ("pain", "medium"), ("nausea", None)]
    main, other, basis = main_outcomes(_candidates(pairs),
                                       _question(summary_of_findings=chosen))
    assert [r.name for r in main] == ["nausea short", "nausea None", "pain medium"]
    assert [r.name for r in other] == ["pain short"]
    assert "question.summary_of_findings" in basis


def test_comparison_sof_splits_main_and_other_tables():
    from trialsynth.report.model import comparison_sof

    pairs = [("pain", w) for w in ("short", "medium")] * 4 + [("nausea", None)]
    out = comparison_sof(1, "Ketamine versus placebo", _candidates(pairs), _question())
    main, other = out["table"], out["other_outcomes"]
    assert main["kind"] == "main" and len(main["rows"]) == 7 and not main["warnings"]
    assert other["kind"] == "other" and len(other["rows"]) == 2
    assert other["heading"].startswith("Other outcomes (not in the summary of findings table)")
    assert "## Other outcomes" in out["markdown"] and "## Summary of findings" in out["markdown"]
    assert comparison_sof(1, None, _candidates(pairs[:3]), _question())["other_outcomes"] is None


def test_not_estimable_row_keeps_the_trials_that_reported_the_outcome():
    """CD015373.pub2 analysis 1.19 (real data): Pickering 2020, no serious adverse events in
    either arm (0/8 vs 0/6): RevMan shows "Not estimable", the row stays with its 14 people."""
    arms = pd.DataFrame({"study": ["Pickering 2020"], "events_t": [0.0], "n_t": [8.0],
                         "events_c": [0.0], "n_c": [6.0]})
    row = not_estimable_row(OutcomeInfo("Serious adverse events", None, higher_is="worse"), arms,
                            "no study could be pooled")
    assert row.relative_effect == "Not estimable" and row.participants_text == "14 (1 RCT)"
    assert row.comments.startswith("No events in either group") and row.level is None
    assert not row.no_studies
    some = arms.assign(events_t=[2.0], n_t=[float("nan")])  # CONSTRUCTED: events, no arm size
    row = not_estimable_row(OutcomeInfo("Nausea", None), some, "every study not estimable")
    assert row.comments == "Not estimable: every study not estimable."
    assert row.participants_text == "6 (1 RCT)"
