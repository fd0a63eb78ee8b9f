"""Figures built from real analyses: forest, funnel, risk-of-bias and evidence-gap-map plots.

Data (``../shared/data``, see its PROVENANCE.md):

* CD015373.pub2 — Ferraro MC et al. Ketamine and other NMDA receptor antagonists for chronic
  pain. Cochrane Database Syst Rev 2025;8:CD015373 (the flagship; RevMan Web data rows, read with
  :func:`trialsynth.readers.revman_rows.read_review`).
* ``metadat/dat.chiarito2020`` — Chiarito M et al. Monotherapy with a P2Y12 inhibitor or aspirin
  for secondary prevention in patients with established atherosclerosis: a systematic review and
  meta-analysis. Lancet 2020;395:1487-95 (all-cause death; RoB 2 per domain).
* ``metadat/dat.egger2001`` — Egger M, Davey Smith G. Misleading meta-analysis. BMJ
  1995;310:752-4, as in Egger, Davey Smith & Altman, Systematic Reviews in Health Care, 2001
  (intravenous magnesium after myocardial infarction; 16 trials).
* ``metadat/dat.karner2014`` — Karner C, Chong J, Poole P. Tiotropium versus placebo for chronic
  obstructive pulmonary disease. Cochrane Database Syst Rev 2014;(7):CD009285 (22 trials, RoB 1).
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import trialsynth as ts

DATA = Path(os.environ.get("TRIALSYNTH_SHARED_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data"))
FLAGSHIP = DATA / "pairwise70" / "CD015373_pub2_data.csv"
METADAT = DATA / "metadat"

MINUS = "\u2212"
ROB1_NAMES = {"rob.rand": "Random sequence generation (selection bias)",
              "rob.alloc": "Allocation concealment (selection bias)",
              "rob.perf": "Blinding of participants and personnel (performance bias)",
              "rob.det": "Blinding of outcome assessment (detection bias)",
              "rob.att": "Incomplete outcome data (attrition bias)",
              "rob.rep": "Selective reporting (reporting bias)"}


def fmt(x: float, decimals: int = 2) -> str:
    text = f"{x:.{decimals}f}"
    return (text.lstrip("-") if float(text) == 0 else text).replace("-", MINUS)


def texts(svg: str) -> list[str]:
    """The text content of every <text> element, unescaped."""
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


@pytest.fixture(scope="module")
def flagship():
    from trialsynth.readers.revman_rows import read_review

    review = read_review(FLAGSHIP)
    return {a.id: a for a in review.analyses}


def pooled(analysis):
    return ts.pool(analysis.frame, analysis.settings.measure, analysis.settings.method,
                   subgroup="subgroup" if analysis.has_subgroups else None, revman=True)


@pytest.fixture(scope="module")
def chiarito():
    d = pd.read_csv(METADAT / "dat.chiarito2020.csv")
    frame = pd.DataFrame({"study": d.study + " " + d.year.astype(str),
                          "events_t": d["p2y12.death"], "n_t": d["p2y12.total"],
                          "events_c": d["aspirin.death"], "n_c": d["aspirin.total"],
                          "drug": d.p2y12})
    rob = {s: {"D1": r["rob.R"], "D2": r["rob.D"], "D3": r["rob.Mi"], "D4": r["rob.Me"],
               "D5": r["rob.S"], "overall": r["rob.overall"]}
           for s, (_, r) in zip(frame.study, d.iterrows(), strict=True)}
    return frame, rob


def egger_result():
    d = pd.read_csv(METADAT / "dat.egger2001.csv")
    frame = pd.DataFrame({"study": d.study + " " + d.year.astype(str), "events_t": d.ai,
                          "n_t": d.n1i, "events_c": d.ci, "n_c": d.n2i})
    return ts.pool(frame, "OR", "REML")


# ---------------------------------------------------------------------------------------------
# Forest plots
# ---------------------------------------------------------------------------------------------
def test_forest_with_subgroups_matches_revman_numbers(flagship, tmp_path):
    from trialsynth.render.figures import ForestLabels, forest_plot, save_figure, svg_text

    analysis = flagship["7.5"]  # memantine vs placebo (inferred), pain by dose subgroup, MD
    result = pooled(analysis)
    fig = forest_plot(result, analysis.frame,
                      labels=ForestLabels(experimental="Memantine", control="Placebo",
                                          analysis_number="7.5", title=analysis.name))
    paths = save_figure(fig, tmp_path / "forest_7.5")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths["svg"].read_text(encoding="utf8")
    assert svg.startswith("<?xml") and svg_text(fig).strip() in svg  # same drawing inline
    shown = texts(svg)
    for name in analysis.frame.study:
        assert name in shown
    # each study's effect and CI as RevMan stored them, and RevMan's weight to 0.1 %
    for row in analysis.frame.itertuples():
        assert f"{fmt(row.stored_effect)} [{fmt(row.stored_ci_low)}, {fmt(row.stored_ci_high)}]" \
            in shown
        assert f"{row.stored_weight:.1f}%" in shown
    total = f"{fmt(result.estimate)} [{fmt(result.ci_low)}, {fmt(result.ci_high)}]"
    assert total in shown
    for name, sub in result.subgroups.items():
        assert f"{fmt(sub.estimate)} [{fmt(sub.ci_low)}, {fmt(sub.ci_high)}]" in shown
        assert any(t.endswith(name) and t.startswith("7.5.") for t in shown)
    assert f"Heterogeneity: Tau² = {fmt(result.tau2)}; Chi² = {fmt(result.q)}, " \
           f"df = {result.q_df} (P = {result.q_pvalue:.2f}); I² = {result.i2:.0f}%" in shown
    assert f"Test for overall effect: Z = {abs(result.statistic):.2f} " \
           f"(P = {result.pvalue:.2f})" in shown
    test = result.subgroup_test
    assert f"Test for subgroup differences: Chi² = {test.q:.2f}, df = 1 (P = {test.pvalue:.2f}), " \
           f"I² = {test.i2:.1f}%" in shown
    assert {"Favours Memantine", "Favours Placebo", "Prediction interval"} <= set(shown)


def test_ratio_forest_with_prediction_interval_and_rob_columns(chiarito, tmp_path):
    from trialsynth.render.figures import ForestLabels, forest_plot, save_figure

    frame, rob = chiarito
    result = ts.pool(frame, "RR", "REML", hksj=True)
    fig = forest_plot(result, frame, rob=rob,
                      labels=ForestLabels(experimental="P2Y12 inhibitor", control="Aspirin",
                                          direction_of_benefit="lower_is_better"))
    svg = save_figure(fig, tmp_path / "chiarito")["svg"].read_text(encoding="utf8")
    shown = texts(svg)
    e = result.exp
    assert f"{fmt(e['estimate'])} [{fmt(e['ci_low'])}, {fmt(e['ci_high'])}]" in shown
    assert f"[{fmt(e['pi_low'])}, {fmt(e['pi_high'])}]" in shown
    assert f"Test for overall effect: t = {abs(result.statistic):.2f}, df = {result.df:g} " \
           f"(P = {result.pvalue:.2f})" in shown
    assert {"0.1", "1", "10", "Risk Ratio", "IV, Random, 95% CI"} <= set(shown)  # log axis
    assert {"D1", "D2", "D3", "D4", "D5", "Overall", "Risk of Bias", "Risk of bias legend",
            "(D4) Bias in measurement of the outcome"} <= set(shown)
    n_some = sum(1 for judged in rob.values() for j in judged.values() if j == "some concerns")
    n_low = sum(1 for judged in rob.values() for j in judged.values() if j == "low risk")
    assert shown.count("?") == n_some + 1  # one dot per judgement, plus the legend's
    assert shown.count("+") == n_low + 1
    assert "Study or Subgroup" in shown and "Total (95% CI)" in shown


def test_hostile_study_names_are_text_not_markup(chiarito, tmp_path):
    from defusedxml import ElementTree

    from trialsynth.render.figures import forest_plot, save_figure, svg_text

    frame, rob = chiarito
    frame = frame.copy()
    hostile = ["<script>alert(1)</script>", "$x^2$ & \\textbf{b}", "A\x00B\u202eC\nD",
               "An extraordinarily long study name that would push every column aside 2004"]
    frame.loc[:3, "study"] = hostile
    result = ts.pool(frame, "RR", "DL", subgroup="drug")
    fig = forest_plot(result, frame, rob={hostile[0]: {"D1": "High risk"}})
    svg = save_figure(fig, tmp_path / "hostile")["svg"].read_text(encoding="utf8")
    inline = svg_text(fig)
    for doc in (svg, inline):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
        assert "<script" not in doc.lower()
        assert "$x^2$ &amp; \\textbf{b}" in doc  # literal, not mathtext or TeX
        ElementTree.fromstring(doc.encode("utf8"))  # well-formed XML, control chars gone
    root = ElementTree.fromstring(inline.encode("utf8"))
    assert not [el for el in root.iter() if el.tag.split("}")[-1] in ("script", "foreignObject")]
    shown = texts(svg)
    assert "A BC D" in shown  # NUL and newline became spaces, the bidi override is gone
    assert any(t.startswith("An extraordinarily long") and t.endswith("…") for t in shown)
    assert hostile[3] not in shown


def test_not_estimable_study_and_generic_without_arms(tmp_path):
    from trialsynth.render.figures import ForestLabels, forest_plot, svg_text

    frame = pd.DataFrame({"study": ["A 2001", "B 2002", "C 2003"], "events_t": [0, 3, 5],
                          "n_t": [10, 20, 30], "events_c": [0, 6, 9], "n_c": [10, 20, 30]})
    result = ts.pool(frame, "RR", "MH", revman=True)
    shown = texts(svg_text(forest_plot(result, frame)))
    assert "Not estimable" in shown and "M-H, Fixed, 95% CI" in shown
    generic = pd.DataFrame({"study": list("WXYZ"), "yi": [0.1, -0.3, 0.25, 0.05],
                            "se": [0.1, 0.2, 0.15, 0.3]})
    result = ts.pool(generic, "GENERIC", "DL")
    labels = ForestLabels(experimental="Exercise", control="Usual care",
                          direction_of_benefit="higher")
    shown = texts(svg_text(forest_plot(result, labels=labels)))
    assert labels.favours() == ("Favours Usual care", "Favours Exercise")
    assert {"Favours Usual care", "Favours Exercise", "W", "Z"} <= set(shown)
    with pytest.raises(ValueError, match="rows"):
        forest_plot(result, generic.iloc[:2])
    with pytest.raises(ValueError, match="does not match"):
        forest_plot(result, generic.iloc[::-1])


def test_forest_into_a_given_axes(flagship):
    from matplotlib.figure import Figure

    from trialsynth.render.figures import forest_plot, svg_text

    analysis = flagship["7.23"]
    fig = Figure(figsize=(10, 3))
    ax = fig.add_axes((0, 0, 1, 1))
    assert forest_plot(pooled(analysis), analysis.frame, ax=ax) is fig
    assert "Olivan-Blázquez 2014" in texts(svg_text(fig))


# ---------------------------------------------------------------------------------------------
# Funnel, risk of bias, gap map
# ---------------------------------------------------------------------------------------------
def test_funnel_plot_and_its_ten_study_minimum(flagship, tmp_path):
    from trialsynth.render.figures import funnel_plot, save_figure

    result = egger_result()
    svg = save_figure(funnel_plot(result, title="Magnesium"), tmp_path / "funnel")["svg"]
    shown = texts(svg.read_text(encoding="utf8"))
    assert {"Odds Ratio (log scale)", "Standard error", "p > 0.10", "0.05 < p ≤ 0.10",
            "0.01 < p ≤ 0.05", "p ≤ 0.01", "Study (k = 16)"} <= set(shown)
    small = pooled(flagship["7.23"])  # k = 5
    with pytest.raises(ValueError, match="skipped: fewer than 10 studies"):
        funnel_plot(small)


def test_rob_summary_and_traffic_light(chiarito, tmp_path):
    from trialsynth.render.figures import (
        rob_mapping,
        rob_summary_plot,
        rob_traffic_light,
        save_figure,
    )

    frame, rob = chiarito
    result = ts.pool(frame, "RR", "REML")
    weights = {s.study: s.weight for s in result.studies}
    svg = save_figure(rob_summary_plot(rob, weights=weights), tmp_path / "summary")["svg"]
    shown = texts(svg.read_text(encoding="utf8"))
    low_d1 = sum(w for s, w in weights.items() if rob[s]["D1"] == "low risk") / 100
    assert f"{100 * low_d1:.0f}%" in shown and "Overall risk of bias" in shown
    assert "Share of weight (n = 9 studies)" in shown
    shown = texts(save_figure(rob_traffic_light(rob), tmp_path / "traffic")["svg"]
                  .read_text(encoding="utf8"))
    assert set(frame.study) <= set(shown)
    assert "D5: Bias in selection of the reported result" in shown
    karner = pd.read_csv(METADAT / "dat.karner2014.csv")
    rob1 = {r.study: {ROB1_NAMES[c]: r[c] for c in ROB1_NAMES} for _, r in karner.iterrows()}
    shown = texts(save_figure(rob_traffic_light(rob1), tmp_path / "rob1")["svg"]
                  .read_text(encoding="utf8"))
    assert {"A", "F", "Unclear risk", "E: Incomplete outcome data (attrition bias)"} <= set(shown)
    assert texts(save_figure(rob_summary_plot(rob1), tmp_path / "s1")["svg"]
                 .read_text(encoding="utf8")).count("14%") == 1  # attrition: 3 of 22 high
    from trialsynth.review.rob import from_revman_web_table

    raw = pd.read_csv(FLAGSHIP, keep_default_na=False)
    mapping = rob_mapping(from_revman_web_table(raw), outcome="2.2 Ketamine versus ketorolac: "
                                                             "serious adverse events")
    assert mapping["Dadabayev 2020"]["overall"] == "high"
    with pytest.raises(ValueError, match="unknown risk-of-bias judgement"):
        rob_traffic_light({"X": {"D1": "Lwo risk"}})


def test_gap_map_shows_studies_participants_certainty_and_gaps(flagship, tmp_path):
    from trialsynth.render.figures import gap_map, save_figure

    names = {1: "Ketamine IV vs placebo", 3: "Ketamine, other routes vs placebo",
             7: "Memantine vs placebo (inferred)"}
    windows = ["Immediate", "Short term", "Medium term", "Long term"]
    rows = []
    for analysis in flagship.values():
        match = re.match(r"Pain intensity \(continuous\), (immediate|short|medium|long)-term",
                         analysis.name)
        if analysis.group in names and match and not analysis.has_subgroups:
            result = pooled(analysis)
            window = {"immediate": "Immediate", "short": "Short term", "medium": "Medium term",
                      "long": "Long term"}[match[1]]
            rows.append({"intervention": names[analysis.group], "outcome": "Pain intensity",
                         "window": window, "k": result.k, "participants": result.participants,
                         "certainty": "moderate" if window == "Short term" else None})
    cells = pd.DataFrame(rows)
    fig = gap_map(cells, outcomes=["Pain intensity", "Pain relief ≥ 50%"], windows=windows,
                  interventions=[*names.values(), "Dextromethorphan <b>vs</b> placebo"])
    shown = texts(save_figure(fig, tmp_path / "gap")["svg"].read_text(encoding="utf8"))
    assert shown.count("no studies") == 4 * 8 - len(cells)
    rated = int((cells.certainty == "moderate").sum())
    assert shown.count("⊕⊕⊕◯ Moderate") == rated + 1  # cells and the legend
    assert shown.count("Not rated") == len(cells) - rated + 1
    for row in cells.itertuples():
        assert f"{row.participants:,.0f} participants" in shown
    assert any(t.startswith("Dextromethorphan <b>vs</b>") for t in shown)  # text, maybe wrapped
    with pytest.raises(ValueError, match="two rows"):
        gap_map(pd.concat([cells, cells.iloc[:1]]), outcomes=["Pain intensity"], windows=windows)


# ---------------------------------------------------------------------------------------------
# Export, global state, threads, lazy import
# ---------------------------------------------------------------------------------------------
def test_exports_are_deterministic_and_ids_unique(chiarito, tmp_path):
    from trialsynth.render.figures import forest_plot, funnel_plot, save_figure, svg_text

    frame, rob = chiarito
    result = ts.pool(frame, "RR", "REML")
    one = save_figure(forest_plot(result, frame, rob=rob), tmp_path / "a")
    two = save_figure(forest_plot(result, frame, rob=rob), tmp_path / "b")
    for kind in ("svg", "png"):
        assert one[kind].read_bytes() == two[kind].read_bytes()
    svg = one["svg"].read_text(encoding="utf8")
    assert "dc:date" not in svg and "<dc:title>trialsynth" in svg
    inline_a, inline_b = svg_text(forest_plot(result, frame)), svg_text(funnel_plot(egger_result()))
    assert inline_a.startswith("<svg ") and "<?xml" not in inline_a
    ids_a = set(re.findall(r'\sid="([^"]+)"', inline_a))
    ids_b = set(re.findall(r'\sid="([^"]+)"', inline_b))
    assert ids_a and ids_b and not ids_a & ids_b
    for ref in re.findall(r'(?:url\(#|href="#)([^)"]+)', inline_b):
        assert ref in ids_b


def test_no_global_rcparams_change_and_threads_do_not_interfere(flagship, chiarito):
    import matplotlib

    from trialsynth.render.figures import (
        ForestLabels,
        forest_plot,
        funnel_plot,
        gap_map,
        rob_summary_plot,
        rob_traffic_light,
        svg_text,
    )

    frame, rob = chiarito
    jobs = [(flagship[i], pooled(flagship[i])) for i in ("1.10", "7.5", "7.23", "1.9", "7.19")]
    before = dict(matplotlib.rcParams)

    def draw(job):
        analysis, result = job
        return svg_text(forest_plot(result, analysis.frame,
                                    labels=ForestLabels(title=analysis.name)))

    serial = [draw(job) for job in jobs]
    extra = [rob_summary_plot(rob), rob_traffic_light(rob), funnel_plot(egger_result()),
             gap_map(pd.DataFrame(columns=["intervention", "outcome", "window", "k",
                                           "participants", "certainty"]),
                     outcomes=["Pain"], windows=["Short"], interventions=["Ketamine"])]
    for fig in extra:
        svg_text(fig)
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(draw, jobs * 2))
    assert threaded == serial * 2
    assert dict(matplotlib.rcParams) == before


def test_importing_figure_modules_does_not_import_matplotlib():
    code = ("import sys; import trialsynth.render.figures as f; "
            "import trialsynth.render.figures.forest, trialsynth.render.figures.funnel, "
            "trialsynth.render.figures.rob, trialsynth.render.figures.gapmap, "
            "trialsynth.render.figures.export; f.ForestLabels; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# Edge cases: one study, a study without data, the funnel note, trim-and-fill fills, TSA, PNG
# ---------------------------------------------------------------------------------------------
def test_forest_with_one_study(flagship):
    from trialsynth.render.figures import forest_plot, svg_text

    analysis = flagship["7.23"]
    one = analysis.frame.iloc[:1]
    result = ts.pool(one, analysis.settings.measure, analysis.settings.method, revman=True)
    shown = texts(svg_text(forest_plot(result, one)))
    assert str(one.study.iloc[0]) in shown and "Total (95% CI)" in shown
    assert "100.0%" in shown  # the one study carries all the weight


def test_funnel_note_and_trim_and_fill_fills(flagship):
    from trialsynth.assess.bias.trimfill import trimfill_from_result
    from trialsynth.render.figures import funnel_plot, svg_text

    small = pooled(flagship["7.23"])
    shown = " ".join(texts(svg_text(funnel_plot(small, when_too_few="note", title="7.23"))))
    assert "Funnel plot not drawn" in shown and "fewer than 10" in shown
    result = egger_result()
    tf = trimfill_from_result(result)
    assert tf.k0 and tf.k0 > 0  # the magnesium trials are the textbook asymmetric funnel
    fills = [(y, v ** 0.5) for y, v in zip(tf.filled_yi, tf.filled_vi, strict=True)]
    shown = texts(svg_text(funnel_plot(result, filled=fills, filled_estimate=tf.estimate)))
    assert f"Filled by trim-and-fill ({tf.k0})" in shown and "Trim-and-fill estimate" in shown
    assert "Filled by trim-and-fill" not in " ".join(texts(svg_text(funnel_plot(result))))


def test_tsa_figure_runs_to_the_required_information_and_pngs_are_pngs(tmp_path):
    from trialsynth.assess.sequential import tsa_summary
    from trialsynth.render.figures import save_figure
    from trialsynth.render.figures.tsa import plot_tsa

    result = egger_result()
    tsa = tsa_summary(result, mid=0.2, control_risk=0.1)
    assert tsa.fraction < 1  # far from the required information: the boundary is projected
    paths = save_figure(plot_tsa(tsa, title="Magnesium"), tmp_path / "tsa")
    shown = texts(paths["svg"].read_text(encoding="utf8"))
    assert "monitoring boundary, projected to the RIS" in shown
    assert (f"Accrued {tsa.accrued:,.0f} of {int(-(-tsa.required // 1)):,} required participants"
            f" ({tsa.accrued / tsa.required:.0%})") in shown
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
