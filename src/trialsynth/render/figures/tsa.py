"""The TSA figure: cumulative Z-curve, monitoring and futility boundaries, required information.

Drawn as the TSA program and Wetterslev et al. 2008 (J Clin Epidemiol 61:64, Fig 1) show it: the
x axis runs to the required information size, so a meta-analysis far from it is seen to be far
from it. Beyond the last trial the monitoring boundary is projected (dashed) as it would be with
looks every twentieth of the required information: where a future trial would have to bring the
Z-curve.

Drawn on the report's table host (:class:`trialsynth.render.figures._common.Host`, inches from
the top left) rather than a matplotlib Axes: an Axes with its ticks costs several times more than
everything else in the figure, and the report draws one TSA figure per main analysis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy.special import ndtri

from trialsynth.assess.sequential.boundaries import efficacy_boundaries
from trialsynth.assess.sequential.tsa import TsaSummary

Y_LIMIT = 8.0  # boundaries above this are outside the plot
PROJECTION_STEPS = 20
RED, BLUE, GREEN = "#b2182b", "#2166ac", "#4d9221"
DASHED, DOTTED = (0, (4, 2)), (0, (3, 2))


def _projected(tsa: TsaSummary) -> tuple[np.ndarray, np.ndarray] | None:
    """(participants, boundary) from the last look to the required information size."""
    frac = np.array([p.fraction for p in tsa.z_curve])
    if frac.size == 0 or frac[-1] >= 1 or not np.all(np.diff(frac) > 0) or frac[0] <= 0:
        return None
    grid = np.linspace(0, 1, PROJECTION_STEPS + 1)[1:]
    ahead = grid[grid > frac[-1] * (1 + 1e-9)]
    t = np.concatenate([frac, ahead])
    upper = efficacy_boundaries(t, tsa.alpha, sides=2).upper[frac.size - 1:]
    return t[frac.size - 1:] * tsa.required, upper


def _runs(xs: Sequence[float], ys: Sequence[float]) -> list[list[tuple[float, float]]]:
    """Polylines through the finite points, broken where a value is missing."""
    out: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if math.isfinite(x) and math.isfinite(y):
            out[-1].append((x, y))
        elif out[-1]:
            out.append([])
    return [r for r in out if len(r) > 1]


def _ticks(x_max: float) -> list[float]:
    """About six round ticks from 0 to ``x_max`` (1, 2, 2.5 or 5 times a power of ten)."""
    raw = x_max / 6 if x_max > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(x_max / step) + 1)]


def plot_tsa(tsa: TsaSummary, *, title: str | None = None, width: float = 7.0,
             height: float = 5.0) -> Figure:
    """A matplotlib Figure of the trial sequential analysis (no pyplot, no global state)."""
    from trialsynth.render.figures import _common as c

    fig, host = c.host_for(None, width, height, 1.0)  # x and y in inches from the top left
    left, right, top, bottom = 0.75, width - 0.25, 0.6, height - 1.65
    info = [0.0] + [p.information for p in tsa.z_curve]
    z = [0.0] + [p.z for p in tsa.z_curve]
    x_max = max(info[-1], tsa.required) * 1.06 or 1.0

    def px(v: float) -> float:
        return left + (right - left) * v / x_max

    def py(v: float) -> float:
        return top + (bottom - top) * (Y_LIMIT - v) / (2 * Y_LIMIT)

    def inside(v: float | None) -> float:
        return math.nan if v is None or v > Y_LIMIT else v

    def curve(xs: Sequence[float], ys: Sequence[float], colour: str, lw: float,
              style: object = "solid", marker: str | None = None, size: float = 9.0) -> None:
        host.lines([[(px(x), py(y)) for x, y in run] for run in _runs(xs, ys)], lw, colour,
                   linestyles=[style])
        if marker is not None:
            pts = [(px(x), py(y)) for x, y in zip(xs, ys, strict=True)
                   if math.isfinite(x) and math.isfinite(y)]
            host.markers([p[0] for p in pts], [p[1] for p in pts], marker, size, colour)

    # frame, ticks and labels
    host.lines([[(left, top), (left, bottom), (right, bottom)]], 0.8, c.INK)
    ticks = []
    for v in range(-int(Y_LIMIT), int(Y_LIMIT) + 1, 2):
        ticks.append([(left - 0.05, py(v)), (left, py(v))])
        c.put(host, left - 0.09, py(v), c.minus(f"{v:g}"), size=c.SMALL, ha="right")
    for v in _ticks(x_max):
        ticks.append([(px(v), bottom), (px(v), bottom + 0.05)])
        c.put(host, px(v), bottom + 0.17, f"{v:,.0f}", size=c.SMALL, ha="center")
    host.lines(ticks, 0.8, c.INK)
    c.put(host, (left + right) / 2, bottom + 0.42, "Cumulative number of participants",
          ha="center")
    c.put(host, 0.2, (top + bottom) / 2, "Cumulative Z", ha="center", rotation=90)
    c.put(host, 0.15, 0.3, c.fit(c.clean(title or f"Trial sequential analysis ({tsa.measure}, "
                                                  f"{tsa.method})"), width - 0.3, c.SIZE + 1,
                                 "bold"),
          size=c.SIZE + 1, weight="bold")

    # reference lines, boundaries, the Z-curve, the required information size
    z_conv = float(-ndtri(tsa.alpha / 2))
    host.lines([[(left, py(0)), (right, py(0))]], 0.8, c.RULE)
    host.lines([[(left, py(s * z_conv)), (right, py(s * z_conv))] for s in (1, -1)], 0.9,
               c.GREY, linestyles=[DASHED])
    upper = [math.nan] + [inside(p.upper) for p in tsa.z_curve]
    fut = [math.nan] + [inside(p.futility) for p in tsa.z_curve]
    projected = _projected(tsa)
    for s in (1, -1):
        curve(info, [s * u for u in upper], RED, 1.6, marker="o")
        if projected is not None:
            curve(list(projected[0]), [s * (b if b <= Y_LIMIT else math.nan)
                                       for b in projected[1]], RED, 1.0, DOTTED)
        if any(math.isfinite(f) for f in fut):
            curve(info, [s * f for f in fut], BLUE, 1.2, marker="o")
    curve(info, [max(-Y_LIMIT, min(Y_LIMIT, v)) for v in z], c.INK, 2.0, marker="s", size=16.0)
    host.lines([[(px(tsa.required), top), (px(tsa.required), bottom)]], 1.2, GREEN)

    # legend (two columns) and the accrued-information note
    entries: list[tuple[str, str, float, object, str | None]] = [
        (f"conventional boundary (Z = {z_conv:.2f})", c.GREY, 0.9, DASHED, None),
        ("monitoring boundary (Lan-DeMets O'Brien-Fleming)", RED, 1.6, "solid", "o")]
    if projected is not None:
        entries.append(("monitoring boundary, projected to the RIS", RED, 1.0, DOTTED, None))
    if any(math.isfinite(f) for f in fut):
        entries.append(("futility boundary", BLUE, 1.2, "solid", "o"))
    entries += [("cumulative Z-curve", c.INK, 2.0, "solid", "s"),
                (f"required information size ({tsa.heterogeneity}-adjusted)", GREEN, 1.2,
                 "solid", None)]
    rows = math.ceil(len(entries) / 2)
    column = (right - left) * 0.56  # the first column's texts are the longer
    for i, (text, colour, lw, style, marker) in enumerate(entries):
        x = left + (i // rows) * column
        y = bottom + 0.72 + (i % rows) * 0.2
        host.lines([[(x, y), (x + 0.35, y)]], lw, colour, linestyles=[style])
        if marker is not None:
            host.markers([x + 0.175], [y], marker, 9.0, colour)
        c.put(host, x + 0.45, y, c.fit(text, (column if i < rows else right - left - column) - 0.55,
                                        c.SMALL), size=c.SMALL)
    share = tsa.accrued / tsa.required if tsa.required > 0 else math.nan
    c.put(host, width / 2, height - 0.3,
          f"Accrued {tsa.accrued:,.0f} of {math.ceil(tsa.required):,} required participants"
          + (f" ({share:.0%})" if math.isfinite(share) else ""), size=c.SMALL, ha="center")
    return fig
