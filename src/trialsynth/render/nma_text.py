"""Plain-text (Rich) rendering of a network meta-analysis for ``trialsynth nma`` without --json."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from trialsynth.nma.analysis import NmaResult


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _p(x: float | None) -> str:
    return "-" if x is None else ("< 0.001" if x < 0.001 else f"{x:.3f}")


def print_network(result: NmaResult, console: Console) -> None:
    """Estimates against the reference with P-scores, heterogeneity, inconsistency, confidence."""
    d: dict[str, Any] = result.to_dict()
    ratio = d["exp"] is not None
    title = (f"Network meta-analysis: {d['measure']}, {d['method']} ({d['model']} effects), "
             f"{d['k_studies']} studies, {len(d['treatments'])} treatments, reference "
             f"{d['reference']}")
    t = Table(title=title)
    for col in ("treatment", "estimate", "95% CI", *(["ratio [95% CI]"] if ratio else []),
                "P-score", "confidence"):
        t.add_column(col, justify="left" if col in ("treatment", "confidence") else "right")
    conf = {c["comparison"]: c["level"] for c in d["certainty"].values()}
    for name, e in d["estimates"].items():
        row = [name, _f(e["estimate"]), f"{_f(e['ci_low'])} to {_f(e['ci_high'])}"]
        if ratio:
            x = d["exp"][name]
            row.append(f"{_f(x['estimate'], 2)} [{_f(x['ci_low'], 2)}, {_f(x['ci_high'], 2)}]")
        key = f"{name} vs {d['reference']}"
        other = f"{d['reference']} vs {name}"
        row += [_f(d["ranking"][name]["p_score"]), (conf.get(key) or conf.get(other) or "-")
                .replace("_", " ")]
        t.add_row(*row)
    t.add_row(d["reference"], "reference", "", *([""] if ratio else []),
              _f(d["ranking"][d["reference"]]["p_score"]), "")
    console.print(t)
    console.print(f"heterogeneity: tau² = {_f(d['tau2'], 4)}, Q = {_f(d['q'], 2)} "
                  f"(df = {d['q_df']}), p = {_p(d['q_pvalue'])}, I² = {_f(d['i2'], 1)}%")
    dbt = d["inconsistency"]["design_by_treatment"]
    console.print(f"design-by-treatment interaction: Q = {_f(dbt['q'], 2)} (df = {dbt['df']}), "
                  f"p = {_p(dbt['pvalue'])}")
    for s in d["inconsistency"]["node_split"]:
        console.print(f"node split {s['comparison']}: direct {_f(s['direct'])}, indirect "
                      f"{_f(s['indirect'])}, difference {_f(s['difference'])}, "
                      f"p = {_p(s['pvalue'])}")
    console.print(f"P-scores: {'small' if d['ranking_small_values'] == 'desirable' else 'large'} "
                  "values are better")
    for w in d["warnings"]:
        console.print(Text.assemble(("warning:", "yellow"), f" {w}"))  # names are not markup
