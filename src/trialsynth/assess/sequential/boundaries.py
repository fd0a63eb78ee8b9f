"""Group-sequential monitoring boundaries by recursive numerical integration.

The cumulative Z statistic at information fractions t_1 < … < t_K behaves as Brownian motion:
S_k = Z_k·√t_k has independent normal increments with variance t_k − t_{k−1} and mean
δ·(t_k − t_{k−1}) under drift δ (Armitage, McPherson & Rowe 1969, J R Stat Soc A 132:235;
Jennison & Turnbull 2000, ch. 19). The sub-density of S_k on the continuation region is obtained
from that at look k − 1 by convolution with the increment's normal density; each boundary solves
"probability of first crossing at look k = spent α increment" (Lan & DeMets 1983, Biometrika
70:659; Reboussin et al. 2000, Control Clin Trials 21:190, the ld98 algorithm). Integrals over the
continuation region use Gauss-Legendre quadrature (the sub-densities are smooth inside it).

Spending function: Lan-DeMets O'Brien-Fleming type, α(t) = 2 − 2Φ(z_{1−α/2}/√t) for a two-sided
level α (Lan & DeMets 1983, eq. 3; for one-sided level α, α(t) = 2 − 2Φ(z_{1−α/2}/√t) with the
same form and α one-sided, Jennison & Turnbull 2000, eq. 7.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

from trialsynth._segments import FloatArray
from trialsynth.errors import DataError

NODES = 160  # Gauss-Legendre nodes on each continuation interval
_XI, _WQ = legendre.leggauss(NODES)
_SQRT2PI = math.sqrt(2 * math.pi)
Z_MAX = 40.0  # a boundary this high spends nothing; shown as "no boundary"


def obf_spending(t: FloatArray, alpha: float) -> FloatArray:
    """Lan-DeMets O'Brien-Fleming-type spending α(t) = 2 − 2Φ(z_{1−α/2}/√t), t capped at 1
    (Lan & DeMets 1983, eq. 3)."""
    t = np.minimum(np.asarray(t, dtype=np.float64), 1.0)
    z = -ndtri(alpha / 2)
    with np.errstate(divide="ignore"):
        return 2.0 * ndtr(-z / np.sqrt(t))


@dataclass(frozen=True, slots=True)
class Boundaries:
    """Boundaries on the Z scale at the information fractions ``t``.

    ``upper``: efficacy boundary (reject when |Z| ≥ upper for two-sided; Z ≥ upper one-sided);
    ``futility``: lower (inner-wedge) boundary from β-spending, NaN where none applies;
    ``spent``: cumulative α spent at each look.
    """

    t: FloatArray
    upper: FloatArray
    futility: FloatArray
    spent: FloatArray
    sides: int
    alpha: float
    beta: float | None
    drift: float | None
    futility_raw: FloatArray | None = None  # a_k as computed (negative: below the null)


def _normal_pdf(x: FloatArray) -> FloatArray:
    return np.exp(-0.5 * x * x) / _SQRT2PI


def efficacy_boundaries(t: FloatArray, alpha: float = 0.05, sides: int = 2) -> Boundaries:
    """Lan-DeMets O'Brien-Fleming-type efficacy boundaries at fractions ``t`` (strictly
    increasing, > 0; fractions ≥ 1 are the final analysis and spend all remaining α)."""
    t_in = _check_t(t)
    if sides not in (1, 2):
        raise DataError("sides must be 1 or 2", field="sides")
    # information beyond the required size: the last look is the final analysis, fractions are
    # re-expressed relative to it (the Brownian covariance depends only on their ratios)
    t = t_in / max(1.0, float(t_in[-1]))
    spent = obf_spending(t, alpha)
    upper = np.full(len(t), np.inf)
    # (nodes, log-density weights) of S on the continuation region of the previous look
    nodes = np.zeros(1)
    dens = np.ones(1)  # point mass at S_0 = 0
    prev_t, prev_spent = 0.0, 0.0
    for k, tk in enumerate(t):
        target = spent[k] - prev_spent
        sd = math.sqrt(tk - prev_t)
        sqrt_t = math.sqrt(tk)

        def cross(b: float, nodes: FloatArray = nodes, dens: FloatArray = dens, sd: float = sd,
                  sqrt_t: float = sqrt_t) -> float:
            c = b * sqrt_t  # boundary on the S scale
            p = ndtr((nodes - c) / sd)  # P(S_k ≥ c | S_{k−1})
            if sides == 2:
                p = p + ndtr((-c - nodes) / sd)
            return float(np.sum(dens * p))

        # a target below what a boundary at Z_MAX spends (underflow) means no boundary yet
        b = Z_MAX if target <= 0 or cross(Z_MAX) >= target else _solve(cross, target)
        upper[k] = b
        # sub-density of S_k on (−c, c) (two-sided) or (−∞, c) (one-sided) at new nodes
        c = b * sqrt_t
        lo = -c if sides == 2 else -12.0 * sqrt_t  # one-sided: far below the null mean
        half = (c - lo) / 2
        new_nodes = (c + lo) / 2 + half * _XI
        kern = _normal_pdf((new_nodes[:, None] - nodes[None, :]) / sd) / sd
        dens = (kern @ dens) * half * _WQ  # quadrature weights folded into the density
        nodes = new_nodes
        prev_t, prev_spent = tk, spent[k]
    upper = np.where(upper >= Z_MAX, np.inf, upper)
    return Boundaries(t=t_in, upper=upper, futility=np.full(len(t), np.nan), spent=spent, sides=sides,
                      alpha=alpha, beta=None, drift=None)


def _solve(cross, target: float) -> float:  # type: ignore[no-untyped-def]
    """Boundary b with cross(b) = target; cross decreases in b."""
    lo, hi = 0.0, Z_MAX
    if cross(lo) <= target:
        return 0.0
    return brentq(lambda b: cross(b) - target, lo, hi, xtol=1e-13, rtol=1e-14, maxiter=200)


def _check_t(t: FloatArray) -> FloatArray:
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or len(t) == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0) or \
            np.any(np.diff(t) <= 0):
        raise DataError("information fractions must be positive, finite and strictly increasing",
                        field="information")
    return t


def futility_boundaries(bounds: Boundaries, beta: float = 0.1) -> Boundaries:
    """Add β-spending futility boundaries to two-sided (or one-sided) efficacy boundaries.

    Under the alternative with drift δ = z_{1−α/2} + z_{1−β} (the drift for which the required
    information gives power 1 − β; for sides = 1, z_{1−α}), the futility boundary a_k solves
    P_δ(first exit below a_k at look k) = β(t_k) − β(t_{k−1}) with the O'Brien-Fleming-type
    β-spending β(t) = 2 − 2Φ(z_{1−β/2}/√t) (Lan & DeMets 1983 applied to β, as the TSA program;
    Thorlund et al. 2011, TSA manual, section 4.4; Jennison & Turnbull 2000, section 7.2). The
    boundaries are non-binding: the efficacy boundaries are the α-spending ones. For a two-sided
    test the inner wedge is |Z| < a_k; a_k ≤ 0 means no futility boundary yet (NaN in
    ``futility``; the computed value, used by the recursion, is kept in ``futility_raw``).
    """
    scale = max(1.0, float(bounds.t[-1]))
    t, b = bounds.t / scale, bounds.upper
    z_a = -ndtri(bounds.alpha / 2) if bounds.sides == 2 else -ndtri(bounds.alpha)
    drift = float(z_a - ndtri(beta))  # E[Z] = drift·√(information/RIS)
    drift_s = drift * math.sqrt(scale)  # per unit of the rescaled fraction
    spent_beta = obf_spending(t, beta)
    fut = np.full(len(t), np.nan)
    nodes, dens = np.zeros(1), np.ones(1)
    prev_t, prev_spent = 0.0, 0.0
    for k, tk in enumerate(t):
        dt = tk - prev_t
        sd = math.sqrt(dt)
        sqrt_t = math.sqrt(tk)
        mean_inc = drift_s * dt  # mean increment of S = Z·√t
        target = spent_beta[k] - prev_spent
        upper_s = (b[k] if math.isfinite(b[k]) else Z_MAX) * sqrt_t

        def below(a: float, nodes: FloatArray = nodes, dens: FloatArray = dens, sd: float = sd,
                  sqrt_t: float = sqrt_t, mean_inc: float = mean_inc) -> float:
            return float(np.sum(dens * ndtr((a * sqrt_t - nodes - mean_inc) / sd)))

        lo_z, hi_z = -Z_MAX, b[k] if math.isfinite(b[k]) else Z_MAX
        if target <= 0 or below(lo_z) >= target:
            a = -Z_MAX
        elif below(hi_z) <= target:
            a = hi_z  # the wedge has closed: stop at the efficacy boundary
        else:
            a = brentq(lambda a, target=target: below(a) - target, lo_z, hi_z, xtol=1e-13, rtol=1e-14,
                       maxiter=200)
        fut[k] = a
        low_s = max(a, -Z_MAX) * sqrt_t
        # continuation region under the alternative: a_k·√t < S < b_k·√t (the far side −b is
        # left out: under the alternative it carries no mass of consequence)
        half = (upper_s - low_s) / 2
        if half <= 0:
            break
        new_nodes = (upper_s + low_s) / 2 + half * _XI
        kern = _normal_pdf((new_nodes[:, None] - nodes[None, :] - mean_inc) / sd) / sd
        dens = (kern @ dens) * half * _WQ
        nodes = new_nodes
        prev_t, prev_spent = tk, spent_beta[k]
    shown = np.where(fut > 0, fut, np.nan)
    return Boundaries(t=bounds.t, upper=b, futility=shown, spent=bounds.spent, sides=bounds.sides,
                      alpha=bounds.alpha, beta=beta, drift=drift, futility_raw=fut)
