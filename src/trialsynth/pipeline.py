"""The whole run of a review in memory: read it (any format), analyse every analysis
(:mod:`trialsynth.analyse`), build the report model (:mod:`trialsynth.report.build`), have its
figures drawn and its tables formatted by the render stage (:func:`review_report`), and return
the content of ``results.json`` with the report. Nothing is written (that is
:mod:`trialsynth.runner`); ``trialsynth diff`` runs a source through here too.

This module sits above both the report model and the renderers: it wires them together (the
report model knows no renderer; it is handed a figure sink).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from trialsynth import __version__
from trialsynth._console import console
from trialsynth.analyse import AnalysisRun, analyse_review
from trialsynth.readers.convert import build_folder
from trialsynth.results_schema import SCHEMA_VERSION
from trialsynth.review import WEIGHT_TOL

if TYPE_CHECKING:
    from trialsynth.readers.folder import ReviewFolder
    from trialsynth.report.build import Report
    from trialsynth.report.figure_jobs import FigureSink


def review_results(source: Path, *, quiet: bool = False,
                   while_drawing: Callable[[dict[str, Any]], None] | None = None
                   ) -> tuple[dict[str, Any], Any]:
    """The whole run in memory: (the content of ``results.json``, the report model with its
    figures and tables). Nothing is written.

    ``while_drawing``: called with the content of ``results.json`` (complete: no figure is part
    of it) while the figure workers are still drawing, for work that needs no figure (the
    runner formats ``results.json`` there, on the core the workers leave free at the end)."""
    source = Path(source)
    folder = build_folder(source)  # any format, with its question (stated or placeholders)
    review = folder.review
    progress = progress_bar(quiet)
    results: dict[str, Any] = {}

    def drawing(built: Report) -> None:
        results.update(run_header(run, source))
        results["analyses"] = list(built.entries)
        results.update(built.results)
        if while_drawing is not None:
            while_drawing(results)

    with progress:
        task = progress.add_task(f"pooling {review.id or source.name}", total=len(review.analyses))
        run = analyse_review(review, source.name, (progress, task))
        report = review_report(folder, source, run, progress=progress, while_drawing=drawing)
    return results, report


def review_report(folder: ReviewFolder, source: Path, run: AnalysisRun, progress: Any = None,
                  while_drawing: Callable[[Report], None] | None = None) -> Report:
    """The report of an analysed review with its figures drawn and its tables as files: the
    report model (:func:`trialsynth.report.build.build_report`) is handed the render stage's
    figure pool, whose workers draw while the model is computed (:func:`render_report`).
    ``while_drawing`` is called with the report model (without figures or files) before the
    figures are collected."""
    # the report stack loads when asked for, and before any figure worker is forked
    from trialsynth.render.figure_pool import FigurePool
    from trialsynth.report.build import build_report

    figures = FigurePool(len(run.analyses))
    try:
        report = build_report(folder, source, run, progress, figures=figures)
        if while_drawing is not None:
            while_drawing(report)
        return render_report(report, figures)
    finally:
        figures.close()


def render_report(report: Report, figures: FigureSink) -> Report:
    """``report`` (as :func:`~trialsynth.report.build.build_report` returns it) with its files:
    the CSV and Word tables (formatted while the figure workers are still drawing), every figure
    of ``figures`` (the sink the report was built with) as SVG and PNG, the report's own files,
    and the table of included studies; and the inline SVGs of the page."""
    from trialsynth._frozen import FrozenMap
    from trialsynth.render.exports import table_files, to_csv
    from trialsynth.render.figure_pool import figure_files
    from trialsynth.render.html import page_template
    from trialsynth.render.sof_docx import sof_document

    sec = report.sections
    files: dict[str, str | bytes] = {
        **table_files(report.entries, sec.sof_tables, sec.evidence_inventory["gap_maps"],
                      sec.research_implications),
        "tables/sof.docx": sof_document(sec.sof_tables, sec.identity)}
    page_template()  # compiled while the figures are still being drawn
    svgs, by_path, gap_svgs = figure_files(files, report.figure_jobs, collect_figures(figures))
    files.update(report.files)
    studies = sec.study_inventory["characteristics"]
    files["tables/included_studies.csv"] = to_csv(studies["rows"], studies["columns"])
    return replace(report, files=FrozenMap(files), svgs=FrozenMap(svgs), figures=FrozenMap(by_path),
                   gap_svgs=tuple(gap_svgs))


def collect_figures(figures: FigureSink) -> list[tuple[str, bytes | None]]:
    """Wait for (or draw) every figure; a function of its own so that benchmarks can time it."""
    return figures.collect()


def progress_bar(quiet: bool, out: Console | None = None) -> Progress:
    """The progress bar of ``run`` (on stderr): descriptions are printed as they are, never as
    console markup (a review id or file name may hold ``[...]``)."""
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                    MofNCompleteColumn(), console=out or console(stderr=True), disable=quiet,
                    transient=True)


def run_header(run: AnalysisRun, source: Path) -> dict[str, Any]:
    """The keys of ``results.json`` before the report's: what was run, on what, and a summary
    (``analyses`` is filled in by the report)."""
    review, done = run.review, run.analyses
    checked = [a for a in done if a.check.weights_reproduced is not None]
    return {
        "schema_version": SCHEMA_VERSION,  # the layout of results.json (trialsynth.results_schema)
        "generator": f"trialsynth {__version__}",
        "trialsynth_version": __version__,
        "source": {"file": source.name, "sha256": sha256(source), "bytes": size(source),
                   "format": review.format},
        "review": {"id": review.id, "doi": review.doi, "url": review.url},
        "conventions": "revman",
        "settings_note": settings_note(run),
        "summary": {
            "analyses": len(done),
            "pooled": sum(a.status == "pooled" for a in done),
            "not_pooled": sum(a.status != "pooled" for a in done),
            "with_stored_weights": len(checked),
            "weights_reproduced": sum(bool(a.check.weights_reproduced) for a in checked),
            "weight_tolerance": WEIGHT_TOL,
        },
        "analyses": [],
    }


def settings_note(run: AnalysisRun) -> str:
    """How the settings of the analyses were known (stated by the source, or inferred)."""
    n = sum(bool(a.settings.inferred) for a in run.analyses)
    if not n:
        return "Every analysis uses the settings its source states."
    return (f"{n} of {len(run.analyses)} analyses have settings the source does not state (a RevMan "
            "Web data-rows export stores none): measure and method were inferred as the "
            "candidate whose per-study effects and weights reproduce RevMan's stored Mean and "
            "Weight columns (see each analysis' notes).")


def sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (relative names and contents, in sorted order)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            h.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
        with file.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def size(path: Path) -> int:
    """Bytes of a file, or of a folder's files."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size
