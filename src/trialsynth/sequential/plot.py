"""The TSA figure: cumulative Z-curve, monitoring and futility boundaries, required information."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from scipy.special import ndtri

from trialsynth.sequential.tsa import TsaSummary

Y_LIMIT = 8.0  # boundaries above this are drawn at the edge of the plot


def plot_tsa(tsa: TsaSummary, *, title: str | None = None, width: float = 7.0,
             height: float = 4.2) -> Figure:
    """A matplotlib Figure of the trial sequential analysis (no pyplot, no global state)."""
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot(1, 1, 1)
    info = np.array([0.0] + [p.information for p in tsa.z_curve])
    z = np.array([0.0] + [p.z for p in tsa.z_curve])
    upper = np.array([np.nan] + [np.nan if p.upper is None else min(p.upper, Y_LIMIT)
                                 for p in tsa.z_curve])
    fut = np.array([np.nan] + [np.nan if p.futility is None else p.futility for p in tsa.z_curve])
    z_conv = float(-ndtri(tsa.alpha / 2))
    x_max = max(float(info[-1]), tsa.required) * 1.08
    ax.axhline(0, color="0.6", linewidth=0.8)
    for sign in (1, -1):
        ax.axhline(sign * z_conv, color="0.45", linestyle="--", linewidth=0.9,
                   label="conventional boundary" if sign == 1 else None)
        ax.plot(info, sign * upper, color="#b2182b", linewidth=1.6, marker="o", markersize=3,
                label="monitoring boundary" if sign == 1 else None)
        if np.isfinite(fut).any():
            ax.plot(info, sign * fut, color="#2166ac", linewidth=1.2, marker="o", markersize=3,
                    label="futility boundary" if sign == 1 else None)
    ax.plot(info, np.clip(z, -Y_LIMIT, Y_LIMIT), color="black", linewidth=2.0, marker="s",
            markersize=4, label="cumulative Z")
    ax.axvline(tsa.required, color="#4d9221", linewidth=1.2,
               label=f"required information ({tsa.heterogeneity}-adjusted): "
                     f"{math.ceil(tsa.required)}")
    ax.set_xlim(0, x_max)
    ax.set_ylim(-Y_LIMIT, Y_LIMIT)
    ax.set_xlabel("cumulative number of participants")
    ax.set_ylabel("cumulative Z")
    ax.set_title(title or f"Trial sequential analysis ({tsa.measure}, {tsa.method})",
                 fontsize=10)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    fig.tight_layout()
    return fig
