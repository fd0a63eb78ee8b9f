"""The analyse stage: one analysis of a review pooled with its settings and checked against the
numbers its source stored, as ``trialsynth run`` does it for every analysis.

:func:`analyse_with_result` is the single place where a review's analysis is pooled; the runner
(:mod:`trialsynth.pipeline`), ``trialsynth plan`` (:mod:`trialsynth.assess.sequential.plan`) and the
report (:mod:`trialsynth.report`) call it, so each pools an analysis the same way. It sits below
the report stack and imports none of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from trialsynth._frozen import FrozenMap
from trialsynth.api import pool
from trialsynth.errors import DataError
from trialsynth.pooling.result import PooledResult
from trialsynth.registry import RANDOM_METHODS
from trialsynth.registry.measures import LOG_SCALE
from trialsynth.review import (
    Analysis,
    AnalysisSettings,
    Review,
    check_against_stored,
    pool_measure,
    to_display,
)

Status = Literal["pooled", "not pooled"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyValues:
    """A study's effect, CI and weight on the natural scale (ratios as ratios: what RevMan
    shows), ours or as the source stored them; None where there is none."""

    effect: float | None
    ci_low: float | None
    ci_high: float | None
    weight: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {"effect": self.effect, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "weight": self.weight}


@dataclass(frozen=True, slots=True, kw_only=True)
class StudyCheck:
    """One study row of an analysis: its data, our effect and weight next to the stored ones,
    its design and the adjustments made to its data."""

    row: int
    study: str
    year: Any
    subgroup: str | None
    complete: bool
    rob_overall: Any
    problem: str | None
    data: FrozenMap[str, Any]
    ours: StudyValues
    stored: StudyValues
    design: str
    adjustments: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "study": self.study, "year": self.year,
                "subgroup": self.subgroup, "complete": self.complete,
                "rob_overall": self.rob_overall, "problem": self.problem, "data": dict(self.data),
                "ours": self.ours.to_dict(), "stored": self.stored.to_dict(),
                "design": self.design, "adjustments": list(self.adjustments)}


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCheck:
    """How far our per-study numbers are from the ones the source stored (natural scale)."""

    max_abs_diff_effect: float | None
    max_abs_diff_ci: float | None
    max_abs_diff_weight: float | None
    weights_compared: int
    weights_one_side_only: int
    tolerance: float
    weights_reproduced: bool | None  # None: the source stored no weights

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StoredCheck:
        worst = d["max_abs_diff"]
        return cls(max_abs_diff_effect=worst["effect"], max_abs_diff_ci=worst["ci"],
                   max_abs_diff_weight=worst["weight"], weights_compared=int(d["weights_compared"]),
                   weights_one_side_only=int(d["weights_one_side_only"]),
                   tolerance=d["tolerance"], weights_reproduced=d["weights_reproduced"])

    def to_dict(self) -> dict[str, Any]:
        return {"max_abs_diff": {"effect": self.max_abs_diff_effect, "ci": self.max_abs_diff_ci,
                                 "weight": self.max_abs_diff_weight},
                "weights_compared": self.weights_compared,
                "weights_one_side_only": self.weights_one_side_only,
                "tolerance": self.tolerance, "weights_reproduced": self.weights_reproduced}


@dataclass(frozen=True, slots=True, kw_only=True)
class NaturalScale:
    """Pooled estimate, CI and prediction interval on the natural scale, as RevMan shows them:
    ``scale`` ``"ratio"`` for ratio measures (exp of the analysis' log scale), else
    ``"identity"``. NaN where a value could not be computed, None where it is not shown."""

    scale: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    pi_low: float | None
    pi_high: float | None
    subgroups: FrozenMap[str, SubgroupNaturalScale] = FrozenMap()

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "estimate": self.estimate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "pi_low": self.pi_low, "pi_high": self.pi_high,
                "subgroups": {name: sub.to_dict() for name, sub in self.subgroups.items()}}


@dataclass(frozen=True, slots=True, kw_only=True)
class SubgroupNaturalScale(NaturalScale):
    """One subgroup's :class:`NaturalScale` values with its number of studies and I²."""

    k: int
    i2: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**NaturalScale.to_dict(self), "k": self.k, "i2": self.i2}


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysed:
    """What the analyse stage computed for one analysis: its status (and why not pooled), the
    pooled result on the analysis scale (log for ratio measures; None when the review pooled
    nothing or pooling failed), the same on the natural scale, and every study row checked
    against the source's stored numbers. :meth:`to_dict` is its entry of ``results.json``'s
    ``analyses`` before the report adds certainty and the rest."""

    analysis: Analysis
    status: Status
    reason: str | None
    result: PooledResult | None
    natural: NaturalScale | None
    studies: tuple[StudyCheck, ...]
    check: StoredCheck

    @property
    def id(self) -> str:
        return self.analysis.id

    @property
    def settings(self) -> AnalysisSettings:
        return self.analysis.settings

    @property
    def pooled(self) -> PooledResult | None:
        """The pooled result when the analysis was pooled (status ``"pooled"``), else None."""
        return self.result if self.status == "pooled" else None

    def to_dict(self) -> dict[str, Any]:
        a = self.analysis
        return {"id": a.id, "comparison": a.comparison, "number": a.number, "name": a.name,
                "comparison_name": a.comparison_name, "applicability": a.applicability,
                "settings": a.settings.to_dict(), "status": self.status, "reason": self.reason,
                "result": None if self.result is None else
                with_scale(self.result.to_dict(), a.settings.scale),
                "display": None if self.natural is None else self.natural.to_dict(),
                "studies": [st.to_dict() for st in self.studies], "check": self.check.to_dict()}


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisRun:
    """The analyse stage's output: the review and, per analysis in its order, what was
    computed (:class:`Analysed`)."""

    review: Review
    source: str
    analyses: tuple[Analysed, ...]

    @property
    def pooled(self) -> tuple[PooledResult | None, ...]:
        """Per analysis, its pooled result (None where it was not pooled)."""
        return tuple(a.pooled for a in self.analyses)


def analyse(analysis: Analysis, source: str) -> dict[str, Any]:
    """Pool one analysis with its settings and check it against RevMan's numbers: its entry of
    ``results.json``'s ``analyses`` before the report adds certainty and the rest."""
    return analyse_with_result(analysis, source)[0]


def outcome_key(analysis: Analysis) -> tuple[str, str]:
    """Analyses of one outcome: the same data type and the same name, case and spacing
    ignored (a review's "Pain intensity" under each comparison)."""
    return analysis.data_type, " ".join(str(analysis.name).casefold().split())


def review_correlations(analyses: tuple[Analysis, ...] | list[Analysis], source: str
                        ) -> dict[str, tuple[float, tuple[str, ...]]]:
    """The within-participant correlation imputed across the review for crossover trials
    without their own (Handbook v6.4 §23.2.7.3: from other trials of the review that report
    enough to compute it): per outcome (:func:`outcome_key`), the correlations computed from
    every analysis of that outcome, averaged first within each trial (a trial entered in
    several analyses counts once), then over trials. Returns {analysis id: (value, "study r")}
    for the analyses of outcomes with at least one such trial."""
    from trialsynth.designs.prepare import trial_correlations

    found: dict[tuple[str, str], dict[str, list[float]]] = {}
    for a in analyses:
        try:
            pairs = trial_correlations(a.pooled_rows, pool_measure(a.settings.measure), source)
        except DataError:  # the analysis' own pooling reports it
            continue
        for study, r in pairs:
            found.setdefault(outcome_key(a), {}).setdefault(study, []).append(r)
    out: dict[str, tuple[float, tuple[str, ...]]] = {}
    for a in analyses:
        per_trial = found.get(outcome_key(a))
        if per_trial:
            means = {study: float(np.mean(rs)) for study, rs in per_trial.items()}
            out[a.id] = (float(np.mean(list(means.values()))),
                         tuple(f"{study} {r:.3f}" for study, r in means.items()))
    return out


def pool_analysis(analysis: Analysis, source: str,
                  imputed: tuple[float, tuple[str, ...]] | None = None) -> PooledResult:
    """The pooling of an analysis' complete rows with its settings (RevMan's conventions), also
    when nothing is estimable (k = 0) or the review pooled nothing: its per-study rows are what
    a forest plot shows. ``imputed``: the crossover correlation imputed across the review
    (:func:`review_correlations`). Raises :class:`DataError` for rows that cannot be pooled."""
    s = analysis.settings
    designs = getattr(s, "designs", None)
    if imputed is not None:
        designs = {**(designs or {}), "imputed": imputed}
    with np.errstate(divide="ignore", invalid="ignore"):  # k = 0 divides by zero
        hksj = bool(getattr(s, "hksj", False)) and s.method in RANDOM_METHODS
        return pool(analysis.pooled_rows, pool_measure(s.measure), s.method, hksj=hksj,
                    subgroup="subgroup" if analysis.has_subgroups else None, revman=True,
                    source=source, confidence_level=getattr(s, "confidence_level", None) or 0.95,
                    designs=designs)


def analyse_with_result(analysis: Analysis, source: str,
                        imputed: tuple[float, tuple[str, ...]] | None = None
                        ) -> tuple[dict[str, Any], PooledResult | None]:
    """:func:`analyse` plus the pooled result (None when nothing was pooled). ``imputed``: the
    crossover correlation imputed across the review (:func:`review_correlations`)."""
    done = analyse_one(analysis, source, imputed)
    return done.to_dict(), done.pooled


def analyse_review(review: Review, source: str, progress: Any = None) -> AnalysisRun:
    """The analyse stage of a run: every analysis of ``review`` pooled with its settings (the
    crossover correlation imputed across the review, :func:`review_correlations`) and checked
    against the numbers its source stored. ``progress``: a (rich progress, task) pair advanced
    once per analysis."""
    imputed = review_correlations(review.analyses, source)
    done = []
    for analysis in review.analyses:
        done.append(analyse_one(analysis, source, imputed.get(analysis.id)))
        if progress is not None:
            progress[0].advance(progress[1])
    return AnalysisRun(review=review, source=source, analyses=tuple(done))


def analyse_one(analysis: Analysis, source: str,
                imputed: tuple[float, tuple[str, ...]] | None = None) -> Analysed:
    """One analysis pooled and checked: the frozen record of :class:`AnalysisRun`."""
    s = analysis.settings
    rows = analysis.pooled_rows
    status, reason, result, reported = "pooled", None, None, None
    if rows.empty:
        status, reason = "not pooled", "no study row has the data its type needs"
    else:
        try:
            result = pool_analysis(analysis, source, imputed)
        except DataError as exc:  # rows are numbered within the analysis; give the file row
            row = int(rows["row"].iloc[exc.row - 2]) if exc.row is not None else None
            where = f" (file row {row}, column {exc.field})" if row is not None else ""
            status, reason = "not pooled", f"{exc.reason}{where}"
        else:
            reported = result if s.totals != "none" else None
            if s.totals == "none" or result.k == 0 or result.estimate is None:
                status, reason = "not pooled", _not_pooled_reason(s.totals, result)
    natural = None
    if reported is not None:
        natural = natural_scale(reported.to_dict(), s.measure)
        if getattr(s, "prediction_interval", None) is False:  # the review's choice
            natural = replace(natural, pi_low=None, pi_high=None)
    studies, check = check_against_stored(analysis, result)
    return Analysed(analysis=analysis, status=status, reason=reason, result=reported,
                    natural=natural, studies=_study_checks(studies, analysis, result),
                    check=StoredCheck.from_dict(check))


def _not_pooled_reason(totals: str, result: PooledResult) -> str:
    if totals == "none":
        return ("the review did not pool this analysis (RevMan stored weight 0 for every study); "
                "per-study effects only")
    if result.k == 0:
        return "no study could be pooled (every study not estimable)"
    return ("no pooled estimate could be computed ("
            + ("; ".join(result.warnings) or "the arithmetic failed") + ")")


def _study_checks(studies: list[dict[str, Any]], analysis: Analysis,
                  result: PooledResult | None) -> tuple[StudyCheck, ...]:
    """The per-study rows of :func:`check_against_stored` as frozen records, each with its
    design and every adjustment made to its data (trialsynth.designs)."""
    rows = ((result.settings.get("designs") or {}).get("rows") or []) if result else []
    pooled = iter(rows)
    frame = analysis.frame
    out = []
    for st, complete, design in zip(studies, frame["complete"], frame["design"] if "design" in
                                    frame.columns else [None] * len(frame), strict=True):
        row = next(pooled, None) if complete else None
        stated = design if isinstance(design, str) and design else None  # NaN: none stated
        out.append(StudyCheck(
            row=st["row"], study=st["study"], year=st["year"], subgroup=st["subgroup"],
            complete=st["complete"], rob_overall=st["rob_overall"], problem=st["problem"],
            data=FrozenMap(st["data"]), ours=StudyValues(**st["ours"]),
            stored=StudyValues(**st["stored"]),
            design=(row or {}).get("design") or stated or "parallel",
            adjustments=tuple((row or {}).get("adjustments") or ())))
    return tuple(out)


def with_scale(res: dict[str, Any], scale: str) -> dict[str, Any]:
    """A pooled result's dict (and its subgroups') saying which scale its numbers are on:
    ``"log"`` for ratio measures, ``"identity"`` otherwise (trialsynth.results_schema)."""
    res["scale"] = scale
    for sub in (res.get("subgroups") or {}).values():
        with_scale(sub, scale)
    return res


def natural_scale(res: Mapping[str, Any], measure: str) -> NaturalScale:
    """Estimate, CI and prediction interval as RevMan shows them (ratios on the natural scale),
    with ``scale``: ``"ratio"`` for ratio measures (exp of the analysis scale), else
    ``"identity"``; a frozen record (a pooled result's dict in, its subgroups' too)."""
    vals = _natural_values(res, measure)
    subs = res.get("subgroups") or {}
    return NaturalScale(scale=_display_scale(measure), **vals, subgroups=FrozenMap(
        {name: SubgroupNaturalScale(scale=_display_scale(measure), **_natural_values(sub, measure),
                                    k=int(sub["k"]), i2=sub["i2"])
         for name, sub in subs.items()}))


_DISPLAY_KEYS = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")


def _display_scale(measure: str) -> str:
    return "ratio" if measure in LOG_SCALE else "identity"


def _natural_values(res: Mapping[str, Any], measure: str) -> dict[str, float | None]:
    vals = np.array([np.nan if res[k] is None else res[k] for k in _DISPLAY_KEYS], dtype=float)
    return dict(zip(_DISPLAY_KEYS, to_display(measure, vals).tolist(), strict=True))
