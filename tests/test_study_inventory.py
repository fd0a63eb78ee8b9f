"""The study inventory: studies the review included (as the source states them) next to the
studies with data in its analyses, the difference explained, and the characteristics of the
included studies; and forest plots of analyses with no pooled estimate.

Real sources: the flagship CD015373.pub2 (review folder ``examples/nmda-chronic-pain``, whose
``review.yaml`` records the 67 included RCTs with 2,309 participants stated in the review's
abstract; its data rows hold 28 studies), Cochrane rm5 files CD008625 (39 included studies
listed, 3 of them in no analysis) and CD000023 (27 listed, all analysed; analysis 2.4 has zero
events in every arm of its three studies). The characteristics test fills the (empty)
characteristics of one CD000023 study in a copy of the file: a constructed variant, labelled.
"""

from __future__ import annotations

import re
from pathlib import Path

from _paths import SHARED_DATA

from trialsynth.readers.convert import build_folder
from trialsynth.readers.folder import read_folder
from trialsynth.report.studies import study_inventory
from trialsynth.runner import run_review

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"
RM5 = SHARED_DATA / "cochrane-rm5"


def _inventory(folder):
    return study_inventory(folder.protocol, folder.review, folder.studies)


def test_flagship_included_versus_analysed():
    folder = read_folder(EXAMPLE)
    stated = folder.protocol.included_studies
    assert (stated.studies, stated.participants) == (67, 2309)
    assert "PMID 40819842" in stated.source
    inv = _inventory(folder)
    assert inv["with_data"]["studies"] == 28
    assert "67 studies" in inv["explanation"] and "The other 39 contribute to no analysis" in \
        inv["explanation"]
    # the data file alone: the same studies with data, but no count of the included studies
    # (the review folder states it; the library knows no particular review)
    direct = _inventory(build_folder(SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv"))
    assert direct["with_data"] == inv["with_data"] and direct["included"]["studies"] is None
    assert "does not state how many studies the review included" in direct["explanation"]


def test_rm5_included_list_names_the_studies_without_data():
    inv = _inventory(build_folder(RM5 / "CD008625StatsDataOnly.rm5"))
    assert (inv["included"]["studies"], inv["included"]["listed"]) == (39, 39)
    assert inv["with_data"]["studies"] == 36
    assert inv["not_analysed"] == ["Khan 1995b BGD", "Mihindukulasurya 1976 LKA",
                                   "Saha 2005 BGD"]
    assert "Saha 2005 BGD" in inv["explanation"]
    assert len(inv["characteristics"]["rows"]) == 39
    assert "participants" not in inv["characteristics"]["columns"]  # the file's are empty


def test_characteristics_table_holds_what_the_file_states(tmp_path):
    xml = (RM5 / "CD000023StatsDataOnly.rm5").read_text(encoding="utf-8")
    first = re.search(r'<INCLUDED_CHAR STUDY_ID="([^"]+)">', xml)
    assert first
    block_start = first.start()
    block = xml[block_start:xml.index("</INCLUDED_CHAR>", block_start)]
    filled = re.sub(r"<CHAR_PARTICIPANTS\s*/>|<CHAR_PARTICIPANTS>.*?</CHAR_PARTICIPANTS>",
                    "<CHAR_PARTICIPANTS>SIMULATED: 120 adults with sore throat</CHAR_PARTICIPANTS>",
                    block, flags=re.S)
    path = tmp_path / "CD000023_characteristics.rm5"
    path.write_text(xml.replace(block, filled, 1), encoding="utf-8")
    inv = _inventory(build_folder(path))
    chars = inv["characteristics"]
    assert "participants" in chars["columns"]
    filled_rows = [r for r in chars["rows"] if r["participants"]]
    assert [r["participants"] for r in filled_rows] == ["SIMULATED: 120 adults with sore throat"]
    assert all(r["analyses_with_data"] >= 1 for r in chars["rows"])


def test_report_states_included_versus_analysed_and_draws_not_estimable(tmp_path):
    res = run_review(RM5 / "CD000023StatsDataOnly.rm5", tmp_path / "o", quiet=True)
    inv = res["study_inventory"]
    assert inv["included"]["studies"] == 27 and inv["with_data"]["studies"] == 27
    page = (tmp_path / "o" / "index.html").read_text()
    assert 'id="studies"' in page and "all of them have data in at least one analysis" in page
    csv = (tmp_path / "o" / "tables" / "included_studies.csv").read_text().splitlines()
    assert csv[0].startswith("study,year") and len(csv) == 28
    a = next(x for x in res["analyses"] if x["id"] == "2.4")
    assert a["status"] == "not pooled" and a["figure"] == "figures/forest_2.4.svg"
    svg = (tmp_path / "o" / a["figure"]).read_text()
    assert svg.count("Not estimable") == 4  # three studies and the total, as RevMan shows


def test_forest_of_an_analysis_the_review_did_not_pool():
    """CD008625 analysis 15.5 (TOTALS="NO"): RevMan shows the studies only."""
    from trialsynth.render.figure_pool import draw_one
    from trialsynth.render.figures import ForestLabels
    from trialsynth.report import model
    from trialsynth.report.arms_view import analysis_arms, unpooled_forest

    folder = build_folder(RM5 / "CD008625StatsDataOnly.rm5")
    a = next(x for x in folder.review.analyses if x.id == "15.5")
    assert a.settings.totals == "none"
    arm = analysis_arms(folder.review.analyses, folder.review.comparisons)["15.5"]
    facts = model.facts_for(None, a.id, model.parse_name(a.name), a.settings.measure, [], [])
    job = unpooled_forest(a, {"id": a.id}, arm, facts, folder.rob_assessments(), ForestLabels,
                          "figures/forest_15.5.svg")
    assert job is not None and job[5].pooled is False
    svg, _ = draw_one(job)
    assert "Rabbani 1991 BGD" in svg and "2.00 [0.58, 6.86]" in svg
    assert "Subtotal" not in svg and "Total (95% CI)" not in svg
