"""``trialsynth diff`` and ``run --since``: what a new trial changes in a review.

Real data: the flagship review folder (CD015373.pub2, examples/nmda-chronic-pain) and the RevMan 5
file CD000023 (Antibiotics for sore throat, ../shared/data/cochrane-rm5). The new trial added to
the flagship is SIMULATED (tests/data/simulated_trial_nmda_1.4.csv, made up, not real data); its
before/after numbers are checked against R metafor (validation/make_diff_reference.R ->
tests/reference/diff_reference.json). The change made to the RevMan file (one study's events in
one analysis, one analysis removed) is likewise SIMULATED.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import defusedxml.ElementTree as DET
import pytest
from _paths import SHARED_DATA
from typer.testing import CliRunner

import trialsynth
from trialsynth.cli import app
from trialsynth.diff import diff_runs, diff_summaries, read_results, summarise
from trialsynth.diff.conclusions import conclusion_changes
from trialsynth.runner import run_review

REPO = Path(__file__).resolve().parents[1]
FLAGSHIP = REPO / "examples" / "nmda-chronic-pain"
SIMULATED = Path(__file__).parent / "data" / "simulated_trial_nmda_1.4.csv"
REFERENCE = json.loads((Path(__file__).parent / "reference" / "diff_reference.json").read_text())
RM5 = SHARED_DATA / "cochrane-rm5" / "CD000023StatsDataOnly.rm5"
cli = CliRunner()


def _with_simulated_trial(dest: Path) -> Path:
    """A copy of the flagship folder with the SIMULATED trial added to analysis 1.4 only."""
    shutil.copytree(FLAGSHIP, dest)
    data = dest / "outcome_data.csv"
    with data.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    with SIMULATED.open(encoding="utf-8", newline="") as fh:
        new = list(csv.DictReader(fh))
    assert all("SIMULATED" in r["study"] for r in new)
    last = max(i for i, r in enumerate(rows) if r["analysis"] == "1.4")
    rows[last + 1:last + 1] = new
    with data.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    with (dest / "studies.csv").open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow([new[0]["study"], new[0]["study"], "2026", "", "", "", "", "",
                                 "", "", "SIMULATED: not a real trial"])
    return dest


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The flagship run (OLD), and the simulated update run in place with ``--since`` (NEW)."""
    tmp = tmp_path_factory.mktemp("flagship")
    old_dir = tmp / "old"
    run_review(FLAGSHIP, old_dir, quiet=True)
    sim = _with_simulated_trial(tmp / "simulated-review")
    living = tmp / "living"
    shutil.copytree(old_dir, living)  # the report folder a living review keeps updating
    out = cli.invoke(app, ["run", str(sim), "--since", str(living), "--out", str(living),
                           "--quiet"])
    assert out.exit_code == 0, out.output
    return {"old_dir": old_dir, "sim": sim, "living": living,
            "old": read_results(old_dir / "results.json"),
            "new": read_results(living / "results.json")}


def test_results_json_records_version_and_source_fingerprint(flagship: dict) -> None:
    from trialsynth import runner
    from trialsynth.diff import load

    assert load.MARKER == runner.MARKER  # an output folder is recognised as run marks it
    old, new = flagship["old"], flagship["new"]
    assert old["trialsynth_version"] == trialsynth.__version__
    assert old["generator"] == f"trialsynth {trialsynth.__version__}"
    assert len(old["source"]["sha256"]) == 64 and old["source"]["format"]
    assert new["source"]["sha256"] != old["source"]["sha256"]  # the folder gained a row
    wc = new["what_changed"]
    assert wc["old"]["sha256"] == old["source"]["sha256"]
    assert wc["new"]["sha256"] == new["source"]["sha256"]
    assert wc["old"]["trialsynth_version"] == trialsynth.__version__


def test_simulated_trial_changes_exactly_that_analysis(flagship: dict) -> None:
    got = diff_runs(flagship["old"], flagship["new"])
    assert [c["analysis"] for c in got["changed"]] == ["1.4"]
    assert got["unchanged"] == len(flagship["old"]["analyses"]) - 1
    assert got["studies_added"] == ["SIMULATED trial 2026"] and got["studies_removed"] == []
    change = got["changed"][0]
    assert change["kind"] == "changed"
    assert change["name"] == "Pain intensity (continuous), short-term follow-up"
    for side in ("before", "after"):
        want = REFERENCE[side]  # made by R metafor (validation/make_diff_reference.R)
        have = change[side]
        assert have["k"] == want["k"] and have["participants"] == want["participants"]
        for key in ("estimate", "ci_low", "ci_high", "pvalue"):
            assert have[key] == pytest.approx(want[key], rel=1e-6), (side, key)
        assert sorted(have["studies"], key=str.casefold) == sorted(want["studies"],
                                                                   key=str.casefold)
        assert have["certainty"] in {"high", "moderate", "low", "very_low"}
        assert isinstance(have["statement"], str) and have["statement"]
    assert {"studies", "k", "participants", "estimate", "ci_low", "ci_high"} <= \
        set(change["what"])
    assert change["studies_added"] == ["SIMULATED trial 2026"]
    # the metafor CI before includes 0 and after does not: named as a conclusion change
    assert REFERENCE["before"]["ci_high"] > 0 > REFERENCE["after"]["ci_high"]
    kinds = {c["kind"]: c for c in change["conclusions"]}
    assert kinds["ci_null"]["before"] is True and kinds["ci_null"]["after"] is False
    assert "no longer crosses no effect" in kinds["ci_null"]["text"]
    assert change["conclusion_changed"] is True and got["conclusions_changed"] == 1
    # the TSA conclusion and next-trial size changes are reported when they move
    before_tsa, after_tsa = (next(a for a in flagship[side]["analyses"] if a["id"] == "1.4")
                             ["beyond"]["tsa"] for side in ("old", "new"))
    assert (before_tsa["crossed"] != after_tsa["crossed"]) == ("tsa" in kinds)
    assert (before_tsa["next_trial"]["total"] != after_tsa["next_trial"]["total"]) == \
        ("next_trial" in kinds)


def test_run_since_opens_the_report_with_what_changed(flagship: dict) -> None:
    page = (flagship["living"] / "index.html").read_text(encoding="utf-8")
    assert page.index('id="changes"') < page.index('id="question"')
    assert '<a href="#changes">What changed</a>' in page
    section = page[page.index('id="what-changed"'):page.index("</section>",
                                                              page.index('id="what-changed"'))]
    assert "SIMULATED trial 2026" in section and 'href="#a1-4"' in section
    assert "1 analysis changed" in section and "no longer crosses no effect" in section
    assert flagship["new"]["what_changed"] == diff_runs(
        flagship["old"], flagship["new"], old_label=str(flagship["living"]),
        new_label=str(flagship["sim"]))
    assert "what_changed" not in flagship["old"]  # only a run with --since has it


def test_review_against_itself_reports_nothing(flagship: dict) -> None:
    """A stored results.json against a fresh run of the same folder: nothing changed."""
    out = cli.invoke(app, ["diff", str(flagship["old_dir"] / "results.json"), str(FLAGSHIP),
                           "--json", "--quiet"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    assert got["changed"] == [] and got["studies_added"] == [] == got["studies_removed"]
    assert got["unchanged"] == len(flagship["old"]["analyses"])
    assert got["conclusions_changed"] == 0
    assert any("same source" in n for n in got["notes"])
    again = cli.invoke(app, ["diff", str(flagship["old_dir"]), str(flagship["old_dir"])])
    assert again.exit_code == 0 and "0 changed, 0 added, 0 removed" in again.stdout


@pytest.mark.parametrize("sign", [1, -1])
def test_floating_point_noise_is_not_a_change(flagship: dict, sign: int) -> None:
    """Every number nudged by 1e-12 (relative) either way: still nothing changed, including
    values that sit exactly on a rounding tie (27.93385 printed at 6 digits) and τ² at 0."""
    noisy = copy.deepcopy(flagship["old"])
    for a in noisy["analyses"]:
        if a["display"] and a["display"]["estimate"] is not None:
            for key in ("estimate", "ci_low", "ci_high"):
                a["display"][key] *= 1 + sign * 1e-12
            a["result"]["tau2"] = (a["result"]["tau2"] or 0) + 1e-15
            a["result"]["pvalue"] *= 1 + sign * 1e-12
        for s in a["studies"]:
            s["data"] = {k: v * (1 + sign * 1e-12) if isinstance(v, float) else v
                         for k, v in s["data"].items()}
    got = diff_runs(flagship["old"], noisy)
    assert got["changed"] == [] and got["unchanged"] == len(noisy["analyses"])


def test_renumbering_and_old_results_without_new_keys_match_by_name(flagship: dict) -> None:
    """Analyses are matched by comparison and name: shuffled numbers are no change, and a
    results.json written before comparison_name/trialsynth_version existed still reads."""
    old = copy.deepcopy(flagship["old"])
    for a in old["analyses"]:
        a.pop("comparison_name")
    old.pop("trialsynth_version")
    shuffled = copy.deepcopy(flagship["old"])
    first = [a for a in shuffled["analyses"] if a["comparison"] == 1]
    for a, number in zip(first, reversed(range(1, len(first) + 1)), strict=True):
        a["id"], a["number"] = f"1.{number}", number
    got = diff_runs(old, shuffled)
    assert got["changed"] == [] and len(got["renumbered"]) == len(first) - 1  # middle keeps
    assert got["old"]["trialsynth_version"] == trialsynth.__version__  # from "generator"


def test_different_versions_are_noted(flagship: dict) -> None:
    other = copy.deepcopy(flagship["old"])
    other["trialsynth_version"] = "0.0.1"
    notes = diff_runs(other, flagship["old"])["notes"]
    assert any("different trialsynth versions (0.0.1 and" in n for n in notes)


def test_conclusion_changes_are_named(flagship: dict) -> None:
    """Constructed variants of the real analysis 1.4: each conclusion kind is detected."""
    base = next(a for a in summarise(flagship["old"], "old").analyses if a.id == "1.4")
    assert conclusion_changes(base, base) == ()
    up = replace(base, certainty="moderate")
    assert [c.text for c in conclusion_changes(base, up)] == \
        ["Certainty of the evidence rose from low to moderate."]
    # CI moved wholly beyond -MID: leaves the null and the lower MID threshold
    beyond = replace(base, ci_low=-30.0, ci_high=-12.0, estimate=-20.0)
    kinds = [c.kind for c in conclusion_changes(base, beyond)]
    assert kinds.count("ci_null") == 1 and kinds.count("ci_mid") == 1
    crossed = replace(base, tsa_verdict="conclusive", tsa_crossed="below", ris_reached=True,
                      next_trial_total=0)
    texts = {c.kind: c.text for c in conclusion_changes(base, crossed)}
    assert "now conclusive" in texts["tsa"] and "required information size is now reached" \
        in texts["tsa"]
    assert texts["next_trial"].startswith("Next trial: no further trial is needed")
    gone = conclusion_changes(base, None)
    assert [c.kind for c in gone] == ["removed"]


def _rm5_variant(dest: Path) -> Path:
    """CD000023 with a SIMULATED correction (in analysis 4.7 one study's control events 1 -> 3)
    and analysis 2.1 deleted (2.2-2.4 renumbered 2.1-2.3), as a new version might have them."""
    tree = DET.parse(RM5)
    comps = {c.get("NO"): c for c in tree.getroot().iter("COMPARISON")}
    outcomes = [o for o in comps["2"] if o.tag.endswith("_OUTCOME")]
    comps["2"].remove(outcomes[0])
    for o in outcomes[1:]:
        o.set("NO", str(int(o.get("NO")) - 1))
    quinsy = next(o for o in comps["4"] if o.tag.endswith("_OUTCOME") and o.get("NO") == "7")
    row = next(d for d in quinsy.iter("DICH_DATA") if d.get("STUDY_ID") == "STD-Little-1997")
    assert row.get("EVENTS_2") == "1"
    row.set("EVENTS_2", "3")
    tree.write(dest, encoding="UTF-8", xml_declaration=True)
    return dest


@pytest.fixture(scope="module")
def rm5_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("rm5")
    variant = _rm5_variant(tmp / "CD000023-updated.rm5")
    for src, name in ((RM5, "old"), (variant, "new")):
        run_review(src, tmp / name, quiet=True)
    return tmp / "old" / "results.json", tmp / "new" / "results.json", tmp


def test_revman_file_pair(rm5_runs: tuple[Path, Path, Path]) -> None:
    old, new, tmp = rm5_runs
    out = cli.invoke(app, ["diff", str(old), str(new), "--json", "--out", str(tmp / "page")])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    by_kind = {c["kind"]: c for c in got["changed"]}
    assert [(c["kind"], c["analysis"]) for c in got["changed"]] == \
        [("changed", "4.7"), ("removed", "2.1")]
    assert by_kind["changed"]["name"].startswith("Incidence of quinsy")
    assert "data" in by_kind["changed"]["what"] and "studies" not in by_kind["changed"]["what"]
    assert by_kind["changed"]["before"]["k"] == by_kind["changed"]["after"]["k"]
    assert by_kind["removed"]["name"] == "Symptom of fever on day 3"
    assert by_kind["removed"]["after"] is None and by_kind["removed"]["before"]["k"] >= 1
    assert {(r["before"], r["after"]) for r in got["renumbered"]} == \
        {("2.2", "2.1"), ("2.3", "2.2"), ("2.4", "2.3")}
    assert got["unchanged"] == 21 - 2
    page = (tmp / "page" / "index.html").read_text(encoding="utf-8")
    assert "Incidence of quinsy" in page and "removed" in page
    assert json.loads((tmp / "page" / "diff.json").read_text(encoding="utf-8")) == got
    back = diff_summaries(summarise(read_results(new), "new"), summarise(read_results(old), "old"))
    assert [(c.kind, c.current.id) for c in back.changes] == [("added", "2.1"), ("changed", "4.7")]


def test_unreadable_input_exits_2_with_one_line(tmp_path: Path) -> None:
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"generator": "trialsynth 0.1.0", "analyses": [', encoding="utf-8")
    other_json = tmp_path / "other.json"
    other_json.write_text('{"hello": 1}', encoding="utf-8")
    edited = tmp_path / "edited.json"
    edited.write_text('{"generator": "trialsynth 0.1.0", "analyses": [{"settings": 3}]}',
                      encoding="utf-8")
    cases = [(tmp_path / "missing", "no such file or folder"),
             (bad_json, "not valid JSON"),
             (other_json, "not a results.json"),
             (edited, "analysis 1"),
             (REPO / "tests" / "hostile" / "xxe.rm5", "xxe.rm5")]
    for path, words in cases:
        out = cli.invoke(app, ["diff", str(path), str(path), "--json"])
        assert out.exit_code == 2, (path, out.output)
        err = out.stderr.strip()
        assert words in err and "Traceback" not in err and len(err.splitlines()) == 1, err
        assert out.stdout == ""


def test_out_refuses_to_overwrite_an_input(flagship: dict) -> None:
    out = cli.invoke(app, ["diff", str(flagship["old_dir"]), str(flagship["old_dir"]),
                           "--out", str(flagship["old_dir"])])
    assert out.exit_code == 2
    assert (flagship["old_dir"] / "results.json").is_file()  # left as it was


HEADER = ["Analysis.group", "Analysis.number", "Analysis.name", "Subgroup", "Applicability",
          "Study", "Study.year", "GIV.Mean", "GIV.SE", "Experimental.mean", "Experimental.SD",
          "Experimental.cases", "Experimental.N", "Control.mean", "Control.SD", "Control.cases",
          "Control.N", "O.E", "Variance", "Weight", "Mean", "CI.start", "CI.end"]
EVIL = "<script>alert(1)</script>"


def _synthetic_rows(path: Path, studies: list[tuple[str, int, int, int, int]]) -> Path:
    """SYNTHETIC dichotomous analysis in the RevMan Web data-rows layout (hostile names)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for study, e1, n1, e2, n2 in studies:
            w.writerow(["1", "1", f"Adverse events {EVIL}", "", "OVERALL", study, "2001", "", "",
                        "", "", e1, n1, "", "", e2, n2, "", "", "", "", "", ""])
    return path


def test_page_escapes_names_from_the_data(tmp_path: Path) -> None:
    base = [("Plain 2001", 3, 20, 6, 21), ("Other 2003", 5, 30, 9, 30)]
    old = _synthetic_rows(tmp_path / "old.csv", base)
    new = _synthetic_rows(tmp_path / "new.csv", [*base, ('"><img src=x onerror=alert(2)>',
                                                         4, 25, 8, 25)])
    out = cli.invoke(app, ["diff", str(old), str(new), "--out", str(tmp_path / "page"),
                           "--quiet"])
    assert out.exit_code == 0, out.output
    page = (tmp_path / "page" / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x" in page
    assert "1 analysis changed" in page
    assert {p.name for p in (tmp_path / "page").iterdir()} == {"index.html", "diff.json",
                                                                ".trialsynth-output"}


def test_run_since_unreadable_exits_2_before_writing(tmp_path: Path) -> None:
    out = cli.invoke(app, ["run", str(FLAGSHIP), "--since", str(tmp_path / "missing.json"),
                           "--out", str(tmp_path / "report"), "--quiet"])
    assert out.exit_code == 2 and "missing.json" in out.stderr and "Traceback" not in out.output
    assert not (tmp_path / "report").exists()
