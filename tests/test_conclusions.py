"""Conclusions a methodologist would sign, checked on real reviews (no synthetic data).

* CD015373.pub2 (the flagship, Ferraro et al. 2025; ../shared/data/pairwise70): inconsistency of
  1.1, statements that follow the size of the effect, harms worded as harms, the Bayesian
  probability and the statement, key messages, the gap maps, coherent SoF rows.
* CD000023 (RevMan 5 file with no risk-of-bias judgements; ../shared/data/cochrane-rm5) and
  CD004376.pub4 (pairwise70, no RoB columns): nothing comes out High, and the risk-of-bias
  domain says it was not assessed.

Expected values are read from the data files (the studies, their counts) or follow from the
published rules named in docs/methods/grade.md; none is read back from an earlier run.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import pytest
from _paths import SHARED_DATA

from trialsynth.runner import run_review

FLAGSHIP = SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv"
pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    out = tmp_path_factory.mktemp("flagship") / "out"
    folder = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"
    run_review(folder, out, quiet=True)
    return (json.loads((out / "results.json").read_text(encoding="utf-8")),
            (out / "index.html").read_text(encoding="utf-8"), out)


def analysis(data: dict, aid: str) -> dict:
    return next(a for a in data["analyses"] if a["id"] == aid)


def test_inconsistency_of_1_1_is_rated_down_and_says_where_the_studies_lie(flagship):
    data, page, _ = flagship
    j = analysis(data, "1.1")["certainty"]["domains"]["inconsistency"]
    assert j["downgrade"] == 1
    assert "little or no difference" in j["reasons"][0] and "important benefit" in j["reasons"][0]
    assert "I² = 69%" in j["reasons"][0]


def test_statements_follow_the_size_of_the_effect_and_word_harms_as_harms(flagship):
    data, _, _ = flagship
    pain = analysis(data, "1.1")
    assert pain["result"]["estimate"] < -10  # beyond the MID of 10: important, never 'slight'
    assert not any("slightly" in (a["statement"] or "") for a in data["analyses"]
                   if a["parsed"]["outcome_id"] == "pain-intensity"
                   and (a["result"] or {}).get("estimate") is not None
                   and abs(a["result"]["estimate"]) >= 10)
    ae = analysis(data, "1.9")  # RR 3.26 (1.05 to 10.09): the CI excludes no effect
    assert math.exp(ae["result"]["ci_low"]) > 1
    assert ae["statement"].startswith("Intravenous ketamine may result in a large increase in "
                                      "adverse events")
    assert ae["sof"][0]["plain_language"].startswith("Intravenous ketamine may increase adverse "
                                                     "events, but we are very uncertain")


def test_the_bayesian_probability_and_the_statement_do_not_contradict(flagship):
    data, page, _ = flagship
    ae = analysis(data, "1.9")
    b = ae["beyond"]
    assert b["bayes"]["p_harm"] > 0.9
    assert b["agreement"].startswith("Consistent with the statement")
    for a in data["analyses"]:  # every main analysis with a probability says how they relate
        if (a.get("beyond") or {}).get("bayes", {}).get("p_benefit") is not None and \
                a.get("statement"):
            assert a["beyond"]["agreement"], a["id"]
    assert b["agreement"] in page


def test_key_messages_cover_benefits_harms_gaps_and_research(flagship):
    data, page, _ = flagship
    km = data["key_messages"]
    kinds = {m["kind"] for m in km}
    assert kinds == {"benefit", "harm", "not_measured", "research"}
    assert {"kind": "not_measured", "heading": "What no trial measured",
            "text": "No trial measured opioid consumption.", "analyses": []} in km
    ids = {a["id"] for a in data["analyses"]}
    for m in km:
        assert set(m["analyses"]) <= ids
        for aid in m["analyses"]:
            assert f'href="#a{aid.replace(".", "-")}"' in page
    harm = [m["text"] for m in km if m["kind"] == "harm"]
    assert any(t.startswith("Intravenous ketamine may increase adverse events") for t in harm)
    assert any("serious adverse events (14 people), but no one had this event" in t for t in harm)
    research = " ".join(m["text"] for m in km if m["kind"] == "research")
    assert "opioid consumption" in research and "long term" in research
    assert 'id="key-messages"' in page


def test_gap_maps_show_every_outcome_and_cells_with_studies_but_no_estimate(flagship):
    data, page, out = flagship
    asked = [o["name"] for o in data["question"]["outcomes"]]
    maps = data["evidence_inventory"]["gap_maps"]
    assert len(maps) == 2
    for m in maps:  # every outcome of the question in every map, opioid consumption included
        assert m["outcomes"] == asked
        cells = [c for c in m["cells"] if c["outcome"] == "Opioid consumption"]
        assert cells and all(c["status"] == "no_studies" and c["k"] == 0 for c in cells)
    # IV ketamine, serious adverse events: 1 RCT (Pickering 2020, 8 + 6 people), no events
    sae = [c for m in maps for c in m["cells"] if c["outcome"] == "Serious adverse events"
           and c["intervention"].startswith("1. ")]
    assert len(sae) == 2 and all((c["status"], c["k"], c["participants"]) ==
                                 ("not_estimable", 1, 14.0) for c in sae)
    rows = list(csv.DictReader(io.StringIO((out / "tables" / "gap_map.csv").read_text())))
    csv_sae = [r for r in rows if r["outcome"] == "Serious adverse events"
               and r["intervention"].startswith("1. ")]
    assert {(r["status"], r["k"]) for r in csv_sae} == {("not_estimable", "1")}
    assert any(r["outcome"] == "Opioid consumption" and r["status"] == "no_studies" for r in rows)
    assert "not estimable" in page and "serious adverse events: 1 study, 14 participants, but no " \
        "effect could be estimated (analysis 1.19)" in page
    for i in (1, 2):  # the figures' text (an outcome name may wrap onto two lines)
        svg = (out / "figures" / f"gap_map_{i}.svg").read_text(encoding="utf-8")
        shown = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
        assert "Opioid consumption" in shown and "not estimable" in shown


def test_sof_rows_are_coherent(flagship):
    data, page, _ = flagship
    sof1 = data["sof_tables"]["1"]
    rows = sof1["table"]["rows"] + (sof1["other_outcomes"] or {}).get("rows", [])
    notes = {k: t for r in rows for k, t in r["notes"].items()}
    tol = next(r for r in rows if r["analysis_id"] == "1.23")
    # Noppers 2011a (12 + 12, no events in either arm) is not in the pooled RR: the row counts
    # two trials, the footnotes say so and count the same studies
    assert tol["participants_text"] == "160 (2 RCTs)"
    texts = list(tol["notes"].values())
    assert any("Noppers 2011a, 24 participants" in t for t in texts)
    assert not any("of 3 studies" in t for t in texts)
    assert any("same model as the relative effect (random effects, DerSimonian–Laird)" in t
               for t in texts)
    rob = analysis(data, "1.23")["certainty"]["domains"]["risk_of_bias"]["reasons"]
    assert any("2 of 2 studies" in r for r in rob)
    # labels unique within each table
    for t in data["sof_tables"].values():
        for tab in (t["table"], t["other_outcomes"]):
            if tab:
                labels = [r["outcome"] for r in tab["rows"]]
                assert len(labels) == len(set(labels))
    # one study: heterogeneity not applicable; a PI beyond the 0–100 scale is uninformative
    single = next(r for r in rows if r["analysis_id"] == "1.8")
    assert single["heterogeneity"] == "Not applicable (single study)"
    assert "heterogeneity not applicable (single study)" in page
    pain = next(r for r in rows if r["analysis_id"] == "1.1")
    assert pain["prediction_interval"]["uninformative"] and pain["prediction_interval"]["low"] < -100
    # the footnotes are plain words, without citations
    assert not any("Core GRADE" in t or "GRADE 34" in t for t in notes.values())
    # provisional: no study has a full risk-of-bias judgement and nobody assessed indirectness
    assert pain["provisional"] == ["risk_of_bias", "indirectness"] or \
        set(pain["provisional"]) >= {"indirectness"}


def test_the_required_information_size_states_its_anticipated_effect(flagship):
    data, page, _ = flagship
    basis = analysis(data, "1.1")["beyond"]["ris_basis"]
    assert basis.startswith("The required information size anticipates a difference of 10 (MD, "
                            "the minimal important difference stated in the review folder)")
    assert "α 0.05" in basis and "power 90%" in basis and basis in page
    ae = analysis(data, "1.9")["beyond"]["ris_basis"]
    assert "relative change in risk (trialsynth's default for this measure)" in ae
    assert "control-group risk of 9.6%" in ae


def test_plain_language_summary_pairs_studies_and_people_of_one_outcome(flagship):
    data, _, _ = flagship
    intro = data["sof_tables"]["1"]["plain_language_summary"]["what_did_we_find"]
    # the largest body for one outcome: pain intensity in the short term, 4 studies, 114 people
    # (adverse events also has 4 studies but 140 people: that is the one named)
    assert "came from 4 studies (140 people)" in intro and "(adverse events)" in intro


@pytest.mark.parametrize("source", [
    SHARED_DATA / "cochrane-rm5" / "CD000023StatsDataOnly.rm5",
    SHARED_DATA / "pairwise70" / "CD004376_pub4_data.csv",
])
def test_a_review_without_risk_of_bias_judgements_never_comes_out_high(source, tmp_path):
    data = run_review(source, tmp_path / "out", quiet=True)
    rated = [a for a in data["analyses"] if a.get("certainty")]
    assert rated
    for a in rated:
        c = a["certainty"]
        assert c["level"] != "high", a["id"]
        rob = c["domains"]["risk_of_bias"]
        assert rob["downgrade"] == 1 and rob["provisional"]
        assert "no risk-of-bias judgement for any study" in rob["reasons"][0]
        assert "risk_of_bias" in c["provisional"]
    row = next(r for t in data["sof_tables"].values() for r in t["table"]["rows"]
               if r.get("certainty"))
    assert "risk_of_bias" in row["provisional"]
