"""The ``trialsynth pool`` command: JSON contract, readable table, errors naming row and column."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from trialsynth.cli import app
from trialsynth.pooling.result import CONTRACT_KEYS

METADAT = Path(__file__).resolve().parents[2] / "shared" / "data" / "metadat"
REFERENCE = Path(__file__).parent / "reference" / "metafor_reference.json"
runner = CliRunner()


@pytest.fixture()
def bcg_csv(tmp_path: Path) -> Path:
    """dat.bcg (Colditz et al. 1994, JAMA 271:698), real data from metadat, in our columns."""
    df = pd.read_csv(METADAT / "dat.bcg.csv")
    path = tmp_path / "bcg.csv"
    pd.DataFrame({"study": df.author, "events_t": df.tpos, "n_t": df.tpos + df.tneg,
                  "events_c": df.cpos, "n_c": df.cpos + df.cneg, "alloc": df.alloc}
                 ).to_csv(path, index=False)
    return path


def _case(case_id: str) -> dict:
    cases = json.loads(REFERENCE.read_text())["cases"]
    return next(c for c in cases if c["id"] == case_id)


def test_json_has_every_contract_key_and_matches_metafor(bcg_csv: Path) -> None:
    out = runner.invoke(app, ["pool", str(bcg_csv), "--measure", "RR", "--method", "REML",
                              "--hksj", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert list(got)[: len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
    assert set(got["exp"]) == {"estimate", "ci_low", "ci_high", "pi_low", "pi_high"}
    want = _case("bcg_RR_REML_knha")["expected"]  # made by R metafor, not by us
    for key in ("estimate", "ci_low", "tau2", "tau2_ci_high", "i2", "pi_high"):
        assert got[key] == pytest.approx(want[key], rel=1e-6)
    assert sum(got["weights"]) == pytest.approx(100)


def test_subgroups_and_their_test(bcg_csv: Path) -> None:
    out = runner.invoke(app, ["pool", str(bcg_csv), "--measure", "RR", "--method", "DL",
                              "--subgroup", "alloc", "--json"])
    got = json.loads(out.stdout)
    assert set(got["subgroups"]) == {"random", "alternate", "systematic"}
    assert set(got["subgroup_test"]) >= {"q", "df", "pvalue"}
    assert got["subgroup_test"]["df"] == 2
    assert got["subgroups"]["random"]["k"] + got["subgroups"]["alternate"]["k"] + \
        got["subgroups"]["systematic"]["k"] == got["k"]


def test_common_effect_fields_that_do_not_apply_are_null(bcg_csv: Path) -> None:
    out = runner.invoke(app, ["pool", str(bcg_csv), "--measure", "OR", "--method", "MH", "--json"])
    got = json.loads(out.stdout)
    for key in ("tau2", "tau2_ci_low", "i2_ci_low", "pi_low", "pi_high"):
        assert got[key] is None
    assert got["exp"]["pi_low"] is None and got["exp"]["estimate"] > 0


def test_readable_table(bcg_csv: Path) -> None:
    out = runner.invoke(app, ["pool", str(bcg_csv), "--measure", "RR", "--method", "DL"])
    assert out.exit_code == 0
    assert "Aronson" in out.stdout and "heterogeneity" in out.stdout


def test_revman_switch_changes_conventions(bcg_csv: Path) -> None:
    a = json.loads(runner.invoke(app, ["pool", str(bcg_csv), "--measure", "RR", "--method",
                                       "REML", "--json"]).stdout)
    b = json.loads(runner.invoke(app, ["pool", str(bcg_csv), "--measure", "RR", "--method",
                                       "REML", "--revman", "--json"]).stdout)
    assert a["settings"]["conventions"] == "metafor" and b["settings"]["conventions"] == "revman"
    assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-12)  # no zero cells in BCG
    assert a["i2"] != pytest.approx(b["i2"], rel=1e-9)  # I² from τ² vs from Q


@pytest.mark.parametrize(("cell", "value", "needle"), [
    ("events_t", "abc", "row 4, column 'events_t'"),
    ("n_c", "", "row 4, column 'n_c'"),
    ("events_c", "999999", "row 4, column 'events_c'"),
    ("n_t", "-3", "row 4, column 'n_t'"),
])
def test_bad_file_exits_2_naming_row_and_column(bcg_csv: Path, cell: str, value: str,
                                                 needle: str) -> None:
    df = pd.read_csv(bcg_csv, dtype=str)
    df.loc[2, cell] = value  # third data row = spreadsheet row 4
    df.to_csv(bcg_csv, index=False)
    out = runner.invoke(app, ["pool", str(bcg_csv), "--measure", "RR", "--method", "DL"])
    assert out.exit_code == 2
    assert needle in " ".join(out.output.split())
    assert "bcg.csv" in out.output


def test_missing_columns_and_missing_file(tmp_path: Path, bcg_csv: Path) -> None:
    out = runner.invoke(app, ["pool", str(bcg_csv), "--measure", "MD", "--method", "DL"])
    assert out.exit_code == 2 and "mean_t" in out.output
    out = runner.invoke(app, ["pool", str(tmp_path / "nope.csv"), "--measure", "MD",
                              "--method", "DL"])
    assert out.exit_code == 2 and "file not found" in out.output


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CHECK_KEYS = ["analysis", "name", "measure", "model", "method", "status", "stored", "recomputed",
              "max_abs_diff"]


def test_check_json_contract_and_exit_code_on_a_revman_file() -> None:
    """CD008625 (real Cochrane rm5 file): every stored analysis is reproduced -> exit 0."""
    out = runner.invoke(app, ["check", str(SHARED / "cochrane-rm5" / "CD008625StatsDataOnly.rm5"),
                              "--json"])
    assert out.exit_code == 0, out.output[-2000:]
    rows = json.loads(out.stdout)
    assert len(rows) == 74
    for row in rows:
        assert list(row)[: len(CHECK_KEYS)] == CHECK_KEYS
        assert row["status"] in {"match", "differs", "not-estimable", "no-stored-result",
                                 "unsupported"}
        assert set(row["stored"]) >= {"estimate", "ci_low", "ci_high", "tau2", "i2", "q"}


def test_check_exits_1_when_a_stored_result_differs(tmp_path: Path) -> None:
    """A copy of the Fleiss 1993 RevMan 5 CSV export with one stored pooled value altered."""
    text = (SHARED / "meta-fleiss1993" / "Fleiss1993_CR.csv").read_text(encoding="utf-8")
    out = runner.invoke(app, ["check", str(SHARED / "meta-fleiss1993" / "Fleiss1993_CR.csv"),
                              "--json"])
    stored = json.loads(out.stdout)[0]["stored"]["q"]
    needle = f"{stored:.8f}".rstrip("0")
    assert needle in text
    broken = tmp_path / "Fleiss1993_CR.csv"
    broken.write_text(text.replace(needle, f"{stored + 1:.8f}", 1), encoding="utf-8")
    out = runner.invoke(app, ["check", str(broken)])
    assert out.exit_code == 1


def test_the_command_list_shows_each_first_paragraph_on_one_line() -> None:
    """``trialsynth --help`` lists every command with its docstring's first paragraph, whole and
    unbroken (Typer's Rich help would keep the docstring's own line breaks)."""
    import inspect

    import typer.main

    out = runner.invoke(app, ["--help"], env={"COLUMNS": "400"})
    assert out.exit_code == 0
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        first = " ".join(inspect.cleandoc(command.help or "").split("\n\n")[0].split())
        line = next(x for x in out.output.splitlines() if x.strip("│ ").startswith(name + " "))
        assert first in line, (name, line)
