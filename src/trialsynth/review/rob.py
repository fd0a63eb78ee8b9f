"""Risk of bias: RoB 2 and RoB 1 in one place, RevMan Web readers, and one scale for GRADE.

The judgements are review data (what the review's authors judged, as the file states them):
the readers build these objects, GRADE's risk-of-bias domain (:mod:`trialsynth.assess`) reads
them.

The algorithms live in :mod:`trialsynth.review.rob2` (Sterne 2019) and
:mod:`trialsynth.review.rob1` (Higgins 2011); this module re-exports their public names, reads
the risk-of-bias columns of RevMan Web exports, and maps both tools onto the three-level scale
that the GRADE risk-of-bias domain uses (:func:`grade_rob_level`).

RevMan Web wording: RoB 2 "Low risk" / "Some concerns" / "High risk"; RoB 1 "Low risk" /
"Unclear risk" / "High risk" (and "Not applicable"). Empty cells (or R's ``NA``) mean "not
assessed". Every bad value is a :class:`~trialsynth.errors.DataError` naming the column and row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from trialsynth.errors import DataError
from trialsynth.review import rob1, rob2
from trialsynth.review.rob1 import (
    ROB1_DOMAINS,
    ROB1_JUDGEMENTS,
    ROB1_KEY_DOMAINS,
    Rob1Assessment,
    Rob1Domain,
    assess_rob1,
    normalise_rob1_judgement,
    rob1_domain_key,
    rob1_summary,
)
from trialsynth.review.rob2 import (
    EFFECTS,
    OVERALL_COLUMNS,
    ROB2_DOMAINS,
    ROB2_JUDGEMENTS,
    SIGNALLING_QUESTIONS,
    DomainJudgement,
    Rob2Assessment,
    assess_domain,
    assess_rob2,
    judge_d1,
    judge_d2_adhering,
    judge_d2_assignment,
    judge_d3,
    judge_d4,
    judge_d5,
    judge_domain,
    normalise_response,
    normalise_rob2_judgement,
    overall_judgement,
    rob2_overall,
    worst,
)

__all__ = [
    "EFFECTS", "GRADE_ROB_LEVELS", "OVERALL_COLUMNS", "ROB1_DOMAINS", "ROB1_JUDGEMENTS", "ROB1_KEY_DOMAINS",
    "ROB2_DOMAINS", "ROB2_JUDGEMENTS", "SIGNALLING_QUESTIONS", "DomainJudgement", "Rob1Assessment",
    "Rob1Domain", "Rob2Assessment", "assess_domain", "assess_rob1", "assess_rob2", "assessment_grade_level",
    "cell_text", "from_revman_web_row", "from_revman_web_table", "grade_rob_level", "judge_d1",
    "judge_d2_adhering", "judge_d2_assignment", "judge_d3", "judge_d4", "judge_d5", "judge_domain",
    "normalise_response", "normalise_rob1_judgement", "normalise_rob2_judgement", "overall_judgement",
    "rob1_domain_key", "rob1_from_revman_web_row", "rob1_from_revman_web_table", "rob1_summary",
    "rob2_overall", "worst",
]

# ---------------------------------------------------------------------------------------------
# One scale for GRADE
# ---------------------------------------------------------------------------------------------
GRADE_ROB_LEVELS = ("low", "some_concerns", "high")
_TO_GRADE = {  # (tool judgement) -> GRADE risk-of-bias level; see grade_rob_level
    rob2.LOW: "low", rob2.SOME_CONCERNS: "some_concerns", rob2.HIGH: "high",
    rob1.UNCLEAR: "some_concerns",  # RoB 1 middle category (Handbook 5.1 Table 8.7.a)
}


def grade_rob_level(judgement: str) -> str:
    """Map a RoB 2 or RoB 1 judgement onto one three-level scale: low / some_concerns / high.

    Rule: RoB 2 ``low``, ``some_concerns``, ``high`` map to themselves; RoB 1 ``low`` -> ``low``,
    ``unclear`` -> ``some_concerns``, ``high`` -> ``high``. Both tools have three ordered levels
    and the middle ones mean the same thing: Handbook 5.1 Table 8.7.a reads unclear risk as
    "plausible bias that raises some doubt about the results" (low: "unlikely to seriously alter
    the results"; high: "seriously weakens confidence in the results"), and RoB 2's "some
    concerns" is its middle level (Sterne 2019, BMJ 366:l4898, Table 3 / overall criteria).
    This is a project mapping [K], not a rule of either tool. How "some concerns" then counts in
    GRADE's low/high split (Core GRADE 4) is a separate, declared choice (METHODS.md §4.2).

    RevMan wording ("Unclear risk", "Some concerns", ...) is accepted. "Not applicable" is an error.
    """
    try:
        level = normalise_rob2_judgement(judgement, field="judgement")
    except DataError:
        level = normalise_rob1_judgement(judgement, field="judgement")
    if level not in _TO_GRADE:
        raise DataError(f"{judgement!r} has no risk-of-bias level for GRADE", field="judgement")
    return _TO_GRADE[level]


def assessment_grade_level(assessment: Rob2Assessment | Rob1Assessment) -> str | None:
    """The GRADE level of a study's result: final RoB 2 overall, or RoB 1 summary; ``None`` if unknown."""
    level = assessment.judgement if isinstance(assessment, Rob2Assessment) else assessment.summary
    return None if level is None else grade_rob_level(level)


# ---------------------------------------------------------------------------------------------
# RevMan Web readers
# ---------------------------------------------------------------------------------------------
_MISSING_CELL = frozenset({"", "na", "nan", "none"})  # R's write.csv writes NA or ""


def cell_text(row: Mapping[str, Any], column: str) -> str | None:
    """A cell as stripped text; None when the column is absent or the cell is empty, NA or NaN."""
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return None if text.lower() in _MISSING_CELL else text


def _judged(row: Mapping[str, Any], column: str, parse: Any, where: dict[str, Any]) -> str | None:
    """Parse one judgement cell; a bad value is a DataError naming this column."""
    text = cell_text(row, column)
    if text is None or (parse is normalise_rob2_judgement and text.lower() == "not applicable"):
        return None
    try:
        return parse(text, field=column)
    except DataError as err:
        raise DataError(err.reason, field=column, **where) from None


def _revman_outcome(row: Mapping[str, Any]) -> str | None:
    name = cell_text(row, "Analysis.name")
    group, number = cell_text(row, "Analysis.group"), cell_text(row, "Analysis.number")
    return name if name is None or group is None or number is None else f"{group}.{number} {name}"


def from_revman_web_row(row: Mapping[str, Any], *, outcome: str | None = None, effect: str = "assignment",
                        some_concerns_to_high: int | None = None, row_number: int | None = None,
                        file: str | None = None) -> Rob2Assessment:
    """Read the RoB 2 columns of one RevMan Web "data rows" row (a dict or a pandas Series).

    Domains come from ``<stem>..judgement.`` and ``<stem>..support.`` (stems in
    :data:`ROB2_DOMAINS`, e.g. ``Bias.arising.from.the.randomization.process..judgement.``); an
    empty cell means the domain was not assessed. ``Overall.bias..judgement.``, when filled, is the
    review authors' word: where it differs from RoB 2's overall of the five domains it is kept as an
    override whose rationale is ``Overall.bias..support.``. The outcome defaults to
    ``"<Analysis.group>.<Analysis.number> <Analysis.name>"``.
    """
    where = {"file": file, "row": row_number}
    study = cell_text(row, "Study")
    if study is None:
        raise DataError("a study name is needed", field="Study", **where)
    outcome = outcome if outcome is not None else _revman_outcome(row)
    if outcome is None:
        raise DataError("an outcome (analysis) name is needed", field="Analysis.name", **where)
    domains = {}
    for key, (_, stem) in ROB2_DOMAINS.items():
        level = _judged(row, f"{stem}..judgement.", normalise_rob2_judgement, where)
        if level is not None:
            support = cell_text(row, f"{stem}..support.") or ""
            domains[key] = DomainJudgement(key, level, level, "stated", support=support)
    stated = _judged(row, OVERALL_COLUMNS[0], normalise_rob2_judgement, where)
    support = cell_text(row, OVERALL_COLUMNS[1]) or ""
    why = support or f"overall judgement stated by the review authors (column '{OVERALL_COLUMNS[0]}')"
    try:
        overall = overall_judgement(domains, some_concerns_to_high=some_concerns_to_high, final=stated,
                                    rationale=why, support=support)
    except DataError:
        # real RevMan files state overall judgements better than their worst domain (19 of the 501
        # Pairwise70 reviews): RoB 2 forbids that, so the worst domain is used and the stated word
        # is kept in the support text rather than rejecting the whole review
        note = (f"RevMan file states overall '{stated}', better than the worst domain; RoB 2's "
                f"overall from the domains is used. {support}").strip()
        overall = overall_judgement(domains, some_concerns_to_high=some_concerns_to_high,
                                    support=note)
    if overall is not None and overall.basis == "stated":
        overall = replace(overall, override_rationale=None)  # nothing to override: stated as is
    return Rob2Assessment(study, outcome, domains, overall, effect, some_concerns_to_high)


def from_revman_web_table(frame: Any, *, file: str | None = None, effect: str = "assignment",
                          some_concerns_to_high: int | None = None) -> tuple[Rob2Assessment, ...]:
    """:func:`from_revman_web_row` over a pandas DataFrame; rows numbered as a spreadsheet shows
    them (header = row 1)."""
    return tuple(from_revman_web_row(r, effect=effect, some_concerns_to_high=some_concerns_to_high,
                                     row_number=i + 2, file=file)
                 for i, (_, r) in enumerate(frame.iterrows()))


_ROB1_JUDGEMENT_COLUMN = re.compile(r"^Domain \(judgement\):\s*(?P<name>.+)$")


def rob1_from_revman_web_row(row: Mapping[str, Any], *, key_domains: Iterable[str] = ROB1_KEY_DOMAINS,
                             row_number: int | None = None, file: str | None = None) -> Rob1Assessment:
    """Read one row of a RevMan Web ``*-risk-of-bias.csv`` (study data) for RoB 1.

    Columns: ``Study``, ``Domain (judgement): <domain>`` and ``Domain (support): <domain>``;
    domain names such as "Allocation concealment?" or "Random sequence generation (selection
    bias)" map to :data:`ROB1_DOMAINS` keys (others are kept as review-specific domains).
    """
    where = {"file": file, "row": row_number}
    study = cell_text(row, "Study") or cell_text(row, "\ufeffStudy")
    if study is None:
        raise DataError("a study name is needed", field="Study", **where)
    domains: dict[str, Rob1Domain] = {}
    for column in row.keys():
        match = _ROB1_JUDGEMENT_COLUMN.match(str(column))
        if match is None:
            continue
        level = _judged(row, str(column), normalise_rob1_judgement, where)
        if level is None:
            continue
        name = match["name"].strip()
        key = rob1_domain_key(name)
        if key in domains:
            raise DataError(f"domain {key!r} appears in two columns", field=str(column), **where)
        support = cell_text(row, f"Domain (support): {name}") or ""
        domains[key] = Rob1Domain(key, level, support, label=name)
    try:
        return Rob1Assessment(study, domains, tuple(key_domains))
    except DataError as err:
        raise DataError(err.reason, field=err.field, **where) from None


def rob1_from_revman_web_table(frame: Any, *, key_domains: Iterable[str] = ROB1_KEY_DOMAINS,
                               file: str | None = None) -> tuple[Rob1Assessment, ...]:
    """:func:`rob1_from_revman_web_row` over a pandas DataFrame (header = row 1)."""
    keys = tuple(key_domains)
    return tuple(rob1_from_revman_web_row(r, key_domains=keys, row_number=i + 2, file=file)
                 for i, (_, r) in enumerate(frame.iterrows()))
