"""Duval & Tweedie's trim-and-fill method, as metafor's ``trimfill`` (3.8-1).

Duval & Tweedie 2000a (Biometrics 56:455–463) and 2000b (JASA 95:89–98). For each analysis:

1. **Side** (unless given): the side on which studies are missing is read from the slope of the
   Egger-type meta-regression yᵢ = β₀ + β₁√vᵢ fitted with the analysis' own τ² method: β₁ < 0 →
   "right", else "left" (metafor's rule). With side "right" the effects are mirrored first, so
   that the algorithm always trims the largest effects.
2. **Iterate** (Duval & Tweedie 2000a, §2.3): pool the k − k₀ smallest effects, centre all k
   effects on that estimate, rank |yᵢ − μ̂| (ties by position), and estimate the number of missing
   studies by
   L₀ = (4S_r − k(k + 1))/(2k − 1), S_r the sum of the signed ranks of the positive centred
   effects (Duval & Tweedie 2000b, eq. 3; SE eq. 4), or R₀ = γ* − 1, γ* the length of the
   rightmost run of positive ranks (2000a, eq. 5; SE √(2k₀ + 2)), rounded half to even and
   truncated at 0, until k₀ stops changing.
3. **Fill**: mirror the k₀ most extreme studies about the last trimmed estimate (2μ̂ − yᵢ, same
   vᵢ) and pool the k + k₀ studies with the same τ² method. As in metafor, the filled analysis
   uses Wald (z) intervals; when k₀ = 0 the original analysis (with its own test) is returned.

Every analysis of a batch runs in lockstep: each iteration is one call of
:func:`trialsynth.pooling.batch.pool_arrays` over the trimmed studies of all analyses still
iterating. Guarded by ``min_k`` (default 10: Cochrane Handbook v6.4 §13.3.5.3, Sterne et al.
2011 BMJ 343:d4002) with the reason shown when skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from trialsynth._json import finite
from trialsynth._segments import FloatArray, IntArray, segment_count, segment_sum
from trialsynth._words import count
from trialsynth.assess.rules import value as rule_value
from trialsynth.metareg.kernel import metareg_arrays
from trialsynth.pooling.batch import Hksj, PooledBatch, pool_arrays
from trialsynth.pooling.result import PooledResult

MIN_K: int = rule_value("funnel.min_k")  # Core GRADE 4 Fig 5; Handbook 5.1 §10.4.3.1
MAXITER = 100  # metafor trimfill(maxiter = 100)
Estimator = Literal["L0", "R0"]
Side = Literal["left", "right"]
# τ² method of the analysis -> τ² method of the side-choosing meta-regression (metareg kernel)
_REG_METHOD = {"IV": "FE", "DL": "DL", "REML": "REML", "ML": "ML"}


@dataclass(frozen=True, slots=True)
class TrimFill:
    """Trim-and-fill result for one analysis (values on the analysis scale).

    ``k0`` studies were imputed on ``side``; ``estimate`` … ``tau2`` are the pooled results over
    the k + k₀ studies. ``filled_yi``/``filled_vi`` are the imputed studies.
    """

    estimator: str
    method: str
    k: int
    min_k: int
    k0: int | None = None
    se_k0: float | None = None
    p_k0: float | None = None
    side: str | None = None
    estimate: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    pvalue: float | None = None
    tau2: float | None = None
    i2: float | None = None
    q: float | None = None
    filled_yi: tuple[float, ...] = ()
    filled_vi: tuple[float, ...] = ()
    converged: bool = True
    iterations: int = 0
    skipped_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]
        out["filled_yi"], out["filled_vi"] = list(self.filled_yi), list(self.filled_vi)
        return out


def _within_rank(key: FloatArray, group: IntArray, n: int) -> IntArray:
    """0-based position of each element in ascending ``key`` order within its group (stable)."""
    order = np.lexsort((key, group))  # stable: ties keep their order (R rank(ties = "first"))
    starts = np.concatenate([[0], np.cumsum(segment_count(group, n))[:-1]])
    rank = np.empty(len(key), dtype=np.intp)
    rank[order] = np.arange(len(key)) - starts[group[order]]
    return rank


def _pool(y: FloatArray, v: FloatArray, g: IntArray, n: int, method: str, hksj: Hksj,
          level: float) -> PooledBatch:
    return pool_arrays("GENERIC", method, {"yi": y, "se": np.sqrt(v)}, g, n, hksj=hksj,
                       confidence_level=level)


def choose_side(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, method: str) -> np.ndarray:
    """True where studies are missing on the right: slope of yᵢ on √vᵢ below 0 (metafor)."""
    X = np.column_stack([np.ones_like(yi), np.sqrt(vi)])
    fit = metareg_arrays(yi, vi, X, group, n, method=_REG_METHOD[method], test="z")
    return fit.beta[:, 1] < 0


def trimfill_arrays(yi: ArrayLike, vi: ArrayLike, group: ArrayLike, n: int, *, method: str = "REML",
                    estimator: Estimator = "L0", side: Sequence[Side | None] | None = None,
                    hksj: Hksj = False, confidence_level: float = 0.95
                    ) -> tuple[dict[str, np.ndarray], PooledBatch, FloatArray, FloatArray, IntArray]:
    """Trim and fill every analysis of a flat batch.

    ``method`` is the τ² method (``IV`` for the common-effect model, or ``DL``, ``REML``, ``ML``).
    Returns per-analysis arrays (k0, se_k0, p_k0, right, converged, iterations), the pooled batch
    over original + filled studies, and the filled studies (yi, vi, group).
    """
    if method not in _REG_METHOD:
        raise ValueError(f"trim-and-fill supports {', '.join(_REG_METHOD)}, not {method!r}")
    if estimator not in ("L0", "R0"):
        raise ValueError(f"unknown estimator {estimator!r}; expected L0 or R0")
    y0 = np.asarray(yi, dtype=np.float64)
    v = np.asarray(vi, dtype=np.float64)
    g = np.asarray(group, dtype=np.intp)
    k = segment_count(g, n)
    auto = choose_side(y0, v, g, n, method)
    right = np.array([auto[i] if side is None or side[i] is None else side[i] == "right"
                      for i in range(n)], dtype=bool)
    y = np.where(right[g], -y0, y0)  # mirror so that the largest effects are trimmed
    pos = _within_rank(y, g, n)  # position in ascending order (R sort(yi))
    k0 = np.zeros(n, dtype=np.int64)
    prev = np.full(n, -1, dtype=np.int64)
    se_k0 = np.full(n, np.nan)
    beta = np.full(n, np.nan)
    iters = np.zeros(n, dtype=np.int64)
    active = k >= 2
    while active.any():
        run = active & (iters < MAXITER)
        if not run.any():
            break
        prev = np.where(run, k0, prev)
        iters += run
        keep = run[g] & (pos < (k - k0)[g])
        fit = _pool(y[keep], v[keep], g[keep], n, method, False, confidence_level)
        beta = np.where(run, fit.estimate, beta)
        c = y - beta[g]  # centred effects
        rank = _within_rank(np.abs(c), g, n) + 1.0
        kf = k.astype(np.float64)
        if estimator == "L0":  # Duval & Tweedie 2000b, eq. 3 (L0) and eq. 4 (its variance)
            sr = segment_sum(np.where(c > 0, rank, 0.0), g, n)
            est = (4 * sr - kf * (kf + 1)) / (2 * kf - 1)
            var_sr = (kf * (kf + 1) * (2 * kf + 1) + 10 * est**3 + 27 * est**2 + 17 * est
                      - 18 * kf * est**2 - 18 * kf * est + 6 * kf**2 * est) / 24
            se = 4 * np.sqrt(np.maximum(var_sr, 0.0)) / (2 * kf - 1)
        else:  # R0 = γ* − 1: k minus the largest rank of a negative centred effect, minus 1
            neg_max = np.zeros(n)
            np.maximum.at(neg_max, g, np.where(c < 0, rank, 0.0))  # Duval & Tweedie 2000a, eq. 5
            est = kf - neg_max - 1
            se = np.sqrt(2 * np.maximum(0.0, est) + 2)
        new = np.maximum(0, np.round(est)).astype(np.int64)  # round half to even, as R
        k0 = np.where(run, np.minimum(new, k - 1), k0)
        se_k0 = np.where(run, np.maximum(0.0, se), se_k0)
        active = run & (k0 != prev)
    converged = ~active
    # the k0 most extreme studies, mirrored about the trimmed estimate (Duval & Tweedie 2000a)
    fill = (pos >= (k - k0)[g]) & (k0[g] > 0)
    fy = 2 * beta[g[fill]] - y[fill]
    fy = np.where(right[g[fill]], -fy, fy)
    fv, fg = v[fill], g[fill]
    order = np.lexsort((pos[fill], fg))
    fy, fv, fg = fy[order], fv[order], fg[order]
    all_y, all_v, all_g = np.concatenate([y0, fy]), np.concatenate([v, fv]), np.concatenate([g, fg])
    pooled = _pool(all_y, all_v, all_g, n, method, False, confidence_level)
    if hksj and (k0 == 0).any():  # metafor returns the original model (own test) when k0 = 0
        orig = _pool(y0, v, g, n, method, hksj, confidence_level)
        pooled = _merge(pooled, orig, k0 == 0)
    # p-value of R0: 1 − Σ_{m=−1}^{k0−1} C(m+1, m+1)·½^(m+2) = ½^(k0+1) (metafor trimfill)
    p_k0 = np.where(estimator == "R0", 0.5 ** (k0 + 1.0), np.nan)
    info = {"k0": k0, "se_k0": se_k0, "p_k0": p_k0, "right": right, "converged": converged,
            "iterations": iters}
    return info, pooled, fy, fv, fg


def _merge(a: PooledBatch, b: PooledBatch, use_b: np.ndarray) -> PooledBatch:
    """Analysis fields from ``b`` where ``use_b``, else from ``a`` (study fields from ``a``)."""
    from dataclasses import replace
    return replace(a, **{name: np.where(use_b, getattr(b, name), getattr(a, name))
                         for name in a.analysis_fields()})


def _skip_reason(k: int, min_k: int, method: str) -> str | None:
    if k < min_k:
        return (f"{count(k, 'study', 'studies')}: fewer than {min_k}, the minimum for "
                "trim-and-fill and other "
                "funnel-plot methods (Cochrane Handbook v6.4 §13.3.5.3; Core GRADE 4)")
    if k < 3:
        return f"{count(k, 'study', 'studies')}: trim-and-fill needs at least 3"
    if method not in _REG_METHOD:
        return (f"trim-and-fill is implemented for inverse-variance pooling (IV, DL, REML, ML), "
                f"not {method}")
    return None


def trimfill(yi: ArrayLike, vi: ArrayLike, *, method: str = "REML", estimator: Estimator = "L0",
             side: Side | None = None, hksj: Hksj = False, min_k: int = MIN_K,
             confidence_level: float = 0.95) -> TrimFill:
    """Trim and fill one analysis (metafor ``trimfill(rma(yi, vi, method=...), estimator=...)``)."""
    y = np.asarray(yi, dtype=np.float64)
    v = np.asarray(vi, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[ok], v[ok]
    k = int(len(y))
    reason = _skip_reason(k, min_k, method)
    if reason is not None:
        return TrimFill(estimator=estimator, method=method, k=k, min_k=min_k, skipped_reason=reason)
    g = np.zeros(k, dtype=np.intp)
    info, pooled, fy, fv, _ = trimfill_arrays(y, v, g, 1, method=method, estimator=estimator,
                                              side=None if side is None else [side], hksj=hksj,
                                              confidence_level=confidence_level)
    return TrimFill(
        estimator=estimator, method=method, k=k, min_k=min_k, k0=int(info["k0"][0]),
        se_k0=finite(info["se_k0"][0]), p_k0=finite(info["p_k0"][0]),
        side="right" if info["right"][0] else "left", estimate=finite(pooled.estimate[0]),
        se=finite(pooled.se[0]), ci_low=finite(pooled.ci_low[0]), ci_high=finite(pooled.ci_high[0]),
        pvalue=finite(pooled.pvalue[0]), tau2=None if method == "IV" else finite(pooled.tau2[0]),
        i2=finite(pooled.i2[0]), q=finite(pooled.q[0]), filled_yi=tuple(float(x) for x in fy),
        filled_vi=tuple(float(x) for x in fv), converged=bool(info["converged"][0]),
        iterations=int(info["iterations"][0]))


def trimfill_from_result(result: PooledResult, *, estimator: Estimator = "L0",
                         min_k: int = MIN_K) -> TrimFill:
    """Trim and fill the studies of a pooled result with its own τ² method and test."""
    from trialsynth.assess.bias.small_study import result_inputs

    yi, vi = result_inputs(result)
    hksj = (result.settings or {}).get("hksj", False)
    method = result.method
    return trimfill(yi, vi, method=method, estimator=estimator, hksj=hksj if method != "IV" else False,
                    min_k=min_k, confidence_level=float(result.settings.get("confidence_level", 0.95)))


__all__ = ["MIN_K", "TrimFill", "choose_side", "trimfill", "trimfill_arrays", "trimfill_from_result"]
