"""The whole run of a review in memory: read it (any format), analyse every analysis
(:mod:`trialsynth.analyse`), build the report model (:mod:`trialsynth.report.build`) and return
the content of ``results.json`` with the report. Nothing is written (that is
:mod:`trialsynth.runner`); ``trialsynth diff`` runs a source through here too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from trialsynth import __version__
from trialsynth._console import console
from trialsynth.analyse import AnalysisRun, analyse_review
from trialsynth.readers.convert import build_folder
from trialsynth.results_schema import SCHEMA_VERSION
from trialsynth.review import WEIGHT_TOL


def review_results(source: Path, *, quiet: bool = False) -> tuple[dict[str, Any], Any]:
    """The whole run in memory: (the content of ``results.json``, the report model with its
    figures and tables). Nothing is written."""
    source = Path(source)
    folder = build_folder(source)  # any format, with its question (stated or placeholders)
    review = folder.review
    progress = progress_bar(quiet)
    with progress:
        task = progress.add_task(f"pooling {review.id or source.name}", total=len(review.analyses))
        run = analyse_review(review, source.name, (progress, task))
        from trialsynth.report.build import build_report  # the report stack loads when asked for

        report = build_report(folder, source, run, progress=progress)
    results = run_header(run, source)
    results["analyses"] = list(report.entries)
    results.update(report.results)
    return results, report


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
