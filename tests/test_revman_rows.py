"""Reading RevMan Web "data rows" exports, and inferring each analysis's settings.

Reference values are RevMan's OWN stored per-study numbers (columns Mean, CI.start, CI.end, Weight
of the export): the flagship review is Ferraro et al. 2025, CD015373.pub2 (Cochrane; data file from
mahmood789/Pairwise70, see shared/data/PROVENANCE.md). Nothing here is recomputed by trialsynth
to make an expected value; broken files are copies made in tmp_path.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from _paths import SHARED_DATA

from trialsynth import pool
from trialsynth.errors import DataError
from trialsynth.readers import revman_rows
from trialsynth.readers.revman_rows import read_review, read_revman_rows
from trialsynth.review import pool_measure, to_display

DATA = SHARED_DATA / "pairwise70"
FLAGSHIP = DATA / "CD015373_pub2_data.csv"
TOL = 1e-4  # absolute, percentage points (weights) / display-scale units (effects)


@pytest.fixture(scope="module")
def flagship():
    return read_review(FLAGSHIP)


def test_flagship_structure(flagship):
    assert flagship.id == "CD015373.pub2"
    assert flagship.doi == "10.1002/14651858.CD015373.pub2"
    assert len(flagship.analyses) == 95
    assert sum(len(a.frame) for a in flagship.analyses) == 176
    assert sorted({a.comparison for a in flagship.analyses}) == list(range(1, 14))
    assert [a.id for a in flagship.analyses[:3]] == ["1.1", "1.2", "1.3"]
    types = [a.data_type for a in flagship.analyses]
    assert types.count("dichotomous") == 60 and types.count("continuous") == 35
    a = flagship.analyses[1]  # 1.2: duration-of-administration subgroups
    assert a.has_subgroups and set(a.frame["subgroup"]) == {">1 day to ≤7 days", "≤1 day"}
    assert {"study", "year", "row", "mean_t", "sd_t", "n_t", "stored_effect", "stored_ci_low",
            "stored_ci_high", "stored_weight", "rob_overall", "complete"} <= set(a.frame.columns)
    assert a.frame["row"].tolist() == [5, 6, 7]  # header is row 1
    dich = next(x for x in flagship.analyses if x.id == "2.2")
    assert {"events_t", "n_t", "events_c", "n_c"} <= set(dich.frame.columns)
    assert dich.frame["rob_overall"].tolist() == ["High risk", "High risk"]
    assert read_revman_rows(FLAGSHIP)[0].name == flagship.analyses[0].name


def test_flagship_settings_are_inferred_and_match_provenance(flagship):
    """PROVENANCE.md: the review pooled with IV random effects, DL tau², for MD, SMD and RR."""
    settings = [a.settings for a in flagship.analyses]
    assert all(s.inferred and s.conventions == "revman" for s in settings)
    assert {s.method for s in settings} == {"DL"}
    measures = [s.measure for s in settings]
    assert measures.count("RR") == 60 and measures.count("MD") == 33
    assert [a.id for a in flagship.analyses if a.settings.measure == "SMD"] == ["7.19", "7.21"]
    assert all(s.notes[0].startswith("measure ") and "inferred" in s.notes[0] for s in settings)
    # where the weights can tell them apart, DL wins and RevMan 5's M-H random does not fit
    a19 = next(a for a in flagship.analyses if a.id == "1.9").settings.evidence["method"]
    assert a19["decided_by"].startswith("the only candidate")
    assert a19["candidates"]["DL"]["max_abs_diff"] < TOL
    assert a19["candidates"]["MH_RANDOM"]["max_abs_diff"] > 0.01


def test_flagship_per_study_effects_and_weights_reproduce_revman(flagship):
    """Pool every analysis with its inferred settings (RevMan conventions): RevMan's stored
    per-study effect, 95% CI and weight are reproduced to 1e-4 absolute."""
    reproduced = compared = 0
    worst = {"effect": 0.0, "ci": 0.0, "weight": 0.0}
    for a in flagship.analyses:
        rows = a.pooled_rows
        stored_w = rows["stored_weight"].to_numpy()
        res = pool(rows, pool_measure(a.settings.measure), a.settings.method, revman=True)
        m = a.settings.measure
        ours_w = np.array([np.nan if s.weight is None else s.weight for s in res.studies])
        # RevMan leaves "not estimable" studies without weight, and so do we
        assert np.array_equal(np.isfinite(ours_w), np.isfinite(stored_w)), a.id
        if not np.isfinite(stored_w).any():
            continue
        compared += 1
        ok = np.isfinite(stored_w)
        eff = np.array([np.nan if s.yi is None else s.yi for s in res.studies])
        lo = np.array([np.nan if s.ci_low is None else s.ci_low for s in res.studies])
        hi = np.array([np.nan if s.ci_high is None else s.ci_high for s in res.studies])
        d_w = np.abs(ours_w[ok] - stored_w[ok]).max()
        d_e = np.abs(to_display(m, eff)[ok] - rows["stored_effect"].to_numpy()[ok]).max()
        d_ci = max(np.abs(to_display(m, lo)[ok] - rows["stored_ci_low"].to_numpy()[ok]).max(),
                   np.abs(to_display(m, hi)[ok] - rows["stored_ci_high"].to_numpy()[ok]).max())
        worst = {k: max(worst[k], v) for k, v in (("effect", d_e), ("ci", d_ci), ("weight", d_w))}
        reproduced += bool(d_w <= TOL)
    print(f"\nflagship: weights reproduced to {TOL:g} in {reproduced}/{compared} analyses; "
          f"max abs diff {worst}")
    assert compared == 91  # 4 analyses have no estimable study (1.19, 2.2, 5.6, 10.3)
    assert reproduced == compared
    assert worst["weight"] < 1e-5 and worst["effect"] < TOL and worst["ci"] < TOL


def test_flagship_analyses_without_estimable_studies(flagship):
    empty = [a.id for a in flagship.analyses if not np.isfinite(a.frame["stored_weight"]).any()]
    assert empty == ["1.19", "2.2", "5.6", "10.3"]
    for a in flagship.analyses:
        if a.id in empty:
            res = pool(a.pooled_rows, pool_measure(a.settings.measure), a.settings.method,
                       revman=True)
            assert res.k == 0 and "no study could be pooled" in res.warnings


def test_reading_does_not_modify_the_file():
    before = hashlib.sha256(FLAGSHIP.read_bytes()).hexdigest()
    mtime = FLAGSHIP.stat().st_mtime_ns
    read_review(FLAGSHIP)
    assert hashlib.sha256(FLAGSHIP.read_bytes()).hexdigest() == before
    assert FLAGSHIP.stat().st_mtime_ns == mtime


def test_subgroup_totals_only_and_unpooled_analyses_are_recognised():
    """RevMan's stored weights in CD001703.pub4 1.20 are within subgroups (each subgroup sums to
    100); in CD008628.pub3 2.1 they are 0 everywhere (the review did not pool)."""
    a = next(x for x in read_review(DATA / "CD001703_pub4_data.csv").analyses if x.id == "1.20")
    assert a.settings.totals == "subgroups" and a.settings.weight_max_abs_diff < TOL
    assert a.frame["stored_weight"].tolist() == [100.0, 100.0]
    b = next(x for x in read_review(DATA / "CD008628_pub3_data.csv").analyses if x.id == "2.1")
    assert b.settings.totals == "none" and b.settings.weight_max_abs_diff is None
    assert "did not pool" in b.settings.notes[1]


# ------------------------------------------------------------------------------------------
# broken copies of the flagship: every error names file, row (header = 1) and column


def _copy(tmp_path: Path, edit) -> Path:
    with FLAGSHIP.open(encoding="utf-8", newline="") as fh:
        records = list(csv.reader(fh))
    edit(records)
    out = tmp_path / "broken.csv"
    with out.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_MINIMAL).writerows(records)
    return out


def _set(records: list[list[str]], row: int, column: str, value: str) -> None:
    records[row - 1][records[0].index(column)] = value


@pytest.mark.parametrize(("row", "column", "value", "reason"), [
    (40, "Experimental.N", "twelve", "not a number"),
    (2, "Control.SD", "inf", "not a finite number"),
    (60, "Experimental.SD", "-1", "cannot be negative"),
    (177, "Control.N", "12.5", "whole number"),
    (88, "Weight", "150", "between 0 and 100"),
    (5, "Analysis.number", "x", "positive whole number"),
    (10, "Study", "", "study name is empty"),
    (3, "Analysis.name", "Another name", "is named"),
])
def test_data_error_names_file_row_and_column(tmp_path, row, column, value, reason):
    path = _copy(tmp_path, lambda r: _set(r, row, column, value))
    with pytest.raises(DataError) as info:
        read_review(path)
    err = info.value
    assert (err.file, err.row, err.field) == (str(path), row, column)
    assert f"row {row}" in str(err) and f"column '{column}'" in str(err) and reason in str(err)


def test_more_events_than_participants_is_a_named_row_problem(tmp_path):
    """RevMan accepts such rows and shows them as not estimable (real case: CD001920.pub4, row
    185); the row is left out and the problem names file row and column."""
    path = _copy(tmp_path, lambda r: _set(r, 23, "Experimental.cases", "99"))
    a = next(x for x in read_review(path).analyses if x.id == "1.9")
    bad = a.frame[a.frame["row"] == 23].iloc[0]
    assert not bad["complete"]
    assert bad["problem"].startswith("row 23, column 'Experimental.cases': more events than")
    assert a.frame["problem"].isna().sum() == len(a.frame) - 1


def test_rows_count_records_not_physical_lines(tmp_path):
    """A quoted field with line breaks is one spreadsheet row."""
    def edit(records):
        _set(records, 3, "Footnotes", "line one\nline two\nline three")
        _set(records, 4, "Experimental.mean", "?")
    with pytest.raises(DataError, match=r"row 4, column 'Experimental.mean'"):
        read_review(_copy(tmp_path, edit))


def test_structural_errors(tmp_path, monkeypatch):
    def drop_weight(records):
        j = records[0].index("Weight")
        for r in records:
            del r[j]
    with pytest.raises(DataError, match=r"row 1, column 'Weight': required column is missing"):
        read_review(_copy(tmp_path, drop_weight))
    with pytest.raises(DataError, match=r"row 7: has 40 fields; the header has 39"):
        read_review(_copy(tmp_path, lambda r: r[6].append("extra")))
    with pytest.raises(DataError, match="appears twice"):
        read_review(_copy(tmp_path, lambda r: r[0].__setitem__(1, "Analysis.group")))
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(FLAGSHIP.read_bytes().replace("Kleinböhl".encode(), "Kleinböhl".encode("latin-1")))
    with pytest.raises(DataError, match="not UTF-8"):
        read_review(bad)
    with pytest.raises(DataError, match="file not found"):
        read_review(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_review(empty)
    monkeypatch.setattr(revman_rows, "MAX_BYTES", 1000)
    with pytest.raises(DataError, match="limit"):
        read_review(FLAGSHIP)


def test_subgroups_sharing_a_name_stay_apart():
    """SYNTHETIC keys. With Subgroup.number, numbers decide; without it (RevMan 5 conversions,
    e.g. CD011381.pub3 analysis 3.11), a name that comes back after another starts a new one."""
    keys = revman_rows._subgroup_keys([0, 0, 0, 0, 1, 1], ["", "", "", "", "3", "5"],
                                      ["A", "A", "B", "A", "X", "X"])
    assert keys == [(0, "", "A"), (0, "", "A"), (0, "", "B"), (0, "part 2", "A"),
                    (1, "3", "X"), (1, "5", "X")]
    assert revman_rows._subgroup_labels(keys[:4]) == ["A", "A", "B", "A (subgroup part 2)"]
    assert revman_rows._subgroup_labels(keys[4:]) == ["X (subgroup 3)", "X (subgroup 5)"]
