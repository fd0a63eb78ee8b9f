"""Contour-enhanced funnel plot (Peters et al. 2008, J Clin Epidemiol 61:991-996).

Each study's effect (x; log scale for ratio measures, labelled as ratios) is plotted against its
standard error (y, inverted: the largest studies at the top). Shaded regions mark where a study's
own two-sided test against the null would give p > 0.10 (white), 0.05 < p <= 0.10, 0.01 < p <=
0.05 and p <= 0.01 (metafor's ``funnel(..., level = c(90, 95, 99), shade = c("white", "gray55",
"gray75"), back = "lightgray")``); a dashed line marks the pooled estimate. Missing studies in the
non-significant region suggest publication bias; in the significant regions, other causes.

Funnel plots are drawn only with at least :data:`MIN_STUDIES` studies (Cochrane Handbook 5.1
§10.4.3.1; Core GRADE 4): with fewer, :func:`funnel_plot` raises a ValueError whose message a
report can show as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from trialsynth._dist import norm_isf
from trialsynth.render.figures.forest import MEASURE_NAMES, RATIO

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from trialsynth.pooling.result import PooledResult

MIN_STUDIES = 10
FIG_W, FIG_H = 5.6, 4.2  # inches
# (upper p of the band, fill colour, legend label), inner to outer
BANDS = ((1.00, "#ffffff", "p > 0.10"), (0.10, "#8c8c8c", "0.05 < p ≤ 0.10"),
         (0.05, "#bfbfbf", "0.01 < p ≤ 0.05"), (0.01, "#d3d3d3", "p ≤ 0.01"))


def funnel_skip_reason(result: PooledResult, min_studies: int = MIN_STUDIES) -> str | None:
    """Why no funnel plot is drawn for ``result`` (None when one is drawn)."""
    k = len(_points(result))
    if k < min_studies:
        return (f"Funnel plot not drawn: {k} {'study' if k == 1 else 'studies'} with an effect "
                f"estimate, fewer than {min_studies} (Cochrane Handbook 5.1 §10.4.3.1: with fewer "
                "studies the test is too weak to tell asymmetry from chance).")
    return None


def _points(result: PooledResult) -> list[tuple[float, float]]:
    return [(s.yi, s.se) for s in result.studies
            if s.included and s.yi is not None and s.se is not None and math.isfinite(s.yi)
            and math.isfinite(s.se) and s.se > 0]


def funnel_plot(result: PooledResult, *, measure_label: str | None = None,
                title: str | None = None, min_studies: int = MIN_STUDIES,
                when_too_few: str = "raise", ax: Axes | None = None,
                filled: Sequence[tuple[float, float]] = (),
                filled_estimate: float | None = None) -> Figure:
    """Contour-enhanced funnel plot of the studies of ``result``.

    ``filled``: (yi, SE) of the studies trim-and-fill imputes (Duval & Tweedie 2000), drawn as
    open circles, and ``filled_estimate`` its adjusted pooled estimate, a dotted line.

    With fewer than ``min_studies`` studies with an effect and a positive SE, ``when_too_few``
    decides: ``"raise"`` a ValueError (its message says why), or ``"note"``: return a small
    figure that says why the plot was not drawn.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Polygon

    from trialsynth.render.figures import _common as c

    if when_too_few not in ("raise", "note"):
        raise ValueError(f"when_too_few must be 'raise' or 'note', not {when_too_few!r}")
    points = _points(result)
    reason = funnel_skip_reason(result, min_studies)
    if reason is not None:
        if when_too_few == "raise":
            raise ValueError(f"funnel plot skipped: fewer than {min_studies} studies "
                             f"(k = {len(points)}); funnel plots need at least {min_studies}")
        return _note_figure(reason, title, ax)
    ratio = result.measure in RATIO
    yi = [p[0] for p in points]
    se = [p[1] for p in points]
    filled = [(float(y), float(s)) for y, s in filled if math.isfinite(y) and math.isfinite(s)]
    se_max = max(se + [s for _, s in filled]) * 1.08
    z99 = float(norm_isf(0.005))
    half = max(max(abs(v) for v in yi + [y for y, _ in filled]) * 1.1, z99 * se_max * 0.75, 1e-9)
    if result.estimate is not None:
        half = max(half, abs(result.estimate) * 1.2,
                   abs(result.estimate) + float(norm_isf(0.025)) * se_max)  # pseudo-CI in view
    if ax is None:
        fig = c.new_figure(FIG_W, FIG_H)
        ax = fig.add_axes((0.75 / FIG_W, 1.05 / FIG_H, (FIG_W - 0.95) / FIG_W,
                           (FIG_H - 1.05 - (0.6 if title else 0.2)) / FIG_H))
    else:
        parent = ax.get_figure()
        fig = getattr(parent, "figure", None) or parent
    ax.set_facecolor(BANDS[-1][1])  # p <= 0.01 outside the widest contour
    for p, colour in ((0.01, BANDS[2][1]), (0.05, BANDS[1][1]), (0.10, BANDS[0][1])):
        z = float(norm_isf(p / 2))  # widest first, each drawn inside the last
        ax.add_patch(Polygon([(0, 0), (-z * se_max, se_max), (z * se_max, se_max)],
                             closed=True, facecolor=colour, edgecolor="none", zorder=0))
    if result.estimate is not None:
        ax.plot([result.estimate, result.estimate], [0, se_max], color=c.INK, lw=0.9,
                ls=(0, (4, 2)), zorder=2)
        z95 = float(norm_isf(0.025))  # pseudo 95% CI: estimate +/- 1.96 SE (Sterne & Egger 2001)
        ax.plot([result.estimate - z95 * se_max, result.estimate, result.estimate + z95 * se_max],
                [se_max, 0, se_max], color=c.GREY, lw=0.7, ls=(0, (1, 1.5)), zorder=2)
    ax.scatter(yi, se, s=22, c=c.INK, edgecolors="white", linewidths=0.5, zorder=3)
    if filled:
        ax.scatter([y for y, _ in filled], [s for _, s in filled], s=22, facecolors="white",
                   edgecolors=c.INK, linewidths=0.9, zorder=3)
    if filled_estimate is not None and math.isfinite(filled_estimate):
        ax.plot([filled_estimate, filled_estimate], [0, se_max], color=c.INK, lw=0.9,
                ls=(0, (1, 1.2)), zorder=2)
    ax.set_xlim(-half, half)
    ax.set_ylim(se_max, 0)
    _ticks(ax, ratio, half, se_max)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    name = c.clean(measure_label) or MEASURE_NAMES.get(result.measure, result.measure)
    xlabel = f"{name} (log scale)" if ratio else name
    ax.set_xlabel(xlabel, fontproperties=c.fontprops(c.SIZE), parse_math=False, color=c.INK)
    ax.set_ylabel("Standard error", fontproperties=c.fontprops(c.SIZE), parse_math=False,
                  color=c.INK)
    if title:
        c.put(ax, 0.15 / FIG_W, 1 - 0.3 / FIG_H, c.fit(c.clean(title), FIG_W - 0.3, c.SIZE + 1,
                                                      "bold"),
              size=c.SIZE + 1, weight="bold", transform=fig.transFigure)
    handles = [Patch(facecolor=colour, edgecolor=c.RULE, linewidth=0.5, label=label)
               for _, colour, label in BANDS]
    handles.append(Line2D([], [], color=c.INK, lw=0.9, ls=(0, (4, 2)),
                          label="Pooled estimate" + (f" ({result.method})" if result.method else "")))
    if result.estimate is not None:
        handles.append(Line2D([], [], color=c.GREY, lw=0.7, ls=(0, (1, 1.5)),
                              label="Pseudo 95% CI around it"))
    handles.append(Line2D([], [], marker="o", ls="none", color=c.INK, markersize=4.5,
                          label=f"Study (k = {len(points)})"))
    if filled:
        handles.append(Line2D([], [], marker="o", ls="none", markerfacecolor="white",
                              markeredgecolor=c.INK, markersize=4.5,
                              label=f"Filled by trim-and-fill ({len(filled)})"))
    if filled_estimate is not None and math.isfinite(filled_estimate):
        handles.append(Line2D([], [], color=c.INK, lw=0.9, ls=(0, (1, 1.2)),
                              label="Trim-and-fill estimate"))
    legend = ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.02),
                       bbox_transform=fig.transFigure,
                       ncols=3, frameon=False, prop=c.fontprops(c.SMALL), handlelength=1.6,
                       columnspacing=1.2)
    for text in legend.get_texts():
        text.set_parse_math(False)
    return fig


def _ticks(ax: Axes, ratio: bool, half: float, se_max: float) -> None:
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

    from trialsynth.render.figures import _common as cm

    if ratio:
        steps = [m * 10.0 ** e for e in range(-4, 5) for m in (1, 2, 5)]
        ticks = [t for t in steps if abs(math.log(t)) <= half * 1.0001]
        if len(ticks) > 9:  # decades only
            ticks = [t for t in ticks if math.log10(t) % 1 == 0]
        xs = [math.log(t) for t in ticks]
        labels = [f"{t:g}" for t in ticks]
    else:
        xs = [float(v) for v in MaxNLocator(7, symmetric=True).tick_values(-half, half)
              if abs(v) <= half * 1.0001]
        labels = [cm.compact(v, 3) for v in xs]
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.set_xticklabels(labels)
    ys = [float(v) for v in MaxNLocator(5).tick_values(0, se_max) if 0 <= v <= se_max]
    ax.yaxis.set_major_locator(FixedLocator(ys))
    ax.set_yticklabels([cm.compact(v, 3) for v in ys])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.tick_params(labelsize=cm.SMALL, labelfontfamily=cm.FAMILY[0], colors=cm.INK, width=0.6,
                   length=3)
    for label in (*ax.get_xticklabels(), *ax.get_yticklabels()):
        label.set_parse_math(False)


def _note_figure(reason: str, title: str | None, ax: Axes | None) -> Figure:
    """A small figure in place of a funnel plot, saying why there is none."""
    from trialsynth.render.figures import _common as c

    width = FIG_W
    lines = [c.clean(title)] if title else []
    words, line = reason.split(" "), ""
    wrapped = []
    for word in words:  # wrap to the figure width
        trial = (line + " " + word).strip()
        if line and c.text_width(trial, c.SIZE) > width - 0.4:
            wrapped.append(line)
            line = word
        else:
            line = trial
    wrapped.append(line)
    fig, host = c.host_for(ax, width, len(lines) + len(wrapped) + 1.0, 0.22)
    y = 0.7
    for text in lines:
        c.put(host, 0.2, y, c.fit(text, width - 0.4, c.SIZE + 1, "bold"), size=c.SIZE + 1,
              weight="bold")
        y += 1.0
    for text in wrapped:
        c.put(host, 0.2, y, text, color=c.GREY, style="italic")
        y += 1.0
    return fig
