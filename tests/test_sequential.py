"""Trial sequential analysis (trialsynth.assess.sequential): boundaries against an independent R
computation (mvtnorm) and a published table, crossing probabilities by Monte Carlo, information
sizes against R/metafor, next-trial sizing by simulation, and the figure.

References: tests/reference/sequential_reference.json (validation/make_sequential_reference.R:
boundaries from multivariate normal probabilities, not recursion) and
tests/reference/tsa_reference.json (validation/make_tsa_reference.R: RIS formula and D² from
metafor's random- and common-effect variances).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialsynth.api import pool
from trialsynth.assess.sequential import (
    adjusted,
    diversity,
    efficacy_boundaries,
    futility_boundaries,
    obf_spending,
    ris_binary,
    ris_continuous,
    tsa_summary,
)
from trialsynth.errors import DataError
from trialsynth.render.figures.tsa import plot_tsa

REF = Path(__file__).parent / "reference"
SEQ = json.loads((REF / "sequential_reference.json").read_text())
TSA = json.loads((REF / "tsa_reference.json").read_text())


@pytest.mark.parametrize("case", SEQ["cases"], ids=lambda c: f"{c['sides']}-sided {c['t']}")
def test_boundaries_match_mvtnorm_reference(case):
    b = efficacy_boundaries(np.array(case["t"]), case["alpha"], sides=case["sides"])
    np.testing.assert_allclose(b.upper, case["upper"], rtol=1e-6)
    if "futility" in case:
        f = futility_boundaries(b, case["beta"])
        ref = np.array([np.nan if v is None else v for v in case["futility"]])
        np.testing.assert_array_equal(np.isnan(f.futility), np.isnan(ref))
        np.testing.assert_allclose(f.futility[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-6)


def test_boundaries_match_published_seqbounds_example():
    """One-sided α = 0.05, looks at 0.25/0.5/0.75/1: 3.75, 2.54, 2.02, 1.72 (SeqBounds.jl README,
    as cited in shared METHODS.md §6), to the two printed decimals."""
    b = efficacy_boundaries(np.array([0.25, 0.5, 0.75, 1.0]), 0.05, sides=1)
    np.testing.assert_allclose(b.upper, [3.75, 2.54, 2.02, 1.72], atol=0.005)
    # the first boundary is z_{1-α/2}/√t exactly (Lan & DeMets 1983)
    b2 = efficacy_boundaries(np.array([0.2, 0.7]), 0.05)
    assert b2.upper[0] == pytest.approx(1.959963984540054 / math.sqrt(0.2), rel=1e-10)


def test_crossing_probability_is_alpha_by_monte_carlo():
    """Simulated Brownian paths under H0 (simulated data): the probability of crossing the
    two-sided boundaries at any look equals the spent α (within 4 MC SE), look by look too."""
    t = np.array([0.15, 0.3, 0.55, 0.8, 1.0])
    alpha = 0.2  # large α gives a precise check with moderate draws
    b = efficacy_boundaries(t, alpha)
    rng = np.random.default_rng(11)
    n = 400_000
    inc = rng.normal(size=(n, len(t))) * np.sqrt(np.diff(np.concatenate([[0], t])))
    z = np.cumsum(inc, axis=1) / np.sqrt(t)
    crossed = np.abs(z) >= b.upper
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    spent = obf_spending(t, alpha)
    for k in range(len(t)):
        p = np.mean(first == k)
        expect = spent[k] - (spent[k - 1] if k else 0.0)
        assert abs(p - expect) < 4 * math.sqrt(expect * (1 - expect) / n)
    total = np.mean(first >= 0)
    assert abs(total - alpha) < 4 * math.sqrt(alpha * (1 - alpha) / n)


def test_futility_spends_beta_under_the_alternative_by_monte_carlo():
    """Under drift z_{1-α/2} + z_{1-β} (simulated), first exits below the futility boundary
    happen with the β-spending increments."""
    t = np.array([0.3, 0.6, 0.9])
    b = futility_boundaries(efficacy_boundaries(t, 0.05), 0.2)
    rng = np.random.default_rng(5)
    n = 400_000
    dt = np.diff(np.concatenate([[0], t]))
    s = np.cumsum(rng.normal(size=(n, 3)) * np.sqrt(dt) + b.drift * dt, axis=1)
    z = s / np.sqrt(t)
    a = b.futility_raw  # early bounds below 0 are real in the recursion, only not drawn
    assert np.isnan(b.futility[0]) and a[0] < 0
    alive = np.ones(n, dtype=bool)
    spent = obf_spending(t, 0.2)
    for k in range(3):
        exit_low = alive & (z[:, k] < a[k])
        expect = spent[k] - (spent[k - 1] if k else 0.0)
        p = np.mean(exit_low)
        assert abs(p - expect) < 4 * math.sqrt(expect * (1 - expect) / n)
        alive &= (z[:, k] >= a[k]) & (z[:, k] < b.upper[k])


def test_ris_matches_r_reference():
    r = TSA["ris_binary"]
    for pc, rrr, a, pw, ris in zip(r["control_risk"], r["rrr"], r["alpha"], r["power"], r["ris"],
                                   strict=True):
        assert ris_binary(pc, rrr, a, pw) == pytest.approx(ris, rel=1e-10)
    c = TSA["ris_continuous"]
    for md, sd, a, pw, ris in zip(c["md"], c["sd"], c["alpha"], c["power"], c["ris"], strict=True):
        assert ris_continuous(md, sd, a, pw) == pytest.approx(ris, rel=1e-10)
    with pytest.raises(DataError):
        ris_binary(1.2, 0.2)
    with pytest.raises(DataError):
        adjusted(100.0, 1.0)


def test_diversity_matches_metafor_variances():
    bcg = TSA["bcg"]
    d2 = diversity(np.sqrt(bcg["vi"]), bcg["tau2_dl"][0])
    assert d2 == pytest.approx(bcg["d2"][0], rel=1e-8)
    assert diversity(np.sqrt(bcg["vi"]), 0.0) == 0.0


def _bcg_result():
    bcg = TSA["bcg"]
    frame = pd.DataFrame({"study": [f"trial {i + 1}" for i in range(13)], "yi": bcg["yi"],
                          "se": np.sqrt(bcg["vi"])})
    return replace(pool(frame, "GENERIC", "DL"), measure="RR")


def test_tsa_summary_on_bcg():
    """BCG vaccine trials (log RR, DL): Z-curve, boundaries, adjusted CI, conclusion."""
    res = _bcg_result()
    n = [250.0] * 13  # participants per trial: an assumption of this test (simulated sizes)
    tsa = tsa_summary(res, mid=0.2, control_risk=0.02, participants=n)
    assert tsa.d2 == pytest.approx(TSA["bcg"]["d2"][0], rel=1e-8)
    assert tsa.daris == pytest.approx(tsa.ris / (1 - tsa.d2), rel=1e-12)
    assert [p.information for p in tsa.z_curve] == list(np.cumsum(n))
    # the last look re-pools all studies with DL: its Z is the analysis' Wald statistic
    assert tsa.final_z == pytest.approx(res.estimate / res.se, rel=1e-10)
    b = efficacy_boundaries(np.cumsum(n) / tsa.required, 0.05)
    assert tsa.final_boundary == pytest.approx(b.upper[-1], rel=1e-12)
    assert tsa.adjusted_ci_low == pytest.approx(res.estimate - b.upper[-1] * res.se, rel=1e-12)
    assert tsa.adjusted_ci_high > res.ci_high  # wider than the conventional CI
    assert tsa.crossed is None and "Inconclusive" in tsa.conclusion
    d = tsa.to_dict()
    assert json.dumps(d, allow_nan=False)
    assert len(d["z_curve"]) == 13


def test_next_trial_conditional_power_by_simulation():
    """Common-effect analysis (τ² = 0; simulated data): the returned per-arm size n gives the
    target conditional power - checked by simulating the new trial and re-running the
    boundary at the updated information - and n − 1 does not."""
    frame = pd.DataFrame({"study": ["a", "b", "c"], "yi": [2.0, -1.0, 3.0], "se": [2.5, 3.0, 2.2]})
    res = replace(pool(frame, "GENERIC", "IV"), measure="MD")
    n = [40.0, 60.0, 50.0]
    tsa = tsa_summary(res, mid=2.0, sd=8.0, participants=n)
    nxt = tsa.next_trial
    assert nxt.per_arm is not None and nxt.per_arm > 1
    y, se = np.array([2.0, -1.0, 3.0]), np.array([2.5, 3.0, 2.2])
    frac = np.cumsum(n) / tsa.required

    def simulated_power(per_arm, draws=200_000, seed=3):
        rng = np.random.default_rng(seed)
        var_new = 2 * 8.0 ** 2 / per_arm
        y_new = nxt.assumed_effect + rng.normal(size=draws) * math.sqrt(var_new)
        w = np.append(1 / se ** 2, 1 / var_new)
        est = (np.sum(w[:-1] * y) + w[-1] * y_new) / w.sum()
        z = est * math.sqrt(w.sum())
        c = efficacy_boundaries(np.append(frac, (tsa.accrued + 2 * per_arm) / tsa.required),
                                0.05).upper[-1]
        return float(np.mean(np.abs(z) >= c))

    p = simulated_power(nxt.per_arm)
    assert abs(p - nxt.conditional_power) < 4 * math.sqrt(0.09 / 200_000)
    assert nxt.conditional_power >= 0.9
    assert simulated_power(nxt.per_arm - 1) < 0.9 + 4 * math.sqrt(0.09 / 200_000)


def test_next_trial_none_when_heterogeneity_bounds_the_power():
    """With large τ² one trial's weight is at most 1/τ²: no size reaches 90% (Roloff 2013)."""
    frame = pd.DataFrame({"study": list("abcd"), "yi": [0.8, -0.6, 0.1, 1.2],
                          "se": [0.2, 0.25, 0.3, 0.2]})
    res = replace(pool(frame, "GENERIC", "DL"), measure="SMD")
    tsa = tsa_summary(res, mid=0.2, participants=[100, 80, 60, 100])
    assert tsa.next_trial.per_arm is None
    assert tsa.next_trial.power_limit < 0.9
    assert "no single trial" in tsa.next_trial.reason


def test_tsa_input_errors():
    res = _bcg_result()
    with pytest.raises(DataError):
        tsa_summary(res, mid=0.2)  # binary measure needs a control risk
    with pytest.raises(DataError):
        tsa_summary(res, mid=0.2, control_risk=0.02, participants=[10.0])
    with pytest.raises(DataError):
        efficacy_boundaries(np.array([0.5, 0.4]))


def test_plot_tsa_returns_a_figure_without_pyplot_state():
    import re

    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from trialsynth.render.figures import svg_text

    before = plt.get_fignums()
    tsa = tsa_summary(_bcg_result(), mid=0.2, control_risk=0.02, participants=[250.0] * 13)
    fig = plot_tsa(tsa, title="BCG")
    assert isinstance(fig, Figure)
    shown = re.findall(r"<text[^>]*>([^<]*)</text>", svg_text(fig))
    assert shown.count("BCG") == 1 and "cumulative Z-curve" in shown
    assert "monitoring boundary (Lan-DeMets O&#39;Brien-Fleming)" in shown or \
        "monitoring boundary (Lan-DeMets O'Brien-Fleming)" in shown
    assert f"required information size ({tsa.heterogeneity}-adjusted)" in shown
    assert ("futility boundary" in shown) == any(p.futility is not None for p in tsa.z_curve)
    assert plt.get_fignums() == before
