"""Trial designs through the review folder and the report: outcome_data.csv takes the design
and data-entry columns, studies.csv's design is used when a row gives none, settings.designs
sets the review-wide choices, and the report marks each study's design and every adjustment.

The review is the flagship folder (examples/nmda-chronic-pain, real CD015373 data) with design
marks and a correlation CONSTRUCTED for the test (not taken from the trials' reports)."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from pathlib import Path

import pytest

from trialsynth.io.folder import read_folder, render_folder
from trialsynth.runner import analyse, run_review

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"


def _edit(folder: Path) -> None:
    """Analysis 1.1: Noppers 2011a marked crossover with Corr 0.5 (CONSTRUCTED); Sigtermans
    2009 marked crossover in studies.csv, its Corr from settings.designs (CONSTRUCTED)."""
    path = folder / "outcome_data.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    for r in rows:
        r["design"], r["corr"] = "", ""
        if r["analysis"] == "1.1" and r["study"] == "Noppers 2011a":
            r["design"], r["corr"] = "crossover", "0.5"
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=[*rows[0].keys()], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    studies = folder / "studies.csv"
    text = studies.read_text(encoding="utf-8").replace(
        "Sigtermans 2009,Sigtermans 2009,2009,,,,,", "Sigtermans 2009,Sigtermans 2009,2009,,,,crossover,")
    studies.write_text(text, encoding="utf-8")
    yml = folder / "review.yaml"
    yml.write_text(yml.read_text(encoding="utf-8").replace(
        "  conventions: revman\n", "  conventions: revman\n  designs:\n"
        "    crossover_correlation: 0.4\n", 1), encoding="utf-8")


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("designs") / "review")
    _edit(folder)
    return folder


def test_folder_rows_enter_with_their_design(edited: Path) -> None:
    f = read_folder(edited)
    a = next(x for x in f.review.analyses if x.id == "1.1")
    out = analyse(a, "outcome_data.csv")
    by = {s["study"]: s for s in out["studies"]}
    assert by["Noppers 2011a"]["design"] == "crossover"
    assert by["Sigtermans 2009"]["design"] == "crossover"  # from studies.csv
    assert by["Lumanauw 2019"]["design"] == "parallel" and not by["Lumanauw 2019"]["adjustments"]
    noppers = next(r for r in a.frame.to_dict("records") if r["study"] == "Noppers 2011a")
    # Handbook v6.4 §23.2.7.1 with the row's own Corr 0.5, N = n_t
    se = math.sqrt((noppers["sd_t"] ** 2 + noppers["sd_c"] ** 2
                    - 2 * 0.5 * noppers["sd_t"] * noppers["sd_c"]) / noppers["n_t"])
    res = {s["study"]: s for s in out["result"]["studies"]}
    assert res["Noppers 2011a"]["se"] == pytest.approx(se, rel=1e-12)
    assert "Corr = 0.400" in " ".join(by["Sigtermans 2009"]["adjustments"])  # the review's
    sens = out["result"]["settings"]["designs"]["correlation_sensitivity"]
    assert [s["corr"] for s in sens] == [0.2, 0.5, 0.8]


def test_design_columns_and_settings_round_trip(edited: Path) -> None:
    f = read_folder(edited)
    texts = render_folder(f)
    assert "design" in texts["outcome_data.csv"].splitlines()[0]
    assert "crossover_correlation: 0.4" in texts["review.yaml"]
    plain = render_folder(read_folder(EXAMPLE))  # without designs nothing new is written
    assert "design" not in plain["outcome_data.csv"].splitlines()[0]
    assert "designs" not in plain["review.yaml"]


def test_report_marks_designs_and_adjustments(edited: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    run_review(edited, out, quiet=True)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Data adjusted: crossover, N = 12" in html
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    a = next(x for x in doc["analyses"] if x["id"] == "1.1")
    assert {s["study"]: s["design"] for s in a["studies"]}["Noppers 2011a"] == "crossover"
