"""The layout of ``results.json`` as typed definitions, the JSON Schema generated from them
(``trialsynth schema results``) and the version of that layout.

``results.json`` is a public contract read by scripts: keys are added, never renamed or removed
(a key that loses its meaning keeps its place with ``null``). :data:`SCHEMA_VERSION` says which
layout a file has: the minor number grows when keys are added, the major number when a key
changes meaning. The models below describe the documented keys (each with the scale its numbers
are on); every object may carry further keys (``additionalProperties``), so a report section added
later does not make an earlier reader fail. docs/results-json.md explains the file with an example.

Numbers and their scales: ``analyses[].result`` is on the *analysis scale* (``result.scale``:
``"log"`` for ratio measures, log RR, log OR, log Peto OR and generic log ratios; ``"identity"``
otherwise); ``analyses[].display`` holds the same estimate and intervals as RevMan shows them
(``display.scale``: ``"ratio"``, i.e. exp of the log, for ratio measures; ``"identity"``
otherwise). Participant and event counts are integers wherever they are whole numbers (a count
adjusted for a trial design, e.g. a cluster trial's effective sample size, can be fractional).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trialsynth.registry import MEASURES, METHODS

SCHEMA_VERSION = "1.0"
SCHEMA_ID = "https://trialsynth.invalid/schemas/results/1.0"  # a name, not a location
COUNT_KEYS = frozenset({"participants", "n_t", "n_c", "events_t", "events_c"})

Measure = Literal[tuple(MEASURES)]  # type: ignore[valid-type]
Method = Literal[(*METHODS, "GLMM")]  # type: ignore[valid-type]  # GLMM: sparse data (designs.rare)
Count = int | float  # an integer where the count is whole


class _Open(BaseModel):
    """An object of results.json: its documented keys, and any further ones."""

    model_config = ConfigDict(extra="allow")


def _num(what: str) -> Any:
    """A documented key that is always present, null where it does not apply."""
    return Field(description=what)


class Source(_Open):
    file: str = Field(description="name of the review source that was run (file or folder)")
    sha256: str = Field(description="SHA-256 of the file, or of a folder's files")
    bytes: int
    format: str = Field(description="the reader that read it, e.g. rm5, revman-web-data-rows, "
                                    "trialsynth-folder")


class ReviewIdentity(_Open):
    id: str | None
    doi: str | None
    url: str | None


class Summary(_Open):
    analyses: int
    pooled: int
    not_pooled: int
    with_stored_weights: int = Field(description="analyses whose source stored per-study weights")
    weights_reproduced: int = Field(description="of those, analyses whose weights trialsynth "
                                                "reproduces within weight_tolerance")
    weight_tolerance: float = Field(description="percentage points")


class AnalysisSettings(_Open):
    """How the analysis was pooled, as its source states them or as trialsynth inferred them."""

    inferred: bool = Field(description="true: measure and method inferred from RevMan's stored "
                                       "per-study numbers (see notes)")
    data_type: Literal["dichotomous", "continuous", "generic"]
    measure: Measure
    method: Method
    model: Literal["common", "random"]
    scale: Literal["log", "identity"] = Field(description="the analysis scale of measure")
    totals: Literal["overall", "subgroups", "none"]
    conventions: str
    confidence_level: float
    notes: list[str]


class StudyEffect(_Open):
    """One study as pooled, on the analysis scale (result.scale)."""

    study: str
    yi: float | None = _num("effect on the analysis scale")
    se: float | None = _num("standard error of yi")
    ci_low: float | None = _num("study CI, analysis scale")
    ci_high: float | None = _num("study CI, analysis scale")
    weight: float | None = _num("percent of the analysis' total weight; null: not pooled")
    included: bool
    subgroup: str | None = None


class SubgroupTest(_Open):
    q: float | None
    df: int
    pvalue: float | None
    i2: float | None


class Exp(_Open):
    """Ratio measures back-transformed (exp of the analysis-scale values)."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    pi_low: float | None
    pi_high: float | None


class PooledResult(_Open):
    """The pooled result (``trialsynth pool --json``'s object), on the analysis scale."""

    scale: Literal["log", "identity"] = Field(
        description="scale of estimate, ci_*, pi_*, tau2 and the studies' yi: log for ratio "
                    "measures (log RR, log OR, ...), identity otherwise; exp holds the ratios")
    k: int = Field(description="studies pooled")
    measure: str
    method: str
    estimate: float | None = _num("pooled effect, analysis scale")
    se: float | None = _num("its standard error")
    ci_low: float | None = _num("confidence interval, analysis scale")
    ci_high: float | None = _num("confidence interval, analysis scale")
    statistic: float | None = _num("z (or t with HKSJ) for the test of no effect")
    pvalue: float | None
    tau2: float | None = _num("between-study variance on the analysis scale (squared units)")
    tau2_ci_low: float | None
    tau2_ci_high: float | None
    i2: float | None = _num("percent")
    i2_ci_low: float | None
    i2_ci_high: float | None
    h2: float | None
    q: float | None = _num("Cochran's Q")
    q_df: int | None
    q_pvalue: float | None
    pi_low: float | None = _num("prediction interval, analysis scale")
    pi_high: float | None = _num("prediction interval, analysis scale")
    weights: list[float | None] = Field(description="percent, in the order of studies")
    exp: Exp | None = _num("back-transformed values for ratio measures, else null")
    model: Literal["common", "random"]
    participants: Count | None = _num("participants in the pooled studies (integer when whole)")
    converged: bool
    iterations: int
    settings: dict[str, Any]
    warnings: list[str]
    studies: list[StudyEffect]
    subgroups: dict[str, PooledResult] | None = None
    subgroup_test: SubgroupTest | None = None


class DisplaySubgroup(_Open):
    scale: Literal["ratio", "identity"]
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    k: int


class Display(_Open):
    """The estimate and intervals as RevMan shows them (ratios as ratios)."""

    scale: Literal["ratio", "identity"] = Field(
        description="ratio: exp of the analysis-scale values (RR, OR, ...); identity: as in result")
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    pi_low: float | None = _num("null when the review does not present prediction intervals")
    pi_high: float | None
    subgroups: dict[str, DisplaySubgroup]


class StudyCheck(_Open):
    """One study row of the source, with RevMan's stored per-study numbers beside ours."""

    row: int | None = _num("row of the source file (header = 1)")
    study: str
    complete: bool = Field(description="the row has every datum its data type needs")
    data: dict[str, float | int | str | None] = Field(
        description="the row's data columns (counts as integers when whole)")
    ours: dict[str, float | None] | None = Field(
        default=None, description="effect, ci_low, ci_high on the display scale (ratios as "
                                  "ratios, as RevMan shows them), weight in percent")
    stored: dict[str, float | None] | None = Field(
        default=None, description="RevMan's stored values, same scales as ours")


class Check(_Open):
    max_abs_diff: dict[str, float | None]
    weights_reproduced: bool | None = Field(
        description="null when the source stored no weights to compare")


class Domain(_Open):
    downgrade: int = Field(ge=0, le=3, description="levels rated down")
    reasons: list[str]
    override: dict[str, Any] | None = None


class Certainty(_Open):
    level: Literal["high", "moderate", "low", "very_low"]
    domains: dict[str, Domain]


class Analysis(_Open):
    id: str = Field(description="'comparison.outcome' number, e.g. '1.2'")
    comparison: int
    number: int
    name: str
    settings: AnalysisSettings
    status: Literal["pooled", "not pooled"]
    reason: str | None = _num("why not pooled")
    result: PooledResult | None
    display: Display | None
    studies: list[StudyCheck]
    check: Check
    certainty: Certainty | None = None
    statement: str | None = Field(default=None, description="the GRADE informative statement")


class Methods(_Open):
    paragraphs: list[str]
    references: list[dict[str, Any]]


class Defaults(_Open):
    pain_mid_0_100: float | None = Field(
        default=None, description="kept for readers of earlier files; always null: the library "
                                  "assumes no minimal important difference (the review folder "
                                  "states them)")
    note: str


class ResultsJson(_Open):
    """``results.json``, the content ``trialsynth run`` writes."""

    model_config = ConfigDict(extra="allow", title="trialsynth results.json")

    schema_version: Literal["1.0"] = Field(description="the layout of this file (SCHEMA_VERSION)")
    generator: str
    trialsynth_version: str
    source: Source
    review: ReviewIdentity
    conventions: str
    settings_note: str
    summary: Summary
    analyses: list[Analysis]
    methods: Methods
    defaults: Defaults
    what_changed: dict[str, Any] | None = Field(
        default=None, description="with run --since: what changed (trialsynth.diff)")


def results_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``results.json``, generated from :class:`ResultsJson`."""
    schema = ResultsJson.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            **schema}


def schema_text() -> str:
    """:func:`results_schema` as the text ``trialsynth schema results`` prints."""
    return json.dumps(results_schema(), indent=1, ensure_ascii=False) + "\n"


def with_integer_counts(value: Any) -> Any:
    """``value`` (JSON-ready data) with every whole-number count under a :data:`COUNT_KEYS` key
    as an int (56.0 -> 56); fractional counts and everything else unchanged."""
    if isinstance(value, dict):
        return {k: (int(v) if k in COUNT_KEYS and isinstance(v, float) and v.is_integer()
                    else with_integer_counts(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [with_integer_counts(v) for v in value]
    return value
