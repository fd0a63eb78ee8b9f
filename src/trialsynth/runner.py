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
  tables as a Word document, :mod:`trialsynth.render.sof_docx`);
* ``figures/`` - a forest plot per pooled analysis (SVG) and the evidence-gap maps (SVG and PNG);
* ``index.html`` - the self-contained review report (:mod:`trialsynth.render.html`; figures inline
  as SVG, no external resources; one small inline script for the filters, without which the page
  still reads fully).

The run in memory is :func:`trialsynth.pipeline.review_results` (read, analyse with
:mod:`trialsynth.analyse`, build the report model with :mod:`trialsynth.report.build`); this
module writes it (:mod:`trialsynth.output_folder`). The names of those modules that callers knew
from here (``analyse``, ``pool_analysis``, ``review_results``, ``write_output``, ``MARKER``, ...)
are still offered here.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from trialsynth._atomic import output_lock
from trialsynth._heap import frozen
from trialsynth._json import dumps_indented, json_safe
from trialsynth.analyse import analyse, analyse_with_result, pool_analysis, review_correlations
from trialsynth.output_folder import MARKER, write_output
from trialsynth.output_folder import check_target as _check_target
from trialsynth.output_folder import write_atomically as _write_atomically
from trialsynth.pipeline import progress_bar, review_results
from trialsynth.registry import RANDOM_METHODS
from trialsynth.results_schema import with_integer_counts

__all__ = ["CSV_FIELDS", "MARKER", "RANDOM_METHODS", "analyse", "analyse_with_result",
           "json_safe", "pool_analysis", "progress_bar", "review_correlations", "review_results",
           "run_review", "write_output"]

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
    # one run per output; cleans up after a killed earlier run. The modules loaded so far stay
    # out of the garbage collector's passes while the run allocates (trialsynth._heap)
    with output_lock(out_dir), frozen():
        _check_target(source, out_dir)
        return _run(source, out_dir, quiet, since)


def _run(source: Path, out_dir: Path, quiet: bool, since: Path | None) -> dict[str, Any]:
    earlier = None
    if since is not None:  # read first: it may be the folder about to be replaced
        from trialsynth.diff import load_run

        earlier = load_run(Path(since), quiet=quiet)
    done: dict[str, Any] = {}

    def while_drawing(results: dict[str, Any]) -> None:
        """The files that need no figure, made while the figure workers draw."""
        if earlier is not None:
            from trialsynth.diff import diff_runs

            results["what_changed"] = diff_runs(earlier, json_safe(results), old_label=str(since),
                                                new_label=str(source))
        done["clean"] = clean = json_safe(results)  # NaN -> None for JSON and for the page alike
        done["files"] = {
            "results.json": dumps_indented(with_integer_counts(clean)),
            "tables/analyses.csv": _analyses_csv(results["analyses"])}

    results, report = review_results(source, quiet=quiet, while_drawing=while_drawing)
    files: dict[str, str | bytes] = {**done["files"], **report.files}
    from trialsynth.render.html import render_report

    files["index.html"] = render_report(done["clean"], report)
    _write_atomically(out_dir, files)
    return results


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
