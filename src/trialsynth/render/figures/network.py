"""Figures of a network meta-analysis (:class:`trialsynth.nma.analysis.NmaResult`).

* :func:`network_graph` – treatments on a circle, node area proportional to the participants
  randomised to the treatment, edge width to the number of studies comparing the two directly
  (netmeta ``netgraph``'s conventions: thickness by studies, point size by participants, both on
  a square-root scale), the number of studies on each edge;
* :func:`network_forest` – every treatment against the reference with its 95% CI, the 95%
  prediction interval for random effects, P-score and confidence (CINeMA);
* :func:`league_figure` – the league table: row treatment against column treatment, each cell
  coloured by the confidence in that estimate;
* :func:`inconsistency_plot` – per split comparison the direct, indirect and network estimates
  (node splitting) with the p-value of their difference, and the design-by-treatment test.

Each returns a :class:`matplotlib.figure.Figure` (no pyplot, no rcParams), like the other figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from trialsynth.nma.analysis import NmaResult

RATIO = ("OR", "RR")
# confidence levels: a light sequential scale (green to red), readable under black text
LEVEL_COLOURS = {"high": "#8fce8a", "moderate": "#d2ecb4", "low": "#fcd9a0", "very_low": "#f29a93"}
LEVEL_WORDS = {"high": "High", "moderate": "Moderate", "low": "Low", "very_low": "Very low"}
NODE = "#4d6e99"
EDGE = "#8a8a8a"


def _wrap(text: str, width_in: float, size: float) -> list[str]:
    from trialsynth.render.figures import _common as c

    lines, line = [], ""
    for word in text.split(" "):
        trial = (line + " " + word).strip()
        if line and c.text_width(trial, size) > width_in:
            lines.append(line)
            line = word
        else:
            line = trial
    return [*lines, line]


def _level_of(result: NmaResult) -> dict[tuple[str, str], str]:
    """Confidence level of each estimate, both orientations."""
    out = {}
    for cert in result.certainty:
        out[(cert.treatment, cert.comparator)] = out[(cert.comparator, cert.treatment)] = cert.level
    return out


def network_graph(result: NmaResult, *, title: str | None = None, ax: Any = None) -> Figure:
    """The network: nodes by participants, edges by number of studies (see the module doc);
    drawn into ``ax`` when given (then without title and caption)."""
    from trialsynth.render.figures import _common as c

    names = result.fit.treatments
    t = len(names)
    n_studies: dict[tuple[int, int], int] = {}
    for s in result.data.studies:
        for i in range(len(s.arms)):
            for j in range(i + 1, len(s.arms)):
                e = (min(s.arms[i], s.arms[j]), max(s.arms[i], s.arms[j]))
                n_studies[e] = n_studies.get(e, 0) + 1
    people = result.participants()
    size, top = 6.4, 0.45 if title else 0.1
    own = ax is None
    if own:
        fig = c.new_figure(size, size * 0.82 + top)
        ax = fig.add_axes((0.0, 0.0, 1.0, (size * 0.82) / (size * 0.82 + top)))
    else:
        fig = c.root_figure(ax)
    ax.set_axis_off()
    ax.set_xlim(-2.05, 2.05)
    ax.set_ylim(-1.45, 1.45)
    ax.set_aspect("equal")
    pos = [(math.cos(math.pi / 2 - 2 * math.pi * k / t), math.sin(math.pi / 2 - 2 * math.pi * k / t))
           for k in range(t)]
    most = max(n_studies.values())
    for (i, j), k in sorted(n_studies.items()):
        (x0, y0), (x1, y1) = pos[i], pos[j]
        ax.plot([x0, x1], [y0, y1], color=EDGE, lw=1.2 + 5.5 * math.sqrt(k / most),
                solid_capstyle="round", zorder=1)
        c.put(ax, (x0 + x1) / 2, (y0 + y1) / 2, str(k), size=c.SMALL, ha="center",
              bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})
    biggest = max((p for p in people.values() if p), default=1.0)
    for k, name in enumerate(names):
        n = people.get(name)
        area = 120 + 1400 * (n or 0) / biggest  # marker area ∝ participants
        ax.scatter([pos[k][0]], [pos[k][1]], s=area, color=NODE, edgecolors="white",
                   linewidths=1.0, zorder=3)
        x, y = pos[k]
        lines = _wrap(c.clean(name), 1.45, c.SIZE) + [f"n = {c.count(n)}" if n else "n not given"]
        off = 0.17 + math.sqrt(area) / 260
        ha = "center" if abs(x) < 0.3 else ("left" if x > 0 else "right")
        for r, line in enumerate(lines):
            yy = y + (off if y >= -0.2 else -off) * (1 if y >= -0.2 else 1)
            yy += (len(lines) - 1 - r) * 0.1 if y >= -0.2 else -r * 0.1
            xx = x + (0.12 if ha == "left" else -0.12 if ha == "right" else 0.0)
            c.put(ax, xx, yy, line, size=c.SIZE if r < len(lines) - 1 else c.SMALL,
                  weight="bold" if r < len(lines) - 1 else "normal",
                  color=c.INK if r < len(lines) - 1 else c.GREY, ha=ha)
    if not own:
        return fig
    if title:
        c.put(ax, 0.02, 1 - 0.22 / (size * 0.82 + top), c.fit(c.clean(title), size - 0.2,
                                                              c.SIZE + 1, "bold"),
              size=c.SIZE + 1, weight="bold", transform=fig.transFigure)
    c.put(ax, 0.02, 0.02, "Node area: participants randomised; edge width and label: number of "
          "studies comparing the two directly", size=c.SMALL, color=c.GREY,
          transform=fig.transFigure)
    return fig


def _axis_ticks(ax: Any, ratio: bool, lo: float, hi: float) -> None:
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

    from trialsynth.render.figures import _common as c

    if ratio:
        steps = [m * 10.0 ** e for e in range(-3, 4) for m in (1, 2, 5)]
        ticks = [s for s in steps if lo <= math.log(s) <= hi]
        if len(ticks) > 7:
            ticks = [s for s in ticks if math.log10(s) % 1 == 0] or ticks[:: len(ticks) // 5]
        xs, labels = [math.log(s) for s in ticks], [f"{s:g}" for s in ticks]
    else:
        xs = [float(v) for v in MaxNLocator(6).tick_values(lo, hi) if lo <= v <= hi]
        labels = [c.compact(v, 2) for v in xs]
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.set_xticklabels(labels)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.tick_params(axis="x", labelsize=c.SMALL, labelfontfamily=c.FAMILY[0], colors=c.INK,
                   width=0.6, length=3)
    for label in ax.get_xticklabels():
        label.set_parse_math(False)


def _fmt_effect(x: Mapping[str, Any], ratio: bool) -> str:
    from trialsynth.render.figures import _common as c

    if ratio:
        e, lo, hi = (math.exp(x[k]) for k in ("estimate", "ci_low", "ci_high"))
    else:
        e, lo, hi = x["estimate"], x["ci_low"], x["ci_high"]
    return f"{c.num(e)} [{c.num(lo)}, {c.num(hi)}]"


def _interval_axes(fig: Figure, rect: tuple[float, float, float, float],
                   rows: Sequence[Mapping[str, Any]], ratio: bool) -> Any:
    """An axes of horizontal intervals, one per row (row 0 at the top): ``estimate, ci_low,
    ci_high`` and optionally ``pi_low, pi_high`` (dashed), ``colour``, ``marker``, ``bold``;
    a row without ``estimate`` is a heading. The null line at 0 (ratios: log scale)."""
    from trialsynth.render.figures import _common as c

    ax = fig.add_axes(rect)
    vals = [v for r in rows for k in ("ci_low", "ci_high", "pi_low", "pi_high")
            if (v := r.get(k)) is not None] + [0.0]
    lo, hi = min(vals), max(vals)
    pad = 0.06 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.axvline(0.0, color=c.INK, lw=0.7, zorder=1)
    for sp in ("top", "right", "left"):
        ax.spines[sp].set_visible(False)
    ax.set_yticks([])
    for r, v in enumerate(rows):
        if v.get("estimate") is None:
            continue
        if v.get("pi_low") is not None:
            ax.plot([v["pi_low"], v["pi_high"]], [r, r], color=c.GREY, lw=0.8, ls=(0, (2, 1.5)),
                    zorder=2)
        colour = v.get("colour", c.INK)
        ax.plot([v["ci_low"], v["ci_high"]], [r, r], color=c.INK if v.get("bold") else colour,
                lw=1.4 if v.get("bold") else 1.0, zorder=3)
        ax.scatter([v["estimate"]], [r], marker=v.get("marker", "D"), s=30, color=colour,
                   edgecolors=c.INK, linewidths=0.6, zorder=4)
    _axis_ticks(ax, ratio, lo - pad, hi + pad)
    return ax


MEASURE_WORDS = {"OR": "Odds ratio", "RR": "Risk ratio", "MD": "Mean difference",
                 "SMD": "Std. mean difference", "RD": "Risk difference"}


def network_forest(result: NmaResult, *, title: str | None = None,
                   favours: tuple[str, str] | None = None,
                   prediction_interval: bool = True) -> Figure:
    """Every treatment against the reference: estimate, 95% CI (and PI unless
    ``prediction_interval`` is False), P-score, confidence."""
    from trialsynth.render.figures import _common as c

    fit = result.fit
    ratio = fit.data.measure in RATIO
    ref = fit.treatments[fit.reference]
    est = result.estimates()
    order = sorted(est, key=lambda n: est[n]["estimate"])
    level = _level_of(result)
    row_h, width, plot_l, plot_w = 0.3, 9.0, 2.6, 2.8
    top = (1 if title else 0) + 1.5  # row (from the top) of the first treatment
    n_rows = top + len(order) - 0.5 + 3.0
    fig = c.new_figure(width, n_rows * row_h)
    rows = [{**est[n], "colour": LEVEL_COLOURS.get(level.get((n, ref), ""), c.INK), "bold": True}
            for n in order]
    if not prediction_interval:
        rows = [{**r, "pi_low": None, "pi_high": None} for r in rows]
    ax = _interval_axes(fig, (plot_l / width, 1 - (top + len(order) - 0.5) / n_rows,
                              plot_w / width, len(order) / n_rows), rows, ratio)
    ax.set_xlabel(f"{MEASURE_WORDS.get(fit.data.measure, fit.data.measure)} against "
                  f"{c.clean(ref)}" + (" (log scale)" if ratio else ""),
                  fontproperties=c.fontprops(c.SMALL), parse_math=False, color=c.INK)
    host = c.Host(fig, width, n_rows, row_h)
    if title:
        c.put(host, 0.1, 0.6, c.fit(c.clean(title), width - 0.2, c.SIZE + 1, "bold"),
              size=c.SIZE + 1, weight="bold")
    right = plot_l + plot_w
    cols = ((0.1, "Treatment (against " + c.clean(ref) + ")", 2.4), (right + 0.1,
            "Effect [95% CI]", 1.6), (right + 1.75, "P-score", 0.6), (right + 2.4,
                                                                      "Confidence", 1.0))
    for x, text, w in cols:
        c.put(host, x, top - 1.0, c.fit(text, w, c.SIZE, "bold"), weight="bold")
    for r, name in enumerate(order):
        cells = (c.fit(c.clean(name), 2.4), _fmt_effect(est[name], ratio),
                 f"{result.ranking[name]['p_score']:.2f}",
                 LEVEL_WORDS.get(level.get((name, ref)) or "", "-"))
        for (x, _, _), text in zip(cols, cells, strict=True):
            c.put(host, x, top + r, text)
    note = (f"{'Random' if fit.random else 'Common'} effect{'s' if fit.random else ''} "
            f"({fit.method}); {len(fit.data.studies)} studies"
            + (f"; tau² = {fit.tau2:.3g}" if fit.random else "")
            + ("; dashed: 95% prediction interval" if fit.random and prediction_interval else "")
            + f". P-score: {'lower' if result.small_values == 'desirable' else 'higher'} "
              "values better.")
    c.put(host, 0.1, n_rows - 0.4, note, size=c.SMALL, color=c.GREY)
    if favours:
        c.put(host, plot_l + 0.05, n_rows - 1.1, "\u2190 " + c.fit(c.clean(favours[0]), 1.3,
                                                                   c.SMALL), size=c.SMALL,
              color=c.GREY)
        c.put(host, right - 0.05, n_rows - 1.1, c.fit(c.clean(favours[1]), 1.3, c.SMALL)
              + " \u2192", size=c.SMALL, color=c.GREY, ha="right")
    return fig


def _add_cell(ax: Any, patch: Any) -> None:
    """A cell of the league table on ``ax``, whose limits are set before any cell is added:
    :meth:`Axes.add_artist` does what :meth:`Axes.add_patch` does (properties, clip path) except
    widening the data limits, which no longer move the view and cost most of the time."""
    ax.add_artist(patch)


def _league_cell(ax: Any, result: NmaResult, i: int, j: int, a: str, b: str,
                 level: Mapping[tuple[str, str], str], ratio: bool, cell_w: float) -> None:
    """One cell: the diagonal names the treatment; lower left the network estimate (coloured by
    confidence), upper right the direct estimate (– none); row against column."""
    from matplotlib.patches import Rectangle

    from trialsynth.render.figures import _common as c

    fit = result.fit
    if i == j:
        _add_cell(ax, Rectangle((j, i), 1, 1, facecolor="#e8e8e8", edgecolor="white", lw=1.5))
        lines = _wrap(c.clean(a), cell_w - 0.12, c.SMALL)[:3]
        for r, line in enumerate(lines):
            c.put(ax, j + 0.5, i + 0.42 + (r - (len(lines) - 1) / 2) * 0.24, line, size=c.SMALL,
                  weight="bold", ha="center")
        c.put(ax, j + 0.5, i + 0.86, f"P-score {result.ranking[a]['p_score']:.2f}",
              size=c.SMALL - 1, color=c.GREY, ha="center")
        return
    ia, ib = fit.treatments.index(a), fit.treatments.index(b)
    x: Mapping[str, Any] | None = fit.interval(ia, ib) if i > j else _direct(result, ia, ib)
    colour = LEVEL_COLOURS.get(level.get((a, b)) or "", "white") if i > j else "#f4f4f4"
    _add_cell(ax, Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white", lw=1.5))
    if x is None:
        c.put(ax, j + 0.5, i + 0.5, "\u2013", size=c.SIZE, color=c.GREY, ha="center")
        return
    e, lo, hi = (math.exp(x[k]) if ratio else x[k] for k in ("estimate", "ci_low", "ci_high"))
    c.put(ax, j + 0.5, i + 0.36, c.num(e), size=c.SIZE, weight="bold" if i > j else "normal",
          ha="center")
    c.put(ax, j + 0.5, i + 0.66, f"[{c.num(lo)}, {c.num(hi)}]", size=c.SMALL - 0.5, ha="center")


def league_figure(result: NmaResult, *, title: str | None = None, order: Sequence[str] | None = None
                  ) -> Figure:
    """League table, row treatment against column treatment: network estimates in the lower
    left coloured by the confidence in them, direct estimates in the upper right, treatments
    and their P-scores on the diagonal (ordered by P-score unless ``order`` is given)."""
    from matplotlib.patches import Rectangle

    from trialsynth.render.figures import _common as c

    fit = result.fit
    ratio = fit.data.measure in RATIO
    names = list(order or sorted(fit.treatments, key=lambda n: -result.ranking[n]["p_score"]))
    t, level = len(names), _level_of(result)
    cell_w, cell_h = 1.45, 0.62
    width, head = t * cell_w + 0.2, 0.9 if title else 0.45
    height = t * cell_h + head + 0.55
    fig = c.new_figure(width, height)
    ax = fig.add_axes((0.1 / width, 0.55 / height, t * cell_w / width, t * cell_h / height))
    ax.set_axis_off()
    ax.set_xlim(0, t)
    ax.set_ylim(t, 0)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            _league_cell(ax, result, i, j, a, b, level, ratio, cell_w)
    if title:
        c.put(ax, 0.1 / width, 1 - 0.3 / height, c.fit(c.clean(title), width - 0.2, c.SIZE + 1,
                                                         "bold"),
              size=c.SIZE + 1, weight="bold", transform=fig.transFigure)
    c.put(ax, 0.1 / width, 1 - (head - 0.18) / height, c.fit(
        f"Row against column ({'ratio' if ratio else 'difference'}, 95% CI). Lower left: network "
        "estimates, coloured by confidence (CINeMA); upper right: direct evidence only (\u2013 "
        "none)", width - 0.2, c.SMALL), size=c.SMALL, color=c.GREY, transform=fig.transFigure)
    x = 0.1
    for key, word in LEVEL_WORDS.items():
        ax.add_patch(Rectangle((x / width, 0.12 / height), 0.18 / width, 0.22 / height,
                               facecolor=LEVEL_COLOURS[key], edgecolor=c.RULE, lw=0.5,
                               transform=fig.transFigure, clip_on=False))
        c.put(ax, (x + 0.24) / width, 0.23 / height, word, size=c.SMALL, transform=fig.transFigure)
        x += 0.3 + c.text_width(word, c.SMALL) + 0.25
    return fig


def _direct(result: NmaResult, i: int, j: int) -> dict[str, float] | None:
    """The pooled direct estimate of treatment i against j (None without direct evidence)."""
    con = result.contributions
    e = (min(i, j), max(i, j))
    if e not in con.edges:
        return None
    k = con.edges.index(e)
    y, se = float(con.direct[k]), float(con.direct_se[k])
    y = y if i == e[0] else -y
    return {"estimate": y, "ci_low": y - 1.959964 * se, "ci_high": y + 1.959964 * se}


def _split_rows(result: NmaResult) -> list[dict[str, Any]]:
    """Heading, direct, indirect and network rows of every split comparison."""
    fit, rows = result.fit, []
    for s in result.node_splits:
        net = fit.interval(fit.treatments.index(s.treatment), fit.treatments.index(s.comparator))
        rows.append({"label": f"{s.treatment} vs {s.comparator}", "p": f"p = {s.pvalue:.3f}"})
        for label, e, se in (("Direct", s.direct, s.direct_se),
                             ("Indirect", s.indirect, s.indirect_se)):
            lo, hi = s.ci(e, se)
            rows.append({"label": label, "estimate": e, "ci_low": lo, "ci_high": hi,
                         "colour": "#6b6b6b", "marker": "s"})
        rows.append({"label": "Network", "estimate": net["estimate"], "ci_low": net["ci_low"],
                     "ci_high": net["ci_high"], "colour": "#1a1a1a", "bold": True})
    return rows


def inconsistency_plot(result: NmaResult, *, title: str | None = None) -> Figure:
    """Node splitting: direct, indirect and network estimate of every split comparison with
    95% CIs and the p-value of the difference; the design-by-treatment test underneath."""
    from trialsynth.render.figures import _common as c

    ratio = result.fit.data.measure in RATIO
    rows = _split_rows(result)
    dbt = result.design_by_treatment
    row_h, width, plot_l, plot_w = 0.27, 8.0, 2.9, 3.0
    top = 1.6 + (1 if title else 0)
    n_rows = top + max(len(rows), 1) - 0.5 + 2.2
    fig = c.new_figure(width, n_rows * row_h)
    host = c.Host(fig, width, n_rows, row_h)
    if title:
        c.put(host, 0.1, 0.6, c.fit(c.clean(title), width - 0.2, c.SIZE + 1, "bold"),
              size=c.SIZE + 1, weight="bold")
    if rows:
        _interval_axes(fig, (plot_l / width, 1 - (top + len(rows) - 0.5) / n_rows,
                             plot_w / width, len(rows) / n_rows), rows, ratio)
        c.put(host, 0.1, top - 1.1, "Comparison (node splitting)", weight="bold")
        c.put(host, plot_l + plot_w + 0.15, top - 1.1, "Estimate [95% CI]", weight="bold")
        for r, row in enumerate(rows):
            head = row.get("estimate") is None
            c.put(host, 0.1 if head else 0.35, top + r, c.fit(c.clean(row["label"]), plot_l - 0.4),
                  weight="bold" if head else "normal")
            c.put(host, plot_l + plot_w + 0.15, top + r, row["p"] if head else
                  _fmt_effect(row, ratio), weight="bold" if head else "normal")
    else:
        c.put(host, 0.1, top, "No comparison can be split: no comparison has both direct and "
              "indirect evidence.", color=c.GREY, style="italic")
    text = ("Design-by-treatment interaction: no closed loop, not testable" if dbt.q is None else
            f"Design-by-treatment interaction (Higgins 2012): Q = {dbt.q:.2f}, df = {dbt.df}, "
            f"{c.pvalue(dbt.pvalue)}")
    c.put(host, 0.1, n_rows - 0.45, text, size=c.SMALL, color=c.GREY)
    return fig
