"""``check_review``: every analysis re-run with the settings stored in the file, compared with
RevMan's own stored results.

References are RevMan's stored numbers in the real files of ``../shared/data`` (RevMan 5 rm5
files of Cochrane reviews CD000023, CD008625, CD011564, CD012859; Fleiss 1993 from the R
package meta in rm5, RevMan 5 CSV and RevMan Web formats; the flagship RevMan Web data-rows file
CD015373.pub2). Nothing expected here is computed by trialsynth. The expected statuses other
than ``match`` are explained next to them.
"""

from __future__ import annotations

import json

import pytest
from _paths import SHARED_DATA
from rich.console import Console
from rich.table import Table

from trialsynth.analyse.checking import (
    CheckRow,
    check_review,
    check_source,
    exit_code,
    render_check_table,
    tolerance_for,
)
from trialsynth.readers import read_review

SHARED = SHARED_DATA
CONTRACT = ["analysis", "name", "measure", "model", "method", "status", "stored", "recomputed",
            "max_abs_diff"]
POOLED_KEYS = ["estimate", "ci_low", "ci_high", "tau2", "i2", "q"]
# Analyses in which no study is estimable (zero events in both arms of every study): RevMan
# stored ESTIMABLE="NO" for the outcome, and nothing can be pooled.
NOT_ESTIMABLE = {
    "cochrane-rm5/CD000023StatsDataOnly.rm5": {"2.4"},
    "cochrane-rm5/CD008625StatsDataOnly.rm5": set(),
    "cochrane-rm5/CD011564StatsDataOnly.rm5": {"1.8", "1.9"},
    "cochrane-rm5/CD012859StatsDataOnly.rm5.gz": {
        "1.5", "1.6", "3.6", "3.11", "5.6", "6.2", "7.6", "7.8", "8.4", "8.5", "9.2", "10.7",
        "10.8", "10.9", "11.10", "12.6", "13.2", "15.2", "17.2", "18.9"},
    "meta-fleiss1993/Fleiss1993.rm5": set(),
    "meta-fleiss1993/Fleiss1993_CR.csv": set(),
    "meta-fleiss1993/revman-web-export": set(),
}
# Fleiss 1993 analysis 1.2 (SMD): the rm5 file stores empty strings and the RevMan Web package
# zeros (zero-width CIs) instead of results (PROVENANCE.md, "Quirk"); the CSV export stores MD.
NO_STORED = {"meta-fleiss1993/Fleiss1993.rm5": {"1.2"},
             "meta-fleiss1993/revman-web-export": {"1.2"}}


@pytest.fixture(scope="module")
def checked() -> dict[str, list[CheckRow]]:
    return {rel: check_review(read_review(SHARED / rel)) for rel in NOT_ESTIMABLE}


@pytest.mark.parametrize("rel", list(NOT_ESTIMABLE))
def test_every_stored_analysis_is_reproduced(checked, rel):
    rows = checked[rel]
    status = {r.analysis: r.status for r in rows}
    expected = {aid: "not-estimable" for aid in NOT_ESTIMABLE[rel]} | \
        {aid: "no-stored-result" for aid in NO_STORED.get(rel, ())}
    assert {a: s for a, s in status.items() if s != "match"} == expected
    assert exit_code(rows) == 0
    for r in rows:
        if r.status == "match":
            assert r.compared > 0 and r.max_abs_diff is not None
            assert r.tolerance is not None and r.max_abs_diff <= max(r.tolerance.abs, 1e-6)


def test_counts_per_file(checked):
    n = {rel: len(rows) for rel, rows in checked.items()}
    assert n["cochrane-rm5/CD000023StatsDataOnly.rm5"] == 21
    assert n["cochrane-rm5/CD008625StatsDataOnly.rm5"] == 74
    assert n["cochrane-rm5/CD011564StatsDataOnly.rm5"] == 33
    assert n["cochrane-rm5/CD012859StatsDataOnly.rm5.gz"] == 113
    compared = sum(r.compared for rows in checked.values() for r in rows)
    assert compared > 10_000  # pooled values, subgroups, tests, per-study effects and weights


def test_json_row_contract(checked):
    row = checked["cochrane-rm5/CD008625StatsDataOnly.rm5"][3]
    d = row.to_dict()
    assert list(d)[:9] == CONTRACT
    assert list(d["stored"]) == POOLED_KEYS and list(d["recomputed"]) == POOLED_KEYS
    assert d["settings_source"] == "stated" and d["inferred"] is None
    assert d["tolerance"]["rel"] == 1e-6 and "doubles" in d["tolerance"]["basis"]


def test_stored_and_recomputed_side_by_side(checked):
    """CD008625 1.4: RR, M-H random, subgroups (values as stored in the rm5 file)."""
    row = next(r for r in checked["cochrane-rm5/CD008625StatsDataOnly.rm5"] if r.analysis == "1.4")
    assert (row.measure, row.method, row.model) == ("RR", "MH_RANDOM", "random")
    assert row.stored["estimate"] == 0.21302718988317818
    assert row.stored["tau2"] == 0.5581929602979929
    assert row.recomputed["estimate"] == pytest.approx(row.stored["estimate"], rel=1e-12)
    assert row.recomputed["q"] == pytest.approx(51.91873692736134, rel=1e-12)
    assert row.diffs["subgroup_test"] < 1e-9 and row.studies["weights_compared"] > 0


def test_subtotals_only_overall_is_the_pooled_subgroup_estimates(checked):
    """TOTALS=SUB (CD008625 3.2): RevMan stores as overall estimate the common-effect inverse-
    variance pooling of the subgroup estimates (docs/methods/revman-conventions.md §7)."""
    row = next(r for r in checked["cochrane-rm5/CD008625StatsDataOnly.rm5"] if r.analysis == "3.2")
    assert row.status == "match"
    assert row.recomputed["estimate"] == pytest.approx(row.stored["estimate"], rel=1e-12)


def test_tolerances_follow_the_stored_precision(checked):
    csv_rows = checked["meta-fleiss1993/Fleiss1993_CR.csv"]
    web_rows = checked["meta-fleiss1993/revman-web-export"]
    assert csv_rows[0].tolerance == tolerance_for(8) and csv_rows[0].tolerance.abs == 1e-8
    assert web_rows[0].tolerance.abs == 1e-6
    assert "zeros or empty values" in " ".join(web_rows[1].notes)


def test_flagship_data_rows_per_study_effects_and_weights():
    """CD015373.pub2 (RevMan Web data rows, no pooled rows): settings inferred and said so;
    per-study effects, CIs and weights reproduced to RevMan's 6 decimals. The four analyses
    without any estimable study (1.19, 2.2, 5.6, 10.3) are not estimable."""
    path = SHARED / "pairwise70" / "CD015373_pub2_data.csv"
    rows = check_source(path)
    assert len(rows) == 95
    bad = {r.analysis: r.status for r in rows if r.status != "match"}
    assert bad == dict.fromkeys(("1.19", "2.2", "5.6", "10.3"), "not-estimable")
    r = rows[0].to_dict()
    assert r["settings_source"] == "inferred" and r["inferred"]["method"]
    assert r["stored"] == dict.fromkeys(POOLED_KEYS)
    assert r["recomputed"]["estimate"] is not None  # pooled under the inferred settings
    assert r["studies"]["weights_compared"] == r["studies"]["rows"] == 3  # 1.1: 3 studies
    assert any("no pooled results" in n for n in r["notes"])


def test_a_changed_stored_value_differs(tmp_path):
    text = (SHARED / "meta-fleiss1993" / "Fleiss1993.rm5").read_bytes()
    changed = text.replace(b'EFFECT_SIZE="0.8968655609130709"', b'EFFECT_SIZE="0.8968"', 1)
    assert changed != text
    path = tmp_path / "changed.rm5"
    path.write_bytes(changed)
    rows = check_source(path)
    assert [r.status for r in rows] == ["differs", "no-stored-result"]
    assert exit_code(rows) == 1
    assert rows[0].differences[0]["what"] == "estimate"
    assert rows[0].max_abs_diff == pytest.approx(0.8968655609130709 - 0.8968, rel=1e-6)


def test_table_rendering(checked):
    table = render_check_table(checked["meta-fleiss1993/Fleiss1993.rm5"], title="Fleiss 1993")
    assert isinstance(table, Table) and table.row_count == 2
    console = Console(record=True, width=160)
    console.print(table)
    out = console.export_text()
    assert "match" in out and "no-stored-result" in out and "1 match" in out


def test_json_is_strict(checked):
    """``trialsynth check --json``: plain JSON (no NaN), one object per analysis."""
    rows = [r.to_dict() for rs in checked.values() for r in rs]
    back = json.loads(json.dumps(rows, allow_nan=False))
    assert len(back) == sum(len(rs) for rs in checked.values())
