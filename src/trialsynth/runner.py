"""``run_review``: re-analyse a whole review file and write a results folder.

Output (written into a temporary folder next to ``out_dir`` and renamed into place only when every
file is complete; an existing ``out_dir`` is replaced only after success and only if it is empty or
an earlier trialsynth output):

* ``results.json`` - review identity, per analysis the inferred settings with their evidence, the
  pooled result (:meth:`PooledResult.to_dict`) and a per-study check against RevMan's stored numbers;
* ``tables/analyses.csv`` - one row per analysis (estimates as RevMan shows them, ratios natural);
* ``tables/certainty.csv`` (GRADE per analysis with the reasons per domain), ``tables/sof.csv``
  (summary-of-findings rows with their footnote text), ``tables/gap_map.csv``,
  ``tables/research.csv`` (next-trial sizes) and ``tables/sof.docx`` (the summary-of-findings
  tables as a Word document, :mod:`trialsynth.report.sof_docx`);
* ``figures/`` - a forest plot per pooled analysis (SVG) and the evidence-gap maps (SVG and PNG);
* ``index.html`` - the self-contained review report (:mod:`trialsynth.report.html`; figures inline
  as SVG, no external resources; one small inline script for the filters, without which the page
  still reads fully).

The report model (certainty, SoF rows, statements, gap maps, methods) is built by
:mod:`trialsynth.report.build` from :mod:`trialsynth.report.model`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from trialsynth import __version__
from trialsynth._atomic import output_lock, refuse_overlap, replace_folder
from trialsynth._console import console
from trialsynth._json import json_safe
from trialsynth.api import pool
from trialsynth.errors import DataError, TrialsynthError
from trialsynth.io.convert import build_folder
from trialsynth.pooling.batch import RANDOM as RANDOM_ESTIMATORS
from trialsynth.pooling.result import PooledResult
from trialsynth.review import WEIGHT_TOL, Analysis, Review, check_against_stored, pool_measure, to_display

RANDOM_METHODS = (*RANDOM_ESTIMATORS, "MH_RANDOM")
MARKER = ".trialsynth-output"  # marks a folder that run_review may replace
CSV_FIELDS = ("id", "comparison", "name", "data_type", "measure", "method", "model", "status",
              "k", "participants", "estimate", "ci_low", "ci_high", "pvalue", "i2", "tau2", "q",
              "q_df", "weight_max_abs_diff", "weights_reproduced", "settings_inferred")


def run_review(source: Path, out_dir: Path, *, quiet: bool = False,
               since: Path | None = None) -> dict[str, Any]:
    """Read a review (any format trialsynth reads), pool every analysis with its settings and
    write ``results.json``, ``tables/analyses.csv`` and ``index.html`` into ``out_dir``
    (atomically).

    ``since``: an earlier version of the review (any source, a ``results.json`` or an earlier
    output folder, which may be ``out_dir`` itself); the report then opens with what changed
    since it (:mod:`trialsynth.diff`), also kept in ``results.json`` as ``what_changed``.

    Returns the content of ``results.json``. Raises :class:`DataError` for a bad input file and
    :class:`TrialsynthError` when ``out_dir`` cannot be replaced safely.
    """
    source, out_dir = Path(source), Path(out_dir)
    _check_target(source, out_dir)
    with output_lock(out_dir):  # one run per output; cleans up after a killed earlier run
        _check_target(source, out_dir)
        return _run(source, out_dir, quiet, since)


def _run(source: Path, out_dir: Path, quiet: bool, since: Path | None) -> dict[str, Any]:
    earlier = None
    if since is not None:  # read first: it may be the folder about to be replaced
        from trialsynth.diff import load_run

        earlier = load_run(Path(since), quiet=quiet)
    results, report = review_results(source, quiet=quiet)
    if earlier is not None:
        from trialsynth.diff import diff_runs

        results["what_changed"] = diff_runs(earlier, json_safe(results), old_label=str(since),
                                            new_label=str(source))
    clean = json_safe(results)  # NaN -> None for JSON and for the page alike
    files: dict[str, str | bytes] = {
        "results.json": json.dumps(clean, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
        "tables/analyses.csv": _analyses_csv(results["analyses"]), **report.files}
    from trialsynth.report.html import render_report

    files["index.html"] = render_report(clean, report)
    _write_atomically(out_dir, files)
    return results


def review_results(source: Path, *, quiet: bool = False) -> tuple[dict[str, Any], Any]:
    """The whole run in memory: (the content of ``results.json``, the report model with its
    figures and tables). Nothing is written."""
    source = Path(source)
    folder = build_folder(source)  # any format, with its question (stated or placeholders)
    review = folder.review
    analyses, pooled = [], []
    progress = progress_bar(quiet)
    with progress:
        task = progress.add_task(f"pooling {review.id or source.name}", total=len(review.analyses))
        imputed = review_correlations(review.analyses, source.name)
        for analysis in review.analyses:
            out, result = _analyse(analysis, source.name, imputed.get(analysis.id))
            analyses.append(out)
            pooled.append(result)
            progress.advance(task)
        from trialsynth.report.build import build_report  # the report stack loads when asked for

        report = build_report(folder, source, analyses, pooled, progress=progress)
    results = _results(review, source, analyses)
    results.update(report.results)
    return results, report


def progress_bar(quiet: bool, out: Console | None = None) -> Progress:
    """The progress bar of ``run`` (on stderr): descriptions are printed as they are, never as
    console markup (a review id or file name may hold ``[...]``)."""
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                    MofNCompleteColumn(), console=out or console(stderr=True), disable=quiet,
                    transient=True)


def analyse(analysis: Analysis, source: str) -> dict[str, Any]:
    """Pool one analysis with its inferred settings and check it against RevMan's numbers."""
    return _analyse(analysis, source)[0]


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


def _analyse(analysis: Analysis, source: str, imputed: tuple[float, tuple[str, ...]] | None = None
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
                out["result"] = result.to_dict()
                out["display"] = _display(out["result"], s.measure)
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
    _mark_designs(out["studies"], analysis, result)
    keep = result if out["status"] == "pooled" and result is not None else None
    return out, keep


def _mark_designs(studies: list[dict[str, Any]], analysis: Analysis,
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


def _display(res: dict[str, Any], measure: str) -> dict[str, Any]:
    """Estimate, CI and prediction interval as RevMan shows them (ratios on the natural scale)."""
    keys = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
    vals = np.array([np.nan if res[k] is None else res[k] for k in keys], dtype=float)
    out = dict(zip(keys, to_display(measure, vals).tolist(), strict=True))
    subs = res.get("subgroups") or {}
    out["subgroups"] = {name: _display(sub, measure) | {"k": sub["k"], "i2": sub["i2"]}
                        for name, sub in subs.items()}
    return out


def _results(review: Review, source: Path, analyses: list[dict[str, Any]]) -> dict[str, Any]:
    checked = [a for a in analyses if a["check"]["weights_reproduced"] is not None]
    return {
        "generator": f"trialsynth {__version__}",
        "trialsynth_version": __version__,
        "source": {"file": source.name, "sha256": _sha256(source), "bytes": _size(source),
                   "format": review.format},
        "review": {"id": review.id, "doi": review.doi, "url": review.url},
        "conventions": "revman",
        "settings_note": _settings_note(analyses),
        "summary": {
            "analyses": len(analyses),
            "pooled": sum(a["status"] == "pooled" for a in analyses),
            "not_pooled": sum(a["status"] != "pooled" for a in analyses),
            "with_stored_weights": len(checked),
            "weights_reproduced": sum(bool(a["check"]["weights_reproduced"]) for a in checked),
            "weight_tolerance": WEIGHT_TOL,
        },
        "analyses": analyses,
    }


def _settings_note(analyses: list[dict[str, Any]]) -> str:
    n = sum(bool(a["settings"].get("inferred")) for a in analyses)
    if not n:
        return "Every analysis uses the settings its source states."
    return (f"{n} of {len(analyses)} analyses have settings the source does not state (a RevMan "
            "Web data-rows export stores none): measure and method were inferred as the "
            "candidate whose per-study effects and weights reproduce RevMan's stored Mean and "
            "Weight columns (see each analysis' notes).")


def _sha256(path: Path) -> str:
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


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size


def _analyses_csv(analyses: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for a in analyses:
        res, disp, s = a["result"] or {}, a["display"] or {}, a["settings"]
        w.writerow(json_safe({
            "id": a["id"], "comparison": a["comparison"], "name": _cell(a["name"]),
            "data_type": s["data_type"], "measure": s["measure"], "method": s["method"],
            "model": s["model"], "status": a["status"], "k": res.get("k", 0),
            "participants": res.get("participants"), "estimate": disp.get("estimate"),
            "ci_low": disp.get("ci_low"), "ci_high": disp.get("ci_high"),
            "pvalue": res.get("pvalue"), "i2": res.get("i2"), "tau2": res.get("tau2"),
            "q": res.get("q"), "q_df": res.get("q_df"),
            "weight_max_abs_diff": a["check"]["max_abs_diff"]["weight"],
            "weights_reproduced": a["check"]["weights_reproduced"],
            "settings_inferred": s["inferred"]}))
    return buf.getvalue()


def _cell(text: str) -> str:
    """Keep spreadsheet programs from reading a text cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text




def _check_target(source: Path, out_dir: Path) -> None:
    refuse_overlap([source], [out_dir])
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise TrialsynthError(f"{out_dir}: exists and is not a folder; not replacing it")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise TrialsynthError(f"{out_dir}: folder is not empty and is not an earlier trialsynth "
                              f"output; not replacing it")


def _write_atomically(out_dir: Path, files: dict[str, str | bytes]) -> None:
    """Write into a temp folder next to ``out_dir``, then swap it into place."""
    _check_target(Path(os.devnull), out_dir)
    replace_folder(out_dir, {**files, MARKER: f"written by trialsynth {__version__}\n"})


def write_output(out_dir: Path, files: dict[str, str | bytes], *,
                 inputs: tuple[Path, ...] = ()) -> None:
    """Write ``files`` as the trialsynth output folder ``out_dir``, atomically, under the rules
    of ``run`` (never inside or over one of ``inputs``, never over a foreign folder)."""
    for source in inputs:
        _check_target(Path(source), Path(out_dir))
    _write_atomically(Path(out_dir), files)
