"""The report as people use it: identity from the review folder and RevMan files, unique comparison
headings and filter facets, implications for research, and the exports (CSV with footnote text and
GRADE reasons, the summary-of-findings tables as a Word document).

Real data: the flagship CD015373.pub2 (RevMan Web data rows) and the Cochrane RevMan 5 files of
../shared/data (see PROVENANCE.md). Constructed inputs are labelled CONSTRUCTED.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from _paths import SHARED_DATA

from trialsynth.readers.convert import build_folder
from trialsynth.readers.rm5 import read_rm5
from trialsynth.render.exports import SOF_FIELDS, footnote_text
from trialsynth.render.html import decimals, plural
from trialsynth.render.sof_docx import sof_document
from trialsynth.report.model import rob_note
from trialsynth.report.navigation import comparison_headings
from trialsynth.report.research import tsa_status
from trialsynth.report.sof import OutcomeInfo, no_studies_row, sof_table
from trialsynth.runner import run_review

RM5 = SHARED_DATA / "cochrane-rm5"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"


@pytest.fixture(scope="module")
def flagship(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("use") / "flagship"
    run_review(EXAMPLE, out, quiet=True)
    return out, json.loads((out / "results.json").read_text(encoding="utf-8"))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --- identity -----------------------------------------------------------------------------------
def test_flagship_identity_from_its_review_folder(flagship) -> None:
    out, data = flagship
    idn = data["identity"]
    # Ferraro MC et al. Cochrane Database Syst Rev 2025;8:CD015373 (pub2), METHODS.md §1
    assert idn["title"] == "Ketamine and other NMDA receptor antagonists for chronic pain"
    assert idn["citation"].startswith("Ferraro MC, Cashin AG, O'Connell NE, Visser EJ")
    assert idn["doi"] == "10.1002/14651858.CD015373.pub2" and idn["published"] == "2025, Issue 8"
    assert idn["search_date"] is None and "METHODS.md §1" in idn["basis"]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<h1>Ketamine and other NMDA receptor antagonists for chronic pain</h1>" in page
    assert "Review CD015373.pub2</h1>" not in page
    assert 'href="https://doi.org/10.1002/14651858.CD015373.pub2"' in page


def test_rm5_dates_and_citation_without_cover_sheet_contacts(tmp_path) -> None:
    r = read_rm5(RM5 / "CD011564StatsDataOnly.rm5")  # DATES: LAST_CITATION_ISSUE 2021/8 etc.
    assert (r.published, r.search_date, r.file_date) == ("2021, Issue 8", "2020-11-24",
                                                          "2021-10-07")
    old = read_rm5(RM5 / "CD000023StatsDataOnly.rm5")  # empty DATES; the "Data only" note
    assert (old.published, old.search_date, old.file_date) == ("2013, Issue 11", None, None)
    review = build_folder(RM5 / "CD000023StatsDataOnly.rm5").protocol.review
    assert review.citation == "Cochrane Database of Systematic Reviews 2013, Issue 11"
    assert review.title == "Antibiotics for sore throat"
    # the cover sheet's contact persons (names, e-mails, phones) are never copied
    dumped = json.dumps(build_folder(RM5 / "CD000023StatsDataOnly.rm5").protocol.model_dump(
        mode="json"))
    for contact in ("Spinks", "Glasziou", "@", "+61"):
        assert contact not in dumped


# --- navigation ---------------------------------------------------------------------------------
def test_shared_comparison_names_get_their_studies_and_stay_unique() -> None:
    # CONSTRUCTED names and study lists
    names = {1: "Magnesium comparison (not named)", 2: "Magnesium comparison (not named)",
             3: "Ketamine versus placebo", 4: None, 5: "Same", 6: "Same"}
    studies = {1: ["Voogd 2010", "Fischer 2013"], 2: ["Schrader 1999"], 3: ["A 2001"],
               4: ["B 2002"], 5: ["C 2003"], 6: ["C 2003"]}
    h = comparison_headings(names, studies)
    assert h[1] == "Magnesium comparison (not named): Fischer 2013, Voogd 2010"
    assert h[2] == "Magnesium comparison (not named): Schrader 1999"
    assert h[3] == "Ketamine versus placebo" and h[4] == "Comparison 4"
    assert h[5] == "Same: C 2003 (comparison 5)" and len(set(h.values())) == 6


def test_flagship_headings_and_facets(flagship) -> None:
    out, data = flagship
    heads = [c["heading"] for c in data["navigation"]["comparisons"]]
    assert len(heads) == 13 and len(set(heads)) == 13
    facets = data["navigation"]["facets"]
    drugs = {f["label"] for f in facets["drug"]}
    assert drugs == {"ketamine", "memantine", "dextromethorphan", "amantadine", "magnesium"}
    assert {f["label"] for f in facets["window"]} >= {"Immediate term", "Short term",
                                                       "Medium term", "no time window"}
    by_id = {a["id"]: a for a in data["analyses"]}
    assert by_id["1.1"]["facets"] == {"comparison": "1", "drug": "ketamine",
                                      "outcome": "pain-intensity", "window": "immediate-term"}
    assert by_id["12.1"]["facets"]["drug"] == "magnesium"
    page = (out / "index.html").read_text(encoding="utf-8")
    for a in data["analyses"]:  # every analysis and every SoF row has an anchor
        assert f'id="a{a["comparison"]}-{a["number"]}"' in page
    for t in data["sof_tables"].values():
        for tab in (t["table"], t["other_outcomes"]):
            for row in (tab or {}).get("rows", []):
                assert f'id="{row["anchor"]}"' in page
                if row["analysis_id"]:
                    assert by_id[row["analysis_id"]]["facets"]["outcome"] == \
                        row["facets"]["outcome"]


# --- implications for research ------------------------------------------------------------------
def test_research_implications_carry_the_tsa_numbers(flagship) -> None:
    out, data = flagship
    ri = data["research_implications"]
    by_id = {a["id"]: a for a in data["analyses"]}
    main = [a for a in data["analyses"] if a.get("beyond")]
    rows = [r for o in ri["outcomes"] for r in o["rows"]]
    assert sorted(r["analysis"] for r in rows) == sorted(a["id"] for a in main)
    for r in rows:
        tsa = by_id[r["analysis"]]["beyond"]["tsa"]
        assert r["status"] == tsa_status(tsa)
        if tsa is None:
            assert r["next_total"] is None and r["status"] == "not_computed"
            continue
        assert (r["accrued"], r["required"]) == (tsa["accrued"], tsa["required"])
        nxt = tsa["next_trial"] or {}
        assert r["next_per_arm"] == (nxt.get("per_arm") or None)
        assert r["next_total"] == (nxt.get("total") if nxt.get("per_arm") else None)
    pain = next(o for o in ri["outcomes"] if o["outcome"] == "pain-intensity")
    sized = sorted(r["next_total"] for r in pain["rows"] if r["next_total"])
    assert f"{sized[0]:,} to {sized[-1]:,} participants in total" in pain["summary"]
    assert f"{len(pain['rows'])} main analyses" in pain["summary"]
    # what new trials must measure: the inventory's gaps (no trial reported opioid consumption)
    measure = {m["outcome"]: m for m in ri["measure"]}
    assert measure["opioid-consumption"]["drugs"] == []
    assert "no trial reported it" in measure["opioid-consumption"]["text"]
    assert "memantine" in measure["serious-adverse-events"]["drugs"]
    assert any(w["outcome"] == "pain-intensity" and "Long term" in w["windows"]
               for w in ri["windows"])
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="research"' in page and "How large the next trial must be: Pain intensity" in page
    table = _csv(out / "tables" / "research.csv")
    assert len(table) == len(rows)


# --- exports ------------------------------------------------------------------------------------
def test_csv_tables_are_complete_and_linked(flagship) -> None:
    out, data = flagship
    page = (out / "index.html").read_text(encoding="utf-8")
    for name in ("analyses.csv", "sof.csv", "certainty.csv", "gap_map.csv", "research.csv",
                 "sof.docx"):
        assert (out / "tables" / name).is_file() and f'href="tables/{name}"' in page
    sof = _csv(out / "tables" / "sof.csv")
    assert tuple(sof[0]) == SOF_FIELDS
    n_rows = sum(len(tab["rows"]) for t in data["sof_tables"].values()
                 for tab in (t["table"], t["other_outcomes"]) if tab)
    assert len(sof) == n_rows
    for row in sof:  # every footnote letter of a row comes with its text
        letters = [k for k in row["certainty_text"].split()[-1].split(",")
                   if k.isalpha() and k.islower()] if row["certainty_text"] != "—" else []
        for k in letters:
            assert f"{k}. " in row["footnotes"]
    with_notes = [r for r in sof if r["footnotes"]]
    assert with_notes and all(". " in r["footnotes"] for r in with_notes)
    cert = _csv(out / "tables" / "certainty.csv")
    rated = [r for r in cert if r["level"]]
    assert len(rated) == sum(a["certainty"] is not None for a in data["analyses"])
    for r in rated:
        for d in ("risk_of_bias", "inconsistency", "indirectness", "imprecision",
                  "publication_bias"):
            assert r[f"{d}_reasons"], (r["id"], d)


def test_footnote_text_lists_letters_in_order() -> None:
    row = {"footnote_keys": ["a", "b"], "notes": {"b": "Two.", "a": "One."}}  # CONSTRUCTED
    assert footnote_text(row) == "a. One. | b. Two."


def test_sof_word_document_layout(flagship) -> None:
    from docx import Document
    from docx.enum.section import WD_ORIENT

    out, data = flagship
    raw = (out / "tables" / "sof.docx").read_bytes()
    doc = Document(io.BytesIO(raw))
    assert doc.sections[0].orientation == WD_ORIENT.LANDSCAPE
    tables = [tab for t in data["sof_tables"].values()
              for tab in (t["table"], t["other_outcomes"]) if tab]
    assert len(doc.tables) == len(tables)
    first, model = doc.tables[0], tables[0]
    assert len(first.rows) == 3 + len(model["rows"]) + 1  # header block, 2 header rows, footer
    assert first.rows[0].cells[0].text.startswith("Patient or population: ")
    heads = [c.text for c in first.rows[1].cells]
    assert heads[0] == "Outcomes" and heads[1] == heads[2] == "Anticipated absolute effects* (95% CI)"
    assert [c.text for c in first.rows[2].cells][1:3] == [f"Risk with {model['comparison']}",
                                                           f"Risk with {model['intervention']}"]
    body = first.rows[3].cells
    assert body[0].text.startswith(model["rows"][0]["outcome_short"])
    assert body[6].text == model["rows"][0]["comments"]
    footer = first.rows[-1].cells[0].text
    assert "GRADE Working Group grades of evidence" in footer
    for ex in model["footnotes"]["explanations"]:
        assert ex["text"] in footer
    sup = [r.text for p in first.rows[3].cells[5].paragraphs for r in p.runs if r.font.superscript]
    assert sup == [" " + ",".join(model["rows"][0]["certainty_footnote_keys"])]
    assert sof_document(data["sof_tables"], data["identity"]) == raw  # reproducible bytes


# --- plain language -----------------------------------------------------------------------------
def test_concise_outcome_cell_with_scale_footnote() -> None:
    info = OutcomeInfo("Pain intensity (continuous)", "Short term", "0-100 VAS", "worse")
    assert info.short_label == "Pain intensity (continuous); Short term"
    assert info.scale_note == "Measured on: 0-100 VAS; higher scores are worse."
    t = sof_table(_comparison(), [no_studies_row(info)])
    row = t.to_dict()["rows"][0]
    assert row["outcome_short"] == info.short_label and row["outcome_footnote_keys"] == ["a"]
    assert t.explanations[0] == ("a", info.scale_note)


def _comparison():
    from trialsynth.report.sof import Comparison

    return Comparison("ketamine", "placebo", "adults with chronic pain")


def test_numbers_and_plurals_as_a_reader_expects() -> None:
    assert decimals([54.5, 74.0, None]) == 1 and decimals([6, 9]) == 0
    assert decimals([1.25, 3.5]) == 2
    assert plural(1, "study", "studies") == "1 study" and plural(3, "study", "studies") == \
        "3 studies"
    assert rob_note([{"D1": "low"}]).startswith("the study is judged (RoB 2) only for D1")
    assert rob_note([{"overall": "low"}, {"D1": "high"}]).startswith(
        "1 of 2 studies has an overall RoB 2 judgement")
