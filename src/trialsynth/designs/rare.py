"""Which method for sparse dichotomous data, with the reason (Cochrane Handbook v6.4
§10.4.4.1 "Meta-analysis of rare events", after Bradburn et al. 2007, Stat Med 26:53–77).

The Handbook: inverse-variance methods (and DerSimonian–Laird) with continuity corrections
perform poorly when events are rare; Peto's one-step odds ratio "works well when
intervention effects are small (odds ratios are close to 1), events are not particularly
common and the studies have similar numbers in experimental and comparator groups"; otherwise
the Mantel–Haenszel method without zero-cell corrections performs best. For a random-effects
analysis, the binomial-normal model (Stijnen et al. 2010; :mod:`.glmm`) works with the counts
themselves, without corrections.

The two thresholds below are this project's reading of "similar numbers" and "close to 1"
(declared, not from the Handbook): arms within a ratio of 1.5, and a Mantel–Haenszel odds
ratio (without correction) between 1/3 and 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialsynth._segments import FloatArray

RARE_RISK = 0.01  # Handbook §10.4.4.1: "rare events" e.g. event risks below 1%
BALANCED_RATIO = 1.5  # project convention: arms "similar" in size
SMALL_EFFECT_OR = 3.0  # project convention: OR "close to 1" (between 1/3 and 3)


@dataclass(frozen=True, slots=True)
class SparseChoice:
    sparse: bool
    measure: str
    method: str
    reason: str


def mh_or_uncorrected(a: FloatArray, n1: FloatArray, c: FloatArray, n2: FloatArray) -> float:
    """Mantel–Haenszel odds ratio without zero-cell corrections: Σ a·d/N / Σ b·c/N
    (Mantel & Haenszel 1959)."""
    b, d, n = n1 - a, n2 - c, n1 + n2
    num, den = np.sum(a * d / n), np.sum(b * c / n)
    return float(num / den) if den > 0 else float("inf")


def choose(measure: str, random: bool, a: FloatArray, n1: FloatArray, c: FloatArray,
           n2: FloatArray) -> SparseChoice:
    """The method for one analysis of 2×2 tables, and why (Handbook v6.4 §10.4.4.1)."""
    a, n1, c, n2 = (np.asarray(x, float) for x in (a, n1, c, n2))
    risk = (a.sum() + c.sum()) / (n1.sum() + n2.sum())
    zero = ((a == 0) | (c == 0) | (a == n1) | (c == n2)).any()
    if not (risk < RARE_RISK or zero):
        return SparseChoice(False, measure, "", f"events are not sparse (overall risk "
                            f"{risk:.1%}, no zero cell): the analysis' own method stands")
    why = (f"sparse data (overall event risk {risk:.2%}"
           f"{', zero cells' if zero else ''}; Handbook v6.4 §10.4.4.1)")
    if random and measure in ("OR", "PETO_OR"):
        return SparseChoice(True, "OR", "GLMM", f"{why}: random effects by the binomial-normal "
                            "model on the counts, no continuity correction (Stijnen et al. 2010)")
    ratio = np.maximum(n1 / n2, n2 / n1).max()
    or_mh = mh_or_uncorrected(a, n1, c, n2)
    small = 1 / SMALL_EFFECT_OR <= or_mh <= SMALL_EFFECT_OR
    if measure in ("OR", "PETO_OR") and ratio <= BALANCED_RATIO and small:
        return SparseChoice(True, "PETO_OR", "PETO", f"{why}: arms balanced (largest ratio "
                            f"{ratio:.2f} ≤ {BALANCED_RATIO}) and the effect small (M-H OR "
                            f"{or_mh:.2f}): Peto's one-step odds ratio")
    reasons = []
    if measure in ("OR", "PETO_OR"):
        if ratio > BALANCED_RATIO:
            reasons.append(f"arms unbalanced (ratio up to {ratio:.2f})")
        if not small:
            reasons.append(f"effect not small (M-H OR {or_mh:.2f})")
    target = "OR" if measure == "PETO_OR" else measure
    extra = f"{'; '.join(reasons)}: " if reasons else ""
    return SparseChoice(True, target, "MH", f"{why}: {extra}Mantel–Haenszel {target} without "
                        "zero-cell corrections")
