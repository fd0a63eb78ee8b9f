"""``run_review``: the results folder, HTML escaping of untrusted strings, atomic writing.

The flagship is CD015373.pub2, run from its review folder examples/nmda-chronic-pain (once per
module) and checked against R metafor (tests/reference/flagship_metafor.json); the small CSVs
below are SYNTHETIC, written in the RevMan Web data-rows layout, to exercise escaping and
failure paths.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _paths import SHARED_DATA

from trialsynth import runner
from trialsynth.errors import DataError, TrialsynthError
from trialsynth.runner import run_review

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "nmda-chronic-pain"  # the review folder (CD015373.pub2)
FLAGSHIP_DATA = SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv"  # its data-rows export
REFERENCE = json.loads((Path(__file__).parent / "reference" / "flagship_metafor.json")
                       .read_text(encoding="utf-8"))
needs_flagship = pytest.mark.shared_data  # data presence is checked in conftest.py
HEADER = ["Analysis.group", "Analysis.number", "Analysis.name", "Subgroup", "Applicability",
          "Study", "Study.year", "GIV.Mean", "GIV.SE", "Experimental.mean", "Experimental.SD",
          "Experimental.cases", "Experimental.N", "Control.mean", "Control.SD", "Control.cases",
          "Control.N", "O.E", "Variance", "Weight", "Mean", "CI.start", "CI.end", "Footnotes",
          "Overall.bias..judgement.", "review_url", "review_doi"]
EVIL = "<script>alert(1)</script>"


def _small_csv(path: Path, study: str = EVIL, extra: dict | None = None) -> Path:
    """SYNTHETIC two-study dichotomous analysis; no stored RevMan numbers."""
    rows = [
        {"Study": study, "Experimental.cases": "3", "Experimental.N": "20",
         "Control.cases": "6", "Control.N": "21", "Subgroup": '"><img src=x onerror=alert(2)>'},
        {"Study": "Plain 2001", "Experimental.cases": "5", "Experimental.N": "30",
         "Control.cases": "9", "Control.N": "30", "Subgroup": "B & C"},
    ]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADER)
        w.writeheader()
        for r in rows:
            w.writerow({"Analysis.group": "1", "Analysis.number": "1",
                        "Analysis.name": "Adverse events <b>bold</b>",
                        "Applicability": "SUBGROUP_AND_OVERALL", "Study.year": "2001",
                        "review_url": "javascript:alert(3)", "review_doi": "10.1/x<y>",
                        **r, **(extra or {})})
    return path


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The flagship review folder run once: the output folder, the returned results, results.json
    as written and the page."""
    out = tmp_path_factory.mktemp("flagship") / "out"
    results = run_review(FLAGSHIP, out, quiet=True)
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    page = (out / "index.html").read_text(encoding="utf-8")
    return SimpleNamespace(out=out, results=results, data=data, page=page)


def test_a_quiet_run_prints_nothing(tmp_path, capsys):
    run_review(_small_csv(tmp_path / "q.csv", study="Quiet 2001"), tmp_path / "out", quiet=True)
    assert capsys.readouterr().err == ""  # quiet: no progress bar


@needs_flagship
def test_run_review_on_flagship_writes_three_outputs(flagship):
    out, results, data, page = flagship.out, flagship.results, flagship.data, flagship.page
    assert {p.name for p in out.iterdir()} >= {"results.json", "tables", "index.html"}
    assert data == json.loads(json.dumps(runner.json_safe(results)))
    assert data["review"]["id"] == "CD015373.pub2"
    assert data["summary"] == {"analyses": 95, "pooled": 91, "not_pooled": 4,
                               "with_stored_weights": 91, "weights_reproduced": 91,
                               "weight_tolerance": 1e-4}
    first = data["analyses"][0]
    assert first["id"] == "1.1" and first["settings"]["inferred"] is True
    assert first["settings"]["measure"] == "MD" and first["settings"]["method"] == "DL"
    assert first["result"]["k"] == 3 and first["check"]["max_abs_diff"]["weight"] < 1e-5
    assert {s["study"] for s in first["studies"]} == {"Lumanauw 2019", "Noppers 2011a",
                                                      "Sigtermans 2009"}
    with (out / "tables" / "analyses.csv").open(encoding="utf-8", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 95 and tuple(table[0]) == runner.CSV_FIELDS
    assert sum(r["status"] == "not pooled" for r in table) == 4
    assert "Comparison 1: Intravenous ketamine versus placebo <span class=inferred>(inferred)" \
        in page
    assert "Comparison 13" in page and page.count("(nothing pooled)") == 4
    assert "Nothing pooled: no study could be pooled" in page
    for external in ("<link", " src=", "@import", "<iframe"):
        assert external not in page
    # one inline script of our own (the filters); the page reads fully without it
    assert page.count("<script") == 1 and "<script>// Filters of the contents panel" in page
    # url() only for the figures' own clip paths (#id in the same page), never a resource
    assert re.findall(r"url\((?!#)", page) == []


@needs_flagship
@pytest.mark.parametrize("ref", REFERENCE["analyses"], ids=lambda r: r["id"])
def test_flagship_pooled_results_are_metafors(flagship, ref):
    """Each reference analysis as R metafor pools the data-rows export's studies with the
    review's DerSimonian-Laird (validation/make_flagship_reference.R); RevMan's I² is (Q − df)/Q."""
    a = next(x for x in flagship.data["analyses"] if x["id"] == ref["id"])
    res = a["result"]
    assert a["settings"]["measure"] == ref["measure"] and res["k"] == ref["k"]
    assert [s["study"] for s in res["studies"]] == ref["studies"]
    for key, want in (("estimate", "estimate"), ("se", "se"), ("ci_low", "ci_low"),
                      ("ci_high", "ci_high"), ("pvalue", "pvalue"), ("tau2", "tau2"),
                      ("q", "q"), ("i2", "i2_revman")):
        assert res[key] == pytest.approx(ref[want], rel=1e-6, abs=1e-12), (ref["id"], key)
    assert res["q_df"] == ref["q_df"] and res["participants"] == ref["participants"]
    np.testing.assert_allclose(res["weights"], ref["weights"], rtol=1e-6)
    shown = (lambda x: math.exp(x)) if ref["measure"] == "RR" else (lambda x: x)
    assert a["display"]["estimate"] == pytest.approx(shown(ref["estimate"]), rel=1e-6)


@needs_flagship
def test_the_raw_data_file_gives_the_same_analyses_with_placeholder_names(flagship, tmp_path):
    """The data-rows CSV alone states no names, question or MIDs: the same analyses and numbers
    as the review folder, comparisons named by number and marked inferred, no MID."""
    raw = run_review(FLAGSHIP_DATA, tmp_path / "raw", quiet=True)
    page = (tmp_path / "raw" / "index.html").read_text(encoding="utf-8")
    folder = {a["id"]: a for a in flagship.data["analyses"]}
    assert [a["id"] for a in raw["analyses"]] == list(folder)
    for a in raw["analyses"]:
        want = folder[a["id"]]
        assert a["status"] == want["status"]
        if a["result"] is not None:
            for key in ("k", "estimate", "ci_low", "ci_high", "tau2"):
                assert a["result"][key] == want["result"][key], (a["id"], key)
    assert "Comparison 1 <span class=inferred>(inferred)" in page
    assert "Intravenous ketamine versus placebo" not in page
    first = raw["analyses"][0]
    assert first["outcome_defaults"]["mid"] is None
    assert folder["1.1"]["outcome_defaults"]["mid"] == 10


@needs_flagship
def test_every_analysis_is_linked_and_each_pooled_one_has_its_forest_plot(flagship):
    out, data, page = flagship.out, flagship.data, flagship.page
    pooled = [a for a in data["analyses"] if a["status"] == "pooled"]
    assert len(pooled) == 91
    for a in data["analyses"]:
        anchor = f'id="a{a["comparison"]}-{a["number"]}"'
        assert anchor in page and f'href="#a{a["comparison"]}-{a["number"]}"' in page
        assert {"certainty", "sof", "statement", "parsed"} <= set(a)
    for a in pooled:
        # one inline forest SVG per pooled analysis, right after its heading, and its file
        head = page.index(f'id="a{a["comparison"]}-{a["number"]}"')
        nxt = page.find("<article", head)
        assert "<svg " in page[head:nxt if nxt > 0 else None]
        assert (out / a["figure"]).is_file() and a["figure"].endswith(".svg")
    forest_png = out / pooled[0]["figure"].replace(".svg", ".png")
    assert forest_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # SVG and PNG per figure


@needs_flagship
def test_each_certainty_is_high_less_its_downgrades(flagship):
    """Randomised evidence starts at high and loses one level per level rated down, never
    below very low (GRADE; Cochrane Handbook v6.4 §14.2; METHODS §4.1)."""
    domains = {"risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias"}
    levels = ("very_low", "low", "moderate", "high")
    rated = 0
    for a in flagship.data["analyses"]:
        if a["status"] != "pooled":
            continue
        cert = a["certainty"]
        assert set(cert) == {"level", "domains", "provisional"} and set(cert["domains"]) == domains
        down = sum(j["downgrade"] for j in cert["domains"].values())
        assert cert["level"] == levels[max(0, 3 - down)], a["id"]
        for j in cert["domains"].values():
            assert set(j) == {"downgrade", "reasons", "override", "plain", "provisional"}
            assert j["reasons"]
        rated += 1
    assert rated == 91


@needs_flagship
def test_flagship_first_analysis_window_mid_risk_of_bias_and_sensitivity(flagship):
    data, page = flagship.data, flagship.page
    first = data["analyses"][0]
    # the window is the review question's (the review folder names it "Immediate term")
    assert first["parsed"] == {"outcome": "Pain intensity (continuous)", "window": "Immediate term",
                               "comparison": None, "subgroup": None, "outcome_id": "pain-intensity"}
    assert first["outcome_defaults"]["mid_source"] == "review folder"
    assert "randomisation process" in " ".join(first["certainty"]["domains"]["risk_of_bias"]
                                               ["reasons"])
    assert first["sof"] and first["statement"]
    # sensitivity analyses per main analysis; D1-only "low" judgements are not a low overall
    sens = {x["name"]: x for x in first["sensitivity"]["analyses"]}
    assert sens["exclude_high_and_some_concerns_rob"]["k"] is None
    assert "nothing is left to pool" in sens["exclude_high_and_some_concerns_rob"]["sentence"]
    assert first["sensitivity"]["leave_one_out_sentence"].startswith("Leaving out one study")
    assert "Sensitivity analyses: does the result survive?" in page
    assert first["small_study"]["skipped_reason"].startswith("3 studies with an effect estimate")
    assert "funnel_figure" not in first and not first["small_study"]["tests"]
    assert data["analyses"][50]["parsed"]["comparison"] == "Ketamine (topical) versus amitriptyline"


@needs_flagship
def test_flagship_beyond_the_pooled_estimate(flagship):
    out, data, page = flagship.out, flagship.data, flagship.page
    # beyond the pooled estimate, for the main analyses (primary outcomes of the question)
    beyond = data["analyses"][0]["beyond"]
    assert beyond["bayes"]["mid"] == 10 and 0 <= beyond["bayes"]["p_benefit"] <= 1
    assert abs(beyond["bayes"]["p_benefit"] + beyond["bayes"]["p_harm"]
               + beyond["bayes"]["p_trivial"] - 1) < 1e-9
    assert beyond["probability"].startswith("Probability that the true average effect")
    assert beyond["next_trial"].startswith("Trial sequential analysis:")
    assert beyond["tsa"]["required"] > beyond["tsa"]["accrued"]
    assert "How likely is an important effect?" in page
    # ratios in the TSA line as the forest axis reaches them; sample sizes rounded up, with commas
    assert "TSA-adjusted 95% CI &lt; 0.01 to &gt; 1000 (RR)" in page  # 1.9: 1% of the RIS
    assert "Required information size 15,716 participants (D2-adjusted), accrued 140;" in page
    assert not any(a.get("beyond") for a in data["analyses"] if a["parsed"]["subgroup"])
    # the TSA figure of every main analysis with a TSA; no funnel plot below 10 studies
    with_tsa = [a for a in data["analyses"] if (a.get("beyond") or {}).get("tsa")]
    assert with_tsa and all((out / a["tsa_figure"]).is_file() for a in with_tsa)
    assert all(f'<figcaption class=small>Trial sequential analysis of analysis {a["id"]}:' in page
               for a in with_tsa)


@needs_flagship
def test_flagship_risk_of_bias_figures(flagship):
    out, data, page = flagship.out, flagship.data, flagship.page
    # risk-of-bias summary and traffic-light figures over the studies with judgements
    rf = data["risk_of_bias_figures"]
    judged = {s["study"] for a in data["analyses"] for s in a["studies"] if s.get("rob")}
    assert rf["studies"] == len(judged) > 0 and rf["problem"] is None
    for key, anchor in (("summary", 'id="rob-summary"'), ("traffic_light", 'id="rob-traffic"')):
        assert (out / rf[key]).is_file() and (out / rf[key].replace(".svg", ".png")).is_file()
        assert anchor in page
    assert 'href="#rob"' in page


@needs_flagship
def test_flagship_gap_maps_and_evidence_inventory(flagship):
    out, data, page = flagship.out, flagship.data, flagship.page
    # gap maps: PNG and SVG, with visible "no studies" cells
    maps = data["evidence_inventory"]["gap_maps"]
    assert maps and all((out / m["figure"]).is_file() for m in maps)
    assert (out / "figures" / "gap_map_1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = [c for m in maps for c in m["cells"] if c["k"] == 0]
    assert empty and "no studies" in page
    assert any(c["window"] == "Long term" for c in empty)
    # the evidence inventory derives the gaps from the question and the data
    texts = [f["text"] for f in data["evidence_inventory"]["findings"]]
    assert "No trial reported opioid consumption." in texts
    assert "No ketamine trial reported depressive symptoms." in texts
    assert "No memantine trial reported depressive symptoms." not in texts  # analyses 7.19, 7.20
    assert "No trial reported opioid consumption." in page


@needs_flagship
def test_flagship_summary_of_findings_tables(flagship):
    data, page = flagship.data, flagship.page
    pls = data["sof_tables"]["1"]["plain_language_summary"]
    assert "No studies reported opioid consumption." in pls["no_studies"]
    assert pls["what_did_we_find"] and pls["limitations"]
    # SoF per comparison, methods with the DL citation, contents
    assert set(data["sof_tables"]) == {str(g) for g in range(1, 14)}
    assert 'href="#sof1"' in page and 'id="sof1"' in page and 'id="methods"' in page
    # up to seven main outcomes per SoF table (Handbook v6.4 §14.1.4); every other outcome of the
    # comparison, reported or not, in the second table: none is dropped
    for g, t in data["sof_tables"].items():
        main, other = t["table"]["rows"], (t["other_outcomes"] or {}).get("rows", [])
        assert len(main) <= 7 and not t["table"]["warnings"]
        overall = [a for a in data["analyses"] if str(a["comparison"]) == g
                   and not a["parsed"]["subgroup"]]
        assert sum(not r["no_studies"] for r in main + other) == len(overall)
    sof1 = data["sof_tables"]["1"]
    sae = next(r for r in sof1["table"]["rows"] if r["name"] == "Serious adverse events")
    assert sae["relative_effect"] == "Not estimable" and sae["participants_text"] == "14 (1 RCT)"
    assert [r["time_window"] for r in sof1["table"]["rows"][:3]] == ["Immediate term",
                                                                      "Short term", "Medium term"]
    assert 'id="sof1-other"' in page and 'href="#sof1-other"' in page
    # footnote letters once: in the superscript, never also after the certainty words
    assert not re.search(r"(High|Moderate|Low|low) [a-z]+(,[a-z]+)*<sup>", page)
    assert re.search(r"(Moderate|Low|low)<sup>[a-z]+(,[a-z]+)*</sup>", page)
    notes = [ex["text"] for t in data["sof_tables"].values()
             for ex in t["table"]["footnotes"]["explanations"]]
    assert notes and not any(n.endswith("..") for n in notes)  # one full stop per explanation


@needs_flagship
def test_flagship_methods_cite_what_was_done(flagship):
    out, data, page = flagship.out, flagship.data, flagship.page
    assert "DerSimonian R, Laird N" in page
    # the methods name what the sections beyond the pooled estimate used, with references
    cited = " ".join(r["text"] for r in data["methods"]["references"])
    for ref in ("Viechtbauer W, Cheung MWL", "Duval S, Tweedie R", "Röver C. Bayesian",
                "Lan KKG, DeMets DL", "Wetterslev J", "Sutton AJ"):
        assert ref in cited and ref in page
    assert "Begg CB" not in cited  # no analysis of the flagship has the 10 studies it needs
    assert {p.name for p in (out / "tables").iterdir()} >= {"analyses.csv", "certainty.csv",
                                                           "gap_map.csv", "sof.csv"}


@pytest.mark.parametrize(("name", "outcome", "window", "comparison", "subgroup"), [
    ("Pain intensity (continuous), immediate-term follow-up", "Pain intensity (continuous)",
     "immediate-term", None, None),
    ("Pain intensity (continuous), short-term follow-up: clinical condition subgroup analysis",
     "Pain intensity (continuous)", "short-term", None, "clinical condition"),
    ("Ketamine versus ketorolac: pain intensity (continuous), immediate-term follow up",
     "Pain intensity (continuous)", "immediate-term", "Ketamine versus ketorolac", None),
    ("Ketamine (topical) versus amitriptyline: pain intensity (≥30% response), short-term follow-up",
     "Pain intensity (≥ 30% reduction)", "short-term", "Ketamine (topical) versus amitriptyline",
     None),
    ("Depressive symptoms, short-term follow up", "Depressive symptoms", "short-term", None, None),
    ("Adverse events (total)", "Adverse events (total)", "other / not stated", None, None),
    ("", "(unnamed outcome)", "other / not stated", None, None),
    ("mortality at 12 months: age subgroup analysis", "Mortality at 12 months",
     "other / not stated", None, "age"),
])
def test_analysis_names_parse_into_outcome_and_window(name, outcome, window, comparison,
                                                      subgroup):
    from trialsynth.report.model import parse_name

    assert parse_name(name).to_dict() == {"outcome": outcome, "window": window,
                                          "comparison": comparison, "subgroup": subgroup}


def test_untrusted_strings_are_escaped_in_html(tmp_path):
    out = tmp_path / "out"
    run_review(_small_csv(tmp_path / "evil.csv"), out, quiet=True)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page  # Jinja2/MarkupSafe escaping
    assert "Adverse events &lt;b&gt;bold&lt;/b&gt;" in page and "B &amp; C" in page
    assert page.count("<script") == 1 and "<img" not in page and "<b>bold" not in page  # ours
    assert "alert(" not in page.split("<script>")[1]  # the script holds no user string
    assert "javascript:" not in page  # a non-http(s) review URL is not made a link
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["analyses"][0]["studies"][0]["study"] == EVIL  # data keep the raw string


def test_formula_like_names_are_defused_in_csv(tmp_path):
    src = _small_csv(tmp_path / "f.csv", extra={"Analysis.name": "=HYPERLINK(\"x\")"})
    run_review(src, tmp_path / "out", quiet=True)
    text = (tmp_path / "out" / "tables" / "analyses.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text


def test_failing_run_leaves_no_out_dir(tmp_path):
    broken = _small_csv(tmp_path / "broken.csv", extra={"Control.N": "many"})
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"row 2, column 'Control.N'"):
        run_review(broken, out, quiet=True)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.csv"]


def test_failure_while_writing_leaves_nothing_and_keeps_previous_output(tmp_path, monkeypatch):
    import trialsynth._atomic as atomic_mod

    src, out = _small_csv(tmp_path / "ok.csv"), tmp_path / "out"

    def write_then_fail(folder: Path, files: dict[str, str]) -> None:
        (folder / "results.json").write_text("{half", encoding="utf-8")
        raise OSError("disk full")

    monkeypatch.setattr(atomic_mod, "_write_files", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        run_review(src, out, quiet=True)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.csv"]
    monkeypatch.undo()
    run_review(src, out, quiet=True)
    before = (out / "results.json").read_bytes()
    monkeypatch.setattr(atomic_mod, "_write_files", write_then_fail)
    with pytest.raises(OSError):
        run_review(src, out, quiet=True)
    assert (out / "results.json").read_bytes() == before  # the earlier output is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.csv", "out"]


def test_replaces_earlier_output_but_not_foreign_folders(tmp_path):
    src, out = _small_csv(tmp_path / "ok.csv"), tmp_path / "out"
    run_review(src, out, quiet=True)
    (out / "stale.txt").write_text("old")
    run_review(src, out, quiet=True)
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(TrialsynthError, match="not an earlier trialsynth output"):
        run_review(src, foreign, quiet=True)
    assert (foreign / "thesis.tex").read_text() == "precious"
    with pytest.raises(TrialsynthError, match="would contain the input file"):
        run_review(src, tmp_path, quiet=True)
    assert src.is_file()


@pytest.mark.parametrize("source", [
    Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain",  # our review folder
    SHARED_DATA / "cochrane-rm5" / "CD011564StatsDataOnly.rm5",  # RevMan 5 file
    SHARED_DATA / "meta-fleiss1993" / "revman-web-export",  # RevMan Web package (folder)
], ids=["review-folder", "rm5", "revman-web"])
def test_run_takes_every_review_format(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    results = run_review(source, out, quiet=True)
    assert (out / "index.html").is_file() and (out / "results.json").is_file()
    assert results["summary"]["analyses"] >= 1
    assert results["source"]["sha256"] and results["source"]["bytes"] > 0


def test_flagship_folder_runs_with_cochranes_current_default_by_changing_one_setting(tmp_path):
    """examples/nmda-chronic-pain with `settings:` switched to REML + HKSJ + prediction interval
    (Cochrane's 2025 default) instead of the review's DerSimonian–Laird."""
    import shutil

    folder = tmp_path / "review"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain", folder)
    text = (folder / "review.yaml").read_text(encoding="utf-8")
    block = ("settings:\n  random_effects_method: null\n  hksj: false\n  prediction_interval: "
             "null\n")
    assert block in text
    cochrane = block.replace("method: null", "method: REML").replace(
        "hksj: false", "hksj: true").replace("interval: null", "interval: true")
    (folder / "review.yaml").write_text(text.replace(block, cochrane), encoding="utf-8")
    results = run_review(folder, tmp_path / "out", quiet=True)
    first = next(a for a in results["analyses"] if a["id"] == "1.1")
    assert first["result"]["method"] == "REML" and first["result"]["settings"]["hksj"] is True
    assert first["result"]["pi_low"] is not None
    assert first["result"]["df"] == first["result"]["k"] - 1  # t-based HKSJ interval


def test_reviewer_overrides_and_stated_mid_reach_the_report(tmp_path):
    """A GRADE override in review.yaml (with its rationale) replaces the proposed downgrade in
    results.json and is shown as an override on the page; the folder's MID is the one used."""
    import shutil

    import yaml

    folder = tmp_path / "review"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain", folder)
    doc = yaml.safe_load((folder / "review.yaml").read_text(encoding="utf-8"))
    doc.setdefault("grade", {})["overrides"] = [
        {"analysis": "1.1", "domain": "indirectness", "downgrade": 1, "reviewer": "MCF (test)",
         "rationale": "Half the participants had cancer-related pain (made-up test rationale)"}]
    pain = next(o for o in doc["question"]["outcomes"] if o["id"] == "pain-intensity")
    pain["mid"]["value"] = 15
    (folder / "review.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                                        encoding="utf-8")
    results = run_review(folder, tmp_path / "out", quiet=True)
    first = next(a for a in results["analyses"] if a["id"] == "1.1")
    ind = first["certainty"]["domains"]["indirectness"]
    assert ind["downgrade"] == 1
    assert ind["override"]["rationale"].startswith("Half the participants")
    assert ind["override"]["proposed"] == 0 and ind["override"]["final"] == 1
    assert first["outcome_defaults"]["mid"] == 15 and first["outcome_defaults"]["mid_source"] == \
        "review folder"
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "(override)" in page
    assert "Reviewer override by MCF (test): proposed 0, final −1. Half the participants" in page
    # the SoF row and its footnote carry proposed, final, rationale and who
    row = next(r for r in results["sof_tables"]["1"]["table"]["rows"] if r["analysis_id"] == "1.1")
    assert row["override_details"] == [{"domain": "indirectness", "proposed": 0, "final": 1,
                                        "rationale": ind["override"]["rationale"],
                                        "reviewer": "MCF (test)"}]
    notes = {e["key"]: e["text"] for e in results["sof_tables"]["1"]["table"]["footnotes"]
             ["explanations"]}
    assert any(t.startswith("Rated down one level for indirectness by the review authors (MCF "
                            "(test)), instead of the proposed none: Half the participants")
               for k, t in notes.items() if k in row["certainty_footnote_keys"])
    # the input folder is untouched by the run
    assert yaml.safe_load((folder / "review.yaml").read_text(encoding="utf-8")) == doc


def test_report_shows_small_study_effects_where_there_are_ten_studies(tmp_path):
    """CD004703.pub3 (pairwise70 data rows, see ../shared/data/PROVENANCE.md): analysis 1.3 has
    10 studies with an estimate, so its report carries a funnel plot and the asymmetry tests."""
    from trialsynth.assess.bias.small_study import harbord_test
    from trialsynth.readers.convert import build_folder

    source = SHARED_DATA / "pairwise70" / "CD004703_pub3_data.csv"
    out = tmp_path / "out"
    run_review(source, out, quiet=True)
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    page = (out / "index.html").read_text(encoding="utf-8")
    by_id = {a["id"]: a for a in data["analyses"]}
    a = by_id["1.3"]
    ss = a["small_study"]
    assert ss["skipped_reason"] is None and ss["k"] == a["result"]["k"] >= 10
    assert [t["test"] for t in ss["tests"]] == ["egger", "begg", "peters", "harbord"]
    # Harbord's p equals the test run directly on the estimable tables of the analysis
    rows = build_folder(source).review.analyses
    rows = {x.id: x for x in rows}["1.3"].pooled_rows
    used = [s["ours"]["effect"] is not None for s in a["studies"]]
    direct = harbord_test(*(rows[c][used] for c in ("events_t", "n_t", "events_c", "n_c")))
    assert ss["tests"][3]["pvalue"] == pytest.approx(direct.pvalue, rel=1e-12)
    assert (out / a["funnel_figure"]).is_file() and "Contour-enhanced funnel plot of analysis 1.3" \
        in page
    tf = {x["name"]: x for x in a["sensitivity"]["analyses"]}["trim_and_fill"]
    assert tf["sentence"] in page
    funnel = (out / a["funnel_figure"]).read_text(encoding="utf-8")
    k0 = a["sensitivity"]["trimfill"]["k0"]
    assert (f"Filled by trim-and-fill ({k0})" in funnel) == bool(k0)
    for b in data["analyses"]:  # below 10 studies: the reason, no funnel plot
        if b.get("small_study") and b["small_study"]["k"] < 10:
            assert b["small_study"]["skipped_reason"] and "funnel_figure" not in b
    assert data["risk_of_bias_figures"]["studies"] == 0  # the file has no judgements
    cited = " ".join(r["text"] for r in data["methods"]["references"])
    assert "Begg CB, Mazumdar M" in cited and "Peters JL" in cited  # tests run: methods say so
    assert "no risk-of-bias judgements, so no risk-of-bias figures" in page


def test_review_that_declines_prediction_intervals_gets_none_shown(tmp_path):
    """`prediction_interval: false` in review.yaml: no prediction interval on the page or in the
    forest plots (the pooled numbers in results.json keep it; the default, null, shows it)."""
    import shutil

    folder = tmp_path / "review"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain", folder)
    text = (folder / "review.yaml").read_text(encoding="utf-8")
    assert "  prediction_interval: null\n" in text
    (folder / "review.yaml").write_text(text.replace("  prediction_interval: null\n",
                                                     "  prediction_interval: false\n"),
                                        encoding="utf-8")
    results = run_review(folder, tmp_path / "out", quiet=True)
    first = next(a for a in results["analyses"] if a["id"] == "1.1")
    assert first["settings"]["prediction_interval"] is False
    assert first["result"]["pi_low"] is not None and first["display"]["pi_low"] is None
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "95% prediction interval" not in page
    forest = (tmp_path / "out" / first["figure"]).read_text(encoding="utf-8")
    assert "Prediction interval" not in forest
