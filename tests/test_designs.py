"""Trial designs and conversions at data entry (trialsynth.designs), against the Cochrane
Handbook's worked examples (cited on each test), exact identities on SIMULATED raw data, and
the published formulas."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import trialsynth as ts
from trialsynth.designs import cluster, crossover, entry, rare
from trialsynth.effects import binary
from trialsynth.effects.nnt import nnt
from trialsynth.errors import DataError


# ------------------------------------------------------------------ crossover (Handbook)
# Handbook v5.1 §16.4.6.4 "Example" (carried into v6.4 §23.2.7): a crossover trial with N = 10,
# M_E = 7.0 (SD 2.38), M_C = 6.5 (SD 2.21).
def test_handbook_crossover_example_md_with_imputed_corr() -> None:
    # "Suppose that a correlation coefficient of 0.68 has been imputed ... The standard error of
    # MD is then ... 0.583"
    se = crossover.paired_md_se(2.38, 2.21, 0.68, 10)
    assert round(float(se), 3) == 0.583
    # "a typical standard deviation of differences ... 2. Then ... 0.632" (SE = SD_diff/√N)
    assert round(2 / math.sqrt(10), 3) == 0.632


def test_handbook_crossover_example_smd() -> None:
    # "The numbers 0.218 and 0.256 may be entered ... as the estimate and standard error of a
    # standardized mean difference"
    smd, vi = crossover.crossover_smd(0.5, 2.38, 2.21, 0.68, 10)
    assert round(float(smd), 3) == 0.218
    assert round(math.sqrt(vi), 3) == 0.256


def test_handbook_crossover_example_through_pool() -> None:
    frame = pd.DataFrame([dict(study="Example", design="crossover", mean_t=7.0, sd_t=2.38,
                               n_t=10, mean_c=6.5, sd_c=2.21, n_c=10, corr=0.68)])
    res = ts.pool(frame, "MD", "IV")
    assert res.estimate == pytest.approx(0.5) and round(res.se, 3) == 0.583
    assert ts.pool(frame, "SMD", "IV").estimate == pytest.approx(0.2177, abs=5e-4)


def test_paired_se_and_corr_are_exact_on_simulated_paired_data() -> None:
    rng = np.random.default_rng(17)  # SIMULATED paired measurements
    x = rng.normal(50, 10, 30)
    y = 0.7 * x + rng.normal(0, 6, 30)
    r = np.corrcoef(x, y)[0, 1]
    sd1, sd2 = x.std(ddof=1), y.std(ddof=1)
    res = stats.ttest_rel(x, y)
    se = (x.mean() - y.mean()) / res.statistic  # the paired t test's SE of the mean difference
    assert crossover.paired_md_se(sd1, sd2, r, 30) == pytest.approx(se, rel=1e-10)
    assert crossover.corr_from_paired_se(sd1, sd2, se, 30) == pytest.approx(r, rel=1e-10)
    t = crossover.paired_t_from_p(res.pvalue, 30)
    assert t == pytest.approx(abs(res.statistic), rel=1e-8)


def test_imputed_corr_from_the_trials_that_allow_it_and_sensitivity() -> None:
    rng = np.random.default_rng(3)  # SIMULATED crossover trial with paired data reported
    x = rng.normal(40, 12, 20)
    y = x + rng.normal(5, 8, 20)
    se = stats.sem(x - y)
    r = np.corrcoef(x, y)[0, 1]
    frame = pd.DataFrame([
        dict(study="Paired", design="crossover", mean_t=x.mean(), sd_t=x.std(ddof=1), n_t=20,
             mean_c=y.mean(), sd_c=y.std(ddof=1), n_c=20, effect_se=se),
        dict(study="Arms only", design="crossover", mean_t=30, sd_t=10, n_t=16, mean_c=36,
             sd_c=11, n_c=16)])
    res = ts.pool(frame, "MD", "IV")
    d = res.settings["designs"]
    assert d["crossover_correlation"]["value"] == pytest.approx(r, rel=1e-8)
    assert "§23.2.7.3" in d["crossover_correlation"]["source"]
    assert res.studies[1].se == pytest.approx(
        crossover.paired_md_se(10, 11, r, 16), rel=1e-10)
    sens = d["correlation_sensitivity"]
    assert [s["corr"] for s in sens] == [0.2, 0.5, 0.8]
    assert sens[0]["se"] > sens[2]["se"]  # a higher Corr gives the arms-only trial more weight


def test_crossover_without_any_correlation_is_refused() -> None:
    frame = pd.DataFrame([dict(study="A", design="crossover", mean_t=3, sd_t=1, n_t=9, mean_c=4,
                               sd_c=1, n_c=9)])
    with pytest.raises(DataError, match="within-participant correlation") as err:
        ts.pool(frame, "MD", "IV")
    assert err.value.row == 2 and err.value.field == "corr"
    assert ts.pool(frame, "MD", "IV", designs={"crossover_corr": 0.5}).se == pytest.approx(
        math.sqrt((1 + 1 - 2 * 0.5) / 9))


def test_first_period_data_enter_as_parallel() -> None:
    frame = pd.DataFrame([dict(study="A", design="crossover", period="first", mean_t=3, sd_t=1,
                               n_t=9, mean_c=4, sd_c=1.2, n_c=10)])
    res = ts.pool(frame, "MD", "IV")
    assert res.se == pytest.approx(math.sqrt(1 / 9 + 1.44 / 10))
    assert res.settings["designs"]["rows"][0]["design"] == "crossover-first-period"


def test_binary_crossover_becker_balagtas_variance() -> None:
    # paired table of N = 40: 6 events under both, 10 under E only, 4 under C only, 20 neither
    n11, n10, n01, n = 6, 10, 4, 40
    et, ec = n11 + n10, n11 + n01
    rho = crossover.phi_from_both(et, ec, n11, n)
    yi, vi = crossover.paired_binary("OR", et, ec, n, rho)
    # independent delta method: gradient of logit(p_E) − logit(p_C) over the cell
    # probabilities times the multinomial covariance (Becker & Balagtas 1993, marginal OR)
    p = np.array([n11, n10, n01, n - n11 - n10 - n01]) / n
    cov = (np.diag(p) - np.outer(p, p)) / n
    pe, pc = p[0] + p[1], p[0] + p[2]
    grad = np.array([1 / (pe * (1 - pe)) - 1 / (pc * (1 - pc)), 1 / (pe * (1 - pe)),
                     -1 / (pc * (1 - pc)), 0.0])
    assert yi == pytest.approx(math.log(pe / (1 - pe)) - math.log(pc / (1 - pc)))
    assert vi == pytest.approx(grad @ cov @ grad, rel=1e-12)
    # with rho = 0 it is Woolf's variance of a parallel trial with N per arm
    _, v0 = crossover.paired_binary("OR", et, ec, n, 0.0)
    _, woolf = binary.log_odds_ratio(et, n - et, ec, n - ec)
    assert v0 == pytest.approx(woolf, rel=1e-12)


# ---------------------------------------------------------------------- cluster (Handbook)
def test_handbook_cluster_example() -> None:
    # Handbook v5.1 §16.3.5 (v6.4 §23.1.4): 10 classes, 295 children, 63 successes vs 11
    # classes, 330 children, 84 successes; ICC 0.02, average cluster size 29.8: design effect
    # 1.576; effective 40.0/187.2 and 53.3/209.4
    deff = cluster.design_effect(29.8, 0.02)
    assert deff == pytest.approx(1.576)
    et, nt = cluster.effective_counts(63, 295, deff)
    ec, nc = cluster.effective_counts(84, 330, deff)
    assert (round(et, 1), round(nt, 1), round(ec, 1), round(nc, 1)) == (40.0, 187.2, 53.3, 209.4)
    frame = pd.DataFrame([dict(study="Example", design="cluster", events_t=63, n_t=295,
                               events_c=84, n_c=330, cluster_size=29.8, icc=0.02)])
    res = ts.pool(frame, "RR", "IV")
    log_rr, v = binary.log_risk_ratio(et, nt - et, ec, nc - ec)
    assert res.estimate == pytest.approx(log_rr) and res.se**2 == pytest.approx(v)


def test_cluster_adjusted_effect_given_directly() -> None:
    frame = pd.DataFrame([dict(study="A", design="cluster", effect=0.8, effect_ci_low=0.64,
                               effect_ci_high=1.0, events_t=10, n_t=100, events_c=12, n_c=100)])
    res = ts.pool(frame, "RR", "IV")
    assert res.estimate == pytest.approx(math.log(0.8))
    assert res.se == pytest.approx((math.log(1.0) - math.log(0.64)) / (2 * 1.959963984540054))


def test_cluster_without_icc_is_refused() -> None:
    frame = pd.DataFrame([dict(study="A", design="cluster", events_t=1, n_t=9, events_c=2,
                               n_c=9, cluster_size=3)])
    with pytest.raises(DataError, match="icc"):
        ts.pool(frame, "RR", "IV")


# ------------------------------------------------------------------ conversions at entry
def test_shi_2020_equation_11_is_the_weighted_form() -> None:
    # Shi et al. 2020 (Res Synth Methods 11:641), eq. 11 and its weight w = 1/(1 + 0.07 n^0.6)
    for n in (10, 50, 400):
        w = 1 / (1 + 0.07 * n**0.6)
        xi = 2 * stats.norm.ppf((n - 0.375) / (n + 0.25))
        eta = 2 * stats.norm.ppf((0.75 * n - 0.125) / (n + 0.25))
        want = w * (30 - 2) / xi + (1 - w) * (18 - 9) / eta
        assert entry.shi_sd(2, 9, 18, 30, n) == pytest.approx(want, rel=1e-12)


def test_change_sd_is_exact_on_simulated_data() -> None:
    rng = np.random.default_rng(11)  # SIMULATED baseline and final values
    b = rng.normal(60, 15, 40)
    f = 0.6 * b + rng.normal(20, 10, 40)
    r = np.corrcoef(b, f)[0, 1]
    got = entry.change_sd(b.std(ddof=1), f.std(ddof=1), r)
    assert got == pytest.approx((f - b).std(ddof=1), rel=1e-10)  # Handbook v6.4 §6.5.2.8


def test_entry_conversions_through_pool_are_recorded() -> None:
    frame = pd.DataFrame([
        dict(study="Medians", median_t=30, q1_t=20, q3_t=42, n_t=40, median_c=38, q1_c=27,
             q3_c=50, n_c=41),
        dict(study="SEs", mean_t=31, se_t=2.0, n_t=25, mean_c=37, se_c=2.2, n_c=25),
        dict(study="P value", mean_t=28, n_t=25, mean_c=31.8, n_c=22, effect_p=0.008),
        dict(study="Change", mean_t=40, sd_t=12, n_t=30, mean_c=47, sd_c=13, n_c=30,
             baseline_mean_t=55, baseline_sd_t=11, baseline_mean_c=54, baseline_sd_c=12,
             corr_change=0.5)])
    res = ts.pool(frame, "MD", "IV")
    rows = res.settings["designs"]["rows"]
    from trialsynth.effects import conversions as cv
    mt, mc = cv.mean_from_iqr(20, 30, 42, 40), cv.mean_from_iqr(27, 38, 50, 41)
    assert res.studies[0].yi == pytest.approx(mt - mc)
    assert res.studies[0].se**2 == pytest.approx(cv.sd_from_iqr(20, 42, 40) ** 2 / 40
                                                 + cv.sd_from_iqr(27, 50, 41) ** 2 / 41)
    assert any("Luo et al. 2018" in a for a in rows[0]["adjustments"])
    assert res.studies[1].se**2 == pytest.approx(4 + 2.2**2)  # SD = SE√n, var = SE_t² + SE_c²
    # Handbook v6.4 §6.5.2.3 worked example: MD 3.8, P = 0.008, n 25 and 22: SE 1.37
    assert round(res.studies[2].se, 2) == 1.37
    assert res.studies[3].yi == pytest.approx((40 - 55) - (47 - 54))
    assert any("§6.5.2.8" in a for a in rows[3]["adjustments"])


def test_bad_entry_names_row_and_column() -> None:
    frame = pd.DataFrame([dict(study="A", mean_t=1, sd_t=1, n_t=5, mean_c=1, sd_c=1, n_c=5),
                          dict(study="B", median_t=3, q1_t=5, q3_t=4, n_t=10, median_c=3,
                               q1_c=2, q3_c=4, n_c=10)])
    with pytest.raises(DataError) as err:
        ts.pool(frame, "MD", "IV")
    assert err.value.row == 3


# --------------------------------------------------------------------------- rare events
def test_rare_event_rules() -> None:
    # balanced arms, small effect, zero cells: Peto
    c = rare.choose("OR", False, [0, 1, 2], [100, 100, 100], [1, 1, 2], [100, 100, 100])
    assert (c.method, c.measure) == ("PETO", "PETO_OR") and "balanced" in c.reason
    # unbalanced arms: M-H without corrections
    c = rare.choose("OR", False, [0, 1, 2], [300, 100, 100], [1, 1, 2], [100, 100, 100])
    assert c.method == "MH" and "unbalanced" in c.reason
    # random effects: the binomial-normal model
    assert rare.choose("RR", True, [0, 1], [50, 50], [2, 3], [50, 50]).method == "MH"
    assert rare.choose("OR", True, [0, 1], [50, 50], [2, 3], [50, 50]).method == "GLMM"
    assert not rare.choose("RR", False, [10, 20], [50, 50], [12, 22], [50, 50]).sparse


# ------------------------------------------------------------------------------------ NNT
def test_nnt_altman_1998() -> None:
    # Altman 1998 (BMJ 317:1309): NNT = 1/ARR, CI the reciprocals of the ARR's limits; a CI of
    # the ARR through 0 gives "NNTH a to ∞ to NNTB b"
    got = nnt(0.10, 0.05, 0.20, "higher")
    assert got.kind == "NNTB" and got.value == pytest.approx(10)
    assert got.low == ("NNTB", pytest.approx(5)) and got.high == ("NNTB", pytest.approx(20))
    through = nnt(0.05, -0.02, 0.125, "higher")
    assert through.through_infinity and through.text == "NNTB 20 (95% CI NNTH 50 to ∞ to NNTB 8)"
    harm = nnt(0.04, 0.01, 0.08, "lower")  # more adverse events with the intervention
    assert harm.kind == "NNTH" and harm.text.startswith("NNTH 25 (95% CI 13 to 100)")
