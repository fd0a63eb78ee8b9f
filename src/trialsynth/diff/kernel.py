"""The diff kernel: match the analyses of two runs and say which changed, and how (pure).

**Matching.** An analysis is identified across runs by its comparison and its name, not by its
"1.1" number, so inserting or renumbering analyses causes no false change. The comparison is
its name as the source states it, else its number (:attr:`AnalysisSummary.comparison_key`); the
analysis name carries outcome, time window and subgroup factor. Matching runs in two passes:
(stated comparison name or number, analysis name), then for what is left (comparison number,
analysis name), so one run from a source that names its comparisons and one from a source
that does not still match. Equal keys within a run pair in file order. An analysis whose name
changed is reported as removed plus added: a name is what the reader goes by.

**Precision.** A number counts as changed only when it prints differently in the report *and*
differs by more than floating-point noise (relative 1e-9), so neither noise nor a recomputation
in another order is a change: estimates and intervals at 2 decimals on the display scale,
participants and I² whole, τ² at 4 significant digits (below 1e-8 as 0), p at 3 decimals
(below 0.001 as "< 0.001"), the required information size rounded up. Study data differ beyond
1e-6 (absolute below 1, relative above; RevMan Web data rows store 6 decimals). Everything else
(k, studies, certainty, statement, the TSA's conclusion, the next-trial size) must be equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from trialsynth.diff.conclusions import Conclusion, conclusion_changes
from trialsynth.diff.summary import AnalysisSummary, ReviewSummary, StudyRow, SubgroupSummary, norm
from trialsynth.report.numbers import fixed

Kind = Literal["changed", "added", "removed"]
Show = Callable[[float], str]
Differs = Callable[[Any, Any], bool]
REL_NOISE = 1e-9  # relative difference that is floating-point noise, never a change
ABS_NOISE = 1e-12  # likewise for values at or near zero
DATA_TOL = 1e-6  # study data: 6 stored decimals (RevMan Web data rows)
TAU2_ZERO = 1e-8  # a τ² this small is 0 on any effect scale; iterative fits stop near 0, not at 0


def _shown(x: float, decimals: int = 2) -> str:
    return fixed(x, decimals)


def _p(x: float) -> str:  # as the report prints a p-value
    return "< 0.001" if x < 0.001 else fixed(x, 3)


def _tau2(x: float) -> str:
    """τ² to 4 significant digits as the report prints it; below TAU2_ZERO it is 0 (iterative
    estimators stop near, not at, a zero τ²)."""
    return "0" if abs(x) < TAU2_ZERO else f"{x:.4g}"


def _whole(x: float) -> str:
    return str(round(x))


def _up(x: float) -> str:
    return str(math.ceil(x - REL_NOISE * max(1.0, abs(x))))  # a size is rounded up


def num_differs(x: float | None, y: float | None, show: Show = _shown) -> bool:
    """Two numbers differ when they print differently and are not equal up to float noise."""
    if x is None or y is None:
        return (x is None) != (y is None)
    if math.isclose(x, y, rel_tol=REL_NOISE, abs_tol=ABS_NOISE):
        return False
    return show(x) != show(y)


def _num(show: Show = _shown) -> Differs:
    return lambda x, y: num_differs(x, y, show)


def _exact(x: Any, y: Any) -> bool:
    return bool(x != y)


def _subgroups_differ(x: tuple[SubgroupSummary, ...], y: tuple[SubgroupSummary, ...]) -> bool:
    if [(s.name, s.k) for s in x] != [(s.name, s.k) for s in y]:
        return True
    return any(num_differs(getattr(a, f), getattr(b, f)) for a, b in zip(x, y, strict=True)
               for f in ("estimate", "ci_low", "ci_high"))


def _mid_differs(x: AnalysisSummary, y: AnalysisSummary) -> bool:
    return num_differs(x.mid_low, y.mid_low) or num_differs(x.mid_high, y.mid_high)


def data_differs(x: tuple[StudyRow, ...], y: tuple[StudyRow, ...]) -> bool:
    """Study rows differ beyond DATA_TOL (absolute below 1, relative above): RevMan Web data rows
    store 6 decimals, so a value read from another format may differ by up to 5e-7."""
    if [(r.study, r.subgroup, [k for k, _ in r.values]) for r in x] != \
            [(r.study, r.subgroup, [k for k, _ in r.values]) for r in y]:
        return True
    for a, b in zip(x, y, strict=True):
        for (_, u), (_, v) in zip(a.values, b.values, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if not math.isclose(u, v, rel_tol=DATA_TOL, abs_tol=DATA_TOL):
                    return True
            elif u != v:
                return True
    return False


def _field(attr: str, differs: Differs = _exact) -> Callable[[AnalysisSummary, AnalysisSummary],
                                                              bool]:
    return lambda x, y: differs(getattr(x, attr), getattr(y, attr))


def _tsa(x: AnalysisSummary) -> tuple[Any, ...]:
    return x.tsa_verdict, x.tsa_crossed, x.ris_reached


def _statement(x: AnalysisSummary) -> str | None:
    return None if x.statement is None else norm(x.statement)


# field name (as ``what`` names it) -> does it differ; one table, in the order reported
FIELDS: tuple[tuple[str, Callable[[AnalysisSummary, AnalysisSummary], bool]], ...] = (
    ("status", _field("status")),
    ("measure", _field("measure")),
    ("method", _field("method")),
    ("studies", _field("studies")),
    ("k", _field("k")),
    ("participants", _field("participants", _num(_whole))),
    ("estimate", _field("estimate", _num())),
    ("ci_low", _field("ci_low", _num())),
    ("ci_high", _field("ci_high", _num())),
    ("pi_low", _field("pi_low", _num())),
    ("pi_high", _field("pi_high", _num())),
    ("pvalue", _field("pvalue", _num(_p))),
    ("i2", _field("i2", _num(_whole))),
    ("tau2", _field("tau2", _num(_tau2))),
    ("subgroups", _field("subgroups", _subgroups_differ)),
    ("mid", _mid_differs),
    ("certainty", _field("certainty")),
    ("downgrades", _field("downgrades")),
    ("statement", lambda x, y: _statement(x) != _statement(y)),
    ("tsa", lambda x, y: _tsa(x) != _tsa(y)),
    ("required_information", _field("required", _num(_up))),
    ("next_trial", _field("next_trial_total")),
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
    what = [name for name, differs in FIELDS if differs(before, after)]
    if "studies" not in what and data_differs(before.data, after.data):
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
