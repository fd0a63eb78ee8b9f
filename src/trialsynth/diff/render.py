"""The "What changed" page (renderer: formats the diff object, computes nothing)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def render_page(wc: Mapping[str, Any]) -> str:
    """The diff alone as a self-contained HTML page (the block the report opens with)."""
    from trialsynth.render.html import env

    return env().get_template("diff.html.j2").render(wc=wc, wc_links=False)


def write_page(wc: Mapping[str, Any], out_dir: Path, *, inputs: tuple[Path, ...] = ()) -> None:
    """``index.html`` (the page) and ``diff.json`` (the object) into ``out_dir``, atomically as
    ``trialsynth run`` writes its folder."""
    from trialsynth.output_folder import write_output

    write_output(Path(out_dir), {
        "index.html": render_page(wc),
        "diff.json": json.dumps(wc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"},
        inputs=inputs)


def _est(x: Mapping[str, Any] | None) -> str:
    from trialsynth.render.html import ci

    if not x:
        return "-"
    if x.get("estimate") is None:
        return "not pooled"
    return f"{x.get('measure') or ''} {ci(x['estimate'], x['ci_low'], x['ci_high'])}".strip()


def _k(x: Mapping[str, Any] | None) -> str:
    return "-" if not x or x.get("k") is None else str(x["k"])


def render_summary(wc: Mapping[str, Any]) -> Any:
    """The diff for the terminal: a count line, one table row per change, then every changed
    conclusion in words (a Rich renderable)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    kinds = [c["kind"] for c in wc["changed"]]
    parts: list[Any] = [Text(f"{kinds.count('changed')} changed, {kinds.count('added')} added, "
                             f"{kinds.count('removed')} removed, {wc['unchanged']} unchanged; "
                             f"{wc['conclusions_changed']} with a changed conclusion.")]
    for key, word in (("studies_added", "Studies added"), ("studies_removed", "Studies removed")):
        if wc[key]:
            parts.append(Text(f"{word}: {'; '.join(wc[key])}."))
    parts += [Text(n) for n in wc["notes"]]
    if wc["changed"]:
        table = Table()
        for col in ("analysis", "change", "k", "estimate [95% CI] before → now", "certainty",
                    "what changed"):
            table.add_column(col)
        for c in wc["changed"]:
            b, a = c["before"], c["after"]
            table.add_row(f"{c['analysis']} {c['name']}", c["kind"], f"{_k(b)} → {_k(a)}",
                          f"{_est(b)} → {_est(a)}",
                          f"{(b or {}).get('certainty') or '-'} → {(a or {}).get('certainty') or '-'}",
                          ", ".join(c["what"]) or "-")
        parts.append(table)
    for c in wc["changed"]:
        if c["conclusions"]:
            parts.append(Text(f"{c['analysis']} {c['name']}:", style="bold"))
            parts += [Text(f"  - {x['text']}") for x in c["conclusions"]]
    return Group(*parts)
