"""``trialsynth plan REVIEW --analysis ID``: the TSA and next-trial size of one analysis of the
flagship review (examples/nmda-chronic-pain and its RevMan Web data-rows source)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from trialsynth.assess.sequential import efficacy_boundaries
from trialsynth.cli import app
from trialsynth.readers import read_review
from trialsynth.runner import analyse

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"
DATA_ROWS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pairwise70" / \
    "CD015373_pub2_data.csv"
runner = CliRunner()


def test_plan_flagship_plain_words():
    out = runner.invoke(app, ["plan", str(EXAMPLE), "--analysis", "1.1"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.stdout.split())
    for phrase in ("Required information size", "adjusted for diversity", "Accrued",
                   "TSA-adjusted CI", "Next trial", "Inconclusive"):
        assert phrase in text


def test_plan_json_numbers_agree_with_the_run_pooling():
    out = runner.invoke(app, ["plan", str(EXAMPLE), "--analysis", "1.1", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    # the pooled result is the one `trialsynth run` reports for this analysis
    review = read_review(EXAMPLE)
    ran = analyse(next(a for a in review.analyses if a.id == "1.1"), EXAMPLE.name)["result"]
    assert got["estimate"] == ran["estimate"] and got["method"] == ran["method"]
    tsa = got["tsa"]
    assert tsa["mid"] == 10.0 and got["mid_source"] == "review protocol"  # review.yaml: MID 10/100
    assert tsa["daris"] >= tsa["ris"]
    assert tsa["accrued"] == tsa["z_curve"][-1]["information"]
    assert tsa["accrued"] == ran["participants"]
    frac = np.array([p["fraction"] for p in tsa["z_curve"]])
    c = efficacy_boundaries(frac, 0.05).upper[-1]
    assert tsa["final_boundary"] == c
    assert math.isclose(tsa["adjusted_ci_low"], ran["estimate"] - c * ran["se"], rel_tol=1e-12)
    nxt = tsa["next_trial"]
    assert (nxt["per_arm"] is None) == (nxt["power_limit"] < 0.9)


def test_plan_mid_alpha_power_options_change_the_information_size():
    base = json.loads(runner.invoke(app, ["plan", str(EXAMPLE), "--analysis", "1.9",
                                          "--json"]).stdout)["tsa"]
    other = json.loads(runner.invoke(app, ["plan", str(EXAMPLE), "--analysis", "1.9", "--mid",
                                           "0.3", "--alpha", "0.01", "--power", "0.8",
                                           "--json"]).stdout)["tsa"]
    assert base["mid"] == 0.2 and other["mid"] == 0.3  # RR: default 20% relative reduction
    assert other["alpha"] == 0.01 and other["power"] == 0.8
    assert other["ris"] != base["ris"]
    assert 0 < base["control_risk"] < 1


def test_plan_reads_the_data_rows_source_too():
    out = runner.invoke(app, ["plan", str(DATA_ROWS), "--analysis", "1.1", "--mid", "10"])
    assert out.exit_code == 0, out.output
    assert "Required information size" in out.stdout


def test_plan_unknown_analysis_lists_valid_ids():
    out = runner.invoke(app, ["plan", str(EXAMPLE), "--analysis", "99.9"])
    assert out.exit_code == 2
    err = " ".join(out.stderr.split()) if out.stderr else " ".join(out.output.split())
    assert "99.9" in err and "valid IDs" in err and "1.1" in err and "13.1" in err
    assert "Traceback" not in out.output


def test_plan_missing_review_exits_2():
    out = runner.invoke(app, ["plan", str(EXAMPLE / "missing"), "--analysis", "1.1"])
    assert out.exit_code == 2
    assert "Traceback" not in out.output
