"""The TSA figure: cumulative Z-curve, monitoring and futility boundaries, required information.

Drawn as the TSA program and Wetterslev et al. 2008 (J Clin Epidemiol 61:64, Fig 1) show it: the
x axis runs to the required information size, so a meta-analysis far from it is seen to be far
from it. Beyond the last trial the monitoring boundary is projected (dashed) as it would be with
looks every twentieth of the required information: where a future trial would have to bring the
Z-curve.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from scipy.special import ndtri

from trialsynth.sequential.boundaries import efficacy_boundaries
from trialsynth.sequential.tsa import TsaSummary

Y_LIMIT = 8.0  # boundaries above this are outside the plot
PROJECTION_STEPS = 20


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


def plot_tsa(tsa: TsaSummary, *, title: str | None = None, width: float = 7.0,
             height: float = 5.0) -> Figure:
    """A matplotlib Figure of the trial sequential analysis (no pyplot, no global state)."""
    from trialsynth.report.figures import _common as c

    fig = c.new_figure(width, height)
    ax = fig.add_axes((0.75 / width, 1.65 / height, (width - 0.95) / width,
                       (height - 2.08) / height))
    small, size = c.fontprops(c.SMALL), c.fontprops(c.SIZE)
    info = np.array([0.0] + [p.information for p in tsa.z_curve])
    z = np.array([0.0] + [p.z for p in tsa.z_curve])

    def inside(values: list[float | None]) -> np.ndarray:
        out = np.array([np.nan if v is None else v for v in values], dtype=float)
        return np.where(out <= Y_LIMIT, out, np.nan)

    upper = np.concatenate([[np.nan], inside([p.upper for p in tsa.z_curve])])
    fut = np.concatenate([[np.nan], inside([p.futility for p in tsa.z_curve])])
    z_conv = float(-ndtri(tsa.alpha / 2))
    x_max = max(float(info[-1]), tsa.required) * 1.06
    ax.axhline(0, color=c.RULE, linewidth=0.8)
    projected = _projected(tsa)
    for sign in (1, -1):
        ax.axhline(sign * z_conv, color=c.GREY, linestyle=(0, (4, 2)), linewidth=0.9,
                   label=f"conventional boundary (Z = {z_conv:.2f})" if sign == 1 else None)
        ax.plot(info, sign * upper, color="#b2182b", linewidth=1.6, marker="o", markersize=3,
                label="monitoring boundary (Lan-DeMets O'Brien-Fleming)" if sign == 1 else None)
        if projected is not None:
            px, pb = projected
            pb = np.where(pb <= Y_LIMIT, pb, np.nan)
            ax.plot(px, sign * pb, color="#b2182b", linewidth=1.0, linestyle=(0, (3, 2)),
                    label="monitoring boundary, projected to the RIS" if sign == 1 else None)
        if np.isfinite(fut).any():
            ax.plot(info, sign * fut, color="#2166ac", linewidth=1.2, marker="o", markersize=3,
                    label="futility boundary" if sign == 1 else None)
    ax.plot(info, np.clip(z, -Y_LIMIT, Y_LIMIT), color=c.INK, linewidth=2.0, marker="s",
            markersize=4, label="cumulative Z-curve")
    ax.axvline(tsa.required, color="#4d9221", linewidth=1.2,
               label=f"required information size ({tsa.heterogeneity}-adjusted)")
    ax.set_xlim(0, x_max)
    ax.set_ylim(-Y_LIMIT, Y_LIMIT)
    ax.set_xlabel("Cumulative number of participants", fontproperties=size, color=c.INK)
    ax.set_ylabel("Cumulative Z", fontproperties=size, color=c.INK)
    # tick labels styled lazily (asking for them builds every tick: most of the figure's cost)
    ax.tick_params(labelsize=c.SMALL, labelfontfamily=c.FAMILY[0], labelcolor=c.INK)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or f"Trial sequential analysis ({tsa.measure}, {tsa.method})",
                 fontproperties=c.fontprops(c.SIZE + 1, "bold"), loc="left", color=c.INK)
    share = tsa.accrued / tsa.required if tsa.required > 0 else math.nan
    note = (f"Accrued {tsa.accrued:,.0f} of {math.ceil(tsa.required):,} required participants"
            + (f" ({share:.0%})" if math.isfinite(share) else ""))
    ax.text(0.5, 0.35 / height, note, transform=fig.transFigure, ha="center", va="center",
            fontproperties=small, color=c.INK)
    legend = ax.legend(loc="lower center", bbox_to_anchor=(0.5, 0.62 / height),
                       bbox_transform=fig.transFigure, ncols=2, frameon=False,
                       prop=c.fontprops(c.SMALL), handlelength=2.2, columnspacing=1.5)
    for text in legend.get_texts():
        text.set_parse_math(False)
    return fig
