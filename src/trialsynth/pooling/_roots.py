"""Vectorised root finding in τ² for the generalised Q statistic, one root per analysis.

Paule–Mandel and the Q-profile interval solve Q(τ²) = target, where
Q(τ²) = Σ wᵢ(τ²)(yᵢ − μ̂(τ²))², wᵢ = 1/(vᵢ + τ²), is decreasing in τ² and has the cheap derivative
dQ/dτ² = −Σ wᵢ²(yᵢ − μ̂)² (the μ̂ term vanishes because μ̂ minimises the weighted sum of squares;
Viechtbauer 2007, Stat Med 26:37, §3). Safeguarded Newton (bisection whenever the Newton step
leaves the bracket) runs for all analyses together; each keeps its own convergence flag, and the
studies of analyses that have converged are dropped from the arrays as the work shrinks.
"""

from __future__ import annotations

import numpy as np

from trialsynth._segments import FloatArray, IntArray


class ActiveSet:
    """The studies of the analyses still being iterated, compacted when the set halves."""

    def __init__(self, yi: FloatArray, vi: FloatArray, group: IntArray, active: np.ndarray):
        self._full = (yi, vi, group)
        self._size = -1
        self.refresh(active)

    def refresh(self, active: np.ndarray) -> None:
        n_active = int(active.sum())
        if self._size >= 0 and n_active > self._size // 2:
            return
        yi, vi, group = self._full
        sel = active[group]
        self.yi, self.vi, self.group = yi[sel], vi[sel], group[sel]
        self._size = n_active


def q_and_slope(s: ActiveSet, tau2: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """Q(τ²) and dQ/dτ² per analysis (Viechtbauer 2007, eq. 6) over the active studies."""
    wi = 1 / (s.vi + tau2[s.group])
    sw = np.bincount(s.group, weights=wi, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.bincount(s.group, weights=wi * s.yi, minlength=n) / sw
    wr2 = wi * (s.yi - mu[s.group]) ** 2
    return (np.bincount(s.group, weights=wr2, minlength=n),
            -np.bincount(s.group, weights=wi * wr2, minlength=n))


def solve_q(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, target: FloatArray,
            lo: FloatArray, hi: FloatArray, active: np.ndarray, *, rtol: float = 1e-13,
            maxiter: int = 200) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """Solve Q(τ²) = target on [lo, hi] with Q(lo) ≥ target ≥ Q(hi), for every ``active`` analysis.

    Returns (root, converged, iterations); inactive analyses get NaN and converged=False.
    """
    lo = np.where(active, lo, 0.0).astype(np.float64)
    hi = np.where(active, hi, 0.0).astype(np.float64)
    x = lo.copy()
    todo = active.copy()
    converged = np.zeros(n, dtype=bool)
    iters = np.zeros(n, dtype=np.int64)
    studies = ActiveSet(yi, vi, group, todo)
    fx, dfx = q_and_slope(studies, x, n)
    for _ in range(maxiter):
        if not todo.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - (fx - target) / dfx
        bad = ~np.isfinite(newton) | (newton <= lo) | (newton >= hi)
        x_new = np.where(todo, np.where(bad, 0.5 * (lo + hi), newton), x)
        f_new, df_new = q_and_slope(studies, x_new, n)
        above = f_new > target
        lo = np.where(todo & above, x_new, lo)
        hi = np.where(todo & ~above, x_new, hi)
        scale = np.maximum(1.0, np.abs(x_new))
        now = todo & ((np.abs(x_new - x) <= rtol * scale) | (f_new == target)
                      | ((hi - lo) <= rtol * scale))
        iters += todo
        converged |= now
        todo &= ~now
        x, fx, dfx = x_new, f_new, df_new
        studies.refresh(todo)
    return np.where(active, x, np.nan), converged & active, iters
