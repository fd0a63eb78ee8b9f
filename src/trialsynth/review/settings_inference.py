"""The settings of a RevMan analysis the export does not state (measure, method, totals),
inferred by recomputation: the measure is the candidate whose per-study effects reproduce
RevMan's stored ``Mean`` column, the method the one whose per-study weights reproduce the stored
``Weight`` column, all under RevMan's conventions (:data:`REVMAN_CONVENTIONS`).

Used by the readers of exports without settings (RevMan Web data rows and packages); the review
data model (:mod:`trialsynth.review`) stays free of the pooling engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialsynth._segments import FloatArray, IntArray
from trialsynth.conventions import REVMAN_CONVENTIONS
from trialsynth.pooling.batch import pool_arrays
from trialsynth.registry.measures import LOG_SCALE
from trialsynth.review import (
    DATA_TYPES,
    DEFAULT_MEASURE,
    DEFAULT_METHOD,
    EFFECT_TOL,
    MEASURES,
    METHODS,
    WEIGHT_TOL,
    WITHIN,
    DataType,
    Inferred,
    Totals,
    complete_rows,
    pool_measure,
    to_display,
)


@dataclass(frozen=True, slots=True)
class Fit:
    mismatched: int  # rows estimated by one side only
    max_abs: float  # max |ours − stored| where both exist (NaN if none)
    max_rel: float  # max |ours − stored| / max(1, |stored|)

    def fits(self, tol: float) -> bool:
        return self.mismatched == 0 and not self.max_rel > tol

    def key(self) -> tuple[int, float]:
        return self.mismatched, -1.0 if np.isnan(self.max_rel) else self.max_rel

    def to_dict(self) -> dict[str, Any]:
        return {"mismatched_rows": self.mismatched,
                "max_abs_diff": None if np.isnan(self.max_abs) else float(self.max_abs)}


def fit_of(ours: FloatArray, stored: FloatArray) -> Fit:
    have_o, have_s = np.isfinite(ours), np.isfinite(stored)
    both = have_o & have_s
    diff = np.abs(ours[both] - stored[both])
    rel = diff / np.maximum(1.0, np.abs(stored[both]))
    return Fit(int((have_o != have_s).sum()), float(diff.max()) if diff.size else np.nan,
                float(rel.max()) if rel.size else np.nan)


Tiers = Sequence[tuple[Mapping[str, int], str]]


# Candidates that fit within the inference tolerance can still differ at the precision RevMan
# exported (6 decimals): one unit of the last decimal, or 1e-6 relative (the tolerance of
# ``trialsynth check``, checking.tolerance_for). Such a fit is preferred to a looser one.
PRECISE_TOL = 1e-6 * (1 + 1e-9)
# τ² estimators tried beyond RevMan 5's DerSimonian-Laird: RevMan Web offers REML (Cochrane's
# default since 2024; Viechtbauer 2005, eq. 12) for inverse-variance random effects.
_EXTRA_RANDOM = ("REML",)


def _tried(measure: str) -> tuple[str, ...]:
    """Methods the inference tries for ``measure``: RevMan's, plus REML for inverse variance."""
    extra = _EXTRA_RANDOM if "DL" in METHODS[measure] else ()
    return (*METHODS[measure], *extra)


def choose(fits: dict[str, Fit], tol: float, tiers: Tiers, precise: float | None = None
            ) -> tuple[str, str, bool]:
    """Pick a candidate: the only one that fits; among tied ones the only one (or the tied
    ones) that fit at the export's precision ``precise``, then the first preferred by a tier
    (counts of decisive choices elsewhere in the review, then a default); else the closest.
    Returns (choice, how it was decided, decisive)."""
    ok = [c for c, f in fits.items() if f.fits(tol)]
    if len(ok) == 1:
        return ok[0], "the only candidate that reproduces RevMan's stored values", True
    if ok and precise is not None:
        exact = [c for c in ok if fits[c].fits(precise)]
        if len(exact) == 1:
            return exact[0], (f"{', '.join(ok)} reproduce RevMan's stored values to {tol:g}; "
                              f"only {exact[0]} to the export's precision ({precise:.0e})"), True
        ok = exact or ok
    if ok:
        tied = f"{', '.join(ok)} all reproduce RevMan's stored values"
        for counts, label in tiers:
            scored = [(counts.get(c, 0), -i, c) for i, c in enumerate(ok)]
            n_best, _, pick = max(scored)
            if n_best > 0:
                return pick, f"{tied}; {pick} is {label} ({n_best})", False
        return ok[0], f"{tied}; {ok[0]} taken (first listed)", False
    best = min(fits, key=lambda c: fits[c].key())
    return best, "no candidate reproduces RevMan's stored values; the closest is taken", False


def _present(raw: Mapping[str, FloatArray], names: Sequence[str], rows: np.ndarray) -> bool:
    return any(bool(np.any(np.nan_to_num(raw[n][rows]) != 0)) for n in names)


_PRESENCE = {"continuous": ("mean_t", "sd_t", "mean_c", "sd_c"),
             "dichotomous": ("events_t", "n_t", "events_c", "n_c"), "generic": ("yi", "se")}


def infer_settings(tables: Mapping[str, Mapping[str, FloatArray]], stored: Mapping[str, FloatArray],
                   group: IntArray, n: int, subgroup: IntArray, has_subgroups: Sequence[bool]
                   ) -> tuple[list[Inferred], list[np.ndarray]]:
    """Infer data type, measure, method and totals of ``n`` analyses in one batch.

    ``tables`` maps each data type to its input columns over all file rows, ``stored`` holds
    RevMan's ``effect`` (display scale) and ``weight`` per row, ``group`` the analysis of each row
    and ``subgroup`` a batch-wide index of its (analysis, subgroup) pair. Returns the settings per
    analysis and, per analysis, the mask of its complete rows.
    """
    group = np.asarray(group, dtype=np.intp)
    rows_of = [np.flatnonzero(group == j) for j in range(n)]
    complete = {t: complete_rows(t, tables[t]) for t in DATA_TYPES}
    effect, weight, se = _candidates(tables, complete, group, n,
                                     np.asarray(subgroup, dtype=np.intp))
    ci = (stored.get("ci_low"), stored.get("ci_high"))

    def by_ci(mf: dict[str, Fit], rows: np.ndarray) -> tuple[dict[str, Fit], str]:
        """Measures tied on the stored effects (e.g. every effect 0: MD, SMD and RD alike) are
        told apart by the stored study CIs when exactly those of some measures fit."""
        ok = [m for m, f in mf.items() if f.fits(EFFECT_TOL)]
        if len(ok) < 2 or ci[0] is None or ci[1] is None:
            return mf, ""
        keep = [m for m in ok if _ci_fits(m, se[m][rows], ci[0][rows], ci[1][rows])]
        if not keep or len(keep) == len(ok):
            return mf, ""
        return ({m: f for m, f in mf.items() if m in keep or m not in ok},
                f" ({', '.join(ok)} give the stored effects; the stored CIs are {'/'.join(keep)}'s)")

    def w_fits(measure: str, j: int) -> dict[str, Fit]:
        """Fits of RevMan 5's methods; REML's too when none of those fits at the precision of
        the export and REML fits within the inference tolerance (so analyses that RevMan 5's
        methods reproduce, or that nothing reproduces, are inferred as before)."""
        def fits(methods: Sequence[str]) -> dict[str, Fit]:
            keys = [*methods, *(m + WITHIN for m in methods if has_subgroups[j])]
            return {k: fit_of(weight[measure, k][rows_of[j]], stored["weight"][rows_of[j]])
                    for k in keys}

        out = fits(METHODS[measure])
        extra = [m for m in _tried(measure) if m not in METHODS[measure]]
        if extra and not any(f.fits(PRECISE_TOL) for f in out.values()):
            more = fits(extra)
            if any(f.fits(WEIGHT_TOL) for f in more.values()):
                out |= more
        return out

    # pass 1: fits per analysis; decisive choices make the review's preferences
    m_fits: list[dict[str, Fit]] = []
    m_pref: Counter[str] = Counter()
    w_pref: dict[str, Counter[str]] = {t: Counter() for t in DATA_TYPES}
    for j, rows in enumerate(rows_of):
        mf = {m: fit_of(effect[m][rows], stored["effect"][rows])
              for t in DATA_TYPES for m in MEASURES[t] if complete[t][rows].any()}
        m_fits.append(mf)
        pick, _, decisive = choose(mf, EFFECT_TOL, (), PRECISE_TOL) if mf else ("", "", False)
        if decisive:
            m_pref[pick] += 1
            wpick, _, wdec = choose(w_fits(pick, j), WEIGHT_TOL, (), PRECISE_TOL)
            if wdec:
                w_pref[_data_type_of(pick)][wpick] += 1
    all_w: Counter[str] = sum(w_pref.values(), Counter())
    # pass 2: resolve ties with the review's preferences
    out, masks = [], []
    for j, rows in enumerate(rows_of):
        dtype, measure, m_how = _resolve_measure(m_fits[j], m_pref, tables, rows)
        narrowed, ci_how = by_ci(m_fits[j], rows)
        if ci_how:  # the stored CIs overrule a tie broken by the review's other analyses
            dtype_ci, measure_ci, how_ci = _resolve_measure(narrowed, m_pref, tables, rows)
            if measure_ci != measure:
                dtype, measure, m_how = dtype_ci, measure_ci, how_ci + ci_how
        wf = w_fits(measure, j)
        sw = stored["weight"][rows]
        totals: Totals = "none" if np.isfinite(sw).any() and not np.nan_to_num(sw).any() else \
            "overall"
        tiers = ((w_pref[dtype], f"what the weights identify in other {dtype} analyses of this "
                                 f"review"),
                 (all_w, "what the weights identify in other analyses of this review"),
                 ({DEFAULT_METHOD[dtype]: 1}, "RevMan 5's default for a new outcome"))
        if totals == "none":  # nothing to compare: take the review's usual method
            key, w_how, _ = choose({k: Fit(0, np.nan, np.nan) for k in METHODS[measure]},
                                    WEIGHT_TOL, tiers)
            w_how = "RevMan stored weight 0 for every study (the review did not pool this " \
                    "analysis); " + w_how.split("; ", 1)[-1]
        else:
            key, w_how, _ = choose(wf, WEIGHT_TOL, tiers, PRECISE_TOL)
            totals = "subgroups" if key.endswith(WITHIN) else "overall"
        method = key.removesuffix(WITHIN)
        chosen = wf[key]
        evidence = {
            "measure": {"decided_by": m_how, "compared_with": "stored Mean column",
                        "candidates": {m: f.to_dict() for m, f in m_fits[j].items()}},
            "method": {"decided_by": w_how, "compared_with": "stored Weight column",
                       "candidates": {k: f.to_dict() for k, f in wf.items()}},
        }
        notes = [f"measure {measure} inferred: {m_how}", f"method {method} inferred: {w_how}"]
        if totals == "subgroups":
            notes.append("weights are within subgroups: RevMan showed subgroup totals only")
        if chosen.mismatched and totals != "none":
            notes.append(f"{chosen.mismatched} row(s) weighted by only one of RevMan and trialsynth")
        out.append(Inferred(
            data_type=dtype, measure=measure, method=method, totals=totals, evidence=evidence,
            weight_max_abs_diff=None if totals == "none" or np.isnan(chosen.max_abs)
            else chosen.max_abs, notes=tuple(notes)))
        masks.append(complete[dtype][rows])
    return out, masks


def _candidates(tables: Mapping[str, Mapping[str, FloatArray]], complete: Mapping[str, np.ndarray],
                group: IntArray, n: int, subgroup: IntArray
                ) -> tuple[dict[str, FloatArray], dict[tuple[str, str], FloatArray],
                           dict[str, FloatArray]]:
    """Per-row display effect and standard error (analysis scale) of every candidate measure and
    weight of every (measure, method), pooled per analysis and per subgroup (``method +
    WITHIN``), with RevMan's conventions."""
    effect: dict[str, FloatArray] = {}
    se: dict[str, FloatArray] = {}
    weight: dict[tuple[str, str], FloatArray] = {}
    n_sub = int(subgroup.max()) + 1 if subgroup.size else 0
    for dtype in DATA_TYPES:
        ok = complete[dtype]
        cols = {c: v[ok] for c, v in tables[dtype].items()}
        for measure in MEASURES[dtype]:
            for method in _tried(measure):
                for suffix, grp, size in (("", group, n), (WITHIN, subgroup, n_sub)):
                    with np.errstate(all="ignore"):
                        b = pool_arrays(pool_measure(measure), method, cols, grp[ok], size,
                                        conventions=REVMAN_CONVENTIONS, tau2_ci=False)
                    w = np.full(group.shape, np.nan)
                    w[ok] = b.weight
                    weight[measure, method + suffix] = w
                    if measure not in effect:
                        e = np.full(group.shape, np.nan)
                        e[ok] = np.where(b.included, to_display(measure, b.yi), np.nan)
                        effect[measure] = e
                        v = np.full(group.shape, np.nan)
                        v[ok] = np.where(b.included, np.sqrt(b.vi), np.nan)
                        se[measure] = v
    return effect, weight, se


_CI_Z = (1.959963984540054, 1.6448536269514722, 2.5758293035489004)  # 95, 90, 99 % (RevMan's)


def _ci_fits(measure: str, se: FloatArray, low: FloatArray, high: FloatArray) -> bool:
    """The stored study CIs are effect ± z·SE of ``measure`` for one of RevMan's CI levels: the
    median of (CI width)/(2·SE) is that z to 1e-3 (as checking._implied_level reads it)."""
    with np.errstate(all="ignore"):
        width = np.log(high) - np.log(low) if measure in LOG_SCALE else high - low
        z = width / (2 * se)
    z = z[np.isfinite(z) & (se > 0)]
    if not z.size:
        return False
    med = float(np.median(z))
    return any(abs(med / q - 1) < 1e-3 for q in _CI_Z)


def _data_type_of(measure: str) -> DataType:
    return next(t for t in DATA_TYPES if measure in MEASURES[t])


def _resolve_measure(fits: dict[str, Fit], pref: Counter[str],
                     tables: Mapping[str, Mapping[str, FloatArray]], rows: np.ndarray
                     ) -> tuple[DataType, str, str]:
    if any(np.isfinite(f.max_abs) or f.mismatched for f in fits.values()):
        measure, how, _ = choose(fits, EFFECT_TOL, (
            (pref, "what the stored effects identify in other analyses of this review"),
            ({m: 1 for m in DEFAULT_MEASURE.values()}, "RevMan 5's default for a new outcome")),
            PRECISE_TOL)
        return _data_type_of(measure), measure, how
    # RevMan stored no per-study effect: nothing to compare; go by the data that are filled in
    dtype = next((t for t in DATA_TYPES if _present(tables[t], _PRESENCE[t], rows)), "generic")
    known = [m for m, _ in pref.most_common() if m in MEASURES[dtype]]
    measure = known[0] if known else DEFAULT_MEASURE[dtype]
    src = "the review's other analyses" if known else "RevMan 5's default for a new outcome"
    return dtype, measure, (f"RevMan stored no per-study effect (nothing estimable); data type "
                            f"{dtype} from the columns filled in, measure from {src}")
