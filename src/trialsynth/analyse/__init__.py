"""The analyse stage: one analysis of a review pooled with its settings and checked against the
numbers its source stored, as ``trialsynth run`` does it for every analysis.

:func:`analyse_with_result` is the single place where a review's analysis is pooled; the runner
(:mod:`trialsynth.pipeline`), ``trialsynth plan`` (:mod:`trialsynth.assess.sequential.plan`) and the
report (:mod:`trialsynth.report`) call it, so each pools an analysis the same way. It sits below
the report stack and imports none of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trialsynth.api import pool
from trialsynth.errors import DataError
from trialsynth.pooling.result import PooledResult
from trialsynth.registry import RANDOM_METHODS
from trialsynth.registry.measures import LOG_SCALE
from trialsynth.review import Analysis, check_against_stored, pool_measure, to_display


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
    s = analysis.settings
    rows = analysis.pooled_rows
    out: dict[str, Any] = {
        "id": analysis.id, "comparison": analysis.comparison, "number": analysis.number,
        "name": analysis.name, "comparison_name": analysis.comparison_name,
        "applicability": analysis.applicability,
        "settings": s.to_dict(), "status": "pooled", "reason": None, "result": None,
        "display": None,
    }
    result = None
    if rows.empty:
        out["status"], out["reason"] = "not pooled", "no study row has the data its type needs"
    else:
        try:
            result = pool_analysis(analysis, source, imputed)
        except DataError as exc:  # rows are numbered within the analysis; give the file row
            row = int(rows["row"].iloc[exc.row - 2]) if exc.row is not None else None
            where = f" (file row {row}, column {exc.field})" if row is not None else ""
            out["status"], out["reason"] = "not pooled", f"{exc.reason}{where}"
        else:
            if s.totals != "none":
                out["result"] = with_scale(result.to_dict(), s.scale)
                out["display"] = display(out["result"], s.measure)
                if getattr(s, "prediction_interval", None) is False:  # the review's choice
                    out["display"].update(pi_low=None, pi_high=None)
            if s.totals == "none" or result.k == 0 or result.estimate is None:
                out["status"] = "not pooled"
                out["reason"] = ("the review did not pool this analysis (RevMan stored weight 0 "
                                 "for every study); per-study effects only" if s.totals == "none"
                                 else "no study could be pooled (every study not estimable)"
                                 if result.k == 0 else
                                 "no pooled estimate could be computed ("
                                 + ("; ".join(result.warnings) or "the arithmetic failed") + ")")
    out["studies"], out["check"] = check_against_stored(analysis, result)
    mark_designs(out["studies"], analysis, result)
    keep = result if out["status"] == "pooled" and result is not None else None
    return out, keep


def mark_designs(studies: list[dict[str, Any]], analysis: Analysis,
                 result: PooledResult | None) -> None:
    """Each study row's design and every adjustment made to its data (trialsynth.designs)."""
    rows = ((result.settings.get("designs") or {}).get("rows") or []) if result else []
    pooled = iter(rows)
    frame = analysis.frame
    for st, complete, design in zip(studies, frame["complete"], frame["design"] if "design" in
                                    frame.columns else [None] * len(frame), strict=True):
        row = next(pooled, None) if complete else None
        stated = design if isinstance(design, str) and design else None  # NaN: none stated
        st["design"] = (row or {}).get("design") or stated or "parallel"
        st["adjustments"] = list((row or {}).get("adjustments") or [])


def with_scale(res: dict[str, Any], scale: str) -> dict[str, Any]:
    """A pooled result's dict (and its subgroups') saying which scale its numbers are on:
    ``"log"`` for ratio measures, ``"identity"`` otherwise (trialsynth.results_schema)."""
    res["scale"] = scale
    for sub in (res.get("subgroups") or {}).values():
        with_scale(sub, scale)
    return res


def display(res: dict[str, Any], measure: str) -> dict[str, Any]:
    """Estimate, CI and prediction interval as RevMan shows them (ratios on the natural scale),
    with ``scale``: ``"ratio"`` for ratio measures (exp of the analysis scale), else
    ``"identity"``."""
    keys = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
    vals = np.array([np.nan if res[k] is None else res[k] for k in keys], dtype=float)
    out: dict[str, Any] = {"scale": "ratio" if measure in LOG_SCALE else "identity"}
    out.update(zip(keys, to_display(measure, vals).tolist(), strict=True))
    subs = res.get("subgroups") or {}
    out["subgroups"] = {name: display(sub, measure) | {"k": sub["k"], "i2": sub["i2"]}
                        for name, sub in subs.items()}
    return out
