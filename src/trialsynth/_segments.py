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
SegmentSum = Callable[[FloatArray], FloatArray]  # a sum per analysis over given studies


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
    if x.size:
        lo, hi = x.min(), x.max()
        if 0 <= lo and hi < _TABLE_MAX:  # small whole numbers (degrees of freedom): a lookup
            whole = x.astype(np.intp)  # table indexed by value instead of a sort (np.unique)
            if np.array_equal(whole, x):
                uniq = np.flatnonzero(np.bincount(whole.ravel()))
                table = np.empty(uniq[-1] + 1)
                table[uniq] = np.asarray(fn(uniq.astype(np.float64)), dtype=np.float64)
                return table[whole]
    uniq, inverse = np.unique(x, return_inverse=True)
    return np.asarray(fn(uniq), dtype=np.float64)[inverse.reshape(x.shape)]


_TABLE_MAX = 1 << 20  # per_unique: values below this that are whole numbers use a lookup table


class Segments:
    """Sums per analysis, many of them over the same ``group``: :func:`segment_sum` faster.

    When ``group`` is sorted (the studies of an analysis adjacent, as in the chunks of
    ``pool_arrays``), a sum per analysis is the product of the (analyses × studies) 0/1 matrix
    with the values, in compressed sparse row form: scipy's CSR product adds each row's entries
    one after the other in column order, starting from 0, i.e. the same additions in the same
    order as ``np.bincount`` (1.0·x is exact), so the sums are identical, bit for bit, at about
    half the cost (no pass to find the largest index, no scatter). Unsorted groups fall back to
    :func:`segment_sum`. ``counts`` is the number of studies per analysis (:func:`segment_count`).
    """

    def __init__(self, group: IntArray, n_groups: int):
        self.group, self.n = group, n_groups
        self.counts = segment_count(group, n_groups)
        self._matrix = None
        size = group.size
        if 0 < size < _CSR_MAX and n_groups < _CSR_MAX and not (group[1:] < group[:-1]).any():
            from scipy.sparse import csr_matrix

            indptr = np.zeros(n_groups + 1, dtype=np.int32)
            np.cumsum(self.counts, out=indptr[1:])
            ones, columns = _csr_parts(size)
            self._matrix = csr_matrix((ones, columns, indptr), shape=(n_groups, size), copy=False)

    def sum(self, values: FloatArray) -> FloatArray:
        """Sum of ``values`` within each analysis (as :func:`segment_sum`)."""
        if self._matrix is None:
            return segment_sum(values, self.group, self.n)
        return self._matrix @ np.asarray(values, dtype=np.float64)


_CSR_MAX = 1 << 31  # Segments: int32 indices; larger batches use np.bincount
_PARTS: tuple[FloatArray, np.ndarray] = (np.ones(0), np.arange(0, dtype=np.int32))


def _csr_parts(size: int) -> tuple[FloatArray, np.ndarray]:
    """Read-only ones and 0 … size−1 (int32) for the CSR matrix of :class:`Segments`, views of
    buffers kept between calls (replaced, never written, when a larger one is needed)."""
    global _PARTS
    ones, columns = _PARTS
    if ones.size < size:
        ones, columns = np.ones(size), np.arange(size, dtype=np.int32)
        ones.flags.writeable = columns.flags.writeable = False
        _PARTS = (ones, columns)
    return ones[:size], columns[:size]
