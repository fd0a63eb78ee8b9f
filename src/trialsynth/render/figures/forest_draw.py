"""Layout and drawing of a forest plot from the rows and columns built by :mod:`.forest`.

Coordinates: the host axes measure x in inches from the figure's left edge and y in rows from its
top (one row = :data:`~.forest.ROW_H` inches); the plot is an inset axes over the plot columns with
x on the analysis scale (log for ratios) and the same rows on y.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from matplotlib.patches import Polygon, Rectangle

from trialsynth.registry import MEASURES
from trialsynth.render.figures import _common as c
from trialsynth.render.figures.forest_layout import (
    GAP,
    PLOT_W,
    RATIO,
    ROW_H,
    SQUARE_COLOURS,
    STUDY_MAX,
    ForestLabels,
)
from trialsynth.render.figures.forest_layout import Column as _Col
from trialsynth.render.figures.forest_layout import Row as _Row
from trialsynth.render.figures.rob import LEVELS, RobColumns, legend_key, rob_dots

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from trialsynth.pooling.result import PooledResult

MARGIN = 0.15
DIAMOND = "#1a1a1a"
PI_COLOUR = "#a50f15"
LINE = c.INK
ROB_SIZE = c.SMALL


def _bold(row: _Row) -> str:
    return "bold" if row.bold else "normal"


def _column_widths(cols: list[_Col], rows: list[_Row]) -> None:
    for col in cols:
        texts = [(col.header, "bold")]
        for row in rows:
            if col.key == "study" and row.kind in ("study", "summary", "events", "pi"):
                texts.append((row.label, _bold(row)))
            elif col.key in row.cells:
                texts.append((row.cells[col.key], _bold(row)))
        width = max(c.text_width(t, c.SIZE, w) for t, w in texts)
        if col.group and col.key == "effect":
            width = max(width, c.text_width(col.group, c.SIZE, "bold"))
        col.width = min(width, STUDY_MAX) if col.key == "study" else width
    groups = {col.group for col in cols if col.group and col.key != "effect"}
    for group in groups:  # arm names span their columns; widen them a little if need be
        members = [col for col in cols if col.group == group and col.key != "effect"]
        span = sum(col.width for col in members) + GAP * (len(members) - 1)
        need = min(c.text_width(group, c.SIZE, "bold"), 2.2)
        for col in members:
            col.width += max(0.0, need - span) / len(members)


def _place(cols: list[_Col], rows: list[_Row]) -> float:
    """Set column x positions; return the width of the table block (inches)."""
    x = MARGIN
    for col in cols:
        col.x = x
        x += col.width + GAP
    block = x - GAP - MARGIN
    notes = [c.text_width(row.label, weight=_bold(row)) for row in rows if row.kind == "note"]
    extra = max(notes, default=0.0) - block
    if extra > 0:  # RevMan keeps heterogeneity lines under the table: widen the study column
        cols[0].width += extra
        for col in cols[1:]:
            col.x += extra
        block += extra
    return block


def _header(host: c.Host, cols: list[_Col], y: float) -> None:
    groups: dict[str, list[_Col]] = {}
    for col in cols:
        if col.group:
            groups.setdefault(col.group, []).append(col)
    for group, members in groups.items():
        left, right = members[0].x, members[-1].x + members[-1].width
        c.put(host, (left + right) / 2, y, c.fit(group, right - left + GAP, weight="bold"),
              weight="bold", ha="center")
    for col in cols:
        text = c.fit(col.header, col.width + GAP, weight="bold")
        if col.align == "left":
            c.put(host, col.x, y + 1, text, weight="bold")
        elif col.align == "center":
            c.put(host, col.x + col.width / 2, y + 1, text, weight="bold", ha="center")
        else:
            c.put(host, col.x + col.width, y + 1, text, weight="bold", ha="right")


def _table(host: c.Host, cols: list[_Col], rows: list[_Row], block: float) -> None:
    study = cols[0]
    for row in rows:
        weight = _bold(row)
        if row.kind in ("group", "note"):
            c.put(host, study.x, row.y, c.fit(row.label, block, weight=weight), weight=weight,
                  style=row.style, color=c.GREY if row.style == "italic" else c.INK)
            continue
        if row.label:
            c.put(host, study.x, row.y, c.fit(row.label, study.width, weight=weight),
                  weight=weight)
        for col in cols[1:]:
            text = row.cells.get(col.key, "")
            if not text:
                continue
            if col.align == "center" and col.key == "effect":
                c.put(host, col.x + col.width, row.y, text, weight=weight, ha="right")
            else:
                c.put(host, col.x + col.width, row.y, c.fit(text, col.width + GAP, weight=weight),
                      weight=weight, ha="right")


def _marks(host: c.Host, rows: list[_Row], scale: _Scale, colour: str,
           lines: list[tuple[list[tuple[float, float]], float]]) -> None:
    """Squares, CI lines (into ``lines``), diamonds, prediction-interval bars and arrows."""
    lo, hi, x_of = scale.lo, scale.hi, scale.x
    weights = [row.mark[4] for row in rows if row.mark and row.mark[0] == "study"]
    wmax = max(weights, default=0.0) or 1.0
    row_pt = ROW_H * 72
    xs, ys, sizes, arrows = [], [], [], {"<": ([], []), ">": ([], [])}

    def clip(a: float, b: float, y: float) -> tuple[float, float]:
        if a < lo:
            arrows["<"][0].append(x_of(lo))
            arrows["<"][1].append(y)
        if b > hi:
            arrows[">"][0].append(x_of(hi))
            arrows[">"][1].append(y)
        return x_of(max(a, lo)), x_of(min(b, hi))

    for row in rows:
        if row.mark is None:
            continue
        kind, y = row.mark[0], row.y
        if kind == "study":
            _, yi, ci_lo, ci_hi, weight = row.mark
            left, right = clip(ci_lo, ci_hi, y)
            lines.append(([(left, y), (right, y)], 0.8))
            if lo <= yi <= hi:
                side = max(3.0, 0.95 * row_pt * math.sqrt(max(weight, 0.0) / wmax))
                xs.append(x_of(yi))
                ys.append(y)
                sizes.append(side ** 2)
        elif kind == "diamond":
            _, est, d_lo, d_hi = row.mark
            left, right = clip(d_lo, d_hi, y)
            mid = x_of(min(max(est, lo), hi))
            host.add(Polygon([(left, y), (mid, y - 0.36), (right, y), (mid, y + 0.36)],
                                   closed=True, facecolor=DIAMOND, edgecolor=DIAMOND,
                                   linewidth=0.5, zorder=3))
        elif kind == "pi":
            _, p_lo, p_hi = row.mark
            left, right = clip(p_lo, p_hi, y)
            host.add(Rectangle((left, y - 0.13), right - left, 0.26, facecolor=PI_COLOUR,
                                     edgecolor="none", zorder=3))
    host.markers(xs, ys, "s", sizes, colour)
    for marker, (ax_x, ax_y) in arrows.items():
        host.markers(ax_x, ax_y, marker, 16.0, LINE)


def _axis(host: c.Host, scale: _Scale, axis_y: float, top: float, labels: ForestLabels,
          lines: list[tuple[list[tuple[float, float]], float]]) -> None:
    """Null line, axis, ticks and "Favours" labels."""
    lo, hi, x_of = scale.lo, scale.hi, scale.x
    if lo < 0 < hi:
        lines.append(([(x_of(0.0), top), (x_of(0.0), axis_y)], 0.7))
    lines.append(([(x_of(lo), axis_y), (x_of(hi), axis_y)], 0.7))
    for t in scale.ticks:
        v = math.log(t) if scale.ratio else t
        if not lo - 1e-9 <= v <= hi + 1e-9:
            continue
        lines.append(([(x_of(v), axis_y), (x_of(v), axis_y + 0.3)], 0.7))
        text = f"{t:g}" if scale.ratio else c.compact(t, 3)
        c.put(host, x_of(v), axis_y + 0.85, text, size=c.SMALL, ha="center")
    px0 = x_of(lo)
    null = x_of(0.0) if lo < 0 < hi else px0 + PLOT_W / 2
    left, right = (c.clean(t) for t in labels.favours())
    room = (null - px0 - 0.05, px0 + PLOT_W - null - 0.05)
    for text, x, ha, width in ((left, null - 0.05, "right", room[0]),
                               (right, null + 0.05, "left", room[1])):
        for k, line in enumerate(_wrap(text, width)):
            c.put(host, x, axis_y + 1.9 + 0.85 * k, line, size=c.SMALL, ha=ha)


@dataclass(frozen=True, slots=True)
class _Scale:
    """The plot's x scale: analysis-scale limits, display ticks, and where a value lands (in)."""

    lo: float
    hi: float
    ticks: list[float]
    ratio: bool
    x0: float

    def x(self, value: float) -> float:
        return self.x0 + (value - self.lo) / (self.hi - self.lo) * PLOT_W


def _wrap(text: str, width: float) -> list[str]:
    """One line if it fits; else "Favours" on the first line and the rest, cut, on the second."""
    if c.text_width(text, c.SMALL) <= width:
        return [text]
    head, _, tail = text.partition(" ")
    if tail and c.text_width(head, c.SMALL) <= width:
        return [head, c.fit(tail, width, c.SMALL)]
    return [c.fit(text, width, c.SMALL)]


def _rob_columns(host: c.Host, rows: list[_Row], rob: RobColumns, x0: float, header_y: float
                 ) -> float:
    widths = [max(0.22, c.text_width(h, ROB_SIZE, "bold") + 0.08) for h in rob.headers]
    xs = [x0 + sum(widths[:j]) + widths[j] / 2 for j in range(len(widths))]
    c.put(host, (x0 + x0 + sum(widths)) / 2, header_y, "Risk of Bias", weight="bold",
          ha="center")
    for x, h in zip(xs, rob.headers, strict=True):
        c.put(host, x, header_y + 1, h, size=ROB_SIZE, weight="bold", ha="center")
    dx, dy, dl = [], [], []
    for row in rows:
        if row.kind != "study" or row.rob is None:
            continue
        for x, key in zip(xs, rob.keys, strict=True):
            if key in row.rob:
                dx.append(x)
                dy.append(row.y)
                dl.append(row.rob[key])
    rob_dots(host, dx, dy, dl, 10.5)
    return x0 + sum(widths)


def _rob_legend(rob: RobColumns) -> list[_Row]:
    rows = [_Row("gap", height=0.4), _Row("note", "Risk of bias legend", bold=True)]
    for header, name in zip(rob.headers, rob.names, strict=True):
        if header != "Overall":
            rows.append(_Row("note", f"({header}) {c.clean(name)}"))
    rows.append(_Row("robkey"))
    return rows


def render(result: PooledResult, rows: list[_Row], cols: list[_Col], labels: ForestLabels,
           rob: RobColumns | None, kind: str | None, scale: tuple[float, float, list[float]],
           methods: str, ax: Axes | None) -> Figure:
    """Lay out ``rows`` and ``cols`` and draw them; return the figure."""
    tail: list[_Row] = _rob_legend(rob) if rob is not None else []
    if methods:
        tail += [_Row("gap", height=0.3), _Row("note", methods, style="italic")]
    _column_widths(cols, rows)
    block = _place(cols, rows)
    px0 = MARGIN + block + GAP + 0.1
    width = px0 + PLOT_W + MARGIN
    rob_x0 = width + 0.1
    if rob is not None:
        rob_w = sum(max(0.22, c.text_width(h, ROB_SIZE, "bold") + 0.08) for h in rob.headers)
        heading = c.text_width("Risk of Bias", weight="bold")
        rob_x0 += max(0.0, heading - rob_w) / 2
        width = rob_x0 + max(rob_w, heading) - max(0.0, heading - rob_w) / 2 + MARGIN
    y = 0.4
    title = c.clean(labels.title)
    title_y = y + 0.5
    if title:
        y += 1.5
    header_y = y + 0.5
    y += 2.5
    top = y
    for row in rows:
        row.y = y + row.height / 2
        y += row.height
    marked = [row.y for row in rows if row.mark is not None or row.kind == "summary"]
    axis_y = (max(marked) if marked else top) + 0.75
    y = max(y, axis_y + 3.2)  # legend and methods note go below the axis, full width
    for row in tail:
        row.y = y + row.height / 2
        y += row.height
    n_rows = y + 0.4
    fig, host = c.host_for(ax, width, n_rows, ROW_H)
    if title:
        c.put(host, MARGIN, title_y, c.fit(title, width - 2 * MARGIN, c.SIZE + 1.5, "bold"),
              size=c.SIZE + 1.5, weight="bold")
    _header(host, cols, header_y)
    effect = cols[-1]
    c.put(host, px0 + PLOT_W / 2, header_y, effect.group, weight="bold", ha="center")
    c.put(host, px0 + PLOT_W / 2, header_y + 1, effect.header, weight="bold", ha="center")
    _table(host, cols, rows, block)
    _table(host, cols, tail, width - 2 * MARGIN)
    lo, hi, ticks = scale
    plot_scale = _Scale(lo, hi, ticks, result.measure in RATIO, px0)
    colour = SQUARE_COLOURS.get(kind or _kind_of(result.measure), SQUARE_COLOURS["generic"])
    lines: list[tuple[list[tuple[float, float]], float]] = [
        ([(MARGIN, top - 0.3), (width - MARGIN, top - 0.3)], 0.8)]
    _marks(host, rows, plot_scale, colour, lines)
    _axis(host, plot_scale, axis_y, top - 0.2, labels, lines)
    host.lines([seg for seg, _ in lines], [lw for _, lw in lines])
    if rob is not None:
        _rob_columns(host, rows, rob, rob_x0, header_y)
        unassessed = any(row.rob is not None and any(v is None for v in row.rob.values())
                         for row in rows)
        for row in tail:
            if row.kind == "robkey":
                legend_key(host, MARGIN, row.y, rob, (*LEVELS, None) if unassessed else LEVELS,
                           c.SIZE)
    return fig


def _kind_of(measure: str) -> str:
    """The data type of ``measure`` (trialsynth.registry; unknown codes: generic)."""
    info = MEASURES.get(measure)
    return "generic" if info is None else info.data_type
