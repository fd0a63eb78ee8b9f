"""From a table of study rows as extracted to the inputs of the pooling: trial designs,
conversions at data entry and multi-arm trials, each adjustment recorded per row.

This is the one implementation behind ``trialsynth pool``, the review folder and
:func:`trialsynth.pool`. Column vocabulary (all optional beside the measure's own columns):

* ``design``: ``parallel`` (default), ``crossover`` or ``cluster``; ``period``: ``first`` for
  first-period data of a crossover trial (analysed as parallel groups, Handbook v6.4 §23.2.6);
* crossover: ``corr`` (within-participant correlation; for a binary outcome the phi
  correlation), ``events_both`` (participants with the event under both interventions);
* cluster: ``cluster_size`` (average cluster size M) and ``icc``;
* an effect as reported (paired, cluster-adjusted, or any): ``effect`` (ratios on their natural
  scale) with ``effect_se`` (log scale for ratios), or ``effect_ci_low``/``effect_ci_high``,
  ``effect_t`` or ``effect_p``;
* continuous arms: ``median_t, q1_t, q3_t, min_t, max_t, se_t, ci_low_t, ci_high_t,
  baseline_mean_t, baseline_sd_t`` (and ``_c``), ``corr_change`` (:mod:`.entry`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trialsynth.designs import cluster, crossover, entry, multiarm
from trialsynth.designs.multiarm import MultiArm, SharedGroup
from trialsynth.effects.table import BINARY, COLUMNS, study_effects
from trialsynth.errors import DataError
from trialsynth.registry.measures import RATIO_MEASURES

DESIGNS = ("parallel", "crossover", "cluster")
EFFECT_COLUMNS = ("effect", "effect_se", "effect_ci_low", "effect_ci_high", "effect_t",
                  "effect_p")
DESIGN_COLUMNS = ("corr", "cluster_size", "icc", "events_both")
TEXT_COLUMNS = ("design", "period")
EXTRA_COLUMNS = (*TEXT_COLUMNS, *DESIGN_COLUMNS, *EFFECT_COLUMNS, *entry.ENTRY_COLUMNS)
RATIO = RATIO_MEASURES  # trialsynth.registry
HB = "Handbook v6.4"


@dataclass(frozen=True, slots=True)
class DesignOptions:
    """Review-wide choices: the multi-arm remedy, a within-participant correlation set for the
    review (None: imputed from the trials that allow it), the correlations of the sensitivity
    analysis, and ``imputed``: a correlation imputed across the review (value, sources), which
    the review runner computes over every analysis of the same outcome and which then takes the
    place of the analysis' own imputation (Handbook v6.4 §23.2.7.3)."""

    multi_arm: MultiArm = "split"
    crossover_corr: float | None = None
    sensitivity: tuple[float, ...] = crossover.DEFAULT_SENSITIVITY
    imputed: tuple[float, tuple[str, ...]] | None = None
    force_corr: float | None = None  # the sensitivity analysis: every assumed Corr replaced


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the pooling takes (``measure``, ``columns`` for the rows ``keep``) and what was done
    to each row of the table (``designs``, ``notes``), with the shared groups found and the
    correlation assumed for crossover trials (``corr``: value, source, rows using it)."""

    measure: str
    columns: dict[str, np.ndarray]
    keep: np.ndarray
    designs: tuple[str, ...]
    notes: tuple[tuple[str, ...], ...]
    shared: tuple[SharedGroup, ...] = ()
    warnings: tuple[str, ...] = ()
    corr: dict[str, Any] | None = None
    assumed_rows: tuple[int, ...] = ()

    def to_dict(self, labels: Sequence[str]) -> dict[str, Any]:
        return {"rows": [{"study": labels[i], "design": self.designs[i],
                          "adjustments": list(self.notes[i]), "pooled": bool(self.keep[i])}
                         for i in range(len(self.designs))],
                "shared_comparator_groups": [{"study": s.study, "rows": [r + 2 for r in s.rows]}
                                             for s in self.shared],
                "crossover_correlation": self.corr, "pooled_as": self.measure}


@dataclass(slots=True)
class _Work:
    num: dict[str, np.ndarray]
    design: list[str]
    notes: list[list[str]] = field(default_factory=list)
    generic: np.ndarray | None = None  # rows entering as (yi, se)
    yi: np.ndarray | None = None
    se: np.ndarray | None = None


def needs_preparing(frame: pd.DataFrame) -> bool:
    return any(c in frame.columns for c in EXTRA_COLUMNS)


def data_type_of(measure: str) -> str:
    return "dichotomous" if measure in BINARY else "continuous" if measure in ("MD", "SMD") \
        else "generic"


def prepare(frame: pd.DataFrame, measure: str, options: DesignOptions = DesignOptions(), *,
            conventions: Any = None, source: str | None = None) -> Prepared | None:
    """Design adjustments and conversions of ``frame`` for ``measure``; None when the table
    has none of the extra columns and no shared comparator group (nothing to do)."""
    dtype, labels, w = _start(frame, measure, source)
    n = len(frame)
    corr_info, assumed = None, ()
    if needs_preparing(frame):
        corr_info, assumed = _crossover(w, measure, dtype, options, labels, source)
        _cluster(w, dtype, source)
    keep = np.ones(n, bool)
    shared: list[SharedGroup] = []
    warnings: list[str] = []
    if dtype != "generic":
        shared, dropped = _multi_arm(w, dtype, labels, options.multi_arm, warnings)
        keep[dropped] = False
    if not needs_preparing(frame) and not shared:
        return None
    pooled_measure, columns = _columns(w, measure, dtype, conventions)
    if pooled_measure == "GENERIC" and measure != "GENERIC":
        warnings.append(f"{int(w.generic.sum())} row(s) enter as an effect with its SE (paired, "
                        "adjusted or reported): pooled by inverse variance")
    return Prepared(pooled_measure, {k: v[keep] for k, v in columns.items()}, keep,
                    tuple(w.design), tuple(tuple(x) for x in w.notes), tuple(shared),
                    tuple(warnings), corr_info, assumed)


def _start(frame: pd.DataFrame, measure: str, source: str | None
           ) -> tuple[str, list[str], _Work]:
    """The rows read and checked, conversions at data entry made and reported effects taken."""
    dtype = data_type_of(measure)
    labels = [str(s) for s in frame["study"]] if "study" in frame.columns else \
        [f"Study {i + 1}" for i in range(len(frame))]
    w = _Work(_numbers(frame, measure, source), _designs(frame, source))
    _check_raw(w.num, dtype, source)
    n = len(frame)
    w.notes = [[] for _ in range(n)]
    w.generic, w.yi, w.se = np.zeros(n, bool), np.full(n, np.nan), np.full(n, np.nan)
    if needs_preparing(frame):
        if dtype == "continuous":
            _continuous_entry(w, source)
        _effects_given(w, measure, dtype)
    return dtype, labels, w


def trial_correlations(frame: pd.DataFrame, measure: str, source: str | None = None
                       ) -> list[tuple[str, float]]:
    """(study, within-participant correlation) of the crossover trials of ``frame`` that allow
    computing one (Handbook v6.4 §23.2.7.3): a paired MD's SE (or CI, t, P) with both SDs, or a
    binary outcome's paired table (``events_both``). The review runner pools these over the
    analyses of one outcome to impute the correlation review-wide."""
    if "design" not in frame.columns or data_type_of(measure) == "generic":
        return []
    dtype, labels, w = _start(frame, measure, source)
    cross = np.array([d == "crossover" for d in w.design])
    paired = [int(i) for i in np.flatnonzero(cross & w.generic)]
    idx = np.flatnonzero(cross & ~w.generic)
    own = _own_corr(w.num, idx, dtype)
    return _correlations_in(w, dtype, measure, labels, paired, idx, own)


# ----------------------------------------------------------------------------- reading
def _numbers(frame: pd.DataFrame, measure: str, source: str | None) -> dict[str, np.ndarray]:
    names = {*COLUMNS.get(measure, ()), "n_t", "n_c", "mean_t", "sd_t", "mean_c", "sd_c",
             "events_t", "events_c", *DESIGN_COLUMNS, *EFFECT_COLUMNS, *entry.ENTRY_COLUMNS,
             "yi", "se"}
    out = {}
    for c in sorted(names):
        if c not in frame.columns:
            out[c] = np.full(len(frame), np.nan)
            continue
        vals = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
        bad = frame[c].notna().to_numpy() & ~np.isfinite(vals)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"not a finite number: {frame[c].iloc[i]!r}", file=source,
                            row=i + 2, field=c)
        out[c] = vals.copy()
    return out


def _check_raw(num: Mapping[str, np.ndarray], dtype: str, source: str | None) -> None:
    """Counts whole and non-negative, events within participants, SDs and SEs positive."""
    def fail(mask: np.ndarray, message: str, col: str) -> None:
        if mask.any():
            raise DataError(message, file=source, row=int(np.argmax(mask)) + 2, field=col)

    with np.errstate(invalid="ignore"):
        counts = ("events_t", "n_t", "events_c", "n_c", "events_both") \
            if dtype == "dichotomous" else ("n_t", "n_c")
        for c in counts:
            fail(num[c] < 0, "counts cannot be negative", c)
            fail(np.isfinite(num[c]) & (num[c] != np.round(num[c])), "counts must be whole numbers", c)
        if dtype == "dichotomous":
            fail(num["events_t"] > num["n_t"], "more events than participants (n_t)", "events_t")
            fail(num["events_c"] > num["n_c"], "more events than participants (n_c)", "events_c")
            fail(num["events_both"] > np.fmin(num["events_t"], num["events_c"]),
                 "events_both cannot exceed events_t or events_c", "events_both")
        for c in ("sd_t", "sd_c", "effect_se", "se_t", "se_c"):
            fail(num[c] <= 0, "must be positive", c)
        for c in ("corr", "corr_change", "icc"):
            fail(np.abs(num[c]) > 1, "a correlation lies between -1 and 1", c)


def _designs(frame: pd.DataFrame, source: str | None) -> list[str]:
    raw = frame["design"] if "design" in frame.columns else [None] * len(frame)
    period = frame["period"] if "period" in frame.columns else [None] * len(frame)
    out = []
    for i, (d, p) in enumerate(zip(raw, period, strict=True)):
        d = "parallel" if d is None or (isinstance(d, float) and d != d) or not str(d).strip() \
            else str(d).strip().lower()
        if d not in DESIGNS:
            raise DataError(f"design must be one of {', '.join(DESIGNS)} (or empty: parallel), "
                            f"not {d!r}", file=source, row=i + 2, field="design")
        p = None if p is None or (isinstance(p, float) and p != p) or not str(p).strip() \
            else str(p).strip().lower()
        if p not in (None, "first"):
            raise DataError(f"period must be 'first' or empty, not {p!r}", file=source,
                            row=i + 2, field="period")
        if p == "first" and d != "crossover":
            raise DataError("period 'first' is for a crossover trial's first-period data",
                            file=source, row=i + 2, field="period")
        out.append("crossover-first-period" if p == "first" else d)
    return out


# ----------------------------------------------------------------- conversions at entry
def _continuous_entry(w: _Work, source: str | None) -> None:
    log: list[entry.Filled] = []
    try:
        entry.fill_arm(w.num, "t", log)
        entry.fill_arm(w.num, "c", log)
        missing = entry.to_change(w.num, log)
        parallel = {k: np.where(np.array([d != "crossover" for d in w.design]), v, np.nan)
                    for k, v in w.num.items() if k in EFFECT_COLUMNS}
        entry.fill_from_difference(w.num, parallel, log)
    except DataError as exc:
        raise DataError(exc.reason, file=source, row=exc.row, field=exc.field) from None
    if missing:
        raise DataError("a baseline mean and SD are given without corr_change (the baseline–final"
                        " correlation, Handbook v6.4 §6.5.2.8)", file=source, row=missing[0] + 2,
                        field="corr_change")
    for f in log:
        for i in f.rows:
            w.notes[int(i)].append(f"{f.column}: {f.method}")


# --------------------------------------------------------------- effects as reported
def _arms_complete(num: Mapping[str, np.ndarray], dtype: str) -> np.ndarray:
    need = ("events_t", "n_t", "events_c", "n_c") if dtype == "dichotomous" else \
        ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c")
    return np.logical_and.reduce([np.isfinite(num[c]) for c in need])


def _effects_given(w: _Work, measure: str, dtype: str) -> None:
    """Rows that enter as a reported effect with its SE: crossover and cluster rows that
    report one (paired, or adjusted for clustering), and other rows without arm data."""
    num = w.num
    effect = num["effect"].copy()
    crossover_rows = np.array([d == "crossover" for d in w.design])
    if measure == "MD":  # a paired MD from the two means (Handbook §23.2.7.1)
        effect = np.where(np.isfinite(effect), effect, num["mean_t"] - num["mean_c"])
    precision = np.isfinite(num["effect_se"]) | (np.isfinite(num["effect_ci_low"]) &
                                                 np.isfinite(num["effect_ci_high"])) | \
        np.isfinite(num["effect_t"]) | np.isfinite(num["effect_p"])
    reported = np.isfinite(effect) & precision
    if measure != "MD":
        reported &= np.isfinite(num["effect"])
    design = np.array(w.design)
    use = reported & ((design == "crossover") | (design == "cluster") |
                      ~_arms_complete(num, dtype))
    if dtype == "generic" or not use.any():
        return
    ratio = measure in RATIO
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(effect) if ratio else effect
    se = _se_of_reported(num, yi, ratio, crossover_rows, dtype)
    for i in np.flatnonzero(use):
        if not (np.isfinite(yi[i]) and np.isfinite(se[i]) and se[i] > 0):
            raise DataError("the reported effect and its SE, CI, t or P value do not give a "
                            "positive finite SE", row=int(i) + 2, field="effect")
        w.generic[i], w.yi[i], w.se[i] = True, yi[i], se[i]
        how = _how_se(num, int(i))
        what = {"crossover": "paired effect of the crossover trial",
                "cluster": "cluster-adjusted effect"}.get(w.design[i], "effect")
        w.notes[int(i)].append(f"{what} as reported, SE {how}")


def _se_of_reported(num: Mapping[str, np.ndarray], yi: np.ndarray, ratio: bool,
                    paired: np.ndarray, dtype: str) -> np.ndarray:
    """SE of a reported effect: given; from a 95% CI (ratios on the log scale); from t
    (SE = |effect|/|t|); from a two-sided P (z, or t for a continuous outcome: N − 1 df paired,
    n_t + n_c − 2 parallel) (Handbook v6.4 §6.3.1–6.3.2, §6.5.2.3, §23.2.7.1)."""
    from trialsynth._dist import norm_isf, t_isf, t_ppf

    n_t, n_c = num["n_t"], num["n_c"]
    df = np.where(paired, n_t - 1, n_t + n_c - 2)
    small = np.where(paired, n_t, np.minimum(n_t, n_c)) < 60  # Handbook §6.5.2.3
    cont = dtype == "continuous"
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = num["effect_ci_low"], num["effect_ci_high"]
        if ratio:
            lo, hi = np.log(lo), np.log(hi)
        q = np.where(cont & small & np.isfinite(df), t_ppf(0.975, df), 1.959963984540054)
        se_ci = (hi - lo) / (2 * q)  # Handbook §6.3.1 (3.92 = 2 × 1.96 for large samples)
        se_t = np.abs(yi) / np.abs(num["effect_t"])  # Handbook §6.3.1: SE = effect/t
        crit = np.where(cont & np.isfinite(df), t_isf(num["effect_p"] / 2, df),
                        norm_isf(num["effect_p"] / 2))  # Handbook §6.3.2 (z from P)
        se_p = np.abs(yi) / crit
    out = num["effect_se"].copy()
    for alt in (se_ci, se_t, se_p):
        out = np.where(np.isfinite(out), out, alt)
    return out


def _how_se(num: Mapping[str, np.ndarray], i: int) -> str:
    if np.isfinite(num["effect_se"][i]):
        return "as reported"
    if np.isfinite(num["effect_ci_low"][i]):
        return "from its 95% CI (Handbook v6.4 §6.3.1)"
    if np.isfinite(num["effect_t"][i]):
        return f"from t = {num['effect_t'][i]:g} (SE = effect/t, Handbook v6.4 §6.3.1)"
    return f"from P = {num['effect_p'][i]:g} (Handbook v6.4 §6.3.2, §23.2.7.1)"


# ---------------------------------------------------------------------------- crossover
def _crossover(w: _Work, measure: str, dtype: str, options: DesignOptions,
               labels: Sequence[str], source: str | None
               ) -> tuple[dict[str, Any] | None, tuple[int, ...]]:
    """Paired effects of crossover rows given as arm data (§23.2.7; Elbourne 2002)."""
    rows = [i for i, d in enumerate(w.design) if d == "crossover" and not w.generic[i]]
    paired = [i for i, d in enumerate(w.design) if d == "crossover" and w.generic[i]]
    if not rows:
        return None, ()
    if dtype == "generic" or measure == "PETO_OR":
        raise DataError(f"a crossover trial given as arm data needs measure RR, OR, RD, MD or "
                        f"SMD, not {measure} (or give its paired effect and SE)", file=source,
                        row=rows[0] + 2, field="design")
    num = w.num
    for i in rows:
        if np.isfinite(num["n_c"][i]) and num["n_c"][i] != num["n_t"][i]:
            raise DataError("a crossover trial's paired analysis has one N: n_t and n_c must be "
                            "equal (the participants who completed both periods)", file=source,
                            row=i + 2, field="n_c")
    idx = np.array(rows)
    own = _own_corr(num, idx, dtype)
    value, how, assumed = _review_corr(w, dtype, measure, options, labels, paired, idx, own,
                                       source)
    corr = np.where(np.isfinite(own), own, value)
    if options.force_corr is not None:
        corr = np.where(np.isin(idx, assumed), options.force_corr, corr)
    label = "set for the review" if how.startswith("set") else "imputed" if how else "assumed"
    if options.force_corr is not None:
        label = "sensitivity analysis"
    _paired_effects(w, measure, dtype, idx, corr, own, label)
    info = None if not assumed else {"value": value, "source": how,
                                     "studies": [labels[i] for i in assumed]}
    return info, tuple(assumed)


def _own_corr(num: Mapping[str, np.ndarray], idx: np.ndarray, dtype: str) -> np.ndarray:
    """Each row's own correlation: its ``corr``; for a binary outcome the phi correlation of
    its paired table when ``events_both`` is given."""
    own = num["corr"][idx].copy()
    if dtype == "dichotomous":
        phi = crossover.phi_from_both(num["events_t"][idx], num["events_c"][idx],
                                      num["events_both"][idx], num["n_t"][idx])
        own = np.where(np.isfinite(num["events_both"][idx]), phi, own)
    return own


def _review_corr(w: _Work, dtype: str, measure: str, options: DesignOptions, labels: Sequence[str],
                 paired: Sequence[int], idx: np.ndarray, own: np.ndarray, source: str | None
                 ) -> tuple[float, str, list[int]]:
    """The correlation for rows without their own: set for the review, else imputed from the
    review's trials that allow it (Handbook v6.4 §23.2.7.3: computed from trials reporting
    both SDs and the paired SE; the mean of those correlations is used)."""
    assumed = [int(i) for i, r in zip(idx, own, strict=True) if not np.isfinite(r)]
    if not assumed:
        return float("nan"), "", []
    if options.crossover_corr is not None:
        return options.crossover_corr, "set for the review (settings.designs)", assumed
    if options.imputed is not None:  # review-wide (the review runner; this analysis included)
        value, studies = options.imputed
        return value, (f"imputed: mean of the correlations computed from the review's trials "
                       f"of this outcome that allow it, one per trial ({', '.join(studies)}; "
                       f"Handbook v6.4 §23.2.7.3)"), assumed
    found = _correlations_in(w, dtype, measure, labels, paired, idx, own)
    if found:
        values = [r for _, r in found]
        mean = float(np.mean(values))
        text = ", ".join(f"{s} {r:.3f}" for s, r in found)
        return mean, (f"imputed: mean of the correlations computed from this analysis' trials "
                      f"that allow it ({text}; Handbook v6.4 §23.2.7.3)"), assumed
    raise DataError("a crossover trial given as arm means/SDs (or counts) needs the "
                    "within-participant correlation: give column corr, the paired effect with "
                    "its SE, or set settings.designs.crossover_correlation (no trial of the "
                    "review allows imputing it, Handbook v6.4 §23.2.7.3)", file=source,
                    row=assumed[0] + 2, field="corr")


def _correlations_in(w: _Work, dtype: str, measure: str, labels: Sequence[str],
                     paired: Sequence[int], idx: np.ndarray, own: np.ndarray
                     ) -> list[tuple[str, float]]:
    """(study, correlation) of the rows that allow computing one: a paired MD's SE with both
    SDs (continuous; a reported SMD's SE is not an MD's, so SMD rows give none), or a paired
    table (binary)."""
    num = w.num
    out = []
    if dtype == "continuous":
        if measure != "MD":
            return out
        for i in paired:
            r = crossover.corr_from_paired_se(num["sd_t"][i], num["sd_c"][i], w.se[i], num["n_t"][i])
            if np.isfinite(r) and -1 <= r <= 1:
                out.append((labels[i], float(r)))
    else:
        for i, r in zip(idx, own, strict=True):
            if np.isfinite(num["events_both"][i]) and np.isfinite(r):
                out.append((labels[int(i)], float(r)))
    return out


def _paired_effects(w: _Work, measure: str, dtype: str, idx: np.ndarray, corr: np.ndarray,
                    own: np.ndarray, label: str) -> None:
    num = w.num
    n = num["n_t"][idx]
    if dtype == "continuous":
        md = num["mean_t"][idx] - num["mean_c"][idx]
        if measure == "SMD":
            yi, vi = crossover.crossover_smd(md, num["sd_t"][idx], num["sd_c"][idx], corr, n)
            se = np.sqrt(vi)
            what = "SMD and SE(SMD) = √((1/N + SMD²/(2N))·2(1 − Corr)) (Handbook v6.4 §23.2.7.2)"
        else:
            yi = md
            se = crossover.paired_md_se(num["sd_t"][idx], num["sd_c"][idx], corr, n)
            what = "MD and SE = √((SD_E² + SD_C² − 2·Corr·SD_E·SD_C)/N) (Handbook v6.4 §23.2.7.1)"
    else:
        et, ec = num["events_t"][idx].copy(), num["events_c"][idx].copy()
        zero = (et == 0) | (ec == 0) | (et == n) | (ec == n)
        et, ec, n = np.where(zero, et + 0.5, et), np.where(zero, ec + 0.5, ec), np.where(zero, n + 1, n)
        yi, vi = crossover.paired_binary(measure, et, ec, n, corr)
        se = np.sqrt(vi)
        what = (f"marginal {measure} with the paired variance (Becker & Balagtas 1993; Elbourne et al."
                " 2002; Curtin et al. 2002)")
    for j, i in enumerate(idx):
        i = int(i)
        w.generic[i], w.yi[i], w.se[i] = True, yi[j], se[j]
        src = "the trial's own" if np.isfinite(own[j]) else label
        w.notes[i].append(f"crossover, N = {num['n_t'][i]:g}: paired {what}; Corr = {corr[j]:.3f} "
                          f"({src})")
        if dtype == "dichotomous" and zero[j]:
            w.notes[i].append("0.5 added to each arm's events and non-events (a zero cell)")
    num["n_c"][idx] = 0.0  # N participants in all, not 2N


# ------------------------------------------------------------------------------ cluster
def _cluster(w: _Work, dtype: str, source: str | None) -> None:
    """Effective sample sizes of cluster rows given as arm data (Handbook v6.4 §23.1.4)."""
    num = w.num
    for i, d in enumerate(w.design):
        if d != "cluster" or w.generic[i] or dtype == "generic":
            continue
        for c in ("cluster_size", "icc"):
            if not np.isfinite(num[c][i]):
                raise DataError(f"a cluster-randomised trial needs {c} (or its adjusted effect "
                                "with its SE)", file=source, row=i + 2, field=c)
        m, icc = num["cluster_size"][i], num["icc"][i]
        if m < 1 or not 0 <= icc <= 1:
            raise DataError("cluster_size must be ≥ 1 and icc between 0 and 1", file=source,
                            row=i + 2, field="icc" if m >= 1 else "cluster_size")
        deff = float(cluster.design_effect(m, icc))
        cols = ("events_t", "n_t", "events_c", "n_c") if dtype == "dichotomous" else ("n_t", "n_c")
        before = ", ".join(f"{c} {num[c][i]:g}" for c in cols)
        for c in cols:
            num[c][i] = num[c][i] / deff  # Handbook §23.1.4: divided by the design effect
        after = ", ".join(f"{c} {num[c][i]:.4g}" for c in cols)
        w.notes[i].append(f"cluster: design effect 1 + (M − 1)·ICC = 1 + ({m:g} − 1)×{icc:g} = "
                          f"{deff:.4g}; {before} divided by it: {after} ({HB} §23.1.4)")


# ---------------------------------------------------------------------------- multi-arm
def _multi_arm(w: _Work, dtype: str, labels: Sequence[str], how: MultiArm,
               warnings: list[str]) -> tuple[list[SharedGroup], list[int]]:
    num = w.num
    eligible = ~w.generic & _arms_complete(num, dtype)
    control = {c: num[c] for c in multiarm.CONTROL[dtype]}
    shared = multiarm.detect(labels, np.zeros(len(labels), np.intp), control, eligible)
    dropped: list[int] = []
    if not shared:
        return shared, dropped
    before = {c: num[c].copy() for c in ("n_c", "events_c", "n_t", "events_t", "mean_t", "sd_t")}
    if how == "split":
        multiarm.split_shared(num, shared, dtype)
    elif how == "combine":
        dropped = multiarm.combine_arms(num, shared, dtype)
    for s in shared:
        k = len(s.rows)
        warnings.append(multiarm.shared_warning(s.study, s.rows, how))
        for j, i in enumerate(s.rows):
            w.notes[i].append(_shared_note(how, k, i, j, s.rows[0], before, num, dtype))
    return shared, dropped


def _shared_note(how: MultiArm, k: int, i: int, j: int, first: int,
                 before: Mapping[str, np.ndarray], num: Mapping[str, np.ndarray], dtype: str) -> str:
    if how == "split":
        ev = f"events_c {before['events_c'][i]:g} → {num['events_c'][i]:.4g}, " \
            if dtype == "dichotomous" else ""
        return (f"multi-arm: comparator shared by {k} comparisons, split evenly: {ev}"
                f"n_c {before['n_c'][i]:g} → {num['n_c'][i]:.4g} ({HB} §23.3.4)")
    if how == "combine":
        if j:
            return f"multi-arm: experimental arm combined into row {first + 2} ({HB} §23.3.4)"
        return (f"multi-arm: {k} experimental arms combined (Handbook Table 6.5.a), n_t "
                f"{before['n_t'][i]:g} → {num['n_t'][i]:g} ({HB} §23.3.4)")
    return f"multi-arm: comparator shared by {k} comparisons, counted {k} times (as entered)"


# ------------------------------------------------------------------------------ output
def _columns(w: _Work, measure: str, dtype: str, conventions: Any
             ) -> tuple[str, dict[str, np.ndarray]]:
    num = w.num
    if dtype == "generic":
        return measure, {"yi": num["yi"], "se": num["se"], "n_t": num["n_t"], "n_c": num["n_c"]}
    arms = ~w.generic
    complete = _arms_complete(num, dtype)
    bad = arms & ~complete
    if bad.any():
        i = int(np.argmax(bad))
        need = COLUMNS[measure]
        field = next((c for c in need if not np.isfinite(num[c][i])), need[0])
        raise DataError("this row has neither complete arm data nor a reported effect with its "
                        "SE, CI, t or P value", row=i + 2, field=field)
    if not w.generic.any():
        return measure, {c: num[c] for c in COLUMNS[measure]}
    from trialsynth.conventions import METAFOR_CONVENTIONS

    conv = conventions or METAFOR_CONVENTIONS
    yi, se = w.yi.copy(), w.se.copy()
    if arms.any():
        sub = {c: num[c][arms] for c in COLUMNS[measure]}
        eff = study_effects(measure, sub, np.zeros(int(arms.sum()), np.intp), 1,
                            zero_cells=conv.zero_cells, smd_correction=conv.smd_correction,
                            smd_variance=conv.smd_variance)
        yi[arms], se[arms] = eff.yi, np.sqrt(eff.vi)
    return "GENERIC", {"yi": yi, "se": se, "n_t": num["n_t"], "n_c": num["n_c"]}
