"""Risk-of-bias figures of the report, one summary and one traffic-light figure per tool the
file holds (RoB 2 first; Sterne et al. 2019 for RoB 2, Higgins et al. 2011 for RoB 1), as figure
jobs for :mod:`trialsynth.report.build` and the ``risk_of_bias_figures`` entry of results.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trialsynth.report import model

ROB_SUMMARY = "figures/rob_summary.svg"
ROB_TRAFFIC = "figures/rob_traffic_light.svg"


ROB_CAPTION = {
    "RoB 2": "RoB 2 is judged per result; where a study has several, its first result stands for "
             "it here, and each forest plot shows the judgements for its own analysis.",
    "RoB 1": "RoB 1 is judged per study (some domains per outcome group); the summary judgement "
             "is the authors' or summarised from the domains (Cochrane Handbook 5.1 §8.7)."}


def rob_figure_jobs(rob_judged: Mapping[str, Mapping[str, str]]
                     ) -> list[tuple[tuple[Any, ...], tuple[Any, ...], str, int]]:
    """The summary and traffic-light figures of each risk-of-bias tool the file holds (RoB 2
    first), as (summary job, traffic-light job, tool, studies); a review with one tool keeps
    the file names ``figures/rob_summary.svg`` and ``figures/rob_traffic_light.svg``."""
    by_tool: dict[str, dict[str, Mapping[str, str]]] = {}
    for study, j in rob_judged.items():
        by_tool.setdefault(model.rob_tool(j) or "RoB 2", {})[study] = j
    out = []
    for i, tool in enumerate(t for t in ("RoB 2", "RoB 1") if t in by_tool):
        tag = "" if i == 0 else "_" + tool.replace(" ", "").lower()
        summary, traffic = (ROB_SUMMARY.replace(".svg", f"{tag}.svg"),
                            ROB_TRAFFIC.replace(".svg", f"{tag}.svg"))
        judged = by_tool[tool]
        out.append((("rob_summary", tool, summary, judged, None,
                     f"Risk of bias summary ({tool}): share of studies per judgement"),
                    ("rob_traffic", tool, traffic, judged,
                     f"Risk of bias ({tool}): judgement per study and domain"), tool, len(judged)))
    return out


def rob_figures_result(jobs: Sequence[tuple[Any, ...]], rob_judged: Mapping[str, Any],
                        problem: str | None) -> dict[str, Any]:
    """results.json ``risk_of_bias_figures``: the first tool's figures under ``summary`` and
    ``traffic_light`` (as before), every tool's under ``tools``."""
    tools = [{"tool": tool, "studies": n, "summary": s[2], "traffic_light": t[2],
              "caption": ROB_CAPTION[tool]} for s, t, tool, n in jobs]
    first = tools[0] if tools else {}
    return {"studies": len(rob_judged), "problem": problem, "summary": first.get("summary"),
            "traffic_light": first.get("traffic_light"), "tool": first.get("tool"),
            "caption": first.get("caption"), "tools": tools}
