"""results.json has a version and a published JSON Schema (``trialsynth schema results``,
generated from trialsynth.results_schema); the flagship's results.json and a RevMan 5 file's
validate against it; every block says which scale its numbers are on; counts are integers.

Sources: the flagship review folder examples/nmda-chronic-pain (CD015373.pub2) and the RevMan 5
file CD008625 (../shared/data/cochrane-rm5, see PROVENANCE.md)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import jsonschema
import pytest
from _paths import SHARED_DATA
from typer.testing import CliRunner

from trialsynth.cli import app
from trialsynth.results_schema import SCHEMA_VERSION, results_schema, with_integer_counts
from trialsynth.runner import run_review

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "examples" / "nmda-chronic-pain"
RM5 = SHARED_DATA / "cochrane-rm5" / "CD008625StatsDataOnly.rm5"
DOC = ROOT / "docs" / "results-json.md"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """results.json as written by ``trialsynth run`` for the flagship folder and an rm5 file."""
    out = {}
    for name, source in (("flagship", FLAGSHIP), ("rm5", RM5)):
        folder = tmp_path_factory.mktemp(name) / "out"
        run_review(source, folder, quiet=True)
        out[name] = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return out


def validator() -> jsonschema.Draft202012Validator:
    schema = results_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", ["flagship", "rm5"])
def test_results_json_validates_against_its_schema(written, name):
    doc = written[name]
    assert doc["schema_version"] == SCHEMA_VERSION == "1.0"
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]]


def test_the_schema_rejects_what_breaks_the_contract(written):
    """The schema is not vacuous: a file missing a documented key, with a count as text, or
    with a scale that is not one of its values fails."""
    v = validator()
    doc = json.loads(json.dumps(written["flagship"]))
    del doc["analyses"][0]["result"]["estimate"]
    doc["analyses"][1]["result"]["scale"] = "natural"
    doc["summary"]["pooled"] = "91"
    doc.pop("schema_version")
    bad = {"/".join(map(str, e.path)) for e in v.iter_errors(doc)}
    assert {"analyses/0/result", "analyses/1/result", "summary/pooled", ""} <= bad


def test_each_block_says_its_scale_and_the_display_is_the_exponent(written):
    """result is on the analysis scale (log for ratio measures), display as RevMan shows it:
    for every pooled ratio analysis display = exp(result), for the others display = result."""
    seen = set()
    for doc in written.values():
        for a in doc["analyses"]:
            res, disp = a["result"], a["display"]
            if res is None or res["estimate"] is None:
                continue
            log = a["settings"]["scale"] == "log"
            assert res["scale"] == ("log" if log else "identity")
            assert disp["scale"] == ("ratio" if log else "identity")
            for key in ("estimate", "ci_low", "ci_high"):
                want = math.exp(res[key]) if log else res[key]
                assert disp[key] == pytest.approx(want, rel=1e-12), (a["id"], key)
            for name, sub in (res.get("subgroups") or {}).items():
                assert sub["scale"] == res["scale"] and disp["subgroups"][name]["scale"] == \
                    disp["scale"]
            seen.add(a["settings"]["measure"])
    assert {"RR", "MD", "SMD"} <= seen  # ratio and difference measures both checked


def test_counts_are_integers_where_they_are_whole(written):
    flagship = written["flagship"]
    first = flagship["analyses"][0]
    assert first["result"]["participants"] == 173 and isinstance(first["result"]["participants"],
                                                                  int)
    for doc in written.values():
        for a in doc["analyses"]:
            for s in a["studies"]:
                for key in ("n_t", "n_c", "events_t", "events_c"):
                    x = s["data"].get(key)
                    if x is not None and float(x).is_integer():
                        assert isinstance(x, int), (a["id"], s["study"], key, x)
    # a count adjusted by a trial design can be fractional and stays as it is
    assert with_integer_counts({"n_c": 3.5, "participants": [2.0], "k": 2.0}) == \
        {"n_c": 3.5, "participants": [2.0], "k": 2.0}
    assert with_integer_counts({"a": [{"n_t": 30.0, "mean_t": 30.0}]}) == \
        {"a": [{"n_t": 30, "mean_t": 30.0}]}


def test_schema_command_prints_the_schema():
    out = CliRunner().invoke(app, ["schema", "results"])
    assert out.exit_code == 0
    assert json.loads(out.stdout) == results_schema()
    bad = CliRunner().invoke(app, ["schema", "nonsense"])
    assert bad.exit_code == 2


def test_the_documented_example_validates_and_names_the_schema_version():
    """docs/results-json.md shows a (shortened) results.json; it must be valid."""
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, re.DOTALL)
    assert blocks
    example = json.loads(blocks[0])
    assert example["schema_version"] == SCHEMA_VERSION
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator().iter_errors(example)]
    assert not errors, errors[:5]
    assert "trialsynth schema results" in text
