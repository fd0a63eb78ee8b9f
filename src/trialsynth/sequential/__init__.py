"""Required information size, trial sequential analysis (TSA) and next-trial sizing.

``tsa_summary(result, mid=..., control_risk=...)`` for one pooled analysis; the kernels are in
:mod:`~trialsynth.sequential.ris` and :mod:`~trialsynth.sequential.boundaries`; the figure is
:func:`plot_tsa` (imported lazily: matplotlib loads only when a figure is drawn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialsynth.sequential.boundaries import (
    Boundaries,
    efficacy_boundaries,
    futility_boundaries,
    obf_spending,
)
from trialsynth.sequential.ris import adjusted, diversity, ris_binary, ris_continuous
from trialsynth.sequential.tsa import NextTrial, TsaSummary, ZPoint, next_trial, tsa_summary

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_tsa(tsa: TsaSummary, **kwargs: Any) -> Figure:
    """The TSA figure (see :func:`trialsynth.sequential.plot.plot_tsa`)."""
    from trialsynth.sequential.plot import plot_tsa as _plot

    return _plot(tsa, **kwargs)


__all__ = ["Boundaries", "NextTrial", "TsaSummary", "ZPoint", "adjusted", "diversity",
           "efficacy_boundaries", "futility_boundaries", "next_trial", "obf_spending", "plot_tsa",
           "ris_binary", "ris_continuous", "tsa_summary"]
