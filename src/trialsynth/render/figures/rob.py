"""Risk-of-bias figures: summary bars (share of studies or of weight per judgement and domain) and
the traffic-light plot (studies x domains), as in RevMan and robvis (McGuinness & Higgins 2021,
Res Synth Methods 12:55-61).

Input everywhere is a mapping ``study -> {domain: judgement}``. Domains are RoB 2's ``D1``-``D5``
(or their names) or RoB 1's domains (names as RevMan writes them, or the keys of
:data:`trialsynth.review.rob1.ROB1_DOMAINS`), plus an optional ``overall``. Judgements are any
wording :func:`trialsynth.review.rob.grade_rob_level` reads ("Low risk", "Some concerns",
"Unclear risk", "high", ...); empty, "NA" and "not assessed" mean not assessed and are drawn grey.
:func:`rob_mapping` builds the mapping from :class:`~trialsynth.review.rob.Rob2Assessment` /
:class:`~trialsynth.review.rob.Rob1Assessment` objects. The domains and levels themselves are review
data (:mod:`trialsynth.review.rob_domains`, re-exported here); this module only draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trialsynth.review.rob_domains import (
    LEVELS,
    RobColumns,
    domain_key,
    judgement_level,
    rob_columns,
    rob_levels,
    rob_mapping,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from trialsynth.render.figures._common import Host

__all__ = ["LEVELS", "RobColumns", "domain_key", "judgement_level", "legend_key", "rob_columns",
           "rob_dots", "rob_levels", "rob_mapping", "rob_summary_plot", "rob_traffic_light"]


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def rob_dots(ax: Host, xs: Sequence[float], ys: Sequence[float],
             levels: Sequence[str | None], diameter_pt: float) -> None:
    """Traffic lights: coloured dots with their symbols (+ low, ? some concerns, - high), drawn
    as one collection (grey ring: not assessed)."""
    from trialsynth.render.figures import _common as c

    if not xs:
        return
    ax.markers(xs, ys, "o", diameter_pt ** 2, [c.ROB_COLOURS[lv] for lv in levels],
               ["#4d4d4d" if lv is None else "none" for lv in levels], 0.4)
    for x, y, level in zip(xs, ys, levels, strict=True):
        if c.ROB_SYMBOLS[level]:
            c.put(ax, x, y, c.ROB_SYMBOLS[level], size=diameter_pt * 0.62, weight="bold",
                  color=c.ROB_SYMBOL_COLOURS[level], ha="center", va="center_baseline",
                  zorder=4)


def legend_key(ax: Host, x: float, y: float, columns: RobColumns, levels: Iterable[str | None],
                size: float) -> float:
    """Judgement key from ``x`` along row ``y``; returns the x after it (inches)."""
    from trialsynth.render.figures import _common as c

    words = columns.words()
    levels = list(levels)
    xs = []
    for level in levels:
        xs.append(x + 0.08)
        c.put(ax, x + 0.2, y, words[level], size=size)
        x += 0.35 + c.text_width(words[level], size)
    rob_dots(ax, xs, [y] * len(xs), levels, 10.0)
    return x


def rob_traffic_light(rob: Mapping[str, Mapping[str, Any]], *, title: str | None = None,
                      ax: Axes | None = None) -> Figure:
    """Traffic-light plot: one row per study, one column per domain (and overall), a coloured
    dot with a symbol per judgement, domain names in a legend below."""
    from trialsynth.render.figures import _common as c

    if not rob:
        raise ValueError("no risk-of-bias judgements to plot")
    columns, levels = rob_columns(rob), rob_levels(rob)
    studies = [c.clean(s, "(unnamed study)") for s in levels]
    name_w = min(max(c.text_width(s) for s in studies) + 0.15, 2.6)
    col_w, row_h = 0.42, 0.26
    legend = [f"{h}: {c.clean(n)}" for h, n in zip(columns.headers, columns.names, strict=True)
              if h != "Overall"]
    width = max(0.2 + name_w + col_w * len(columns.keys) + 0.2,
                0.4 + max([c.text_width(t, c.SMALL) for t in legend] + [3.9]),
                min(0.4 + c.text_width(c.clean(title), c.SIZE + 1, "bold"), 7.5) if title else 0)
    top = 1.0 + (1.0 if title else 0.0)
    n_rows = top + len(studies) + 1.0 + 1.6 + len(legend) * 0.8
    fig, host = c.host_for(ax, width, n_rows, row_h)
    if title:
        c.put(host, 0.2, 0.6, c.fit(c.clean(title), width - 0.4, c.SIZE + 1, "bold"),
              size=c.SIZE + 1, weight="bold")
    x0 = 0.2 + name_w
    c.put(host, 0.2, top - 0.3, "Study", weight="bold")
    for j, header in enumerate(columns.headers):
        c.put(host, x0 + (j + 0.5) * col_w, top - 0.3, header, weight="bold", ha="center")
    rule = x0 + col_w * len(columns.keys)
    host.lines([[(0.2, top + 0.1), (rule, top + 0.1)]], 0.6, c.RULE)
    xs, ys, lv = [], [], []
    for i, study in enumerate(levels):
        y = top + 0.7 + i
        c.put(host, 0.2, y, c.fit(studies[i], name_w - 0.1))
        for j, key in enumerate(columns.keys):
            xs.append(x0 + (j + 0.5) * col_w)
            ys.append(y)
            lv.append(levels[study].get(key))
    rob_dots(host, xs, ys, lv, 13.0)
    y = top + len(studies) + 1.0
    host.lines([[(0.2, y - 0.5), (rule, y - 0.5)]], 0.6, c.RULE)
    legend_key(host, 0.2, y, columns, (*LEVELS, None), c.SMALL)
    for i, line in enumerate(legend):
        c.put(host, 0.2, y + 0.9 + 0.8 * i, c.fit(line, width - 0.4, c.SMALL), size=c.SMALL,
              color=c.GREY)
    return fig


def rob_summary_plot(rob: Mapping[str, Mapping[str, Any]], *,
                     weights: Mapping[str, float] | None = None, title: str | None = None,
                     ax: Axes | None = None) -> Figure:
    """Summary bars: per domain, the share of studies (or, with ``weights`` — study -> weight in
    the analysis — the share of weight) judged at low, some concerns / unclear and high risk."""
    from trialsynth.render.figures import _common as c

    if not rob:
        raise ValueError("no risk-of-bias judgements to plot")
    columns, levels = rob_columns(rob), rob_levels(rob)
    study_w = {s: 1.0 for s in levels}
    if weights is not None:
        study_w = {s: float(weights.get(s, 0.0) or 0.0) for s in levels}
        if not any(w > 0 for w in study_w.values()):
            raise ValueError("no study in the risk-of-bias table has a weight")
    names = [c.clean(n) if columns.tool == "RoB 2" or h == "Overall" else f"{h}. {c.clean(n)}"
             for h, n in zip(columns.headers, columns.names, strict=True)]
    label_w = min(max(c.text_width(n) for n in names) + 0.2, 3.6)
    bar_w, row_h = 3.6, 0.3
    width = 0.2 + label_w + bar_w + 0.35
    top = 1.0 + (1.0 if title else 0.0)
    n_rows = top + len(names) + 3.2
    fig, host = c.host_for(ax, width, n_rows, row_h)
    if title:
        c.put(host, 0.2, 0.6, c.fit(c.clean(title), width - 0.4, c.SIZE + 1, "bold"),
              size=c.SIZE + 1, weight="bold")
    x0 = 0.2 + label_w
    basis = "weight" if weights is not None else "studies"
    c.put(host, x0, top - 0.35, f"Share of {basis} (n = {len(levels)} studies)", size=c.SMALL,
          color=c.GREY)
    for i, key in enumerate(columns.keys):
        y = top + 0.5 + i
        c.put(host, x0 - 0.1, y, c.fit(names[i], label_w - 0.15), ha="right",
              weight="bold" if key == "overall" else "normal")
        total = sum(study_w.values())
        left = x0
        for level in (*LEVELS, None):
            share = sum(w for s, w in study_w.items() if levels[s].get(key) == level) / total
            if share <= 0:
                continue
            host.add(_rect(left, y - 0.36, bar_w * share, 0.72, c.ROB_COLOURS[level]))
            if share >= 0.07:
                c.put(host, left + bar_w * share / 2, y, f"{100 * share:.0f}%", size=c.SMALL,
                      ha="center", color=c.ROB_SYMBOL_COLOURS[level])
            left += bar_w * share
    bottom = top + len(names) + 0.2
    ticks = [[(x0, bottom - 0.05), (x0 + bar_w, bottom - 0.05)]]
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = x0 + bar_w * frac
        ticks.append([(x, bottom - 0.05), (x, bottom + 0.15)])
        c.put(host, x, bottom + 0.55, f"{100 * frac:.0f}%", size=c.SMALL, ha="center")
    host.lines(ticks, 0.6)
    legend_key(host, x0, bottom + 1.6, columns, (*LEVELS, None), c.SMALL)
    return fig


def _rect(x: float, y: float, w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="white", linewidth=0.8)
