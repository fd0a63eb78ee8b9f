"""``trialsynth.pool``: one meta-analysis from a data frame, with optional subgroups."""

from __future__ import annotations

import math
import warnings as pywarnings
from dataclasses import replace

import numpy as np
import pandas as pd

from trialsynth._dist import norm_isf
from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS
from trialsynth.effects.table import counts_in_range, out_of_range_reason
from trialsynth.errors import ConvergenceWarning, DataError
from trialsynth.pooling import heterogeneity as het
from trialsynth.pooling.batch import METHODS, RANDOM, Hksj, PooledBatch, pool_arrays
from trialsynth.pooling.result import (
    PooledResult,
    SubgroupTest,
    result_from_batch,
    study_rows,
)
from trialsynth.validate import study_columns, study_labels


def pool(frame: pd.DataFrame, measure: str, method: str, hksj: Hksj = False,
         subgroup: str | None = None, revman: bool = False, *,
         confidence_level: float = 0.95, source: str | None = None,
         tau2_ci_search: str = "unbounded") -> PooledResult:
    """Pool the studies of ``frame`` into one meta-analysis.

    Parameters
    ----------
    frame : one row per study; columns ``study`` and, by measure, dichotomous
        ``events_t, n_t, events_c, n_c``; continuous ``mean_t, sd_t, n_t, mean_c, sd_c, n_c``;
        generic ``yi, se`` (ratio measures on the log scale).
    measure : ``RR, OR, RD, PETO_OR, MD, SMD, GENERIC``.
    method : common effect ``IV, MH, PETO``; random effects with τ² estimator
        ``DL, REML, ML, PM, HE, SJ, EB``; ``MH_RANDOM`` is RevMan 5's "M-H, random"
        (DerSimonian–Laird τ² from Q around the Mantel–Haenszel estimate).
    hksj : Hartung–Knapp–Sidik–Jonkman CI (``True``), or ``"adhoc"`` for the variant that is never
        narrower than the Wald CI.
    subgroup : column whose values split the studies into subgroups.
    revman : use RevMan's conventions instead of metafor's (see :mod:`trialsynth.conventions`).
    tau2_ci_search : ``"unbounded"`` (default): the Q-profile bounds of τ² wherever they lie;
        ``"metafor"``: metafor's default search, capped at max(100, 10·τ̂²), whose bounds beyond
        the cap are reported as the cap with a warning (``confint.rma.uni`` default output).
    """
    method = method.upper()
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}",
                        file=source)
    measure = measure.upper()
    check_level(confidence_level)
    check_method(measure, method, hksj)
    cols = study_columns(frame, measure, source=source)
    labels = study_labels(frame)
    conventions = REVMAN_CONVENTIONS if revman else METAFOR_CONVENTIONS
    settings = {"measure": measure, "method": method, "hksj": hksj, "conventions":
                conventions.name, "confidence_level": confidence_level,
                "zero_cells": conventions.zero_cells.name, "tau2_ci_search": tau2_ci_search}
    n_rows = len(frame)
    if subgroup is None:
        sub_labels: list[str] | None = None
        names: list[str] = []
        group = np.zeros(n_rows, dtype=np.intp)
        flat = cols
    else:
        if subgroup not in frame.columns:
            raise DataError(f"subgroup column {subgroup!r} not found", file=source,
                            field=subgroup)
        sub_labels = ["" if pd.isna(s) else str(s) for s in frame[subgroup]]
        names = list(dict.fromkeys(sub_labels))
        code = np.array([names.index(s) + 1 for s in sub_labels], dtype=np.intp)
        # overall analysis (group 0) and one analysis per subgroup, pooled in one batch
        group = np.concatenate([np.zeros(n_rows, dtype=np.intp), code])
        flat = {c: np.concatenate([v, v]) for c, v in cols.items()}
    if tau2_ci_search not in het.TAU2_CI_SEARCHES:
        raise DataError(f"tau2_ci_search must be one of {', '.join(het.TAU2_CI_SEARCHES)}, not "
                        f"{tau2_ci_search!r}", file=source)
    batch = pool_arrays(measure, method, flat, group, 1 + len(names), hksj=hksj,
                        conventions=conventions, confidence_level=confidence_level,
                        tau2_ci_search=tau2_ci_search)
    counts_ok = (counts_in_range(flat) if measure != "GENERIC"
                 else np.ones(group.size, dtype=bool))
    z = float(norm_isf((1 - confidence_level) / 2))
    overall_rows = np.arange(n_rows)
    result = _one(batch, 0, overall_rows, labels, sub_labels, z, measure, method, settings, hksj,
                  counts_ok)
    if subgroup is None:
        return result
    subs = {}
    for j, name in enumerate(names, start=1):
        rows = n_rows + np.flatnonzero(np.asarray(sub_labels) == name)
        idx = [i for i, s in enumerate(sub_labels) if s == name]
        subs[name] = _one(batch, j, rows, [labels[i] for i in idx], None, z, measure, method,
                          settings, hksj, counts_ok)
    test = subgroup_difference_test(batch, range(1, 1 + len(names)))
    return replace(result, subgroups=subs, subgroup_test=test)


def check_level(level: float, name: str = "confidence level") -> None:
    """A confidence level is a probability strictly between 0 and 1 (0.95 for a 95% CI)."""
    if not isinstance(level, int | float) or not 0 < level < 1:  # also NaN
        raise DataError(f"the {name} must be a number strictly between 0 and 1 (e.g. 0.95), "
                        f"got {level!r}")


def check_method(measure: str, method: str, hksj: Hksj = False) -> None:
    """Refuse a method that does not fit the measure: Mantel–Haenszel pools 2×2 tables into an
    RR, OR or RD (Greenland & Robins 1985; RevMan's "M-H" methods); Peto's method pools the Peto
    odds ratio only (Yusuf et al. 1985); HKSJ is a random-effects CI (Hartung & Knapp 2001)."""
    if method in ("MH", "MH_RANDOM") and measure not in ("RR", "OR", "RD"):
        raise DataError(f"the Mantel-Haenszel method ({method}) pools 2x2 tables as RR, OR or "
                        f"RD, not {measure}; use IV or a random-effects method for {measure}")
    if method == "PETO" and measure != "PETO_OR":
        raise DataError(f"the Peto method pools the Peto odds ratio (measure PETO_OR), not "
                        f"{measure}")
    if hksj and method not in RANDOM and method != "MH_RANDOM":
        raise DataError(f"HKSJ is a confidence interval for random-effects methods "
                        f"({', '.join(RANDOM)}, MH_RANDOM), not for the common-effect method "
                        f"{method}")


def _one(batch: PooledBatch, index: int, rows: np.ndarray, labels: list[str],
         sub_labels: list[str] | None, z: float, measure: str, method: str,
         settings: dict, hksj: Hksj, counts_ok: np.ndarray) -> PooledResult:
    studies = study_rows(batch, rows, labels, sub_labels, z)
    warnings = _warnings(batch, index, studies, method, hksj,
                         _out_of_range(batch, rows, labels, counts_ok))
    return result_from_batch(batch, index, measure=measure, method=method, studies=studies,
                             settings=settings, warnings=warnings)


def _out_of_range(batch: PooledBatch, rows: np.ndarray, labels: list[str],
                  counts_ok: np.ndarray) -> dict[str, str]:
    """Studies kept out by the range rule of :mod:`trialsynth.effects.table`, with the reason."""
    out = {}
    for j, pos in enumerate(rows):
        if not batch.included[pos]:
            why = out_of_range_reason(float(batch.yi[pos]), float(batch.vi[pos]),
                                      bool(counts_ok[pos % counts_ok.size]))
            if why is not None:
                out[labels[j]] = why
    return out


def _warnings(batch: PooledBatch, i: int, studies: tuple, method: str, hksj: Hksj,
              out_of_range: dict[str, str]) -> tuple[str, ...]:
    out = []
    if out_of_range:
        out.append("outside the range that can be pooled, left out of the pooling: "
                    + "; ".join(f"{name} ({why})" for name, why in out_of_range.items()))
    dropped = [s.study for s in studies if not s.included and s.study not in out_of_range]
    if dropped:
        out.append(f"not estimable, left out of the pooling: {', '.join(dropped)}")
    k = int(batch.k[i])
    if k == 0:
        out.append("no study could be pooled")
    if method in RANDOM and k >= 2 and not batch.converged[i]:
        message = (f"the {method} estimator of tau^2 did not converge "
                   f"({int(batch.iterations[i])} iterations); its value is not a solution")
        out.append(message)
        pywarnings.warn(message, ConvergenceWarning, stacklevel=4)
    if hksj and k == 2:
        out.append("HKSJ with k = 2 uses a t distribution on 1 df: the CI is very wide "
                   "(PITFALLS §3.4)")
    if batch.tau2_ci_beyond[i]:
        out.append(f"upper tau^2 confidence limit lies beyond metafor's search range "
                   f"(> {batch.tau2_ci_high[i]:g}); tau2_ci_search='unbounded' finds it")
    return tuple(out)


def subgroup_difference_test(batch: PooledBatch, indices: range) -> SubgroupTest:
    """Q between subgroups from their pooled estimates: Σ(θ̂_g − θ̄)²/SE_g², θ̄ their
    inverse-variance mean, df = G − 1 (Deeks & Higgins 2010, RevMan 5 "Test for subgroup
    differences"; Borenstein et al. 2009, eq. 19.12)."""
    idx = np.array(list(indices))
    est, se = batch.estimate[idx], batch.se[idx]
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
    g = int(ok.sum())
    if g < 2:
        return SubgroupTest(q=None, df=max(g - 1, 0), pvalue=None, i2=None)
    y, v = est[ok], se[ok] ** 2
    grp = np.zeros(g, dtype=np.intp)
    q = float(het.cochran_q(y, v, grp, 1)[0])
    df = np.array([g - 1.0])
    p = float(het.q_pvalue(np.array([q]), df)[0])
    i2 = float(het.i2_from_q(np.array([q]), df)[0])
    return SubgroupTest(q=q, df=g - 1, pvalue=p if math.isfinite(p) else None, i2=i2)
