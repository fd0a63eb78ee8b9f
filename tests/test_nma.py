"""Network meta-analysis: input formats, zero cells, errors, contributions, certainty, CLI.

Data: the metadat networks stored in tests/reference/nma_metafor_reference.json (real data, the R
package's copies); the small tables written here are SIMULATED and say so.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from trialsynth.cli import app
from trialsynth.errors import DataError
from trialsynth.nma.analysis import analyse_network, network_meta_analysis
from trialsynth.nma.certainty import Inputs, imprecision, incoherence
from trialsynth.nma.contribution import contributions
from trialsynth.nma.data import network_from_frame
from trialsynth.nma.inconsistency import DesignByTreatment
from trialsynth.nma.model import fit_networks

REF = json.loads((Path(__file__).parent / "reference" / "nma_metafor_reference.json").read_text())
CASE = {c["name"]: c for c in REF["cases"]}
runner = CliRunner()


def arms(name: str) -> pd.DataFrame:
    return pd.DataFrame(CASE[name]["arms"])


def triangle() -> pd.DataFrame:
    """SIMULATED: three two-arm studies forming a loop, unit standard errors."""
    return pd.DataFrame({"study": ["s1", "s2", "s3"], "treatment1": ["A", "A", "B"],
                         "treatment2": ["B", "C", "C"], "yi": [0.1, 0.2, 0.3], "se": [1.0] * 3})


def pairwise(frame: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Every pair of arms of every study as contrast rows (MD or log OR)."""
    rows = []
    for study, g in frame.groupby("study", sort=False):
        g = g.reset_index(drop=True)
        for i, j in itertools.combinations(range(len(g)), 2):
            if measure == "MD":
                y = g["mean"][i] - g["mean"][j]
                v = g.sd[i] ** 2 / g.n[i] + g.sd[j] ** 2 / g.n[j]
            else:
                x, n = g.events.astype(float), g.n.astype(float)
                if (x == 0).all() or (x == n).all():  # no information on the OR scale
                    continue
                if ((x == 0) | (x == n)).any():
                    x, n = x + 0.5, n + 1.0
                y = np.log(x[i] / (n[i] - x[i])) - np.log(x[j] / (n[j] - x[j]))
                v = 1 / x[i] + 1 / (n[i] - x[i]) + 1 / x[j] + 1 / (n[j] - x[j])
            rows.append({"study": study, "treatment1": g.treatment[i],
                         "treatment2": g.treatment[j], "yi": y, "se": np.sqrt(v)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("name", "measure", "ref"), [("senn2013_MD", "MD", "placebo"),
                                                      ("hasselblad1998_OR", "OR", "no_contact"),
                                                      ("dong2013_OR", "OR", "Placebo")])
def test_contrast_level_input_gives_the_arm_level_fit(name: str, measure: str, ref: str) -> None:
    """All pairs of a multi-arm study (netmeta's input) reproduce the arm-level covariance."""
    a = analyse_network(network_from_frame(arms(name), measure), ref, "REML")
    c = analyse_network(network_from_frame(pairwise(arms(name), measure), "GENERIC"), ref, "REML")
    assert c.fit.tau2 == pytest.approx(a.fit.tau2, rel=1e-8)
    np.testing.assert_allclose(c.fit.d, a.fit.d, rtol=1e-8, atol=1e-12)
    assert c.fit.q == pytest.approx(a.fit.q, rel=1e-10)


def test_zero_cells_add_half_to_every_arm_of_that_study() -> None:
    """SIMULATED: study s1 has a zero in one arm of three: 0.5 goes to every cell of s1 only."""
    frame = pd.DataFrame({"study": ["s1"] * 3 + ["s2"] * 2, "treatment": ["A", "B", "C", "A", "B"],
                          "events": [0, 4, 6, 3, 5], "n": [20, 20, 20, 30, 30]})
    data = network_from_frame(frame, "OR")
    s1, s2 = data.studies
    assert s1.corrected and not s2.corrected
    la = np.log(0.5 / 20.5)
    assert s1.y == pytest.approx([np.log(4.5 / 16.5) - la, np.log(6.5 / 14.5) - la])
    assert s1.v[0, 1] == pytest.approx(1 / 0.5 + 1 / 20.5)  # the shared arm's variance
    assert s2.y[0] == pytest.approx(np.log(5 / 25) - np.log(3 / 27))


def test_studies_without_events_are_left_out_on_ratio_scales_only() -> None:
    """SIMULATED: s2 has no events in either arm."""
    frame = pd.DataFrame({"study": ["s1", "s1", "s2", "s2"], "treatment": ["A", "B", "A", "B"],
                          "events": [2, 5, 0, 0], "n": [20, 20, 15, 15]})
    odds = network_from_frame(frame, "OR")
    assert [s.name for s in odds.studies] == ["s1"]
    assert any("s2" in w for w in odds.warnings)
    assert [s.name for s in network_from_frame(frame, "RD").studies] == ["s1", "s2"]


def test_disconnected_network_names_its_components(tmp_path: Path) -> None:
    """SIMULATED: A-B and C-D never meet."""
    path = tmp_path / "net.csv"
    pd.DataFrame({"study": ["s1", "s1", "s2", "s2"], "treatment": ["A", "B", "C", "D"],
                  "events": [1, 2, 3, 4], "n": [10] * 4}).to_csv(path, index=False)
    res = runner.invoke(app, ["nma", str(path), "--measure", "OR", "--method", "IV",
                              "--reference", "A"])
    assert res.exit_code == 2
    assert "disconnected" in res.output and "{A, B}" in res.output and "{C, D}" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize(("rows", "field", "text"), [
    ({"events": [1, "x"]}, "events", "not a finite number"),
    ({"events": [1, 30]}, "events", "exceed n"),
    ({"treatment": ["A", "A"]}, "treatment", "twice"),
    ({"study": ["s1", None]}, "study", "is empty"),
])
def test_bad_arm_rows_name_row_and_column(rows: dict, field: str, text: str) -> None:
    """SIMULATED two-arm table with one bad cell."""
    frame = pd.DataFrame({"study": ["s1", "s1"], "treatment": ["A", "B"], "events": [1, 2],
                          "n": [20, 20]})
    for k, v in rows.items():
        frame[k] = v
    with pytest.raises(DataError) as err:
        network_from_frame(frame, "OR", source="t.csv")
    assert err.value.field == field and err.value.row == 3 and text in str(err.value)


def test_multi_arm_contrasts_must_be_complete_and_add_up() -> None:
    """SIMULATED three-arm study given as contrasts."""
    base = pd.DataFrame({"study": ["s"] * 3, "treatment1": ["A", "A", "B"],
                         "treatment2": ["B", "C", "C"], "yi": [0.1, 0.3, 0.2], "se": [0.3] * 3})
    network_from_frame(base, "GENERIC")  # 0.1 + 0.2 = 0.3: consistent
    with pytest.raises(DataError, match="do not add up"):
        network_from_frame(base.assign(yi=[0.1, 0.5, 0.2]), "GENERIC")
    with pytest.raises(DataError, match="needs all 3 pairs"):
        network_from_frame(base.iloc[:2], "GENERIC")


def test_unknown_reference_is_a_data_error() -> None:
    with pytest.raises(DataError, match="not in the network"):
        network_meta_analysis(arms("senn2013_MD"), "MD", "IV", "insulin")


def test_triangle_contributions_by_hand() -> None:
    """Papakonstantinou 2018: in a loop of equal weights, a comparison takes 2/3 from its direct
    evidence and 1/6 from each edge of the two-step path (flow 1/3 spread over 2 edges)."""
    fit = fit_networks([network_from_frame(triangle(), "GENERIC")], [0], "IV")[0]
    con = contributions(fit)
    expected = np.array([[2 / 3, 1 / 6, 1 / 6], [1 / 6, 2 / 3, 1 / 6], [1 / 6, 1 / 6, 2 / 3]])
    np.testing.assert_allclose(con.matrix, expected, atol=1e-12)
    assert con.hat[0] == pytest.approx([2 / 3, 1 / 3, -1 / 3])


@pytest.mark.parametrize("method", ["IV", "REML"])
def test_hat_matrix_reproduces_the_network_estimates(method: str) -> None:
    """θ̂_ab = Σ h_ab,e ŷ_e with ŷ_e the pooled direct estimate of comparison e (Rücker 2012)."""
    data = network_from_frame(arms("baker2009_OR"), "OR")
    fit = fit_networks([data], [data.treatments.index("Placebo")], method)[0]
    con = contributions(fit)
    from trialsynth.nma.contribution import _study_laplacians

    num, den = {}, {}
    for s, lap in zip(data.studies, _study_laplacians(fit), strict=True):
        y = np.concatenate([[0.0], s.y])
        for i, j in itertools.combinations(range(len(s.arms)), 2):
            e = (min(s.arms[i], s.arms[j]), max(s.arms[i], s.arms[j]))
            yy = y[i] - y[j] if s.arms[i] == e[0] else y[j] - y[i]
            num[e] = num.get(e, 0.0) - lap[i, j] * yy
            den[e] = den.get(e, 0.0) - lap[i, j]
    direct = np.array([num[e] / den[e] for e in con.edges])
    for row, (a, b) in enumerate(con.pairs):
        assert con.hat[row] @ direct == pytest.approx(fit.d[a] - fit.d[b], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(con.matrix.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(con.study_matrix.sum(axis=1), 1.0, atol=1e-9)


def test_imprecision_counts_boundaries_crossed() -> None:
    bounds = (-10.0, 10.0, "±10")
    assert imprecision({"ci_low": -30, "ci_high": -12}, bounds).judgement == "no_concerns"
    assert imprecision({"ci_low": -30, "ci_high": -5}, bounds).judgement == "some_concerns"
    assert imprecision({"ci_low": -30, "ci_high": 15}, bounds).judgement == "major_concerns"


def test_incoherence_uses_the_global_test_without_a_loop() -> None:
    none = DesignByTreatment(None, 0, None, None)
    j = incoherence(None, none, (-1.0, 1.0, ""))
    assert j.judgement == "no_concerns" and "no closed loop" in j.reasons[0]
    bad = DesignByTreatment(12.0, 2, 0.002, None)
    assert incoherence(None, bad, (-1.0, 1.0, "")).judgement == "some_concerns"


def test_every_estimate_carries_six_domains_with_reasons() -> None:
    data = network_from_frame(arms("senn2013_MD"), "MD")
    rob = {s.name: ("high" if i % 3 == 0 else "low") for i, s in enumerate(data.studies)}
    res = analyse_network(data, "placebo", "REML", inputs=Inputs(rob=rob, mid=0.5))
    t = len(data.treatments)
    assert len(res.certainty) == t * (t - 1) // 2
    for c in res.certainty:
        assert set(c.domains) == {"within_study_bias", "reporting_bias", "indirectness",
                                  "imprecision", "heterogeneity", "incoherence"}
        assert all(j.reasons and j.reasons[0] for j in c.domains.values())
        assert c.level in ("high", "moderate", "low", "very_low")
        assert c.domains["within_study_bias"].numbers["assessed"]


def test_cli_json_contract(tmp_path: Path) -> None:
    path = tmp_path / "hasselblad.csv"
    arms("hasselblad1998_OR").to_csv(path, index=False)
    res = runner.invoke(app, ["nma", str(path), "--measure", "OR", "--method", "REML",
                              "--reference", "no_contact", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    for key in ("treatments", "reference", "k_studies", "estimates", "exp", "tau2", "q", "q_df",
                "q_pvalue", "i2", "league", "ranking", "inconsistency"):
        assert key in d
    assert d["reference"] == "no_contact" and d["k_studies"] == 24
    assert set(d["estimates"]) == set(d["treatments"]) - {"no_contact"}
    for v in d["estimates"].values():
        assert set(v) >= {"estimate", "se", "ci_low", "ci_high"}
    gc = d["estimates"]["grp_counseling"]
    assert d["exp"]["grp_counseling"]["estimate"] == pytest.approx(np.exp(gc["estimate"]))
    assert len([1 for a in d["league"] for _ in d["league"][a]]) == 12  # every ordered pair
    assert d["league"]["self_help"]["ind_counseling"]["estimate"] == pytest.approx(
        -d["league"]["ind_counseling"]["self_help"]["estimate"])
    assert set(d["ranking"]) == set(d["treatments"])
    assert set(d["inconsistency"]) == {"design_by_treatment", "node_split"}
    assert {"q", "df", "pvalue"} <= set(d["inconsistency"]["design_by_treatment"])
    for s in d["inconsistency"]["node_split"]:
        assert {"comparison", "direct", "indirect", "difference", "pvalue"} <= set(s)
    assert d["tau2"] == pytest.approx(CASE["hasselblad1998_OR"]["reml"]["tau2"], rel=1e-5)


def test_cli_json_common_effect_has_null_tau2_and_md_has_null_exp(tmp_path: Path) -> None:
    path = tmp_path / "senn.csv"
    arms("senn2013_MD").to_csv(path, index=False)
    res = runner.invoke(app, ["nma", str(path), "--measure", "MD", "--method", "IV",
                              "--reference", "placebo", "--json"])
    d = json.loads(res.output)
    assert d["tau2"] is None and d["exp"] is None and d["model"] == "common"
    assert res.exit_code == 0
    text = runner.invoke(app, ["nma", str(path), "--measure", "MD", "--method", "DL",
                               "--reference", "placebo"])
    assert text.exit_code == 0 and "design-by-treatment" in text.output


@pytest.mark.parametrize("mid", ["-3", "1.5"])
def test_cli_rejects_an_impossible_mid(tmp_path: Path, mid: str) -> None:
    path = tmp_path / "hasselblad.csv"
    arms("hasselblad1998_OR").to_csv(path, index=False)
    res = runner.invoke(app, ["nma", str(path), "--measure", "OR", "--method", "IV",
                              "--reference", "no_contact", "--mid", mid])
    assert res.exit_code == 2 and "minimal important difference" in res.output
    assert "Traceback" not in res.output
