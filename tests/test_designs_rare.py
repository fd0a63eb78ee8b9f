"""``--rare-events`` with rows that carry design columns: cluster-randomised trials enter the
sparse-data rules (Cochrane Handbook v6.4 §10.4.4.1) with their effective counts (§23.1.4), and
rows that enter as an effect with its SE are refused with a clear message.

Reference: R metafor ``rma.mh`` / ``rma.peto`` on the effective counts
(tests/reference/designs_rare_reference.json, validation/make_designs_rare_reference.R). The trial
numbers are CONSTRUCTED for the test (not real trials)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import trialsynth as ts
from trialsynth.cli import app
from trialsynth.errors import DataError

REF = json.loads((Path(__file__).parent / "reference" / "designs_rare_reference.json").read_text())
FITS = {f["method"]: f for f in REF["fits"]}

# CONSTRUCTED: two cluster-randomised trials (M = 20, ICC 0.05; M = 10, ICC 0.1) and a parallel
# trial with a zero cell; fewer than 1% of participants have the event
ROWS = pd.DataFrame([
    dict(study="Clust A", design="cluster", events_t=2, n_t=400, events_c=5, n_c=400,
         cluster_size=20, icc=0.05),
    dict(study="Para B", design="parallel", events_t=0, n_t=150, events_c=3, n_c=150),
    dict(study="Clust C", design="cluster", events_t=1, n_t=300, events_c=4, n_c=310,
         cluster_size=10, icc=0.1),
])


def _close(res: ts.PooledResult, ref: dict) -> None:
    for key in ("estimate", "se", "ci_low", "ci_high", "pvalue"):
        assert getattr(res, key) == pytest.approx(ref[key], rel=1e-6), key


def test_cluster_rows_take_the_rare_event_rules_on_effective_counts() -> None:
    res = ts.pool(ROWS, "OR", "IV", rare_events=True)
    note = res.settings["rare_events"]
    # arms balanced, but the M-H OR (about 0.2) is not "close to 1": M-H without corrections
    assert (note["sparse"], note["method"], note["measure"]) == (True, "MH", "OR")
    assert "effect not small" in note["reason"]
    _close(res, FITS["MH"])
    assert any(w.startswith("rare events:") for w in res.warnings)
    rows = res.settings["designs"]["rows"]
    assert "design effect" in rows[0]["adjustments"][0]  # the adjustment is still recorded


def test_peto_on_prepared_cluster_rows_matches_metafor() -> None:
    _close(ts.pool(ROWS, "PETO_OR", "PETO"), FITS["PETO"])


def test_glmm_refuses_adjusted_counts() -> None:
    with pytest.raises(DataError, match="needs whole counts"):
        ts.pool(ROWS, "OR", "REML", rare_events=True)
    plain = ROWS.drop(columns=["design", "cluster_size", "icc"])  # whole counts: the GLMM runs
    assert ts.pool(plain, "OR", "REML", rare_events=True).method == "GLMM"


def test_rows_entered_as_effects_are_refused() -> None:
    cross = pd.concat([ROWS, pd.DataFrame([dict(study="Cross D", design="crossover", events_t=1,
                                                 n_t=40, events_c=3, n_c=40, corr=0.3)])],
                      ignore_index=True)
    with pytest.raises(DataError, match="rows 5 enter as an effect") as err:
        ts.pool(cross, "OR", "IV", rare_events=True)
    assert err.value.row == 5
    assert ts.pool(cross, "OR", "IV").k == 4  # without --rare-events: pooled by IV as before


def test_cli_rare_events_with_design_columns(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    ROWS.to_csv(path, index=False)
    out = CliRunner().invoke(app, ["pool", str(path), "--measure", "OR", "--method", "IV",
                                   "--rare-events", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["estimate"] == pytest.approx(FITS["MH"]["estimate"], rel=1e-6)
    bad = CliRunner().invoke(app, ["pool", str(path), "--measure", "OR", "--method", "REML",
                                   "--rare-events"])
    assert bad.exit_code == 2 and "whole counts" in bad.output
