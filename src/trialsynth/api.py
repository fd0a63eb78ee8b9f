"""``trialsynth.pool``: one meta-analysis from a data frame, with optional subgroups."""

from __future__ import annotations

import warnings as pywarnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from trialsynth._dist import norm_isf
from trialsynth._json import finite
from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS
from trialsynth.designs import rare
from trialsynth.designs.multiarm import MULTI_ARM
from trialsynth.designs.prepare import DesignOptions, Prepared, needs_preparing, prepare
from trialsynth.effects.table import BINARY, MEASURES, counts_in_range, out_of_range_reason
from trialsynth.effects.zero_cells import NO_CORRECTION
from trialsynth.errors import ConvergenceWarning, DataError
from trialsynth.pooling import heterogeneity as het
from trialsynth.pooling.batch import METHODS, MH_MEASURES, RANDOM, Hksj, PooledBatch, pool_arrays
from trialsynth.pooling.control import DEFAULT_CONTROL, Control, as_control
from trialsynth.pooling.result import (
    PooledResult,
    StudyRow,
    SubgroupTest,
    result_from_batch,
    study_rows,
)
from trialsynth.validate import study_columns, study_labels


def pool(frame: pd.DataFrame, measure: str, method: str, hksj: Hksj = False,
         subgroup: str | None = None, revman: bool = False, *,
         confidence_level: float = 0.95, source: str | None = None,
         designs: DesignOptions | Mapping[str, Any] | None = None,
         rare_events: bool = False, tau2_ci_search: str = "unbounded",
         control: Control | Mapping[str, Any] | None = None) -> PooledResult:
    """Pool the studies of ``frame`` into one meta-analysis.

    Parameters
    ----------
    frame : one row per study; columns ``study`` and, by measure, dichotomous
        ``events_t, n_t, events_c, n_c``; continuous ``mean_t, sd_t, n_t, mean_c, sd_c, n_c``;
        generic ``yi, se`` (ratio measures on the log scale). Optional: trial designs
        (``design``: parallel, crossover, cluster), reported effects and conversions at data
        entry (:mod:`trialsynth.designs.prepare` lists the columns); every adjustment is
        recorded in ``settings["designs"]``.
    measure : ``RR, OR, RD, PETO_OR, MD, SMD, GENERIC``.
    method : common effect ``IV, MH, PETO``; random effects with τ² estimator
        ``DL, REML, ML, PM, HE, SJ, EB``; ``MH_RANDOM`` is RevMan 5's "M-H, random"
        (DerSimonian–Laird τ² from Q around the Mantel–Haenszel estimate).
    hksj : Hartung–Knapp–Sidik–Jonkman CI (``True``), or ``"adhoc"`` for the variant that is never
        narrower than the Wald CI.
    subgroup : column whose values split the studies into subgroups.
    revman : use RevMan's conventions instead of metafor's (see :mod:`trialsynth.conventions`).
    designs : :class:`~trialsynth.designs.DesignOptions` or a mapping of its fields
        (``multi_arm``: split (default), combine or as_entered; ``crossover_corr``;
        ``sensitivity``: the correlations of the crossover sensitivity analysis).
    rare_events : for sparse dichotomous data choose the method by the Handbook's rules
        (:mod:`trialsynth.designs.rare`) and say why (``settings["rare_events"]``, warnings).
    tau2_ci_search : ``"unbounded"`` (default): the Q-profile bounds of τ² wherever they lie;
        ``"metafor"``: metafor's default search, capped at max(100, 10·τ̂²), whose bounds beyond
        the cap are reported as the cap with a warning (``confint.rma.uni`` default output).
    control : convergence control of the iterative τ² estimators (ML, REML, EB, PM) and of the
        Q-profile interval: a :class:`~trialsynth.pooling.control.Control` or a mapping of its
        fields, as metafor's ``control = list(...)`` (``threshold``, ``maxiter``, ``stepadj``,
        ``tau2_max``, ``tol``, ...); None: the defaults. Settings other than the defaults are
        recorded in ``settings["control"]``.
    """
    method = method.upper()
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}",
                        file=source)
    measure = measure.upper()
    check_level(confidence_level)
    check_method(measure, method, hksj)
    if tau2_ci_search not in het.TAU2_CI_SEARCHES:
        raise DataError(f"tau2_ci_search must be one of {', '.join(het.TAU2_CI_SEARCHES)}, not "
                        f"{tau2_ci_search!r}", file=source)
    try:
        ctl = as_control(control)
    except (ValueError, TypeError) as exc:
        raise DataError(str(exc), file=source, field="control") from None
    conventions = REVMAN_CONVENTIONS if revman else METAFOR_CONVENTIONS
    options = design_options(designs)
    prepared = None
    extra = needs_preparing(frame)
    if len(frame) and measure in MEASURES and measure != "GENERIC" and (
            extra or ("study" in frame.columns and frame["study"].duplicated().any())):
        if not extra:  # plain rows: the usual checks first, then the multi-arm detection
            study_columns(frame, measure, source=source)
        prepared = prepare(frame, measure, options, conventions=conventions, source=source)
    settings = {"measure": measure, "method": method, "hksj": hksj, "conventions":
                conventions.name, "confidence_level": confidence_level,
                "zero_cells": conventions.zero_cells.name, "tau2_ci_search": tau2_ci_search}
    if ctl != DEFAULT_CONTROL:  # the defaults are not repeated in every result
        settings["control"] = ctl.to_dict()
    if prepared is None:
        cols = study_columns(frame, measure, source=source)
        if rare_events and measure in BINARY:
            return _pool_sparse(frame, cols, measure, method, hksj, subgroup, conventions,
                                confidence_level, settings, source)
        return _pool_columns(frame, cols, measure, measure, method, hksj, subgroup, conventions,
                             confidence_level, settings, source)
    return _pool_prepared(frame, prepared, measure, method, hksj, subgroup, conventions,
                          confidence_level, settings, options, source, rare_events)


def _pool_sparse(frame: pd.DataFrame, cols: dict[str, np.ndarray], measure: str, method: str,
                 hksj: Hksj, subgroup: str | None, conventions: Any, level: float,
                 settings: dict[str, Any], source: str | None) -> PooledResult:
    """Sparse 2×2 data: the method of Handbook v6.4 §10.4.4.1 (trialsynth.designs.rare) —
    Mantel–Haenszel without zero-cell corrections, Peto, or the binomial-normal model for
    random effects — with the reason in ``settings["rare_events"]`` and the warnings."""
    random = method in RANDOM or method == "MH_RANDOM"
    choice = rare.choose(measure, random, cols["events_t"], cols["n_t"], cols["events_c"],
                         cols["n_c"])
    note = {"sparse": choice.sparse, "method": choice.method or method,
            "measure": choice.measure, "reason": choice.reason}
    settings = {**settings, "rare_events": note}
    if not choice.sparse:
        return _pool_columns(frame, cols, measure, measure, method, hksj, subgroup, conventions,
                             level, settings, source)
    if choice.method == "GLMM":
        counts = np.concatenate([cols[c] for c in ("events_t", "n_t", "events_c", "n_c")])
        if (counts != np.round(counts)).any():  # adjusted rows: a design effect, a split group
            raise DataError("--rare-events chose the binomial-normal model (random effects), "
                            "which needs whole counts, but some rows carry adjusted counts "
                            "(divided by a cluster design effect or a split shared group): use "
                            "a common-effect method (MH, PETO) or pool without --rare-events",
                            file=source, field="events_t")
        base = _pool_columns(frame, cols, "OR", "OR", method, hksj, subgroup, conventions,
                             level, settings, source)
        from trialsynth.designs import glmm  # scipy.optimize loads when a GLMM is fitted
        fit = glmm.binomial_normal(cols["events_t"], cols["n_t"], cols["events_c"], cols["n_c"],
                                   np.zeros(len(frame), np.intp), 1, confidence_level=level)
        note["glmm"] = {"estimate": float(fit.estimate[0]), "se": float(fit.se[0]),
                        "tau2": float(fit.tau2[0]), "k": int(fit.k[0])}
        return replace(base, estimate=float(fit.estimate[0]), se=float(fit.se[0]),
                       ci_low=float(fit.ci_low[0]), ci_high=float(fit.ci_high[0]),
                       statistic=float(fit.z[0]), pvalue=float(fit.pvalue[0]), df=None,
                       tau2=float(fit.tau2[0]), tau2_ci_low=None, tau2_ci_high=None,
                       pi_low=None, pi_high=None, method="GLMM",
                       warnings=(f"rare events: {choice.reason}", *base.warnings))
    uncorrected = replace(conventions, mh_zero_cells=NO_CORRECTION)
    res = _pool_columns(frame, cols, choice.measure, choice.measure, choice.method, False,
                        subgroup, uncorrected, level, settings, source)
    return replace(res, warnings=(f"rare events: {choice.reason}", *res.warnings))


def design_options(designs: DesignOptions | Mapping[str, Any] | None) -> DesignOptions:
    """:class:`DesignOptions` from None, itself, or a mapping of its fields (a review folder's
    ``settings.designs``); a bad value is a DataError."""
    if designs is None:
        return DesignOptions()
    if isinstance(designs, DesignOptions):
        return designs
    kw = dict(designs)
    if "crossover_correlation" in kw:
        kw["crossover_corr"] = kw.pop("crossover_correlation")
    if "correlation_sensitivity" in kw:
        kw["sensitivity"] = kw.pop("correlation_sensitivity")
    if kw.get("multi_arm", "split") not in MULTI_ARM:
        raise DataError(f"multi_arm must be one of {', '.join(MULTI_ARM)}, not "
                        f"{kw['multi_arm']!r}", field="multi_arm")
    corr = kw.get("crossover_corr")
    if corr is not None and not -1 <= float(corr) <= 1:
        raise DataError(f"crossover correlation must lie between -1 and 1, not {corr!r}",
                        field="crossover_corr")
    if "sensitivity" in kw:
        kw["sensitivity"] = tuple(float(r) for r in kw["sensitivity"])
    try:
        return DesignOptions(**kw)
    except TypeError as exc:
        raise DataError(f"unknown design option ({exc})", field="designs") from None


def _pool_prepared(frame: pd.DataFrame, prepared: Prepared, measure: str, method: str,
                   hksj: Hksj, subgroup: str | None, conventions: Any, level: float,
                   settings: dict[str, Any], options: DesignOptions, source: str | None,
                   rare_events: bool = False) -> PooledResult:
    """:func:`pool` after :func:`trialsynth.designs.prepare`: the rows it keeps, pooled as it
    says (by inverse variance when some rows enter as effects), placeholders for rows folded
    into another, and the crossover sensitivity analysis. ``rare_events``: the rows as prepared
    (cluster-adjusted, split) go through the sparse-data rules when every one is still a 2×2
    table; a row entered as an effect with its SE is refused."""
    labels = study_labels(frame)
    kept = np.flatnonzero(prepared.keep)
    sub = frame.iloc[kept].reset_index(drop=True)
    used = prepared.measure
    if measure == "GENERIC":
        cols, used = study_columns(sub, "GENERIC", source=source), "GENERIC"
    else:
        cols = prepared.columns
    run_method, notes = method, list(prepared.warnings)
    if used == "GENERIC" and measure != "GENERIC" and method in ("MH", "PETO", "MH_RANDOM"):
        run_method = "DL" if method == "MH_RANDOM" else "IV"
        notes.append(f"{method} needs 2x2 tables for every study; pooled by inverse variance "
                     f"({run_method}) instead")
    settings = {**settings, "method_used": run_method,
                "designs": prepared.to_dict(labels)}
    if rare_events and measure in BINARY:
        if used not in BINARY:
            rows = [i + 2 for i, d in enumerate(prepared.notes) if any(
                n.startswith(("crossover", "paired", "cluster-adjusted", "effect")) for n in d)]
            raise DataError("--rare-events needs every row as a 2x2 table, but rows "
                            f"{', '.join(map(str, rows))} enter as an effect with its SE (a "
                            "crossover trial's paired effect or a reported adjusted effect): "
                            "pool without --rare-events", file=source,
                            row=rows[0] if rows else None, field="design")
        result = _pool_sparse(sub, cols, used, method, hksj, subgroup, conventions, level,
                              settings, source)
    else:
        result = _pool_columns(sub, cols, used, measure, run_method, hksj, subgroup,
                               conventions, level, settings, source)
    if not prepared.keep.all():
        result = _with_placeholders(result, prepared, labels, frame, subgroup)
    result = replace(result, warnings=(*notes, *result.warnings))
    if prepared.assumed_rows and options.force_corr is None:
        settings["designs"]["correlation_sensitivity"] = _corr_sensitivity(
            frame, measure, method, hksj, conventions, level, options, source,
            settings.get("control"))
    return result


def _corr_sensitivity(frame: pd.DataFrame, measure: str, method: str, hksj: Hksj,
                      conventions: Any, level: float, options: DesignOptions,
                      source: str | None, control: Mapping[str, Any] | None = None
                      ) -> list[dict[str, Any]]:
    """The pooled result with each assumed within-participant correlation replaced by each
    value of ``options.sensitivity`` (Handbook v6.4 §23.2.7.3: "a sensitivity analysis should
    be undertaken, trying different values of Corr")."""
    out = []
    for r in options.sensitivity:
        res = pool(frame, measure, method, hksj, None, conventions.name == "revman",
                   confidence_level=level, source=source,
                   designs=replace(options, force_corr=float(r)), control=control)
        out.append({"corr": float(r), "estimate": res.estimate, "se": res.se,
                    "ci_low": res.ci_low, "ci_high": res.ci_high, "tau2": res.tau2,
                    "exp": res.exp})
    return out


def _with_placeholders(result: PooledResult, prepared: Prepared, labels: list[str],
                       frame: pd.DataFrame, subgroup: str | None) -> PooledResult:
    """Rows folded into another (multi-arm arms combined) shown as not pooled, in table order."""
    pooled = iter(result.studies)
    rows = []
    for i, keep in enumerate(prepared.keep):
        if keep:
            rows.append(next(pooled))
        else:
            label = None if subgroup is None else str(frame[subgroup].iloc[i])
            rows.append(StudyRow(labels[i], None, None, None, None, None, False, label))
    return replace(result, studies=tuple(rows))


def _pool_columns(frame: pd.DataFrame, cols: dict[str, np.ndarray], used: str, measure: str,
                  method: str, hksj: Hksj, subgroup: str | None, conventions: Any,
                  confidence_level: float, settings: dict[str, Any], source: str | None
                  ) -> PooledResult:
    labels = study_labels(frame)
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
    batch = pool_arrays(used, method, flat, group, 1 + len(names), hksj=hksj,
                        conventions=conventions, confidence_level=confidence_level,
                        tau2_ci_search=settings.get("tau2_ci_search", "unbounded"),
                        control=settings.get("control"))
    counts_ok = (counts_in_range(flat) if used != "GENERIC"
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
    if method in ("MH", "MH_RANDOM") and measure not in MH_MEASURES:
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
    return SubgroupTest(q=q, df=g - 1, pvalue=finite(p), i2=i2)
