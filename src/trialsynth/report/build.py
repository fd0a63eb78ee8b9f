"""Assemble the review report: certainty, SoF rows and statements per analysis, SoF tables per
comparison, the gap map, the figure jobs and the data of the tables. Used by
:func:`trialsynth.pipeline.review_report`, which hands it a figure sink and renders the tables
and the drawn figures into the report's files; nothing is drawn or formatted here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from trialsynth._frozen import FrozenMap
from trialsynth.analyse import AnalysisRun
from trialsynth.assess.certainty.statements import lower_first
from trialsynth.errors import DataError
from trialsynth.readers.folder import ReviewFolder
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
from trialsynth.report.figure_jobs import FigureJob, FigureSink, ForestLabels, JobLog
from trialsynth.report.navigation import navigation, row_facets
from trialsynth.report.research import research_implications
from trialsynth.report.rob_view import rob_figure_jobs, rob_figures_result
from trialsynth.report.studies import study_inventory
from trialsynth.review.inventory import evidence_inventory
from trialsynth.review.protocol import Protocol
from trialsynth.review.rob_domains import rob_levels


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """The report model of a review: each analysis' report (typed) and the review-wide sections
    that ``results.json`` holds after ``analyses``; the figure jobs in the order they were
    given to the sink; the extra files, and what only the HTML needs (inline SVG, comparisons
    named by inference).

    As :func:`build_report` returns it, ``files`` holds only what the report model writes itself
    (the network tables) and the SVG fields are empty: :func:`trialsynth.pipeline.review_report`
    fills them with the rendered tables and the drawn figures."""

    analyses: tuple[AnalysisReport, ...]
    entries: tuple[dict[str, Any], ...]  # results.json's analyses: each report's to_dict()
    sections: ReviewSections  # results.json's keys after analyses
    files: FrozenMap[str, str | bytes]
    svgs: FrozenMap[str, str]  # analysis id -> inline <svg>
    figures: FrozenMap[str, str]  # figure path -> inline <svg>
    gap_svgs: tuple[str, ...]
    inferred_names: frozenset[int | str]  # comparisons named by inference
    figure_jobs: tuple[FigureJob, ...] = ()  # in the order added to the sink

    @property
    def results(self) -> dict[str, Any]:
        """results.json's keys after ``analyses``, in order (:meth:`ReviewSections.to_dict`)."""
        return self.sections.to_dict()


def _int_or_str(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def build_report(folder: ReviewFolder, source: Path, run: AnalysisRun, progress: Any = None, *,
                 figures: FigureSink) -> Report:
    """The report of an analysed review (``run``, :func:`trialsynth.analyse.analyse_review`):
    each analysis' report (:class:`trialsynth.report.assessed.AnalysisReport`: certainty, SoF
    row, statement, figures, ...) and the review-wide parts. Each figure job is added to
    ``figures`` (:class:`trialsynth.report.figure_jobs.FigureSink`) as soon as it is known;
    nothing is collected or drawn here (:func:`trialsynth.pipeline.review_report` does that).
    ``folder`` is the review as a review folder (:func:`trialsynth.readers.convert.build_folder`):
    what its ``review.yaml`` states (the question, comparison names, outcomes with direction and
    MID, time windows, GRADE overrides) is used, and the declared project defaults only where
    it states nothing."""
    return _build(folder, run, progress, JobLog(figures))


def _build(folder: ReviewFolder, run: AnalysisRun, progress: Any, figures: JobLog) -> Report:
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
    studies = study_inventory(protocol, folder.review, folder.studies)
    sections = ReviewSections(
        key_messages=tuple(key_messages),
        risk_of_bias_summary=model.rob_note(list(judged.values())) if judged else "no studies",
        evidence_inventory=inventory, risk_of_bias_figures=rob_result, sof_tables=sof_tables,
        network_meta_analysis=network.results,
        navigation={"comparisons": nav["comparisons"], "facets": nav["facets"]},
        research_implications=research, identity=identity, methods=model.methods(analyses),
        question=_question(protocol), defaults=DEFAULTS, study_inventory=studies)
    return Report(analyses=tuple(reports), entries=tuple(analyses), sections=sections,
                  files=FrozenMap(network.tables), svgs=FrozenMap(), figures=FrozenMap(),
                  gap_svgs=(), inferred_names=ctx.inferred_names, figure_jobs=tuple(figures.jobs))


# kept for readers of earlier results: the library assumes no MID (a review states its own,
# outcome- or analysis-wide), so pain_mid_0_100 is null
DEFAULTS = FrozenMap({"pain_mid_0_100": None,
                      "note": "declared project defaults, used only where the review folder "
                              "states no direction of benefit; minimal important differences "
                              "come from the review folder alone"})


def _context(folder: ReviewFolder, run: AnalysisRun) -> ReportContext:
    """What each analysis' report reads, with the comparisons' labels and names."""
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


def _analysis_reports(ctx: ReportContext, run: AnalysisRun, figures: JobLog, progress: Any
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


def _rob_summary(reports: Sequence[AnalysisReport], figures: JobLog
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
        rob_levels(rob_judged)
    except ValueError as exc:  # a judgement the figures cannot place: no figure, say why
        rob_problem, rob_judged = str(exc), {}
    rob_figures = rob_figure_jobs(rob_judged)
    for job in rob_figures:
        figures.add(job[0])
        figures.add(job[1])
    return judged, rob_figures_result(rob_figures, rob_judged, rob_problem)


def _with_beyond(reports: list[AnalysisReport], protocol: Protocol, figures: JobLog
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
              gap_rows: dict[str, str], figures: JobLog) -> list[dict[str, Any]]:
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
