"""Confidence in network estimates, CINeMA-style (Nikolakopoulou et al. 2020, PLoS Med
17:e1003082; Papakonstantinou et al. 2020, Campbell Syst Rev 16:e1080 for the software).

Six domains per network estimate (every pair of treatments), each judged "no concerns" (0),
"some concerns" (−1) or "major concerns" (−2) with its reasons and numbers; the confidence starts at
high and goes down by the sum (very low at most), as the pairwise GRADE does
(:mod:`trialsynth.assess.certainty.grade`). Every threshold is a named :class:`Rule` in :data:`NMA_RULES`.

* within-study bias: the study contributions of the estimate (:mod:`trialsynth.nma.contribution`)
  weight the studies' risk-of-bias levels (low 1, some concerns 2, high 3); CINeMA's "average"
  rule: the weighted mean, rounded (Nikolakopoulou 2020, "Within-study bias").
* reporting bias: small-study effects can be tested only where a direct comparison contributing
  to the estimate has at least 10 studies (Core GRADE 4 Fig 5; Handbook 5.1 §10.4.3.1): Egger's
  test there; otherwise "undetected, not assessable" with the reason.
* indirectness: as within-study bias, with the studies the reviewer flagged as indirect (level 3).
* imprecision: the 95% CI against the range of equivalence (±MID, or the null): crossing neither
  boundary no concerns, one some concerns, both major concerns (CINeMA "Imprecision").
* heterogeneity: the boundaries the 95% prediction interval crosses beyond those the CI crosses:
  none, one, two (CINeMA "Heterogeneity").
* incoherence: mixed estimates by the node-splitting test of their comparison and whether direct
  and indirect estimates fall on different sides of a boundary; estimates without a local test by
  the design-by-treatment test (CINeMA "Incoherence").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trialsynth.assess.certainty.grade import make_threshold
from trialsynth.assess.rules import CONVENTION, Rule
from trialsynth.nma.contribution import Contributions
from trialsynth.nma.inconsistency import DesignByTreatment, NodeSplit
from trialsynth.nma.model import NetworkFit

DOMAINS = ("within_study_bias", "reporting_bias", "indirectness", "imprecision", "heterogeneity",
           "incoherence")
JUDGEMENTS = ("no_concerns", "some_concerns", "major_concerns")
LEVELS = ("very_low", "low", "moderate", "high")
ROB_SCORE = {"low": 1.0, "some_concerns": 2.0, "high": 3.0}
_ROB_WORDS = {"low": "low", "low risk": "low", "some concerns": "some_concerns",
              "some_concerns": "some_concerns", "unclear": "some_concerns",
              "unclear risk": "some_concerns", "high": "high", "high risk": "high"}

NMA_RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("cinema.average_some", 1.5, "mean RoB level (low 1, some 2, high 3)",
         "Nikolakopoulou 2020 (CINeMA 'average risk of bias' over the contribution matrix)",
         f"{CONVENTION}: the weighted mean rounded to the nearest level"),
    Rule("cinema.average_major", 2.5, "mean RoB level", "as cinema.average_some",
         f"{CONVENTION}: the weighted mean rounded to the nearest level"),
    Rule("cinema.unjudged_as_some", True, "flag", "trialsynth.assess.rules "
         "rob.unassessed_as_not_low", f"{CONVENTION}: when some studies are judged, an unjudged "
         "study counts as some concerns"),
    Rule("cinema.reporting_min_k", 10, "studies in a direct comparison",
         "Core GRADE 4 Fig 5 (>= 10 studies); Handbook 5.1 §10.4.3.1"),
    Rule("cinema.reporting_p", 0.10, "Egger test p-value",
         "Egger et al. 1997, BMJ 315:629 (p < 0.10 as evidence of asymmetry)"),
    Rule("cinema.incoherence_p_major", 0.05, "node-splitting p-value",
         "Nikolakopoulou 2020 ('Incoherence': test p-value and the clinical conclusions of "
         "direct and indirect estimates)", f"{CONVENTION}: major when p < 0.05 and direct and "
         "indirect point estimates fall on different sides of a boundary"),
    Rule("cinema.incoherence_p_some", 0.10, "node-splitting or design-by-treatment p-value",
         "Nikolakopoulou 2020 ('Incoherence')", f"{CONVENTION}: some concerns below this p"),
    Rule("cinema.downgrade", (0, 1, 2), "levels for no / some / major concerns",
         "Nikolakopoulou 2020 (summary across domains)", f"{CONVENTION}: one level per 'some', "
         "two per 'major' concerns, as GRADE"),
)}


def rule(name: str) -> Any:
    return NMA_RULES[name].value


@dataclass(frozen=True, slots=True)
class Judgement:
    domain: str
    judgement: str
    reasons: tuple[str, ...]
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def downgrade(self) -> int:
        return int(rule("cinema.downgrade")[JUDGEMENTS.index(self.judgement)])

    def to_dict(self) -> dict[str, Any]:
        return {"judgement": self.judgement, "downgrade": self.downgrade,
                "reasons": list(self.reasons), "numbers": dict(self.numbers)}


@dataclass(frozen=True, slots=True)
class EstimateCertainty:
    treatment: str
    comparator: str
    evidence: str  # "mixed", "direct only", "indirect only"
    level: str
    domains: dict[str, Judgement]

    def to_dict(self) -> dict[str, Any]:
        return {"comparison": f"{self.treatment} vs {self.comparator}", "evidence": self.evidence,
                "level": self.level, "downgrades": sum(j.downgrade for j in self.domains.values()),
                "domains": {d: j.to_dict() for d, j in self.domains.items()}}


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the data cannot say: study RoB levels, indirect studies, the MID (``mid`` on the
    analysis scale; ratio measures: a relative change, as :func:`make_threshold`), the direction of
    benefit, and whether unpublished studies are documented."""

    rob: Mapping[str, str | None] = field(default_factory=dict)
    indirect: Mapping[str, bool] = field(default_factory=dict)
    indirectness_assessed: bool = False
    mid: float | None = None
    benefit: str = "lower"
    unpublished: bool = False
    show_prediction_interval: bool = True  # False: the review declines showing them


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def rob_level_from_word(name: str | None) -> str | None:
    return None if name is None else _ROB_WORDS.get(str(name).strip().lower().replace("_", " "),
                                                     _ROB_WORDS.get(str(name).strip().lower()))


def _averaged(domain: str, shares: np.ndarray, levels: Sequence[str | None], label: str
              ) -> Judgement:
    """CINeMA's 'average' rule over the study contributions (within-study bias, indirectness)."""
    judged = [lv is not None for lv in levels]
    if not any(judged):
        return Judgement(domain, "no_concerns", (f"not assessed: no study has a {label} "
                                                 "judgement (not rated down)",),
                         {"assessed": False})
    fill = "some_concerns" if rule("cinema.unjudged_as_some") else None
    lv = [x if x is not None else fill for x in levels]
    mass = {k: float(sum(s for s, x in zip(shares, lv, strict=True) if x == k))
            for k in ROB_SCORE}
    total = sum(mass.values())
    mean = sum(ROB_SCORE[k] * m for k, m in mass.items()) / total if total > 0 else 1.0
    j = ("no_concerns" if mean < rule("cinema.average_some") else "some_concerns"
         if mean < rule("cinema.average_major") else "major_concerns")
    words = {"low": "low", "some_concerns": "some concerns", "high": "high"}
    dist = ", ".join(f"{_pct(mass[k] / total)} {words[k]}" for k in ROB_SCORE if mass[k] > 0)
    unjudged = sum(1 for x in judged if not x)
    note = f"; {unjudged} stud{'y' if unjudged == 1 else 'ies'} without a judgement counted as " \
        "some concerns" if unjudged and fill else ""
    return Judgement(domain, j, (f"contribution-weighted {label}: {dist} (mean level "
                                 f"{mean:.2f} of 1-3){note}",),
                     {"shares": {k: mass[k] / total for k in ROB_SCORE}, "mean": mean,
                      "assessed": True})


def _crossings(lo: float, hi: float, lower: float, upper: float) -> int:
    """Boundaries of the range of equivalence strictly inside [lo, hi] (0, 1 or 2)."""
    if lower == upper:
        return int(lo < lower < hi)
    return int(lo < lower < hi) + int(lo < upper < hi)


def _side(y: float, lower: float, upper: float) -> int:
    return -1 if y < lower else (1 if y > upper else 0)


def _bounds(fit: NetworkFit, inputs: Inputs) -> tuple[float, float, str]:
    measure = fit.data.measure
    benefit = "higher" if inputs.benefit == "higher" else "lower"
    mid = inputs.mid
    if mid is None and measure in ("OR", "RR"):
        mid = 0.25  # GRADE 6 appreciable RR 0.75 / 1.25 (rule imprecision.ratio_appreciable)
    thr = make_threshold(measure if measure != "GENERIC" else "MD", mid, benefit)
    if thr.kind == "null":
        return 0.0, 0.0, "the null (no minimal important difference given)"
    scale = (f"RR/OR {math.exp(thr.lower):.2f} and {math.exp(thr.upper):.2f}"
             if measure in ("OR", "RR") else f"{thr.lower:g} and {thr.upper:g}")
    return thr.lower, thr.upper, f"the range of equivalence {scale}"


def within_study_bias(shares: np.ndarray, studies: Sequence[str], inputs: Inputs) -> Judgement:
    """CINeMA within-study bias: RoB levels weighted by the study contributions."""
    levels = [rob_level_from_word(inputs.rob.get(s)) for s in studies]
    return _averaged("within_study_bias", shares, levels, "risk of bias")


def indirectness(shares: np.ndarray, studies: Sequence[str], inputs: Inputs) -> Judgement:
    """CINeMA indirectness: the share of the estimate from studies judged indirect."""
    if not inputs.indirectness_assessed and not inputs.indirect:
        return Judgement("indirectness", "no_concerns", (
            "not assessed: the review states no study-level indirectness judgements (not rated "
            "down)",), {"assessed": False})
    levels = ["high" if inputs.indirect.get(s) else "low" for s in studies]
    j = _averaged("indirectness", shares, levels, "indirectness (flagged studies as high)")
    return j


def reporting_bias(fit: NetworkFit, con: Contributions, row: int, inputs: Inputs) -> Judgement:
    """Egger's test on any contributing direct comparison with enough studies, else undetected."""
    if inputs.unpublished:
        return Judgement("reporting_bias", "some_concerns", (
            "suspected: the review documents unpublished studies (Core GRADE 4 Fig 5 Q4)",))
    k_min = rule("cinema.reporting_min_k")
    tested, flagged = [], []
    for j, e in enumerate(con.edges):
        if con.matrix[row, j] <= 0 or len(con.edge_studies[j]) < k_min:
            continue
        p = _egger(fit, e, con.edge_studies[j])
        if p is None:
            continue
        name = f"{fit.treatments[e[1]]} vs {fit.treatments[e[0]]}"
        tested.append(f"{name} (Egger p = {p:.3f})")
        if p < rule("cinema.reporting_p"):
            flagged.append(name)
    if flagged:
        return Judgement("reporting_bias", "some_concerns", (
            f"suspected: funnel-plot asymmetry in {', '.join(flagged)}",), {"tested": tested})
    if tested:
        return Judgement("reporting_bias", "no_concerns", (
            f"undetected: no funnel-plot asymmetry in {', '.join(tested)}",), {"tested": tested})
    return Judgement("reporting_bias", "no_concerns", (
        f"undetected, not assessable: no contributing direct comparison has {k_min} or more "
        "studies for a funnel-plot test (Core GRADE 4)",), {"tested": []})


def _egger(fit: NetworkFit, edge: tuple[int, int], studies: Sequence[int]) -> float | None:
    """Egger's regression test (Egger et al. 1997, BMJ 315:629): y/se on 1/se, intercept = 0,
    over the two-arm studies of one direct comparison (their contrast u − v)."""
    from trialsynth._dist import t_sf

    ys, ses = [], []
    for si in studies:
        s = fit.data.studies[si]
        if len(s.arms) != 2:
            continue
        sign = 1.0 if s.arms[1] == edge[1] else -1.0
        ys.append(sign * float(s.y[0]))
        ses.append(float(np.sqrt(s.v[0, 0])))
    k = len(ys)
    if k < rule("cinema.reporting_min_k"):
        return None
    y, se = np.array(ys), np.array(ses)
    x = np.column_stack([np.ones(k), 1 / se])
    beta, *_ = np.linalg.lstsq(x, y / se, rcond=None)
    resid = y / se - x @ beta
    s2 = float(resid @ resid) / (k - 2)
    cov = s2 * np.linalg.inv(x.T @ x)
    tstat = beta[0] / np.sqrt(cov[0, 0])
    return float(2 * t_sf(abs(tstat), k - 2))


def imprecision(est: Mapping[str, Any], bounds: tuple[float, float, str]) -> Judgement:
    lower, upper, what = bounds
    lo, hi = est["ci_low"], est["ci_high"]
    n = _crossings(lo, hi, lower, upper)
    text = ("the 95% CI lies within one zone of " + what if n == 0 else
            f"the 95% CI crosses {'one boundary' if n == 1 else 'both boundaries'} of {what}"
            if lower != upper else f"the 95% CI includes {what}")
    return Judgement("imprecision", JUDGEMENTS[n], (text,), {"crossings": n, "ci": [lo, hi]})


def heterogeneity(fit: NetworkFit, est: Mapping[str, Any], bounds: tuple[float, float, str],
                  show: bool = True) -> Judgement:
    lower, upper, what = bounds
    if not fit.random:
        why = ("common-effect model" if fit.method == "IV" else
               "no degrees of freedom for heterogeneity")
        return Judgement("heterogeneity", "no_concerns", (
            f"not assessable ({why}): no prediction interval (not rated down)",),
            {"assessed": False})
    if est.get("pi_low") is None:
        return Judgement("heterogeneity", "no_concerns", (
            "not assessable: no prediction interval (not rated down)",), {"assessed": False})
    ci = _crossings(est["ci_low"], est["ci_high"], lower, upper)
    pi = _crossings(est["pi_low"], est["pi_high"], lower, upper)
    extra = max(0, pi - ci)
    where = (f"the 95% prediction interval ({est['pi_low']:.3g} to {est['pi_high']:.3g}, "
             f"tau² = {fit.tau2:.3g})" if show else
             f"the prediction interval (tau² = {fit.tau2:.3g}; not shown, as the review "
             "declines prediction intervals)")
    text = (f"{where} crosses {extra} boundar{'y' if extra == 1 else 'ies'} of {what} beyond "
            "those the CI crosses")
    return Judgement("heterogeneity", JUDGEMENTS[min(extra, 2)], (text,),
                     {"pi": [est["pi_low"], est["pi_high"]], "extra_crossings": extra,
                      "tau2": fit.tau2})


def incoherence(split: NodeSplit | None, dbt: DesignByTreatment,
                bounds: tuple[float, float, str]) -> Judgement:
    lower, upper, _ = bounds
    if split is not None:
        p = split.pvalue
        apart = _side(split.direct, lower, upper) != _side(split.indirect, lower, upper)
        nums = {"node_split_p": p, "direct": split.direct, "indirect": split.indirect}
        where = (f"direct {split.direct:.3g} vs indirect {split.indirect:.3g} (node splitting "
                 f"p = {p:.3f})")
        if p < rule("cinema.incoherence_p_major") and apart:
            return Judgement("incoherence", "major_concerns", (
                f"{where}: they differ and lead to different conclusions",), nums)
        if p < rule("cinema.incoherence_p_some"):
            return Judgement("incoherence", "some_concerns", (f"{where}: they differ",), nums)
        return Judgement("incoherence", "no_concerns", (f"{where}: no evidence that they "
                                                        "differ",), nums)
    if dbt.q is None:
        return Judgement("incoherence", "no_concerns", (
            "not assessable: the network has no closed loop, so direct and indirect evidence "
            "cannot be compared (not rated down)",), {"assessed": False})
    nums = {"design_by_treatment_p": dbt.pvalue}
    if dbt.pvalue is not None and dbt.pvalue < rule("cinema.incoherence_p_some"):
        return Judgement("incoherence", "some_concerns", (
            f"no local test for this estimate; the design-by-treatment test suggests incoherence "
            f"in the network (Q = {dbt.q:.2f}, df {dbt.df}, p = {dbt.pvalue:.3f})",), nums)
    return Judgement("incoherence", "no_concerns", (
        f"no local test for this estimate; the design-by-treatment test shows no incoherence "
        f"(Q = {dbt.q:.2f}, df {dbt.df}, p = {dbt.pvalue:.3f})",), nums)


def assess_network(fit: NetworkFit, con: Contributions, splits: Sequence[NodeSplit],
                   dbt: DesignByTreatment, inputs: Inputs) -> list[EstimateCertainty]:
    """CINeMA judgements for every network estimate: each pair once, against the reference
    when it is one of the two, else the later treatment against the earlier one."""
    bounds = _bounds(fit, inputs)
    by_pair = {}
    for s in splits:
        i, j = fit.treatments.index(s.treatment), fit.treatments.index(s.comparator)
        by_pair[(min(i, j), max(i, j))] = s
    direct = set(con.edges)
    out = []
    for row, (a, b) in enumerate(con.pairs):
        tr, cp = (a, b) if b == fit.reference else (b, a)  # against the reference if in it
        est = fit.interval(tr, cp)
        shares = con.study_matrix[row]
        has_direct = (a, b) in direct
        evidence = ("mixed" if (a, b) in by_pair else "direct only" if has_direct and
                    con.matrix[row, con.edges.index((a, b))] > 1 - 1e-9 else
                    "indirect only" if not has_direct else "mixed")
        domains = {
            "within_study_bias": within_study_bias(shares, con.studies, inputs),
            "reporting_bias": reporting_bias(fit, con, row, inputs),
            "indirectness": indirectness(shares, con.studies, inputs),
            "imprecision": imprecision(est, bounds),
            "heterogeneity": heterogeneity(fit, est, bounds, inputs.show_prediction_interval),
            "incoherence": incoherence(by_pair.get((a, b)), dbt, bounds),
        }
        total = sum(j.downgrade for j in domains.values())
        level = LEVELS[max(0, 3 - total)]
        out.append(EstimateCertainty(fit.treatments[tr], fit.treatments[cp], evidence, level,
                                     domains))
    return out
