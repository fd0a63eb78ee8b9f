"""Vectorised root finding for decreasing functions of τ², one root per analysis.

Used by Paule–Mandel and the Q-profile interval, where the generalised Q statistic
Q(τ²) = Σ wᵢ(τ²)(yᵢ − μ̂(τ²))² is decreasing in τ² and its derivative is cheap:
dQ/dτ² = −Σ wᵢ²(yᵢ − μ̂)² (the μ̂ term vanishes because μ̂ minimises the weighted sum of squares;
Viechtbauer 2007, Stat Med 26:37, §3). Safeguarded Newton (bisection whenever the Newton step
leaves the bracket) converges for all analyses together; each keeps its own convergence flag.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from trialsynth._segments import FloatArray

QFunction = Callable[[FloatArray], tuple[FloatArray, FloatArray]]


def solve_decreasing(
    f: QFunction,
    target: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    active: np.ndarray,
    *,
    rtol: float = 1e-13,
    maxiter: int = 200,
) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """Solve f(x) = target on [lo, hi] where f(lo) ≥ target ≥ f(hi), for every ``active`` analysis.

    Returns (root, converged, iterations); inactive analyses get NaN and converged=False.
    """
    lo = lo.astype(np.float64).copy()
    hi = hi.astype(np.float64).copy()
    x = lo.copy()
    done = ~active
    converged = np.zeros(lo.shape, dtype=bool)
    iters = np.zeros(lo.shape, dtype=np.int64)
    fx, dfx = f(x)
    for _ in range(maxiter):
        if done.all():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            step = (fx - target) / dfx
        newton = x - step
        bad = ~np.isfinite(newton) | (newton <= lo) | (newton >= hi)
        x_new = np.where(bad, 0.5 * (lo + hi), newton)
        x_new = np.where(done, x, x_new)
        f_new, df_new = f(x_new)
        above = f_new > target
        lo = np.where(~done & above, x_new, lo)
        hi = np.where(~done & ~above, x_new, hi)
        small = np.abs(x_new - x) <= rtol * np.maximum(1.0, np.abs(x_new))
        exact = f_new == target
        narrow = (hi - lo) <= rtol * np.maximum(1.0, np.abs(hi))
        now = ~done & (small | exact | narrow)
        iters = np.where(done, iters, iters + 1)
        converged |= now
        done |= now
        x, fx, dfx = x_new, f_new, df_new
    root = np.where(active, x, np.nan)
    return root, converged & active, iters
