"""Command line: a thin shell over the Python API (``trialsynth --help``).

A command lets bad input raise :class:`~trialsynth.errors.TrialsynthError` (a DataError naming
file, row and field): the group (:mod:`trialsynth._cli_guard`) prints it as one ``error:`` line
and exits with 2, for every command alike.
"""

from __future__ import annotations

import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from trialsynth._cli_guard import GuardedGroup
from trialsynth._console import console
from trialsynth.errors import DataError
from trialsynth.registry import METHODS, POOL_MEASURES

if TYPE_CHECKING:  # numpy, pandas, scipy and rich load in the command that needs them, so that
    import pandas as pd  # `trialsynth --help` starts at once
    from rich.console import Console

    from trialsynth.pooling.result import PooledResult

app = typer.Typer(help="trialsynth: evidence synthesis validated against R metafor and RevMan.",
                  no_args_is_help=True, add_completion=False, cls=GuardedGroup)


@app.callback()
def main() -> None:
    """trialsynth: evidence synthesis validated against R metafor and RevMan."""


# the choices of --measure and --method, from the registries (trialsynth.registry)
Measure = StrEnum("Measure", [(code, code) for code in POOL_MEASURES])


class Tau2Search(StrEnum):
    UNBOUNDED = "unbounded"
    METAFOR = "metafor"


class MultiArm(StrEnum):
    split = "split"
    combine = "combine"
    as_entered = "as_entered"


Method = StrEnum("Method", [(code, code) for code in METHODS])


def _print_json(obj: object) -> None:
    """Print ``obj`` as JSON through trialsynth's one serializer (NaN and infinities as null)."""
    from trialsynth._json import json_safe  # loads NumPy: only when JSON is asked for

    json.dump(json_safe(obj), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def _probability(value: float) -> float:
    """Options that are probabilities (confidence level, alpha, power): strictly in (0, 1)."""
    if not 0 < value < 1:  # NaN fails too
        raise typer.BadParameter(f"must be a number strictly between 0 and 1, got {value!r}")
    return value


def _maybe_probability(value: float | None) -> float | None:
    return None if value is None else _probability(value)


def _at_least_one(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be at least 1, got {value}")
    return value


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV of study rows (UTF-8, size-bounded, header names unique); errors name the file
    and, where they can, the row and column."""
    import pandas as pd

    from trialsynth.readers.revman_csv import parse_csv, read_bounded

    src = str(path)
    raw = read_bounded(path, src)
    if not raw.strip():
        raise DataError("the file is empty (a header row and one row per study are needed)",
                        file=src)
    header, _records, _rows = parse_csv(raw, src, ())  # UTF-8, CSV syntax, repeated columns
    try:
        return pd.read_csv(io.StringIO(raw.decode("utf-8-sig")), keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"not a readable CSV table ({exc})", file=src) from None


@app.command()
def pool(
    data: Annotated[Path, typer.Argument(help="CSV with one row per study")],
    measure: Annotated[Measure, typer.Option(help="effect measure")],
    method: Annotated[Method, typer.Option(help="IV, MH, PETO: common effect; others: random "
                                           "effects with that tau^2 estimator")],
    hksj: Annotated[bool, typer.Option("--hksj", help="Hartung-Knapp-Sidik-Jonkman CI")] = False,
    hksj_adhoc: Annotated[bool, typer.Option(
        "--hksj-adhoc", help="HKSJ never narrower than the Wald CI (Jackson 2017)")] = False,
    subgroup: Annotated[str | None, typer.Option(help="column defining subgroups")] = None,
    revman: Annotated[bool, typer.Option("--revman", help="RevMan's conventions")] = False,
    level: Annotated[float, typer.Option(help="confidence level, in (0, 1)",
                                         callback=_probability)] = 0.95,
    confidence_level: Annotated[float | None, typer.Option(
        "--confidence-level", help="the same as --level, by the name the Python API and the "
        "review file use", callback=_maybe_probability)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    tau2_ci_search: Annotated[Tau2Search, typer.Option(
        "--tau2-ci-search", help="unbounded: the Q-profile bounds of tau^2 wherever they lie; "
        "metafor: metafor's default search, capped at max(100, 10 tau^2)")] = Tau2Search.UNBOUNDED,
    multi_arm: Annotated[MultiArm, typer.Option(
        "--multi-arm", help="a comparator group shared by several comparisons of one study: "
        "split it evenly, combine the experimental arms, or keep the rows as entered")
    ] = "split",  # type: ignore[assignment]
    crossover_corr: Annotated[float | None, typer.Option(
        "--crossover-corr", help="within-participant correlation for crossover trials without "
        "their own (default: imputed from the trials that allow it)")] = None,
    rare_events: Annotated[bool, typer.Option(
        "--rare-events", help="sparse 2x2 data: choose M-H without corrections, Peto or the "
        "binomial-normal model by the Handbook's rules (10.4.4.1), and say why")] = False,
) -> None:
    """Pool the studies of DATA into one meta-analysis. Optional columns describe trial designs
    (design: parallel, crossover, cluster; corr, cluster_size, icc, ...), reported effects and
    statistics to convert at data entry (medians, SEs, CIs, t or P values, baselines)."""
    from trialsynth.api import pool as pool_frame

    level = level if confidence_level is None else confidence_level
    frame = read_table(data)
    result = pool_frame(frame, measure.value, method.value,
                        hksj="adhoc" if hksj_adhoc else hksj, subgroup=subgroup,
                        revman=revman, confidence_level=level, source=str(data),
                        tau2_ci_search=tau2_ci_search.value,
                        designs={"multi_arm": str(multi_arm),
                                 "crossover_corr": crossover_corr},
                        rare_events=rare_events)
    if as_json:
        _print_json(result)
    else:
        print_result(result, console())


@app.command()
def run(
    review: Annotated[Path, typer.Argument(help="the review: a RevMan Web data-rows CSV")],
    out: Annotated[Path, typer.Option("--out", help="output folder (written atomically)")],
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    since: Annotated[Path | None, typer.Option(
        "--since", help="an earlier version of the review (any source, a results.json or an "
        "earlier output folder, OUT included): the report opens with what changed")] = None,
) -> None:
    """Run every analysis of REVIEW and write results.json, tables/ and index.html to OUT."""
    from trialsynth._heap import frozen

    with frozen():  # loading the report stack is most of the allocation before the run
        from trialsynth.runner import run_review  # the report stack loads only when asked for

        summary = run_review(review, out, quiet=quiet, since=since)["summary"]
    if not quiet:
        console().print(
            f"{summary['analyses']} analyses, {summary['pooled']} pooled; RevMan's per-study "
            f"weights reproduced in {summary['weights_reproduced']}/"
            f"{summary['with_stored_weights']}; wrote {out}/index.html")


class SchemaName(StrEnum):
    results = "results"


@app.command()
def schema(
    name: Annotated[SchemaName, typer.Argument(help="results: the layout of results.json")],
) -> None:
    """Print the JSON Schema of a file trialsynth writes (results: results.json; see
    docs/results-json.md)."""
    from trialsynth.results_schema import schema_text

    sys.stdout.write(schema_text())


@app.command()
def check(
    source: Annotated[Path, typer.Argument(help="rm5 (or .rm5.gz), RevMan 5 CSV, RevMan Web "
                                           "package (zip or folder), data-rows CSV, review folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list, one object per "
                                          "analysis")] = False,
) -> None:
    """Re-run every analysis of SOURCE with its stored settings and compare with the stored
    results. Exit 0 when nothing differs, 1 when something does, 2 on unreadable input."""
    from trialsynth.analyse.checking import check_source, exit_code, render_check_table

    rows = check_source(source)
    if as_json:
        _print_json(rows)
    else:
        console().print(render_check_table(rows, title=str(source)))
    raise typer.Exit(exit_code(rows))


@app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(help="RevMan file or package, data-rows CSV, or a "
                                           "review folder")],
    out: Annotated[Path, typer.Option("--out", help="review folder to write (atomically)")],
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="also write the whole review as one JSON document")] = None,
) -> None:
    """Write SOURCE as a trialsynth review folder (review.yaml plus CSV tables)."""
    from trialsynth._atomic import refuse_overlap
    from trialsynth.readers.convert import build_folder, folder_json, write_json
    from trialsynth.readers.folder import read_folder, write_folder

    refuse_overlap([source], [out, *([json_out] if json_out is not None else [])])
    write_folder(build_folder(source), out)
    if json_out is not None:
        write_json(folder_json(read_folder(out)), json_out)
    console().print(f"wrote {out}")


@app.command()
def plan(
    review: Annotated[Path, typer.Argument(help="the review (any format trialsynth reads)")],
    analysis: Annotated[str, typer.Option("--analysis", help="analysis ID, e.g. 1.1")],
    mid: Annotated[float | None, typer.Option(help="minimal important difference (ratio "
                                              "measures: relative change, 0.2 = RR 0.8)")] = None,
    alpha: Annotated[float, typer.Option(help="two-sided type I error",
                                         callback=_probability)] = 0.05,
    power: Annotated[float, typer.Option(help="power (1 - beta)", callback=_probability)] = 0.9,
    as_json: Annotated[bool, typer.Option("--json", help="print the numbers as JSON")] = False,
) -> None:
    """Trial sequential analysis of one analysis: required information, conclusion, TSA-adjusted
    CI and the size of the next trial that would settle the question."""
    from trialsynth.assess.sequential.plan import plan_analysis, render_plan

    result = plan_analysis(review, analysis, mid=mid, alpha=alpha, power=power)
    if as_json:
        result.pop("_tsa")
        _print_json(result)
    else:
        console().print(render_plan(result), highlight=False)


class NmaMeasure(StrEnum):
    MD = "MD"
    SMD = "SMD"
    OR = "OR"
    RR = "RR"
    RD = "RD"
    GENERIC = "GENERIC"


class NmaMethod(StrEnum):
    IV = "IV"
    REML = "REML"
    DL = "DL"


@app.command()
def nma(
    data: Annotated[Path, typer.Argument(help="CSV: arm level (study, treatment, events, n | mean, "
                                         "sd, n) or contrast level (study, treatment1, "
                                         "treatment2, yi, se)")],
    measure: Annotated[NmaMeasure, typer.Option(help="effect measure")],
    method: Annotated[NmaMethod, typer.Option(help="IV: common effect; REML, DL: random effects "
                                              "(DL: netmeta's generalised DerSimonian-Laird)")],
    reference: Annotated[str, typer.Option(help="reference treatment")],
    small_values: Annotated[str, typer.Option(
        help="P-scores and certainty: 'desirable' (lower is better) or 'undesirable'")
    ] = "desirable",
    mid: Annotated[float | None, typer.Option(help="minimal important difference (ratio "
                                              "measures: relative change, 0.25 = RR 0.75/1.25)")
                   ] = None,
    level: Annotated[float, typer.Option(help="confidence level, in (0, 1)",
                                         callback=_probability)] = 0.95,
    confidence_level: Annotated[float | None, typer.Option(
        "--confidence-level", help="the same as --level, by the name the Python API and the "
        "review file use", callback=_maybe_probability)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Network meta-analysis of DATA: every treatment against REFERENCE, league table,
    heterogeneity, inconsistency (design-by-treatment, node splitting), P-scores, confidence."""
    from trialsynth.nma.analysis import network_meta_analysis
    from trialsynth.render.nma_text import print_network

    level = level if confidence_level is None else confidence_level
    if small_values not in ("desirable", "undesirable"):
        raise DataError(f"--small-values must be 'desirable' or 'undesirable', not "
                        f"{small_values!r}")
    result = network_meta_analysis(read_table(data), measure.value, method.value, reference,
                                   small_values=small_values, mid=mid,  # type: ignore[arg-type]
                                   confidence_level=level, source=str(data))
    if as_json:
        _print_json(result)
    else:
        print_network(result, console())


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="the earlier version: a review source (folder, "
                                        "RevMan file, data rows), a results.json or an output "
                                        "folder of run")],
    new: Annotated[Path, typer.Argument(help="the newer version, likewise")],
    as_json: Annotated[bool, typer.Option("--json", help="print the changes as one JSON "
                                          "object")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", help="write the 'What changed' page (index.html, diff.json) to this folder, "
        "atomically")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """What changed from OLD to NEW: analyses changed, added or removed, with their estimates,
    certainty and statements before and after, and every changed conclusion. Exit 0 when it
    ran (changes or not), 2 on unreadable input."""
    from trialsynth.diff import diff_paths
    from trialsynth.diff.render import render_summary, write_page

    result = diff_paths(old, new, quiet=quiet)
    if out is not None:
        write_page(result, out, inputs=(old, new))
    if as_json:
        json.dump(result, sys.stdout, indent=2, ensure_ascii=False, allow_nan=False)
        sys.stdout.write("\n")
    else:
        console().print(render_summary(result))
        if out is not None:
            console().print(f"wrote {out}/index.html")


def _f(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def print_result(result: PooledResult, console: Console) -> None:
    """A readable table of the pooled result and its studies."""
    from rich.table import Table

    scale = result.exp
    table = Table(title=f"{result.measure}, {result.method} ({result.model} effect), "
                        f"k = {result.k}", show_lines=False)
    for col in ("study", "effect", "95% CI", "weight %"):
        table.add_column(col, justify="left" if col == "study" else "right")
    for s in result.studies:
        table.add_row(s.study, _f(s.yi), f"{_f(s.ci_low)} to {_f(s.ci_high)}",
                      _f(s.weight, 2) if s.included else "not estimable")
    table.add_row(Text("pooled", style="bold"), _f(result.estimate),
                  f"{_f(result.ci_low)} to {_f(result.ci_high)}", "100.00")
    console.print(table)
    if scale is not None:
        console.print(f"back-transformed: {_f(scale['estimate'])} "
                      f"({_f(scale['ci_low'])} to {_f(scale['ci_high'])})")
    console.print(f"test for overall effect: statistic = {_f(result.statistic, 3)}, "
                  f"p = {_f(result.pvalue, 4)}")
    console.print(f"heterogeneity: Q = {_f(result.q, 3)} (df = {result.q_df}), "
                  f"p = {_f(result.q_pvalue, 4)}, I² = {_f(result.i2, 1)}%, "
                  f"tau² = {_f(result.tau2)}")
    if result.pi_low is not None:
        console.print(f"prediction interval: {_f(result.pi_low)} to {_f(result.pi_high)}")
    if result.subgroup_test is not None:
        t = result.subgroup_test
        console.print(f"test for subgroup differences: Q = {_f(t.q, 3)} (df = {t.df}), "
                      f"p = {_f(t.pvalue, 4)}")
    for w in result.warnings:
        console.print(Text.assemble(("warning:", "yellow"), f" {w}"))
    designs = result.settings.get("designs") or {}
    for row in designs.get("rows", ()):
        for note in row["adjustments"]:
            console.print(Text.assemble((f"{row['study']} ({row['design']}):", "cyan"),
                                        f" {note}"))
    for s in designs.get("correlation_sensitivity") or ():
        console.print(Text(f"crossover Corr = {s['corr']:g}: {_f(s['estimate'])} "
                           f"({_f(s['ci_low'])} to {_f(s['ci_high'])})"))


@app.command()
def batch(
    source: Annotated[Path, typer.Argument(
        metavar="INPUT", help="a folder of reviews (any file the readers take, RevMan Web "
        "data-rows CSVs, .tgz corpora), one such file, or a long table (.csv/.parquet with an "
        "'analysis' column plus the pool columns)")],
    out: Annotated[Path, typer.Option("--out", help="RESULTS table, .parquet or .csv; analyses "
                                      "that could not be pooled, and why, go to "
                                      "<RESULTS stem>.failures.csv beside it")],
    measure: Annotated[Measure | None, typer.Option(
        help="effect measure for the analyses whose data type it fits (others are logged as "
             "failures); default: each analysis' stated or inferred measure")] = None,
    method: Annotated[Method, typer.Option(help="as for pool")] = Method.DL,
    hksj: Annotated[bool, typer.Option("--hksj", help="Hartung-Knapp-Sidik-Jonkman CI")] = False,
    revman: Annotated[bool, typer.Option("--revman", help="RevMan's conventions")] = False,
    workers: Annotated[int | None, typer.Option(
        help="start a local Dask cluster with N worker processes",
        callback=_at_least_one)] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="join a running Dask cluster, e.g. tcp://10.0.0.5:8786")] = None,
    partition_size: Annotated[int, typer.Option(
        min=1, help="analyses per partition: the unit of work of a worker and of resuming")] = 10_000,
    tau2_ci: Annotated[bool, typer.Option(
        "--tau2-ci/--no-tau2-ci", help="the Q-profile CI of tau^2 (and of I^2, H^2); "
        "--no-tau2-ci leaves those columns empty, as metafor's rma() without confint()")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
    multi_arm: Annotated[MultiArm, typer.Option(
        "--multi-arm", help="a study entering one analysis more than once with the same "
        "comparator data: split the shared group evenly (as pool) or keep the rows as entered "
        "(as_entered); either way the warnings column says so")
    ] = "split",  # type: ignore[assignment]
) -> None:
    """Pool every analysis of INPUT (DL unless --method) into one RESULTS table, one row per
    analysis: its id (review:group.number) and the fields of `pool --json` (weights aside).
    Finished partitions are kept in <RESULTS>.parts/ until the end, so a stopped run resumes
    where it stopped."""
    from trialsynth._atomic import output_lock, writing
    from trialsynth.corpus import failures_path, run_batch

    _check_batch_paths(source, out, measure, method, hksj)
    with output_lock(out), writing(out):  # one batch per RESULTS; a second one stops
        table = run_batch(source, out, measure=None if measure is None else measure.value,
                          method=method.value, hksj=hksj, revman=revman, workers=workers,
                          scheduler=scheduler, progress=not quiet,
                          partition_size=partition_size, tau2_ci=tau2_ci, return_table=False,
                          multi_arm=str(multi_arm))
    if not quiet:
        console().print(f"{table.attrs['pooled']} analyses pooled, "
                        f"{len(table.attrs['failures'])} could not "
                        f"be pooled ({failures_path(out)}); wrote {out}")


def _check_batch_paths(source: Path, out: Path, measure: Measure | None, method: Method,
                       hksj: bool) -> None:
    """Refuse, before anything is read, a batch that would write over, into or around its input
    (RESULTS, its failure log and its parts folder), an input that is a FIFO or device (or a
    folder holding one), and a method that does not fit the chosen measure."""
    from trialsynth._atomic import refuse_overlap
    from trialsynth.api import check_method
    from trialsynth.corpus.run import failures_path, parts_dir
    from trialsynth.readers.bounded import refuse_special, special_files

    if not source.exists():
        raise DataError("file not found", file=str(source))
    if not source.is_dir():
        refuse_special(source.stat().st_mode, str(source), "a review file or folder")
    refuse_overlap([source], [out, failures_path(out), parts_dir(out)])
    if source.is_dir() and (odd := special_files(source)):
        refuse_special(odd[0].stat().st_mode, str(odd[0]), "a review file")
    if measure is not None:
        check_method(measure.value, method.value, hksj)


if __name__ == "__main__":  # pragma: no cover
    app()
