"""Assemble the review report: certainty, SoF rows and statements per analysis, SoF tables per
comparison, the gap map, figures (inline SVG and files) and CSV tables. Used by
:func:`trialsynth.runner.run_review`; pure apart from drawing figures in memory."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialsynth.assess.certainty.statements import lower_first, outcome_phrase
from trialsynth.errors import DataError
from trialsynth.pooling.result import PooledResult
from trialsynth.readers.folder import ReviewFolder
from trialsynth.registry.measures import is_ratio
from trialsynth.render.exports import table_files, to_csv
from trialsynth.render.sof_docx import sof_document
from trialsynth.report import model
from trialsynth.report.arms_view import (
    analysis_arms,
    direction_from_file,
    group_arms,
    outcome_group_titles,
    placeholder,
    unpooled_forest,
)
from trialsynth.report.navigation import navigation, row_facets
from trialsynth.report.research import research_implications
from trialsynth.report.rob_view import rob_figure_jobs, rob_figures_result
from trialsynth.report.sof import not_estimable_row
from trialsynth.report.studies import study_inventory
from trialsynth.review import to_display
from trialsynth.review.inventory import AnalysisRecord, evidence_inventory
from trialsynth.review.protocol import Protocol

PARALLEL_MIN = 12  # fewer forest plots are drawn in this process


@dataclass(slots=True)
class Report:
    """What the runner adds to results.json, the extra files, and what only the HTML needs."""

    results: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str | bytes] = field(default_factory=dict)
    svgs: dict[str, str] = field(default_factory=dict)  # analysis id -> inline <svg>
    figures: dict[str, str] = field(default_factory=dict)  # figure path -> inline <svg>
    gap_svgs: list[str] = field(default_factory=list)
    comparison_labels: dict[int, str] = field(default_factory=dict)
    inferred_names: set[int | str] = field(default_factory=set)  # comparisons named by inference
    names: dict[int | str, str] = field(default_factory=dict)  # comparison -> its name
    rob_note: str = ""


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in text)[:40] or "x"


def _inline(svg_doc: str) -> str:
    """The ``<svg>`` element of an SVG document (as :func:`figures.svg_text`, without redrawing)."""
    return svg_doc[svg_doc.find("<svg "):].strip() + "\n"


def _draw_one(job: tuple[Any, ...]) -> tuple[str, bytes | None]:
    """One figure, drawn once and rendered twice: (SVG document, PNG bytes). Jobs:

    * ``("forest", id, path, result, rows, labels, rob)``
    * ``("gap", path, path, i, map)``
    * ``("funnel", id, path, result, labels)`` (labels: ForestLabels or None; with fewer than
      10 studies the figure says why no funnel plot is drawn)
    * ``("rob_summary", key, path, rob, weights, title)`` (rob: study -> {domain: judgement};
      weights: study -> weight, or None for shares of studies)
    * ``("rob_traffic", key, path, rob, title)``
    * ``("tsa", id, path, tsa, title)`` (tsa: trialsynth.assess.sequential.TsaSummary)

    A funnel job may carry two more items: the (yi, SE) trim-and-fill fills and its estimate.
    """
    from trialsynth.render.figures import export
    from trialsynth.render.figures.forest import forest_plot
    from trialsynth.render.figures.funnel import funnel_plot
    from trialsynth.render.figures.gapmap import gap_map
    from trialsynth.render.figures.rob import rob_summary_plot, rob_traffic_light

    kind = job[0]
    if kind == "gap":
        _, _, _, i, m = job
        fig = gap_map(pd.DataFrame(m["cells"]), outcomes=m["outcomes"], windows=m["windows"],
                      interventions=m["interventions"], outcome_windows=m["outcome_windows"],
                      title=f"Evidence-gap map {i}: {m['title']}")
    elif kind == "funnel":
        _, _, _, result, labels, *fill = job
        fig = funnel_plot(result, when_too_few="note",
                          title=None if labels is None or labels.analysis_number is None
                          else f"Analysis {labels.analysis_number}: contour-enhanced funnel plot",
                          measure_label=None if labels is None else labels.measure_label,
                          filled=fill[0] if fill else (),
                          filled_estimate=fill[1] if len(fill) > 1 else None)
    elif kind == "tsa":
        from trialsynth.render.figures.tsa import plot_tsa

        _, _, _, tsa, title = job
        fig = plot_tsa(tsa, title=title)
    elif kind == "rob_summary":
        _, _, _, rob, weights, title = job
        fig = rob_summary_plot(rob, weights=weights, title=title)
    elif kind == "rob_traffic":
        _, _, _, rob, title = job
        fig = rob_traffic_light(rob, title=title)
    elif kind == "network":  # ("network", key, path, figure kind, NmaResult, title, reference, small)
        from trialsynth.report.network import draw

        fig = draw(*job[3:])
    else:
        _, _, _, result, rows, labels, rob = job
        try:
            fig = forest_plot(result, rows, labels=labels, rob=rob)
        except ValueError:  # arm data or RoB that the plot cannot use: draw without them
            fig = forest_plot(result, None, labels=labels)
    return export.svg_document(fig), export.png_bytes(fig, dpi=export.REPORT_PNG_DPI)


def _workers() -> int:
    return min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1), 4)


def _preload() -> None:
    """What every figure needs, loaded once here rather than in each forked worker."""
    import PIL.PngImagePlugin  # noqa: F401
    from matplotlib.backends import backend_agg, backend_mixed, backend_svg  # noqa: F401

    from trialsynth.render.figures import export, forest_draw, funnel, gapmap, rob, tsa  # noqa: F401

    export.svg_renderer_class()
    export.agg_renderer_class()
    export.warm_glyphs()


class _FigurePool:
    """Figures drawn while the report is still being computed: each job goes to a forked worker
    process as soon as it is known (drawing is CPU-bound and holds the GIL), so the workers draw
    forest plots while this process rates certainty and runs the sensitivity, Bayesian and
    sequential analyses. With few figures, one CPU, or no ``fork``, everything is drawn here at
    :meth:`collect`. Results come back in the order the jobs were added."""

    def __init__(self, expected: int) -> None:
        self.jobs: list[tuple[Any, ...]] = []
        self.futures: list[Any] = []
        self.pool: ProcessPoolExecutor | None = None
        workers = _workers()
        if expected >= PARALLEL_MIN and workers >= 2 and "fork" in mp.get_all_start_methods():
            _preload()
            try:
                self.pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"))
            except OSError:
                self.pool = None

    def add(self, job: tuple[Any, ...]) -> None:
        self.jobs.append(job)
        if self.pool is not None:
            try:
                self.futures.append(self.pool.submit(_draw_one, job))
            except (RuntimeError, BrokenProcessPool):  # the pool died: draw here at the end
                self.futures.append(None)

    def collect(self) -> list[tuple[str, bytes | None]]:
        """Every figure, (SVG document, PNG bytes), in the order added; a figure a worker
        could not deliver (the pool broke) is drawn here."""
        if self.pool is None:
            return [_draw_one(j) for j in self.jobs]
        out = []
        try:
            for job, fut in zip(self.jobs, self.futures, strict=True):
                try:
                    out.append(_draw_one(job) if fut is None else fut.result())
                except BrokenProcessPool:
                    out.append(_draw_one(job))
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None


def _collect(figures: _FigurePool) -> list[tuple[str, bytes | None]]:
    """Wait for (or draw) every figure; a function of its own so that benchmarks can time it."""
    return figures.collect()


def _draw(jobs: Sequence[tuple[Any, ...]]) -> list[tuple[str, bytes | None]]:
    """Figures in order (in worker processes when there are many)."""
    figures = _FigurePool(len(jobs))
    for job in jobs:
        figures.add(job)
    return figures.collect()


def _int_or_str(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _participants(rows: pd.DataFrame) -> dict[str, float | None]:
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


def _sensitivity(result: PooledResult, rows: pd.DataFrame, judged: Sequence[Mapping[str, str]],
                 measure: str) -> dict[str, Any] | None:
    """The sensitivity analyses of one main analysis (trialsynth.assess.sensitivity) for results.json
    and the page, with estimates also on the display scale (ratios natural)."""
    from trialsynth.assess.sensitivity import sensitivity_analyses

    levels = []
    for j in judged:  # a "low" judged on only some domains is not a low overall (RoB 2)
        level, partial = model.study_rob_level(j)
        levels.append("some_concerns" if partial and level == "low" else level)
    years = [None if y is None or y != y else y for y in rows["year"]] if "year" in rows else None
    cols = {c: rows[c].to_numpy() for c in ("events_t", "n_t", "events_c", "n_c") if c in rows}
    try:
        rep = sensitivity_analyses(result, rob_levels=levels if any(levels) else None,
                                   years=years, columns=cols or None).to_dict()
    except (ValueError, DataError) as exc:
        return {"error": str(exc)}
    for row in rep["analyses"]:
        vals = np.array([np.nan if row[k] is None else row[k]
                         for k in ("estimate", "ci_low", "ci_high")], dtype=float)
        row["display"] = dict(zip(("estimate", "ci_low", "ci_high"),
                                  to_display(measure, vals).tolist(), strict=True))
    return rep


def _small_study(result: PooledResult, rows: pd.DataFrame, sens: Mapping[str, Any] | None
                 ) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """Funnel-plot tests of one main analysis (trialsynth.assess.bias.summary) and, when there are
    enough studies for a funnel plot, what the plot adds: trim-and-fill's filled studies
    (yi, SE) and its estimate (from the sensitivity analyses)."""
    from trialsynth.assess.bias.summary import COUNT_COLUMNS, small_study_effects

    cols = {c: rows[c].to_numpy() for c in COUNT_COLUMNS if c in rows}
    try:
        out = small_study_effects(result, cols or None)
    except (ValueError, DataError) as exc:
        return {"error": str(exc), "skipped_reason": f"Not computed: {exc}"}, ()
    tf = (sens or {}).get("trimfill") or {}
    if out["skipped_reason"] is not None or not tf:
        return out, ()
    fill = [(y, float(np.sqrt(v))) for y, v in zip(tf.get("filled_yi") or (),
                                                   tf.get("filled_vi") or (), strict=True)]
    return out, (fill, tf.get("estimate"))


def _outcome_key(a: Mapping[str, Any], parsed: model.ParsedName) -> tuple[str, str, str]:
    return (str(a["comparison"]), parsed.outcome, parsed.window)


def _subgroup_tests(analyses: Sequence[Mapping[str, Any]], pooled: Sequence[PooledResult | None]
                    ) -> dict[tuple[str, str, str], list[tuple[str, float | None]]]:
    """The review's subgroup analyses by the outcome they split: (factor, p of the test for
    subgroup differences), for the inconsistency of the main analysis (Core GRADE 3)."""
    out: dict[tuple[str, str, str], list[tuple[str, float | None]]] = {}
    for a, result in zip(analyses, pooled, strict=True):
        parsed = model.parse_name(a["name"])
        if parsed.subgroup and result is not None and result.subgroup_test is not None:
            out.setdefault(_outcome_key(a, parsed), []).append(
                (parsed.subgroup, result.subgroup_test.pvalue))
    return out


def _agreement(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """Does the analysis' statement agree with its Bayesian probability? (certainty.statements)"""
    from trialsynth.assess.certainty.statements import bayes_agreement

    row = (a.get("sof") or [None])[0]
    if not row or not row.get("certainty") or not row.get("statement"):
        return None
    rated = [d for d, j in ((a.get("certainty") or {}).get("domains") or {}).items()
             if j["downgrade"]]
    return bayes_agreement(row["statement"], row["certainty"], row.get("band") or "",
                           row.get("effect") or "benefit", b["p_benefit"], b["p_harm"],
                           b["p_trivial"], rated_down=rated)


def _ris_basis(tsa: Mapping[str, Any], mid_source: str) -> str:
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


def _beyond(main: Sequence[tuple[dict[str, Any], PooledResult, model.Facts]],
            by_id: Mapping[str, Any], protocol: Protocol
            ) -> list[tuple[dict[str, Any], Any]]:
    """Per main analysis: how likely an important effect is (Bayesian random effects,
    trialsynth.assess.bayes) and how much more evidence would settle it (TSA and the next trial,
    trialsynth.assess.sequential), with the plain answers the report prints; and the TsaSummary for
    its figure (None when none was computed)."""
    from trialsynth.assess.bayes import bayes_summaries
    from trialsynth.assess.sequential.plan import default_mid, plan_for

    mids = [f.mid if f.mid is not None else default_mid(r.measure) for _, r, f in main]
    try:
        bayes = [b.to_dict() for b in bayes_summaries(
            [r for _, r, _ in main], mids=mids, directions=[f.direction for _, _, f in main])]
    except (ValueError, DataError) as exc:
        bayes = [{"error": str(exc)}] * len(main)
    out = []
    for (a, result, facts), mid, b in zip(main, mids, bayes, strict=True):
        answer: dict[str, Any] = {"bayes": b, "tsa": None}
        tsa_summary = None
        if mid is None:
            answer["probability"] = ("No minimal important difference is stated for this outcome, "
                                     "so the probability of an important effect is not given.")
        elif "error" in b or b.get("p_benefit") is None:
            answer["probability"] = f"Not computed: {b.get('error') or 'no studies to combine'}."
        else:
            unit = (f"a relative change of {mid:.0%}" if is_ratio(result.measure) else f"{mid:g}")
            answer["probability"] = (
                f"Probability that the true average effect is an important benefit (beyond the "
                f"minimal important difference, {unit}): {_pct(b['p_benefit'])}; important harm: "
                f"{_pct(b['p_harm'])}; trivial: {_pct(b['p_trivial'])} (Bayesian random-effects "
                f"model, τ prior {b['prior']['label']}).")
            answer["agreement"] = _agreement(a, b)
        try:
            plan = plan_for(by_id[a["id"]], result, protocol, mid=mid)
        except (ValueError, DataError) as exc:
            answer["next_trial"] = f"Not computed: {exc}."
        else:
            tsa, tsa_summary = plan["tsa"], plan["_tsa"]
            answer["tsa"] = tsa
            answer["ris_basis"] = _ris_basis(tsa, facts.mid_source if facts.mid is not None
                                             else "default")
            nxt = tsa["next_trial"] or {}
            size = (f"A new two-arm trial of {nxt['per_arm']:.0f} participants per arm would make "
                    "the updated meta-analysis conclusive" if nxt.get("per_arm")
                    else (nxt.get("reason") or "No next-trial size could be computed").capitalize())
            answer["next_trial"] = f"Trial sequential analysis: {tsa['conclusion']} {size}."
        out.append((answer, tsa_summary))
    return out


def build_report(folder: ReviewFolder, source: Path, analyses: list[dict[str, Any]],
                 pooled: Sequence[PooledResult | None], progress: Any = None) -> Report:
    """Add ``parsed, facts, certainty, sof, statement, rob_note, figure`` to every analysis dict
    and return the report parts (figures are drawn here). ``folder`` is the review as a review
    folder (:func:`trialsynth.readers.convert.build_folder`): what its ``review.yaml`` states (the
    question, comparison names, outcomes with direction and MID, time windows, GRADE overrides)
    is used, and the declared project defaults only where it states nothing."""
    # loaded here, before any worker is forked
    from trialsynth.render.figures import ForestLabels, export, gapmap  # noqa: F401

    figures = _FigurePool(len(analyses))
    try:
        return _build(folder, analyses, pooled, progress, figures)
    finally:
        figures.close()


def _build(folder: ReviewFolder, analyses: list[dict[str, Any]],
           pooled: Sequence[PooledResult | None], progress: Any, figures: _FigurePool) -> Report:
    from trialsynth.render.figures import ForestLabels

    protocol, review = folder.protocol, folder.review
    rob = folder.rob_assessments()
    rep = Report()
    by_id = {a.id: a for a in review.analyses}
    stated = {_int_or_str(c.id): c for c in protocol.comparisons}
    names = {g: c.name for g, c in stated.items()}
    arms = analysis_arms(review.analyses, {g: c.name for g, c in stated.items() if not placeholder(c)})
    for g, title in outcome_group_titles(arms, review.analyses).items():
        names[g] = title  # a group organised by outcome is named by its outcome
    rep.comparison_labels = {int(a["comparison"]): f"{a['comparison']}. " + (
        names.get(int(a["comparison"])) or f"Comparison {a['comparison']}") for a in analyses}
    labelled_rows = dict(rep.comparison_labels)
    for g in labelled_rows:  # the gap map names a comparison by its arms where the file labels them
        if (named := group_arms(arms, by_id, g, labelled=True)) is not None:
            labelled_rows[g] = f"{named[0]} versus {named[1]}"
    rep.inferred_names = {g for g, c in stated.items() if c.inferred}
    rep.names = dict(names)
    sof_rows: dict[int, list[model.SofCandidate]] = {}

    def to_sof(g: int, row: Any, facts: model.Facts, aid: str) -> None:  # a comparison's table row
        sof_rows.setdefault(g, []).append(model.SofCandidate(row, facts.outcome_id, facts.window_id,
                                                             aid))
    records: list[AnalysisRecord] = []
    mains: list[tuple[dict[str, Any], PooledResult, model.Facts]] = []
    subgroup_tests = _subgroup_tests(analyses, pooled)
    repeats = model.repeated_analyses([(a["id"], str(a["comparison"]), a["name"],
                                        by_id[a["id"]].pooled_rows) for a in analyses])
    gap_rows: dict[str, str] = {}  # inventory comparison → gap-map row label
    task = None
    if progress is not None:
        task = progress.add_task("figures and certainty", total=len(analyses))
    for a, result in zip(analyses, pooled, strict=True):
        arm = arms[a["id"]]
        parsed = model.parse_name(a["name"])
        if arm.organised_by == "outcome":  # the group is the outcome, the analysis the pair
            parsed = replace(model.parse_name(arm.outcome), comparison=arm.comparison,
                             subgroup=parsed.subgroup)
        rows = by_id[a["id"]].pooled_rows
        means = [float(m) for m in (*rows.get("mean_t", []), *rows.get("mean_c", []))]
        facts = model.facts_for(protocol, a["id"], parsed, a["settings"]["measure"], means,
                                [str(x) for x in rows["study"]])
        facts = direction_from_file(facts, arm)
        parsed = replace(parsed, window=facts.window)
        # a re-analysis of an earlier analysis' data (subgroup, sensitivity): not a SoF outcome
        secondary = bool(parsed.subgroup) or a["id"] in repeats
        if a["id"] in repeats:
            a["repeats"] = repeats[a["id"]]
        a["arms"] = arm.to_dict() | {"gap_map_row": arm.pair if arm.organised_by == "outcome"
                                     else None}
        a["parsed"] = parsed.to_dict()
        a["parsed"]["outcome_id"] = facts.outcome_id
        a["certainty"], a["sof"], a["statement"], a["rob_note"], a["figure"] = None, [], None, None, None
        a["outcome_defaults"] = {"direction_of_benefit": facts.direction,
                                 "direction_source": facts.direction_source, "mid": facts.mid,
                                 "mid_source": facts.mid_source}
        # a review organised by outcome: each pair of interventions is a row of the gap maps
        where = str(a["comparison"]) if arm.organised_by != "outcome" else \
            f"{a['comparison']}:{arm.pair}"
        gap_rows[where] = arm.pair if arm.organised_by == "outcome" else \
            labelled_rows[int(a["comparison"])]
        records.append(AnalysisRecord(a["id"], where,
                                      facts.outcome_id or model.outcome_family(parsed.outcome),
                                      facts.window_id, _participants(rows),
                                      secondary, estimable=result is not None))
        judged = [model.judged_for(rob, str(st), a["id"]) for st in rows["study"]]
        for st in a["studies"]:
            st["rob"] = model.judged_for(rob, str(st["study"]), a["id"]) or None
        g = int(a["comparison"])
        if result is None:
            if not secondary:  # reported but not estimable: a SoF row all the same
                info = model.outcome_info(parsed, facts)
                if arm.organised_by == "outcome":
                    info = replace(info, name=arm.pair)
                row = not_estimable_row(info, rows, a.get("reason") or "no pooled estimate",
                                        a["id"])
                a["sof"] = [row.to_dict()]
                to_sof(g, row, facts, a["id"])
            job = unpooled_forest(by_id[a["id"]], a, arm, facts, rob, ForestLabels,
                                  f"figures/forest_{_safe(a['id'])}.svg")
            if job is not None:  # as RevMan draws it: "Not estimable" rows, or studies only
                figures.add(job)
                a["figure"] = job[2]
            if task is not None:
                progress.advance(task)
            continue
        x, y = (arm.experimental, arm.control) if arm.named else \
            model.split_comparison(parsed.comparison or names.get(g), g)
        assessed = model.assess_analysis(
            result, rows, parsed, judged, facts,
            () if parsed.subgroup else subgroup_tests.get(
                _outcome_key(a, model.parse_name(a["name"])), ()))
        if arm.organised_by == "outcome":  # the SoF row is the pair; statements name the outcome
            assessed.outcome = replace(assessed.outcome, name=arm.pair,
                                       statement_name=outcome_phrase(parsed.outcome))
        a["rob_note"] = assessed.rob_note
        if assessed.certainty is not None:
            a["certainty"] = model.certainty_dict(assessed.certainty)
        else:
            a["certainty_error"] = assessed.error
        row = model.sof_for(result, assessed, rows, lower_first(x), a["id"],
                            a["settings"].get("prediction_interval"))
        if row is not None:
            a["sof"] = [row.to_dict()]
            a["statement"] = row.statement or None
            if not secondary:
                to_sof(g, row, facts, a["id"])
        named = arm.named or " versus " in (parsed.comparison or names.get(g) or "")
        labels = ForestLabels(experimental=x if named or g in names else "Experimental",
                              control=y if named else "Control",
                              direction_of_benefit=assessed.direction, analysis_number=a["id"],
                              favours_left=arm.favours_left, favours_right=arm.favours_right,
                              prediction_interval=a["settings"].get("prediction_interval")
                              is not False)
        rel = f"figures/forest_{_safe(a['id'])}.svg"
        figures.add(("forest", a["id"], rel, result, rows, labels, assessed.rob_map or None))
        a["figure"] = rel
        if not parsed.subgroup:  # a re-analysis keeps its own checks
            a["sensitivity"] = _sensitivity(result, rows, judged, a["settings"]["measure"])
            a["small_study"], fill = _small_study(result, rows, a["sensitivity"])
            if a["small_study"].get("skipped_reason") is None:
                a["funnel_figure"] = f"figures/funnel_{_safe(a['id'])}.svg"
                figures.add(("funnel", a["id"], a["funnel_figure"], result, labels, *fill))
            mains.append((a, result, facts))
        if task is not None:
            progress.advance(task)

    network = _network_section(folder)
    for job in network.jobs:
        figures.add(job)

    # a summary only: RoB 2 is judged per result, so the first result of each study stands for it
    judged: dict[str, dict[str, str]] = {}
    for a in analyses:
        for st in a["studies"]:
            judged.setdefault(st["study"], dict(st.get("rob") or {}))
    rob_judged = {st: j for st, j in judged.items() if j}
    rob_problem = None
    try:
        from trialsynth.render.figures.rob import rob_levels

        rob_levels(rob_judged)
    except ValueError as exc:  # a judgement the figures cannot place: no figure, say why
        rob_problem, rob_judged = str(exc), {}
    rob_figures = rob_figure_jobs(rob_judged)
    for job in rob_figures:
        figures.add(job[0])
        figures.add(job[1])

    # beyond the pooled estimate, for the main analyses (primary outcomes of the question)
    primary = {o.id for o in protocol.question.outcomes if o.priority == "primary"}
    main = [(a, r, f) for a, r, f in mains if f.outcome_id in primary or not primary]
    for a, (answers, tsa) in zip([m[0] for m in main], _beyond(main, by_id, protocol),
                                 strict=True):
        a["beyond"] = answers
        if tsa is not None:
            a["tsa_figure"] = f"figures/tsa_{_safe(a['id'])}.svg"
            figures.add(("tsa", a["id"], a["tsa_figure"], tsa,
                         f"Analysis {a['id']}: trial sequential analysis"))

    # evidence inventory: the question's outcomes against what the trials reported; gap maps
    inventory_model = evidence_inventory(protocol, records)
    windows = [w.name for w in protocol.question.time_windows] or list(model.WINDOWS)
    by_pair = {g.split(":")[0] for g in gap_rows if ":" in g}
    gap_rows |= {str(g): lab for g, lab in labelled_rows.items()
                 if str(g) not in gap_rows and str(g) not in by_pair}
    maps = model.gap_maps(inventory_model, analyses, gap_rows, windows)
    for i, m in enumerate(maps, start=1):
        m["figure"] = f"figures/gap_map_{i}.svg"
        figures.add(("gap", m["figure"], m["figure"], i, m))
    population = protocol.question.population.description if protocol.question.population else None
    # outcomes whose absence a SoF table shows: the ranked ones and those the review chose
    ranked = {o.id for o in protocol.question.outcomes if o.priority} | {
        c.outcome for c in protocol.question.summary_of_findings or []}
    directions = {o.id: ("higher" if o.direction_of_benefit == "higher_is_better" else "lower")
                  for o in protocol.question.outcomes}

    # per comparison: SoF table, with "no studies" rows for the ranked outcomes it lacks
    sof_tables: dict[str, Any] = {}
    missing_by: dict[int, list[model.SofCandidate]] = {}
    for g, label in sorted(rep.comparison_labels.items()):
        missing = [model.SofCandidate(model.missing_row(c.outcome_name, c.window_name,
                                                        directions.get(c.outcome, "lower")),
                                      c.outcome, c.window)
                   for c in inventory_model.cells
                   if c.comparison == str(g) and c.outcome in ranked and not c.analyses
                   and str(g) not in by_pair]
        missing_by[g] = missing
        sof_tables[str(g)] = {"label": label, "inferred": g in rep.inferred_names,
                              **model.comparison_sof(g, names.get(g), [*sof_rows.get(g, []),
                                                                       *missing],
                                                     protocol.question, population,
                                                     arms=group_arms(arms, by_id, g))}

    rep.results["key_messages"] = _key_messages(
        sof_rows, missing_by, {g: group_arms(arms, by_id, g) or (*model.split_comparison(
            names.get(g), g), None) for g in rep.comparison_labels}, protocol, inventory_model)
    nav = navigation(analyses, protocol, rep.names)
    headings = {c["id"]: c["heading"] for c in nav["comparisons"]}
    for g, heading in headings.items():
        sof_tables[str(g)]["heading"] = heading
        for tab in (sof_tables[str(g)]["table"], sof_tables[str(g)]["other_outcomes"]):
            for row in (tab or {}).get("rows", ()):
                row["facets"] = row_facets(row)
    for a in analyses:
        a["facets"] = nav["analyses"][a["id"]]
    research = research_implications(analyses, protocol, headings,
                                     [f.to_dict() for f in inventory_model.findings])
    inventory = {"comparisons": len(rep.comparison_labels), "analyses": len(analyses),
                 "studies": len({s["study"] for a in analyses for s in a["studies"]}),
                 **inventory_model.to_dict(), "gap_maps": maps}
    identity = _identity(protocol)
    # the tables as files, written while the figure workers are still drawing
    rep.files.update(table_files(analyses, sof_tables, maps, research))
    rep.files["tables/sof.docx"] = sof_document(sof_tables, identity)
    for (kind, aid, rel, *_), (doc, png) in zip(figures.jobs, _collect(figures), strict=True):
        if kind == "forest":
            rep.svgs[aid] = _inline(doc)
        elif kind == "gap":
            rep.gap_svgs.append(_inline(doc))
        rep.figures[rel] = _inline(doc)
        rep.files[rel] = doc
        if png is not None:
            rep.files[rel[:-4] + ".png"] = png
    rep.files.update(network.tables)
    rep.rob_note = model.rob_note(list(judged.values())) if judged else "no studies"
    rep.results = {"key_messages": rep.results["key_messages"],
                   "risk_of_bias_summary": rep.rob_note, "evidence_inventory": inventory,
                   "risk_of_bias_figures": rob_figures_result(rob_figures, rob_judged,
                                                               rob_problem),
                   "sof_tables": sof_tables,
                   "network_meta_analysis": network.results,
                   "navigation": {"comparisons": nav["comparisons"], "facets": nav["facets"]},
                   "research_implications": research,
                   "identity": identity,
                   "methods": model.methods(analyses),
                   "question": _question(protocol),
                   # kept for readers of earlier results: the library assumes no MID (a review
                   # states its own, outcome- or analysis-wide), so pain_mid_0_100 is null
                   "defaults": {"pain_mid_0_100": None,
                                "note": "declared project defaults, used only where the review "
                                        "folder states no direction of benefit; minimal "
                                        "important differences come from the review folder "
                                        "alone"}}
    inventory_of_studies = study_inventory(protocol, review, folder.studies)
    rep.results["study_inventory"] = inventory_of_studies
    chars = inventory_of_studies["characteristics"]
    rep.files["tables/included_studies.csv"] = to_csv(chars["rows"], chars["columns"])
    return rep


def _key_messages(sof_rows: Mapping[int, Sequence[model.SofCandidate]],
                  missing_by: Mapping[int, Sequence[model.SofCandidate]],
                  sides: Mapping[int, tuple[str, str, str | None]], protocol: Protocol,
                  inventory: Any) -> list[dict[str, Any]]:
    """The review's key messages from each comparison's main SoF rows (certainty.key_messages);
    ``sides``: (intervention, comparator, outcome) of each comparison group."""
    from trialsynth.assess.certainty.key_messages import Subject, key_messages

    groups = []
    for g in sorted(set(sof_rows) | set(missing_by)):
        main, _, _ = model.main_outcomes([*sof_rows.get(g, []), *missing_by.get(g, [])],
                                         protocol.question)
        x, y, _ = sides[g]
        groups.append((Subject(lower_first(x), y), main))
    not_measured = [f.outcome for f in inventory.findings if f.scope == "all"]
    asked = {o.id: o.name for o in protocol.question.outcomes}
    reported = {c.window for c in inventory.cells if c.k}
    empty = [w.name for w in protocol.question.time_windows if w.id not in reported]
    return [m.to_dict() for m in key_messages(groups, [asked.get(o, o) for o in not_measured],
                                              empty_windows=empty)]


def _network_section(folder: ReviewFolder) -> Any:
    """The network meta-analysis section (trialsynth.report.network); a failure there is
    reported in the section instead of failing the report."""
    from trialsynth.report.network import NetworkSection, build_network_section

    try:
        return build_network_section(folder)
    except (DataError, ValueError, np.linalg.LinAlgError) as exc:
        return NetworkSection(results={"networks": [], "error": str(exc), "methods": [],
                                       "references": []})


def _question(protocol: Protocol) -> dict[str, Any]:
    """The review question as the report shows it, each part marked inferred where it is."""
    q = protocol.question

    def fact(item: Any, **kw: Any) -> dict[str, Any]:
        return {**kw, "inferred": bool(getattr(item, "inferred", False)),
                "provisional": bool(getattr(item, "provisional", False))}

    return {
        "title": protocol.review.title, "citation": protocol.review.citation,
        "objective": q.objective,
        "population": None if q.population is None else fact(q.population,
                                                             text=q.population.description),
        "interventions": [fact(i, name=i.name, drug=i.drug, route=i.route) for i in q.interventions],
        "comparators": [fact(c, name=c.name, kind=c.kind) for c in q.comparators],
        "outcomes": [fact(o, id=o.id, name=o.name, type=o.type, priority=o.priority,
                          direction=o.direction_of_benefit,
                          mid=None if o.mid is None else o.mid.value,
                          mid_units=None if o.mid is None else o.mid.units) for o in q.outcomes],
        "time_windows": [fact(w, name=w.name) for w in q.time_windows],
        "data_source": None if protocol.data_source is None else {
            "file": protocol.data_source.file, "citation": protocol.data_source.citation},
        "settings": protocol.settings.model_dump(),
    }


def _identity(protocol: Protocol) -> dict[str, Any]:
    """Who made the review, what it is called, where it is published and how old its data are:
    as the review folder states it (``review`` and ``data_source`` of review.yaml)."""
    r, ds = protocol.review, protocol.data_source
    return {"id": r.id, "title": r.title, "citation": r.citation, "doi": r.doi, "url": r.url,
            "published": r.published, "search_date": r.search_date, "basis": r.basis,
            "data_file": None if ds is None else ds.file,
            "data_format": None if ds is None else ds.format,
            "data_date": None if ds is None else ds.date,
            "data_citation": None if ds is None else ds.citation}
