"""Plain-language summaries per comparison (trialsynth.assess.certainty.plain_language).

Expected wording follows the Cochrane PLS guidance (Pitcher, Mitchell & Hughes 2021; METHODS
§4.7): headings "What did we find?", "What are the limitations of the evidence?", "How up to date
is the evidence?"; "probably" (moderate), "may" (low), "It is unclear whether …" (very low);
limitations in everyday words ("We are not confident in the evidence because the studies were
small"). Effects are CONSTRUCTED generic results (not from any study) so that each sentence's
certainty × size × direction is known in advance.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace

import pandas as pd
import pytest

import trialsynth as ts
from trialsynth.assess.certainty.grade import DOMAINS, Certainty, DomainJudgement
from trialsynth.assess.certainty.plain_language import PlainLanguageSummary, plain_language_summary
from trialsynth.report.sof import OutcomeInfo, SofRow, no_studies_row, not_estimable_row, sof_row


def certainty(level: str, downgrades: dict[str, int] | None = None) -> Certainty:
    downgrades = downgrades or {}
    return Certainty(level=level, domains={  # type: ignore[arg-type]
        d: DomainJudgement(d, downgrades.get(d, 0), (f"reason for {d}",)) for d in DOMAINS})


@pytest.fixture(scope="module")
def generic() -> ts.PooledResult:
    return ts.pool(pd.DataFrame({"study": ["s"], "yi": [0.0], "se": [0.1]}), "GENERIC", "IV")


def row(generic: ts.PooledResult, est: float, lo: float, hi: float, level: str,
        info: OutcomeInfo, downgrades: dict[str, int] | None = None, k: int = 1,
        log: bool = False) -> SofRow:
    f = math.log if log else float
    res = replace(generic, estimate=f(est), ci_low=f(lo), ci_high=f(hi), k=k)
    return sof_row(res, certainty(level, downgrades), info, assumed_risk=0.1 if log else None,
                   intervention="ketamine")


def test_key_results_follow_certainty_size_and_direction(generic):
    rows = [
        row(generic, -15, -25, -5, "low", OutcomeInfo("Pain intensity (continuous)", "short-term",
                                                      generic_measure="MD", mid=10),
            {"risk_of_bias": 1, "imprecision": 1}, k=3),
        row(generic, 4.07, 0.5, 33.1, "very_low", OutcomeInfo("Tolerability", generic_measure="RR"),
            {"risk_of_bias": 1, "imprecision": 2}, log=True),
        row(generic, -0.55, -0.8, -0.3, "moderate",
            OutcomeInfo("Depressive symptoms", generic_measure="SMD"), {"imprecision": 1}, k=2),
    ]
    pls = plain_language_summary("Ketamine versus placebo", rows)
    assert pls.key_results == (
        "In the short term, ketamine may reduce pain intensity.",  # ≥ MID: important, not slight
        "It is unclear whether ketamine increases withdrawals due to adverse events.",
        "Ketamine probably reduces depressive symptoms.",  # SMD 0.5–0.8: moderate
    )
    assert pls.what_did_we_find.startswith(
        "We found evidence comparing ketamine with placebo for 3 outcomes; the largest body of "
        "evidence for one outcome (pain intensity in the short term) came from 3 studies")
    # the most common level is a tie of one each → the lowest (very low) leads the paragraph
    assert pls.limitations == (
        "We are not confident in the evidence because people in the studies may have known which "
        "treatment they were getting, or the studies were done in ways that could have introduced "
        "errors, the studies were small and not all studies provided data about everything we "
        "were interested in.")


def test_outcomes_without_studies_are_named(generic):
    rows = [row(generic, -2, -6, 2, "low", OutcomeInfo("Pain intensity (continuous)",
                                                       generic_measure="MD", mid=10),
                {"imprecision": 2}),
            no_studies_row(OutcomeInfo("Serious adverse events", "long term"))]
    pls = plain_language_summary("Ketamine versus placebo", rows, missing_outcomes=["Opioid use"])
    assert pls.no_studies == ("No studies reported serious adverse events in the long term.",
                              "No studies reported opioid use.")
    assert pls.key_results == ("Ketamine may make little to no difference to pain intensity.",)
    assert pls.what_did_we_find.endswith("No studies reported opioid use.")
    assert pls.limitations == ("We have little confidence in the evidence because the studies were "
                               "small, there were few studies and not all studies provided data "
                               "about everything we were interested in.")


def test_no_data_at_all_and_high_certainty(generic):
    pls = plain_language_summary("Memantine versus placebo",
                                 [no_studies_row(OutcomeInfo("Pain intensity"))])
    assert pls.key_results == () and pls.no_studies == ("No studies reported pain intensity.",)
    assert pls.what_did_we_find.startswith("We found no studies")
    assert pls.limitations == "There is no evidence to assess."
    high = row(generic, -30, -35, -25, "high", OutcomeInfo("Pain", generic_measure="MD", mid=10),
               k=12)
    pls = plain_language_summary("Memantine versus placebo", [high], search_date="March 2024")
    # |MD| 30 = 3 MIDs: "moderate" band (project convention 1/2/5 MIDs); X from the comparison
    assert pls.key_results == ("Memantine reduces pain.",)
    assert pls.limitations == "We are confident in the evidence."
    assert pls.up_to_date == "The evidence is up to date to March 2024."
    assert pls.text.splitlines()[0] == "What did we find?"
    assert "How up to date is the evidence?" in pls.text


def test_missing_band_does_not_invent_a_size(generic):
    r = row(generic, -3, -6, 0.5, "low", OutcomeInfo("Disability (Radboud Skills Questionnaire)",
                                                     generic_measure="MD"), {"imprecision": 2})
    assert r.band == ""  # no MID: no band convention for an MD
    pls = plain_language_summary("Ketamine versus placebo", [r])
    assert pls.key_results == ("We found low-certainty evidence about the effect of ketamine on "
                               "disability (Radboud Skills Questionnaire), but no threshold was "
                               "set to judge how large the effect is.",)


def test_summary_is_frozen_and_serialisable(generic):
    pls = plain_language_summary("Ketamine versus placebo", [
        row(generic, -15, -25, -5, "low", OutcomeInfo("Pain", generic_measure="MD", mid=10))])
    assert isinstance(pls, PlainLanguageSummary)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pls.limitations = "x"  # type: ignore[misc]
    d = json.loads(json.dumps(pls.to_dict()))
    assert set(d) == {"comparison", "key_results", "no_studies", "what_did_we_find",
                      "limitations", "up_to_date", "text"}
    assert d["text"] == pls.text


def test_outcomes_reported_without_an_estimable_effect_are_said(generic):
    """CD015373.pub2 analysis 10.3 (real data): Voogd 2010, no adverse events in either arm of
    70 people; the summary says so instead of leaving the outcome out."""
    arms = pd.DataFrame({"study": ["Voogd 2010"], "events_t": [0.0], "n_t": [35.0],
                         "events_c": [0.0], "n_c": [35.0]})
    zero = not_estimable_row(OutcomeInfo("Adverse events (total)"), arms, "no study could be pooled")
    pls = plain_language_summary("Magnesium versus placebo", [zero])
    assert pls.key_results == ("In the one study that reported adverse events (70 people), no one "
                               "had this event in either group, so the effect could not be "
                               "estimated.",)
    assert pls.what_did_we_find.startswith("We found studies comparing magnesium with placebo, "
                                           "but none gave an estimable effect.")
    # CONSTRUCTED second study (not from the review): events, so not "no events"
    two = pd.concat([arms, arms.assign(study="Other 2001", events_t=[1.0])])
    other = not_estimable_row(OutcomeInfo("Nausea", "short term"), two, "unusable data")
    pls = plain_language_summary("Magnesium versus placebo", [zero, other])
    assert pls.key_results[1] == ("The effect on nausea in the short term could not be estimated "
                                  "from the 2 studies that reported it.")
