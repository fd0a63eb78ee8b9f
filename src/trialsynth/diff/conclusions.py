"""Conclusion changes between two versions of one analysis, each named and worded (pure).

What a reader concludes from an analysis, and so what a new trial can overturn:

* the GRADE certainty level and the informative statement (Santesso 2020, GRADE 26, J Clin
  Epidemiol 119:126);
* whether the 95% CI crosses the line of no effect, and whether it crosses a minimal important
  difference threshold (GRADE imprecision: Guyatt 2011, GRADE 6, J Clin Epidemiol 64:1283;
  Core GRADE 2): the CI includes a value when ``ci_low <= value <= ci_high``, as the report's
  sensitivity analyses decide it;
* whether the pooled result exists at all (an analysis becomes poolable or stops being so);
* the trial sequential analysis: monitoring boundary crossed, required information size reached,
  futility (Wetterslev 2008, J Clin Epidemiol 61:64; Thorlund 2011, TSA manual);
* the size of the next trial that would settle the question (:mod:`trialsynth.assess.sequential.tsa`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trialsynth.diff.summary import AnalysisSummary, norm
from trialsynth.report.numbers import fixed

LEVELS = ("very_low", "low", "moderate", "high")  # GRADE, lowest first
VERDICTS = {"conclusive": "conclusive: the Z-curve crosses the monitoring boundary",
            "futile": "futile: the Z-curve is inside the futility wedge",
            "ris_reached": "ris reached: the required information size is reached without "
                           "crossing the monitoring boundary",
            "inconclusive": "inconclusive: neither boundary crossed, the required information "
                            "size not reached"}
MINUS = "\u2212"


@dataclass(frozen=True, slots=True)
class Conclusion:
    """One change of conclusion: what kind, the value before and after, and a sentence."""

    kind: str
    before: Any
    after: Any
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "before": self.before, "after": self.after, "text": self.text}


def _level(x: str | None) -> str:
    return "not rated" if x is None else x.replace("_", " ")


def _value(a: AnalysisSummary, x: float) -> str:
    """A threshold as the reader knows it: "MD 0", "RR 0.8" (2 decimals, no trailing zeros)."""
    text = fixed(x, 2).rstrip("0").rstrip(".")
    return f"{a.measure or 'effect'} {text.replace('-', MINUS)}"


def _includes(lo: float | None, hi: float | None, x: float | None) -> bool | None:
    if lo is None or hi is None or x is None:
        return None
    return lo <= x <= hi


def _certainty(b: AnalysisSummary, a: AnalysisSummary) -> list[Conclusion]:
    if b.certainty == a.certainty:
        return []
    rank = {lv: i for i, lv in enumerate(LEVELS)}
    if b.certainty in rank and a.certainty in rank:
        verb = "rose" if rank[a.certainty] > rank[b.certainty] else "fell"
        text = f"Certainty of the evidence {verb} from {_level(b.certainty)} to " \
               f"{_level(a.certainty)}."
    else:
        text = f"Certainty of the evidence: {_level(b.certainty)} before, " \
               f"{_level(a.certainty)} now."
    return [Conclusion("certainty", b.certainty, a.certainty, text)]


def _statement(b: AnalysisSummary, a: AnalysisSummary) -> list[Conclusion]:
    if (b.statement and norm(b.statement)) == (a.statement and norm(a.statement)):
        return []
    return [Conclusion("statement", b.statement, a.statement,
                       f"The statement now reads: \u201c{a.statement}\u201d" if a.statement
                       else "The analysis no longer has a statement.")]


def _crossing(b: AnalysisSummary, a: AnalysisSummary) -> list[Conclusion]:
    out = []
    was, now = _includes(b.ci_low, b.ci_high, b.null), _includes(a.ci_low, a.ci_high, a.null)
    if was is not None and now is not None and was != now and a.null is not None:
        what = f"no effect ({_value(a, a.null)})"
        out.append(Conclusion("ci_null", was, now, f"The 95% CI {'now' if now else 'no longer'} "
                                                   f"crosses {what}."))
    for side in ("mid_low", "mid_high"):
        tb, ta = getattr(b, side), getattr(a, side)
        was, now = _includes(b.ci_low, b.ci_high, tb), _includes(a.ci_low, a.ci_high, ta)
        if was is not None and now is not None and was != now and ta is not None:
            out.append(Conclusion("ci_mid", was, now,
                                  f"The 95% CI {'now' if now else 'no longer'} crosses the "
                                  f"minimal important difference ({_value(a, ta)})."))
    return out


def _tsa(b: AnalysisSummary, a: AnalysisSummary) -> list[Conclusion]:
    was = (b.tsa_verdict, b.tsa_crossed, b.ris_reached)
    now = (a.tsa_verdict, a.tsa_crossed, a.ris_reached)
    if was == now or a.tsa_verdict is None or b.tsa_verdict is None:
        return []
    if a.tsa_verdict != b.tsa_verdict:
        text = f"now {VERDICTS.get(a.tsa_verdict, a.tsa_verdict)} (was {b.tsa_verdict})"
    else:  # same verdict, the boundary crossed on the other side
        text = f"the monitoring boundary is now crossed {a.tsa_crossed} zero (was {b.tsa_crossed})"
    if bool(b.ris_reached) != bool(a.ris_reached) and "ris_reached" not in (a.tsa_verdict,
                                                                             b.tsa_verdict):
        text += "; the required information size is " + (
            "now reached" if a.ris_reached else "no longer reached")
    keys = ("verdict", "boundary_crossed", "ris_reached")
    return [Conclusion("tsa", dict(zip(keys, was, strict=True)), dict(zip(keys, now, strict=True)),
                       f"Trial sequential analysis: {text}.".replace("_", " "))]


def _trial(n: int | None) -> str:
    if n is None:
        return "no single trial would settle the question"
    return "no further trial is needed" if n == 0 else f"one trial of {n:,} participants"


def _next_trial(b: AnalysisSummary, a: AnalysisSummary) -> list[Conclusion]:
    if b.next_trial_total == a.next_trial_total or a.tsa_verdict is None \
            or b.tsa_verdict is None:
        return []
    return [Conclusion("next_trial", b.next_trial_total, a.next_trial_total,
                       f"Next trial: {_trial(a.next_trial_total)} (was "
                       f"{_trial(b.next_trial_total)}).")]


def _concludes(x: AnalysisSummary) -> bool:
    """An analysis with nothing pooled, rated or stated concludes nothing."""
    return x.estimate is not None or x.certainty is not None or x.statement is not None


def _presence(b: AnalysisSummary | None, a: AnalysisSummary | None) -> list[Conclusion]:
    if (b is None and a is not None and not _concludes(a)) or \
            (a is None and b is not None and not _concludes(b)):
        return []
    if b is None and a is not None:
        said = f" Certainty {_level(a.certainty)}." if a.certainty else ""
        return [Conclusion("added", None, a.statement,
                           "New analysis." + said + (f" \u201c{a.statement}\u201d"
                                                     if a.statement else ""))]
    if a is None and b is not None:
        return [Conclusion("removed", b.statement, None,
                           "The analysis is no longer in the review.")]
    assert a is not None and b is not None
    was, now = b.estimate is not None, a.estimate is not None
    if was == now:
        return []
    return [Conclusion("pooled", was, now, "A pooled estimate now exists." if now
                       else "No pooled estimate any more.")]


def conclusion_changes(before: AnalysisSummary | None, after: AnalysisSummary | None
                       ) -> tuple[Conclusion, ...]:
    """Every change of conclusion from ``before`` to ``after`` (None: the analysis is absent)."""
    found = _presence(before, after)
    if before is None or after is None:
        return tuple(found)
    for rule in (_certainty, _statement, _crossing, _tsa, _next_trial):
        found += rule(before, after)
    return tuple(found)
