"""The report model is typed and frozen: :func:`trialsynth.pipeline.review_results` returns a
frozen :class:`trialsynth.report.build.Report` whose analyses are frozen
:class:`trialsynth.report.assessed.AnalysisReport` records (assessments typed: Bayesian summary,
trial sequential analysis, sensitivity report), and results.json's ``analyses`` are exactly their
``to_dict()``.

Source: RevMan 5 file Fleiss1993.rm5 (../shared/data/meta-fleiss1993, see PROVENANCE.md): seven
trials of aspirin after myocardial infarction, one analysis."""

from __future__ import annotations

import dataclasses

import pytest
from _paths import SHARED_DATA

from trialsynth.assess.bayes import BayesSummary
from trialsynth.assess.sensitivity.analyses import SensitivityReport
from trialsynth.assess.sequential.tsa import TsaSummary
from trialsynth.pipeline import review_results
from trialsynth.report.assessed import AnalysisReport, Beyond, Sensitivity

FLEISS = SHARED_DATA / "meta-fleiss1993" / "Fleiss1993.rm5"


@pytest.fixture(scope="module")
def ran():
    return review_results(FLEISS, quiet=True)


def test_the_report_and_its_analyses_are_frozen(ran):
    _, report = ran
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.files = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.files["tables/x.csv"] = "x"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.sections.key_messages = ()  # type: ignore[misc]
    assert isinstance(report.sections.key_messages, tuple)
    assert list(report.results) == [f.name for f in dataclasses.fields(report.sections)]
    rec = report.analyses[0]
    assert isinstance(rec, AnalysisReport)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.statement = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.beyond.probability = "changed"  # type: ignore[misc,union-attr]


def test_the_assessments_are_typed(ran):
    _, report = ran
    rec = report.analyses[0]
    assert rec.pooled and rec.done.status == "pooled"
    assert isinstance(rec.sensitivity, Sensitivity)
    assert isinstance(rec.sensitivity.report, SensitivityReport)
    # one natural-scale triple per re-analysis; OR is a ratio: natural = exp(analysis scale)
    assert len(rec.sensitivity.natural) == len(rec.sensitivity.report.analyses)
    assert isinstance(rec.beyond, Beyond)
    assert isinstance(rec.beyond.bayes, BayesSummary) and isinstance(rec.beyond.tsa, TsaSummary)
    assert rec.beyond.tsa.measure == rec.done.result.measure == "OR"


def test_results_analyses_are_the_records_to_dict(ran):
    results, report = ran
    assert results["analyses"] == [r.to_dict() for r in report.analyses]
    entry = results["analyses"][0]
    # key order of the entry: analyse-stage keys, then the report's, beyond and facets last
    keys = list(entry)
    assert keys[:13] == ["id", "comparison", "number", "name", "comparison_name",
                         "applicability", "settings", "status", "reason", "result", "display",
                         "studies", "check"]
    assert keys.index("sensitivity") < keys.index("beyond") < keys.index("facets") == len(keys) - 1
    assert "certainty_error" not in entry  # certainty was rated
    assert all("rob" in st for st in entry["studies"])
    for row, (est, _, _) in zip(entry["sensitivity"]["analyses"],
                                report.analyses[0].sensitivity.natural, strict=True):
        assert row["display"]["estimate"] == pytest.approx(est, nan_ok=True)


def test_beyond_lays_out_only_what_was_computed():
    """Without a TSA there is no ``ris_basis``; without a probability no ``agreement``."""
    b = Beyond(bayes=None, bayes_error="no studies", probability="Not computed: no studies.",
               agreement=None, probability_given=False, tsa=None, ris_basis=None,
               next_trial="Not computed: x.")
    assert b.to_dict() == {"bayes": {"error": "no studies"}, "tsa": None,
                           "probability": "Not computed: no studies.",
                           "next_trial": "Not computed: x."}
    given = dataclasses.replace(b, probability_given=True, agreement="agrees")
    assert list(given.to_dict()) == ["bayes", "tsa", "probability", "agreement", "next_trial"]
    assert Sensitivity(report=None, error="too few").to_dict() == {"error": "too few"}


def test_small_study_and_plan_are_typed(ran):
    """Fleiss 1993 has 7 trials, fewer than the 10 a funnel-plot test needs (Handbook 5.1
    §10.4.3.1): no test is run and the record says why; the TSA plan is a frozen TrialPlan
    whose dict form is what ``trialsynth plan --json`` prints."""
    from trialsynth.assess.bias.summary import SmallStudyEffects
    from trialsynth.assess.sequential.plan import TrialPlan, plan_for, trial_plan
    from trialsynth.readers.convert import build_folder

    _, report = ran
    rec = report.analyses[0]
    assert isinstance(rec.small_study, SmallStudyEffects)
    assert rec.small_study.k == 7 and rec.small_study.tests == ()
    assert "fewer than 10" in rec.small_study.skipped_reason
    assert rec.funnel_figure is None and "funnel_figure" not in rec.to_dict()
    folder = build_folder(FLEISS)
    plan = trial_plan(rec.done.analysis, rec.done.pooled, folder.protocol)
    assert isinstance(plan, TrialPlan) and plan.k == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.mid = 0.5  # type: ignore[misc]
    legacy = plan_for(rec.done.analysis, rec.done.pooled, folder.protocol)
    assert {k: v for k, v in legacy.items() if k != "_tsa"} == plan.to_dict()
    assert plan.tsa.to_dict() == rec.beyond.tsa.to_dict()
