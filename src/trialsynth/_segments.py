"""Segment reductions: the one idiom every batch kernel uses.

Studies of many meta-analyses live in flat arrays; ``group[i]`` says to which analysis
study ``i`` belongs (0 … n_groups-1). A sum per analysis is ``np.bincount`` with weights,
which is a single pass over memory and does not need the studies to be sorted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def segment_sum(values: FloatArray, group: IntArray, n_groups: int) -> FloatArray:
    """Sum of ``values`` within each analysis (NaN-free input expected)."""
    return np.bincount(group, weights=values, minlength=n_groups)


def segment_count(group: IntArray, n_groups: int) -> NDArray[np.int64]:
    """Number of studies in each analysis."""
    return np.bincount(group, minlength=n_groups)


def segment_any(mask: NDArray[np.bool_], group: IntArray, n_groups: int) -> NDArray[np.bool_]:
    """True for analyses in which any study has ``mask`` set."""
    return np.bincount(group, weights=mask.astype(np.float64), minlength=n_groups) > 0


def per_unique(fn: Callable[[FloatArray], FloatArray], x: FloatArray) -> FloatArray:
    """Evaluate an expensive elementwise ``fn`` once per distinct value of ``x``.

    Degrees of freedom repeat across a batch (k − 1 takes a few dozen values over a million
    analyses), so quantiles are computed per distinct df and scattered back.
    """
    x = np.asarray(x, dtype=np.float64)
    uniq, inverse = np.unique(x, return_inverse=True)
    return np.asarray(fn(uniq), dtype=np.float64)[inverse.reshape(x.shape)]
