"""The typed report model of one analysis: what the assess step (certainty, sensitivity, small-study
tests, Bayesian and sequential analyses) and the report add to the analyse stage's record
(:class:`trialsynth.analyse.Analysed`), as frozen records. ``to_dict`` of each is its entry of
``results.json`` (key order included); nothing here computes, it only holds and lays out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from trialsynth._frozen import FrozenMap
from trialsynth.analyse import Analysed
from trialsynth.report.model import Facts, ParsedName, certainty_dict
from trialsynth.report.sof import SofRow
from trialsynth.review.arms import Arms

if TYPE_CHECKING:  # the assessments load when the report computes them
    from trialsynth.assess.bayes import BayesSummary
    from trialsynth.assess.bias.summary import SmallStudyEffects
    from trialsynth.assess.certainty.judgement import Certainty
    from trialsynth.assess.sensitivity.analyses import SensitivityReport
    from trialsynth.assess.sequential.tsa import TsaSummary


@dataclass(frozen=True, slots=True, kw_only=True)
class Sensitivity:
    """The sensitivity analyses of one main analysis (:func:`trialsynth.assess.sensitivity
    .sensitivity_analyses`) with each re-analysis' estimate and CI on the natural scale (ratios
    as ratios), or why they could not be run."""

    report: SensitivityReport | None
    natural: tuple[tuple[float | None, float | None, float | None], ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.report is None:
            return {"error": self.error}
        out = self.report.to_dict()
        for row, (est, low, high) in zip(out["analyses"], self.natural, strict=True):
            row["display"] = {"estimate": est, "ci_low": low, "ci_high": high}
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Beyond:
    """Beyond the pooled estimate, for a main analysis: the Bayesian probability of an important
    effect and the trial sequential analysis, with the plain answers the report prints."""

    bayes: BayesSummary | None
    bayes_error: str | None  # why no Bayesian summary was computed (with bayes None)
    probability: str
    agreement: str | None  # does the statement agree with the probability (when one is given)
    probability_given: bool
    tsa: TsaSummary | None
    ris_basis: str | None
    next_trial: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bayes": {"error": self.bayes_error} if self.bayes is None else self.bayes.to_dict(),
            "tsa": None if self.tsa is None else self.tsa.to_dict(),
            "probability": self.probability}
        if self.probability_given:
            out["agreement"] = self.agreement
        if self.tsa is not None:
            out["ris_basis"] = self.ris_basis
        out["next_trial"] = self.next_trial
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisReport:
    """One analysis as the report shows it: the analyse stage's record, the arms and outcome it
    is about, each study's risk-of-bias judgements, GRADE certainty, the SoF row and statement,
    the figures drawn for it and, for a main analysis, sensitivity, small-study tests and what
    lies beyond the pooled estimate. ``pooled``: the assessment of a pooled analysis ran."""

    done: Analysed
    repeats: str | None  # the earlier analysis this one re-analyses
    arms: Arms
    parsed: ParsedName
    facts: Facts
    study_rob: tuple[Mapping[str, str] | None, ...]
    pooled: bool = False
    certainty: Certainty | None = None
    certainty_error: str | None = None
    sof_row: SofRow | None = None
    statement: str | None = None
    rob_note: str | None = None
    figure: str | None = None
    sensitivity: Sensitivity | None = None
    small_study: SmallStudyEffects | None = None
    funnel_figure: str | None = None
    beyond: Beyond | None = None
    tsa_figure: str | None = None
    facets: FrozenMap[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.done.id

    def to_dict(self) -> dict[str, Any]:
        out = self.done.to_dict()
        for st, rob in zip(out["studies"], self.study_rob, strict=True):
            st["rob"] = None if rob is None else dict(rob)
        if self.repeats is not None:
            out["repeats"] = self.repeats
        out["arms"] = self.arms.to_dict() | {
            "gap_map_row": self.arms.pair if self.arms.organised_by == "outcome" else None}
        out["parsed"] = self.parsed.to_dict() | {"outcome_id": self.facts.outcome_id}
        out.update(certainty=None if self.certainty is None else certainty_dict(self.certainty),
                   sof=[] if self.sof_row is None else [self.sof_row.to_dict()],
                   statement=self.statement, rob_note=self.rob_note, figure=self.figure)
        f = self.facts
        out["outcome_defaults"] = {"direction_of_benefit": f.direction,
                                   "direction_source": f.direction_source, "mid": f.mid,
                                   "mid_source": f.mid_source}
        if self.pooled and self.certainty is None:
            out["certainty_error"] = self.certainty_error
        if self.sensitivity is not None:
            out["sensitivity"] = self.sensitivity.to_dict()
            out["small_study"] = None if self.small_study is None else self.small_study.to_dict()
            if self.funnel_figure is not None:
                out["funnel_figure"] = self.funnel_figure
        if self.beyond is not None:
            out["beyond"] = self.beyond.to_dict()
            if self.tsa_figure is not None:
                out["tsa_figure"] = self.tsa_figure
        if self.facets is not None:
            out["facets"] = dict(self.facets)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewSections:
    """The review-wide sections of the report, in the order ``results.json`` holds them after
    ``analyses``: key messages, risk of bias, the evidence inventory with its gap maps, SoF
    tables per comparison, network meta-analysis, navigation, implications for research, the
    review's identity and question, methods, declared defaults and the included studies."""

    key_messages: tuple[Mapping[str, Any], ...]
    risk_of_bias_summary: str
    evidence_inventory: Mapping[str, Any]
    risk_of_bias_figures: Mapping[str, Any]
    sof_tables: Mapping[str, Any]
    network_meta_analysis: Mapping[str, Any]
    navigation: Mapping[str, Any]
    research_implications: Any
    identity: Mapping[str, Any]
    methods: Any
    question: Mapping[str, Any]
    defaults: Mapping[str, Any]
    study_inventory: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["key_messages"] = list(self.key_messages)
        return out
