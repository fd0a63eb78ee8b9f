"""Risk-of-bias tools named by what the file holds: RoB 1 judgements as RoB 1, RoB 2 as RoB 2,
each with its own figures.

Real files: Cochrane review CD011564 (rm5 with RoB 1 ``QUALITY_ITEM`` tables, domains A-G), the
Fleiss 1993 RevMan Web package (a RoB 1 table with one domain) and the flagship CD015373.pub2
data rows (RoB 2 columns). The mixed case (a review holding both tools) is built from one study
of each of these two real files.
"""

from __future__ import annotations

from _paths import SHARED_DATA

from trialsynth.readers.convert import build_folder
from trialsynth.report import model
from trialsynth.report.rob_view import rob_figure_jobs, rob_figures_result
from trialsynth.runner import run_review


def _study_level(path) -> dict[str, dict[str, str]]:
    folder = build_folder(path)
    out: dict[str, dict[str, str]] = {}
    for a in folder.review.analyses:
        for st in a.frame["study"]:
            judged = model.judged_for(folder.rob_assessments(), str(st), a.id)
            if judged:
                out.setdefault(str(st), judged)
    return out


def test_tool_is_read_from_the_domains():
    rob1 = _study_level(SHARED_DATA / "cochrane-rm5" / "CD011564StatsDataOnly.rm5")
    rob2 = _study_level(SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv")
    assert len(rob1) >= 20 and {model.rob_tool(j) for j in rob1.values()} == {"RoB 1"}
    assert rob2 and {model.rob_tool(j) for j in rob2.values()} == {"RoB 2"}
    note = model.rob_note(list(rob1.values()))
    assert "RoB 1" in note and "RoB 2" not in note
    assert "RoB 2" in model.rob_note(list(rob2.values()))


def test_each_tool_has_its_own_figures():
    rob1 = _study_level(SHARED_DATA / "cochrane-rm5" / "CD011564StatsDataOnly.rm5")
    rob2 = _study_level(SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv")
    s1, s2 = next(iter(rob1)), next(iter(rob2))
    mixed = {s1: rob1[s1], s2: rob2[s2]}
    jobs = rob_figure_jobs(mixed)
    assert [j[2] for j in jobs] == ["RoB 2", "RoB 1"]
    assert jobs[0][0][3] == {s2: rob2[s2]} and jobs[1][0][3] == {s1: rob1[s1]}
    res = rob_figures_result(jobs, mixed, None)
    assert res["summary"] == "figures/rob_summary.svg"
    assert [t["summary"] for t in res["tools"]] == ["figures/rob_summary.svg",
                                                    "figures/rob_summary_rob1.svg"]
    assert "RoB 1" in jobs[1][0][5] and "RoB 1" in jobs[1][1][4]


def test_report_of_a_rob1_review_says_rob1(tmp_path):
    res = run_review(SHARED_DATA / "meta-fleiss1993" / "revman-web-export", tmp_path / "o",
                     quiet=True)
    assert "RoB 1" in res["risk_of_bias_summary"] and "RoB 2" not in res["risk_of_bias_summary"]
    assert res["risk_of_bias_figures"]["tool"] == "RoB 1"
    methods = " ".join(res["methods"]["paragraphs"])
    assert "with RoB 1 [" in methods and "RoB 2" not in methods
    assert any(r["key"] == "ROB1" for r in res["methods"]["references"])
    page = (tmp_path / "o" / "index.html").read_text()
    assert "RoB 1 summary over the 12 studies" in page
