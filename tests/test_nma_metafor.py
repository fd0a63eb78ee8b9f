"""Network meta-analysis against R metafor ``rma.mv`` on the network data sets of metadat.

Expected numbers: ``tests/reference/nma_metafor_reference.json``, made by
``validation/make_nma_reference.R`` (R 4.2.2, metafor 3.8-1, metadat 1.2-0; the data are the R
package's own copies): hasselblad1998 (OR), pagliaro1992 (OR, RR, RD), dong2013 (OR, zero cells),
gurusamy2011 (RR, zero cells and double-zero studies), baker2009 (OR, four-arm studies),
dogliotti2014 (OR), woods2010 (RD), senn2013 (MD), franchini2012 (MD, SMD), stowe2010 (MD).

Tolerances: the common-effect model, DL (netmeta's estimator, transcribed in the R script and
fitted by rma.mv with that τ²), node splitting and the design-by-treatment test under common
effect: 1e-9 relative. REML and ML: metafor's optimiser (nlminb, rel.tol 1e-10) stops short of the
optimum by up to ~1e-6 in τ² on flat likelihoods; our Fisher scoring converges to 1e-12. So τ²
agrees to 1e-5 relative (1e-8 absolute at the boundary, where metafor's log-parameterised
optimiser returns τ² ~1e-10 instead of 0), coefficients to 1e-5 relative to their SE, and our
log-likelihood is never lower than metafor's (we are at least as close to the optimum).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialsynth.nma.data import network_from_frame
from trialsynth.nma.inconsistency import design_by_treatment, node_split, split_blocks
from trialsynth.nma.model import fit_networks
from trialsynth.nma.multilevel import multilevel
from trialsynth.nma.mv import loglik_at
from trialsynth.nma.ranking import ranking

REF = json.loads((Path(__file__).parent / "reference" / "nma_metafor_reference.json").read_text())
CASES = REF["cases"]
IDS = [c["name"] for c in CASES]
EXACT = 1e-9


def _fit(case: dict, method: str):
    data = network_from_frame(pd.DataFrame(case["arms"]), case["measure"])
    assert list(data.treatments) == case["treatments"]
    return fit_networks([data], [data.treatments.index(case["reference"])], method)[0]


def _tau2_ok(ours: float | None, theirs: float) -> bool:
    ours = ours or 0.0
    return abs(ours - theirs) <= (1e-8 if theirs < 1e-6 else 1e-5 * theirs)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(("method", "key"), [("IV", "fe"), ("DL", "dl")])
def test_common_effect_and_dl_match_metafor(case: dict, method: str, key: str) -> None:
    fit, ref = _fit(case, method), case[key]
    for t, b in ref["beta"].items():
        i = fit.treatments.index(t)
        assert fit.d[i] == pytest.approx(b, rel=EXACT, abs=1e-12)
        assert np.sqrt(fit.vcov[i, i]) == pytest.approx(ref["se"][t], rel=EXACT)
    assert fit.q == pytest.approx(ref["QE"], rel=EXACT)
    assert fit.q_df == ref["QEdf"]
    if method == "DL":  # our tr(P0 G) form against netmeta's tr((I - H) U W) form
        assert (fit.tau2 or 0.0) == pytest.approx(ref["tau2"], rel=EXACT, abs=1e-14)
        assert fit.q == pytest.approx(ref["Q_netmeta_formula"], rel=EXACT)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(("method", "key"), [("REML", "reml"), ("ML", "ml")])
def test_likelihood_fits_match_metafor(case: dict, method: str, key: str) -> None:
    fit, ref = _fit(case, method), case[key]
    assert fit.converged
    assert _tau2_ok(fit.tau2, ref["tau2"]), (fit.tau2, ref["tau2"])
    for t, b in ref["beta"].items():
        i = fit.treatments.index(t)
        se = ref["se"][t]
        assert abs(fit.d[i] - b) <= 1e-5 * se
        assert np.sqrt(fit.vcov[i, i]) == pytest.approx(se, rel=1e-5)
    assert fit.loglik >= ref["loglik"] - 1e-9  # at least as high as metafor's optimum
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(("method", "key"), [("IV", "fe"), ("REML", "reml")])
def test_node_splitting_matches_metafor(case: dict, method: str, key: str) -> None:
    fit = _fit(case, method)
    splits = {(s.treatment, s.comparator): s for s in node_split(fit)}
    ref = case["node_split"][key]
    assert len(splits) == len(ref)
    for r in ref:
        b, a = r["comparison"]  # R: later treatment against the earlier one
        s, sign = (splits[(b, a)], 1.0) if (b, a) in splits else (splits[(a, b)], -1.0)
        assert sign == 1.0 or b == case["reference"]  # ours: against the reference
        for field in ("direct", "indirect", "difference"):
            scale = r[f"{field}_se"]
            tol = EXACT if method == "IV" else 1e-5
            assert abs(sign * getattr(s, field) - r[field]) <= tol * max(abs(r[field]), scale)
            assert getattr(s, f"{field}_se") == pytest.approx(scale, rel=tol)
        assert s.pvalue == pytest.approx(r["pvalue"], rel=1e-9 if method == "IV" else 1e-4)
        if method == "REML" and not _tau2_ok(s.tau2, r["tau2"]):  # then we are the better optimum
            blocks = split_blocks(fit, fit.treatments.index(s.comparator),
                                  fit.treatments.index(s.treatment))
            ours = loglik_at(blocks, np.array([[s.tau2]]), "REML")
            theirs = loglik_at(blocks, np.array([[r["tau2"]]]), "REML")
            assert ours[0] >= theirs[0]
            assert s.tau2 == pytest.approx(r["tau2"], rel=1e-3)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(("method", "key"), [("IV", "fe"), ("REML", "reml")])
def test_design_by_treatment_matches_metafor_wald_test(case: dict, method: str, key: str) -> None:
    test, ref = design_by_treatment(_fit(case, method)), case["design_by_treatment"][key]
    assert test.df == ref["df"]
    assert test.q == pytest.approx(ref["q"], rel=EXACT if method == "IV" else 1e-5)
    assert test.pvalue == pytest.approx(ref["pvalue"], rel=EXACT if method == "IV" else 1e-5)
    if method == "REML":
        assert _tau2_ok(test.tau2, ref["tau2"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_p_scores_from_metafor_estimates(case: dict) -> None:
    """Rücker & Schwarzer 2015's formula, evaluated in R on metafor's estimates and covariance."""
    for method, key in (("IV", "fe"), ("REML", "reml")):
        ours = ranking(_fit(case, method))
        for t, p in case[key]["pscore"].items():
            assert ours[t]["p_score"] == pytest.approx(p, rel=1e-9 if method == "IV" else 1e-5,
                                                       abs=1e-12)


def test_multilevel_model_matches_metafor() -> None:
    """rma.mv(yi, vi, random = ~ 1 | district/school) on dat.konstantopoulos2011 (56 schools
    in 11 districts): σ² of both levels, the pooled effect, its SE and the log-likelihood."""
    d = pd.DataFrame(REF["multilevel"]["data"])
    for ref in REF["multilevel"]["fits"]:
        fit = multilevel(d.yi, d.vi, d.district, method=ref["method"])
        assert fit.theta[0] == pytest.approx(ref["sigma2"], rel=1e-5)
        assert fit.beta[0, 0] == pytest.approx(ref["beta"], rel=1e-6)
        assert fit.se[0, 0] == pytest.approx(ref["se"], rel=1e-5)
        assert fit.loglik[0] >= ref["loglik"] - 1e-9
    # two copies of the data as two analyses of one batch: each fit as alone
    both = multilevel(np.r_[d.yi, d.yi], np.r_[d.vi, d.vi], np.r_[d.district, d.district],
                      np.r_[np.zeros(len(d), int), np.ones(len(d), int)], method="REML")
    np.testing.assert_allclose(both.theta[0], both.theta[1], rtol=1e-9)
    assert both.theta[0] == pytest.approx(REF["multilevel"]["fits"][0]["sigma2"], rel=1e-5)


def test_many_networks_in_one_batch_equal_one_at_a_time() -> None:
    """The batch kernel: fitting every network together gives each one's own fit."""
    datas = [network_from_frame(pd.DataFrame(c["arms"]), c["measure"]) for c in CASES]
    refs = [d.treatments.index(c["reference"]) for d, c in zip(datas, CASES, strict=True)]
    together = fit_networks(datas, refs, "REML")
    for d, r, fit in zip(datas, refs, together, strict=True):
        alone = fit_networks([d], [r], "REML")[0]
        assert fit.tau2 == pytest.approx(alone.tau2, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(fit.d, alone.d, rtol=1e-9, atol=1e-12)


# Printed netmeta output for its Senn2013 data (TE to 2 decimals, seTE to 4, as the printed rows
# show), from https://cttir.github.io/courses/course3_design_causal/labs/lab_week4_session3_slides.html
# ("Q statistics to assess homogeneity / consistency": Total 96.99 on 18 df, Within designs 74.46 on
# 11, Between designs 22.53 on 7, p = 0.0021) and its first rows: DeFronzo1995 metf-plac -1.90
# (0.1414), Lewin2007 -0.82 (0.0992), Willms1999 metf-acar -0.20 (0.3579), Davidson2007 rosi-plac
# -1.34 (0.1435), Wolffenbuttel1999 -1.10 (0.1141), Kipnes2001 piog-plac -1.30 (0.1268).
NETMETA_ROWS = [("De Fronzo (1995)", "metformin", "placebo", -1.90, 0.1414),
                ("Lewin (2007)", "metformin", "placebo", -0.82, 0.0992),
                ("Willms (1999)", "metformin", "acarbose", -0.20, 0.3579),
                ("Davidson (2007)", "rosiglitazone", "placebo", -1.34, 0.1435),
                ("Wolffenbuttel (1999)", "rosiglitazone", "placebo", -1.10, 0.1141),
                ("Kipnes (2001)", "pioglitazone", "placebo", -1.30, 0.1268)]


def _senn_contrasts() -> pd.DataFrame:
    arms = pd.DataFrame(next(c for c in CASES if c["name"] == "senn2013_MD")["arms"])
    rows = []
    for study, g in arms.groupby("study", sort=False):
        g = g.reset_index(drop=True)
        for i in range(len(g)):
            for j in range(i + 1, len(g)):
                se = np.sqrt(g.sd[i] ** 2 / g.n[i] + g.sd[j] ** 2 / g.n[j])
                rows.append({"study": study, "treatment1": g.treatment[i],
                             "treatment2": g.treatment[j],
                             "yi": round(g["mean"][i] - g["mean"][j], 2), "se": round(se, 4)})
    return pd.DataFrame(rows)


def test_q_decomposition_matches_netmeta_print() -> None:
    from trialsynth.nma.analysis import analyse_network

    frame = _senn_contrasts()
    got = {(r.study, r.treatment1, r.treatment2): (r.yi, r.se) for r in frame.itertuples()}
    for study, t1, t2, te, se in NETMETA_ROWS:  # the same input as netmeta's data set
        assert got[(study, t1, t2)] == pytest.approx((te, se), abs=1e-12)
    res = analyse_network(network_from_frame(frame, "MD"), "placebo", "IV").to_dict()
    dbt = res["inconsistency"]["design_by_treatment"]
    assert (round(res["q"], 2), res["q_df"]) == (96.99, 18)
    assert (round(dbt["q_within_designs"], 2), dbt["df_within_designs"]) == (74.46, 11)
    assert (round(dbt["q"], 2), dbt["df"], round(dbt["pvalue"], 4)) == (22.53, 7, 0.0021)
