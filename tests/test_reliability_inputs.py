"""Inputs under attack (issue 15, items 2, 3 and 4): every failure is one line and exit 2,
never a traceback; reads are bounded in bytes and time (FIFOs, devices, links, blank-line
padding); options are validated where they enter; user text is never console markup; an
absurd study is kept out with its reason and never changes the other studies' result.

Inputs are copies of real files (shared/data, PROVENANCE.md) edited in ``tmp_path``; the few
hand-made rows are labelled SIMULATED. Anything that could hang (FIFOs, devices) runs in a child
process with a timeout, so a regression fails instead of blocking the suite.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from _cli_process import trialsynth_cli
from _paths import SHARED_DATA
from typer.testing import CliRunner

from trialsynth.cli import app

FLEISS = SHARED_DATA / "meta-fleiss1993"
RM5 = FLEISS / "Fleiss1993.rm5"
WEB = FLEISS / "revman-web-export"
ROWS = SHARED_DATA / "pairwise70" / "CD008628_pub3_data.csv"
FLAGSHIP = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"
ENV = {"COLUMNS": "2000", "NO_COLOR": "1"}
runner = CliRunner()
# SIMULATED study rows (labelled as such wherever they appear)
POOL = ("study,events_t,n_t,events_c,n_c,mean_t,sd_t,mean_c,sd_c,yi,se\n"
        "SIMULATED A,12,50,20,52,5.1,1.2,5.9,1.4,0.10,0.20\n"
        "SIMULATED B,8,40,15,41,4.8,1.1,5.5,1.3,0.30,0.25\n"
        "SIMULATED C,30,120,41,118,5.0,1.5,5.6,1.2,-0.10,0.15\n"
        "SIMULATED D,22,90,25,88,5.3,1.4,5.2,1.3,0.05,0.12\n")


def _refused(result, *patterns: str) -> str:
    """Exit 2, one ``error:`` line on stderr matching every pattern, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for pattern in patterns:
        assert re.search(pattern, err), (pattern, err)
    return err


def _proc_refused(proc, *patterns: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for pattern in patterns:
        assert re.search(pattern, err), (pattern, err)
    return err


def _pool_csv(tmp_path: Path, text: str = POOL, name: str = "studies.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------
# 4. reads bounded in time: FIFOs, devices, links to them


def test_fifo_inputs_are_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "studies.csv"
    os.mkfifo(fifo)
    for args in (("pool", fifo, "--measure", "RR", "--method", "DL"),
                 ("batch", fifo, "--out", tmp_path / "r.csv", "--quiet"),
                 ("check", fifo), ("run", fifo, "--out", tmp_path / "o", "--quiet"),
                 ("import", fifo, "--out", tmp_path / "f")):
        _proc_refused(trialsynth_cli(*args, timeout=120), str(fifo), "FIFO")
    assert not (tmp_path / "o").exists() and not (tmp_path / "r.csv").exists()


def test_fifos_and_devices_inside_folders_are_refused(tmp_path: Path) -> None:
    review = tmp_path / "review"
    shutil.copytree(FLAGSHIP, review)
    (review / "studies.csv").unlink()
    os.mkfifo(review / "studies.csv")
    _proc_refused(trialsynth_cli("run", review, "--out", tmp_path / "o", "--quiet",
                                 timeout=120), "studies.csv", "FIFO")
    (review / "studies.csv").unlink()
    (review / "studies.csv").symlink_to("/dev/zero")  # a link to a device: read without end
    _proc_refused(trialsynth_cli("check", review, timeout=120), "studies.csv", "a device")
    shutil.copy(FLAGSHIP / "studies.csv", review / "studies.csv.real")
    (review / "studies.csv").unlink()
    (review / "review.yaml").rename(review / "review.real")
    (review / "review.yaml").symlink_to("/dev/zero")
    _proc_refused(trialsynth_cli("import", review, "--out", tmp_path / "f", timeout=120),
                  "review.yaml", "a device")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROWS, corpus / "rows.csv")
    os.mkfifo(corpus / "more.csv")
    _proc_refused(trialsynth_cli("batch", corpus, "--out", tmp_path / "r.csv", "--quiet",
                                 timeout=120), "more.csv", "FIFO")
    for args in (("pool", "/dev/zero", "--measure", "RR", "--method", "DL"), ("check", "/dev/zero")):
        _proc_refused(trialsynth_cli(*args, timeout=120), "/dev/zero", "a device")


def test_a_link_to_a_regular_file_is_read(tmp_path: Path) -> None:
    review = tmp_path / "review"
    shutil.copytree(FLAGSHIP, review)
    (review / "studies.csv").rename(tmp_path / "studies-elsewhere.csv")
    (review / "studies.csv").symlink_to(tmp_path / "studies-elsewhere.csv")
    result = runner.invoke(app, ["check", str(review), "--json"], env=ENV)
    assert result.exit_code in (0, 1), result.output


# ------------------------------------------------------------------------------------------
# 4. blank-line padding: counted, not parsed


def test_padding_is_not_parsed_line_by_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from trialsynth.readers import revman_csv

    feeds: list[revman_csv._Feed] = []

    class Spy(revman_csv._Feed):
        def __init__(self, text: str) -> None:
            super().__init__(text)
            feeds.append(self)

    monkeypatch.setattr(revman_csv, "_Feed", Spy)
    text = "a,b\n1,2\n" + "\n" * 3_000_000 + "3,4\n" + "\r\n" * 1_000_000 + "5,6\n"
    records = revman_csv.csv_records(text, "padded.csv")
    assert records == [(1, ["a", "b"]), (2, ["1", "2"]), (3_000_003, ["3", "4"]),
                       (4_000_004, ["5", "6"])]
    # of 4,000,004 lines, the reader was handed a few chunks' worth; the rest were counted
    assert feeds[0].supplied < 6 * revman_csv.CHUNK and feeds[0].skipped > 3_600_000


def test_padding_inside_a_quoted_field_is_kept() -> None:
    """Blank lines inside a quoted field are field content, not padding."""
    from trialsynth.readers import revman_csv

    body = "\n" * (3 * revman_csv.CHUNK)
    text = f'a,b\n1,"x{body}y"\n2,3\n'
    records = revman_csv.csv_records(text, "quoted.csv")
    assert records[1] == (2, ["1", f"x{body}y"]) and records[2][1] == ["2", "3"]


def test_padded_file_reports_rows_as_a_spreadsheet_shows_them(tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(ROWS.read_text())))
    rows[5][rows[0].index("Experimental.N")] = "thirty-nine"  # spreadsheet row 6
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    lines = buf.getvalue().encode().split(b"\n")
    padded = tmp_path / "padded.csv"
    padded.write_bytes(b"\n".join([*lines[:3], b"\n" * 2_000_000 + lines[3], *lines[4:]]))
    result = runner.invoke(app, ["check", str(padded), "--json"], env=ENV)
    _refused(result, str(padded), rf"row {6 + 2_000_000}, column 'Experimental.N'",
             "not a number")


def test_padded_zip_member_reads_like_the_plain_one(tmp_path: Path) -> None:
    """A zip of under 100 kB whose data-rows member inflates to 60 MB of blank lines."""
    plain, padded = tmp_path / "plain.zip", tmp_path / "padded.zip"
    for z, pad in ((plain, b""), (padded, b"\n" * 60_000_000)):
        with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for p in sorted(WEB.rglob("*.csv")):
                data = p.read_bytes() + (pad if p.name.endswith("-data-rows.csv") else b"")
                zf.writestr(p.relative_to(WEB).as_posix(), data)
    assert padded.stat().st_size < 100_000
    outs = [runner.invoke(app, ["check", str(z), "--json"], env=ENV) for z in (plain, padded)]
    assert outs[0].exit_code == outs[1].exit_code and outs[0].exit_code in (0, 1)
    assert outs[0].stdout.replace("plain.zip", "x") == outs[1].stdout.replace("padded.zip", "x")


# ------------------------------------------------------------------------------------------
# 2. the tracebacks of the issue, each now one line


def _rm5_with(tmp_path: Path, old: bytes, new: bytes, name: str = "review.rm5") -> Path:
    data = RM5.read_bytes()
    assert old in data
    path = tmp_path / name
    path.write_bytes(data.replace(old, new, 1))
    return path


@pytest.mark.parametrize("encoding", ["UTF-7", "bogus-encoding", "UTF-16"])
def test_rm5_declaring_an_unreadable_encoding(tmp_path: Path, encoding: str) -> None:
    src = _rm5_with(tmp_path, b'encoding="ISO-8859-1"', f'encoding="{encoding}"'.encode())
    for command in (["check", str(src)], ["run", str(src), "--out", str(tmp_path / "o")],
                    ["import", str(src), "--out", str(tmp_path / "f")]):
        err = _refused(runner.invoke(app, command, env=ENV), str(src))
        assert encoding in err or "not well-formed" in err, err


def _zip_with_corrupt_member(tmp_path: Path) -> Path:
    z = tmp_path / "package.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(WEB.rglob("*.csv")):
            zf.writestr(p.relative_to(WEB).as_posix(), p.read_bytes())
    raw = bytearray(z.read_bytes())
    info = next(i for i in zipfile.ZipFile(z).infolist() if i.filename.endswith("data-rows.csv"))
    start = info.header_offset + 30 + int.from_bytes(raw[info.header_offset + 26:][:2], "little") \
        + int.from_bytes(raw[info.header_offset + 28:][:2], "little")
    for j in range(start + 5, start + 60):  # the deflate stream, not the headers
        raw[j] ^= 0x5A
    z.write_bytes(bytes(raw))
    return z


def test_corrupt_deflate_streams(tmp_path: Path) -> None:
    z = _zip_with_corrupt_member(tmp_path)
    gz = tmp_path / "review.rm5.gz"
    data = bytearray(gzip.compress(RM5.read_bytes()))
    for j in range(30, 80):
        data[j] ^= 0x33
    gz.write_bytes(bytes(data))
    for src, pattern in ((z, r"data-rows\.csv: cannot read the zip member"),
                         (gz, "not a readable gzip file")):
        for command in (["check", str(src)], ["run", str(src), "--out", str(tmp_path / "o")],
                        ["import", str(src), "--out", str(tmp_path / "f")]):
            _refused(runner.invoke(app, command, env=ENV), pattern)


def test_huge_integer_in_review_yaml(tmp_path: Path) -> None:
    review = tmp_path / "review"
    shutil.copytree(FLAGSHIP, review)
    yml = review / "review.yaml"
    text = yml.read_text()
    assert "stored_decimals: 6" in text
    yml.write_text(text.replace("stored_decimals: 6", "stored_decimals: " + "9" * 5000))
    for command in (["check", str(review)], ["run", str(review), "--out", str(tmp_path / "o")],
                    ["import", str(review), "--out", str(tmp_path / "f")]):
        err = _refused(runner.invoke(app, command, env=ENV), r"review\.yaml, line \d+",
                       "stored_decimals", "at most 100 digits")
        assert len(err) < 400


def test_run_where_no_analysis_can_be_pooled_still_reports(tmp_path: Path) -> None:
    """Every study of the Fleiss file made not estimable (no events in either arm, SD 0):
    ``run`` writes the report, with every analysis "not pooled" and why."""
    data = re.sub(rb'EVENTS_([12])="\d+"', rb'EVENTS_\1="0"', RM5.read_bytes())
    data = re.sub(rb' SD_([12])="[^"]*"', rb' SD_\1="0"', data)
    src = tmp_path / "nothing.rm5"
    src.write_bytes(data)
    out = tmp_path / "report"
    result = runner.invoke(app, ["run", str(src), "--out", str(out), "--quiet"], env=ENV)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["summary"]["pooled"] == 0 and results["summary"]["analyses"] == 2
    assert all(a["status"] == "not pooled" and a["reason"] for a in results["analyses"])
    assert (out / "index.html").is_file()


def test_unexpected_failures_are_one_line_unless_debugging(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import trialsynth.api as api

    def broken(*_a: object, **_k: object) -> None:
        raise KeyError("[bold]unexpected[/]")

    monkeypatch.setattr(api, "pool", broken)
    src = _pool_csv(tmp_path)
    args = ["pool", str(src), "--measure", "RR", "--method", "DL"]
    err = _refused(runner.invoke(app, args, env=ENV), r"internal error \(KeyError",
                   "please report", "TRIALSYNTH_DEBUG=1")
    assert "[bold]unexpected[/]" in err  # literally, not as console markup
    debug = runner.invoke(app, args, env={**ENV, "TRIALSYNTH_DEBUG": "1"})
    assert isinstance(debug.exception, KeyError)


def test_missing_dependencies_are_named(tmp_path: Path) -> None:
    long = tmp_path / "long.csv"
    long.write_text("analysis,study,yi,se\na,SIMULATED 1,0.1,0.1\na,SIMULATED 2,0.2,0.2\n")
    _proc_refused(trialsynth_cli("run", RM5, "--out", tmp_path / "o", "--quiet",
                                 fault="without:matplotlib"),
                  "the Python package 'matplotlib' is needed", r"pip install matplotlib")
    _proc_refused(trialsynth_cli("batch", long, "--out", tmp_path / "r.parquet", "--quiet",
                                 fault="without:pyarrow"), "pyarrow", "not installed")
    assert not (tmp_path / "o").exists()


def test_a_folder_given_as_a_file(tmp_path: Path) -> None:
    _refused(runner.invoke(app, ["pool", str(tmp_path), "--measure", "RR", "--method", "DL"],
                           env=ENV), str(tmp_path), "is a folder, not a CSV file")


# ------------------------------------------------------------------------------------------
# 3. options validated at the edge


@pytest.mark.parametrize("options,pattern", [
    (["--measure", "SMD", "--method", "MH"], "Mantel-Haenszel method .* not SMD"),
    (["--measure", "MD", "--method", "MH_RANDOM"], "Mantel-Haenszel method .* not MD"),
    (["--measure", "RR", "--method", "PETO"], "Peto method .* not RR"),
    (["--measure", "RR", "--method", "IV", "--hksj"], "HKSJ .* not for the common-effect method IV"),
    (["--measure", "RR", "--method", "MH", "--hksj-adhoc"], "HKSJ .* method MH"),
    *[(["--measure", "RR", "--method", "DL", "--level", v], r"Invalid value for '--level': must "
       r"be a number strictly between 0 and 1") for v in ("nan", "-0.5", "1.5", "0", "1", "inf")],
    (["--measure", "RR", "--method", "DL", "--level", "abc"], r"Invalid value for '--level'"),
    (["--measure", "XX", "--method", "DL"], r"Invalid value for '--measure'"),
    (["--measure", "RR", "--method", "DL", "--bogus"], r"No such option: --bogus"),
])
def test_pool_options(tmp_path: Path, options: list[str], pattern: str) -> None:
    src = _pool_csv(tmp_path)
    _refused(runner.invoke(app, ["pool", str(src), *options], env=ENV), pattern)


def test_python_api_refuses_bad_levels_and_methods() -> None:
    import trialsynth as ts
    from trialsynth.errors import DataError

    frame = pd.read_csv(io.StringIO(POOL))
    for level in (-0.5, 1.5, math.nan, 0.0, 1.0):
        with pytest.raises(DataError, match="strictly between 0 and 1"):
            ts.pool(frame, "RR", "DL", confidence_level=level)
    with pytest.raises(DataError, match="Mantel-Haenszel"):
        ts.pool(frame, "SMD", "MH")


@pytest.mark.parametrize("options,pattern", [
    (["--alpha", "2"], r"Invalid value for '--alpha'"), (["--power", "nan"], r"'--power'"),
    (["--power", "1"], r"'--power'"), (["--mid", "nan"], "MID must be a positive number")])
def test_plan_options(options: list[str], pattern: str) -> None:
    _refused(runner.invoke(app, ["plan", str(RM5), "--analysis", "1.1", *options], env=ENV),
             pattern)


def test_batch_options(tmp_path: Path) -> None:
    src = tmp_path / "long.csv"
    src.write_text("analysis,study,yi,se\na,SIMULATED 1,0.1,0.1\na,SIMULATED 2,0.2,0.2\n")
    out = str(tmp_path / "r.csv")
    for options, pattern in ((["--workers", "0"], "'--workers': must be at least 1"),
                             (["--measure", "SMD", "--method", "MH"], "Mantel-Haenszel"),
                             (["--method", "IV", "--hksj"], "HKSJ")):
        _refused(runner.invoke(app, ["batch", str(src), "--out", out, "--quiet", *options],
                               env=ENV), pattern)
    assert not Path(out).exists()


# ------------------------------------------------------------------------------------------
# 2. user text is never console markup: tables, messages, paths, progress


def test_markup_in_study_names_is_printed_literally(tmp_path: Path) -> None:
    text = POOL.replace("SIMULATED A", "[bold red]SIMULATED A[/]").replace("SIMULATED B",
                                                                           "[n/a] SIMULATED B")
    src = _pool_csv(tmp_path, text)
    result = runner.invoke(app, ["pool", str(src), "--measure", "RR", "--method", "DL"],
                           env=ENV)
    assert result.exit_code == 0, result.output
    assert "[bold red]SIMULATED A[/]" in result.stdout and "[n/a] SIMULATED B" in result.stdout


def test_markup_in_cells_and_paths_stays_in_messages(tmp_path: Path) -> None:
    folder = tmp_path / "d[n/a]"  # the folders 'd[n' and 'a]'
    folder.mkdir(parents=True)
    src = _pool_csv(folder, POOL.replace("SIMULATED B,8,", "SIMULATED B,[n/a],"), "x[bold].csv")
    err = _refused(runner.invoke(app, ["pool", str(src), "--measure", "RR", "--method", "DL"],
                                 env=ENV), re.escape(str(src)), r"row 3, column 'events_t'")
    assert "'[n/a]'" in err


def test_markup_in_analysis_names_in_the_check_table(tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(ROWS.read_text())))
    j = rows[0].index("Analysis.name")
    for r in rows[1:]:
        r[j] = "[red]" + r[j] + "[/] [n/a]"
    src = tmp_path / "rows.csv"
    with src.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    result = runner.invoke(app, ["check", str(src)], env=ENV)
    assert result.exit_code in (0, 1), result.output
    assert "[red]" in result.stdout and "[n/a]" in result.stdout


def test_progress_descriptions_are_not_markup() -> None:
    from rich.console import Console

    from trialsynth.runner import progress_bar

    buf = io.StringIO()
    bar = progress_bar(False, Console(file=buf, force_terminal=True, width=200))
    with bar:
        task = bar.add_task("pooling [bold]CD000[/] [n/a]", total=2)
        bar.advance(task)
        bar.refresh()
    assert "[bold]CD000[/] [n/a]" in buf.getvalue()


# ------------------------------------------------------------------------------------------
# 3 and 6. one absurd study: kept out with its reason, the others unchanged, one rule


ABSURD = [("mean_t", "5.3", "1e308", "MD"), ("yi", "0.05", "1e308", "GENERIC"),
          ("n_t", "90", "1e308", "MD"), ("n_t", "90", "1e308", "OR"),
          ("se", "0.12", "1e-160", "GENERIC"), ("se", "0.12", "1e-30", "GENERIC")]
METHODS = ["IV", "DL", "REML", "ML", "PM", "HE", "SJ", "EB"]


def _row_d(column: str, value: str) -> str:
    header, *rows = POOL.splitlines()
    cols = header.split(",")
    last = rows[-1].split(",")
    last[cols.index(column)] = value
    return "\n".join([header, *rows[:-1], ",".join(last)]) + "\n"


@pytest.mark.parametrize("column,normal,absurd,measure", ABSURD,
                         ids=[f"{c}={a}-{m}" for c, _, a, m in ABSURD])
def test_an_absurd_study_is_kept_out_and_named(tmp_path: Path, column: str, normal: str,
                                               absurd: str, measure: str) -> None:
    import trialsynth as ts

    frame = pd.read_csv(io.StringIO(_row_d(column, absurd)))
    without = frame.iloc[:3]
    methods = METHODS + (["MH", "PETO"] if measure == "OR" else [])
    for method in methods:
        m = "PETO_OR" if method == "PETO" else measure
        got = ts.pool(frame, m, method)
        ref = ts.pool(without, m, method)
        assert got.k == 3 and not got.studies[3].included, (method, got.warnings)
        assert any("SIMULATED D" in w and "outside the range that can be pooled" in w
                   for w in got.warnings), (method, got.warnings)
        for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "q", "i2"):
            a, b = getattr(got, key), getattr(ref, key)
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), \
                (method, key, a, b)
        assert got.weights[:3] == pytest.approx(ref.weights)


def test_the_command_line_names_the_absurd_study(tmp_path: Path) -> None:
    src = _pool_csv(tmp_path, _row_d("yi", "1e308"))
    result = runner.invoke(app, ["pool", str(src), "--measure", "GENERIC", "--method", "REML",
                                 "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert got["k"] == 3 and got["estimate"] is not None and got["weights"][3] is None
    assert any("SIMULATED D (effect 1e+308" in w for w in got["warnings"])
    assert "RuntimeWarning" not in result.stderr and "overflow" not in result.stderr


def test_run_marks_absurd_rows_and_never_calls_an_empty_analysis_pooled(tmp_path: Path) -> None:
    review = tmp_path / "review"
    shutil.copytree(FLAGSHIP, review)
    table = pd.read_csv(review / "outcome_data.csv", dtype=str, keep_default_na=False)
    continuous = table[table["mean_t"] != ""]
    first, second = list(dict.fromkeys(continuous["analysis"]))[:2]
    table.loc[table.index[table["analysis"] == first][0], "mean_t"] = "1e308"  # one row absurd
    table.loc[table["analysis"] == second, "mean_t"] = "1e308"  # every row of another
    table.to_csv(review / "outcome_data.csv", index=False)
    out = tmp_path / "report"
    result = runner.invoke(app, ["run", str(review), "--out", str(out), "--quiet"], env=ENV)
    assert result.exit_code == 0, result.output
    analyses = {a["id"]: a for a in json.loads((out / "results.json").read_text())["analyses"]}
    one = analyses[first]
    assert one["status"] == "pooled" and one["result"]["estimate"] is not None
    assert any("outside the range that can be pooled" in w for w in one["result"]["warnings"])
    empty = analyses[second]
    assert empty["status"] == "not pooled" and empty["reason"], empty
