"""The report's network meta-analysis section (pure data plus figure jobs).

For every outcome and time window of the review (:func:`trialsynth.nma.review.candidate_networks`)
the section says whether the data support a network and, when they do, gives the network graph,
the forest plot against the reference, the league table, the inconsistency display, P-scores and
the confidence (CINeMA-style) of every network estimate with its reasons; where they do not, why.
Networks sharing a method are fitted in one batch. Its methods paragraph and references are its
own, so the section is a self-contained addition to the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trialsynth._json import json_safe
from trialsynth.nma.analysis import NmaResult, analyse_networks
from trialsynth.nma.certainty import DOMAINS, Inputs
from trialsynth.nma.review import CandidateNetwork, candidate_networks, rob_levels

FIGURES = ("graph", "forest", "league", "inconsistency")
DOMAIN_WORDS = {"within_study_bias": "Within-study bias", "reporting_bias": "Reporting bias",
                "indirectness": "Indirectness", "imprecision": "Imprecision",
                "heterogeneity": "Heterogeneity", "incoherence": "Incoherence"}
REFERENCES = (
    "Salanti G. Indirect and mixed-treatment comparison, network, or multiple-treatments "
    "meta-analysis. Res Synth Methods 2012;3:80-97.",
    "Rücker G. Network meta-analysis, electrical networks and graph theory. Res Synth Methods "
    "2012;3:312-24.",
    "Jackson D, White IR, Riley RD. Quantifying the impact of between-study heterogeneity in "
    "multivariate meta-analyses. Stat Med 2012;31:3805-20.",
    "Viechtbauer W. Conducting meta-analyses in R with the metafor package. J Stat Softw "
    "2010;36(3):1-48.",
    "Higgins JPT, Jackson D, Barrett JK, Lu G, Ades AE, White IR. Consistency and inconsistency "
    "in network meta-analysis: concepts and models for multi-arm studies. Res Synth Methods "
    "2012;3:98-110.",
    "Dias S, Welton NJ, Caldwell DM, Ades AE. Checking consistency in mixed treatment comparison "
    "meta-analysis. Stat Med 2010;29:932-44.",
    "Rücker G, Schwarzer G. Ranking treatments in frequentist network meta-analysis works without "
    "resampling methods. BMC Med Res Methodol 2015;15:58.",
    "Papakonstantinou T, Nikolakopoulou A, Rücker G, et al. Estimating the contribution of "
    "studies in network meta-analysis: paths, flows and streams. F1000Research 2018;7:610.",
    "Nikolakopoulou A, Higgins JPT, Papakonstantinou T, et al. CINeMA: an approach for assessing "
    "confidence in the results of a network meta-analysis. PLoS Med 2020;17:e1003082.",
)


@dataclass(slots=True)
class NetworkSection:
    """What the report adds: results.json ``networks``, figure jobs, CSV tables."""

    results: dict[str, Any] = field(default_factory=dict)
    jobs: list[tuple[Any, ...]] = field(default_factory=list)  # (kind, key, path, result, title)
    tables: dict[str, str] = field(default_factory=dict)


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-" else "_" for ch in text)[:60]


def _fmt(x: float | None, ratio: bool) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{math.exp(x):.2f}" if ratio else f"{x:.2f}"


def _estimate_rows(res: NmaResult, show_pi: bool = True) -> list[dict[str, Any]]:
    """One row per network estimate: effect (display scale), confidence and its reasons."""
    fit = res.fit
    ratio = fit.data.measure in ("OR", "RR")
    rows = []
    for c in res.certainty:
        x = fit.interval(fit.treatments.index(c.treatment), fit.treatments.index(c.comparator))
        value, low, high = ((math.exp(x[k]) if ratio else x[k]) for k in ("estimate", "ci_low",
                                                                             "ci_high"))
        rows.append({
            "treatment": c.treatment, "comparator": c.comparator, "evidence": c.evidence,
            "scale": fit.data.measure, "value": value, "low": low, "high": high,
            "estimate": _fmt(x["estimate"], ratio),
            "ci": f"{_fmt(x['ci_low'], ratio)} to {_fmt(x['ci_high'], ratio)}",
            "pi": None if x["pi_low"] is None or not show_pi else
            f"{_fmt(x['pi_low'], ratio)} to {_fmt(x['pi_high'], ratio)}",
            "level": c.level,
            "domains": [{"domain": d, "name": DOMAIN_WORDS[d],
                         "judgement": c.domains[d].judgement.replace("_", " "),
                         "downgrade": c.domains[d].downgrade,
                         "reasons": list(c.domains[d].reasons)} for d in DOMAINS],
            "against_reference": c.comparator == fit.treatments[fit.reference]})
    rows.sort(key=lambda r: (not r["against_reference"], r["treatment"], r["comparator"]))
    return rows


def _summary(cand: CandidateNetwork, res: NmaResult) -> list[str]:
    """Plain sentences: size, heterogeneity, coherence, ranking, what the network can say."""
    fit, d = res.fit, res.to_dict()
    out = [f"{len(fit.data.studies)} studies ({sum(len(s.arms) > 2 for s in fit.data.studies)} "
           f"with more than two arms) compare {len(fit.treatments)} treatments; "
           f"{'random' if fit.random else 'common'}-effect{'s' if fit.random else ''} model "
           f"({fit.method}), reference {fit.treatments[fit.reference]}."]
    if fit.q_df > 0:
        out.append(f"Heterogeneity: tau² = {'-' if fit.tau2 is None else f'{fit.tau2:.3g}'}, "
                   f"Q = {fit.q:.2f} on {fit.q_df} df (p = {fit.q_pvalue:.3f}), "
                   f"I² = {fit.i2:.0f}%.")
    else:
        out.append("Every comparison rests on a single path of single studies: heterogeneity "
                   "cannot be estimated (tau² not estimable; the random-effects and "
                   "common-effect results coincide).")
    dbt = res.design_by_treatment
    if dbt.q is None:
        out.append("The network has no closed loop of independent evidence, so no estimate can "
                   "be checked for coherence: comparisons between the drugs rest on indirect "
                   "evidence through the common comparator alone, and their confidence is "
                   "limited accordingly.")
    else:
        out.append(f"Design-by-treatment interaction test: Q = {dbt.q:.2f} on {dbt.df} df "
                   f"(p = {dbt.pvalue:.3f}); {len(res.node_splits)} comparison(s) could be split "
                   "into direct and indirect evidence.")
    best = max(d["ranking"], key=lambda t: d["ranking"][t]["p_score"])
    out.append(f"Highest P-score: {best} ({d['ranking'][best]['p_score']:.2f}); P-scores rank "
               "by point estimates and precision only and say nothing about the size or "
               "certainty of differences.")
    indirect = sum(c.evidence == "indirect only" for c in res.certainty)
    if indirect:
        out.append(f"{indirect} of {len(res.certainty)} network estimates have no direct "
                   "evidence at all.")
    return out


def build_network_section(folder: Any) -> NetworkSection:
    """The section for a review folder (:class:`trialsynth.readers.folder.ReviewFolder`)."""
    protocol, review = folder.protocol, folder.review
    cands = candidate_networks(protocol, review, rob_levels(folder, review))
    fitted: dict[str, NmaResult] = {}
    for method in sorted({c.method for c in cands if c.data is not None}):
        group = [c for c in cands if c.data is not None and c.method == method]
        results = analyse_networks(
            [c.data for c in group], [c.reference for c in group], method,
            small_values=[c.small_values for c in group],  # type: ignore[misc]
            inputs=[Inputs(rob=c.rob, indirect=c.indirect,
                           indirectness_assessed=c.indirectness_assessed, mid=c.mid,
                           benefit="lower" if c.small_values == "desirable" else "higher",
                           show_prediction_interval=c.prediction_interval)
                    for c in group])
        for c, r in zip(group, results, strict=True):
            fitted[c.key] = r
    sec = NetworkSection()
    items, csv_rows = [], []
    for c in cands:
        item = _item(c, fitted.get(c.key), sec)
        items.append(item)
        for row in item.get("estimates") or []:
            csv_rows.append({"network": c.key, **{k: row[k] for k in (
                "treatment", "comparator", "scale", "value", "low", "high", "evidence", "level")},
                **{d["domain"]: d["judgement"] for d in row["domains"]}})
    sec.results = {"networks": json_safe(items), "methods": _methods(items),
                   "references": list(REFERENCES)}
    sec.tables["tables/network_estimates.csv"] = _csv(csv_rows)
    return sec


def _item(c: CandidateNetwork, res: NmaResult | None, sec: NetworkSection) -> dict[str, Any]:
    item: dict[str, Any] = {
        "key": c.key, "title": c.title, "outcome": c.outcome, "window": c.window,
        "analyses": list(c.analyses), "measure": c.measure, "method": c.method,
        "status": "analysed" if res is not None else "not analysed", "reason": c.reason,
        "notes": list(c.notes), "inferred": list(c.inferred),
        "components": [list(x) for x in c.components], "figures": {}, "estimates": None,
        "result": None, "summary": []}
    if res is None:
        return item
    item["result"] = res.to_dict()
    item["estimates"] = _estimate_rows(res, c.prediction_interval)
    item["prediction_interval"] = c.prediction_interval
    item["summary"] = _summary(c, res)
    item["reference"] = res.fit.treatments[res.fit.reference]
    item["small_values"] = res.small_values
    for kind in FIGURES:
        if kind == "inconsistency" and not res.node_splits and res.design_by_treatment.q is None:
            continue  # nothing to show: the text says why
        path = f"figures/network_{_safe(c.key)}_{kind}.svg"
        item["figures"][kind] = path
        sec.jobs.append(("network", f"{c.key}:{kind}", path, kind, res, c.title, item["reference"],
                         res.small_values, c.prediction_interval))
    return item


def _methods(items: list[Mapping[str, Any]]) -> list[str]:
    done = [i for i in items if i["status"] == "analysed"]
    if not done:
        return ["No outcome and time window has three or more treatments connected by the "
                "trials, so no network meta-analysis was run."]
    return [
        "For each outcome and time window, the review's pairwise comparisons were combined into "
        "a network when their comparisons name both treatments and they share a measure (mean "
        "differences only on a scale the review declares common). Studies in several comparisons "
        "enter as multi-arm studies; a comparator the review does not name is placed only where "
        "its arm data are identical to a named arm of the same study (marked inferred).",
        "Network estimates come from the multivariate consistency model with the within-study "
        "covariance of multi-arm studies [1, 4], fitted by the review's method: DerSimonian-Laird "
        "as generalised to networks by Jackson et al. and implemented in netmeta [2, 3], REML, or "
        "common effect; it reproduces R metafor rma.mv. Heterogeneity: one tau² for every "
        "comparison. Inconsistency: the design-by-treatment interaction test [5] and node "
        "splitting [6]. Ranking: P-scores [7].",
        "Confidence in every network estimate follows CINeMA [9]: within-study bias and "
        "indirectness from the studies' contributions to the estimate [8], reporting bias, "
        "imprecision and heterogeneity against the minimal important difference (or the null), "
        "and incoherence; some concerns rate down one level, major concerns two.",
    ]


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    fields = ["network", "treatment", "comparator", "scale", "value", "low", "high", "evidence",
              "level", *DOMAINS]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v)
                    for k, v in r.items()})
    return buf.getvalue()
