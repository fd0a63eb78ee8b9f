"""trialsynth's review folder: import, folder -> folder round trip, validation, atomic writes.

The flagship is Ferraro et al. 2025, CD015373.pub2 (RevMan Web data-rows export via
mahmood789/Pairwise70, shared/data/PROVENANCE.md); the second review is CD004376.pub4 from the
same collection. Broken folders are copies made in tmp_path; no shared file is ever written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _paths import SHARED_DATA

import trialsynth._atomic as atomic_mod
from trialsynth import pool
from trialsynth.errors import DataError, TrialsynthError
from trialsynth.readers import folder as folder_mod
from trialsynth.readers.convert import build_folder, export_json, folder_json, import_review, write_json
from trialsynth.readers.folder import FILES, read_folder, write_folder
from trialsynth.readers.review_yaml import dump_protocol, load_protocol, parse_protocol
from trialsynth.review import MEASURES, pool_measure
from trialsynth.review.protocol import MEASURES_BY_TYPE, ProtocolError

DATA = SHARED_DATA
FLAGSHIP = DATA / "pairwise70" / "CD015373_pub2_data.csv"
SECOND = DATA / "pairwise70" / "CD004376_pub4_data.csv"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"


def sha(path: Path) -> str:
    if path.is_dir():
        return "".join(sha(p) + p.name for p in sorted(path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def comparable(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc["review"].pop("source")  # the folder it was read from
    return doc


@pytest.fixture(scope="module")
def flagship_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = sha(FLAGSHIP)
    out = import_review(FLAGSHIP, tmp_path_factory.mktemp("flagship") / "CD015373")
    assert sha(FLAGSHIP) == before  # the source is only read
    return out


@pytest.fixture(scope="module")
def flagship(flagship_dir: Path) -> folder_mod.ReviewFolder:
    return read_folder(flagship_dir)


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the committed flagship folder: the import plus what the reviewers know."""
    return Path(shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("example") / "CD015373"))


@pytest.fixture(scope="module")
def example() -> folder_mod.ReviewFolder:
    return read_folder(EXAMPLE)


# ---------------------------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------------------------
def test_flagship_import_structure(flagship, flagship_dir):
    """The data file alone: its analyses, rows and studies, and placeholders (marked inferred,
    each with its basis) for what it does not state; the library knows no particular review."""
    assert sorted(p.name for p in flagship_dir.iterdir()) == sorted(FILES)
    r, p = flagship.review, flagship.protocol
    assert r.id == "CD015373.pub2" and r.doi == "10.1002/14651858.CD015373.pub2"
    assert len(r.analyses) == 95 and sum(len(a.frame) for a in r.analyses) == 176
    assert len(flagship.studies) == 28
    assert p.data_source.sha256 == sha(FLAGSHIP)
    assert p.data_source.file == "CD015373_pub2_data.csv" and p.data_source.citation is None
    assert p.review.citation is None and not p.question.interventions
    # comparison names are not in the data file: placeholders, all inferred, each with its basis
    assert len(p.comparisons) == 13 and all(c.inferred and c.basis for c in p.comparisons)
    assert p.comparisons[0].name == "Comparison 1"
    assert all(o.inferred and o.basis and o.mid is None for o in p.question.outcomes)
    assert not p.question.time_windows
    a11 = p.analysis("1.1")
    assert a11.inferred and a11.time_window is None and p.mid("1.1") is None
    assert p.analysis("1.2").subgroup_factor == "duration of administration"
    rs = p.resolved_settings("1.1")
    assert (rs.measure, rs.method, rs.model, rs.hksj, rs.conventions) == ("MD", "DL", "random",
                                                                         False, "revman")
    assert all(a.settings.inferred for a in p.analyses)


def test_flagship_folder_states_what_the_reviewers_know(example):
    """examples/nmda-chronic-pain: the question, names and MIDs the data file does not state,
    each fact with its provenance (METHODS.md §1, §7; PROVENANCE.md)."""
    p = example.protocol
    assert "CD015373_pub2_data.csv" in p.data_source.citation
    assert "Ferraro MC" in p.review.citation and "CD015373.pub2" in p.review.citation
    # comparison names are not in the data file: all inferred, each with its basis
    assert len(p.comparisons) == 13 and all(c.inferred and c.basis for c in p.comparisons)
    assert p.comparisons[0].name == "Intravenous ketamine versus placebo"
    assert {i.drug for i in p.question.interventions} == {
        "ketamine", "memantine", "dextromethorphan", "amantadine", "magnesium"}
    assert {i.route for i in p.question.interventions} >= {"intravenous", "oral", "topical",
                                                           "not_stated"}
    pain = next(o for o in p.question.outcomes if o.id == "pain-intensity")
    assert pain.direction_of_benefit == "lower_is_better"
    assert (pain.scale.min, pain.scale.max) == (0, 100)
    assert pain.mid.value == 10 and pain.mid.provisional and "METHODS.md §7" in pain.mid.basis
    assert all(w.provisional for w in p.question.time_windows)
    # an outcome of the question that no analysis measures is kept (evidence inventory)
    assert not [a for a in p.analyses if a.outcome == "opioid-consumption"]
    a11 = p.analysis("1.1")
    assert (a11.outcome, a11.time_window, a11.inferred) == ("pain-intensity", "immediate", True)
    assert p.analysis("1.2").subgroup_factor == "duration of administration"
    hrqol = p.analysis("1.21")  # Fibromyalgia Impact Questionnaire: lower is better
    assert p.direction_of_benefit("1.21") == "lower_is_better" and hrqol.scale.provisional
    assert p.direction_of_benefit("7.22") == "higher_is_better"  # EQ-5D VAS
    assert (p.grade_benefit("1.1"), p.grade_benefit("1.3")) == ("lower", "higher")
    assert p.mid("1.1").value == 10 and p.mid("1.9") is None
    # an analysis may state its own MID (its instrument's): provisional, with its basis
    own = p.analysis("7.18").mid
    assert p.mid("7.18") is own and own.value == 10 and own.provisional and "0-70" in own.basis
    assert p.analysis("7.18").scale.name == "Pain Disability Index"


def test_flagship_risk_of_bias(flagship):
    rob = flagship.rob_assessments()
    # RevMan's stated overall judgements (4 results of Dadabayev 2020) reach the frames
    overall = {(a.id, s): o for a in flagship.review.analyses
               for s, o in zip(a.frame["study"], a.frame["rob_overall"], strict=True) if o}
    assert overall == {("2.1", "Dadabayev 2020"): "some_concerns",
                       ("2.2", "Dadabayev 2020"): "high"}
    assert rob["Dadabayev 2020", "2.2"].assessment.complete
    # randomisation (D1) is the same in every result of a study: one study-level row
    d1 = [r for r in flagship.risk_of_bias if r.domain == "D1"]
    assert len(d1) == 28 and all(r.result is None for r in d1)
    assert rob["Lumanauw 2019", "1.1"].assessment.domains["D1"].final == "low"


def test_committed_example_is_the_import(flagship, flagship_dir):
    """examples/nmda-chronic-pain is what the importer writes from the data file (its tables
    byte for byte, every analysis with its settings and RevMan's stored results), plus what the
    reviewers know: the question, names and links the data file does not state."""
    tables = ("studies.csv", "outcome_data.csv", "risk_of_bias.csv")
    assert {k: v for k, v in snapshot(EXAMPLE).items() if k in tables} == \
        {k: v for k, v in snapshot(flagship_dir).items() if k in tables}
    mine, imported = read_folder(EXAMPLE).protocol, flagship.protocol
    assert mine.data_source.model_dump(exclude={"citation", "url"}) == \
        imported.data_source.model_dump(exclude={"citation", "url"})
    assert mine.review.id == imported.review.id and mine.settings == imported.settings
    assert [c.id for c in mine.comparisons] == [c.id for c in imported.comparisons]
    assert len(mine.analyses) == len(imported.analyses) == 95
    for a, b in zip(mine.analyses, imported.analyses, strict=True):
        assert (a.id, a.name, a.data_type, a.subgroups, a.subgroup_factor, a.applicability) == \
            (b.id, b.name, b.data_type, b.subgroups, b.subgroup_factor, b.applicability)
        assert a.settings == b.settings and a.stored == b.stored and a.labels == b.labels


def test_folder_gives_the_same_pooled_results_as_the_source(flagship):
    from trialsynth.readers.revman_rows import read_review

    source = {a.id: a for a in read_review(FLAGSHIP).analyses}
    compared = 0
    for a in flagship.review.analyses:
        b = source[a.id]
        assert (a.data_type, a.settings.measure, a.settings.method) == \
            (b.data_type, b.settings.measure, b.settings.method)
        if a.pooled_rows.empty:
            continue
        with np.errstate(all="ignore"):
            x = pool(a.pooled_rows, pool_measure(a.settings.measure), a.settings.method,
                     subgroup="subgroup" if a.has_subgroups else None, revman=True)
            y = pool(b.pooled_rows, pool_measure(b.settings.measure), b.settings.method,
                     subgroup="subgroup" if b.has_subgroups else None, revman=True)
        for key in ("estimate", "ci_low", "ci_high", "tau2", "q"):
            u, v = getattr(x, key), getattr(y, key)
            assert u == v or (u is None and v is None) or (math.isnan(u) and math.isnan(v))
        compared += 1
    assert compared > 80


def test_second_review_import(tmp_path):
    before = sha(SECOND)
    out = import_review(SECOND, tmp_path / "second")
    assert sha(SECOND) == before
    f = read_folder(out)
    assert f.review.id == "CD004376.pub4"
    assert sum(len(a.frame) for a in f.review.analyses) == 1029
    assert all(a.has_subgroups for a in f.review.analyses)
    # a review the project knows nothing about: placeholders, each marked and explained
    assert all(c.inferred and c.name.startswith("Comparison ") for c in f.protocol.comparisons)
    assert all(o.inferred and o.direction_of_benefit is None for o in f.protocol.question.outcomes)
    assert f.protocol.question.population is None and f.protocol.question.time_windows == []


# ---------------------------------------------------------------------------------------------
# folder -> folder round trip
# ---------------------------------------------------------------------------------------------
def _sources() -> list[Path]:
    out = [FLAGSHIP, SECOND]
    for p in ("meta-fleiss1993/Fleiss1993.rm5", "meta-fleiss1993/revman-web-export",
              "cochrane-rm5/CD011564StatsDataOnly.rm5"):
        out.append(DATA / p)
    return out


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.name)
def test_round_trip_loses_nothing(source, tmp_path):
    assert source.exists(), f"{source} not found"
    first = import_review(source, tmp_path / "a")
    before = sha(first)
    one = read_folder(first)
    assert sha(first) == before  # reading never writes
    second = write_folder(one, tmp_path / "b")
    two = read_folder(second)
    assert snapshot(first) == snapshot(second)  # byte-identical second write
    assert comparable(folder_json(one)) == comparable(folder_json(two))
    for a, b in zip(one.review.analyses, two.review.analyses, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
        assert a.settings == b.settings
    assert one.rob_assessments().keys() == two.rob_assessments().keys()
    assert one.studies == two.studies and one.risk_of_bias == two.risk_of_bias
    # folder -> folder through the importer too
    third = import_review(second, tmp_path / "c")
    assert snapshot(third) == snapshot(second)


def test_floats_round_trip_exactly(tmp_path, flagship):
    a = flagship.review.analyses[0]
    frame = a.frame.copy()
    frame["mean_t"] = [0.1 + 0.2, 1 / 3, 1e-300]
    frame["sd_t"] = [math.pi, 2.0**60 + 0.0, 123456789.123456789]
    odd = folder_mod.Analysis(**{**{f: getattr(a, f) for f in a.__dataclass_fields__},
                                 "frame": frame})
    from dataclasses import replace

    folder = replace(flagship, review=replace(flagship.review, analyses=(odd,
                                                                         *flagship.review.analyses[1:])))
    back = read_folder(write_folder(folder, tmp_path / "f")).review.analyses[0].frame
    assert back["mean_t"].tolist() == frame["mean_t"].tolist()
    assert back["sd_t"].tolist() == frame["sd_t"].tolist()


# ---------------------------------------------------------------------------------------------
# settings, GRADE input
# ---------------------------------------------------------------------------------------------
def test_one_setting_switches_to_cochrane_2025_default(flagship_dir, tmp_path):
    copy = shutil.copytree(flagship_dir, tmp_path / "reml")
    yml = copy / "review.yaml"
    text = yml.read_text(encoding="utf-8")
    text = text.replace("  random_effects_method: null\n  hksj: false\n  prediction_interval: null",
                        "  random_effects_method: REML\n  hksj: true\n  prediction_interval: true")
    yml.write_text(text, encoding="utf-8")
    f = read_folder(copy)
    s = f.protocol.resolved_settings("1.1")
    assert (s.method, s.hksj, s.prediction_interval) == ("REML", True, True)
    a = f.review.analyses[0]
    assert a.settings.method == "REML" and a.settings.hksj is True
    assert a.settings.prediction_interval is True
    assert any("random_effects_method" in n for n in a.settings.notes)
    assert f.protocol.analysis("1.1").settings.method == "DL"  # the review's own, still stated


def test_grade_input_and_indirectness(flagship):
    p = flagship.protocol.model_copy(update={"grade": flagship.protocol.grade.model_validate({
        "overrides": [{"analysis": "1.1", "domain": "imprecision", "downgrade": 2,
                       "rationale": "CI crosses both MIDs"}],
        "indirectness": {"default": "not_assessed", "flags": [
            {"study": "Noppers 2011a", "aspect": "population", "match": "indirect",
             "rationale": "CRPS only"},
            {"study": "Lumanauw 2019", "analyses": ["1.1"], "aspect": "intervention",
             "match": "direct", "rationale": "dose as in the question"}]}})})
    text = dump_protocol(p)
    back = parse_protocol(text)
    assert back == p
    assert back.overrides_for("1.1")["imprecision"].downgrade == 2
    assert back.pico_match("1.1", ["Lumanauw 2019", "Noppers 2011a", "Sigtermans 2009"]) == \
        [True, False, None]
    assert back.pico_match("1.4", ["Lumanauw 2019"]) == [None]


def test_literals_follow_the_engine():
    from trialsynth.pooling.batch import METHODS
    from trialsynth.review.protocol import Measure, Method

    assert dict(MEASURES_BY_TYPE) == {k: tuple(v) for k, v in MEASURES.items()}
    assert set(Method.__args__) == set(METHODS)
    assert set(Measure.__args__) == {m for ms in MEASURES.values() for m in ms}


# ---------------------------------------------------------------------------------------------
# validation: every error names the file and the field (and the line or row)
# ---------------------------------------------------------------------------------------------
def _broken(flagship_dir: Path, tmp_path: Path, name: str, old: str, new: str,
            count: int = 1) -> Path:
    copy = shutil.copytree(flagship_dir, tmp_path / "broken")
    path = copy / name
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return copy


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if needle in line)


@pytest.mark.parametrize("old, new, field, needle", [
    ("  title: Ketamine", "  titel: Ketamine", "review.titel", "titel:"),
    ("      route: intravenous", "      route: iv", "question.interventions[0].route",
     "route: iv"),
    ("      type: continuous\n      priority: primary",
     "      type: continous\n      priority: primary", "question.outcomes[0].type",
     "type: continous"),
    ("  - id: '1.1'\n", "  - id: 1.10\n", "analyses[0].id", "id: 1.10"),
    ("    intervention: ketamine-iv\n", "    intervention: ketamine-im\n",
     "comparisons[0].intervention", "intervention: ketamine-im"),
    ("      value: 10\n", "      value: -10\n", "question.outcomes[0].mid.value", "value: -10"),
])
def test_yaml_errors_name_file_field_and_line(example_dir, tmp_path, old, new, field, needle):
    copy = _broken(example_dir, tmp_path, "review.yaml", old, new)
    before = sha(copy)
    with pytest.raises(ProtocolError) as info:
        read_folder(copy)
    err = info.value
    assert err.file.endswith("review.yaml") and err.field == field
    assert err.line == _line_of(copy / "review.yaml", needle)
    assert f"line {err.line}" in str(err) and field in str(err)
    assert sha(copy) == before  # reading a broken folder changes nothing


def test_override_without_rationale(flagship_dir, tmp_path):
    copy = _broken(flagship_dir, tmp_path, "review.yaml", "grade:\n  overrides: []",
                   "grade:\n  overrides:\n    - analysis: '1.1'\n      domain: imprecision\n"
                   "      downgrade: 1")
    with pytest.raises(ProtocolError) as info:
        load_protocol(copy / "review.yaml")
    assert info.value.field == "grade.overrides[0].rationale"
    assert "required" in str(info.value)
    assert info.value.line == _line_of(copy / "review.yaml", "- analysis: '1.1'")


def test_all_yaml_problems_are_reported(example_dir, tmp_path):
    copy = _broken(example_dir, tmp_path, "review.yaml", "  title: Ketamine", "  titel: Ketamine")
    path = copy / "review.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("  hksj: false", "  hksj: maybe"),
                    encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        read_folder(copy)
    assert [p.path for p in info.value.problems] == ["review.titel", "settings.hksj"]


@pytest.mark.parametrize("name, old, new, row, column, words", [
    ("outcome_data.csv", "1.1,,Noppers 2011a,,56,", "1.1,,Noppers 2011a,,fifty-six,", 3, "mean_t",
     "not a number"),
    ("outcome_data.csv", "1.1,,Noppers 2011a,,56,31.176915,12,",
     "1.1,,Noppers 2011a,,56,-31.176915,12,", 3, "sd_t", "negative"),
    ("outcome_data.csv", "1.1,,Noppers 2011a,", "1.1,,Noppers 2012,", 3, "study", "studies.csv"),
    ("outcome_data.csv", "1.1,,Noppers 2011a,", "9.9,,Noppers 2011a,", 3, "analysis", "review.yaml"),
    ("outcome_data.csv", "analysis,subgroup,study,", "analysis,subgroup,studie,", 1, "studie",
     "unknown column"),
    ("studies.csv", "Lumanauw 2019,Lumanauw 2019,2019", "Lynch 2005,Lumanauw 2019,2019",
     "Lynch 2005,Lynch 2005", "study", "listed twice"),
    ("studies.csv", "Lumanauw 2019,Lumanauw 2019,2019,,,,", "Lumanauw 2019,Lumanauw 2019,2019,,,,rct",
     None, "design", "design"),
    ("risk_of_bias.csv", "Dadabayev 2020,2.1,rob2,D3,low,", "Dadabayev 2020,2.1,rob2,D3,medium,",
     None, "judgement", "not a RoB 2 judgement"),
    ("risk_of_bias.csv", "Dadabayev 2020,2.1,rob2,D3,low,", "Dadabayev 2020,2.1,rob2,D9,low,", None,
     "domain", "D1"),
])
def test_csv_errors_name_file_row_and_column(flagship_dir, tmp_path, name, old, new, row, column,
                                             words):
    copy = _broken(flagship_dir, tmp_path, name, old, new)
    with pytest.raises(DataError) as info:
        read_folder(copy)
    err = info.value
    expected_row = row if isinstance(row, int) else _line_of(copy / name, row or new[:20])
    assert err.file.endswith(name) and err.field == column and err.row == expected_row, str(err)
    assert words in str(err) and f"row {expected_row}" in str(err)


def test_rob_override_needs_rationale(flagship_dir, tmp_path):
    old = "Dadabayev 2020,2.1,rob2,D3,low,<p>Immediate-term pain intensity data available for " \
          "39/41 (95%) randomised participants.</p>,,,,"
    copy = _broken(flagship_dir, tmp_path, "risk_of_bias.csv", old, old[:-2] + ",high,")
    with pytest.raises(DataError) as info:
        read_folder(copy)
    assert info.value.field == "rationale" and info.value.row == _line_of(
        copy / "risk_of_bias.csv", "Dadabayev 2020,2.1,rob2,D3")
    ok = _broken(flagship_dir, tmp_path / "ok", "risk_of_bias.csv", old,
                 old[:-2] + ",some concerns,missing data may relate to pain")
    f = read_folder(ok)
    d3 = f.rob_assessments()["Dadabayev 2020", "2.1"].assessment.domains["D3"]
    assert (d3.proposed, d3.final, d3.override_rationale) == \
        ("low", "some_concerns", "missing data may relate to pain")
    # D3 overridden to high: the review's stated overall (some concerns) is now better than a
    # domain; RoB 2's rule wins, and the folder says so
    high = _broken(flagship_dir, tmp_path / "high", "risk_of_bias.csv", old,
                   old[:-2] + ",high,missing data related to pain")
    f = read_folder(high)
    line = _line_of(high / "risk_of_bias.csv", "Dadabayev 2020,2.1,rob2,overall")
    assert len(f.notes) == 1 and f"row {line}" in f.notes[0] and "'high' is used" in f.notes[0]
    assert f.rob_assessments()["Dadabayev 2020", "2.1"].overall == "high"
    a21 = next(a for a in f.review.analyses if a.id == "2.1")
    assert a21.frame["rob_overall"].tolist() == ["high", "high"]  # Dadabayev 2020, two rows
    assert f.notes[0] in folder_json(f)["review"]["notes"]
    # a reviewer's override of the overall better than a domain is refused: override the domain
    overall = "Dadabayev 2020,2.1,rob2,overall,some_concerns,"
    text = (high / "risk_of_bias.csv").read_text(encoding="utf-8")
    i = text.index(overall)
    j = text.index("\n", i)
    (high / "risk_of_bias.csv").write_text(text[:j - 2] + ",low,I disagree" + text[j:],
                                           encoding="utf-8")
    with pytest.raises(DataError, match="better than the worst domain") as info:
        read_folder(high)
    assert (info.value.row, info.value.field) == (line, "override")


def test_rob2_signalling_answers(flagship_dir, tmp_path):
    old = "Dadabayev 2020,2.1,rob2,D3,low,"
    copy = _broken(flagship_dir, tmp_path, "risk_of_bias.csv", old,
                   "Dadabayev 2020,2.1,rob2,D3,,")
    path = copy / "risk_of_bias.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    i = next(i for i, line in enumerate(lines) if line.startswith("Dadabayev 2020,2.1,rob2,D3"))
    lines[i] = lines[i][:-3] + "3.1=Y,,,"  # answers column, then direction, override, rationale
    path.write_text("\n".join(lines), encoding="utf-8")
    f = read_folder(copy)
    d3 = f.rob_assessments()["Dadabayev 2020", "2.1"].assessment.domains["D3"]
    assert (d3.basis, d3.final, dict(d3.answers)) == ("algorithm", "low", {"3.1": "Y"})
    lines[i] = lines[i].replace("3.1=Y", "3.1=Y; 3.1=N")
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_folder(copy)
    assert (info.value.row, info.value.field) == (i + 1, "answers")


# ---------------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------------
def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_invalid_review_is_never_written(flagship, tmp_path):
    bad = flagship.protocol.model_copy(update={"analyses": flagship.protocol.analyses[1:]})
    from dataclasses import replace

    with pytest.raises(DataError):
        write_folder(replace(flagship, protocol=bad), tmp_path / "out")
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_failure_mid_write_leaves_the_old_folder(flagship, flagship_dir, tmp_path, monkeypatch):
    target = shutil.copytree(flagship_dir, tmp_path / "target")
    (target / "README.md").write_text("notes of the reviewer\n", encoding="utf-8")
    before = snapshot(target)
    calls = {"n": 0}
    real = os.fsync

    def failing(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(fd)

    monkeypatch.setattr(atomic_mod.os, "fsync", failing)
    with pytest.raises(OSError, match="disk full"):
        write_folder(flagship, target)
    assert snapshot(target) == before and _leftovers(tmp_path) == []
    monkeypatch.undo()
    write_folder(flagship, target)  # a successful rewrite keeps files that are not ours
    assert (target / "README.md").read_text(encoding="utf-8") == "notes of the reviewer\n"
    assert _leftovers(tmp_path) == []


def test_never_overwrites_a_folder_that_is_not_a_review(flagship, tmp_path):
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "chapter1.md").write_text("precious", encoding="utf-8")
    with pytest.raises(TrialsynthError, match="not a trialsynth review folder"):
        write_folder(flagship, other)
    assert snapshot(other) == {"chapter1.md": b"precious"} and _leftovers(tmp_path) == []
    afile = tmp_path / "file.txt"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(TrialsynthError):
        import_review(FLAGSHIP, afile)
    assert afile.read_text(encoding="utf-8") == "x"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_folder(flagship, empty) == empty and (empty / "review.yaml").is_file()


def test_tables_are_diff_friendly(flagship_dir):
    for name in FILES:
        raw = (flagship_dir / name).read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        raw.decode("utf-8")
    header = (flagship_dir / "outcome_data.csv").read_text(encoding="utf-8").split("\n")[0]
    assert header.startswith("analysis,subgroup,study,events_t,mean_t,sd_t,n_t,")
    assert ",n_t,59," not in header and "59.0" not in (flagship_dir / "outcome_data.csv").read_text(
        encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# JSON export
# ---------------------------------------------------------------------------------------------
def test_json_export(flagship, tmp_path):
    doc = folder_json(flagship)
    assert doc["schema"] == "trialsynth-review-json/1"
    assert doc["protocol"]["schema"] == "trialsynth-review/1"
    assert len(doc["analyses"]) == 95 and len(doc["studies"]) == 28
    a = doc["analyses"][0]
    assert a["resolved_settings"]["method"] == "DL" and len(a["rows"]) == 3
    assert a["rows"][0]["stored_weight"] == pytest.approx(34.134428)
    assert a["rows"][0]["events_t"] is None  # NaN -> null
    path = write_json(doc, tmp_path / "review.json")
    assert json.loads(path.read_text(encoding="utf-8")) == doc
    assert _leftovers(tmp_path) == []
    built = build_folder(FLAGSHIP)  # straight from the source: the reader's evidence kept
    direct = export_json(built.review, built.protocol)
    assert direct["analyses"][0]["settings"]["evidence"]["measure"]["decided_by"]


# ---------------------------------------------------------------------------------------------
# hostile input
# ---------------------------------------------------------------------------------------------
def test_hostile_yaml_is_refused_quickly():
    laughs = "schema: trialsynth-review/1\nreview: {id: x}\na: &a [x, x, x, x, x, x, x, x, x]\n" + \
        "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi",
                                                                           strict=True))
    with pytest.raises(ProtocolError, match="anchors and aliases are not allowed"):
        parse_protocol(laughs)
    deep = "schema: trialsynth-review/1\nreview: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ProtocolError, match="nested"):
        parse_protocol(deep)
    with pytest.raises(ProtocolError, match="key appears twice") as info:
        parse_protocol("schema: trialsynth-review/1\nreview: {id: x}\nreview: {id: y}\n")
    assert info.value.line == 3
    with pytest.raises(ProtocolError, match="not valid YAML"):
        parse_protocol("schema: [trialsynth\n")


def test_bad_bytes_and_sizes(flagship_dir, tmp_path, monkeypatch):
    copy = shutil.copytree(flagship_dir, tmp_path / "latin1")
    path = copy / "studies.csv"
    path.write_bytes(path.read_bytes().replace("Olivan-Blázquez".encode(), "Olivan-Blázquez".encode(
        "latin-1")))
    with pytest.raises(DataError, match="not UTF-8") as info:
        read_folder(copy)
    assert info.value.file.endswith("studies.csv")
    monkeypatch.setattr(folder_mod, "MAX_BYTES", 1000)
    with pytest.raises(DataError, match="limit") as info:
        read_folder(flagship_dir)
    assert info.value.file.endswith("review.yaml")
    with pytest.raises(DataError, match="not a folder"):
        read_folder(FLAGSHIP)
    missing = shutil.copytree(flagship_dir, tmp_path / "missing")
    (missing / "risk_of_bias.csv").unlink()
    monkeypatch.undo()
    with pytest.raises(DataError, match="file not found") as info:
        read_folder(missing)
    assert info.value.file.endswith("risk_of_bias.csv")


def test_revman_rob_quirks_are_kept_and_explained(tmp_path):
    """RevMan Web lets a review write 'Not applicable' for a RoB 2 domain and an overall better
    than a domain; both are kept in the folder, neither is silently turned into a RoB 2 verdict."""
    import csv

    with FLAGSHIP.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], [r for r in rows[1:] if r[:2] == ["1", "1"]]
    col = {name: i for i, name in enumerate(header)}
    body[1][col["Bias.due.to.deviations.from.intended.interventions..judgement."]] = "Not applicable"
    for stem in ("Bias.due.to.deviations.from.intended.interventions",
                 "Bias.due.to.missing.outcome.data", "Bias.in.measurement.of.the.outcome",
                 "Bias.in.selection.of.the.reported.result"):
        body[2][col[f"{stem}..judgement."]] = "Low risk"
    body[2][col["Bias.in.measurement.of.the.outcome..judgement."]] = "High risk"
    body[2][col["Overall.bias..judgement."]] = "Low risk"
    body[2][col["Overall.bias..support."]] = "Contact: someone@example.org, tel: +44 20 7946 0958"
    source = tmp_path / "quirks.csv"
    with source.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *body])
    f = read_folder(import_review(source, tmp_path / "quirks"))
    study = body[2][col["Study"]]
    na = [r for r in f.risk_of_bias if r.judgement == "not_applicable"]
    assert len(na) == 1 and na[0].domain == "D2"
    assert "D2" not in f.rob_assessments()[na[0].study, "1.1"].assessment.domains  # not assessed
    stated = next(r for r in f.risk_of_bias if r.study == study and r.domain == "overall")
    assert stated.judgement == "low"  # as the review stated it
    assert "someone@example.org" not in stated.support and "7946" not in stated.support
    assert f.rob_assessments()[study, "1.1"].overall == "high"  # RoB 2: at least the worst domain
    assert len(f.notes) == 1 and "'high' is used" in f.notes[0]


def test_summary_of_findings_outcomes_are_checked(example_dir, tmp_path):
    """question.summary_of_findings names outcomes and windows of the question, at most seven."""
    entries = ("  summary_of_findings:\n    - outcome: pain-intensity\n      time_window: immediate\n"
               "    - outcome: pain-intensty\n")
    copy = _broken(example_dir, tmp_path, "review.yaml", "\ncomparisons:\n",
                   "\n" + entries + "comparisons:\n")
    with pytest.raises(ProtocolError) as info:
        load_protocol(copy / "review.yaml")
    assert info.value.field == "question.summary_of_findings[1].outcome"
    assert "'pain-intensty' is not an outcome id" in str(info.value)
    assert info.value.line == _line_of(copy / "review.yaml", "- outcome: pain-intensty")
    eight = "  summary_of_findings:\n" + "    - outcome: pain-intensity\n" * 8
    copy = _broken(example_dir, tmp_path / "b", "review.yaml", "\ncomparisons:\n",
                   "\n" + eight + "comparisons:\n")
    with pytest.raises(ProtocolError) as info:
        load_protocol(copy / "review.yaml")
    assert info.value.field == "question.summary_of_findings" and "7" in str(info.value)
