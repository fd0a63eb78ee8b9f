"""A review read from a RevMan export or a review folder: its analyses, their study rows, and the
settings each analysis is pooled with (as stated, or inferred), as frozen data.

RevMan Web's "data rows" export does not say which effect measure or pooling method an analysis
used; :mod:`trialsynth.review.settings_inference` infers both by recomputation and says so. This module
is the data model alone: it imports no pooling code.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from trialsynth._json import finite
from trialsynth._segments import FloatArray
from trialsynth.registry import COMMON_METHODS, measures_of_type
from trialsynth.registry.measures import LOG_SCALE
from trialsynth.review.arms import ArmLabels

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
    labels: ArmLabels | None = None  # the arm and axis labels the file states (trialsynth.review.arms)

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
    risk_of_bias: tuple[Any, ...] = ()  # Rob1Assessment / Rob2Assessment (review.rob)
    skipped: tuple[Skipped, ...] = ()  # analyses in the file that could not be read as data
    stored_decimals: int | None = 6  # decimals of RevMan's stored numbers (None: full doubles)
    notes: tuple[str, ...] = ()
    published: str | None = None  # when this version was published, as the file states it
    search_date: str | None = None  # date of the last search for studies, as the file states it
    file_date: str | None = None  # when the file was last saved, as the file states it


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
            a, b = finite(ours[key]), finite(stored[key])
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


# ------------------------------------------------------------------------------------------
# the rows an analysis can pool (the inference of settings from them: trialsynth.review.settings_inference)


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


_REQUIRED = {"dichotomous": ("events_t", "n_t", "events_c", "n_c"),
             "continuous": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"), "generic": ("yi", "se")}
