"""The "What changed" page (renderer: formats the diff object, computes nothing)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def render_page(wc: Mapping[str, Any]) -> str:
    """The diff alone as a self-contained HTML page (the block the report opens with)."""
    from trialsynth.report.html import env

    return env().get_template("diff.html.j2").render(wc=wc, wc_links=False)


def write_page(wc: Mapping[str, Any], out_dir: Path, *, inputs: tuple[Path, ...] = ()) -> None:
    """``index.html`` (the page) and ``diff.json`` (the object) into ``out_dir``, atomically as
    ``trialsynth run`` writes its folder."""
    from trialsynth.runner import write_output

    write_output(Path(out_dir), {
        "index.html": render_page(wc),
        "diff.json": json.dumps(wc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"},
        inputs=inputs)


def _est(x: Mapping[str, Any] | None) -> str:
    from trialsynth.report.html import ci

    if not x:
        return "-"
    if x.get("estimate") is None:
        return "not pooled"
    return f"{x.get('measure') or ''} {ci(x['estimate'], x['ci_low'], x['ci_high'])}".strip()


def render_summary(wc: Mapping[str, Any]) -> Any:
    """The diff for the terminal: a count line, then one table row per change and its
    conclusion changes beneath (a Rich renderable)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    kinds = [c["kind"] for c in wc["changed"]]
    head = Text(f"{kinds.count('changed')} changed, {kinds.count('added')} added, "
                f"{kinds.count('removed')} removed, {wc['unchanged']} unchanged; "
                f"{wc['conclusions_changed']} with a changed conclusion.")
    parts: list[Any] = [head]
    for key, word in (("studies_added", "Studies added"), ("studies_removed", "Studies removed")):
        if wc[key]:
            parts.append(Text(f"{word}: {'; '.join(wc[key])}."))
    parts += [Text(n) for n in wc["notes"]]
    if wc["changed"]:
        table = Table(show_lines=True)
        for col in ("analysis", "change", "estimate [95% CI] before → now", "certainty",
                    "what / conclusions"):
            table.add_column(col)
        for c in wc["changed"]:
            b, a = c["before"] or {}, c["after"] or {}
            cert = f"{b.get('certainty') or '-'} → {a.get('certainty') or '-'}"
            notes = ", ".join(c["what"]) + "".join(f"\n• {x['text']}" for x in c["conclusions"])
            table.add_row(f"{c['analysis']} {c['name']}", c["kind"],
                          f"{_est(c['before'])}\n→ {_est(c['after'])}", cert, notes.strip())
        parts.append(table)
    return Group(*parts)
