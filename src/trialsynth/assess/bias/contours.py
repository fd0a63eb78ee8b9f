"""The numbers behind a contour-enhanced funnel plot (Peters et al. 2008, J Clin Epidemiol 61:991).

Contours mark where a study's own two-sided test against ``null`` reaches significance levels
(metafor ``funnel(res, level = c(90, 95, 99), refline = 0)``): at standard error s the contour of
level L runs through null ± z_{(1+L)/2}·s. Each study gets its z = (yᵢ − null)/SEᵢ, its two-sided
p = 2Φ(−|z|) (metafor ``summary(escalc(...))``: ``zi``, ``pval``) and the band it falls in. A
report can then say where studies lie, e.g. "4 of 12 small studies fall in the region p < 0.05
to the right, none to the left" — missing studies in the non-significant region point to
reporting bias; missing studies in the significant regions point to other causes (Peters et al.
2008, "Discussion"; Cochrane Handbook v6.4 §13.3.5.2).

Guarded by ``min_k`` (default 10, as funnel-plot methods; Handbook v6.4 §13.3.5.3), with the
reason when skipped. Pure function, vectorised over studies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from trialsynth import _dist
from trialsynth._words import count
from trialsynth.assess.bias.trimfill import MIN_K
from trialsynth.pooling.result import PooledResult

LEVELS = (0.90, 0.95, 0.99)  # metafor funnel(level = c(90, 95, 99)); Peters et al. 2008, Fig. 2


def band_label(p_hi: float, p_lo: float | None) -> str:
    return f"p > {p_hi:g}" if p_lo is None else f"{p_lo:g} < p ≤ {p_hi:g}"


@dataclass(frozen=True, slots=True)
class FunnelContours:
    """Contour lines and the position of every study relative to them."""

    k: int
    min_k: int
    null: float
    levels: tuple[float, ...]
    z: tuple[float, ...] = ()  # z_{(1+L)/2} per level (1.645, 1.960, 2.576)
    se_max: float | None = None
    bounds: tuple[tuple[float, float], ...] = ()  # null ± z·se_max per level
    study_z: tuple[float, ...] = ()
    study_p: tuple[float, ...] = ()
    study_band: tuple[str, ...] = ()
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # band -> side -> n
    skipped_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]
        for key in ("levels", "z", "study_z", "study_p", "study_band"):
            out[key] = list(out[key])
        out["bounds"] = [list(b) for b in self.bounds]
        return out


def funnel_contours(yi: ArrayLike, vi: ArrayLike, *, null: float = 0.0,
                    levels: tuple[float, ...] = LEVELS, min_k: int = MIN_K) -> FunnelContours:
    """Contours at ``levels`` and each study's z, p and band (Peters et al. 2008)."""
    y = np.asarray(yi, dtype=np.float64)
    v = np.asarray(vi, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[ok], v[ok]
    k = int(len(y))
    lv = tuple(sorted(levels))
    if k < min_k:
        return FunnelContours(k=k, min_k=min_k, null=null, levels=lv, skipped_reason=(
            f"{count(k, 'study', 'studies')}: fewer than {min_k}, the minimum for a funnel plot "
            "(Cochrane Handbook v6.4 §13.3.5.3; Core GRADE 4)"))
    se = np.sqrt(v)
    z = (y - null) / se
    p = 2 * _dist.norm_sf(np.abs(z))  # two-sided p of each study's own z test
    crit = tuple(float(_dist.norm_isf((1 - L) / 2)) for L in lv)  # z_{(1+L)/2}
    se_max = float(se.max())
    cuts = [round(1 - L, 12) for L in lv]  # descending p thresholds: 0.10, 0.05, 0.01
    bands = []
    for pi in p:
        label = band_label(cuts[0], None)
        for j, c in enumerate(cuts):
            if pi <= c:
                label = f"p ≤ {c:g}" if j == len(cuts) - 1 else band_label(c, cuts[j + 1])
        bands.append(label)
    order = [band_label(cuts[0], None)] + [band_label(cuts[j], cuts[j + 1])
                                           for j in range(len(cuts) - 1)] + [f"p ≤ {cuts[-1]:g}"]
    counts = {b: {"left": 0, "right": 0} for b in order}
    for b, zi in zip(bands, z, strict=True):
        counts[b]["right" if zi > 0 else "left"] += 1
    return FunnelContours(
        k=k, min_k=min_k, null=null, levels=lv, z=crit, se_max=se_max,
        bounds=tuple((null - c * se_max, null + c * se_max) for c in crit),
        study_z=tuple(float(x) for x in z), study_p=tuple(float(x) for x in p),
        study_band=tuple(bands), counts=counts)


def funnel_contours_from_result(result: PooledResult, *, min_k: int = MIN_K) -> FunnelContours:
    """Contours for the studies of a pooled result (null 0 on the analysis scale)."""
    from trialsynth.assess.bias.small_study import result_inputs

    yi, vi = result_inputs(result)
    return funnel_contours(yi, vi, min_k=min_k)


__all__ = ["LEVELS", "FunnelContours", "funnel_contours", "funnel_contours_from_result"]
