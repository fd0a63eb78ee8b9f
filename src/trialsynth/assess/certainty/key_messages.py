"""Review-level key messages, as a Cochrane plain-language summary opens with them.

Built only from the main summary-of-findings rows of every comparison and the evidence
inventory (a pure function; nothing typed in): what the evidence says about benefits, what it
says about harms — worded as harms —, which outcomes of the question no trial measured, and what
research is needed (from the reasons the certainty was rated down and the gaps). Every sentence
carries the analyses it rests on, so the report can link it.

Wording follows the Cochrane plain-language guidance (Pitcher, Mitchell & Hughes 2021; METHODS
§4.7) and the informative statements of Santesso et al. 2020: no qualifier for high certainty,
"probably" for moderate, "may" for low; for very low "It is unclear whether …", or "… may …, but
we are very uncertain" when the confidence interval excludes no effect. Rows with the same
outcome and the same wording are said once, naming every intervention (with its time windows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from trialsynth.assess.certainty.statements import VERB_WORDS, change_word, is_plural, outcome_phrase

if TYPE_CHECKING:  # the rows' type only; the kernel does not import the report
    from trialsynth.report.sof import SofRow

Kind = Literal["benefit", "harm", "not_measured", "research"]
HEADINGS = {"benefit": "Benefits", "harm": "Harms (unwanted effects)",
            "not_measured": "What no trial measured", "research": "What research is needed"}
QUALIFIER = {"high": "", "moderate": "probably ", "low": "may "}
WORDS = {"high": "high", "moderate": "moderate", "low": "low", "very_low": "very low"}


@dataclass(frozen=True, slots=True)
class KeyMessage:
    """One sentence of the key messages and the analyses it rests on."""

    kind: Kind
    text: str
    analyses: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "heading": HEADINGS[self.kind], "text": self.text,
                "analyses": list(self.analyses)}


@dataclass(frozen=True, slots=True)
class Subject:
    """Who a comparison's rows speak about: "intravenous ketamine" or "X compared with Y"."""

    intervention: str
    comparator: str

    @property
    def text(self) -> str:
        if self.comparator.strip().lower() in ("placebo", "the comparator", ""):
            return self.intervention
        return f"{self.intervention} compared with {self.comparator}"


def _join(items: Sequence[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "."


def _verdict(row: SofRow) -> tuple[str, ...]:
    """What the row says, independent of who says it (rows with the same verdict are merged)."""
    very_low_clear = row.level == "very_low" and row.clear_direction and row.band != "trivial"
    phrase = row.phrase or outcome_phrase(row.name)
    if row.level == "very_low" and not very_low_clear:
        asked = _asked(row)
        wanted = "benefit" if row.kind == "benefit" else "harm"
        return ("unclear", change_word(asked, wanted, phrase) if asked else "")
    band = "trivial" if row.band == "trivial" else ("large" if row.band == "large" else
                                                     "small" if row.band == "small" else "")
    level = "very_low_clear" if very_low_clear else str(row.level)
    return (level, band, change_word(row.direction or "", row.effect or None, phrase))


def _asked(row: SofRow) -> str:
    """The direction a reader asks about: the benefit for a benefit outcome (does it reduce
    pain?), the harm for a harm outcome (does it increase adverse events?)."""
    if not row.direction or not row.effect:
        return ""
    wanted = "benefit" if row.kind == "benefit" else "harm"
    if row.effect == wanted:
        return row.direction
    return "increase" if row.direction == "reduction" else "reduction"


def _predicate(verdict: tuple[str, ...], phrase: str, plural: bool) -> str:
    """The verb phrase for a verdict; ``plural`` when several interventions share it."""
    s = "" if plural else "s"
    if verdict[0] == "unclear":
        verb = VERB_WORDS[verdict[1]][1] if verdict[1] in VERB_WORDS else "change"
        return f"{verb}{'' if plural else 's'} {phrase}"
    level, band, direction = verdict
    verb = VERB_WORDS.get(direction, VERB_WORDS["increase"])[1]
    if level == "very_low_clear":
        return f"may {verb} {phrase}, but we are very uncertain about this"
    q = QUALIFIER[level]
    finite = not q or q == "probably "  # "probably reduces" / "reduces" take the -s
    end = s if finite else ""
    if band == "trivial":
        return f"{q}make{end} little or no difference to {phrase}"
    if band == "large":
        return f"{q}result{end} in a large {direction} in {phrase}"
    return f"{q}{verb}{end} {phrase}" + (" slightly" if band == "small" else "")


def _windows(rows: Sequence[SofRow]) -> str:
    names = [r.time_window.lower().replace(" term", "").replace("-term", "")
             for r in rows if r.time_window]
    return f" ({_join(names)} term)" if names else ""


def _statements(groups: Sequence[tuple[Subject, Sequence[SofRow]]], kind: str) -> list[KeyMessage]:
    """One sentence per outcome and verdict, naming every intervention (with its windows)."""
    merged: dict[tuple[str, tuple[str, ...]], list[tuple[Subject, SofRow]]] = {}
    for subject, rows in groups:
        for r in rows:
            if r.no_studies or r.not_estimable or r.level is None or r.kind != kind:
                continue
            if not r.direction and r.level != "very_low":
                continue  # no size words without a threshold (see the SoF comment)
            phrase = r.phrase or outcome_phrase(r.name)
            merged.setdefault((phrase, _verdict(r)), []).append((subject, r))
    out = []
    for (phrase, verdict), items in merged.items():
        by_subject: dict[str, list[SofRow]] = {}
        for subject, r in items:
            by_subject.setdefault(subject.text, []).append(r)
        who = [f"{name}{_windows(rows)}" for name, rows in by_subject.items()]
        plural = len(who) > 1 or is_plural(next(iter(by_subject)))
        if verdict[0] == "unclear":
            text = f"It is unclear whether {_join(who)} {_predicate(verdict, phrase, plural)}"
        else:
            text = f"{_join(who)} {_predicate(verdict, phrase, plural)}"
        rows = [r for _, r in items]
        levels = sorted({WORDS[str(r.level)] for r in rows})
        evidence = f"{_join(levels)}-certainty evidence" if levels else "evidence"
        ids = tuple(r.analysis_id for r in rows if r.analysis_id)
        out.append(KeyMessage(kind, _sentence(f"{text} ({evidence})"), ids))  # type: ignore[arg-type]
    return out


def _not_estimable(groups: Sequence[tuple[Subject, Sequence[SofRow]]], kind: str
                   ) -> list[KeyMessage]:
    """Outcomes trials reported without an estimable effect (e.g. no one had an event)."""
    out = []
    for subject, rows in groups:
        for r in rows:
            if not r.not_estimable or r.kind != kind:
                continue
            what = r.phrase or outcome_phrase(r.name)
            k = "one study" if r.studies == 1 else f"{r.studies} studies"
            people = f" ({r.participants:,.0f} people)" if r.participants else ""
            tail = ("no one had this event in either group, so the effect could not be "
                    "estimated" if r.no_events else "the review reported them study by study "
                    "without pooling them" if r.not_pooled_by_review
                    else "the effect could not be estimated")
            out.append(KeyMessage(kind, _sentence(  # type: ignore[arg-type]
                f"For {subject.text}, {k} reported {what}{people}, but {tail}"),
                (r.analysis_id,) if r.analysis_id else ()))
    return out


def _research(groups: Sequence[tuple[Subject, Sequence[SofRow]]], not_measured: Sequence[str],
              empty_windows: Sequence[str]) -> list[KeyMessage]:
    """What research would change the conclusions: from the reasons for rating down and gaps."""
    rows = [r for _, rs in groups for r in rs if r.level is not None and not r.no_studies]
    needs, ids = [], []

    def rated(domain: str) -> list[SofRow]:
        return [r for r in rows if r.downgrades.get(domain, 0) > 0]

    if (rs := rated("imprecision")):
        needs.append("larger trials")
        ids += [r.analysis_id for r in rs]
    if (rs := rated("risk_of_bias")):
        needs.append("trials at low risk of bias")
        ids += [r.analysis_id for r in rs]
    if (rs := rated("inconsistency")):
        needs.append("trials that explain why results differ between studies")
        ids += [r.analysis_id for r in rs]
    if (rs := rated("indirectness")):
        needs.append("trials in the people and settings of the review question")
        ids += [r.analysis_id for r in rs]
    if empty_windows:
        needs.append(f"trials that follow people up for longer (no trial reported results in "
                     f"the {_join([w.lower() for w in empty_windows])})")
    if not_measured:
        needs.append(f"trials that measure {_join([outcome_phrase(o) for o in not_measured])}")
    if not needs:
        return []
    out = [KeyMessage("research", _sentence(f"We need {_join(needs)}"),
                      tuple(dict.fromkeys(i for i in ids if i)))]
    provisional = [r for r in rows if "risk_of_bias" in r.provisional]
    if provisional:
        out.append(KeyMessage("research", "The risk of bias of the studies has not been fully "
                              "assessed, so these certainty ratings are provisional.",
                              tuple(dict.fromkeys(r.analysis_id for r in provisional
                                                  if r.analysis_id))))
    return out


def key_messages(groups: Sequence[tuple[Subject, Sequence[SofRow]]],
                 not_measured: Sequence[str] = (), gaps: Sequence[str] = (),
                 empty_windows: Sequence[str] = ()) -> tuple[KeyMessage, ...]:
    """The key messages of a review from each comparison's main SoF rows.

    ``groups``: (subject, main rows) per comparison; ``not_measured``: outcomes of the question
    no trial reported; ``gaps``: further sentences from the evidence inventory (e.g. "No ketamine
    trial reported depressive symptoms."); ``empty_windows``: time windows of the question in
    which no trial reported any outcome.
    """
    out = [*_statements(groups, "benefit"), *_not_estimable(groups, "benefit"),
           *_statements(groups, "harm"), *_not_estimable(groups, "harm")]
    out += [KeyMessage("not_measured", _sentence(f"No trial measured {outcome_phrase(o)}"))
            for o in not_measured]
    out += [KeyMessage("not_measured", _sentence(g)) for g in gaps]
    out += _research(groups, not_measured, empty_windows)
    return tuple(out)
