"""Cluster-randomised trials analysed as if individually randomised: effective sample sizes.

References
----------
Higgins JPT, Eldridge S, Li T (eds). Chapter 23. Cochrane Handbook v6.4, §23.1.4
"Approximate analyses of cluster-randomized trials for a meta-analysis: effective sample
sizes" (v5.1 §16.3.4–16.3.5); Donner A, Klar N (2000), Design and Analysis of Cluster
Randomization Trials in Health Research.
"""

from __future__ import annotations

import numpy as np

from trialsynth._segments import FloatArray


def design_effect(cluster_size: FloatArray, icc: FloatArray) -> FloatArray:
    """Design effect 1 + (M − 1)·ICC, M the average cluster size (Handbook v6.4 §23.1.4)."""
    return 1 + (np.asarray(cluster_size, float) - 1) * np.asarray(icc, float)  # Handbook §23.1.4


def effective_counts(events: FloatArray, n: FloatArray, deff: FloatArray
                     ) -> tuple[FloatArray, FloatArray]:
    """Events and participants divided by the design effect, unrounded (Handbook v6.4
    §23.1.4: "the effective sample size ... and the number of events are divided by the design
    effect"; the Handbook's own example rounds for RevMan entry, which we do not)."""
    return events / deff, n / deff  # Handbook §23.1.4
