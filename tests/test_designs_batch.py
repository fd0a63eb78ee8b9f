"""Multi-arm trials in ``trialsynth batch``: a study entering one analysis more than once with the
same comparator data is detected over the flat arrays, its shared group split evenly as ``pool``
does (Cochrane Handbook v6.4 §23.3.4), and the warnings column says so — one implementation
(:func:`trialsynth.designs.multiarm.shared_rows`) behind both.

Real data: Pairwise70 reviews (../shared/data/pairwise70) whose analyses enter a multi-arm
study twice. The long tables below are CONSTRUCTED for the test (not real trials)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _paths import SHARED_DATA
from typer.testing import CliRunner

from trialsynth.api import pool
from trialsynth.cli import app
from trialsynth.corpus import run_batch
from trialsynth.designs import multiarm
from trialsynth.errors import DataError
from trialsynth.readers import read_review

PW70 = SHARED_DATA / "pairwise70"

# CONSTRUCTED: analysis "a" holds a three-arm trial (two doses against one placebo group of 40,
# 8 events) entered twice, and two parallel trials; analysis "b" the same study once.
ROWS = pd.DataFrame({
    "analysis": ["a", "a", "a", "a", "b", "b"],
    "study": ["Multi 2012", "Multi 2012", "Para 2018", "Para 2019", "Multi 2012", "Para 2018"],
    "events_t": [4, 6, 10, 7, 4, 10], "n_t": [30, 32, 60, 45, 30, 60],
    "events_c": [8, 8, 15, 9, 8, 15], "n_c": [40, 40, 58, 44, 40, 58],
})


def _table(tmp_path: Path, frame: pd.DataFrame = ROWS, **kw: object) -> pd.DataFrame:
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    return run_batch(path, measure="RR", **kw).set_index("analysis")


def test_shared_group_split_by_hand_and_reported(tmp_path: Path) -> None:
    table = _table(tmp_path, method="IV")
    # Handbook v6.4 §23.3.4: the placebo group (8/40) split evenly, 4/20 per comparison
    rows = [(4, 30, 4, 20), (6, 32, 4, 20), (10, 60, 15, 58), (7, 45, 9, 44)]
    y = np.array([np.log((a / n1) / (c / n2)) for a, n1, c, n2 in rows])
    v = np.array([1 / a - 1 / n1 + 1 / c - 1 / n2 for a, n1, c, n2 in rows])  # var log RR
    w = 1 / v
    assert table.loc["a", "estimate"] == pytest.approx(np.sum(w * y) / np.sum(w), rel=1e-12)
    assert table.loc["a", "se"] == pytest.approx(1 / np.sqrt(np.sum(w)), rel=1e-12)
    assert table.loc["a", "participants"] == pytest.approx(30 + 32 + 40 + 60 + 58 + 45 + 44)
    assert table.loc["a", "warnings"] == (
        "Multi 2012: one comparator group enters 2 comparisons (rows 2, 3); split evenly "
        "between them (Handbook v6.4 §23.3.4)")
    assert table.loc["b", "warnings"] == ""  # entered once: nothing to split


def test_batch_equals_pool_split_and_as_entered(tmp_path: Path) -> None:
    for how in ("split", "as_entered"):
        table = _table(tmp_path, method="REML", multi_arm=how)
        for aid, rows in ROWS.groupby("analysis"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = pool(rows.drop(columns="analysis").reset_index(drop=True), "RR", "REML",
                           designs={"multi_arm": how})
            assert table.loc[aid, "estimate"] == pytest.approx(res.estimate, rel=1e-12)
            assert table.loc[aid, "se"] == pytest.approx(res.se, rel=1e-12)
            assert table.loc[aid, "warnings"] == " | ".join(res.warnings)
    assert "counted as entered, i.e. 2 times" in table.loc["a", "warnings"]


def test_batch_refuses_combining_arms(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--multi-arm split or as_entered"):
        _table(tmp_path, multi_arm="combine")


def test_shared_rows_is_vectorised_over_analyses() -> None:
    # CONSTRUCTED flat arrays: analysis 0 has study A twice with one control group and study B
    # twice with different ones; analysis 1 has A three times (one control group) and a NaN row
    group = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    study = np.array(["A", "A", "B", "B", "A", "A", "A", "A"], dtype=object)
    n_c = np.array([40, 40, 30, 31, 50, 50, 50, np.nan])
    ev_c = np.array([8, 8, 3, 3, 5, 5, 5, 5.0])
    share, first = multiarm.shared_rows(group, study, {"events_c": ev_c, "n_c": n_c},
                                        np.ones(8, bool))
    assert share.tolist() == [2, 2, 1, 1, 3, 3, 3, 1]
    assert first.tolist() == [0, 0, -1, -1, 4, 4, 4, -1]
    assert multiarm.shared_rows(group, None, {"n_c": n_c}, np.ones(8, bool))[0].tolist() == [1] * 8
    split = multiarm.split_counts({"events_c": ev_c, "n_c": n_c}, share, "dichotomous")
    assert split["n_c"][:2].tolist() == [20, 20] and split["events_c"][4] == pytest.approx(5 / 3)


@pytest.mark.shared_data
def test_real_multi_arm_analyses_split_in_batch_as_in_pool() -> None:
    # CD013614_pub2 (Pairwise70): analyses enter a multi-arm study once per experimental arm
    path = PW70 / "CD013614_pub2_data.csv"
    table = run_batch(path, method="DL").set_index("analysis")
    flagged = table[table["warnings"].str.contains("§23.3.4", regex=False)]
    assert len(flagged) >= 5
    review = read_review(path)
    for a in review.analyses:
        aid = f"CD013614_pub2:{a.id}"
        if aid not in flagged.index:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = pool(a.pooled_rows, flagged.loc[aid, "measure"], "DL")
        assert flagged.loc[aid, "estimate"] == pytest.approx(res.estimate, rel=1e-10, abs=1e-12)
        assert flagged.loc[aid, "warnings"] == " | ".join(res.warnings)
    kept = run_batch(path, method="DL", multi_arm="as_entered").set_index("analysis")
    changed = (kept.loc[flagged.index, "se"] - flagged["se"]).abs() > 1e-12
    assert changed.any()  # splitting the shared group widens those analyses' CIs
    assert (kept.loc[flagged.index, "se"] <= flagged["se"] + 1e-12).all()


def test_cli_batch_multi_arm_option(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    ROWS.to_csv(path, index=False)
    out = tmp_path / "res.csv"
    res = CliRunner().invoke(app, ["batch", str(path), "--out", str(out), "--measure", "RR",
                                   "--multi-arm", "as_entered", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "counted as entered" in pd.read_csv(out).set_index("analysis").loc["a", "warnings"]
    res = CliRunner().invoke(app, ["batch", str(path), "--out", str(tmp_path / "r2.csv"),
                                   "--multi-arm", "combine", "--quiet"])
    assert res.exit_code == 2 and "split or as_entered" in res.output
