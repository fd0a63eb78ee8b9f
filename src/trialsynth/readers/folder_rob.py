"""``risk_of_bias.csv`` of a review folder: flat records in, RoB 2 / RoB 1 assessments out.

One row per study x result x domain. ``result`` is an analysis id (RoB 2 is applied per result,
Sterne 2019); empty means every result of the study, unless a row for that result and domain
exists (RevMan's randomisation judgements are study level). Columns:

``study, result, tool`` (``rob2`` / ``rob1``); ``domain`` (RoB 2: ``D1``..``D5``, ``overall``;
RoB 1: the keys of :data:`~trialsynth.review.rob1.ROB1_DOMAINS`, else a review's own domain
name kept verbatim (it takes no part in the summary), and ``overall`` for a stated summary);
``judgement`` (as assessed or stated by the review); ``support`` (quote or comment, kept
verbatim); ``answers`` (RoB 2 signalling questions, ``1.1=Y; 1.2=PY``: the judgement then comes
from the algorithm); ``direction`` (RoB 2 predicted direction of bias); ``override`` (the
reviewer's final judgement) and ``rationale`` (required with an override).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trialsynth.errors import DataError
from trialsynth.review import rob1, rob2
from trialsynth.review.rob1 import Rob1Assessment, Rob1Domain
from trialsynth.review.rob2 import (
    DIRECTIONS,
    ROB2_DOMAINS,
    DomainJudgement,
    Rob2Assessment,
    judge_domain,
    normalise_response,
    overall_judgement,
)

if TYPE_CHECKING:
    from trialsynth.readers.records import Table

ROB_COLUMNS = ("study", "result", "tool", "domain", "judgement", "support", "answers", "direction",
               "override", "rationale")
TOOLS = ("rob2", "rob1")
OVERALL = "overall"
NOT_APPLICABLE = "not_applicable"
STATED = "overall judgement stated by the review authors"
_ROB2_ORDER = (*ROB2_DOMAINS, OVERALL)
_ROB1_ORDER = (*rob1.ROB1_DOMAINS, OVERALL)


@dataclass(frozen=True, slots=True)
class RobRecord:
    """One row of ``risk_of_bias.csv`` (judgements in trialsynth's codes: ``low``,
    ``some_concerns``, ``high``; RoB 1 ``low``, ``unclear``, ``high``, ``not_applicable``)."""

    study: str
    result: str | None
    tool: str
    domain: str
    judgement: str | None = None
    support: str = ""
    answers: str = ""
    direction: str | None = None
    override: str | None = None
    rationale: str | None = None
    row: int | None = field(default=None, compare=False)

    def cells(self) -> list[str]:
        return [self.study, self.result or "", self.tool, self.domain, self.judgement or "",
                self.support, self.answers, self.direction or "", self.override or "",
                self.rationale or ""]


@dataclass(frozen=True, slots=True)
class RobResult:
    """The assessment of one study's result (or of the study, ``result`` None) and its final
    overall judgement (RoB 2 overall, or RoB 1 stated summary, else computed summary)."""

    tool: str
    assessment: Rob2Assessment | Rob1Assessment
    overall: str | None
    note: str | None = None  # how a stated judgement that RoB 2 cannot take was read


def rob_sort_key(r: RobRecord) -> tuple[Any, ...]:
    res = (0, 0) if r.result is None else tuple(int(x) for x in r.result.split("."))
    order = _ROB2_ORDER if r.tool == "rob2" else _ROB1_ORDER
    dom = (order.index(r.domain), "") if r.domain in order else (len(rob1.ROB1_DOMAINS), r.domain)
    if r.domain == OVERALL:
        dom = (len(order) + 1, "")
    return r.study.casefold(), r.study, res, TOOLS.index(r.tool), dom


def parse_answers(text: str, *, file: str | None = None, row: int | None = None) -> dict[str, str]:
    """``"1.1=Y; 1.2=PY"`` -> ``{"1.1": "Y", "1.2": "PY"}``."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in re.split(r"[;\n]", text))):
        q, sep, a = part.partition("=")
        if not sep or not q.strip():
            raise DataError(f"write answers as 'question=response; ...', not {part!r}",
                            file=file, row=row, field="answers")
        if q.strip() in out:
            raise DataError(f"question {q.strip()} is answered twice", file=file, row=row,
                            field="answers")
        out[q.strip()] = normalise_response(a, field="answers")
    return out


def _norm(tool: str, value: str, file: str, row: int, col: str) -> str:
    # RevMan Web allows "Not applicable"; RoB 2 has no such judgement: read as not assessed
    if tool == "rob2" and col.rstrip(".").endswith("judgement") and \
            re.sub(r"[\s_]+", " ", value).strip().lower() == "not applicable":
        return NOT_APPLICABLE
    parse = rob2.normalise_rob2_judgement if tool == "rob2" else rob1.normalise_rob1_judgement
    try:
        return parse(value, field=col)
    except DataError as err:
        raise DataError(err.reason, file=file, row=row, field=col) from None


def parse_rob_rows(table: Table, studies: Mapping[str, Any], analyses: Mapping[str, Any]
                   ) -> tuple[RobRecord, ...]:
    """Validate the rows of ``risk_of_bias.csv`` one by one (values, references, duplicates)."""
    out: list[RobRecord] = []
    seen: dict[tuple[str, str | None, str, str], int] = {}
    f = table.file
    for rec, n in zip(table.rows, table.numbers, strict=True):
        c = {col: rec.get(col, "").strip() for col in ROB_COLUMNS}
        study, result, tool, domain = rec["study"], c["result"] or None, c["tool"], c["domain"]
        if study not in studies:
            raise DataError(f"study {study!r} is not in studies.csv", file=f, row=n, field="study")
        if result is not None and result not in analyses:
            raise DataError(f"result {result!r} is not an analysis id of review.yaml", file=f,
                            row=n, field="result")
        if tool not in TOOLS:
            raise DataError(f"tool must be rob2 or rob1, not {tool!r}", file=f, row=n,
                            field="tool")
        if tool == "rob2" and domain not in _ROB2_ORDER:
            raise DataError(f"RoB 2 domain must be one of {', '.join(_ROB2_ORDER)}, not "
                            f"{domain!r}", file=f, row=n, field="domain")
        if tool == "rob1":
            if not domain:
                raise DataError("domain is empty", file=f, row=n, field="domain")
        key = (study, result, tool, domain)
        if key in seen:
            raise DataError(f"a second row for {study} / {result or 'all results'} / {tool} "
                            f"{domain} (first in row {seen[key]})", file=f, row=n, field="domain")
        seen[key] = n
        judgement = _norm(tool, c["judgement"], f, n, "judgement") if c["judgement"] else None
        override = _norm(tool, c["override"], f, n, "override") if c["override"] else None
        rationale = c["rationale"] or None
        if override is not None and rationale is None:
            raise DataError("an override needs a rationale", file=f, row=n, field="rationale")
        if override is None and rationale is not None:
            raise DataError("a rationale is given but no override", file=f, row=n,
                            field="override")
        answers = c["answers"]
        if answers and (tool != "rob2" or domain == OVERALL):
            raise DataError("signalling answers belong to RoB 2 domains D1-D5", file=f, row=n,
                            field="answers")
        if answers:
            try:
                parse_answers(answers, file=f, row=n)
            except DataError as err:
                raise DataError(err.reason, file=f, row=n, field="answers") from None
        if judgement == NOT_APPLICABLE and (override or answers):
            raise DataError("'not applicable' marks a RoB 2 judgement as not made; it takes no "
                            "override or answers", file=f, row=n, field="judgement")
        if judgement is None and not answers and (domain != OVERALL or override is None):
            raise DataError("give a judgement (or signalling answers)", file=f, row=n,
                            field="judgement")
        direction = c["direction"] or None
        if direction is not None and (tool != "rob2" or direction not in DIRECTIONS):
            raise DataError(f"direction (RoB 2 only) must be one of {', '.join(DIRECTIONS)}",
                            file=f, row=n, field="direction")
        out.append(RobRecord(study, result, tool, domain, judgement, rec.get("support", ""),
                             answers, direction, override, rationale, row=n))
    return tuple(out)


def _domain(r: RobRecord, file: str) -> DomainJudgement:
    try:
        if r.answers:
            answers = parse_answers(r.answers)
            proposed = judge_domain(r.domain, answers)
            if r.judgement is not None and r.judgement != proposed:
                raise DataError(f"the signalling answers give {proposed!r}, not {r.judgement!r}; "
                                "leave judgement empty and put a different final judgement in "
                                "'override' with a rationale", field="judgement")
            return DomainJudgement(r.domain, proposed, r.override or proposed, "algorithm",
                                   answers, r.support, r.rationale if r.override else None,
                                   r.direction)
        stated = r.judgement or ""
        return DomainJudgement(r.domain, stated, r.override or stated, "stated",
                               support=r.support, override_rationale=r.rationale,
                               direction=r.direction)
    except DataError as err:
        raise DataError(err.reason, file=file, row=r.row, field=_field(err.field)) from None


def _field(name: str | None) -> str:
    return name if name in ROB_COLUMNS else "answers" if name and "." in name else "judgement"


def _rob2(study: str, result: str | None, rows: Sequence[RobRecord], file: str) -> RobResult:
    domains = {r.domain: _domain(r, file) for r in rows
               if r.domain != OVERALL and r.judgement != NOT_APPLICABLE}
    stated = next((r for r in rows if r.domain == OVERALL and r.judgement != NOT_APPLICABLE), None)
    note = None
    try:
        if stated is None:
            overall = overall_judgement(domains)
        elif stated.override is None and domains and stated.judgement is not None and \
                rob2.SEVERITY[stated.judgement] < rob2.SEVERITY[worst_final := rob2.worst(
                    d.final for d in domains.values())]:
            # the review's stated overall is better than a domain: RoB 2 does not allow that
            note = (f"{file}, row {stated.row}: the review states overall {stated.judgement!r} for "
                    f"{study} / {result or 'all results'}, better than its worst domain "
                    f"({worst_final}); RoB 2 makes the overall at least the worst domain, so "
                    f"{worst_final!r} is used")
            overall = overall_judgement(domains, final=worst_final, rationale=note,
                                        support=stated.support)
        else:
            why = stated.rationale if stated.override else (stated.support or STATED)
            overall = overall_judgement(domains, final=stated.override or stated.judgement,
                                        rationale=why, support=stated.support)
        assessment = Rob2Assessment(study, result or "(all results)", domains, overall)
    except DataError as err:
        row = stated.row if stated is not None else rows[0].row
        raise DataError(err.reason, file=file, row=row,
                        field="override" if stated and stated.override else "judgement") from None
    return RobResult("rob2", assessment, assessment.judgement, note)


def _rob1(study: str, result: str | None, rows: Sequence[RobRecord], file: str) -> RobResult:
    domains = {}
    for r in rows:
        if r.domain == OVERALL:
            continue
        try:
            domains[r.domain] = Rob1Domain(r.domain, r.override or r.judgement or "", r.support)
        except DataError as err:
            raise DataError(err.reason, file=file, row=r.row, field="judgement") from None
    stated = next((r for r in rows if r.domain == OVERALL), None)
    try:
        assessment = Rob1Assessment(study, domains, outcome=result)
    except DataError as err:
        raise DataError(err.reason, file=file, row=rows[0].row, field="domain") from None
    overall = (stated.override or stated.judgement) if stated is not None else assessment.summary
    return RobResult("rob1", assessment, overall)


def assemble_rob(records: Sequence[RobRecord], study_results: Mapping[str, set[str]], file: str
                 ) -> dict[tuple[str, str | None], RobResult]:
    """Assessments keyed by (study, analysis id), plus (study, None) for a study assessed only at
    study level; a result-level row replaces the study-level row of its domain."""
    groups: dict[tuple[str, str], dict[str | None, list[RobRecord]]] = {}
    for r in records:
        groups.setdefault((r.study, r.tool), {}).setdefault(r.result, []).append(r)
    out: dict[tuple[str, str | None], RobResult] = {}
    owner: dict[tuple[str, str | None], RobRecord] = {}
    for (study, tool), by_result in groups.items():
        has_data = study_results.get(study, set())
        for result, rows in by_result.items():
            if result is not None and result not in has_data:
                raise DataError(f"study {study!r} has no data in analysis {result}",
                                file=file, row=rows[0].row, field="result")
        level = {r.domain: r for r in by_result.get(None, [])}
        targets = {r for r in by_result if r is not None} | (has_data if level else set())
        keys: list[str | None] = [*sorted(targets)] or [None]
        for result in keys:
            merged = {**level, **{r.domain: r for r in by_result.get(result, [])}}
            rows = sorted(merged.values(), key=rob_sort_key)
            if (study, result) in out:
                raise DataError(f"study {study!r}, result {result or 'all'} is assessed with "
                                f"both RoB 2 and RoB 1 (see row {owner[study, result].row})",
                                file=file, row=rows[0].row, field="tool")
            build = _rob2 if tool == "rob2" else _rob1
            out[study, result] = build(study, result, rows, file)
            owner[study, result] = rows[0]
    return out


def overall_of(assessed: Mapping[tuple[str, str | None], RobResult], study: str,
               analysis_id: str) -> str | None:
    """The final overall judgement of ``study`` in ``analysis_id`` (result level first)."""
    hit = assessed.get((study, analysis_id)) or assessed.get((study, None))
    return None if hit is None else hit.overall


def records_from_revman_rows(rows: Sequence[Mapping[str, str]], analyses: Sequence[str], *,
                             file: str | None = None, rownums: Sequence[int] | None = None
                             ) -> tuple[RobRecord, ...]:
    """RoB 2 records from RevMan Web data rows (``Bias...judgement./support.`` columns).

    ``analyses[i]`` is the analysis id of ``rows[i]``. A domain with the same judgement and support
    in every result of a study becomes one study-level row (``result`` empty); the overall
    judgement, stated per result, stays per result. Judgements are normalised to trialsynth codes.
    """
    cols = {**{d: stem for d, (_, stem) in ROB2_DOMAINS.items()}, OVERALL: "Overall.bias"}
    per: dict[tuple[str, str, str], tuple[str, str]] = {}
    results: dict[str, set[str]] = {}
    for i, (rec, a_id) in enumerate(zip(rows, analyses, strict=True)):
        row = None if rownums is None else rownums[i]
        study = rec["Study"].strip()
        results.setdefault(study, set()).add(a_id)
        for dom, stem in cols.items():
            text = (rec.get(f"{stem}..judgement.") or "").strip()
            if not text or text.upper() in ("NA", "NAN"):
                continue
            col = f"{stem}..judgement."
            try:
                judged = _norm("rob2", text, "", 0, col)
            except DataError as err:
                raise DataError(err.reason, file=file, row=row, field=col) from None
            value = (judged, rec.get(f"{stem}..support.") or "")
            per.setdefault((study, a_id, dom), value)  # a study twice in one analysis: first row
    out: list[RobRecord] = []
    for study, mine in results.items():
        for dom in cols:
            vals = {a: per.get((study, a, dom)) for a in mine}
            given = {v for v in vals.values() if v is not None}
            if dom != OVERALL and len(given) == 1 and None not in vals.values():
                (j, s), = given
                out.append(RobRecord(study, None, "rob2", dom, j, s))
                continue
            out += [RobRecord(study, a, "rob2", dom, v[0], v[1])
                    for a, v in vals.items() if v is not None]
    return tuple(sorted(out, key=rob_sort_key))
