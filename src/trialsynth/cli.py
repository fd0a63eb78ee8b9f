"""Command line: a thin shell over the Python API (``trialsynth --help``)."""

from __future__ import annotations

import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trialsynth.errors import DataError, TrialsynthError

if TYPE_CHECKING:  # numpy, pandas, scipy and rich load in the command that needs them, so that
    import pandas as pd  # `trialsynth --help` starts at once
    from rich.console import Console

    from trialsynth.pooling.result import PooledResult

app = typer.Typer(help="trialsynth: evidence synthesis validated against R metafor and RevMan.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """trialsynth: evidence synthesis validated against R metafor and RevMan."""


class Measure(StrEnum):
    RR = "RR"
    OR = "OR"
    RD = "RD"
    PETO_OR = "PETO_OR"
    MD = "MD"
    SMD = "SMD"
    GENERIC = "GENERIC"


class Method(StrEnum):
    IV = "IV"
    MH = "MH"
    PETO = "PETO"
    DL = "DL"
    REML = "REML"
    ML = "ML"
    PM = "PM"
    HE = "HE"
    SJ = "SJ"
    EB = "EB"
    MH_RANDOM = "MH_RANDOM"


def _console(**kwargs: Any) -> Console:
    """rich's Console, imported when a command prints."""
    from rich.console import Console

    return Console(**kwargs)


def _error(exc: BaseException) -> typer.Exit:
    """Print ``error: <message>`` on one line of stderr (the message printed as is: no rich
    markup, so ``trialsynth[parquet]`` or a file name in brackets survives) and exit 2."""
    from rich.markup import escape

    _console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False,
                                soft_wrap=True)
    return typer.Exit(2)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV of study rows (UTF-8, size-bounded, header names unique); errors name the file
    and, where they can, the row and column."""
    import pandas as pd

    from trialsynth.io.revman_csv import parse_csv, read_bounded

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
    level: Annotated[float, typer.Option(help="confidence level")] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Pool the studies of DATA into one meta-analysis."""
    from trialsynth.api import pool as pool_frame

    try:
        frame = read_table(data)
        result = pool_frame(frame, measure.value, method.value,
                            hksj="adhoc" if hksj_adhoc else hksj, subgroup=subgroup,
                            revman=revman, confidence_level=level, source=str(data))
    except DataError as exc:
        raise _error(exc) from None
    if as_json:
        json.dump(result.to_dict(), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print_result(result, _console())


@app.command()
def run(
    review: Annotated[Path, typer.Argument(help="the review: a RevMan Web data-rows CSV")],
    out: Annotated[Path, typer.Option("--out", help="output folder (written atomically)")],
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Run every analysis of REVIEW and write results.json, tables/ and index.html to OUT."""
    from trialsynth.runner import run_review  # the report stack loads only when asked for

    try:
        summary = run_review(review, out, quiet=quiet)["summary"]
    except TrialsynthError as exc:
        raise _error(exc) from None
    if not quiet:
        _console().print(
            f"{summary['analyses']} analyses, {summary['pooled']} pooled; RevMan's per-study "
            f"weights reproduced in {summary['weights_reproduced']}/"
            f"{summary['with_stored_weights']}; wrote {out}/index.html")


@app.command()
def check(
    source: Annotated[Path, typer.Argument(help="rm5 (or .rm5.gz), RevMan 5 CSV, RevMan Web "
                                           "package (zip or folder), data-rows CSV, review folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list, one object per "
                                          "analysis")] = False,
) -> None:
    """Re-run every analysis of SOURCE with its stored settings and compare with the stored
    results. Exit 0 when nothing differs, 1 when something does, 2 on unreadable input."""
    from trialsynth.checking import check_source, exit_code, render_check_table

    try:
        rows = check_source(source)
    except TrialsynthError as exc:
        raise _error(exc) from None
    if as_json:
        json.dump([r.to_dict() for r in rows], sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        _console().print(render_check_table(rows, title=str(source)))
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
    from trialsynth.io.convert import build_folder, folder_json, write_json
    from trialsynth.io.folder import read_folder, write_folder

    try:
        write_folder(build_folder(source), out)
        if json_out is not None:
            write_json(folder_json(read_folder(out)), json_out)
    except (TrialsynthError, OSError) as exc:
        raise _error(exc) from None
    _console().print(f"wrote {out}")


@app.command()
def plan(
    review: Annotated[Path, typer.Argument(help="the review (any format trialsynth reads)")],
    analysis: Annotated[str, typer.Option("--analysis", help="analysis ID, e.g. 1.1")],
    mid: Annotated[float | None, typer.Option(help="minimal important difference (ratio "
                                              "measures: relative change, 0.2 = RR 0.8)")] = None,
    alpha: Annotated[float, typer.Option(help="two-sided type I error")] = 0.05,
    power: Annotated[float, typer.Option(help="power (1 - beta)")] = 0.9,
    as_json: Annotated[bool, typer.Option("--json", help="print the numbers as JSON")] = False,
) -> None:
    """Trial sequential analysis of one analysis: required information, conclusion, TSA-adjusted
    CI and the size of the next trial that would settle the question."""
    from trialsynth._json import json_safe
    from trialsynth.sequential.plan import plan_analysis, render_plan

    try:
        result = plan_analysis(review, analysis, mid=mid, alpha=alpha, power=power)
    except (TrialsynthError, OSError) as exc:
        raise _error(exc) from None
    if as_json:
        result.pop("_tsa")
        json.dump(json_safe(result), sys.stdout, indent=2, allow_nan=False)
        sys.stdout.write("\n")
    else:
        _console().print(render_plan(result), highlight=False)


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
    table.add_row("[bold]pooled[/]", _f(result.estimate),
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
        console.print(f"[yellow]warning:[/] {w}")


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
        help="start a local Dask cluster with N worker processes")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="join a running Dask cluster, e.g. tcp://10.0.0.5:8786")] = None,
    partition_size: Annotated[int, typer.Option(
        min=1, help="analyses per partition: the unit of work of a worker and of resuming")] = 10_000,
    tau2_ci: Annotated[bool, typer.Option(
        "--tau2-ci/--no-tau2-ci", help="the Q-profile CI of tau^2 (and of I^2, H^2); "
        "--no-tau2-ci leaves those columns empty, as metafor's rma() without confint()")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Pool every analysis of INPUT (DL unless --method) into one RESULTS table, one row per
    analysis: its id (review:group.number) and the fields of `pool --json` (weights aside).
    Finished partitions are kept in <RESULTS>.parts/ until the end, so a stopped run resumes
    where it stopped."""
    from trialsynth.corpus import failures_path, run_batch

    try:
        table = run_batch(source, out, measure=None if measure is None else measure.value,
                          method=method.value, hksj=hksj, revman=revman, workers=workers,
                          scheduler=scheduler, progress=not quiet, partition_size=partition_size,
                          tau2_ci=tau2_ci, return_table=False)
    except (TrialsynthError, OSError) as exc:
        raise _error(exc) from None
    if not quiet:
        _console().print(f"{table.attrs['pooled']} analyses pooled, "
                         f"{len(table.attrs['failures'])} could not "
                        f"be pooled ({failures_path(out)}); wrote {out}")


if __name__ == "__main__":  # pragma: no cover
    app()
