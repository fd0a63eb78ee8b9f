"""The evidence inventory of a review: what the trials reported, set against what the review asked.

Per comparison × outcome × time window: the number of studies and participants with usable data,
including the outcomes of the review question that no study reported (zero cells are kept, not
dropped). From the same cells come the *findings*: "No trial reported opioid consumption" when no
study of any comparison reported an outcome of the question, and "No ketamine trial reported
depressive symptoms" when studies of other drugs did but none of this drug's. A finding is only
ever derived from the question (its outcomes and the drug of each comparison's intervention) and
the data; nothing here is typed in as a result.

Pure: takes the protocol and per-analysis records, returns frozen objects with ``to_dict()``.
Cochrane Handbook v6.4 ch. 14.1.4 (outcomes with no data still belong in the summary) and
MECIR C18/C78 (report outcomes for which no data were found) are the reason the empty cells stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialsynth.review.protocol import Protocol


@dataclass(frozen=True, slots=True)
class AnalysisRecord:
    """What one analysis contributes: its comparison, outcome, window and the studies with data.

    ``participants`` maps study -> participants in that analysis (None where a generic
    inverse-variance row carries no N)."""

    analysis: str
    comparison: str
    outcome: str | None
    window: str | None
    participants: Mapping[str, float | None]
    subgroup_analysis: bool = False
    estimable: bool = True  # False: reported, but no effect could be pooled (e.g. no events)


@dataclass(frozen=True, slots=True)
class InventoryCell:
    comparison: str
    comparison_name: str
    drug: str | None
    outcome: str
    outcome_name: str
    window: str | None
    window_name: str | None
    studies: tuple[str, ...]
    participants: float | None
    analyses: tuple[str, ...]
    estimable: tuple[str, ...] = ()  # the analyses with a pooled estimate

    @property
    def k(self) -> int:
        return len(self.studies)

    @property
    def status(self) -> str:
        """``no_studies``; ``not_estimable`` (studies, but no analysis with a pooled estimate:
        e.g. no events in either group); ``pooled``."""
        if not self.studies:
            return "no_studies"
        return "pooled" if self.estimable else "not_estimable"

    def to_dict(self) -> dict[str, Any]:
        return {"comparison": self.comparison, "comparison_name": self.comparison_name,
                "drug": self.drug, "outcome": self.outcome, "outcome_name": self.outcome_name,
                "window": self.window, "window_name": self.window_name, "k": self.k,
                "participants": self.participants, "studies": list(self.studies),
                "analyses": list(self.analyses), "status": self.status,
                "estimable_analyses": list(self.estimable)}


@dataclass(frozen=True, slots=True)
class Finding:
    """A gap the data show: ``scope`` "all" (no trial at all) or "drug" (no trial of ``drug``)."""

    text: str
    scope: str
    outcome: str
    drug: str | None
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "scope": self.scope, "outcome": self.outcome,
                "drug": self.drug, "basis": self.basis}


@dataclass(frozen=True, slots=True)
class EvidenceInventory:
    cells: tuple[InventoryCell, ...]
    findings: tuple[Finding, ...]
    outcomes_asked: tuple[str, ...]
    outcomes_reported: tuple[str, ...]
    by_drug: dict[str, dict[str, int]] = field(default_factory=dict)  # drug -> outcome -> k
    outcome_cells: tuple[InventoryCell, ...] = ()  # comparison × outcome, every window together

    def to_dict(self) -> dict[str, Any]:
        return {"cells": [c.to_dict() for c in self.cells],
                "outcome_cells": [c.to_dict() for c in self.outcome_cells],
                "findings": [f.to_dict() for f in self.findings],
                "outcomes_asked": list(self.outcomes_asked),
                "outcomes_reported": list(self.outcomes_reported),
                "studies_by_drug_and_outcome": {d: dict(o) for d, o in self.by_drug.items()}}


def _lower_first(text: str) -> str:
    """"Opioid consumption" -> "opioid consumption"; acronyms ("HRQoL") are kept."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _union_participants(records: Iterable[AnalysisRecord]) -> tuple[tuple[str, ...], float | None]:
    """Distinct studies over several analyses, and their participants (per study the largest N
    any of the analyses reports, so that a study in two analyses of a cell counts once)."""
    best: dict[str, float | None] = {}
    for r in records:
        for study, n in r.participants.items():
            old = best.get(study)
            best[study] = n if old is None else (old if n is None else max(old, n))
    total = None if not best or any(v is None for v in best.values()) else float(sum(best.values()))
    return tuple(sorted(best, key=str.casefold)), total


def evidence_inventory(protocol: Protocol, records: Sequence[AnalysisRecord]) -> EvidenceInventory:
    """The inventory of ``records`` against the question of ``protocol`` (see the module text).

    Rows: every comparison of the protocol × every outcome of the question (plus outcomes the
    analyses use that the question does not list) × the time windows that outcome is analysed in
    (no window when it never is). Headline findings are made for the outcomes the question ranks
    (primary or secondary; all outcomes when none is ranked)."""
    q = protocol.question
    outcome_names = {o.id: o.name for o in q.outcomes}
    for r in records:
        if r.outcome is not None and r.outcome not in outcome_names:
            outcome_names[r.outcome] = r.outcome
    window_names = {w.id: w.name for w in q.time_windows}
    window_order = [w.id for w in q.time_windows]
    drug_of = {i.id: i.drug for i in q.interventions}
    comparisons = [(c.id, c.name, drug_of.get(c.intervention or "")) for c in protocol.comparisons]
    known = {c for c, _, _ in comparisons}
    comparisons += [(c, f"Comparison {c}", None) for c in dict.fromkeys(r.comparison for r in records)
                    if c not in known]
    by_cell: dict[tuple[str, str, str | None], list[AnalysisRecord]] = {}
    windows_of: dict[str, list[str | None]] = {}
    for r in records:
        if r.outcome is None:
            continue
        by_cell.setdefault((r.comparison, r.outcome, r.window), []).append(r)
        windows_of.setdefault(r.outcome, [])
        if r.window not in windows_of[r.outcome]:
            windows_of[r.outcome].append(r.window)
    for ws in windows_of.values():
        ws.sort(key=lambda w: (w is None, window_order.index(w) if w in window_order else 99,
                               str(w)))
    cells, outcome_cells = [], []
    for cid, cname, drug in comparisons:
        for oid, oname in outcome_names.items():
            every: list[AnalysisRecord] = []
            for w in windows_of.get(oid) or [None]:
                recs = by_cell.get((cid, oid, w), [])
                every += recs
                cells.append(_cell(cid, cname, drug, oid, oname, w,
                                   window_names.get(w, w) if w else None, recs))
            outcome_cells.append(_cell(cid, cname, drug, oid, oname, None, None, every))
    # studies per drug and outcome (all windows, all comparisons of the drug)
    studies_by: dict[tuple[str | None, str], set[str]] = {}
    for c in cells:
        studies_by.setdefault((c.drug, c.outcome), set()).update(c.studies)
        studies_by.setdefault(("*", c.outcome), set()).update(c.studies)
    drugs = list(dict.fromkeys(d for _, _, d in comparisons if d))
    ranked = [o.id for o in q.outcomes if o.priority] or [o.id for o in q.outcomes]
    findings: list[Finding] = []
    n_comp = len(comparisons)
    for oid in ranked:
        name = _lower_first(outcome_names[oid])
        if not studies_by.get(("*", oid)):
            findings.append(Finding(
                f"No trial reported {name}.", "all", oid, None,
                f"the review question lists '{outcome_names[oid]}'; none of the {n_comp} "
                "comparisons has a study with data for it"))
            continue
        for drug in drugs:
            if studies_by.get((drug, oid)):
                continue
            n_drug = sum(1 for _, _, d in comparisons if d == drug)
            others = sorted({d for d in drugs if studies_by.get((d, oid))})
            findings.append(Finding(
                f"No {drug} trial reported {name}.", "drug", oid, drug,
                f"the review question lists '{outcome_names[oid]}'; {n_drug} comparison(s) of "
                f"{drug} have no study with data for it, while trials of {', '.join(others)} do"))
    findings.sort(key=lambda f: f.scope != "all")  # gaps of the whole review first
    reported = tuple(o for o in outcome_names if studies_by.get(("*", o)))
    by_drug = {d: {o: len(studies_by.get((d, o), ())) for o in outcome_names} for d in drugs}
    return EvidenceInventory(tuple(cells), tuple(findings), tuple(outcome_names), reported, by_drug,
                             tuple(outcome_cells))


def _cell(cid: str, cname: str, drug: str | None, oid: str, oname: str, window: str | None,
          window_name: str | None, recs: Sequence[AnalysisRecord]) -> InventoryCell:
    """One cell from the analyses of a comparison × outcome (× window)."""
    studies, n = _union_participants(x for x in recs if x.participants)
    main = [x for x in recs if not x.subgroup_analysis] or list(recs)  # subgroups only if alone
    estimable = tuple(x.analysis for x in main if x.estimable and x.participants)
    return InventoryCell(cid, cname, drug, oid, oname, window, window_name, studies,
                         n if studies else 0.0, tuple(x.analysis for x in recs), estimable)
