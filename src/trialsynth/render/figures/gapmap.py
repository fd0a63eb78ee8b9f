"""Evidence-gap map: interventions (drug and route) down, outcomes x time windows across.

Each cell shows how many studies and participants contribute to the analysis of that intervention,
outcome and time window, and the GRADE certainty of that evidence (colour and ⊕ symbols, as in
summary-of-findings tables: ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low; Handbook ch. 14).
Cells without studies are drawn empty (white, dashed border) and say "no studies", so that gaps
are as visible as evidence (Snilstveit et al. 2016, J Clin Epidemiol 79:120-129). Cells with
studies but no estimable effect (e.g. no events in either group) are hatched grey and say "not
estimable": trials looked, but nothing can be pooled — a different gap from "no studies".

Input: a data frame with columns ``intervention, outcome, window, k, participants, certainty``
(``certainty`` ``None`` when unrated) and optionally ``status`` (``pooled``, ``not_estimable``,
``no_studies``; from ``k`` when absent), plus the full lists of outcomes and windows (and
optionally interventions) so that empty cells and empty rows are shown. ``outcome_windows``
gives an outcome its own columns (e.g. one "no time window" column for adverse events).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from trialsynth.render.figures._common import Host

REQUIRED = ("intervention", "outcome", "window", "k", "participants", "certainty")
CERTAINTY_LEVELS = ("high", "moderate", "low", "very_low")
# level -> (symbols, words, fill, text colour)
CERTAINTY_STYLE: dict[str | None, tuple[str, str, str, str]] = {
    "high": ("⊕⊕⊕⊕", "High", "#1b7837", "#ffffff"),
    "moderate": ("⊕⊕⊕◯", "Moderate", "#7fbc41", "#1a1a1a"),
    "low": ("⊕⊕◯◯", "Low", "#fee08b", "#1a1a1a"),
    "very_low": ("⊕◯◯◯", "Very low", "#f4a582", "#1a1a1a"),
    None: ("", "Not rated", "#e8e8e8", "#1a1a1a"),
}
_WORDS = {"high": "high", "moderate": "moderate", "low": "low", "very low": "very_low",
          "very_low": "very_low", "verylow": "very_low"}
CELL_H = 0.64  # inches
LABEL_MAX = 2.4


def certainty_level(value: Any) -> str | None:
    """``high``/``moderate``/``low``/``very_low`` from GRADE wording; None when unrated."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = " ".join(str(value).replace("-", " ").split()).lower()
    if text in ("", "none", "nan", "not rated", "unrated", "na"):
        return None
    if text.count("⊕") and set(text) <= {"⊕", "◯", "○", " "}:
        return CERTAINTY_LEVELS[4 - text.count("⊕")] if 1 <= text.count("⊕") <= 4 else None
    if text not in _WORDS:
        raise ValueError(f"unknown certainty {str(value)[:40]!r}; expected high, moderate, low, "
                         "very low or None")
    return _WORDS[text]


Cell = tuple[int, float | None, str | None, str]  # k, participants, certainty, status
STATUSES = ("pooled", "not_estimable", "no_studies")


def _cells(frame: pd.DataFrame, columns: Mapping[str, Sequence[str]]) -> dict[tuple[str, str, str], Cell]:
    from trialsynth.render.figures._common import clean

    missing = [col for col in REQUIRED if col not in frame.columns]
    if missing:
        raise ValueError(f"gap map data lacks column(s): {', '.join(missing)}")
    out: dict[tuple[str, str, str], Cell] = {}
    has_status = "status" in frame.columns
    for row in frame.itertuples(index=False):
        key = (clean(row.intervention, "(unnamed)"), clean(row.outcome), clean(row.window))
        if key[1] not in columns or key[2] not in columns[key[1]]:
            raise ValueError(f"cell {key[1][:40]!r} / {key[2][:40]!r} is not among the outcomes "
                             "and windows given")
        if key in out:
            raise ValueError(f"two rows for {key[0][:40]!r}, {key[1][:40]!r}, {key[2][:40]!r}")
        k = 0 if row.k is None or (isinstance(row.k, float) and math.isnan(row.k)) else int(row.k)
        n = row.participants
        n = None if n is None or (isinstance(n, float) and math.isnan(n)) else float(n)
        status = str(row.status) if has_status and isinstance(row.status, str) else \
            ("pooled" if k > 0 else "no_studies")
        if status not in STATUSES:
            raise ValueError(f"unknown cell status {status[:30]!r}; expected {', '.join(STATUSES)}")
        if (status == "no_studies") != (k == 0):
            raise ValueError(f"cell {key[1][:40]!r} / {key[2][:40]!r}: status {status} with "
                             f"{k} studies")
        out[key] = (k, n, certainty_level(row.certainty), status)
    return out


def _wrap2(text: str, width: float, size: float, weight: str) -> list[str]:
    """At most two lines of ``text`` within ``width`` inches (the second cut with an ellipsis)."""
    from trialsynth.render.figures import _common as c

    if c.text_width(text, size, weight) <= width:
        return [text]
    words, first = text.split(" "), ""
    for i, word in enumerate(words):
        trial = (first + " " + word).strip()
        if c.text_width(trial, size, weight) > width:
            if not first:
                return [c.fit(text, width, size, weight)]
            return [first, c.fit(" ".join(words[i:]), width, size, weight)]
        first = trial
    return [first]


def gap_map(cells: pd.DataFrame, *, outcomes: Sequence[str], windows: Sequence[str],
            interventions: Sequence[str] | None = None, title: str | None = None,
            outcome_windows: Mapping[str, Sequence[str]] | None = None,
            ax: Axes | None = None) -> Figure:
    """Draw the evidence-gap map; return its figure (see the module docstring)."""
    from matplotlib.patches import Rectangle

    from trialsynth.render.figures import _common as c

    outcomes = [c.clean(o) for o in outcomes]
    windows = [c.clean(w) for w in windows]
    if not outcomes or not windows:
        raise ValueError("a gap map needs at least one outcome and one time window")
    own = {c.clean(o): [c.clean(w) for w in ws] for o, ws in (outcome_windows or {}).items()}
    columns = {o: own.get(o) or windows for o in outcomes}
    data = _cells(cells, columns)
    rows = [c.clean(i, "(unnamed)") for i in interventions] if interventions is not None else []
    rows += [key[0] for key in data if key[0] not in rows]
    if not rows:
        raise ValueError("a gap map needs at least one intervention")
    label_w = min(max(c.text_width(r, c.SIZE, "bold") for r in rows) + 0.15, LABEL_MAX)
    used = {w for ws in columns.values() for w in ws}
    cell_w = min(max([1.2] + [c.text_width(w, c.SMALL, "bold") + 0.16 for w in used]), 1.7)
    gap = 0.08  # between outcome groups
    x0, top = 0.2 + label_w, 0.25 + (0.45 if title else 0.0)
    lefts, x = {}, x0
    for o in outcomes:
        lefts[o] = x
        x += len(columns[o]) * cell_w + gap
    head_lines = max(len(_wrap2(o, cell_w * len(columns[o]), c.SIZE, "bold")) for o in outcomes)
    grid_top = top + 0.2 * head_lines + 0.42
    width = max(x, x0 + _legend_width()) + 0.15
    height = grid_top + len(rows) * CELL_H + 1.05
    fig, host = c.host_for(ax, width, height, 1.0)
    if title:
        c.put(host, 0.2, 0.35, c.fit(c.clean(title), width - 0.4, c.SIZE + 1.5, "bold"),
              size=c.SIZE + 1.5, weight="bold")
    for outcome in outcomes:
        left, span = lefts[outcome], len(columns[outcome]) * cell_w
        for m, line in enumerate(_wrap2(outcome, span - 0.1, c.SIZE, "bold")):
            c.put(host, left + span / 2, top + 0.1 + 0.2 * m, line, weight="bold", ha="center")
        host.lines([[(left + 0.03, grid_top - 0.33), (left + span - 0.03, grid_top - 0.33)]], 0.6,
                   c.RULE)
        for w, window in enumerate(columns[outcome]):
            c.put(host, left + (w + 0.5) * cell_w, grid_top - 0.17,
                  c.fit(window, cell_w - 0.08, c.SMALL, "bold"), size=c.SMALL, weight="bold",
                  ha="center", color=c.GREY)
    for i, intervention in enumerate(rows):
        y = grid_top + i * CELL_H
        lines = _wrap2(intervention, label_w - 0.1, c.SIZE, "bold")
        for m, line in enumerate(lines):
            c.put(host, 0.2, y + CELL_H / 2 + (m - (len(lines) - 1) / 2) * 0.17, line,
                  weight="bold")
        for outcome in outcomes:
            for w, window in enumerate(columns[outcome]):
                _cell(host, Rectangle, lefts[outcome] + w * cell_w, y, cell_w,
                      data.get((intervention, outcome, window)))
    _legend(host, Rectangle, x0, grid_top + len(rows) * CELL_H + 0.35)
    return fig


def _legend_width() -> float:
    from trialsynth.render.figures import _common as c

    labels = [f"{sym} {words}" for sym, words, _, _ in CERTAINTY_STYLE.values()]
    return sum(0.45 + c.text_width(t, c.SMALL) for t in [*labels, NOT_ESTIMABLE, "No studies"])


NOT_ESTIMABLE = "Studies, no estimate"


def _cell(host: Host, Rectangle: Any, left: float, y: float, w: float, value: Cell | None) -> None:
    from trialsynth.render.figures import _common as c

    pad = 0.035
    box = (left + pad, y + pad)
    if value is None or value[0] <= 0:
        host.add(Rectangle(box, w - 2 * pad, CELL_H - 2 * pad, facecolor="white",
                           edgecolor="#b0b0b0", linewidth=0.7, linestyle=(0, (3, 2))))
        c.put(host, left + w / 2, y + CELL_H / 2, "no studies", size=c.SMALL, style="italic",
              color="#8a8a8a", ha="center")
        return
    k, n, level, status = value
    studies = f"{k} {'study' if k == 1 else 'studies'}"
    people = "participants n/r" if n is None else \
        f"{n:,.0f} participant{'' if n == 1 else 's'}"
    if status == "not_estimable":  # trials reported it, but no effect can be pooled
        host.add(Rectangle(box, w - 2 * pad, CELL_H - 2 * pad, facecolor="#f4f4f4",
                           edgecolor="#cfcfcf", linewidth=0.7, hatch="///"))
        texts = ((studies, "bold", -0.17), (people, "normal", 0.0), ("not estimable", "normal", 0.17))
        ink = "#1a1a1a"
    else:
        symbols, words, fill, ink = CERTAINTY_STYLE[level]
        host.add(Rectangle(box, w - 2 * pad, CELL_H - 2 * pad, facecolor=fill, edgecolor="none"))
        grade = f"{symbols} {words}" if symbols else words
        texts = ((studies, "bold", -0.17), (people, "normal", 0.0), (grade, "normal", 0.17))
    for text, weight, dy in texts:
        c.put(host, left + w / 2, y + CELL_H / 2 + dy, c.fit(text, w - 0.1, c.SMALL, weight),
              size=c.SMALL, weight=weight, color=ink, ha="center",
              style="italic" if text == "not estimable" else "normal")


def _legend(host: Host, Rectangle: Any, x: float, y: float) -> None:
    from trialsynth.render.figures import _common as c

    c.put(host, 0.2, y, "Certainty of the evidence (GRADE)", size=c.SMALL, weight="bold")
    c.put(host, 0.2, y + 0.42, "Cells: studies, participants, certainty", size=c.SMALL,
          color=c.GREY)
    entries = [(CERTAINTY_STYLE[lvl][2], f"{CERTAINTY_STYLE[lvl][0]} {CERTAINTY_STYLE[lvl][1]}")
               for lvl in (*CERTAINTY_LEVELS, None)]
    entries = [*entries[:-1], (CERTAINTY_STYLE[None][2], "Not rated")]
    pos = x
    for fill, label in [*entries, ("hatch", NOT_ESTIMABLE), ("none", "No studies")]:
        dashed = fill == "none"
        hatched = fill == "hatch"
        host.add(Rectangle((pos, y - 0.07), 0.22, 0.14,
                           facecolor="white" if dashed else "#f4f4f4" if hatched else fill,
                           edgecolor="#b0b0b0" if dashed else "#cfcfcf" if hatched else "none",
                           linewidth=0.7, hatch="///" if hatched else None,
                           linestyle=(0, (3, 2)) if dashed else "solid"))
        c.put(host, pos + 0.28, y, label, size=c.SMALL)
        pos += 0.45 + c.text_width(label, c.SMALL)
