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
from _paths import SHARED_DATA

from trialsynth.readers.folder import read_folder, render_folder
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


def _edit_review_wide(folder: Path) -> None:
    """CONSTRUCTED design marks: in analysis 3.1 Tonet 2008 is a crossover trial reporting the
    SE of its paired MD (4.0, with both SDs: its correlation can be computed); in analysis 1.1
    (the same outcome, "Pain intensity (continuous), immediate-term follow-up", under another
    comparison) Noppers 2011a is a crossover trial with arm data only. No correlation is set."""
    path = folder / "outcome_data.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    for r in rows:
        r["design"], r["effect_se"] = "", ""
        if r["analysis"] == "3.1" and r["study"] == "Tonet 2008":
            r["design"], r["effect_se"] = "crossover", "4.0"
        if r["analysis"] == "1.1" and r["study"] == "Noppers 2011a":
            r["design"] = "crossover"
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=[*rows[0].keys()], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def test_crossover_correlation_imputed_across_the_review(tmp_path: Path) -> None:
    from trialsynth.runner import review_correlations, review_results

    folder = shutil.copytree(EXAMPLE, tmp_path / "review")
    _edit_review_wide(folder)
    analyses = read_folder(folder).review.analyses
    # Handbook v6.4 §23.2.7.3 (Corr from SE(MD) = SD_diff/√N and both SDs; v5.1 §16.4.6.3):
    # Tonet 2008, N = 15, SD_E 29, SD_C 16, SE 4.0
    r = (29**2 + 16**2 - 4.0**2 * 15) / (2 * 29 * 16)
    imputed = review_correlations(analyses, "outcome_data.csv")
    assert imputed["1.1"][0] == pytest.approx(r, rel=1e-12)
    assert imputed["1.1"][1] == (f"Tonet 2008 {r:.3f}",)
    assert "1.4" not in imputed  # another outcome (short-term follow-up): nothing to impute
    # `pool` on analysis 1.1 alone has no trial that allows it: refused, as before
    alone = analyse(next(a for a in analyses if a.id == "1.1"), "outcome_data.csv")
    assert alone["status"] == "not pooled" and "within-participant correlation" in alone["reason"]
    results, _ = review_results(folder, quiet=True)
    a11 = next(a for a in results["analyses"] if a["id"] == "1.1")
    noppers = next(s for s in a11["result"]["studies"] if s["study"] == "Noppers 2011a")
    row = next(x for x in next(a for a in analyses if a.id == "1.1").frame.to_dict("records")
               if x["study"] == "Noppers 2011a")
    se = math.sqrt((row["sd_t"] ** 2 + row["sd_c"] ** 2 - 2 * r * row["sd_t"] * row["sd_c"])
                   / row["n_t"])  # Handbook v6.4 §23.2.7.1
    assert noppers["se"] == pytest.approx(se, rel=1e-12)
    source = a11["result"]["settings"]["designs"]["crossover_correlation"]["source"]
    assert "review's trials of this outcome" in source and "Tonet 2008" in source


RM5 = SHARED_DATA / "cochrane-rm5" / "CD000023StatsDataOnly.rm5"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RevMan 5 review (CD000023, real data) imported into a review folder, then designs
    declared there as a reviewer would (CONSTRUCTED marks, not from the trials' reports): Brink
    1951 as a cluster-randomised trial in analysis 1.1 (M = 20, ICC 0.05), Dagnelie 1996 as a
    crossover trial in studies.csv, the correlation set for the review (0.3)."""
    from typer.testing import CliRunner

    from trialsynth.cli import app

    folder = tmp_path_factory.mktemp("rm5") / "review"
    assert CliRunner().invoke(app, ["import", str(RM5), "--out", str(folder)]).exit_code == 0
    path = folder / "outcome_data.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    for r in rows:
        r["design"], r["cluster_size"], r["icc"] = "", "", ""
        if r["analysis"] == "1.1" and r["study"] == "Brink 1951":
            r["design"], r["cluster_size"], r["icc"] = "cluster", "20", "0.05"
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=[*rows[0].keys()], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    studies = folder / "studies.csv"
    lines = studies.read_text(encoding="utf-8").splitlines()
    head = lines[0].split(",")
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[0] == "Dagnelie 1996":
            cells[head.index("design")] = "crossover"
            lines[i] = ",".join(cells)
    studies.write_text("\n".join(lines) + "\n", encoding="utf-8")
    yml = folder / "review.yaml"
    yml.write_text(yml.read_text(encoding="utf-8").replace(
        "  conventions: revman\n", "  conventions: revman\n  designs:\n"
        "    crossover_correlation: 0.3\n", 1), encoding="utf-8")
    return folder


@pytest.mark.shared_data
def test_revman_import_report_marks_designs_and_adjustments(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    run_review(imported, out, quiet=True)
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    a11 = {s["study"]: s for s in next(a for a in doc["analyses"] if a["id"] == "1.1")["studies"]}
    assert a11["Brink 1951"]["design"] == "cluster"
    # Handbook v6.4 §23.1.4: design effect 1 + (20 − 1) × 0.05 = 1.95
    assert "= 1.95;" in a11["Brink 1951"]["adjustments"][0]
    assert a11["Dagnelie 1996"]["design"] == "crossover"
    assert "Corr = 0.300 (set for the review)" in a11["Dagnelie 1996"]["adjustments"][0]
    assert a11["Chapple 1956"] == a11["Chapple 1956"] | {"design": "parallel", "adjustments": []}
    # an analysis the crossover trial cannot enter (unequal arms): not pooled, the reason names
    # the file row, and every study still carries its design
    a14 = next(a for a in doc["analyses"] if a["id"] == "1.4")
    assert a14["status"] == "not pooled" and "n_t and n_c must be equal" in a14["reason"]
    assert {s["design"] for s in a14["studies"]} == {"parallel", "crossover"}
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Data adjusted: cluster: design effect" in html and ">crossover</td>" in html


@pytest.mark.shared_data
def test_import_round_trips_the_design_columns(imported: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from trialsynth.cli import app

    again = tmp_path / "again"
    res = CliRunner().invoke(app, ["import", str(imported), "--out", str(again), "--json",
                                   str(tmp_path / "review.json")])
    assert res.exit_code == 0, res.output
    for name in ("outcome_data.csv", "studies.csv"):
        assert sorted((again / name).read_text(encoding="utf-8").splitlines()) == \
            sorted((imported / name).read_text(encoding="utf-8").splitlines()), name
    assert "crossover_correlation: 0.3" in (again / "review.yaml").read_text(encoding="utf-8")
    a, b = read_folder(imported).review.analyses, read_folder(again).review.analyses
    for x, y in zip(a, b, strict=True):
        assert x.frame.equals(y.frame), x.id
    doc = json.loads((tmp_path / "review.json").read_text(encoding="utf-8"))
    assert '"cluster_size"' in json.dumps(doc) and '"crossover"' in json.dumps(doc)
