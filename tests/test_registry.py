"""The registries of effect measures and pooling methods (trialsynth.registry) and everything
derived from them: the command line's choices, the review-file schema, the tables of the pooling
engine, the labels of the report and the methods text with a reference for every method."""

from __future__ import annotations

import typing

import pytest

from trialsynth import cli
from trialsynth.effects import table
from trialsynth.pooling import batch, result, tau2
from trialsynth.registry import (
    COMMON_METHODS,
    MEASURES,
    METHODS,
    POOL_MEASURES,
    RANDOM_METHODS,
    RATIO_MEASURES,
    TAU2_METHODS,
    measure_info,
    method_info,
)
from trialsynth.registry.measures import LOG_SCALE, is_ratio, scale_of
from trialsynth.registry.methods import REFERENCES
from trialsynth.review import model as review
from trialsynth.review import protocol


def test_the_engine_implements_every_registered_method_and_nothing_else():
    assert tuple(tau2.ESTIMATORS) == TAU2_METHODS
    assert batch.METHODS == tuple(METHODS)
    assert batch.COMMON == COMMON_METHODS == ("IV", "MH", "PETO")
    assert RANDOM_METHODS == (*TAU2_METHODS, "MH_RANDOM")
    for code, info in METHODS.items():
        if info.tau2 is not None:
            assert info.tau2 in tau2.ESTIMATORS, code
        assert (info.model == "common") == (info.tau2 is None), code


def test_command_line_choices_are_the_registry():
    assert [m.value for m in cli.Measure] == list(POOL_MEASURES)
    assert [m.value for m in cli.Method] == list(METHODS)
    # the documented order of the README's pool command
    assert list(POOL_MEASURES) == ["RR", "OR", "RD", "PETO_OR", "MD", "SMD", "GENERIC"]
    assert list(METHODS) == ["IV", "MH", "PETO", "DL", "REML", "ML", "PM", "HE", "SJ", "EB",
                             "MH_RANDOM"]


def test_review_file_schema_is_the_registry():
    assert typing.get_args(protocol.Measure) == tuple(MEASURES)
    assert typing.get_args(protocol.Method) == tuple(METHODS)
    assert typing.get_args(protocol.RandomMethod) == TAU2_METHODS
    assert protocol.MEASURES_BY_TYPE == review.MEASURES
    with pytest.raises(protocol.ProtocolError, match="GENERIC_LOG"):
        from trialsynth.readers.review_yaml import parse_protocol

        parse_protocol("schema: trialsynth-review/1\nreview: {id: x}\nanalyses:\n"
                       "  - {id: '1.1', name: a, data_type: generic, settings: {measure: XX, "
                       "method: IV}}\n")


def test_measure_tables_agree():
    assert table.MEASURES == POOL_MEASURES
    assert table.RATIO == result.RATIO_MEASURES == RATIO_MEASURES == ("RR", "OR", "PETO_OR")
    assert review.LOG_SCALE == LOG_SCALE == ("RR", "OR", "PETO_OR", "GENERIC_LOG")
    assert [scale_of(m) for m in ("RR", "MD", "GENERIC_LOG", "GENERIC")] == \
        ["log", "identity", "log", "identity"]
    assert not is_ratio("nonsense")
    assert review.MEASURES == {"dichotomous": ("RR", "OR", "RD", "PETO_OR"),
                               "continuous": ("MD", "SMD"), "generic": ("GENERIC", "GENERIC_LOG")}
    with pytest.raises(KeyError, match="known: RR"):
        measure_info("HR")
    with pytest.raises(KeyError, match="known: IV"):
        method_info("FE")


def test_every_method_cites_a_reference_and_every_reference_is_cited():
    cited = {k for m in METHODS.values() for k in m.cites}
    assert cited == set(REFERENCES)
    for m in METHODS.values():
        assert m.citations and all(len(c) > 40 for c in m.citations)
    # the five estimators the methods text printed without a reference
    for code, author in (("ML", "Hardy RJ"), ("PM", "Paule RC"), ("HE", "Hedges LV"),
                         ("SJ", "Sidik K"), ("EB", "Morris CN")):
        assert REFERENCES[code].startswith(author)


def test_mantel_haenszel_and_peto_pool_their_own_measures_only():
    assert method_info("MH").measures == method_info("MH_RANDOM").measures == ("RR", "OR", "RD")
    assert method_info("PETO").measures == ("PETO_OR",)
    assert method_info("REML").measures is None


def test_the_methods_text_cites_each_estimator_it_names():
    from trialsynth.report.model import methods

    analyses = [{"settings": {"measure": "RR", "method": m}, "result": {"k": 3}}
                for m in ("PM", "SJ", "EB", "HE", "ML")]
    out = methods(analyses)
    refs = {r["key"]: (r["n"], r["text"]) for r in out["references"]}
    text = " ".join(out["paragraphs"])
    for code, words in (("PM", "Paule-Mandel"), ("SJ", "Sidik-Jonkman"), ("EB", "empirical Bayes"),
                        ("HE", "Hedges"), ("ML", "maximum-likelihood")):
        n, ref = refs[code]
        assert f"{words} estimator of τ² [{n}]" in text
        assert ref == REFERENCES[code]
    assert "risk ratios" in text


def test_the_command_line_takes_the_apis_name_for_the_confidence_level(tmp_path):
    """``--confidence-level`` (the API's and the review file's ``confidence_level``) is the same
    option as ``--level``: on these SIMULATED generic effects both give the 90% Wald interval,
    estimate ± z₀.₉₅·se (z₀.₉₅ = qnorm(0.95) in R)."""
    import json

    from typer.testing import CliRunner

    data = tmp_path / "g.csv"
    data.write_text("study,yi,se\nA,0.1,0.2\nB,0.3,0.25\nC,-0.1,0.3\n", encoding="utf-8")
    outs = []
    for flag in ("--level", "--confidence-level"):
        res = CliRunner().invoke(cli.app, ["pool", str(data), "--measure", "GENERIC", "--method",
                                           "DL", flag, "0.9", "--json"])
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.stdout))
    assert outs[0] == outs[1]
    one = outs[0]
    assert one["settings"]["confidence_level"] == 0.9
    half = one["ci_high"] - one["estimate"]
    assert half == pytest.approx(1.6448536269514722 * one["se"], rel=1e-12)
