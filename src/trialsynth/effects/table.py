"""From arm-level columns to per-study effects (yi, vi), batch-first.

Column names are the public ones of ``trialsynth pool``: dichotomous ``events_t, n_t, events_c,
n_c``; continuous ``mean_t, sd_t, n_t, mean_c, sd_c, n_c``; generic ``yi, se``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from trialsynth._segments import FloatArray, IntArray
from trialsynth.effects import binary, continuous, generic
from trialsynth.effects.zero_cells import ZeroCellPolicy, apply_policy
from trialsynth.registry.measures import POOL_MEASURES, RATIO_MEASURES, measures_of_type

BINARY = measures_of_type("dichotomous")  # trialsynth.registry.measures
CONTINUOUS = measures_of_type("continuous")
MEASURES = POOL_MEASURES
RATIO = RATIO_MEASURES

COLUMNS: dict[str, tuple[str, ...]] = {
    **{m: ("events_t", "n_t", "events_c", "n_c") for m in BINARY},
    **{m: ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c") for m in CONTINUOUS},
    "GENERIC": ("yi", "se"),
}

# One rule for every method and τ² estimator: a study enters the pooling only if its counts are
# exact whole numbers and its effect and variance lie in the range where every sum the methods
# form stays finite. IEEE 754 doubles hold every whole number up to 2^53 exactly and nothing
# above ~1.8e308; with |yᵢ| ≤ 1e50 and 1e-50 ≤ vᵢ ≤ 1e50 (SE 1e-25 to 1e25) the largest term,
# wᵢ³rᵢ² of REML's Newton step (wᵢ = 1/vᵢ, rᵢ a residual), is below 4e250, so sums over up to
# 1e50 studies stay finite. No real effect or SE comes near these bounds (SE 1e-25 is a
# measurement 25 orders of magnitude more precise than its unit); a study beyond them is a data
# error, kept out of the pooling with a warning naming it rather than left to overflow and
# turn the whole analysis into NaN.
MAX_COUNT = 2.0**53
MAX_EFFECT = 1e50
VARIANCE_RANGE = (1e-50, 1e50)


def counts_in_range(cols: Mapping[str, FloatArray]) -> np.ndarray:
    """Studies whose count columns (those present) are at most :data:`MAX_COUNT`."""
    ok = np.ones(len(next(iter(cols.values()))), dtype=bool)
    for c in ("events_t", "n_t", "events_c", "n_c"):
        if c in cols:
            ok &= ~(np.abs(cols[c]) > MAX_COUNT)  # NaN passes: it is judged elsewhere
    return ok


def effects_in_range(yi: FloatArray, vi: FloatArray) -> np.ndarray:
    """Studies whose yᵢ and vᵢ are finite and within :data:`MAX_EFFECT`, :data:`VARIANCE_RANGE`."""
    with np.errstate(invalid="ignore"):
        return (np.abs(yi) <= MAX_EFFECT) & (vi >= VARIANCE_RANGE[0]) & (vi <= VARIANCE_RANGE[1])


def out_of_range_reason(yi: float, vi: float, counts_ok: bool) -> str | None:
    """Why a study with finite yᵢ, vᵢ > 0 is kept out of the pooling by the range rule, or None."""
    if not counts_ok:
        return "a count above 2^53 (not an exact whole number)"
    if not np.isfinite(yi) or not np.isfinite(vi) or vi <= 0:
        return None
    if abs(yi) > MAX_EFFECT:
        return f"effect {yi:.3g} beyond ±{MAX_EFFECT:g}"
    if not VARIANCE_RANGE[0] <= vi <= VARIANCE_RANGE[1]:
        return (f"SE {np.sqrt(vi):.3g} outside {np.sqrt(VARIANCE_RANGE[0]):g} to "
                f"{np.sqrt(VARIANCE_RANGE[1]):g}")
    return None


_BINARY_EFFECT = {
    "RR": binary.log_risk_ratio,
    "OR": binary.log_odds_ratio,
    "RD": binary.risk_difference,
    "PETO_OR": binary.peto_log_odds_ratio,
}


@dataclass(frozen=True, slots=True)
class Cells:
    """2×2 cells a, b (experimental events, non-events), c, d (control)."""

    a: FloatArray
    b: FloatArray
    c: FloatArray
    d: FloatArray

    @classmethod
    def from_columns(cls, cols: Mapping[str, FloatArray]) -> Cells:
        return cls(cols["events_t"], cols["n_t"] - cols["events_t"],
                   cols["events_c"], cols["n_c"] - cols["events_c"])

    def corrected(self, group: IntArray, n: int, policy: ZeroCellPolicy
                  ) -> tuple[Cells, np.ndarray]:
        a, b, c, d, keep = apply_policy(self.a, self.b, self.c, self.d, group, n, policy)
        return Cells(a, b, c, d), keep


@dataclass(frozen=True, slots=True)
class Effects:
    """Per-study effect ``yi`` with variance ``vi``; ``estimable`` is False where a study cannot
    enter an inverse-variance analysis (dropped by the zero-cell policy, or yi/vi not finite)."""

    yi: FloatArray
    vi: FloatArray
    estimable: np.ndarray


def study_effects(measure: str, cols: Mapping[str, FloatArray], group: IntArray, n: int, *,
                  zero_cells: ZeroCellPolicy, smd_correction: continuous.SmdCorrection = "exact",
                  smd_variance: continuous.SmdVariance = "metafor",
                  rd_raw_counts: bool = False, peto_zero_cells: bool = True,
                  rr_all_events_raw: bool = False, raw: Cells | None = None) -> Effects:
    """Per-study yi and vi for ``measure`` (log scale for ratio measures).

    ``rd_raw_counts``: RevMan's risk difference, estimated from the raw counts with only the
    variance taken from the corrected cells, double-zero studies kept (RD = 0).
    ``raw``: ``Cells.from_columns(cols)``, when the caller has it (2×2 measures).
    """
    if measure in BINARY and raw is None:
        raw = Cells.from_columns(cols)
    if measure == "RD" and rd_raw_counts:
        cells, keep = raw.corrected(group, n, replace(zero_cells, drop00=False))
        yi, _ = binary.risk_difference(raw.a, raw.b, raw.c, raw.d)
        _, vi = binary.risk_difference(cells.a, cells.b, cells.c, cells.d)
    elif measure == "PETO_OR" and not peto_zero_cells:
        keep = np.ones(group.shape, dtype=bool)
        yi, vi = binary.peto_log_odds_ratio(raw.a, raw.b, raw.c, raw.d)
    elif measure in BINARY:
        cells, keep = raw.corrected(group, n, zero_cells)
        yi, vi = _BINARY_EFFECT[measure](cells.a, cells.b, cells.c, cells.d)
        if measure == "RR" and rr_all_events_raw:
            every = (raw.b == 0) & (raw.d == 0) & (raw.a > 0) & (raw.c > 0)
            if every.any():  # raw ratio, variance from the corrected cells (RevMan Web)
                kept, _ = raw.corrected(group, n, replace(zero_cells, drop00=False))
                _, v_all = binary.log_risk_ratio(kept.a, kept.b, kept.c, kept.d)
                yi = np.where(every, 0.0, yi)
                vi = np.where(every, v_all, vi)
                keep = keep | every
    elif measure == "MD":
        keep = np.ones(group.shape, dtype=bool)
        yi, vi = continuous.mean_difference(*(cols[c] for c in COLUMNS["MD"]))
    elif measure == "SMD":
        keep = np.ones(group.shape, dtype=bool)
        yi, vi = continuous.standardized_mean_difference(
            *(cols[c] for c in COLUMNS["SMD"]), correction=smd_correction, variance=smd_variance)
    elif measure == "GENERIC":
        keep = np.ones(group.shape, dtype=bool)
        yi, vi = generic.from_se(cols["yi"], cols["se"])
    else:
        raise ValueError(f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}")
    valid = np.isfinite(yi) & (vi > 0) & (vi < np.inf)  # vi finite and positive
    if not keep.all():
        valid &= keep
    # the range rule (above): such studies keep their yi and vi (shown, with the reason) but are
    # not pooled
    estimable = valid & effects_in_range(yi, vi)
    if measure != "GENERIC":  # arm sizes enter the effect (generic data: participants only)
        estimable &= counts_in_range(cols)
    if valid.all():  # nothing to blank out: the same values, without the copies by np.where
        return Effects(yi, vi, estimable)
    if measure == "GENERIC":  # yi (and vi) may be the caller's arrays: blanked in copies
        return Effects(np.where(valid, yi, np.nan), np.where(valid, vi, np.nan), estimable)
    bad = ~valid  # yi and vi were computed here: blanked in place
    yi[bad] = np.nan
    vi[bad] = np.nan
    return Effects(yi, vi, estimable)


def participants(measure: str, cols: Mapping[str, FloatArray]) -> FloatArray:
    """Participants per study (NaN where the input has no arm sizes)."""
    if "n_t" in cols and "n_c" in cols:
        return cols["n_t"] + cols["n_c"]
    return np.full(len(next(iter(cols.values()))), np.nan)
