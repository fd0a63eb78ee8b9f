"""``review.yaml``: the protocol of a review folder, validated with pydantic.

What a review asked (question and PICO: population, interventions with drug and route,
comparators, outcomes with direction of benefit, scale, minimal important difference and time
windows), how its data are organised (comparisons, analyses with their settings) and the
reviewer's GRADE input that the data cannot supply (overrides with their rationale, flags, per-study
indirectness). The tables of the folder (studies, outcome data, risk of bias) are read by
:mod:`trialsynth.readers.folder`.

Provenance is explicit: a fact that trialsynth read from the data rather than from a statement of
the source is marked ``inferred: true``; a placeholder or project default to be checked is marked
``provisional: true``; either needs a ``basis`` saying where it comes from. Nothing is silently
invented (METHODS.md §1.3, §7).

Validation is strict (unknown keys are errors); every problem is a :class:`ProtocolError` (a
:class:`~trialsynth.errors.DataError`) naming the file, the YAML line and the field path. The
YAML text is read and written by :mod:`trialsynth.readers.review_yaml` (``parse_protocol``,
``load_protocol``, ``dump_protocol``); this module is the schema alone and reads no file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from trialsynth.errors import DataError
from trialsynth.registry import COMMON_METHODS, MEASURES, METHODS, TAU2_METHODS, measures_of_type

SCHEMA = "trialsynth-review/1"
MAX_YAML_BYTES = 5 * 1024 * 1024
DataType = Literal["dichotomous", "continuous", "generic"]
OutcomeType = Literal["dichotomous", "continuous"]
Direction = Literal["lower_is_better", "higher_is_better"]
# the measures and methods a review file may name, from the registries (trialsynth.registry)
Measure = Literal[tuple(MEASURES)]  # type: ignore[valid-type]
Method = Literal[tuple(METHODS)]  # type: ignore[valid-type]
RandomMethod = Literal[TAU2_METHODS]  # type: ignore[valid-type]
Route = Literal["intravenous", "oral", "topical", "intranasal", "subcutaneous", "intramuscular",
                "sublingual", "transdermal", "epidural", "intrathecal", "inhaled", "other",
                "not_stated"]
ComparatorKind = Literal["placebo", "usual_care", "active", "no_treatment", "not_stated"]
GradeDomain = Literal["risk_of_bias", "inconsistency", "indirectness", "imprecision",
                      "publication_bias"]
MEASURES_BY_TYPE: dict[str, tuple[str, ...]] = {  # = trialsynth.review.MEASURES (tested)
    t: measures_of_type(t) for t in ("dichotomous", "continuous", "generic")}
DAYS_PER = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12}
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
Id = Annotated[str, Field(pattern=_ID, max_length=80)]
Text = Annotated[str, Field(min_length=1, max_length=20_000)]


def _no_float_id(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError(f"write ids in quotes (e.g. '1.10'): YAML read this one as the number "
                         f"{value!r}, which drops trailing zeros")
    return value


ComparisonId = Annotated[str, BeforeValidator(_no_float_id), Field(pattern=r"^[1-9][0-9]{0,5}$")]
AnalysisId = Annotated[str, BeforeValidator(_no_float_id),
                       Field(pattern=r"^[1-9][0-9]{0,5}\.[1-9][0-9]{0,5}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Fact(_Strict):
    """Provenance of a protocol fact: stated by the source (default), ``inferred`` by trialsynth
    from the data, or ``provisional`` (a placeholder / project default to be checked)."""

    inferred: bool = False
    provisional: bool = False
    basis: Text | None = None

    @model_validator(mode="after")
    def _basis_for_placeholders(self) -> Fact:
        if (self.inferred or self.provisional) and not self.basis:
            raise ValueError("an inferred or provisional fact needs a 'basis' saying where it "
                             "comes from")
        return self


# ---------------------------------------------------------------------------------------------
# Review identity and question (PICO)
# ---------------------------------------------------------------------------------------------
class ReviewInfo(_Strict):
    """The review's identity as the report's heading shows it. ``published``: when this version
    was published, as the source states it ("2025, Issue 8", "2021-10-07"); ``search_date``: the
    date of the last search for studies (how up to date the evidence is); ``basis``: where these
    facts come from when the data file does not state them."""

    id: Id
    title: Text | None = None
    citation: Text | None = None
    doi: Annotated[str, Field(pattern=r"^10\.\d{4,9}/\S+$")] | None = None
    url: Text | None = None
    published: Text | None = None
    search_date: Text | None = None
    basis: Text | None = None


class SkippedAnalysis(_Strict):
    id: Text
    name: Text
    reason: Text
    comparison_name: Text | None = None


class DataSource(_Strict):
    """Where the numbers came from (the file trialsynth imported), and what the reader noted.
    ``stored_decimals``: decimals of RevMan's stored numbers (None: full precision); ``date``: the
    file's own date (e.g. a RevMan 5 file's MODIFIED attribute)."""

    file: Text
    format: Literal["revman-web-data-rows", "revman-web-package", "rm5", "revman5-csv",
                    "trialsynth-folder", "other"]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    citation: Text | None = None
    url: Text | None = None
    stored_decimals: Annotated[int, Field(ge=0, le=17)] | None = None
    date: Text | None = None  # when the file was made or last saved, as the file states it
    notes: list[Text] = []
    skipped_analyses: list[SkippedAnalysis] = []


class IncludedStudies(_Strict):
    """How many studies the review included, and with how many participants, as a source
    states it (``source`` says which and where): the review's own count, which the data file
    need not show (a study with no data in any analysis is in no study row)."""

    studies: Annotated[int, Field(ge=0)]
    participants: Annotated[int, Field(ge=0)] | None = None
    design: Text | None = None  # e.g. "randomised controlled trials"
    source: Text


class Population(Fact):
    description: Text
    conditions: list[Text] = []


class Intervention(Fact):
    id: Id
    name: Text
    drug: Text
    route: Route
    dose: Text | None = None


class Comparator(Fact):
    id: Id
    name: Text
    kind: ComparatorKind
    drug: Text | None = None
    route: Route | None = None


class Scale(Fact):
    """An instrument: name, range and units (``min < max`` when both are given)."""

    name: Text
    min: float | None = None
    max: float | None = None
    units: Text | None = None
    direction_of_benefit: Direction | None = None  # of the instrument, when it differs

    @model_validator(mode="after")
    def _range(self) -> Scale:
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"scale min ({self.min}) must be less than max ({self.max})")
        return self


class Mid(Fact):
    """Minimal important difference: in the outcome's scale units for MD (and SMD units for SMD);
    a relative change in (0, 1) for ratio measures (0.25 = RR 0.75 / 1.25, GRADE 6)."""

    value: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    units: Text | None = None


class EffectThresholds(Fact):
    """Where a small, a moderate and a large effect of the outcome begin, for the wording of its
    statements (Santesso 2020; GRADE 35): in the MD's units, as a relative change for ratio
    measures (0.25 = 25%), or as a risk difference per 1000 when ``per_1000``."""

    small: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    moderate: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    large: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    per_1000: bool = False

    @model_validator(mode="after")
    def _order(self) -> EffectThresholds:
        if not self.small <= self.moderate <= self.large:
            raise ValueError("thresholds must satisfy small <= moderate <= large")
        return self


class Outcome(Fact):
    id: Id
    name: Text
    type: OutcomeType | None = None  # None: not stated (e.g. generic inverse-variance data)
    priority: Literal["primary", "secondary"] | None = None
    direction_of_benefit: Direction | None = None
    scale: Scale | None = None
    mid: Mid | None = None
    assumed_control_risk: Annotated[float, Field(gt=0, lt=1)] | None = None
    thresholds: EffectThresholds | None = None  # None: trialsynth's declared bands
    kind: Literal["benefit", "harm"] | None = None  # what it measures; None: read from its name


class Duration(_Strict):
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    unit: Literal["days", "weeks", "months"]
    inclusive: bool = True

    @property
    def days(self) -> float:
        return self.value * DAYS_PER[self.unit]


class TimeWindow(Fact):
    """A follow-up window, measured from ``anchor``; ``from``/``to`` None = open-ended."""

    id: Id
    name: Text
    from_: Duration | None = Field(default=None, alias="from")
    to: Duration | None = None
    anchor: Literal["end_of_treatment", "start_of_treatment", "randomisation"] = \
        "end_of_treatment"

    @model_validator(mode="after")
    def _order(self) -> TimeWindow:
        if self.from_ is not None and self.to is not None and not self.from_.days < self.to.days:
            raise ValueError("the window must start before it ends ('from' < 'to')")
        return self

    def contains(self, days: float) -> bool:
        lo, hi = self.from_, self.to
        above = lo is None or (days >= lo.days if lo.inclusive else days > lo.days)
        below = hi is None or (days <= hi.days if hi.inclusive else days < hi.days)
        return above and below


class SofOutcome(_Strict):
    """An outcome the reviewers chose for the summary-of-findings tables; ``time_window`` None:
    the outcome in every time window it was measured in."""

    outcome: Id
    time_window: Id | None = None


class Question(_Strict):
    objective: Text | None = None
    population: Population | None = None
    interventions: list[Intervention] = []
    comparators: list[Comparator] = []
    outcomes: list[Outcome] = []
    time_windows: list[TimeWindow] = []
    # the main outcomes of every summary-of-findings table, in table order: "up to seven"
    # (Cochrane Handbook v6.4 §14.1.4); None: trialsynth's default choice (report.model)
    summary_of_findings: Annotated[list[SofOutcome], Field(max_length=7)] | None = None


# ---------------------------------------------------------------------------------------------
# Comparisons, analyses and settings
# ---------------------------------------------------------------------------------------------
class Comparison(_Strict):
    id: ComparisonId
    name: Text
    intervention: Id | None = None
    comparator: Id | None = None
    inferred: bool = False  # the name is not stated by the source
    basis: Text | None = None

    @model_validator(mode="after")
    def _basis(self) -> Comparison:
        if self.inferred and not self.basis:
            raise ValueError("an inferred comparison needs a 'basis' saying where it comes from")
        return self


class AnalysisSettings(_Strict):
    """How one analysis is pooled. Unset (None) options take the review-wide ``settings``."""

    measure: Measure
    method: Method
    hksj: bool | None = None
    prediction_interval: bool | None = None
    confidence_level: Annotated[float, Field(gt=0, lt=1)] | None = None
    conventions: Literal["revman", "metafor"] | None = None
    study_confidence_level: Annotated[float, Field(gt=0, lt=1)] = 0.95
    swap_events: bool = False  # RevMan analysed non-events (the data keep events)
    subgroup_test: bool = True
    totals: Literal["overall", "subgroups", "none"] = "overall"
    inferred: bool = False  # measure/method inferred by trialsynth (see notes)
    weight_max_abs_diff: Annotated[float, Field(ge=0)] | None = None
    notes: list[Text] = []
    stated: dict[str, str] | None = None  # the settings as the source file words them


class StoredEstimate(_Strict):
    """A pooled result as RevMan stored it (display scale; τ² on the analysis scale)."""

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


class StoredSubgroupTest(_Strict):
    q: float | None = None
    df: float | None = None
    p: float | None = None
    i2: float | None = None


class StoredResults(_Strict):
    """Everything RevMan stored about the pooling of one analysis (for ``trialsynth check``)."""

    overall: StoredEstimate | None = None
    subgroups: dict[str, StoredEstimate] = {}
    subgroup_test: StoredSubgroupTest | None = None
    notes: list[Text] = []
    results_stored: bool = True


class ArmLabelsSpec(_Strict):
    """The labels the source gives an analysis' arms (its two data columns) and axis, as written
    (trialsynth.review.arms); None: not stated."""

    experimental: Text | None = None
    control: Text | None = None
    favours_left: Text | None = None
    favours_right: Text | None = None


class AnalysisSpec(_Strict):
    """One analysis: its data type, what it measures (outcome, time window) and its settings.

    ``inferred``/``basis`` concern the links to outcome, time window and subgroup factor.
    ``scale``/``direction_of_benefit`` override the outcome's for this analysis' instrument, and
    ``mid`` the outcome's minimal important difference (in this instrument's units).
    """

    id: AnalysisId
    name: Text
    data_type: DataType
    outcome: Id | None = None
    time_window: Id | None = None
    subgroup_factor: Text | None = None
    subgroups: list[str] = []
    applicability: Text = "SUBGROUP_AND_OVERALL"
    scale: Scale | None = None
    direction_of_benefit: Direction | None = None
    mid: Mid | None = None
    inferred: bool = False
    basis: Text | None = None
    settings: AnalysisSettings
    stored: StoredResults | None = None
    labels: ArmLabelsSpec | None = None

    @model_validator(mode="after")
    def _checks(self) -> AnalysisSpec:
        if self.inferred and not self.basis:
            raise ValueError("inferred links need a 'basis' saying where they come from")
        if self.settings.measure not in MEASURES_BY_TYPE[self.data_type]:
            raise ValueError(f"measure {self.settings.measure} does not fit data_type "
                             f"{self.data_type} ({', '.join(MEASURES_BY_TYPE[self.data_type])})")
        if len(set(self.subgroups)) != len(self.subgroups):
            raise ValueError("subgroup names must be unique")
        return self

    @property
    def comparison(self) -> str:
        return self.id.split(".")[0]


class DesignSettings(_Strict):
    """How trial designs enter the analyses (trialsynth.designs): ``multi_arm`` — a comparator
    group shared by several comparisons of one study is split evenly (default), the experimental
    arms combined, or kept as entered (Handbook v6.4 §23.3.4); ``crossover_correlation`` — the
    within-participant correlation for crossover trials without their own (None: imputed from
    the review's trials that allow it, §23.2.7.3); ``correlation_sensitivity`` — the values of
    the sensitivity analysis over that correlation."""

    multi_arm: Literal["split", "combine", "as_entered"] = "split"
    crossover_correlation: Annotated[float, Field(ge=-1, le=1)] | None = None
    correlation_sensitivity: list[Annotated[float, Field(ge=-1, le=1)]] = [0.2, 0.5, 0.8]


class Settings(_Strict):
    """Review-wide analysis settings. ``random_effects_method`` (None = each analysis' own)
    replaces the τ² estimator of every random-effects analysis."""

    random_effects_method: RandomMethod | None = None
    hksj: bool = False
    # shown in the report and the forest plots; None: for random effects with k ≥ 3 (the
    # report's default), False: never (the review's choice), True: always where defined
    prediction_interval: bool | None = None
    confidence_level: Annotated[float, Field(gt=0, lt=1)] = 0.95
    conventions: Literal["revman", "metafor"] = "revman"
    designs: DesignSettings = DesignSettings()


@dataclass(frozen=True, slots=True)
class ResolvedSettings:
    """The settings one analysis is run with (analysis-level, else review-wide)."""

    measure: str
    method: str
    model: Literal["common", "random"]
    hksj: bool
    prediction_interval: bool | None
    confidence_level: float
    conventions: str
    study_confidence_level: float = 0.95
    swap_events: bool = False
    subgroup_test: bool = True


# ---------------------------------------------------------------------------------------------
# GRADE input
# ---------------------------------------------------------------------------------------------
class GradeOverride(_Strict):
    """The reviewer's final downgrade for one domain of one analysis, with the reason."""

    analysis: AnalysisId
    domain: GradeDomain
    downgrade: Annotated[int, Field(ge=0, le=3)]
    rationale: Text
    reviewer: Text | None = None

    @model_validator(mode="after")
    def _three(self) -> GradeOverride:
        if self.downgrade == 3 and self.domain != "imprecision":
            raise ValueError("a downgrade of 3 is allowed for imprecision only (GRADE 34/35)")
        return self


class GradeFlags(_Strict):
    """Reviewer input the data cannot supply (trialsynth.assess.certainty.grade.Flags), per analysis."""

    analysis: AnalysisId
    small_industry_funded: bool = False
    unpublished_trials: bool = False
    rob_bias_direction: Literal["could_explain", "underestimates"] | None = None
    subgroup_explains_inconsistency: bool = False
    rationale: Text


class IndirectnessFlag(_Strict):
    """How a study matches one PICO aspect of the question (all analyses when none listed)."""

    study: Text
    analyses: list[AnalysisId] = []
    aspect: Literal["population", "intervention", "comparator", "outcome"]
    match: Literal["direct", "indirect"]
    rationale: Text


class Indirectness(_Strict):
    """``default``: what a study without flags counts as (``not_assessed`` = unknown)."""

    default: Literal["direct", "not_assessed"] = "not_assessed"
    flags: list[IndirectnessFlag] = []


class Grade(_Strict):
    overrides: list[GradeOverride] = []
    flags: list[GradeFlags] = []
    indirectness: Indirectness = Indirectness()


# ---------------------------------------------------------------------------------------------
# The protocol
# ---------------------------------------------------------------------------------------------
class Protocol(_Strict):
    schema_: Literal["trialsynth-review/1"] = Field(alias="schema")
    review: ReviewInfo
    data_source: DataSource | None = None
    included_studies: IncludedStudies | None = None
    question: Question = Question()
    comparisons: list[Comparison] = []
    analyses: list[AnalysisSpec] = []
    settings: Settings = Settings()
    grade: Grade = Grade()

    def analysis(self, analysis_id: str) -> AnalysisSpec:
        return _by_id(self.analyses, analysis_id, "analysis")

    def outcome_of(self, analysis_id: str) -> Outcome | None:
        spec = self.analysis(analysis_id)
        return None if spec.outcome is None else _by_id(self.question.outcomes, spec.outcome,
                                                        "outcome")

    def resolved_settings(self, analysis_id: str) -> ResolvedSettings:
        s, top = self.analysis(analysis_id).settings, self.settings
        method = s.method
        if top.random_effects_method is not None and method not in COMMON_METHODS:
            method = top.random_effects_method
        return ResolvedSettings(
            measure=s.measure, method=method,
            model="common" if method in COMMON_METHODS else "random",
            hksj=top.hksj if s.hksj is None else s.hksj,
            prediction_interval=top.prediction_interval if s.prediction_interval is None
            else s.prediction_interval,
            confidence_level=top.confidence_level if s.confidence_level is None
            else s.confidence_level,
            conventions=top.conventions if s.conventions is None else s.conventions,
            study_confidence_level=s.study_confidence_level, swap_events=s.swap_events,
            subgroup_test=s.subgroup_test)

    def direction_of_benefit(self, analysis_id: str) -> Direction | None:
        """The analysis' instrument direction, else its scale's, else the outcome's."""
        spec = self.analysis(analysis_id)
        outcome = self.outcome_of(analysis_id)
        for d in (spec.direction_of_benefit, spec.scale and spec.scale.direction_of_benefit,
                  outcome and outcome.scale and outcome.scale.direction_of_benefit,
                  outcome and outcome.direction_of_benefit):
            if d:
                return d
        return None

    def grade_benefit(self, analysis_id: str) -> Literal["lower", "higher"] | None:
        """:meth:`direction_of_benefit` in the words of ``certainty.grade.assess``."""
        d = self.direction_of_benefit(analysis_id)
        return None if d is None else ("lower" if d == "lower_is_better" else "higher")

    def mid(self, analysis_id: str) -> Mid | None:
        """The analysis' own minimal important difference, else its outcome's."""
        spec = self.analysis(analysis_id)
        if spec.mid is not None:
            return spec.mid
        outcome = self.outcome_of(analysis_id)
        return None if outcome is None else outcome.mid

    def overrides_for(self, analysis_id: str) -> dict[str, GradeOverride]:
        return {o.domain: o for o in self.grade.overrides if o.analysis == analysis_id}

    def flags_for(self, analysis_id: str) -> GradeFlags | None:
        return next((f for f in self.grade.flags if f.analysis == analysis_id), None)

    def pico_match(self, analysis_id: str, studies: Sequence[str]) -> list[bool | None]:
        """Per study: False if any aspect is flagged indirect, True if flagged direct (or the
        default is ``direct``), None if not assessed (for certainty.grade.indirectness)."""
        ind = self.grade.indirectness
        out: list[bool | None] = []
        for study in studies:
            flags = [f for f in ind.flags if f.study == study
                     and (not f.analyses or analysis_id in f.analyses)]
            if any(f.match == "indirect" for f in flags):
                out.append(False)
            elif flags or ind.default == "direct":
                out.append(True)
            else:
                out.append(None)
        return out


Loc = tuple[str | int, ...]


def _by_id(items: Iterable[Any], key: str, what: str) -> Any:
    for item in items:
        if item.id == key:
            return item
    raise KeyError(f"no {what} with id {key!r}")


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int | None
    message: str


class ProtocolError(DataError):
    """Problems in ``review.yaml``: ``problems`` lists each with its field path and YAML line
    (``row`` and ``field`` of the first one follow :class:`DataError`; ``row`` is the line)."""

    def __init__(self, problems: Sequence[Problem], *, file: str) -> None:
        first = problems[0]
        super().__init__(first.message, file=file, row=first.line, field=first.path or None)
        self.problems = tuple(problems)
        self.line = first.line
        shown = [_where(file, p) for p in problems[:50]]
        if len(problems) > 50:
            shown.append(f"... and {len(problems) - 50} more problems")
        self.args = ("\n".join(shown),)


def _where(file: str, p: Problem) -> str:
    parts = [file] + ([f"line {p.line}"] if p.line else []) + \
        ([f"field '{p.path}'"] if p.path else [])
    return f"{', '.join(parts)}: {p.message}"


def slug(text: str, taken: set[str] | None = None) -> str:
    """A readable id from a name ("Pain intensity (≥ 50%)" -> "pain-intensity-50"), unique in
    ``taken`` (which it updates)."""
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60].strip("-") or "item"
    out, n = base, 1
    while taken is not None and out in taken:
        n += 1
        out = f"{base}-{n}"
    if taken is not None:
        taken.add(out)
    return out
