"""Compiled kernels for large batches: inverse variance, REML and Mantel–Haenszel, one loop per analysis.

The numpy kernels of :mod:`trialsynth.pooling.tau2` and :mod:`trialsynth.pooling.batch` make one
pass over all studies per sum and per Fisher-scoring step. For large batches (millions of
studies) the cost is memory traffic, not arithmetic: an analysis of 3–30 studies fits in the
processor's first-level cache, so doing every step of one analysis before the next reads the
data once. These kernels do exactly that, with numba (the optional extra ``fast``), for what
dominates large re-analyses:

* :func:`iv_passes`: the sums of the inverse-variance weights (Cochran's Q and its p-value,
  DerSimonian–Laird τ², the pooled estimate, the Hartung–Knapp residual sum and each study's
  weight);
* :func:`reml_fit`: REML's τ² by the same Fisher-scoring / Newton iteration, step halving and
  stopping rule as :func:`trialsynth.pooling.tau2.restricted_maximum_likelihood`, on the same
  unit-scale data, with metafor's ``ll0check`` and the grid screen of a boundary root. One
  shortcut: where a step must be halved to keep τ² ≥ 0 and the score at τ² = 0 is not positive,
  the iteration stops at 0, where the halved steps lead (the numpy iteration takes some 45
  more steps to a τ² below 1e-14 in unit scale; both then pass the same grid screen);
* :func:`mantel_haenszel_tables`: Mantel–Haenszel OR and RR from the counts in one pass per
  analysis — each table's effect after the zero-cell policies and the range rule, the M-H
  estimate, variance and weights, Q and the participants (the numpy path makes a dozen passes
  over all tables for these; policies other than ``if0all`` only, :func:`takes_tables`).

Every formula is the numpy kernel's (cited there); the sums are taken in study order, as the
numpy kernels take them, so results agree to rounding (tests/test_compiled.py holds both to
1e-9 and to metafor). Differences of arithmetic: REML's scoring takes its sums in one pass,
about the previous iterate's mean (:func:`_reml_at_about`), not in two, and so does the
log-likelihood of the boundary grid screen (:func:`_reml_loglik_about`); where the last steps
of a root are below the rounding of the sums, the number of steps may then differ (the root
does not, beyond rounding). Q's p-value comes from finite sums (:func:`_chi2_sf_whole`), within
1e-12 of scipy's ``chdtrc``. Analyses whose scoring does not settle — not converged, a root less
likely than τ² = 0, a boundary root a grid point beats — get the numpy code's global search,
compiled too; only a step or likelihood that overflows goes back to the numpy estimator. The
numpy kernels stay the reference and the engine of small inputs (a review's analyses):
:func:`trialsynth.pooling.engine.use_compiled` decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numba  # the optional extra "fast": imported only where it is installed (pooling.engine)
import numpy as np

from trialsynth.conventions import Conventions
from trialsynth.effects import table as _table
from trialsynth.effects.zero_cells import ZeroCellPolicy
from trialsynth.pooling.control import Control
from trialsynth.pooling.heterogeneity import q_pvalue
from trialsynth.pooling.tau2 import Tau2Fit, settle_reml

EDGE = 1e-8  # as trialsynth.pooling.tau2.EDGE: a root this close to 0 passes the grid screen
VERIFY_TOL = 1e-7  # as trialsynth.pooling.tau2.VERIFY_TOL
GRID = np.concatenate([[0.0], 10.0 ** np.linspace(-6, 4, 61)])  # tau2.GRID (units of mean vᵢ′)
GRID_SCREEN = GRID[1::3]  # the coarse grid of tau2._beaten_on_grid
BIG = 1e150  # products of factors ≥ 1 are rescaled above this (no overflow; see _times)
BIGGEST = float(np.finfo(np.float64).max)  # np.nan_to_num's value for +inf
# _chi2_sf_whole: the finite sums up to these (beyond: scipy's chdtrc)
CHI2_MAX_DF, CHI2_MAX_X = 200, 1400.0
# the range rule of trialsynth.effects.table
MAX_COUNT, MAX_EFFECT, (VMIN, VMAX) = _table.MAX_COUNT, _table.MAX_EFFECT, _table.VARIANCE_RANGE


def _jit(fn):  # type: ignore[no-untyped-def]
    # nogil: batch chunks run on threads; cache: compiled once per install, not per process;
    # error_model numpy: x/0 is ±inf or NaN as in the numpy kernels, not an exception
    return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)


@_jit
def _starts_of(group, starts):  # type: ignore[no-untyped-def]
    j = 0
    for i in range(group.size):
        while j <= group[i]:
            starts[j] = i
            j += 1
    while j < starts.size:
        starts[j] = group.size
        j += 1


def starts_of(group: np.ndarray, n: int) -> np.ndarray:
    """The first study of each of the ``n`` analyses, and the end, for studies sorted by
    analysis (``group``): the ``starts`` every kernel here takes (one pass, no counting)."""
    starts = np.empty(n + 1, dtype=np.int64)
    _starts_of(group, starts)
    return starts


@_jit
def _floor0(x):  # type: ignore[no-untyped-def]
    """max(0, x) with NaN kept NaN (numpy's ``maximum``, which the numpy kernels use)."""
    return 0.0 if x < 0 else x


@_jit
def _chi2_sf_whole(x, df):  # type: ignore[no-untyped-def]
    """Upper tail of χ² on a whole number of degrees of freedom by the finite sums of Abramowitz
    & Stegun 1964, eq. 26.4.4 (df odd: 2Q(χ) + 2Z(χ)·Σ χ^{2r−1}/(1·3···(2r−1))) and 26.4.5 (df
    even: e^{−x/2}·Σ (x/2)^r/r!), every term positive (no cancellation); NaN where the sums do not
    apply (df above CHI2_MAX_DF, x beyond CHI2_MAX_X where e^{−x/2} would underflow, NaN), for the
    caller to compute by scipy's ``chdtrc``."""
    if not (x >= 0 and x <= CHI2_MAX_X and df >= 1 and df <= CHI2_MAX_DF):
        return np.nan
    m = int(df) // 2
    if int(df) % 2 == 0:  # A&S 26.4.5
        term = math.exp(-0.5 * x)
        total = term
        for r in range(1, m):
            term *= 0.5 * x / r
            total += term
        return total
    chi = math.sqrt(x)  # A&S 26.4.4; 2Q(χ) = erfc(χ/√2), 2Z(χ)·χ = √(2x/π)·e^{−x/2}
    total = math.erfc(chi / math.sqrt(2.0))
    term = math.sqrt(2.0 * x / math.pi) * math.exp(-0.5 * x)
    for r in range(1, m + 1):
        if r > 1:
            term *= x / (2 * r - 1)
        total += term
    return total


@_jit
def _times(prod, total, x):  # type: ignore[no-untyped-def]
    """One factor of a log-product: Σ log xᵢ is taken as the log of Π xᵢ (one logarithm per
    analysis, not one per study). Every factor is ≥ 1 here (unit-scale variances); the product
    is moved into ``total`` before it could overflow, and a factor beyond BIG goes there alone."""
    if x > BIG:
        return prod, total + math.log(x)
    prod *= x
    if prod > BIG:
        return 1.0, total + math.log(prod)
    return prod, total


@_jit
def _reml_at(y, v, lo, hi, t, w):  # type: ignore[no-untyped-def]
    """Σw, μ̂, the score Σw²r² − tr P, tr P², and the Newton pieces Σw³r², Σw²r at τ² = t (unit
    scale; ``w``: scratch for the weights): the sums of ``tau2._reml_newton_step`` (Viechtbauer
    2005, eq. 9; Harville 1977, §4)."""
    sw = 0.0
    swy = 0.0
    for i in range(lo, hi):
        wi = 1.0 / (v[i] + t)
        w[i] = wi
        sw += wi
        swy += wi * y[i]
    mu = swy / sw
    sw2 = 0.0
    sw3 = 0.0
    sw2r2 = 0.0
    sw3r2 = 0.0
    sw2r = 0.0
    for i in range(lo, hi):
        wi = w[i]
        r = y[i] - mu
        w2 = wi * wi
        w3 = w2 * wi
        r2 = r * r
        sw2 += w2
        sw3 += w3
        sw2r2 += w2 * r2
        sw3r2 += w3 * r2
        sw2r += w2 * r
    tr_p = sw - sw2 / sw
    tr_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
    return sw, mu, sw2r2 - tr_p, tr_pp, sw3r2, sw2r


@_jit
def _reml_at_about(y, v, lo, hi, t, c):  # type: ignore[no-untyped-def]
    """:func:`_reml_at` in one pass over the studies: the sums about a fixed centre ``c`` (the
    previous iterate's μ̂), moved to μ̂ = c + δ afterwards, Σw²(d − δ)² = Σw²d² − 2δΣw²d + δ²Σw²
    with dᵢ = yᵢ − c. Near convergence δ is at the rounding level, so the moved sums are the
    two-pass sums to rounding; far from it the step is only a guess anyway (the iteration's
    stopping rule decides on the last steps)."""
    sw = 0.0
    swd = 0.0
    sw2 = 0.0
    sw3 = 0.0
    sw2d = 0.0
    sw2d2 = 0.0
    sw3d = 0.0
    sw3d2 = 0.0
    for i in range(lo, hi):
        wi = 1.0 / (v[i] + t)
        d = y[i] - c
        w2 = wi * wi
        w3 = w2 * wi
        sw += wi
        swd += wi * d
        sw2 += w2
        sw3 += w3
        sw2d += w2 * d
        sw2d2 += w2 * d * d
        sw3d += w3 * d
        sw3d2 += w3 * d * d
    delta = swd / sw
    sw2r2 = sw2d2 - 2 * delta * sw2d + delta * delta * sw2
    sw3r2 = sw3d2 - 2 * delta * sw3d + delta * delta * sw3
    sw2r = sw2d - delta * sw2
    tr_p = sw - sw2 / sw
    tr_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
    return sw, c + delta, sw2r2 - tr_p, tr_pp, sw3r2, sw2r


@_jit
def _weighted_mean(y, v, lo, hi, t):  # type: ignore[no-untyped-def]
    """Σwᵢ and μ̂ = Σwᵢyᵢ/Σwᵢ, wᵢ = 1/(vᵢ + t), of one analysis (``heterogeneity.weighted_mean``)."""
    sw = 0.0
    swy = 0.0
    for i in range(lo, hi):
        w = 1.0 / (v[i] + t)
        sw += w
        swy += w * y[i]
    return sw, swy / sw


@_jit
def _reml_loglik(y, v, lo, hi, t):  # type: ignore[no-untyped-def]
    """REML log-likelihood up to a constant (``tau2._ml_loglik``, Viechtbauer 2005, eq. 4–5):
    −½[Σlog(vᵢ+τ²) + Σwᵢ(yᵢ−μ̂)²] − ½log Σwᵢ."""
    sw, mu = _weighted_mean(y, v, lo, hi, t)
    q = 0.0
    prod = 1.0
    logs = 0.0
    for i in range(lo, hi):
        r = y[i] - mu
        q += r * r / (v[i] + t)
        prod, logs = _times(prod, logs, v[i] + t)
    return -0.5 * (logs + math.log(prod) + q) - 0.5 * math.log(sw)


@_jit
def _reml_loglik_about(y, v, lo, hi, t, c):  # type: ignore[no-untyped-def]
    """:func:`_reml_loglik` in one pass, its Q about a centre ``c`` near μ̂ moved to μ̂:
    Σwᵢ(dᵢ − δ)² = Σwᵢdᵢ² − (Σwᵢdᵢ)²/Σwᵢ, dᵢ = yᵢ − c (for the grid screen, whose verdict
    needs the log-likelihood to its tolerance, not to the last bit)."""
    sw = 0.0
    swd = 0.0
    swd2 = 0.0
    prod = 1.0
    logs = 0.0
    for i in range(lo, hi):
        vt = v[i] + t
        w = 1.0 / vt
        d = y[i] - c
        sw += w
        swd += w * d
        swd2 += w * d * d
        prod, logs = _times(prod, logs, vt)
    q = max(swd2 - swd * swd / sw, 0.0)
    return -0.5 * (logs + math.log(prod) + q) - 0.5 * math.log(sw)


@_jit
def _reml_loglik_and_at_zero(y, v, lo, hi, t):  # type: ignore[no-untyped-def]
    """:func:`_reml_loglik` at τ² = t and at τ² = 0 in the same two passes, for metafor's
    ll0check (a tenth less time in the kernel than two calls)."""
    sw = 0.0
    swy = 0.0
    sw0 = 0.0
    swy0 = 0.0
    for i in range(lo, hi):
        w = 1.0 / (v[i] + t)
        sw += w
        swy += w * y[i]
        w0 = 1.0 / v[i]
        sw0 += w0
        swy0 += w0 * y[i]
    mu = swy / sw
    mu0 = swy0 / sw0
    q = 0.0
    q0 = 0.0
    prod, logs, prod0, logs0 = 1.0, 0.0, 1.0, 0.0
    for i in range(lo, hi):
        r = y[i] - mu
        q += r * r / (v[i] + t)
        prod, logs = _times(prod, logs, v[i] + t)
        r0 = y[i] - mu0
        q0 += r0 * r0 / v[i]
        prod0, logs0 = _times(prod0, logs0, v[i])
    return (-0.5 * (logs + math.log(prod) + q) - 0.5 * math.log(sw),
            -0.5 * (logs0 + math.log(prod0) + q0) - 0.5 * math.log(sw0))


@_jit
def _q_at_zero(y, v, lo, hi):  # type: ignore[no-untyped-def]
    """Cochran's Q (unit scale), the largest variance and the common-effect mean of one analysis."""
    _, mu = _weighted_mean(y, v, lo, hi, 0.0)
    q = 0.0
    vmax = 0.0
    for i in range(lo, hi):
        r = y[i] - mu
        q += r * r / v[i]
        vmax = max(vmax, v[i])
    return q, vmax, mu


@_jit
def _unit_scale(yi, vi, lo, hi, y, v):  # type: ignore[no-untyped-def]
    """``tau2._unit_scale`` of one analysis into ``y``, ``v``; returns v₍₁₎."""
    vmin = np.inf
    sy = 0.0
    for i in range(lo, hi):
        sy += yi[i]
        if vi[i] < vmin:
            vmin = vi[i]
    ybar = sy / (hi - lo)
    if not (np.isfinite(vmin) and vmin > 0):
        vmin = 1.0
    if not np.isfinite(ybar):
        ybar = 0.0
    root = math.sqrt(vmin)
    for i in range(lo, hi):
        y[i] = (yi[i] - ybar) / root
        v[i] = vi[i] / vmin
    return vmin


@_jit
def _hedges(y, v, lo, hi):  # type: ignore[no-untyped-def]
    """Hedges' τ² (``tau2.hedges``), the start of the scoring (Hedges 1983)."""
    k = hi - lo
    s = 0.0
    sv = 0.0
    for i in range(lo, hi):
        s += y[i]
        sv += v[i]
    ybar = s / k
    rss = 0.0
    for i in range(lo, hi):
        rss += (y[i] - ybar) ** 2
    return _floor0((rss - (1 - 1 / k) * sv) / (k - 1))


@_jit
def _score_one(y, v, w, lo, hi, maxiter, threshold, newton_switch, stepadj):  # type: ignore[no-untyped-def]
    """The scoring loop of ``tau2._fisher_scoring`` for one analysis: τ², converged, iterations."""
    t = _hedges(y, v, lo, hi)
    near = False
    mu = 0.0  # the unit-scale data are centred on their mean
    for it in range(1, maxiter + 1):
        sw, mu, score, tr_pp, sw3r2, sw2r = _reml_at_about(y, v, lo, hi, t, mu)
        adj = score / tr_pp  # Fisher scoring (Viechtbauer 2005, eq. 9)
        if near:
            observed = 2 * (sw3r2 - sw2r * sw2r / sw) - tr_pp  # Harville 1977, §4
            newton = score / observed
            if observed > 0 and np.isfinite(newton):
                adj = newton
        if stepadj != 1.0:
            adj = adj * stepadj
        if t + adj < 0:  # step halving (metafor rma.uni)
            if t > 0:
                # the halved steps approach 0 geometrically (about 45 steps to the stopping
                # rule); where the score at 0 is not positive, 0 is where they lead: stop there
                if _reml_at(y, v, lo, hi, 0.0, w)[2] <= 0:
                    return 0.0, True, it
                adj = adj / 2.0 ** math.ceil(math.log2(-adj / t))
            else:
                adj = 0.0
        new = _floor0(t + adj)
        change = abs(new - t)
        t = new
        if not np.isfinite(new):
            return t, False, it
        scale = max(1.0, new)
        if change < threshold * scale:
            return t, True, it
        near = change < newton_switch * scale
    return t, False, maxiter


@_jit
def _beaten_on_grid(y, v, lo, hi, t, ll_hat, tol, grid):  # type: ignore[no-untyped-def]
    """``tau2._beaten_on_grid`` for one analysis whose root is at (or, by step halving, next to)
    the boundary: some grid point clearly more likely. At τ² = 0 exactly, grid points beyond the
    bound ll(τ²) − ll(0) ≤ ½[Q(0) − (k−1)·log(1 + τ²/v_max)] are not evaluated (the bound grows
    with τ², so the first one beyond it ends the screen)."""
    k = hi - lo
    scale = 0.0
    for i in range(lo, hi):
        scale += v[i]
    scale /= k
    q0, vmax, mu0 = _q_at_zero(y, v, lo, hi)
    for g in grid:
        g_t = g * scale
        if t == 0 and 0.5 * (q0 - (k - 1) * math.log1p(g_t / vmax)) < -1e4 * tol:
            return False
        if _reml_loglik_about(y, v, lo, hi, g_t, mu0) - ll_hat > tol:
            return True
    return False


@_jit
def _step(y, v, lo, hi, t, w):  # type: ignore[no-untyped-def]
    """REML's Fisher-scoring step at τ² = t (``tau2._reml_step``; its sign is the score's)."""
    r = _reml_at(y, v, lo, hi, t, w)
    return r[2] / r[3]


@_jit
def _bracketed(y, v, w, lo, hi, a, b, threshold, maxiter):  # type: ignore[no-untyped-def]
    """``tau2._bracketed`` for one analysis: the root of the score in [a, b] by the Illinois
    variant of regula falsi (Dowell & Jarratt 1971), or ``a`` where the score there is not
    positive; the same steps and stopping rule."""
    f_a = _step(y, v, lo, hi, a, w)
    f_b = _step(y, v, lo, hi, b, w)
    if not f_a > 0:
        return a
    x = a
    side = 0.0
    for _ in range(maxiter):
        x = (a * f_b - b * f_a) / (f_b - f_a)
        if not np.isfinite(x):
            x = 0.5 * (a + b)
        f_x = _step(y, v, lo, hi, x, w)
        if f_x > 0:  # the root lies right of x
            if side > 0:
                f_b = f_b / 2  # Illinois: the end kept twice in a row counts half
            a, f_a, side = x, f_x, 1.0
        else:
            if side < 0:
                f_a = f_a / 2
            b, f_b, side = x, f_x, -1.0
        tol = threshold * max(1.0, abs(x))
        if b - a <= tol or abs(f_x) <= tol:
            break
    return x


@_jit
def _global_search(y, v, w, lo, hi, current, grid, threshold, root_maxiter, ll_tol, root_tol
                   ):  # type: ignore[no-untyped-def]
    """``tau2._global_search`` for one analysis: the log-likelihood on the τ² grid, the score's
    root beside the best grid point, then the most likely of that root, τ² = 0 and ``current``
    (the first within the tolerance of the best). Returns τ² and whether it is a root or the
    boundary maximum."""
    k = hi - lo
    scale = 0.0
    for i in range(lo, hi):
        scale += v[i]
    scale /= k
    best_ll = -np.inf
    j = 0
    for m in range(grid.size):
        ll = _reml_loglik(y, v, lo, hi, grid[m] * scale)
        if np.isfinite(ll) and ll > best_ll:
            best_ll, j = ll, m
    left = grid[max(j - 1, 0)] * scale
    mid = grid[j] * scale
    right = grid[min(j + 1, grid.size - 1)] * scale
    f_left = _step(y, v, lo, hi, left, w)
    f_mid = _step(y, v, lo, hi, mid, w)
    f_right = _step(y, v, lo, hi, right, w)
    use_left = f_left > 0 and not f_mid > 0
    interior = use_left or (f_mid > 0 and f_right < 0)
    first = mid
    if interior:
        a, b = (left, mid) if use_left else (mid, right)
        first = _bracketed(y, v, w, lo, hi, a, b, threshold, root_maxiter)
    now = current if np.isfinite(current) else 0.0
    cands = (first, 0.0, now)
    lls = np.empty(3)
    top = -np.inf
    for m in range(3):
        ll = _reml_loglik(y, v, lo, hi, cands[m])
        lls[m] = ll if np.isfinite(ll) else -np.inf
        top = max(top, lls[m])
    best = cands[0]
    for m in range(3):
        if lls[m] >= top - ll_tol * max(1.0, abs(top)):
            best = cands[m]
            break
    step = _step(y, v, lo, hi, best, w)
    ok = abs(step) <= root_tol * max(1.0, best) or (best == 0 and not step > 0)
    return best, ok


@_jit
def _reml_batch(yi, vi, starts, maxiter, threshold, newton_switch, stepadj, ll_tol, grid,
                grid_full, root_maxiter, root_tol, tau2, converged, iterations, flagged, y, v,
                vmins):  # type: ignore[no-untyped-def]
    w = np.empty(vi.size)
    for j in range(starts.size - 1):
        lo, hi = starts[j], starts[j + 1]
        k = hi - lo
        if k < 2:
            tau2[j] = 0.0 if k == 1 else np.nan
            converged[j] = k == 1
            iterations[j] = 0
            continue
        vmin = _unit_scale(yi, vi, lo, hi, y, v)
        vmins[j] = vmin
        t, ok, it = _score_one(y, v, w, lo, hi, maxiter, threshold, newton_switch, stepadj)
        iterations[j] = it
        if not np.isfinite(t):  # an overflowing step: the numpy code starts it again from 0
            tau2[j] = t
            flagged[j] = True
            continue
        ll_hat, ll_zero = _reml_loglik_and_at_zero(y, v, lo, hi, t)
        if not np.isfinite(ll_hat):
            tau2[j] = t
            flagged[j] = True
            continue
        tol = ll_tol * max(1.0, abs(ll_hat))
        # tau2._settle_likelihood: scoring that did not converge, a root less likely than τ² = 0
        # (metafor's ll0check), or a boundary root a grid point beats: the global search
        if (not ok or (t > 0 and ll_zero - ll_hat > tol)
                or (t <= EDGE and _beaten_on_grid(y, v, lo, hi, t, ll_hat, tol, grid))):
            t, ok = _global_search(y, v, w, lo, hi, t, grid_full, threshold, root_maxiter,
                                   ll_tol, root_tol)
        # tau2._honest: the value solves the estimating equation, or sits on the boundary
        adj = _step(y, v, lo, hi, t, w)
        solved = abs(adj) <= VERIFY_TOL * max(1.0, t)
        boundary = t <= VERIFY_TOL and not adj > VERIFY_TOL
        tau2[j] = t
        converged[j] = ok and (solved or boundary)


def reml_fit(yi: np.ndarray, vi: np.ndarray, starts: np.ndarray, control: Control
             ) -> tuple[np.ndarray, ...]:
    """The compiled part of REML for every analysis (studies ``starts[j]:starts[j+1]``), in unit
    scale: τ²′, converged, iterations, the analyses to settle with the numpy code (``flagged``),
    the unit-scale data y′, v′ and each analysis's v₍₁₎ (τ² = v₍₁₎·τ²′)."""
    n = starts.size - 1
    tau2 = np.full(n, np.nan)
    converged = np.zeros(n, dtype=np.bool_)
    iterations = np.zeros(n, dtype=np.int64)
    flagged = np.zeros(n, dtype=np.bool_)
    y, v, vmin = np.empty(yi.size), np.empty(vi.size), np.ones(n)
    _reml_batch(yi, vi, starts, control.maxiter, control.threshold, control.newton_switch,
                control.stepadj, control.ll_tol, GRID_SCREEN, GRID, control.root_maxiter,
                control.root_tol, tau2, converged, iterations, flagged, y, v, vmin)
    return tau2, converged, iterations, flagged, y, v, vmin


@_jit
def _iv_batch(y, v, starts, tau2, dl, sw0, sw0sq, mu0, q, q_p, est, sw, hk, weight
              ):  # type: ignore[no-untyped-def]
    eps4 = 4 * np.finfo(np.float64).eps
    for j in range(starts.size - 1):
        lo, hi = starts[j], starts[j + 1]
        k = hi - lo
        a = 0.0
        a2 = 0.0
        ay = 0.0
        for i in range(lo, hi):
            w = 1.0 / v[i]
            a += w
            a2 += w * w
            ay += w * y[i]
        m0 = ay / a if k > 0 else np.nan
        qq = 0.0
        for i in range(lo, hi):
            qq += (1.0 / v[i]) * (y[i] - m0) ** 2  # Cochran 1954
        sw0[j], sw0sq[j], mu0[j], q[j] = a, a2, m0, qq
        q_p[j] = _chi2_sf_whole(max(qq, 0.0), k - 1) if k > 1 and qq == qq else np.nan
        if dl:  # DerSimonian & Laird 1986, eq. 8
            t = _floor0((qq - (k - 1)) / (a - a2 / a)) if k > 1 else 0.0
            tau2[j] = t if k >= 1 else np.nan
        t = tau2[j]
        b, e = _weighted_mean(y, v, lo, hi, t)  # NaN without studies (0/0)
        est[j], sw[j] = e, b
        h = 0.0
        for i in range(lo, hi):
            w = 1.0 / (v[i] + t)
            r = y[i] - e
            # a rounding-level residual is 0 (inference.hksj_residual_sum)
            if abs(r) <= eps4 * max(abs(y[i]), abs(e)):
                r = 0.0
            h += w * r * r
            weight[i] = 100 * w / b
        hk[j] = h


def iv_passes(yi: np.ndarray, vi: np.ndarray, starts: np.ndarray, tau2: np.ndarray | None
              ) -> dict[str, np.ndarray]:
    """Per analysis: Σwᵢ, Σwᵢ², the common-effect mean, Cochran's Q (wᵢ = 1/vᵢ) and its p-value
    on k − 1 df (NaN with fewer than two studies, as heterogeneity.q_pvalue); τ² (given, or
    DerSimonian–Laird's when ``tau2`` is None); the pooled estimate and Σw*ᵢ (w*ᵢ = 1/(vᵢ + τ²));
    Σw*ᵢ(yᵢ − μ̂)² for Hartung–Knapp; and each study's percentage weight."""
    n = starts.size - 1
    out = {name: np.empty(n) for name in ("sw0", "sw0sq", "mu0", "q", "q_p", "est", "sw", "hk")}
    t = np.empty(n) if tau2 is None else np.ascontiguousarray(tau2, dtype=np.float64)
    weight = np.empty(yi.size)
    _iv_batch(yi, vi, starts, t, tau2 is None, out["sw0"], out["sw0sq"], out["mu0"], out["q"],
              out["q_p"], out["est"], out["sw"], out["hk"], weight)
    rest = np.flatnonzero(np.isnan(out["q_p"]) & ~np.isnan(out["q"]) & (np.diff(starts) > 1))
    if rest.size:  # beyond the finite sums: scipy's chdtrc (heterogeneity.q_pvalue)
        out["q_p"][rest] = q_pvalue(out["q"][rest], np.diff(starts)[rest] - 1.0)
    out["tau2"], out["weight"] = t, weight
    return out


def restricted_maximum_likelihood(yi: np.ndarray, vi: np.ndarray, group: np.ndarray, n: int,
                                  starts: np.ndarray, control: Control) -> Tau2Fit:
    """:func:`trialsynth.pooling.tau2.restricted_maximum_likelihood` for studies sorted by
    analysis (``starts``: the first study of each, and the end): the compiled iteration; the
    analyses it flags continue in the numpy code from where the iteration stopped
    (:func:`trialsynth.pooling.tau2.settle_reml`; analyses are independent of each other)."""
    tau2, converged, iterations, flagged, y, v, vmin = reml_fit(yi, vi, starts, control)
    if flagged.any():
        ids = np.flatnonzero(flagged)
        local = np.full(n, -1, dtype=np.intp)
        local[ids] = np.arange(ids.size)
        rows = flagged[group]
        fit = settle_reml(y[rows], v[rows], local[group[rows]], ids.size, tau2[ids],
                          converged[ids], iterations[ids], control)
        tau2[ids], converged[ids], iterations[ids] = fit.tau2, fit.converged, fit.iterations
    return Tau2Fit(tau2 * vmin, converged, iterations)


@_jit
def _counts_ok(x):  # type: ignore[no-untyped-def]
    """``effects.table.counts_in_range`` for one count (NaN passes: it is judged elsewhere)."""
    return not abs(x) > MAX_COUNT


@_jit
def _tables_batch(odds, et, nt, ec, nc, starts, s_add, s_to, s_drop, m_add, m_to, m_drop,
                  rr_raw, yi, vi, estimable, keep, weight, k, k_yi, est, var, sw, q, people
                  ):  # type: ignore[no-untyped-def]
    """Every step of ``batch._pool_tables`` for Mantel–Haenszel OR and RR, one analysis at a
    time: each table's cells (``Cells.from_columns``), its effect and variance after the
    study-effect zero-cell policy (``effects.table.study_effects``, ``zero_cells.apply_policy``),
    the range rule, the tables the M-H sums keep (their own zero-cell policy), the M-H estimate,
    variance and weights (``fixed.mantel_haenszel``), Q about it and the participants. Policy
    codes (``to``): 0 none, 1 tables with a zero cell, 2 every table."""
    for j in range(starts.size - 1):
        lo, hi = starts[j], starts[j + 1]
        sr = 0.0
        st = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        kept = 0
        usable = 0
        total = 0.0
        for i in range(lo, hi):
            a = et[i]
            b = nt[i] - et[i]
            c = ec[i]
            d = nc[i] - ec[i]
            za, zb, zc, zd = a == 0, b == 0, c == 0, d == 0
            has_zero = za or zb or zc or zd
            double = (za and zc) or (zb and zd)  # zero_cells.double_zero
            in_range = _counts_ok(et[i]) and _counts_ok(nt[i]) and _counts_ok(ec[i]) \
                and _counts_ok(nc[i])
            # the study's effect; RevMan Web's all-events RR table: ratio 1, kept, its variance
            # from the corrected cells (effects.table.study_effects, rr_all_events_raw)
            every = rr_raw and zb and zd and a > 0 and c > 0
            keep_s = every or not (s_drop and double)
            ca, cb, cc, cd = a, b, c, d
            if keep_s and (s_to == 2 or (s_to == 1 and has_zero)):
                ca, cb, cc, cd = a + s_add, b + s_add, c + s_add, d + s_add
            if odds:
                y = math.log(ca * cd / (cb * cc))  # Woolf 1955 (effects.binary.log_odds_ratio)
                w = 1 / ca + 1 / cb + 1 / cc + 1 / cd  # Woolf 1955 variance
            else:  # Deeks & Higgins 2010 (effects.binary.log_risk_ratio)
                n1 = ca + cb
                n2 = cc + cd
                y = 0.0 if every else math.log(ca / n1) - math.log(cc / n2)
                w = 1 / ca - 1 / n1 + 1 / cc - 1 / n2
            valid = np.isfinite(y) and w > 0 and w < np.inf and keep_s
            if valid:
                yi[i], vi[i] = y, w
                ok = abs(y) <= MAX_EFFECT and w >= VMIN and w <= VMAX and in_range
            else:
                yi[i], vi[i] = np.nan, np.nan
                ok = False
            estimable[i] = ok
            usable += ok
            # the tables of the M-H sums, with their own policy (batch._pool_tables)
            if rr_raw:  # RevMan Web: only tables without events stay out
                keep_m = not (m_drop and za and zc)
                target = m_to == 2 or (m_to == 1 and has_zero)
            else:
                keep_m = not (m_drop and double)
                target = keep_m and (m_to == 2 or (m_to == 1 and has_zero))
            keep_m = keep_m and in_range
            keep[i] = keep_m
            if not keep_m:
                weight[i] = np.nan
                continue
            if target:
                a, b, c, d = a + m_add, b + m_add, c + m_add, d + m_add
            kept += 1
            n1 = a + b
            n2 = c + d
            big_n = n1 + n2
            if odds:  # Mantel & Haenszel 1959; Robins, Breslow & Greenland 1986, eq. 13
                p = (a + d) / big_n
                qq = (b + c) / big_n
                r = a * d / big_n
                t = b * c / big_n
                s1 += p * r
                s2 += p * t + qq * r
                s3 += qq * t
            else:  # Greenland & Robins 1985, eq. 13
                r = a * n2 / big_n
                t = c * n1 / big_n
                s1 += n1 * n2 * (a + c) / big_n ** 2 - a * c / big_n
            sr += r
            st += t
            weight[i] = t
            size = nt[i] + nc[i]  # participants, NaN as 0 (np.nan_to_num)
            if size != size:
                size = 0.0
            elif size == np.inf:
                size = BIGGEST
            elif size == -np.inf:
                size = -BIGGEST
            total += size
        if odds:
            v = 0.5 * (s1 / sr ** 2 + s2 / (sr * st) + s3 / st ** 2)
        else:
            v = s1 / (sr * st)
        defined = sr > 0 and st > 0  # no estimate otherwise, as metafor rma.mh (NA)
        e = math.log(sr / st) if defined else np.nan
        est[j] = e
        var[j] = v if defined else np.nan
        sw[j] = st
        k[j] = kept
        k_yi[j] = usable
        people[j] = total
        h = 0.0
        for i in range(lo, hi):
            if keep[i]:
                weight[i] = 100 * weight[i] / st
            if estimable[i]:
                h += (1.0 / vi[i]) * (yi[i] - e) ** 2  # Cochran 1954, about the M-H estimate
        q[j] = h


def _policy_code(policy: ZeroCellPolicy) -> int | None:
    """The ``to`` code of :func:`_tables_batch` (None: a policy it does not take)."""
    if policy.to == "none" or policy.add == 0:
        return 0
    return {"only0": 1, "all": 2}.get(policy.to)


def takes_tables(measure: str, method: str, conventions: Conventions) -> bool:
    """Whether :func:`mantel_haenszel_tables` pools this measure and method under these
    conventions (M-H OR and RR; zero-cell policies other than ``if0all``)."""
    return (method == "MH" and measure in ("OR", "RR")
            and _policy_code(conventions.mh_study_zero_cells) is not None
            and _policy_code(conventions.mh_zero_cells) is not None)


def mantel_haenszel_tables(measure: str, cols: Mapping[str, np.ndarray], starts: np.ndarray,
                           conventions: Conventions) -> dict[str, np.ndarray]:
    """Mantel–Haenszel OR or RR of every analysis (tables sorted by analysis, ``starts`` the
    first of each and the end: :func:`starts_of`) from the count columns, as
    ``batch._pool_tables`` computes it: per table yi, vi (NaN where not estimable), estimable,
    keep (in the M-H sums) and the percentage weight (NaN where not kept); per analysis k
    (tables kept), k_yi (estimable), the log estimate, its SE, Q about it and the participants
    of the kept tables."""
    n, size = starts.size - 1, int(starts[-1])
    s_pol, m_pol = conventions.mh_study_zero_cells, conventions.mh_zero_cells
    out = {"yi": np.empty(size), "vi": np.empty(size), "estimable": np.empty(size, dtype=np.bool_),
           "keep": np.empty(size, dtype=np.bool_), "weight": np.empty(size),
           "k": np.empty(n, dtype=np.int64), "k_yi": np.empty(n, dtype=np.int64),
           "est": np.empty(n), "var": np.empty(n), "sw": np.empty(n), "q": np.empty(n),
           "participants": np.empty(n)}
    _tables_batch(measure == "OR", cols["events_t"], cols["n_t"], cols["events_c"], cols["n_c"],
                  starts, s_pol.add, _policy_code(s_pol), s_pol.drop00, m_pol.add,
                  _policy_code(m_pol), m_pol.drop00,
                  measure == "RR" and conventions.rr_all_events_raw, out["yi"], out["vi"],
                  out["estimable"], out["keep"], out["weight"], out["k"], out["k_yi"],
                  out["est"], out["var"], out["sw"], out["q"], out["participants"])
    out["se"] = np.sqrt(out.pop("var"))
    return out
