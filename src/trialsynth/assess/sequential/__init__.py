"""Required information size, trial sequential analysis (TSA) and next-trial sizing.

``tsa_summary(result, mid=..., control_risk=...)`` for one pooled analysis; the kernels are in
:mod:`~trialsynth.assess.sequential.ris` and :mod:`~trialsynth.assess.sequential.boundaries`; the figure is
:func:`trialsynth.render.figures.tsa.plot_tsa` (the render stage).
"""

from __future__ import annotations

from typing import Any

from trialsynth.assess.sequential.boundaries import (
    Boundaries,
    efficacy_boundaries,
    futility_boundaries,
    obf_spending,
)
from trialsynth.assess.sequential.ris import adjusted, diversity, ris_binary, ris_continuous
from trialsynth.assess.sequential.tsa import NextTrial, TsaSummary, ZPoint, next_trial, tsa_summary


def __getattr__(name: str) -> Any:
    """``plot_tsa`` moved to the render stage (:mod:`trialsynth.render.figures.tsa`): the old
    name still resolves, with a DeprecationWarning (:mod:`trialsynth._moved`)."""
    from trialsynth._moved import moved_name

    return moved_name(__name__, name)


__all__ = ["Boundaries", "NextTrial", "TsaSummary", "ZPoint", "adjusted", "diversity",
           "efficacy_boundaries", "futility_boundaries", "next_trial", "obf_spending",
           "ris_binary", "ris_continuous", "tsa_summary"]
