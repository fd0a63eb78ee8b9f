"""The networks of a real review and the report's network section.

Data: the flagship review folder examples/nmda-chronic-pain (Ferraro et al. 2025, CD015373.pub2,
real per-study data from its RevMan Web export). The hostile treatment name is SIMULATED.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from trialsynth.nma.analysis import analyse_network
from trialsynth.nma.certainty import DOMAINS
from trialsynth.nma.data import network_from_frame
from trialsynth.nma.review import candidate_networks, rob_levels
from trialsynth.readers.convert import build_folder
from trialsynth.render.figures import export
from trialsynth.render.figures.network import (
    inconsistency_plot,
    league_figure,
    network_forest,
    network_graph,
)
from trialsynth.report.network import build_network_section
from trialsynth.runner import run_review

FLAGSHIP = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"


@pytest.fixture(scope="module")
def folder():
    return build_folder(FLAGSHIP)


@pytest.fixture(scope="module")
def candidates(folder):
    return {c.key: c for c in candidate_networks(folder.protocol, folder.review,
                                                 rob_levels(folder, folder.review))}


def test_short_term_pain_network_of_the_flagship(candidates) -> None:
    c = candidates["pain-intensity/short"]
    assert c.measure == "MD" and c.method == "DL" and c.reference == "Placebo"
    assert set(c.data.treatments) == {"Placebo", "Ketamine (intravenous)", "Memantine",
                                      "Dextromethorphan", "Ketamine (topical)", "Amitriptyline",
                                      "Ketamine (route other than intravenous, oral or topical)"}
    martin = next(s for s in c.data.studies if s.name == "Martin 2019")
    assert len(martin.arms) == 3  # memantine, dextromethorphan and its shared placebo arm
    assert any("Martin 2019" in n and "inferred" in n for n in c.inferred)
    notes = " ".join(c.notes)
    for study in ("Fischer 2013", "Voogd 2010", "Macian 2022", "Schrader 1999"):
        assert f"{study} (analysis" in notes and "not stated" in notes
    assert "{Ketamine (oral), Methadone}" in notes  # the component that is not connected


def test_separate_rows_of_one_study_stay_separate(candidates) -> None:
    names = [s.name for s in candidates["pain-intensity/immediate"].data.studies]
    assert "Dadabayev 2020" in names and "Dadabayev 2020 [2]" in names


def test_honest_reasons_where_there_is_no_network(candidates) -> None:
    assert "instruments" in candidates["disability/short"].reason
    assert "pairwise" in candidates["serious-adverse-events/any"].reason
    assert candidates["pain-responders-50/medium"].data is None


def test_network_section_rates_every_estimate_with_reasons(folder) -> None:
    sec = build_network_section(folder)
    done = [n for n in sec.results["networks"] if n["status"] == "analysed"]
    assert len(done) >= 5
    for n in done:
        t = len(n["result"]["treatments"])
        assert len(n["estimates"]) == t * (t - 1) // 2 == len(n["result"]["certainty"])
        for e in n["estimates"]:
            assert [d["domain"] for d in e["domains"]] == list(DOMAINS)
            assert all(d["reasons"] and d["reasons"][0] for d in e["domains"])
            # high less one level per level rated down, floor very low (Nikolakopoulou 2020)
            down = sum(d["downgrade"] for d in e["domains"])
            assert e["level"] == ("very_low", "low", "moderate", "high")[max(0, 3 - down)]
        assert {"graph", "forest", "league"} <= set(n["figures"])
    rows = list(csv.DictReader(io.StringIO(sec.tables["tables/network_estimates.csv"])))
    assert len(rows) == sum(len(n["estimates"]) for n in done)
    assert all(float(r["low"]) <= float(r["value"]) <= float(r["high"]) for r in rows)


def test_network_figures_draw_and_escape_names(candidates) -> None:
    c = candidates["pain-intensity/short"]
    res = analyse_network(c.data, c.reference, c.method)
    for fig in (network_graph(res, title="t"), network_forest(res, title="t"),
                league_figure(res), inconsistency_plot(res)):
        assert export.png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"
        assert "Dextromethorphan" in export.svg_text(fig)
    frame = pd.DataFrame({"study": ["s1", "s1", "s2", "s2"],  # SIMULATED
                          "treatment": ["<script>x</script>", "B", "B", "C"],
                          "events": [1, 4, 3, 5], "n": [20] * 4})
    evil = analyse_network(network_from_frame(frame, "OR"), "B", "IV")
    svg = export.svg_text(network_graph(evil, title="<b>t</b>"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "no closed loop" in export.svg_text(inconsistency_plot(evil))
    from trialsynth.render.figures._common import new_figure

    fig = new_figure(4, 4)
    assert network_graph(evil, ax=fig.add_axes((0, 0, 1, 1))) is fig  # drawn into a given axes


def test_flagship_report_has_its_network_section(tmp_path: Path) -> None:
    out = tmp_path / "report"
    results = run_review(FLAGSHIP, out, quiet=True)
    nm = results["network_meta_analysis"]
    assert nm.get("error") is None
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="networks"' in html and "Confidence in the network estimates (CINeMA)" in html
    for n in nm["networks"]:
        for path in n["figures"].values():
            assert (out / path).is_file() and (out / path[:-4]).with_suffix(".png").is_file()
    assert (out / "tables" / "network_estimates.csv").is_file()
