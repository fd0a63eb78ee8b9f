"""NNTB/NNTH in the summary-of-findings comment and, for responder outcomes (at least 30% or 50%
pain relief: an event that is good), in the plain-language sentence of the row.

Expected numbers are computed here by hand from the formulas: risk with the intervention =
ACR × RR (Handbook v6.4 §14.1.5.1), NNT = 1/|risk difference| rounded up, its CI the reciprocals
of the RD's limits (Altman 1998, BMJ 317:1309). The effects are CONSTRUCTED for the test."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

import trialsynth as ts
from trialsynth.assess.certainty.grade import DOMAINS, Certainty, DomainJudgement
from trialsynth.report.sof import OutcomeInfo, sof_row

RESPONDER = OutcomeInfo("Pain intensity (≥ 50% reduction)", generic_measure="RR",
                        direction_of_benefit="higher")


def certainty(level: str) -> Certainty:
    return Certainty(level=level, domains={  # type: ignore[arg-type]
        d: DomainJudgement(d, 0, (f"reason for {d}",)) for d in DOMAINS})


@pytest.fixture(scope="module")
def generic() -> ts.PooledResult:
    return ts.pool(pd.DataFrame({"study": ["s"], "yi": [0.0], "se": [0.1]}), "GENERIC", "IV")


def rr(result: ts.PooledResult, est: float, lo: float, hi: float) -> ts.PooledResult:
    return replace(result, estimate=math.log(est), ci_low=math.log(lo), ci_high=math.log(hi))


def test_responder_row_says_what_the_nntb_means(generic: ts.PooledResult) -> None:
    # RR 2.0 (1.2 to 3.3) at ACR 0.2: risks 0.40 (0.24 to 0.66), RD 0.20 (0.04 to 0.46)
    # NNTB = 1/0.20 = 5; CI 1/0.46 = 2.17 -> 3 to 1/0.04 = 25
    row = sof_row(rr(generic, 2.0, 1.2, 3.3), certainty("moderate"), RESPONDER,
                  assumed_risk=0.2, intervention="ketamine")
    assert (row.nnt["kind"], row.nnt["value"]) == ("NNTB", pytest.approx(5))
    want = ("For every 5 people treated with ketamine, one more has at least 50% reduction in "
            "pain intensity (NNTB 5, 95% CI 3 to 25; assumed comparator risk 200 per 1000; "
            "Altman 1998).")
    assert want in row.comments
    assert row.plain_language.endswith(want) and row.plain_language != want  # statement + NNT


def test_fewer_responders_and_a_ci_through_infinity(generic: ts.PooledResult) -> None:
    # RR 0.75 (0.5 to 1.5) at ACR 0.4: RD −0.10 (−0.20 to +0.20): one fewer responder per 10
    # treated; CI NNTH 5 to ∞ to NNTB 5
    row = sof_row(rr(generic, 0.75, 0.5, 1.5), certainty("low"), RESPONDER, assumed_risk=0.4,
                  intervention="ketamine")
    assert "For every 10 people treated with ketamine, one fewer has at least 50% reduction in " \
           "pain intensity (NNTH 10, 95% CI NNTH 5 to ∞ to NNTB 5;" in row.comments


def test_very_low_certainty_statement_carries_no_number(generic: ts.PooledResult) -> None:
    row = sof_row(rr(generic, 2.0, 1.2, 3.3), certainty("very_low"), RESPONDER,
                  assumed_risk=0.2, intervention="ketamine")
    assert "NNTB 5" in row.comments and "NNT" not in row.plain_language


def test_harm_row_keeps_the_short_form(generic: ts.PooledResult) -> None:
    # adverse events (lower is better): RR 1.5 (1.1 to 2.0) at ACR 0.2: RD 0.10 (0.02 to 0.20)
    row = sof_row(rr(generic, 1.5, 1.1, 2.0), certainty("moderate"),
                  OutcomeInfo("Adverse events", generic_measure="RR"), assumed_risk=0.2,
                  intervention="ketamine")
    assert "NNTH 10 (95% CI 5 to 50) at the assumed comparator risk of 200 per 1000 " \
           "(Altman 1998)." in row.comments
    assert "NNT" not in row.plain_language
    same = sof_row(rr(generic, 1.0, 0.5, 2.0), certainty("moderate"),
                   OutcomeInfo("Adverse events", generic_measure="RR"), assumed_risk=0.2)
    assert "No difference (NNT ∞)" in same.comments  # a sentence starts with a capital
