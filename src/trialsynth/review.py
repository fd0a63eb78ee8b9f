"""A review read from a RevMan export: its analyses, their study rows, and the settings inferred
from RevMan's own stored per-study numbers.

RevMan Web's "data rows" export does not say which effect measure or pooling method an analysis
used. We infer both by recomputation and say so: the measure is the one whose per-study effects
reproduce RevMan's stored ``Mean`` column, the method the one whose per-study weights reproduce the
stored ``Weight`` column (all under RevMan's conventions, :data:`REVMAN_CONVENTIONS`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from trialsynth._segments import FloatArray, IntArray
from trialsynth.arms import ArmLabels
from trialsynth.conventions import REVMAN_CONVENTIONS
from trialsynth.pooling.batch import pool_arrays
from trialsynth.registry import COMMON_METHODS, measures_of_type
from trialsynth.registry.measures import LOG_SCALE

if TYPE_CHECKING:
    from trialsynth.pooling.result import PooledResult

DataType = Literal["dichotomous", "continuous", "generic"]
# weights relative to the whole analysis, within each subgroup (RevMan "subtotals only"), or
# none at all (RevMan stores weight 0 for every study: the review did not pool the analysis)
Totals = Literal["overall", "subgroups", "none"]
WITHIN = "/subgroups"  # suffix of a method candidate whose weights are within subgroups
DATA_TYPES: tuple[DataType, ...] = ("continuous", "dichotomous", "generic")  # fallback priority
# GENERIC_LOG: entered on the log scale, shown as ratio (trialsynth.registry.measures)
MEASURES: dict[str, tuple[str, ...]] = {
    t: measures_of_type(t) for t in ("dichotomous", "continuous", "generic")}
METHODS: dict[str, tuple[str, ...]] = {  # methods RevMan offers per measure
    **{m: ("IV", "DL", "MH", "MH_RANDOM") for m in ("RR", "OR", "RD")},
    "PETO_OR": ("PETO",),
    **{m: ("IV", "DL") for m in ("MD", "SMD", "GENERIC", "GENERIC_LOG")},
}
# RevMan 5 defaults for a new outcome (used only when the file carries no evidence at all)
DEFAULT_MEASURE = {"dichotomous": "RR", "continuous": "MD", "generic": "GENERIC"}
DEFAULT_METHOD = {"dichotomous": "MH", "continuous": "IV", "generic": "IV"}
EFFECT_TOL = 1e-4  # |ours − stored| / max(1, |stored|) for an effect to count as reproduced
WEIGHT_TOL = 1e-4  # percentage points for a weight to count as reproduced


def pool_measure(measure: str) -> str:
    """The measure name :func:`trialsynth.pool` understands."""
    return "GENERIC" if measure == "GENERIC_LOG" else measure


def to_display(measure: str, values: FloatArray) -> FloatArray:
    """From the analysis scale to RevMan's display scale (ratios on the natural scale)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.exp(values) if measure in LOG_SCALE else np.asarray(values, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Inferred:
    """Settings of one analysis inferred from RevMan's stored per-study numbers.

    ``evidence`` holds, per candidate, how far its per-study effects (``measure``) and weights
    (``method``) are from RevMan's, and how each choice was made (``decided_by``).
    """

    data_type: DataType
    measure: str
    method: str
    weight_max_abs_diff: float | None
    evidence: dict[str, Any] = field(repr=False)
    notes: tuple[str, ...] = ()
    totals: Totals = "overall"
    conventions: str = "revman"
    inferred: bool = True
    # settings that only a file stating them can carry (defaults: RevMan's for a new outcome)
    confidence_level: float = 0.95  # CI of pooled results (rm5 CI_TOTAL, Web "Estimate CI")
    study_confidence_level: float = 0.95  # CI of study effects (rm5 CI_STUDY, Web "Study CI")
    swap_events: bool = False  # RevMan analysed non-events (rm5 SWAP_EVENTS); frame keeps events
    subgroup_test: bool = True  # the test for subgroup differences was requested
    hksj: bool = False  # Hartung-Knapp-Sidik-Jonkman CI (RevMan Web option)
    # the prediction interval shown (None: not stated; the report shows it for random effects)
    prediction_interval: bool | None = None
    stated: dict[str, str] | None = field(default=None, repr=False)  # as written in the file
    # how trial designs enter (protocol.DesignSettings as a dict; None: trialsynth's defaults)
    designs: dict[str, Any] | None = None

    @property
    def model(self) -> str:
        return "common" if self.method in COMMON_METHODS else "random"

    @property
    def scale(self) -> str:
        return "log" if self.measure in LOG_SCALE else "identity"

    def to_dict(self) -> dict[str, Any]:
        return {"inferred": self.inferred, "data_type": self.data_type, "measure": self.measure,
                "method": self.method, "model": self.model, "scale": self.scale,
                "totals": self.totals, "conventions": self.conventions,
                "weight_max_abs_diff": self.weight_max_abs_diff, "notes": list(self.notes),
                "evidence": self.evidence, "confidence_level": self.confidence_level,
                "study_confidence_level": self.study_confidence_level,
                "swap_events": self.swap_events, "subgroup_test": self.subgroup_test,
                "hksj": self.hksj, "prediction_interval": self.prediction_interval,
                **({"stated": dict(self.stated)} if self.stated else {}),
                **({"designs": dict(self.designs)} if self.designs else {})}


AnalysisSettings = Inferred  # the same record holds settings stated in a file (inferred=False)
SettingsSource = Literal["stated", "inferred"]


def stated_settings(data_type: DataType, measure: str, method: str, *, totals: Totals,
                    stated: Mapping[str, str], notes: Sequence[str] = (), **options: Any
                    ) -> Inferred:
    """Settings as a file states them (RevMan 5 ``.rm5``, RevMan 5 CSV, RevMan Web package),
    mapped to trialsynth's (measure, method); ``options`` are the optional fields of
    :class:`Inferred` (``confidence_level``, ``swap_events``, ...)."""
    return Inferred(data_type=data_type, measure=measure, method=method, totals=totals,
                    weight_max_abs_diff=None, inferred=False, notes=tuple(notes),
                    evidence={"source": "stated in the file", "stated": dict(stated)},
                    stated=dict(stated), **options)


@dataclass(frozen=True, slots=True)
class Analysis:
    """One analysis (outcome) of a review.

    ``frame`` has one row per study row of the file: ``row`` (file row, header = 1), ``study``,
    ``year``, ``subgroup`` (only when the analysis has subgroups), the data columns of
    :func:`trialsynth.pool` for ``data_type``, RevMan's ``stored_effect, stored_ci_low,
    stored_ci_high, stored_weight`` (display scale, NaN where RevMan stored none),
    ``rob_overall``, ``complete`` (the row has valid data of its type) and ``problem`` (why a
    filled-in row cannot be used, naming file row and column; else None).
    """

    id: str
    group: int
    number: int
    name: str
    data_type: DataType
    applicability: str
    frame: pd.DataFrame = field(repr=False)
    settings: Inferred
    comparison_name: str | None = None  # as the file states it (None: not in the file)
    stored_pooled: StoredPooled | None = field(default=None, repr=False)  # RevMan's own results
    labels: ArmLabels | None = None  # the arm and axis labels the file states (trialsynth.arms)

    @property
    def comparison(self) -> int:
        return self.group

    @property
    def settings_source(self) -> SettingsSource:
        """``"stated"`` when the file states the settings, ``"inferred"`` when we inferred them."""
        return "inferred" if self.settings.inferred else "stated"

    @property
    def has_subgroups(self) -> bool:
        return "subgroup" in self.frame.columns

    @property
    def pooled_rows(self) -> pd.DataFrame:
        """The rows that go into the pooling (complete data)."""
        return self.frame[self.frame["complete"]].reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class Review:
    """A review file: identity as stated in the file, and its analyses in file order."""

    id: str | None
    doi: str | None
    url: str | None
    source: str
    analyses: tuple[Analysis, ...]
    format: str = "revman-web-data-rows"
    title: str | None = None
    comparisons: dict[int, str] = field(default_factory=dict)  # names as stated in the file
    studies: tuple[StudyInfo, ...] = ()  # study information and characteristics
    risk_of_bias: tuple[Any, ...] = ()  # Rob1Assessment / Rob2Assessment (certainty.rob)
    skipped: tuple[Skipped, ...] = ()  # analyses in the file that could not be read as data
    stored_decimals: int | None = 6  # decimals of RevMan's stored numbers (None: full doubles)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredEstimate:
    """One pooled result as RevMan stored it. Estimate and CI on RevMan's display scale (ratios
    natural), τ² on the analysis scale (log for ratio measures), I² in percent, Q with its df, Z.
    ``None`` where RevMan stored nothing; ``estimable`` is RevMan's own flag."""

    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    tau2: float | None = None
    i2: float | None = None
    q: float | None = None
    df: float | None = None
    z: float | None = None
    k: int | None = None
    estimable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "tau2": self.tau2, "i2": self.i2, "q": self.q, "df": self.df, "z": self.z,
                "k": self.k, "estimable": self.estimable}


@dataclass(frozen=True, slots=True)
class StoredSubgroupTest:
    """RevMan's stored test for subgroup differences (rm5 stores no df: it is G − 1)."""

    q: float | None
    df: float | None = None
    p: float | None = None
    i2: float | None = None


@dataclass(frozen=True, slots=True)
class StoredPooled:
    """Everything RevMan stored about the pooling of one analysis."""

    overall: StoredEstimate | None
    subgroups: dict[str, StoredEstimate] = field(default_factory=dict)  # by frame label
    subgroup_test: StoredSubgroupTest | None = None
    notes: tuple[str, ...] = ()
    results_stored: bool = True  # False: RevMan wrote empty values or zeros, not results


@dataclass(frozen=True, slots=True)
class StudyInfo:
    """A study as the file describes it; ``characteristics`` by RevMan heading (text only)."""

    id: str
    name: str
    year: str | None = None
    data_source: str | None = None
    status: str | None = None  # included, excluded, awaiting, ongoing (rm5)
    characteristics: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An analysis of the file that is not read as data, and why."""

    id: str
    name: str
    reason: str
    comparison_name: str | None = None


FRAME_DATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "dichotomous": ("events_t", "n_t", "events_c", "n_c"),
    "continuous": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "generic": ("yi", "se", "n_t", "n_c"),
}
STORED_COLUMNS = ("stored_effect", "stored_ci_low", "stored_ci_high", "stored_weight")


def build_frame(rows: Sequence[Mapping[str, Any]], data_type: DataType, *, subgroups: bool,
                extra: Sequence[str] = ()) -> pd.DataFrame:
    """An :attr:`Analysis.frame` from one dict per study row (keys ``row, study, year,
    subgroup``, the data columns of ``data_type`` and ``extra``, ``stored_*``, ``rob_overall``,
    ``problem``; missing numbers are NaN). ``complete`` is computed as the data-rows reader
    does (:func:`complete_rows`), and a row with a ``problem`` is never complete."""
    cols = FRAME_DATA_COLUMNS[data_type]
    frame = pd.DataFrame({"row": [int(r["row"]) for r in rows],
                          "study": [str(r["study"]) for r in rows],
                          "year": [r.get("year") or None for r in rows]})
    if subgroups:
        frame["subgroup"] = [r.get("subgroup") for r in rows]
    for c in (*cols, *extra, *STORED_COLUMNS):
        frame[c] = np.array([_nan(r.get(c)) for r in rows], dtype=np.float64)
    frame["rob_overall"] = [r.get("rob_overall") for r in rows]
    problem = [r.get("problem") for r in rows]
    ok = complete_rows(data_type, {c: frame[c].to_numpy() for c in cols}) if rows else \
        np.zeros(0, dtype=bool)
    frame["complete"] = ok & np.array([p is None for p in problem], dtype=bool)
    frame["problem"] = problem
    return frame


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


RowIdentity = tuple[str, str, int]


def row_identities(frame: pd.DataFrame) -> list[RowIdentity]:
    """The identity of every study row: (subgroup, study, n), n counting the earlier rows of
    the same study in the same subgroup. A file's row or line number is not an identity: it
    repeats where a file numbers rows within each subgroup, or writes its XML on one line."""
    subs = frame["subgroup"] if "subgroup" in frame.columns else [None] * len(frame)
    seen: Counter[tuple[str, str]] = Counter()
    out = []
    for sub, study in zip(subs, frame["study"], strict=True):
        pair = ("" if sub is None or (isinstance(sub, float) and math.isnan(sub)) else str(sub),
                str(study))
        out.append((*pair, seen[pair]))
        seen[pair] += 1
    return out


def pooled_by_identity(analysis: Analysis, result: PooledResult | None) -> dict[RowIdentity, Any]:
    """Our per-study rows of ``result`` (the pooling of :attr:`Analysis.pooled_rows`) keyed by
    :func:`row_identities`; with subgroup totals only, the rows within each subgroup (whose
    weights are the ones RevMan shows)."""
    if result is None:
        return {}
    keys = [k for k, ok in zip(row_identities(analysis.frame), analysis.frame["complete"],
                               strict=True) if ok]
    pooled = list(result.studies)
    if analysis.settings.totals == "subgroups" and result.subgroups:
        queues = {name: iter(sub.studies) for name, sub in result.subgroups.items()}
        pooled = [next(queues[label]) for label in analysis.pooled_rows["subgroup"]]
    return dict(zip(keys, pooled, strict=True))


def check_against_stored(analysis: Analysis, result: PooledResult | None
                         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-study effect, CI and weight: ours (display scale) next to RevMan's stored ones.

    ``result`` is the pooling of :attr:`Analysis.pooled_rows` (None when nothing was pooled);
    with subgroup totals only, our weights are those within each subgroup, as RevMan shows them.
    """
    frame = analysis.frame
    mine = pooled_by_identity(analysis, result)
    m = analysis.settings.measure
    studies, diffs = [], {"effect": [], "ci": [], "weight": []}
    one_side = 0
    for key, rec in zip(row_identities(frame), frame.to_dict("records"), strict=True):
        st = mine.get(key)
        ours = {"effect": None, "ci_low": None, "ci_high": None, "weight": None}
        if st is not None and st.yi is not None:
            vals = to_display(m, np.array([st.yi, st.ci_low, st.ci_high], dtype=float))
            ours = {"effect": vals[0], "ci_low": vals[1], "ci_high": vals[2],
                    "weight": st.weight if st.included else None}
        stored = {"effect": rec["stored_effect"], "ci_low": rec["stored_ci_low"],
                  "ci_high": rec["stored_ci_high"], "weight": rec["stored_weight"]}
        if analysis.settings.totals == "none":  # weight 0 everywhere: RevMan did not pool
            ours["weight"] = stored["weight"] = None
        for key, bucket in (("effect", "effect"), ("ci_low", "ci"), ("ci_high", "ci"),
                            ("weight", "weight")):
            a, b = _f(ours[key]), _f(stored[key])
            if a is not None and b is not None:
                diffs[bucket].append(abs(a - b))
            elif key == "weight" and (a is None) != (b is None):
                one_side += 1
        studies.append({"row": rec["row"], "study": rec["study"], "year": rec["year"],
                        "subgroup": rec.get("subgroup"), "complete": bool(rec["complete"]),
                        "rob_overall": rec["rob_overall"], "problem": rec["problem"],
                        "data": {c: rec[c] for c in _data_columns(analysis)},
                        "ours": ours, "stored": stored})
    worst = {k: (max(v) if v else None) for k, v in diffs.items()}
    compared = len(diffs["weight"]) + one_side
    ok = one_side == 0 and (worst["weight"] is None or worst["weight"] <= WEIGHT_TOL)
    return studies, {
        "max_abs_diff": worst, "weights_compared": len(diffs["weight"]),
        "weights_one_side_only": one_side, "tolerance": WEIGHT_TOL,
        "weights_reproduced": ok if compared else None,
    }


def _data_columns(analysis: Analysis) -> list[str]:
    fixed = {"row", "study", "year", "subgroup", "rob_overall", "complete", "problem", "design",
             "period"}
    return [c for c in analysis.frame.columns if c not in fixed and not c.startswith("stored_")]


def _f(x: Any) -> float | None:
    return float(x) if x is not None and isinstance(x, int | float) and math.isfinite(x) else None


# ------------------------------------------------------------------------------------------
# inference


def complete_rows(data_type: str, cols: Mapping[str, FloatArray]) -> np.ndarray:
    """Rows with every datum their data type needs (RevMan calls the others "not estimable")."""
    fin = np.logical_and.reduce([np.isfinite(cols[c]) for c in _REQUIRED[data_type]])
    if data_type == "dichotomous":
        with np.errstate(invalid="ignore"):
            return fin & (cols["n_t"] > 0) & (cols["n_c"] > 0) & \
                (cols["events_t"] <= cols["n_t"]) & (cols["events_c"] <= cols["n_c"])
    if data_type == "continuous":
        return fin & (cols["sd_t"] > 0) & (cols["sd_c"] > 0) & (cols["n_t"] > 0) & (cols["n_c"] > 0)
    return fin & (cols["se"] > 0)


@dataclass(frozen=True, slots=True)
class _Fit:
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


def _fit(ours: FloatArray, stored: FloatArray) -> _Fit:
    have_o, have_s = np.isfinite(ours), np.isfinite(stored)
    both = have_o & have_s
    diff = np.abs(ours[both] - stored[both])
    rel = diff / np.maximum(1.0, np.abs(stored[both]))
    return _Fit(int((have_o != have_s).sum()), float(diff.max()) if diff.size else np.nan,
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


def _choose(fits: dict[str, _Fit], tol: float, tiers: Tiers, precise: float | None = None
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


_REQUIRED = {"dichotomous": ("events_t", "n_t", "events_c", "n_c"),
             "continuous": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"), "generic": ("yi", "se")}
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

    def by_ci(mf: dict[str, _Fit], rows: np.ndarray) -> tuple[dict[str, _Fit], str]:
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

    def w_fits(measure: str, j: int) -> dict[str, _Fit]:
        """Fits of RevMan 5's methods; REML's too when none of those fits at the precision of
        the export and REML fits within the inference tolerance (so analyses that RevMan 5's
        methods reproduce, or that nothing reproduces, are inferred as before)."""
        def fits(methods: Sequence[str]) -> dict[str, _Fit]:
            keys = [*methods, *(m + WITHIN for m in methods if has_subgroups[j])]
            return {k: _fit(weight[measure, k][rows_of[j]], stored["weight"][rows_of[j]])
                    for k in keys}

        out = fits(METHODS[measure])
        extra = [m for m in _tried(measure) if m not in METHODS[measure]]
        if extra and not any(f.fits(PRECISE_TOL) for f in out.values()):
            more = fits(extra)
            if any(f.fits(WEIGHT_TOL) for f in more.values()):
                out |= more
        return out

    # pass 1: fits per analysis; decisive choices make the review's preferences
    m_fits: list[dict[str, _Fit]] = []
    m_pref: Counter[str] = Counter()
    w_pref: dict[str, Counter[str]] = {t: Counter() for t in DATA_TYPES}
    for j, rows in enumerate(rows_of):
        mf = {m: _fit(effect[m][rows], stored["effect"][rows])
              for t in DATA_TYPES for m in MEASURES[t] if complete[t][rows].any()}
        m_fits.append(mf)
        pick, _, decisive = _choose(mf, EFFECT_TOL, (), PRECISE_TOL) if mf else ("", "", False)
        if decisive:
            m_pref[pick] += 1
            wpick, _, wdec = _choose(w_fits(pick, j), WEIGHT_TOL, (), PRECISE_TOL)
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
            key, w_how, _ = _choose({k: _Fit(0, np.nan, np.nan) for k in METHODS[measure]},
                                    WEIGHT_TOL, tiers)
            w_how = "RevMan stored weight 0 for every study (the review did not pool this " \
                    "analysis); " + w_how.split("; ", 1)[-1]
        else:
            key, w_how, _ = _choose(wf, WEIGHT_TOL, tiers, PRECISE_TOL)
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


def _resolve_measure(fits: dict[str, _Fit], pref: Counter[str],
                     tables: Mapping[str, Mapping[str, FloatArray]], rows: np.ndarray
                     ) -> tuple[DataType, str, str]:
    if any(np.isfinite(f.max_abs) or f.mismatched for f in fits.values()):
        measure, how, _ = _choose(fits, EFFECT_TOL, (
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
