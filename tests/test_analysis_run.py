"""The analyse stage hands the report a frozen :class:`trialsynth.analyse.AnalysisRun`: typed
records per analysis that nothing downstream can change, whose ``to_dict`` is exactly the entry
``results.json`` had before (``analyse()`` keeps returning it), and a run over another real
review's results still validates against the schema ``trialsynth schema results`` prints.

Sources: RevMan 5 file Fleiss1993.rm5 (../shared/data/meta-fleiss1993, see PROVENANCE.md) and
the Cochrane data file CD004376 (../shared/data/pairwise70)."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle

import jsonschema
import pytest
from _paths import SHARED_DATA
from typer.testing import CliRunner

from trialsynth._frozen import FrozenMap
from trialsynth.analyse import AnalysisRun, analyse, analyse_review
from trialsynth.cli import app
from trialsynth.readers.convert import build_folder
from trialsynth.runner import run_review

FLEISS = SHARED_DATA / "meta-fleiss1993" / "Fleiss1993.rm5"
PAIRWISE = SHARED_DATA / "pairwise70" / "CD004376_pub4_data.csv"


@pytest.fixture(scope="module")
def run() -> AnalysisRun:
    review = build_folder(FLEISS).review
    return analyse_review(review, FLEISS.name)


def test_the_run_and_its_records_are_frozen(run):
    done = run.analyses[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.analyses = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.status = "not pooled"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.natural.estimate = 1.0  # type: ignore[misc,union-attr]
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.studies[0].ours.weight = 0.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.check.weights_reproduced = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        done.studies[0].data["n_t"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        done.studies[0].data._items = {}  # type: ignore[attr-defined]
    assert isinstance(run.analyses, tuple) and isinstance(done.studies, tuple)
    assert isinstance(done.studies[0].adjustments, tuple)
    # slots: no attribute can be added either
    with pytest.raises((AttributeError, TypeError)):
        object.__setattr__(done, "extra", 1)


def test_the_records_hold_what_analyse_returned(run):
    """Fleiss 1993 (aspirin after myocardial infarction): seven trials, OR pooled; the typed
    record and the dict ``analyse()`` returns agree key for key."""
    review = run.review
    for done, analysis in zip(run.analyses, review.analyses, strict=True):
        assert done.analysis is analysis
        legacy = analyse(analysis, FLEISS.name)
        assert json.dumps(done.to_dict(), default=str) == json.dumps(legacy, default=str)
    done = run.analyses[0]
    assert done.status == "pooled" and done.pooled is done.result
    assert len(done.studies) == 7 and done.result.k == 7
    # the natural scale is the exponent of the analysis (log) scale for a ratio measure
    assert done.natural.scale == "ratio"
    assert done.natural.estimate == pytest.approx(math.exp(done.result.estimate), rel=1e-12)
    assert isinstance(done.check.weights_compared, int)
    assert run.pooled == tuple(d.pooled for d in run.analyses)


def test_records_survive_pickling(run):
    """Figures are drawn in forked workers: the records pickle and compare equal."""
    done = run.analyses[0]
    back = pickle.loads(pickle.dumps(done.studies[0]))
    assert back == done.studies[0] and isinstance(back.data, FrozenMap)
    assert hash(FrozenMap({"a": 1})) == hash(FrozenMap(a=1))


def test_a_pairwise_review_validates_against_the_printed_schema(tmp_path):
    """results.json of a Cochrane data file validates against ``trialsynth schema results``."""
    printed = CliRunner().invoke(app, ["schema", "results"])
    assert printed.exit_code == 0
    schema = json.loads(printed.stdout)
    run_review(PAIRWISE, tmp_path / "out", quiet=True)
    doc = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]]
    assert doc["summary"]["analyses"] == len(doc["analyses"]) > 0
