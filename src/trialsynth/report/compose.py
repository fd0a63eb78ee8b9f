"""Compose the report of each analysis from the analyse stage's record: its arms and outcome, the
assessments (GRADE certainty, SoF row, sensitivity, small-study tests, Bayesian probability and
trial sequential analysis) as frozen :mod:`trialsynth.report.assessed` records, and the figure
jobs it needs. Used by :mod:`trialsynth.report.build`; pure apart from queueing figure jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from trialsynth._json import finite
from trialsynth.analyse import Analysed, AnalysisRun
from trialsynth.assess.certainty.statements import lower_first, outcome_phrase
from trialsynth.errors import DataError
from trialsynth.pooling.result import PooledResult
from trialsynth.registry.measures import is_ratio
from trialsynth.report import model
from trialsynth.report.arms_view import direction_from_file, unpooled_forest
from trialsynth.report.assessed import AnalysisReport, Beyond, Sensitivity
from trialsynth.report.sof import SofRow, not_estimable_row
from trialsynth.review import to_display
from trialsynth.review.arms import Arms
from trialsynth.review.inventory import AnalysisRecord
from trialsynth.review.protocol import Protocol

if TYPE_CHECKING:
    from trialsynth.assess.bias.summary import SmallStudyEffects

AddFigure = Callable[[tuple[Any, ...]], None]


def safe_name(text: str) -> str:
    """A figure's file-name part for an analysis id."""
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in text)[:40] or "x"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportContext:
    """What the report of every analysis reads: the review question, the studies' risk-of-bias
    judgements, comparison names and arms, re-analyses and the review's subgroup tests."""

    protocol: Protocol
    rob: Mapping[Any, Any]
    by_id: Mapping[str, Any]  # analysis id -> trialsynth.review.Analysis
    names: Mapping[int | str, str]  # comparison -> its name
    comparison_labels: Mapping[int, str]  # comparison -> "1. its name"
    inferred_names: frozenset[int | str]  # comparisons named by inference
    arms: Mapping[str, Arms]
    labelled_rows: Mapping[int, str]  # comparison -> its gap-map row label
    repeats: Mapping[str, str]  # analysis -> the earlier analysis it re-analyses
    subgroup_tests: Mapping[tuple[str, str, str], Sequence[tuple[str, float | None]]]
    forest_labels: Any  # trialsynth.report.figure_jobs.ForestLabels


@dataclass(slots=True)
class ReviewParts:
    """What the analyses add to the review-wide parts while they are composed: SoF rows per
    comparison, the evidence-inventory records and the gap-map rows."""

    sof_rows: dict[int, list[model.SofCandidate]] = field(default_factory=dict)
    records: list[AnalysisRecord] = field(default_factory=list)
    gap_rows: dict[str, str] = field(default_factory=dict)  # inventory comparison -> label

    def to_sof(self, g: int, row: SofRow, facts: model.Facts, aid: str) -> None:
        self.sof_rows.setdefault(g, []).append(model.SofCandidate(row, facts.outcome_id,
                                                                  facts.window_id, aid))


def outcome_key(done: Analysed, parsed: model.ParsedName) -> tuple[str, str, str]:
    return (str(done.analysis.comparison), parsed.outcome, parsed.window)


def subgroup_tests(run: AnalysisRun) -> dict[tuple[str, str, str], list[tuple[str, float | None]]]:
    """The review's subgroup analyses by the outcome they split: (factor, p of the test for
    subgroup differences), for the inconsistency of the main analysis (Core GRADE 3)."""
    out: dict[tuple[str, str, str], list[tuple[str, float | None]]] = {}
    for done in run.analyses:
        parsed, result = model.parse_name(done.analysis.name), done.pooled
        if parsed.subgroup and result is not None and result.subgroup_test is not None:
            out.setdefault(outcome_key(done, parsed), []).append(
                (parsed.subgroup, result.subgroup_test.pvalue))
    return out


def participants(rows: pd.DataFrame) -> dict[str, float | None]:
    """Study -> participants (both arms) of an analysis' pooled rows (None without N)."""
    out: dict[str, float | None] = {}
    n_t = rows["n_t"] if "n_t" in rows else None
    n_c = rows["n_c"] if "n_c" in rows else None
    for i, study in enumerate(rows["study"]):
        n = None
        if n_t is not None and n_c is not None:
            total = float(n_t.iloc[i]) + float(n_c.iloc[i])
            n = total if total == total else None  # NaN: not stated
        old = out.get(str(study))
        out[str(study)] = n if old is None else (old if n is None else old + n)
    return out


def analysis_report(ctx: ReportContext, done: Analysed, add: AddFigure,
                    parts: ReviewParts) -> AnalysisReport:
    """One analysis' report: its outcome and arms, the studies' risk of bias, and the assessment
    of a pooled analysis (or the not-estimable SoF row and forest plot of one that is not)."""
    arm = ctx.arms[done.id]
    parsed, facts = _parsed_facts(ctx, done, arm)
    # a re-analysis of an earlier analysis' data (subgroup, sensitivity): not a SoF outcome
    secondary = bool(parsed.subgroup) or done.id in ctx.repeats
    g = int(done.analysis.comparison)
    # a review organised by outcome: each pair of interventions is a row of the gap maps
    where = str(g) if arm.organised_by != "outcome" else f"{g}:{arm.pair}"
    parts.gap_rows[where] = arm.pair if arm.organised_by == "outcome" else ctx.labelled_rows[g]
    rows = done.analysis.pooled_rows
    parts.records.append(AnalysisRecord(done.id, where,
                                        facts.outcome_id or model.outcome_family(parsed.outcome),
                                        facts.window_id, participants(rows), secondary,
                                        estimable=done.pooled is not None))
    rec = AnalysisReport(done=done, repeats=ctx.repeats.get(done.id), arms=arm, parsed=parsed,
                         facts=facts, study_rob=tuple(
                             model.judged_for(ctx.rob, str(st.study), done.id) or None
                             for st in done.studies))
    if done.pooled is None:
        return _unpooled(ctx, rec, secondary, add, parts)
    return _pooled(ctx, rec, secondary, add, parts)


def _parsed_facts(ctx: ReportContext, done: Analysed, arm: Arms
                  ) -> tuple[model.ParsedName, model.Facts]:
    parsed = model.parse_name(done.analysis.name)
    if arm.organised_by == "outcome":  # the group is the outcome, the analysis the pair
        parsed = replace(model.parse_name(arm.outcome), comparison=arm.comparison,
                         subgroup=parsed.subgroup)
    rows = done.analysis.pooled_rows
    means = [float(m) for m in (*rows.get("mean_t", []), *rows.get("mean_c", []))]
    facts = model.facts_for(ctx.protocol, done.id, parsed, done.settings.measure, means,
                            [str(x) for x in rows["study"]])
    facts = direction_from_file(facts, arm)
    return replace(parsed, window=facts.window), facts


def _unpooled(ctx: ReportContext, rec: AnalysisReport, secondary: bool, add: AddFigure,
              parts: ReviewParts) -> AnalysisReport:
    """Reported but not estimable: a SoF row all the same (a main outcome), and the forest plot
    as RevMan draws it ("Not estimable" rows, or studies only)."""
    done, arm = rec.done, rec.arms
    row = None
    if not secondary:
        info = model.outcome_info(rec.parsed, rec.facts)
        if arm.organised_by == "outcome":
            info = replace(info, name=arm.pair)
        row = not_estimable_row(info, done.analysis.pooled_rows,
                                done.reason or "no pooled estimate", done.id)
        parts.to_sof(int(done.analysis.comparison), row, rec.facts, done.id)
    job = unpooled_forest(done.analysis, {"id": done.id}, arm, rec.facts, ctx.rob,
                          ctx.forest_labels, f"figures/forest_{safe_name(done.id)}.svg")
    if job is not None:
        add(job)
    return replace(rec, sof_row=row, figure=None if job is None else job[2])


def _pooled(ctx: ReportContext, rec: AnalysisReport, secondary: bool, add: AddFigure,
            parts: ReviewParts) -> AnalysisReport:
    """GRADE certainty, the SoF row and statement and the forest plot of a pooled analysis; for
    a main (not subgroup) analysis also its sensitivity analyses and funnel-plot tests."""
    done, arm, parsed, facts = rec.done, rec.arms, rec.parsed, rec.facts
    result, rows, g = done.pooled, done.analysis.pooled_rows, int(done.analysis.comparison)
    assert result is not None  # noqa: S101 - the caller checked
    x, y = (arm.experimental, arm.control) if arm.named else \
        model.split_comparison(parsed.comparison or ctx.names.get(g), g)
    judged = [model.judged_for(ctx.rob, str(st), done.id) for st in rows["study"]]
    assessed = model.assess_analysis(
        result, rows, parsed, judged, facts,
        () if parsed.subgroup else ctx.subgroup_tests.get(
            outcome_key(done, model.parse_name(done.analysis.name)), ()))
    if arm.organised_by == "outcome":  # the SoF row is the pair; statements name the outcome
        assessed.outcome = replace(assessed.outcome, name=arm.pair,
                                   statement_name=outcome_phrase(parsed.outcome))
    row = model.sof_for(result, assessed, rows, lower_first(x), done.id,
                        done.settings.prediction_interval)
    if row is not None and not secondary:
        parts.to_sof(g, row, facts, done.id)
    named = arm.named or " versus " in (parsed.comparison or ctx.names.get(g) or "")
    labels = ctx.forest_labels(
        experimental=x if named or g in ctx.names else "Experimental",
        control=y if named else "Control", direction_of_benefit=assessed.direction,
        analysis_number=done.id, favours_left=arm.favours_left, favours_right=arm.favours_right,
        prediction_interval=done.settings.prediction_interval is not False)
    rel = f"figures/forest_{safe_name(done.id)}.svg"
    add(("forest", done.id, rel, result, rows, labels, assessed.rob_map or None))
    rec = replace(rec, pooled=True, rob_note=assessed.rob_note, certainty=assessed.certainty,
                  certainty_error=None if assessed.certainty is not None else assessed.error,
                  sof_row=row, statement=None if row is None else row.statement or None,
                  figure=rel)
    if parsed.subgroup:  # a re-analysis keeps its own checks
        return rec
    return _checks(rec, judged, labels, add)


def _checks(rec: AnalysisReport, judged: Sequence[Mapping[str, str]], labels: Any,
            add: AddFigure) -> AnalysisReport:
    """Sensitivity analyses, funnel-plot tests and the funnel plot of a main analysis."""
    done = rec.done
    result, rows = done.pooled, done.analysis.pooled_rows
    assert result is not None  # noqa: S101 - only pooled analyses are checked
    sens = sensitivity(result, rows, judged, done.settings.measure)
    small, fill = small_study(result, rows, sens)
    funnel = None
    if small.skipped_reason is None:
        funnel = f"figures/funnel_{safe_name(done.id)}.svg"
        add(("funnel", done.id, funnel, result, labels, *fill))
    return replace(rec, sensitivity=sens, small_study=small, funnel_figure=funnel)


def sensitivity(result: PooledResult, rows: pd.DataFrame, judged: Sequence[Mapping[str, str]],
                measure: str) -> Sensitivity:
    """The sensitivity analyses of one main analysis (trialsynth.assess.sensitivity), with estimates
    also on the natural scale (ratios as ratios)."""
    from trialsynth.assess.sensitivity import sensitivity_analyses

    levels = []
    for j in judged:  # a "low" judged on only some domains is not a low overall (RoB 2)
        level, partial = model.study_rob_level(j)
        levels.append("some_concerns" if partial and level == "low" else level)
    years = [None if y is None or y != y else y for y in rows["year"]] if "year" in rows else None
    cols = {c: rows[c].to_numpy() for c in ("events_t", "n_t", "events_c", "n_c") if c in rows}
    try:
        rep = sensitivity_analyses(result, rob_levels=levels if any(levels) else None,
                                   years=years, columns=cols or None)
    except (ValueError, DataError) as exc:
        return Sensitivity(report=None, error=str(exc))
    natural = []
    for row in rep.to_dict()["analyses"]:
        vals = np.array([np.nan if row[k] is None else row[k]
                         for k in ("estimate", "ci_low", "ci_high")], dtype=float)
        est, low, high = to_display(measure, vals).tolist()
        natural.append((est, low, high))
    return Sensitivity(report=rep, natural=tuple(natural))


def small_study(result: PooledResult, rows: pd.DataFrame, sens: Sensitivity | None
                ) -> tuple[SmallStudyEffects, tuple[Any, ...]]:
    """Funnel-plot tests of one main analysis (trialsynth.assess.bias.summary) and, when there are
    enough studies for a funnel plot, what the plot adds: trim-and-fill's filled studies
    (yi, SE) and its estimate (from the sensitivity analyses)."""
    from trialsynth.assess.bias.summary import (
        COUNT_COLUMNS,
        MIN_K,
        SmallStudyEffects,
        small_study_summary,
    )

    cols = {c: rows[c].to_numpy() for c in COUNT_COLUMNS if c in rows}
    try:
        out = small_study_summary(result, cols or None)
    except (ValueError, DataError) as exc:
        return SmallStudyEffects(k=0, min_k=MIN_K, skipped_reason=f"Not computed: {exc}",
                                 error=str(exc)), ()
    tf = None if sens is None or sens.report is None else sens.report.trimfill
    if out.skipped_reason is not None or tf is None:
        return out, ()
    fill = [(y, float(np.sqrt(v))) for y, v in zip(tf.filled_yi, tf.filled_vi, strict=True)]
    return out, (fill, tf.estimate)


def beyond(main: Sequence[AnalysisReport], protocol: Protocol) -> list[Beyond]:
    """Per main analysis: how likely an important effect is (Bayesian random effects,
    trialsynth.assess.bayes) and how much more evidence would settle it (TSA and the next trial,
    trialsynth.assess.sequential), with the plain answers the report prints."""
    from trialsynth.assess.bayes import bayes_summaries
    from trialsynth.assess.sequential.plan import default_mid

    pooled = [r.done.pooled for r in main]
    mids = [r.facts.mid if r.facts.mid is not None else default_mid(p.measure)  # type: ignore[union-attr]
            for r, p in zip(main, pooled, strict=True)]
    error = None
    try:
        bayes: list[Any] = list(bayes_summaries(pooled, mids=mids,  # type: ignore[arg-type]
                                                directions=[r.facts.direction for r in main]))
    except (ValueError, DataError) as exc:
        bayes, error = [None] * len(main), str(exc)
    return [_beyond_one(rec, mid, b, error, protocol)
            for rec, mid, b in zip(main, mids, bayes, strict=True)]


def _beyond_one(rec: AnalysisReport, mid: float | None, b: Any, error: str | None,
                protocol: Protocol) -> Beyond:
    from trialsynth.assess.sequential.plan import trial_plan

    result = rec.done.pooled
    assert result is not None  # noqa: S101 - main analyses are pooled
    p_benefit = None if b is None else finite(b.p_benefit)
    given, agreement = False, None
    if mid is None:
        probability = ("No minimal important difference is stated for this outcome, so the "
                       "probability of an important effect is not given.")
    elif p_benefit is None:
        probability = f"Not computed: {error or 'no studies to combine'}."
    else:
        p_harm, p_trivial = finite(b.p_harm), finite(b.p_trivial)
        unit = (f"a relative change of {mid:.0%}" if is_ratio(result.measure) else f"{mid:g}")
        probability = (
            f"Probability that the true average effect is an important benefit (beyond the "
            f"minimal important difference, {unit}): {_pct(p_benefit)}; important harm: "
            f"{_pct(p_harm)}; trivial: {_pct(p_trivial)} (Bayesian random-effects "
            f"model, τ prior {b.prior['label']}).")
        given, agreement = True, _agreement(rec, p_benefit, p_harm, p_trivial)
    answer = Beyond(bayes=b, bayes_error=error, probability=probability, agreement=agreement,
                    probability_given=given, tsa=None, ris_basis=None, next_trial="")
    try:
        plan = trial_plan(rec.done.analysis, result, protocol, mid=mid)
    except (ValueError, DataError) as exc:
        return replace(answer, next_trial=f"Not computed: {exc}.")
    tsa = plan.tsa.to_dict()  # the TSA as results.json holds it
    nxt = tsa["next_trial"] or {}
    size = (f"A new two-arm trial of {nxt['per_arm']:.0f} participants per arm would make "
            "the updated meta-analysis conclusive" if nxt.get("per_arm")
            else (nxt.get("reason") or "No next-trial size could be computed").capitalize())
    return replace(answer, tsa=plan.tsa,
                   ris_basis=ris_basis(tsa, rec.facts.mid_source if rec.facts.mid is not None
                                       else "default"),
                   next_trial=f"Trial sequential analysis: {tsa['conclusion']} {size}.")


def _agreement(rec: AnalysisReport, p_benefit: float, p_harm: float | None,
               p_trivial: float | None) -> str | None:
    """Does the analysis' statement agree with its Bayesian probability? (certainty.statements)"""
    from trialsynth.assess.certainty.statements import bayes_agreement

    row = None if rec.sof_row is None else rec.sof_row.to_dict()
    if not row or not row.get("certainty") or not row.get("statement"):
        return None
    rated = [] if rec.certainty is None else \
        [d for d, j in rec.certainty.domains.items() if j.downgrade]
    return bayes_agreement(row["statement"], row["certainty"], row.get("band") or "",
                           row.get("effect") or "benefit", p_benefit, p_harm, p_trivial,
                           rated_down=rated)


def ris_basis(tsa: Mapping[str, Any], mid_source: str) -> str:
    """What the required information size anticipates, and where each input came from."""
    source = {"review folder": "stated in the review folder",
              "project default": "a declared project default"}.get(
                  mid_source, "trialsynth's default for this measure")
    ratio = is_ratio(tsa["measure"])
    effect = (f"a {tsa['mid']:.0%} relative change in risk ({source})" if ratio
              else f"a difference of {tsa['mid']:g} ({tsa['measure']}, the minimal important "
                   f"difference {source})")
    if tsa.get("control_risk") is not None:
        base = f" from a control-group risk of {tsa['control_risk']:.1%} (the control arms)"
    elif tsa.get("sd") is not None:
        sd_note = next((n for n in tsa.get("notes") or () if "SD" in n), "")
        base = f", outcome SD {tsa['sd']:.3g}" + (f" ({sd_note})" if sd_note else "")
    else:
        base = ""
    adjust = (f", inflated for heterogeneity (D² = {tsa['d2']:.0%})"
              if tsa.get("heterogeneity") == "D2" and tsa.get("d2") else "")
    return (f"The required information size anticipates {effect}{base}, two-sided α "
            f"{tsa['alpha']:g} and power {tsa['power']:.0%}{adjust}.")


def _pct(p: float | None) -> str:
    return "-" if p is None else ("< 1%" if p < 0.005 else "> 99%" if p > 0.995 else f"{p:.0%}")
