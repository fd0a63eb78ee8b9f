"""The diff kernel: match the analyses of two runs and say which changed, and how (pure).

**Matching.** An analysis is identified across runs by its comparison and its name, not by its
"1.1" number, so inserting or renumbering analyses causes no false change. The comparison is
its name as the source states it, else its number (:attr:`AnalysisSummary.comparison_key`); the
analysis name carries outcome, time window and subgroup factor. Matching runs in two passes:
(stated comparison name or number, analysis name), then for what is left (comparison number,
analysis name), so one run from a source that names its comparisons and one from a source
that does not still match. Equal keys within a run pair in file order. An analysis whose name
changed is reported as removed plus added: a name is what the reader goes by.

**Precision.** Numbers are compared as the report prints them, so floating-point noise (or a
recomputation in another order) is never a change: estimates and intervals to 2 decimals on the
display scale, participants and I² as whole numbers, τ² to 4 significant digits, p to 3
decimals (below 0.001 as "< 0.001"), required information rounded up; study data to 6
significant digits (:data:`trialsynth.diff.summary.DATA_DIGITS`). Everything else (k, studies,
certainty, statement, the TSA's conclusion, the next-trial size) must be equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from trialsynth.diff.conclusions import Conclusion, conclusion_changes
from trialsynth.diff.summary import AnalysisSummary, ReviewSummary, norm
from trialsynth.report.numbers import fixed

Kind = Literal["changed", "added", "removed"]
Key = Callable[[AnalysisSummary], tuple[str, str]]


def _shown(x: float | None, decimals: int = 2) -> str | None:
    return None if x is None else fixed(x, decimals)


def _p(x: float | None) -> str | None:  # as the report prints a p-value
    return None if x is None else "< 0.001" if x < 0.001 else fixed(x, 3)


def _sig(x: float | None) -> str | None:
    return None if x is None else f"{x:.4g}"


def _ceil(x: float | None) -> int | None:
    return None if x is None else math.ceil(x)


# field name (as ``what`` names it) -> the value compared; one table, in the order reported
FIELDS: tuple[tuple[str, Callable[[AnalysisSummary], Any]], ...] = (
    ("status", lambda a: a.status),
    ("measure", lambda a: a.measure),
    ("method", lambda a: a.method),
    ("studies", lambda a: a.studies),
    ("k", lambda a: a.k),
    ("participants", lambda a: None if a.participants is None else round(a.participants)),
    ("estimate", lambda a: _shown(a.estimate)),
    ("ci_low", lambda a: _shown(a.ci_low)),
    ("ci_high", lambda a: _shown(a.ci_high)),
    ("pi_low", lambda a: _shown(a.pi_low)),
    ("pi_high", lambda a: _shown(a.pi_high)),
    ("pvalue", lambda a: _p(a.pvalue)),
    ("i2", lambda a: _shown(a.i2, 0)),
    ("tau2", lambda a: _sig(a.tau2)),
    ("subgroups", lambda a: tuple((s.name, s.k, _shown(s.estimate), _shown(s.ci_low),
                                   _shown(s.ci_high)) for s in a.subgroups)),
    ("mid", lambda a: (_shown(a.mid_low), _shown(a.mid_high))),
    ("certainty", lambda a: a.certainty),
    ("downgrades", lambda a: a.downgrades),
    ("statement", lambda a: None if a.statement is None else norm(a.statement)),
    ("tsa", lambda a: (a.tsa_verdict, a.tsa_crossed, a.ris_reached)),
    ("required_information", lambda a: _ceil(a.required)),
    ("next_trial", lambda a: a.next_trial_total),
)


@dataclass(frozen=True, slots=True)
class AnalysisChange:
    """One analysis that changed, was added or was removed."""

    kind: Kind
    before: AnalysisSummary | None
    after: AnalysisSummary | None
    what: tuple[str, ...]
    conclusions: tuple[Conclusion, ...]

    @property
    def current(self) -> AnalysisSummary:
        """The analysis as the newer run has it (the older one's when removed)."""
        found = self.after or self.before
        assert found is not None  # a change always has at least one side
        return found

    @property
    def conclusion_changed(self) -> bool:
        return bool(self.conclusions)

    def to_dict(self) -> dict[str, Any]:
        a, b = self.after, self.before
        names_b = set(b.studies) if b else set()
        names_a = set(a.studies) if a else set()
        return {
            "analysis": self.current.id, "name": self.current.name,
            "comparison": self.current.comparison_label, "kind": self.kind,
            "before": b.to_dict() if b else None, "after": a.to_dict() if a else None,
            "what": list(self.what), "conclusion_changed": self.conclusion_changed,
            "conclusions": [c.to_dict() for c in self.conclusions],
            "studies_added": sorted(names_a - names_b),
            "studies_removed": sorted(names_b - names_a),
            "renumbered_from": b.id if a and b and a.id != b.id else None,
        }


@dataclass(frozen=True, slots=True)
class ReviewDiff:
    """What changed from one run (``old``) to another (``new``)."""

    old: ReviewSummary
    new: ReviewSummary
    changes: tuple[AnalysisChange, ...]
    unchanged: int
    renumbered: tuple[tuple[str, str, str], ...]  # (old id, new id, name)
    studies_added: tuple[str, ...]
    studies_removed: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def conclusions_changed(self) -> int:
        return sum(c.conclusion_changed for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        """The object ``trialsynth diff --json`` prints."""
        return {
            "old": self.old.to_dict(), "new": self.new.to_dict(),
            "changed": [c.to_dict() for c in self.changes], "unchanged": self.unchanged,
            "studies_added": list(self.studies_added),
            "studies_removed": list(self.studies_removed),
            "conclusions_changed": self.conclusions_changed,
            "renumbered": [{"before": o, "after": n, "name": name}
                           for o, n, name in self.renumbered],
            "notes": list(self.notes),
        }


def _by_stated(a: AnalysisSummary) -> tuple[str, str]:
    return a.comparison_key, norm(a.name)


def _by_number(a: AnalysisSummary) -> tuple[str, str]:
    return f"#{a.comparison}", norm(a.name)


def match(old: Sequence[AnalysisSummary], new: Sequence[AnalysisSummary]
          ) -> tuple[dict[int, int], list[int], list[int]]:
    """Pairs (new index -> old index), then the unmatched new and old indices, in order."""
    pairs: dict[int, int] = {}
    left_old, left_new = list(range(len(old))), list(range(len(new)))
    for key in (_by_stated, _by_number):
        slots: dict[tuple[tuple[str, str], int], int] = {}
        seen: dict[tuple[str, str], int] = {}
        for i in left_old:  # equal keys pair in file order: n-th with n-th
            k = key(old[i])
            slots[k, seen.get(k, 0)] = i
            seen[k] = seen.get(k, 0) + 1
        seen.clear()
        for j in left_new:
            k = key(new[j])
            i = slots.pop((k, seen.get(k, 0)), None)
            seen[k] = seen.get(k, 0) + 1
            if i is not None:
                pairs[j] = i
        taken = set(pairs.values())
        left_old = [i for i in left_old if i not in taken]
        left_new = [j for j in left_new if j not in pairs]
    return pairs, left_new, left_old


def changed_fields(before: AnalysisSummary, after: AnalysisSummary) -> tuple[str, ...]:
    """The names of the fields that differ at the precision the report prints them."""
    what = [name for name, value in FIELDS if value(before) != value(after)]
    if before.data_fingerprint != after.data_fingerprint and "studies" not in what:
        what.insert(0, "data")  # same studies, different numbers (a corrected row)
    return tuple(what)


def _studies(analyses: Iterable[AnalysisSummary]) -> set[str]:
    return {s for a in analyses for s in a.studies}


def _notes(old: ReviewSummary, new: ReviewSummary) -> tuple[str, ...]:
    notes = []
    if old.source_sha256 and old.source_sha256 == new.source_sha256:
        notes.append(f"Both runs read the same source (sha256 {new.source_sha256[:16]}...).")
    if old.version and new.version and old.version != new.version:
        notes.append(f"The runs were made by different trialsynth versions ({old.version} and "
                     f"{new.version}): a change may come from the methods, not only the data.")
    for run in (old, new):
        if not run.source_sha256 or not run.version:
            notes.append(f"{run.label}: the run does not record its source fingerprint or "
                         "trialsynth version.")
    return tuple(notes)


def diff_summaries(old: ReviewSummary, new: ReviewSummary) -> ReviewDiff:
    """Every analysis of ``new`` against its match in ``old``: changed (its data or results
    differ), added (no match) or removed (in ``old`` only), each with its conclusion changes."""
    pairs, added, removed = match(old.analyses, new.analyses)
    changes: list[AnalysisChange] = []
    unchanged = 0
    renumbered = []
    for j, after in enumerate(new.analyses):
        if j in pairs:
            before = old.analyses[pairs[j]]
            if before.id != after.id:
                renumbered.append((before.id, after.id, after.name))
            what = changed_fields(before, after)
            if not what:
                unchanged += 1
                continue
            changes.append(AnalysisChange("changed", before, after, what,
                                          conclusion_changes(before, after)))
        elif j in added:
            changes.append(AnalysisChange("added", None, after, (),
                                          conclusion_changes(None, after)))
    changes += [AnalysisChange("removed", old.analyses[i], None, (),
                               conclusion_changes(old.analyses[i], None)) for i in removed]
    old_studies, new_studies = _studies(old.analyses), _studies(new.analyses)
    return ReviewDiff(old=old, new=new, changes=tuple(changes), unchanged=unchanged,
                      renumbered=tuple(renumbered),
                      studies_added=tuple(sorted(new_studies - old_studies)),
                      studies_removed=tuple(sorted(old_studies - new_studies)),
                      notes=_notes(old, new))
