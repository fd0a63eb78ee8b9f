"""The networks a review's data support: one per outcome and time window, built from its pairwise
analyses (pure; no file is read here).

Rules (general; nothing here knows a particular review):

* An analysis joins the network of its outcome and time window when it is a main analysis (not a
  subgroup analysis) and its comparison names both its intervention and its comparator in the
  review question. One measure per network (the one most analyses use; others are listed as left
  out). A mean difference is combined across comparisons only when the outcome declares one scale
  (``question.outcomes[].scale``, e.g. pain on 0–100) and no analysis declares its own instrument;
  otherwise MDs on different instruments are not comparable (Cochrane Handbook v6.4 §10.5.2).
* Several rows of one study in one analysis are separate groups of participants (RevMan pools
  them as separate entries): they stay separate, the k-th named "study [k]".
* A study in several comparisons of one network is one multi-arm study: arms of the same treatment
  must carry identical data. An arm whose treatment the review does not state is identified with
  a named arm of the same study in another comparison only when their data are identical (e.g. a
  shared control arm); the identification is reported as inferred. Otherwise that comparison of
  the study is left out, with the reason.
* A disconnected network is analysed in its largest component (most studies) when it joins three
  or more treatments; the other components are named. With fewer, the data support pairwise
  comparisons only, and the report says so.
* Reference: the placebo comparator if it is in the network, else the treatment in most studies.
  Method: the review's random-effects method when stated, else the method its analyses share (DL,
  REML, IV), else REML.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trialsynth.nma.data import NetworkData, network_from_frame
from trialsynth.review import Review
from trialsynth.review.protocol import Protocol

MEASURES = {"MD": "MD", "SMD": "SMD", "RR": "RR", "OR": "OR", "RD": "RD"}
MIN_TREATMENTS = 3


@dataclass(frozen=True, slots=True)
class CandidateNetwork:
    """One outcome × time window: the network analysed, or why there is none."""

    outcome_id: str
    outcome: str
    window_id: str | None
    window: str
    analyses: tuple[str, ...]
    measure: str | None = None
    data: NetworkData | None = None
    reference: str | None = None
    method: str = "REML"
    small_values: str = "desirable"
    mid: float | None = None
    reason: str | None = None  # why no network is analysed
    notes: tuple[str, ...] = ()
    components: tuple[tuple[str, ...], ...] = ()
    inferred: tuple[str, ...] = ()
    rob: Mapping[str, str | None] = field(default_factory=dict)
    indirect: Mapping[str, bool] = field(default_factory=dict)
    indirectness_assessed: bool = False
    prediction_interval: bool = True  # the review's settings.prediction_interval is not false

    @property
    def key(self) -> str:
        return f"{self.outcome_id}/{self.window_id or 'any'}"

    @property
    def title(self) -> str:
        return f"{self.outcome}, {self.window.lower()}" if self.window_id else self.outcome


@dataclass(slots=True)
class _Arm:
    node: str | None
    data: tuple[float, ...]
    analysis: str


def _names(protocol: Protocol) -> dict[str, tuple[str | None, str | None]]:
    """Comparison id -> (intervention name, comparator name; None where not stated)."""
    inter = {i.id: i.name for i in protocol.question.interventions}
    comp = {c.id: (None if c.kind == "not_stated" else c.name) for c in protocol.question.comparators}
    return {c.id: (inter.get(c.intervention or ""), comp.get(c.comparator or ""))
            for c in protocol.comparisons}


def _arm_data(row: pd.Series, side: str, measure: str) -> tuple[float, ...] | None:
    cols = ("events", "n") if measure in ("RR", "OR", "RD") else ("mean", "sd", "n")
    vals = []
    for c in cols:
        v = row.get(f"{c}_{side}")
        if v is None or pd.isna(v):
            return None
        vals.append(float(v))
    return tuple(vals)


def candidate_networks(protocol: Protocol, review: Review,
                       rob: Mapping[str, str | None] | None = None) -> list[CandidateNetwork]:
    """Every outcome × time window with main analyses, in the question's outcome order."""
    groups: dict[tuple[str, str | None], list[Any]] = {}
    for a in review.analyses:
        try:
            spec = protocol.analysis(a.id)
        except KeyError:
            continue
        if a.has_subgroups or spec.subgroup_factor or spec.outcome is None:
            continue
        groups.setdefault((spec.outcome, spec.time_window), []).append((a, spec))
    order = {o.id: i for i, o in enumerate(protocol.question.outcomes)}
    windows = {w.id: (i, w.name) for i, w in enumerate(protocol.question.time_windows)}
    out = []
    for (oid, wid), items in sorted(groups.items(), key=lambda kv: (
            order.get(kv[0][0], 99), windows.get(kv[0][1] or "", (99, ""))[0])):
        out.append(_candidate(protocol, oid, wid, items, windows, rob or {}))
    return out


def _candidate(protocol: Protocol, oid: str, wid: str | None, items: list[Any],
               windows: Mapping[str, tuple[int, str]], rob: Mapping[str, str | None]
               ) -> CandidateNetwork:
    outcome = next(o for o in protocol.question.outcomes if o.id == oid)
    base = {"outcome_id": oid, "outcome": outcome.name, "window_id": wid,
            "window": windows[wid][1] if wid in windows else "any time",
            "analyses": tuple(a.id for a, _ in items)}
    measures = Counter(a.settings.measure for a, _ in items)
    measure, _ = measures.most_common(1)[0]
    notes = [f"analysis {a.id} left out: its measure {a.settings.measure} differs from {measure}"
             for a, _ in items if a.settings.measure != measure]
    items = [(a, s) for a, s in items if a.settings.measure == measure]
    if len({str(a.comparison) for a, _ in items}) < 2:
        return CandidateNetwork(**base, measure=measure, notes=tuple(notes), reason=(
            "one comparison only, so no network: see its pairwise analysis"))
    if measure not in MEASURES:
        return CandidateNetwork(**base, reason=f"measure {measure} is not combined in networks")
    if measure == "MD" and (outcome.scale is None or any(s.scale for _, s in items)):
        return CandidateNetwork(**base, measure=measure, reason=(
            "mean differences on different instruments are not comparable across comparisons "
            "(the review declares no common scale for this outcome)"), notes=tuple(notes))
    arms, more = _study_arms(items, _names(protocol), measure)
    notes += more
    frame = _frame(arms, measure)
    if frame is None:
        unnamed = all("not stated" in n for n in notes if "left out" in n) and notes
        return CandidateNetwork(**base, measure=measure, notes=tuple(notes), reason=(
            "the review question does not name the treatments these comparisons compare, so "
            "they cannot be joined into a network" if unnamed else
            "fewer than two treatments with data that can be linked"))
    data = network_from_frame(frame, measure)
    comps = data.components()
    biggest = max(comps, key=lambda c: (sum(1 for s in data.studies if
                                            data.treatments[s.arms[0]] in c), len(c)))
    kw = _settings(protocol, outcome, [a for a, _ in items])
    comp_t = tuple(tuple(c) for c in comps)
    inferred = tuple(n for n in notes if n.startswith("inferred"))
    notes = [n for n in notes if not n.startswith("inferred")]
    if len(biggest) < MIN_TREATMENTS:
        return CandidateNetwork(**base, measure=measure, components=comp_t, notes=tuple(notes),
                                inferred=inferred, reason=(
                                    "no three treatments are connected: the data support "
                                    "pairwise comparisons only"), **kw)
    if len(comps) > 1:
        others = "; ".join("{" + ", ".join(c) + "}" for c in comps if c is not biggest)
        notes.append(f"the network is disconnected; analysed: the component "
                     f"{{{', '.join(biggest)}}}; not connected to it: {others}")
    sub = frame[frame.study.isin([s.name for s in data.studies
                                  if data.treatments[s.arms[0]] in biggest])]
    data = network_from_frame(sub.reset_index(drop=True), measure)
    ref = _reference(protocol, data)
    studies = {s.name for s in data.studies}
    base_name = {n: n.rsplit(" [", 1)[0] if n.endswith("]") else n for n in studies}
    return CandidateNetwork(
        **base, measure=measure, data=data, reference=ref, components=comp_t, notes=tuple(notes),
        inferred=inferred, rob={n: rob.get(b) for n, b in base_name.items()},
        indirect={n: v for n, b in base_name.items()
                  if (v := _indirect(protocol, set(base_name.values()), base["analyses"]).get(b))
                  is not None},
        indirectness_assessed=protocol.grade.indirectness.default != "not_assessed"
        or bool(protocol.grade.indirectness.flags), **kw)


def _settings(protocol: Protocol, outcome: Any, analyses: Sequence[Any]) -> dict[str, Any]:
    stated = protocol.settings.random_effects_method
    methods = {a.settings.method for a in analyses}
    method = (stated if stated in ("DL", "REML") else
              next(iter(methods)) if len(methods) == 1 and next(iter(methods)) in ("DL", "REML")
              else "IV" if methods <= {"IV", "MH", "PETO"} else "REML")
    small = "desirable" if outcome.direction_of_benefit != "higher_is_better" else "undesirable"
    return {"method": method, "small_values": small,
            "mid": None if outcome.mid is None else float(outcome.mid.value),
            "prediction_interval": protocol.settings.prediction_interval is not False}


def _indirect(protocol: Protocol, studies: set[str], analyses: Sequence[str]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for f in protocol.grade.indirectness.flags:
        if f.study in studies and (not f.analyses or set(f.analyses) & set(analyses)):
            out[f.study] = out.get(f.study, False) or f.match == "indirect"
    return out


def _reference(protocol: Protocol, data: NetworkData) -> str:
    placebo = [c.name for c in protocol.question.comparators if c.kind == "placebo"]
    for name in placebo:
        if name in data.treatments:
            return name
    count = Counter(data.treatments[t] for s in data.studies for t in s.arms)
    return max(data.treatments, key=lambda t: (count[t], t))


def _study_arms(items: Sequence[Any], names: Mapping[str, tuple[str | None, str | None]],
                measure: str) -> tuple[dict[str, list[_Arm]], list[str]]:
    """Per study its arms across the analyses, named and unnamed arms unified (module rules)."""
    arms: dict[str, list[_Arm]] = {}
    unnamed: list[tuple[str, _Arm, _Arm]] = []
    notes: list[str] = []
    for a, _ in items:
        inter, comp = names.get(str(a.comparison), (None, None))
        seen: Counter[str] = Counter()
        for _, row in a.pooled_rows.iterrows():
            study = str(row["study"])
            seen[study] += 1  # a study's k-th row of an analysis: its own group of participants
            if seen[study] > 1:
                study = f"{study} [{seen[study]}]"
            t, c = _arm_data(row, "t", measure), _arm_data(row, "c", measure)
            if t is None or c is None or inter is None:
                notes.append(f"{study} (analysis {a.id}) left out: "
                             f"{'arm data missing' if inter else 'intervention not stated'}")
                continue
            at, ac = _Arm(inter, t, a.id), _Arm(comp, c, a.id)
            if comp is None:
                unnamed.append((study, at, ac))
            elif not _add(arms, study, [at, ac], notes):
                continue
    for study, at, ac in unnamed:
        match = [x for x in arms.get(study, []) if x.data == ac.data and x.node != at.node]
        if len(match) == 1:
            ac.node = match[0].node
            if _add(arms, study, [at, ac], notes):
                notes.append(f"inferred: in {study}, the comparator of analysis {ac.analysis} "
                             f"(not stated by the review) has the same data as its "
                             f"{ac.node} arm in analysis {match[0].analysis}, so it is that arm")
        else:
            notes.append(f"{study} (analysis {at.analysis}) left out: its comparator is not "
                         "stated by the review, so it cannot be placed in the network")
    return arms, notes


def _add(arms: dict[str, list[_Arm]], study: str, new: list[_Arm], notes: list[str]) -> bool:
    have = {x.node: x for x in arms.get(study, [])}
    for x in new:
        if x.node in have and have[x.node].data != x.data:
            notes.append(f"{study} (analysis {x.analysis}) left out: its {x.node} arm differs from "
                         f"the same arm in analysis {have[x.node].analysis}")
            return False
    if new[0].node == new[1].node:
        notes.append(f"{study} (analysis {new[0].analysis}) left out: both arms are {new[0].node}")
        return False
    for x in new:
        have.setdefault(x.node, x)
    arms[study] = list(have.values())
    return True


def _frame(arms: Mapping[str, list[_Arm]], measure: str) -> pd.DataFrame | None:
    cols = ("events", "n") if measure in ("RR", "OR", "RD") else ("mean", "sd", "n")
    rows = [{"study": study, "treatment": x.node, **dict(zip(cols, x.data, strict=True))}
            for study, xs in arms.items() if len(xs) >= 2 for x in xs]
    if not rows or len({r["treatment"] for r in rows}) < 2:
        return None
    return pd.DataFrame(rows)


def rob_levels(folder: Any, review: Review) -> dict[str, str | None]:
    """Each study's overall RoB level (low / some_concerns / high) from the review folder, the
    first judged result of the study standing for it (as the report's RoB summary does)."""
    from trialsynth.assess.certainty.rob_levels import judged_for, study_rob_level

    rob = folder.rob_assessments()
    out: dict[str, str | None] = {}
    for a in review.analyses:
        for study in a.pooled_rows["study"]:
            study = str(study)
            if out.get(study) is not None:
                continue
            level, partial = study_rob_level(judged_for(rob, study, a.id))
            out[study] = "some_concerns" if partial and level == "low" else level
    return out


__all__ = ["CandidateNetwork", "candidate_networks", "rob_levels"]
