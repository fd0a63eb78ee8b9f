"""Arm and axis labels from the file, and reviews organised by outcome (trialsynth.review.arms).

Real files of ``../shared/data``: RevMan 5 rm5 files of Cochrane reviews CD000023 (antibiotics
for sore throat; comparison 2 is titled "Antibiotics versus control ..." while its analyses label
the arms "Antibiotics"/"Placebo"), CD011564 (vitamin D for liver disease; analysis 1.25's column
labels are "Favours control"/"Favours vitamin D", 1.32 keeps RevMan's defaults, 1.15's axis puts
"Favours control" on the left), CD008625; Fleiss 1993 in rm5, RevMan 5 CSV and RevMan Web form;
and, from the 501-review Pairwise70 corpus (``pairwise70_all_501_csv.tgz``), reviews organised by
outcome: CD013745 (each comparison group an outcome, each analysis "<NOAC> versus <comparator>"),
CD015064, CD011535, CD012942 (analysis names are RevMan captions "Comparison 1 X versus Y,
Outcome 2 Z" with one outcome per group) and CD016031 (captions, one comparison per group). The
expected labels are the text of the files themselves.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from _paths import SHARED_DATA

from trialsynth.readers import read_review
from trialsynth.readers.convert import import_review
from trialsynth.readers.folder import read_folder
from trialsynth.review.arms import (
    ArmLabels,
    direction_from_labels,
    outcome_groups,
    pair_sides,
    resolve_arms,
    review_arms,
)
from trialsynth.runner import run_review

RM5 = SHARED_DATA / "cochrane-rm5"
FLEISS = SHARED_DATA / "meta-fleiss1993"
CORPUS = SHARED_DATA / "pairwise70" / "pairwise70_all_501_csv.tgz"


def _arms(review):
    return review_arms([(a.id, a.group, a.name) for a in review.analyses],
                       {g: n or None for g, n in review.comparisons.items()},
                       {a.id: a.labels for a in review.analyses})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The corpus reviews these tests use, unpacked from the shared tgz."""
    out = tmp_path_factory.mktemp("pw70")
    wanted = {f"{r}_data.csv" for r in ("CD013745_pub2", "CD015064_pub2", "CD011535_pub7",
                                        "CD012942_pub2", "CD006913_pub3")} | {"CD016031_data.csv"}
    with tarfile.open(CORPUS) as tar:
        for m in tar.getmembers():
            name = Path(m.name).name
            if name in wanted and m.isfile():
                (out / name).write_bytes(tar.extractfile(m).read())
    assert {p.name for p in out.iterdir()} == wanted
    return out


def test_rm5_labels_are_read_as_written():
    review = read_review(RM5 / "CD011564StatsDataOnly.rm5")
    by_id = {a.id: a for a in review.analyses}
    assert by_id["1.1"].labels == ArmLabels("Vitamin D", "Control", "Favours vitamin D",
                                            "Favours control")
    assert by_id["1.25"].labels == ArmLabels("Favours control", "Favours vitamin D",
                                             "Favours vitamin D", "Favours control")
    assert by_id["1.32"].labels.experimental == "Experimental"
    assert by_id["1.15"].labels.favours_left == "Favours control"


def test_labels_name_the_arms_and_axis_where_the_file_states_them():
    arms = _arms(read_review(RM5 / "CD011564StatsDataOnly.rm5"))
    a = arms["1.1"]
    assert (a.experimental, a.control, a.source) == ("Vitamin D", "Control", "file labels")
    assert (a.favours_left, a.favours_right) == ("Favours vitamin D", "Favours control")
    assert direction_from_labels(a) == "lower"
    # RevMan's untouched defaults state nothing: the comparison title names the arms
    assert (arms["1.32"].experimental, arms["1.32"].control, arms["1.32"].source) == \
        ("Vitamin D", "placebo or no intervention", "comparison title")
    # column labels worded as axis labels are set aside, with a note
    assert arms["1.25"].control == "placebo or no intervention"
    assert "axis wording" in arms["1.25"].notes[0]
    assert direction_from_labels(arms["1.25"]) == "lower"
    # "Favours control" on the left: higher values favour vitamin D
    assert direction_from_labels(arms["1.15"]) == "higher"


def test_labels_win_over_a_title_that_disagrees_and_the_report_says_so():
    arms = _arms(read_review(RM5 / "CD000023StatsDataOnly.rm5"))
    a = arms["2.1"]
    assert a.comparison.startswith("Antibiotics versus control")
    assert (a.experimental, a.control) == ("Antibiotics", "Placebo")
    assert "labels are used" in a.notes[0]
    assert not arms["1.1"].notes  # title "Antibiotics versus placebo ...": they agree


def test_swapped_title_is_overruled_by_the_labels():
    """The pattern seen in a review titled "0 ppm F versus 1000 ppm F" whose group 1 is labelled
    "Higher fluoride" (labels as in that file; comparison title as in that file)."""
    a = resolve_arms("Caries increment", 1, "0 ppm F versus 1000 ppm F",
                     ArmLabels("Higher fluoride", "Lower fluoride", "Favours higher fluoride",
                               "Favours lower fluoride"))
    assert (a.experimental, a.control) == ("Higher fluoride", "Lower fluoride")
    assert a.notes and "0 ppm F versus 1000 ppm F" in a.notes[0]
    assert direction_from_labels(a) == "lower"


@pytest.mark.parametrize("source", ["Fleiss1993.rm5", "Fleiss1993_CR.csv"])
def test_fleiss_labels_in_rm5_and_revman5_csv(source):
    review = read_review(FLEISS / source)
    a = review.analyses[0]
    assert (a.labels.experimental, a.labels.control) == ("Aspirin", "Control")
    arm = _arms(review)[a.id]
    assert (arm.experimental, arm.favours_left) == ("Aspirin", None)  # axis labels: defaults


def test_revman_web_package_labels(tmp_path):
    """The real Fleiss package with its (empty) group-label columns filled in."""
    src = FLEISS / "revman-web-export"
    dst = tmp_path / "pkg"
    for f in src.rglob("*"):
        if f.is_file():
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (dst / f.relative_to(src)).write_bytes(f.read_bytes())
    settings = next(dst.rglob("*-overall-estimates-and-settings.csv"))
    lines = settings.read_text(encoding="utf-8-sig").splitlines()
    head = lines[0].split(",")
    i, j = head.index("Experimental group label"), head.index("Control group label")
    cells = lines[1].split(",")
    cells[i], cells[j] = "Aspirin", "Placebo"
    lines[1] = ",".join(cells)
    settings.write_text("\n".join(lines) + "\n", encoding="utf-8")
    review = read_review(dst)
    assert (review.analyses[0].labels.experimental, review.analyses[0].labels.control) == \
        ("Aspirin", "Placebo")
    assert review.analyses[1].labels is None


def test_labels_survive_the_review_folder(tmp_path):
    import_review(RM5 / "CD011564StatsDataOnly.rm5", tmp_path / "f")
    folder = read_folder(tmp_path / "f")
    original = {a.id: a.labels for a in read_review(RM5 / "CD011564StatsDataOnly.rm5").analyses}
    assert {a.id: a.labels for a in folder.review.analyses} == original


def test_pair_names():
    assert pair_sides("4.0 g/d versus 2.4 g/d") == ("4.0 g/d", "2.4 g/d")
    assert pair_sides("Rivaroxaban vs. VKA (sensitivity)") == ("Rivaroxaban", "VKA")
    assert pair_sides("Progression-free survival (solid cancer vs haematological cancer)") is None
    assert pair_sides("Quality of life - psychotherapy vs care-as-usual") is None
    assert pair_sides("Ketamine versus ketorolac: pain") is None
    assert pair_sides("Sensitivity analysis: A versus B by allocation", whole=False) == \
        ("A", "B by allocation")


def test_reviews_organised_by_outcome_are_recognised(corpus):
    r = read_review(corpus / "CD013745_pub2_data.csv")
    arms = _arms(r)
    assert outcome_groups([(a.group, a.name) for a in r.analyses], {}) == set(range(1, 10))
    a = arms["2.1"]
    assert (a.organised_by, a.comparison, a.experimental, a.control) == \
        ("outcome", "Rivaroxaban versus antiplatelet therapy", "Rivaroxaban",
         "antiplatelet therapy")
    assert a.outcome == "Outcome of comparison group 2 (not named in the source)"
    # named by the file's group, when it names it
    named = resolve_arms("4.0 g/d versus 2.4 g/d", 3, "Clinical relapse", by_outcome=True)
    assert (named.outcome, named.experimental, named.control) == \
        ("Clinical relapse", "4.0 g/d", "2.4 g/d")
    for review in ("CD015064_pub2_data.csv", "CD011535_pub7_data.csv"):
        rr = read_review(corpus / review)
        assert all(x.organised_by == "outcome" for x in _arms(rr).values()), review


def test_revman_captions_name_comparison_and_outcome(corpus):
    arms = _arms(read_review(corpus / "CD012942_pub2_data.csv"))
    a = arms["2.3"]
    assert a.organised_by == "outcome" and a.outcome == "Acceptability"
    assert a.comparison.endswith("versus placebo") and a.control == "placebo"
    b = _arms(read_review(corpus / "CD016031_data.csv"))["1.2"]  # one comparison per group
    assert (b.organised_by, b.comparison) == ("comparison", "Anterior vs posterior")
    assert b.outcome.startswith("ADL, intermediate")


def test_reviews_organised_by_comparison_stay_so(corpus):
    for path in [*sorted((SHARED_DATA / "pairwise70").glob("CD*.csv")),
                 corpus / "CD006913_pub3_data.csv", *sorted(RM5.glob("*.rm5*"))]:
        arms = _arms(read_review(path))
        assert all(a.organised_by == "comparison" for a in arms.values()), path.name


def test_report_of_a_review_organised_by_outcome(corpus, tmp_path):
    res = run_review(corpus / "CD015064_pub2_data.csv", tmp_path / "out", quiet=True)
    a = next(x for x in res["analyses"] if x["id"] == "1.1")
    assert a["arms"]["experimental"] == "Pimecrolimus 1%" and a["arms"]["control"] == "vehicle"
    assert a["parsed"]["outcome"] == "Outcome of comparison group 1 (not named in the source)"
    assert a["parsed"]["comparison"] == "Pimecrolimus 1% versus vehicle"
    if a["statement"]:
        assert "versus vehicle" not in a["statement"]  # the pair is not the outcome
    table = res["sof_tables"]["1"]["table"]
    assert table["rows"][0]["outcome"].startswith("Pimecrolimus 1% versus vehicle")
    assert table["heading"].endswith("Outcome of comparison group 1 (not named in the source)")
    gap = res["evidence_inventory"]["gap_maps"][0]
    assert "Pimecrolimus 1% versus vehicle" in gap["interventions"]


def test_report_uses_the_files_labels(tmp_path):
    res = run_review(RM5 / "CD000023StatsDataOnly.rm5", tmp_path / "out", quiet=True)
    a = next(x for x in res["analyses"] if x["id"] == "2.1")
    assert (a["arms"]["experimental"], a["arms"]["control"]) == ("Antibiotics", "Placebo")
    assert a["arms"]["labels_in_file"]["favours_right"] == "Favours placebo"
    assert a["outcome_defaults"]["direction_source"].startswith("the file's axis labels")
    assert res["sof_tables"]["2"]["table"]["comparison"] == "placebo"
    svg = (tmp_path / "out" / a["figure"]).read_text()
    assert "Favours placebo" in svg and "Favours antibiotics" in svg
    page = (tmp_path / "out" / "index.html").read_text()
    assert "the file&#39;s labels are used" in page
    rows = {r for m in res["evidence_inventory"]["gap_maps"] for r in m["interventions"]}
    assert rows == {"Antibiotics versus placebo"}  # every comparison group labels these arms
    assert json.loads((tmp_path / "out" / "results.json").read_text())["analyses"][0]["arms"]
