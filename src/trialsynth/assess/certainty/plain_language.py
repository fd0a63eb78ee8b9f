"""Plain-language summary per comparison, in Cochrane house style (a pure function of SoF rows).

Structure and wording follow *Guidance for writing a Cochrane Plain language summary* (Pitcher,
Mitchell & Hughes, v1, June 2021; METHODS §4.7): the headings "What did we find?", "What are the
limitations of the evidence?" and "How up to date is the evidence?"; key results in plain words
from certainty × size of effect ("probably" for moderate, "may" for low, "It is unclear
whether …" for very low certainty: :func:`trialsynth.assess.certainty.statements.plain_language_sentence`);
limitations from the GRADE domains that were rated down, in the guidance's everyday phrases
("We are not confident in the evidence because the studies were small"); and outcomes that no
study reported ("No studies reported opioid use.").

The confidence phrase follows the most common certainty level among the outcomes with data
(ties go to the lower level); that choice is a **project convention**, since the guidance
writes one limitations paragraph for a whole review.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trialsynth.assess.certainty.statements import lower_first, outcome_phrase, plain_language_sentence

if TYPE_CHECKING:  # only for the type of ``rows``; the kernel does not import the report
    from trialsynth.report.sof import SofRow

LEVEL_ORDER = ("very_low", "low", "moderate", "high")
# Cochrane PLS guidance (2021), limitations: one opening per certainty level
CONFIDENCE = {
    "high": "We are confident in the evidence.",
    "moderate": "We are moderately confident in the evidence",
    "low": "We have little confidence in the evidence",
    "very_low": "We are not confident in the evidence",
}
# Cochrane PLS guidance (2021), standard explanations by GRADE domain (plain words)
DOMAIN_PHRASES = {
    "risk_of_bias": ("people in the studies may have known which treatment they were getting, or "
                     "the studies were done in ways that could have introduced errors"),
    "inconsistency": "the results were very different across studies",
    "indirectness": ("the studies were done in people or settings different from those we were "
                     "interested in"),
    "imprecision": "the studies were small",
    "publication_bias": "some studies may not have been published",
}
FEW_STUDIES = "there were few studies"
NOT_ALL_DATA = "not all studies provided data about everything we were interested in"


@dataclass(frozen=True, slots=True)
class PlainLanguageSummary:
    """A comparison's plain-language summary: the paragraphs and the sentences they are made of."""

    comparison: str
    key_results: tuple[str, ...]
    no_studies: tuple[str, ...]
    what_did_we_find: str
    limitations: str
    up_to_date: str | None = None

    @property
    def text(self) -> str:
        """The summary as plain text with its Cochrane headings."""
        parts = [f"What did we find?\n{self.what_did_we_find}",
                 f"What are the limitations of the evidence?\n{self.limitations}"]
        if self.up_to_date:
            parts.append(f"How up to date is the evidence?\n{self.up_to_date}")
        return "\n\n".join(parts) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"comparison": self.comparison, "key_results": list(self.key_results),
                "no_studies": list(self.no_studies), "what_did_we_find": self.what_did_we_find,
                "limitations": self.limitations, "up_to_date": self.up_to_date, "text": self.text}


def _join(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sentence(text: str) -> str:
    text = text.rstrip(".")
    return text[:1].upper() + text[1:] + "."


def _when(time_window: str | None) -> str:
    """ "immediate-term" → "in the immediate term" ("" without a window)."""
    if not time_window:
        return ""
    tw = time_window.strip().lower().replace("-term", " term").removesuffix(" follow-up")
    return f"in the {tw}"


def _key_result(row: SofRow, intervention: str) -> str:
    """The row's PLS sentence, led by its time window ("In the short term, …").

    With an effect band: :func:`plain_language_sentence` (certainty × size × direction); very
    low without one: "It is unclear whether X makes a difference to Y"; otherwise a sentence
    that names the certainty without words for the size of the effect.
    """
    phrase = row.phrase or outcome_phrase(row.name)
    if row.level is not None and row.band and row.direction:
        text = plain_language_sentence(intervention, phrase, row.level,  # type: ignore[arg-type]
                                       row.band, row.direction,  # type: ignore[arg-type]
                                       effect=row.effect or None)  # type: ignore[arg-type]
    elif row.level in (None, "very_low"):
        text = _sentence(f"It is unclear whether {intervention} makes a difference to {phrase}")
    else:  # certainty known but no effect band (e.g. an MD without an MID): no size words
        text = _sentence(f"We found {row.level.replace('_', ' ')}-certainty evidence about the "
                         f"effect of {intervention} on {phrase}, but no threshold was set to judge "
                         "how large the effect is")
    when = _when(row.time_window)
    return _sentence(f"{when}, {lower_first(text)}") if when else text


def _people(n: float | None) -> str:
    return "" if not n else f" ({n:,.0f} people)"


def plain_language_summary(comparison: str, rows: Sequence[SofRow], *,
                           missing_outcomes: Sequence[str] = (), intervention: str | None = None,
                           comparator: str | None = None, search_date: str | None = None
                           ) -> PlainLanguageSummary:
    """Cochrane PLS paragraphs for one comparison from its summary-of-findings rows.

    ``rows``: :class:`~trialsynth.report.sof.SofRow` objects (rows with ``no_studies`` become
    "No studies reported …" sentences, as do ``missing_outcomes`` names). ``intervention`` /
    ``comparator`` default to the two sides of "X versus Y" in ``comparison``.
    ``search_date`` (e.g. "March 2024") fills "How up to date is the evidence?".
    """
    x, _, y = comparison.partition(" versus ")
    x = lower_first(intervention or x.strip() or "the intervention")
    y = comparator or y.strip() or "the comparator"
    data = [r for r in rows if not r.no_studies and r.level is not None]
    none = [_named(r) for r in rows if r.no_studies]
    none += [outcome_phrase(m) for m in missing_outcomes]
    none = list(dict.fromkeys(none))
    no_studies = tuple(_sentence(f"No studies reported {p}") for p in none)
    results = tuple(s for s in (_key_result(r, x) for r in data) if s)
    results += tuple(_not_estimable(r) for r in rows if r.not_estimable)
    if data:
        # one outcome's studies and people, never the most studies of one beside the most
        # people of another
        big = max(data, key=lambda r: (r.studies, r.participants or 0))
        k, n = big.studies, big.participants
        m = len({r.name for r in data})
        intro = (f"We found evidence comparing {x} with {y} for {m} "
                 f"outcome{'s' if m != 1 else ''}; the largest body of evidence for one "
                 f"outcome ({_named(big)}) came from {k} {'study' if k == 1 else 'studies'}"
                 f"{_people(n)}.")
    elif any(r.not_estimable for r in rows):
        intro = f"We found studies comparing {x} with {y}, but none gave an estimable effect."
    else:
        intro = f"We found no studies that reported the outcomes we were interested in for {x} " \
                f"compared with {y}."
    find = " ".join((intro, *results, *no_studies))
    limitations = _limitations(data, bool(none))
    up = (f"The evidence is up to date to {search_date}." if search_date else None)
    return PlainLanguageSummary(comparison=comparison, key_results=results, no_studies=no_studies,
                                what_did_we_find=find, limitations=limitations, up_to_date=up)


def _named(row: SofRow) -> str:
    """The row's outcome as the summary names it, with its time window ("pain in the short
    term")."""
    return " ".join(t for t in (row.phrase or outcome_phrase(row.name), _when(row.time_window)) if t)


def _not_estimable(row: SofRow) -> str:
    """An outcome trials reported without an estimable effect (e.g. no events at all)."""
    what = _named(row)
    studies = "one study" if row.studies == 1 else f"{row.studies} studies"
    if row.no_events:
        return _sentence(f"In the {studies} that reported {what}"
                         f"{_people(row.participants or 0)}, no one had this event in either "
                         f"group, so the effect could not be estimated")
    return _sentence(f"The effect on {what} could not be estimated from the {studies} that "
                     f"reported it")


def _limitations(data: Sequence[SofRow], missing: bool) -> str:
    """The limitations paragraph from the downgraded domains (Cochrane PLS guidance 2021)."""
    if not data:
        return "There is no evidence to assess."
    counts = Counter(r.level for r in data)
    top = max(counts.values())  # the most common level; ties → the lower level (convention)
    level = next(lv for lv in LEVEL_ORDER if counts.get(lv) == top)
    reasons: list[str] = []
    for domain, phrase in DOMAIN_PHRASES.items():
        if any(r.downgrades.get(domain, 0) > 0 for r in data):
            reasons.append(phrase)
    if any(r.downgrades.get("imprecision", 0) > 0 for r in data) and \
            all(r.studies <= 2 for r in data):
        reasons.append(FEW_STUDIES)
    if missing or len({r.studies for r in data}) > 1:  # outcomes reported by fewer studies
        reasons.append(NOT_ALL_DATA)
    if level == "high" and not reasons:
        return CONFIDENCE["high"]
    opening = CONFIDENCE[level].rstrip(".")
    if not reasons:
        return opening + "."
    return f"{opening} because {_join(reasons)}."
