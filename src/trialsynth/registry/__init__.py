"""Registries as tables: every effect measure and every pooling method trialsynth knows, with
the facts the rest of the package used to spell out in many places (scale, labels, RevMan's
names, citations).

The command-line choices (:mod:`trialsynth.cli`), the review-file schema
(:mod:`trialsynth.review.protocol`), the labels of the report and its methods text are derived from
these tables. Pure Python: importing it costs no numpy (``trialsynth --help`` stays fast).
"""

from __future__ import annotations

from trialsynth.registry.measures import (
    MEASURES,
    POOL_MEASURES,
    RATIO_MEASURES,
    MeasureInfo,
    measure_info,
    measures_of_type,
)
from trialsynth.registry.methods import (
    COMMON_METHODS,
    METHODS,
    RANDOM_METHODS,
    TAU2_METHODS,
    MethodInfo,
    method_info,
)

__all__ = ["COMMON_METHODS", "MEASURES", "METHODS", "POOL_MEASURES", "RANDOM_METHODS",
           "RATIO_MEASURES", "TAU2_METHODS", "MeasureInfo", "MethodInfo", "measure_info",
           "measures_of_type", "method_info"]
