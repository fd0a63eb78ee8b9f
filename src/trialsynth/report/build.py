"""Assemble the review report: certainty, SoF rows and statements per analysis, SoF tables per
comparison, the gap map, figures (inline SVG and files) and CSV tables. Used by
:func:`trialsynth.runner.run_review`; pure apart from drawing figures in memory."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialsynth._frozen import FrozenMap
from trialsynth.analyse import AnalysisRun
from trialsynth.assess.certainty.statements import lower_first
from trialsynth.errors import DataError
from trialsynth.readers.folder import ReviewFolder
from trialsynth.render.exports import table_files, to_csv
from trialsynth.render.sof_docx import sof_document
from trialsynth.report import model
from trialsynth.report.arms_view import (
    analysis_arms,
    group_arms,
    outcome_group_titles,
    placeholder,
)
from trialsynth.report.assessed import AnalysisReport, ReviewSections
from trialsynth.report.compose import (
    ReportContext,
    ReviewParts,
    analysis_report,
    beyond,
    safe_name,
    subgroup_tests,
)
from trialsynth.report.navigation import navigation, row_facets
from trialsynth.report.research import research_implications
from trialsynth.report.rob_view import rob_figure_jobs, rob_figures_result
from trialsynth.report.studies import study_inventory
from trialsynth.review.inventory import evidence_inventory
from trialsynth.review.protocol import Protocol

PARALLEL_MIN = 12  # fewer forest plots are drawn in this process


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """The report model of a review: each analysis' report (typed) and the review-wide sections
    that ``results.json`` holds after ``analyses``; the extra files (tables, figures), and what
    only the HTML needs (inline SVG, comparisons named by inference)."""

    analyses: tuple[AnalysisReport, ...]
    entries: tuple[dict[str, Any], ...]  # results.json's analyses: each report's to_dict()
    sections: ReviewSections  # results.json's keys after analyses
    files: FrozenMap[str, str | bytes]
    svgs: FrozenMap[str, str]  # analysis id -> inline <svg>
    figures: FrozenMap[str, str]  # figure path -> inline <svg>
    gap_svgs: tuple[str, ...]
    inferred_names: frozenset[int | str]  # comparisons named by inference

    @property
    def results(self) -> dict[str, Any]:
        """results.json's keys after ``analyses``, in order (:meth:`ReviewSections.to_dict`)."""
        return self.sections.to_dict()


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


def build_report(folder: ReviewFolder, source: Path, run: AnalysisRun, progress: Any = None
                 ) -> Report:
    """The report of an analysed review (``run``, :func:`trialsynth.analyse.analyse_review`):
    each analysis' report (:class:`trialsynth.report.assessed.AnalysisReport`: certainty, SoF
    row, statement, figures, ...) and the review-wide parts, with the figures drawn here.
    ``folder`` is the review as a review folder (:func:`trialsynth.readers.convert.build_folder`):
    what its ``review.yaml`` states (the question, comparison names, outcomes with direction and
    MID, time windows, GRADE overrides) is used, and the declared project defaults only where
    it states nothing."""
    # loaded here, before any worker is forked
    from trialsynth.render.figures import ForestLabels, export, gapmap  # noqa: F401

    figures = _FigurePool(len(run.analyses))
    try:
        return _build(folder, run, progress, figures)
    finally:
        figures.close()


def _build(folder: ReviewFolder, run: AnalysisRun, progress: Any, figures: _FigurePool) -> Report:
    protocol = folder.protocol
    ctx = _context(folder, run)
    reports, parts = _analysis_reports(ctx, run, figures, progress)
    network = _network_section(folder)
    for job in network.jobs:
        figures.add(job)
    judged, rob_result = _rob_summary(reports, figures)
    reports = _with_beyond(reports, protocol, figures)
    # evidence inventory: the question's outcomes against what the trials reported; gap maps
    inventory_model = evidence_inventory(protocol, parts.records)
    maps = _gap_maps(ctx, inventory_model, [r.to_dict() for r in reports], parts.gap_rows,
                     figures)
    sof_tables, missing_by = _sof_tables(ctx, inventory_model, parts)
    sides = {g: group_arms(ctx.arms, ctx.by_id, g) or (*model.split_comparison(
        ctx.names.get(g), g), None) for g in ctx.comparison_labels}
    key_messages = _key_messages(parts.sof_rows, missing_by, sides, protocol, inventory_model)
    nav = navigation([r.to_dict() for r in reports], protocol, dict(ctx.names))
    headings = {c["id"]: c["heading"] for c in nav["comparisons"]}
    sof_tables = _headed(sof_tables, headings)
    reports = [replace(r, facets=FrozenMap(nav["analyses"][r.id])) for r in reports]
    analyses = [r.to_dict() for r in reports]
    research = research_implications(analyses, protocol, headings,
                                     [f.to_dict() for f in inventory_model.findings])
    inventory = {"comparisons": len(ctx.comparison_labels), "analyses": len(analyses),
                 "studies": len({st.study for d in run.analyses for st in d.studies}),
                 **inventory_model.to_dict(), "gap_maps": maps}
    identity = _identity(protocol)
    # the tables as files, written while the figure workers are still drawing
    files = {**table_files(analyses, sof_tables, maps, research),
             "tables/sof.docx": sof_document(sof_tables, identity)}
    svgs, inline, gap_svgs = _figure_files(files, figures)
    files.update(network.tables)
    studies = study_inventory(protocol, folder.review, folder.studies)
    files["tables/included_studies.csv"] = to_csv(studies["characteristics"]["rows"],
                                                  studies["characteristics"]["columns"])
    sections = ReviewSections(
        key_messages=tuple(key_messages),
        risk_of_bias_summary=model.rob_note(list(judged.values())) if judged else "no studies",
        evidence_inventory=inventory, risk_of_bias_figures=rob_result, sof_tables=sof_tables,
        network_meta_analysis=network.results,
        navigation={"comparisons": nav["comparisons"], "facets": nav["facets"]},
        research_implications=research, identity=identity, methods=model.methods(analyses),
        question=_question(protocol), defaults=DEFAULTS, study_inventory=studies)
    return Report(analyses=tuple(reports), entries=tuple(analyses), sections=sections,
                  files=FrozenMap(files), svgs=FrozenMap(svgs), figures=FrozenMap(inline),
                  gap_svgs=tuple(gap_svgs), inferred_names=ctx.inferred_names)


# kept for readers of earlier results: the library assumes no MID (a review states its own,
# outcome- or analysis-wide), so pain_mid_0_100 is null
DEFAULTS = FrozenMap({"pain_mid_0_100": None,
                      "note": "declared project defaults, used only where the review folder "
                              "states no direction of benefit; minimal important differences "
                              "come from the review folder alone"})


def _context(folder: ReviewFolder, run: AnalysisRun) -> ReportContext:
    """What each analysis' report reads, with the comparisons' labels and names."""
    from trialsynth.render.figures import ForestLabels

    protocol, review = folder.protocol, folder.review
    rob = folder.rob_assessments()
    by_id = {a.id: a for a in review.analyses}
    stated = {_int_or_str(c.id): c for c in protocol.comparisons}
    names = {g: c.name for g, c in stated.items()}
    arms = analysis_arms(review.analyses, {g: c.name for g, c in stated.items() if not placeholder(c)})
    for g, title in outcome_group_titles(arms, review.analyses).items():
        names[g] = title  # a group organised by outcome is named by its outcome
    labels = {int(g): f"{g}. " + (names.get(int(g)) or f"Comparison {g}")
              for g in (done.analysis.comparison for done in run.analyses)}
    labelled_rows = dict(labels)
    for g in labelled_rows:  # the gap map names a comparison by its arms where the file labels them
        if (named := group_arms(arms, by_id, g, labelled=True)) is not None:
            labelled_rows[g] = f"{named[0]} versus {named[1]}"
    repeats = model.repeated_analyses([(d.id, str(d.analysis.comparison), d.analysis.name,
                                        d.analysis.pooled_rows) for d in run.analyses])
    return ReportContext(protocol=protocol, rob=rob, by_id=by_id, names=FrozenMap(names),
                         arms=arms, comparison_labels=FrozenMap(labels),
                         inferred_names=frozenset(g for g, c in stated.items() if c.inferred),
                         labelled_rows=labelled_rows, repeats=repeats,
                         subgroup_tests=subgroup_tests(run), forest_labels=ForestLabels)


def _analysis_reports(ctx: ReportContext, run: AnalysisRun, figures: _FigurePool, progress: Any
                      ) -> tuple[list[AnalysisReport], ReviewParts]:
    """Every analysis' report, in the review's order (figure jobs queued as they are known)."""
    task = None
    if progress is not None:
        task = progress.add_task("figures and certainty", total=len(run.analyses))
    parts = ReviewParts()
    reports = []
    for done in run.analyses:
        reports.append(analysis_report(ctx, done, figures.add, parts))
        if task is not None:
            progress.advance(task)
    return reports, parts


def _rob_summary(reports: Sequence[AnalysisReport], figures: _FigurePool
                 ) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """Each study's risk-of-bias judgements (a summary only: RoB 2 is judged per result, so the
    first result of each study stands for it) and the risk-of-bias figures (jobs queued)."""
    judged: dict[str, dict[str, str]] = {}
    for r in reports:
        for st, rob in zip(r.done.studies, r.study_rob, strict=True):
            judged.setdefault(st.study, dict(rob or {}))
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
    return judged, rob_figures_result(rob_figures, rob_judged, rob_problem)


def _with_beyond(reports: list[AnalysisReport], protocol: Protocol, figures: _FigurePool
                 ) -> list[AnalysisReport]:
    """Beyond the pooled estimate, for the main analyses (pooled, not subgroup analyses, of the
    question's primary outcomes); the TSA figure jobs queued."""
    primary = {o.id for o in protocol.question.outcomes if o.priority == "primary"}
    main = [i for i, r in enumerate(reports) if r.pooled and not r.parsed.subgroup
            and (r.facts.outcome_id in primary or not primary)]
    out = list(reports)
    for i, answer in zip(main, beyond([reports[i] for i in main], protocol), strict=True):
        tsa_figure = None
        if answer.tsa is not None:
            aid = reports[i].id
            tsa_figure = f"figures/tsa_{safe_name(aid)}.svg"
            figures.add(("tsa", aid, tsa_figure, answer.tsa,
                         f"Analysis {aid}: trial sequential analysis"))
        out[i] = replace(reports[i], beyond=answer, tsa_figure=tsa_figure)
    return out


def _gap_maps(ctx: ReportContext, inventory_model: Any, analyses: list[dict[str, Any]],
              gap_rows: dict[str, str], figures: _FigurePool) -> list[dict[str, Any]]:
    """The evidence-gap maps (figure jobs queued), one row per comparison or pair of arms."""
    windows = [w.name for w in ctx.protocol.question.time_windows] or list(model.WINDOWS)
    by_pair = {g.split(":")[0] for g in gap_rows if ":" in g}
    rows = gap_rows | {str(g): lab for g, lab in ctx.labelled_rows.items()
                       if str(g) not in gap_rows and str(g) not in by_pair}
    maps = [{**m, "figure": f"figures/gap_map_{i}.svg"}
            for i, m in enumerate(model.gap_maps(inventory_model, analyses, rows, windows), start=1)]
    for i, m in enumerate(maps, start=1):
        figures.add(("gap", m["figure"], m["figure"], i, m))
    return maps


def _sof_tables(ctx: ReportContext, inventory_model: Any, parts: ReviewParts
                ) -> tuple[dict[str, Any], dict[int, list[model.SofCandidate]]]:
    """Per comparison: its SoF table, with "no studies" rows for the ranked outcomes it lacks
    (the ranked ones and those the review chose); and those rows per comparison."""
    q = ctx.protocol.question
    population = q.population.description if q.population else None
    ranked = {o.id for o in q.outcomes if o.priority} | {
        c.outcome for c in q.summary_of_findings or []}
    directions = {o.id: ("higher" if o.direction_of_benefit == "higher_is_better" else "lower")
                  for o in q.outcomes}
    by_pair = {g.split(":")[0] for g in parts.gap_rows if ":" in g}
    sof_tables: dict[str, Any] = {}
    missing_by: dict[int, list[model.SofCandidate]] = {}
    for g, label in sorted(ctx.comparison_labels.items()):
        missing_by[g] = [model.SofCandidate(model.missing_row(c.outcome_name, c.window_name,
                                                              directions.get(c.outcome, "lower")),
                                            c.outcome, c.window)
                         for c in inventory_model.cells
                         if c.comparison == str(g) and c.outcome in ranked and not c.analyses
                         and str(g) not in by_pair]
        sof_tables[str(g)] = {"label": label, "inferred": g in ctx.inferred_names,
                              **model.comparison_sof(g, ctx.names.get(g),
                                                     [*parts.sof_rows.get(g, []), *missing_by[g]],
                                                     q, population,
                                                     arms=group_arms(ctx.arms, ctx.by_id, g))}
    return sof_tables, missing_by


def _headed(sof_tables: Mapping[str, Any], headings: Mapping[int, str]) -> dict[str, Any]:
    """The SoF tables with each one's heading (as the navigation names its comparison) and each
    row's filter facets."""
    out = dict(sof_tables)
    for g, heading in headings.items():
        t = sof_tables[str(g)]
        out[str(g)] = {**t, "table": _faceted(t["table"]),
                       "other_outcomes": _faceted(t["other_outcomes"]), "heading": heading}
    return out


def _faceted(table: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if table is None or "rows" not in table:
        return table
    return {**table, "rows": [{**row, "facets": row_facets(row)} for row in table["rows"]]}


def _figure_files(files: dict[str, str | bytes], figures: _FigurePool
                  ) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Every figure (drawn by the workers or here) as SVG and PNG files (added to ``files``);
    returns the inline SVGs of the page: forest plots by analysis, every figure by path, and
    the gap maps."""
    svgs: dict[str, str] = {}
    inline: dict[str, str] = {}
    gap_svgs: list[str] = []
    for (kind, aid, rel, *_), (doc, png) in zip(figures.jobs, _collect(figures), strict=True):
        if kind == "forest":
            svgs[aid] = _inline(doc)
        elif kind == "gap":
            gap_svgs.append(_inline(doc))
        inline[rel] = _inline(doc)
        files[rel] = doc
        if png is not None:
            files[rel[:-4] + ".png"] = png
    return svgs, inline, gap_svgs


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
