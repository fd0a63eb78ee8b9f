"""GRADE certainty per analysis: five downgrading domains, each a small function.

Randomised evidence starts at high (Handbook v6 ch. 14); each domain proposes 0, −1 or −2
(−3 allowed for imprecision, GRADE 34/35); ``certainty = max(very low, high − Σ downgrades)``
(METHODS §4.1). Each proposal records the numbers it used; a reviewer override needs a rationale
and keeps proposed and final values (METHODS §8.4). Thresholds: :mod:`trialsynth.assess.rules`;
flowcharts: Core GRADE 2–5 as transcribed in METHODS §4.2–§4.6.

Scale: ``mid`` is in the units of the analysis for MD, SMD, RD and GENERIC; for RR/OR/PETO_OR it
is a relative change, so the thresholds are RR 1 − mid and 1 + mid (GRADE 6: 0.75 / 1.25 for
mid = 0.25). ``direction_of_benefit`` says whether ``"lower"`` or ``"higher"`` values of the
effect favour the intervention (pain MD: "lower"; RR of an adverse event: "lower").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from trialsynth._json import finite
from trialsynth._words import count
from trialsynth.assess.bias.small_study import (
    SmallStudyTest,
    egger_test_from_result,
    harbord_test,
    peters_test_from_counts,
)
from trialsynth.assess.certainty.imprecision import imprecision, optimal_information_size
from trialsynth.assess.certainty.inconsistency import inconsistency
from trialsynth.assess.certainty.judgement import (
    DOMAINS,
    LEVELS,
    NO_FLAGS,
    Benefit,
    Certainty,
    DomainJudgement,
    Flags,
    Level,
    OutcomeType,
    Override,
    Threshold,
    included,
    judge,
    make_threshold,
    pct,
)
from trialsynth.assess.rules import DEFAULT_RULES, RuleSet
from trialsynth.pooling.batch import pool_arrays
from trialsynth.pooling.result import PooledResult
from trialsynth.registry.measures import measures_of_type

__all__ = ["DOMAINS", "LEVELS", "Benefit", "Certainty", "DomainJudgement", "Flags", "Level",
           "OutcomeType", "Override", "Threshold", "assess", "imprecision", "inconsistency",
           "indirectness", "make_threshold", "optimal_information_size", "publication_bias",
           "risk_of_bias"]

BINARY_MEASURES = measures_of_type("dichotomous")  # trialsynth.registry
Counts = Mapping[str, Sequence[float]] | pd.DataFrame
_ROB = {"low": "low", "low risk": "low", "some concerns": "some_concerns", "high": "high",
        "some_concerns": "some_concerns", "unclear": "some_concerns", "high risk": "high"}
# RevMan wording accepted; RoB 1 "unclear" reads as "some concerns" (as review.rob does)
_pct, _judge, _included = pct, judge, included


def _subset_estimate(result: PooledResult, idx: list[int]) -> float | None:
    """Pooled estimate of a subset of studies, same τ² method (IV for common-effect analyses)."""
    rows = [result.studies[i] for i in idx]
    if len(rows) < 2:
        return rows[0].yi if rows else None
    # the batch kernel on the studies' own effects (a batch of one analysis), as trialsynth.pool
    # would pool them with metafor's conventions; the τ² interval is not needed
    cols = {"yi": np.array([s.yi for s in rows], dtype=float),
            "se": np.array([s.se for s in rows], dtype=float)}
    method = "IV" if result.model == "common" or result.method == "MH_RANDOM" else result.method
    est = float(pool_arrays("GENERIC", method, cols, np.zeros(len(rows), dtype=np.intp), 1,
                            tau2_ci=False).estimate[0])
    return finite(est)


def risk_of_bias(result: PooledResult, rob: Sequence[str | None] | None, threshold: Threshold, *,
                 flags: Flags = NO_FLAGS, rules: RuleSet = DEFAULT_RULES,
                 complete: Sequence[bool] | None = None) -> DomainJudgement:
    """Core GRADE 4 Fig 2: weight share of studies not at low risk of bias (METHODS §4.2).

    ``complete``: per study, whether its judgement covers every domain (or is an overall
    judgement). A 'low' from only some domains is not an overall low (RoB 2, Sterne 2019): it
    counts as some concerns (rule ``rob.incomplete_low_as_unclear``). Weight without any
    judgement counts as not low (rule ``rob.unassessed_as_not_low``). With no judgement at all
    (``rob=None``) the domain is rated down ``rob.not_assessed_downgrade`` levels and the rating
    is provisional: a rating cannot rest on a domain nobody assessed.
    """
    if rob is None:
        return _rob_not_assessed(rules)
    if len(rob) != len(result.studies):
        raise ValueError(f"rob has {len(rob)} entries for {len(result.studies)} studies")
    if complete is not None and len(complete) != len(rob):
        raise ValueError(f"complete has {len(complete)} entries for {len(rob)} studies")
    labels = [None if r is None else _ROB.get(str(r).strip().lower()) for r in rob]
    bad = [r for r, lab in zip(rob, labels, strict=True) if r is not None and lab is None]
    if bad:
        raise ValueError(f"unknown risk-of-bias judgement(s) {bad}; use low/some_concerns/high")
    partial = [complete is not None and not complete[i] and labels[i] is not None
               for i in range(len(labels))]
    partial_low = [p and labels[i] == "low" for i, p in enumerate(partial)]
    if rules["rob.incomplete_low_as_unclear"]:  # RoB 2: overall low needs low in every domain
        labels = ["some_concerns" if pl else lab for lab, pl in zip(labels, partial_low, strict=True)]
    idx, w = _included(result)
    share = {lab: float(sum(wi for wi, i in zip(w, idx, strict=True) if labels[i] == lab))
             for lab in ("low", "some_concerns", "high", None)}
    share_partial = float(sum(wi for wi, i in zip(w, idx, strict=True) if partial[i]))
    share_partial_low = float(sum(wi for wi, i in zip(w, idx, strict=True) if partial_low[i]))
    fold = bool(rules["rob.some_concerns_as_high"])  # METHODS §4.2: fold is a project choice
    unassessed = share[None] if rules["rob.unassessed_as_not_low"] else 0.0  # convention
    not_low = share["high"] + (share["some_concerns"] if fold else 0.0) + unassessed
    num: dict[str, Any] = {
        "assessed": True, "share_low": share["low"], "share_some_concerns": share["some_concerns"],
        "share_high": share["high"], "share_not_assessed": share[None], "share_not_low": not_low,
        "share_incomplete": share_partial, "share_incomplete_low": share_partial_low,
        "weights_from": result.method, "estimate_all": result.estimate,
        # judgements missing for some studies or domains: the rating stands until they are made
        "provisional": share[None] > 0 or share_partial > 0}
    what = _rob_what(share, not_low, fold, unassessed, share_partial, share_partial_low, rules)
    labelled = [labels[i] for i in idx]
    return _rob_decide(result, num, what, labelled, idx, threshold, flags, rules)


def _rob_not_assessed(rules: RuleSet) -> DomainJudgement:
    """No judgement for any study: rated down (serious) and provisional, never "no concern"."""
    levels = int(rules["rob.not_assessed_downgrade"])
    return DomainJudgement("risk_of_bias", levels, (
        "no risk-of-bias judgement for any study in the source: not assessed, so rated down "
        f"{levels} level{'s' if levels != 1 else ''} until the studies are assessed (provisional; "
        "project convention rob.not_assessed_downgrade)",),
        {"assessed": False, "provisional": True},
        plain="the source has no risk-of-bias judgements for these studies, so the rating is "
              "provisional until they are assessed")


def _rob_what(share: Mapping[str | None, float], not_low: float, fold: bool, unassessed: float,
              share_partial: float, share_partial_low: float, rules: RuleSet) -> str:
    """ "100% of the weight from studies at high risk of bias or with some concerns [weight by
    risk of bias: …]": what the decision rests on."""
    bits = [f"{_pct(share[lab])} {name}" for lab, name in (
        ("low", "low risk"), ("some_concerns", "some concerns"), ("high", "high risk"),
        (None, "no judgement")) if share[lab] > 0]
    avail = "weight by risk of bias: " + ", ".join(bits)
    if share_partial > 0:
        avail += (f"; {_pct(share_partial)} of the weight from studies judged on only some "
                  "domains" + (f" ({_pct(share_partial_low)} judged low on those, counted as "
                               "some concerns: an overall low needs every domain low, RoB 2)"
                               if share_partial_low > 0 and rules["rob.incomplete_low_as_unclear"]
                               else ""))
    return (f"{_pct(not_low)} of the weight from studies at high risk of bias"
            + (" or with some concerns" if fold else "")
            + (" or without a judgement" if unassessed > 0 else "") + f" [{avail}]")


def _rob_plain(num: Mapping[str, Any]) -> str:
    """The footnote: how much of the evidence is at risk of bias, and whether it is provisional."""
    text = (f"most of the evidence ({_pct(num['share_not_low'])} of the weight) comes from studies "
            "at high risk of bias or with some concerns")
    if num["share_not_assessed"] > 0:
        text += f" or not assessed ({_pct(num['share_not_assessed'])})"
    if num["share_incomplete"] > 0:
        text += ("; only some bias domains were judged, so the rating is provisional")
    elif num["share_not_assessed"] > 0:
        text += "; the rating is provisional until every study is assessed"
    return text


def _rob_decide(result: PooledResult, num: dict[str, Any], what: str,
                labels: Sequence[str | None], idx: list[int], threshold: Threshold, flags: Flags,
                rules: RuleSet) -> DomainJudgement:
    """Core GRADE 4 Fig 2 from the not-low share: dominating, possibly dominating, or not."""
    out = _judge("risk_of_bias", num)
    not_low = num["share_not_low"]
    dom, pos = rules["rob.dominating_share"], rules["rob.possibly_dominating_share"]
    plain = _rob_plain(num)
    if not_low > dom:  # Core GRADE 4 Fig 2 footnote: dominating if > 65%
        num["dominance"] = "dominating"
        head = f"{what} (> {_pct(dom)}: dominating, Core GRADE 4 Fig 2)"
        if flags.rob_bias_direction == "underestimates":  # Fig 2 step 3
            return out(0, head + ", but the reviewer states the bias would only under-estimate "
                       "the effect: not rated down")
        if flags.rob_bias_direction is None:
            if not rules["rob.unknown_direction_could_explain"]:
                return out(0, head + "; direction of bias not stated: reviewer to judge")
            return out(1, head + "; direction of bias not stated, assumed it could explain the "
                       "effect (project convention)", plain=plain)
        return out(1, head + "; the bias could explain the effect", plain=plain)
    est_low = _subset_estimate(result, [i for i, lab in zip(idx, labels, strict=True)
                                        if lab == "low"])
    differs = est_low is None or (result.estimate is not None
                                  and threshold.zone(est_low) != threshold.zone(result.estimate))
    num.update(estimate_low_rob=est_low, low_rob_differs=differs)
    if not_low >= pos:  # Core GRADE 4 Fig 2 footnote: ≥ 55% possibly dominating
        num["dominance"] = "possibly dominating"
        head = f"{what} ({_pct(pos)}–{_pct(dom)}: possibly dominating, Core GRADE 4 Fig 2)"
        if differs and rules["rob.possibly_dominating_downgrade_if_different"]:
            why = ("no low-risk studies to compare" if est_low is None else
                   "the low-risk studies' estimate lies on the other side of the threshold")
            return out(1, f"{head} and {why} (project convention)", plain=plain + (
                "" if est_low is None else ", and the studies at low risk of bias point to a "
                "different conclusion"))
        return out(0, head + ", but the low-risk studies give an estimate on the same side of "
                   "the threshold: not rated down")
    num["dominance"] = "not dominating"
    reasons = [f"{what}: not dominating (< {_pct(pos)}, Core GRADE 4 Fig 2)"]
    if num["share_low"] >= rules["rob.appreciable_low_share"] and differs:  # Fig 2 step 4
        num["use_low_rob_estimate"] = True
        reasons.append("the low-risk studies' estimate lies on the other side of the threshold: "
                       "consider presenting the low-risk-of-bias estimate (Core GRADE 4 Fig 2)")
    return out(0, *reasons)


def indirectness(result: PooledResult, pico_match: Sequence[bool | None] | None, *,
                 rules: RuleSet = DEFAULT_RULES) -> DomainJudgement:
    """Core GRADE 5: weight share of studies whose PICO does not match the question's.

    The basis is the reviewer's per-study judgement of the question's population, intervention,
    comparator and outcome against each study's (review folder ``grade.indirectness``); the data
    cannot supply it. Without any, the domain is "not assessed", not rated down
    (``indirectness.default_downgrade``) and the rating provisional — never a silent "no concern".
    """
    if pico_match is None:  # METHODS §4.6 needs reviewer input
        return DomainJudgement("indirectness", rules["indirectness.default_downgrade"], (
            "not assessed: no judgement of the question's PICO against the studies' (review "
            "folder grade.indirectness); not rated down by default, so the rating is "
            "provisional",), {"assessed": False, "provisional": True},
            plain="whether the studies' participants, interventions, comparators and outcomes "
                  "match the review question has not been assessed")
    if len(pico_match) != len(result.studies):
        raise ValueError(f"pico_match has {len(pico_match)} entries for {len(result.studies)} studies")
    idx, w = _included(result)
    share = {f: float(sum(wi for wi, i in zip(w, idx, strict=True) if pico_match[i] is f))
             for f in (False, None)}
    out = _judge("indirectness", {"assessed": True, "share_indirect": share[False],
                                  "share_not_assessed": share[None],
                                  "provisional": share[None] > 0})
    basis = ("basis: the reviewer's judgement of the question's PICO against each study's"
             + (f"; {_pct(share[None])} of the weight from studies not judged" if share[None] else ""))
    if share[False] > rules["indirectness.most_weight_indirect"]:  # METHODS §4.6: most weight
        return out(1, f"{_pct(share[False])} of the weight from studies whose PICO does not match "
                   f"the review question (Core GRADE 5; {basis})",
                   plain=f"most of the evidence ({_pct(share[False])} of the weight) comes from "
                   "studies whose participants, interventions, comparators or outcomes differ "
                   "from those of the review question")
    return out(0, f"{_pct(share[False])} of the weight from indirect studies: not rated down "
               f"(Core GRADE 5; {basis})")


def _funnel_test(result: PooledResult, outcome_type: OutcomeType, counts: Counts | None,
                 k_min: int, rules: RuleSet) -> SmallStudyTest | None:
    """Egger for continuous outcomes; Harbord (or Peters) for binary (Handbook 5.1 §10.4.3.1)."""
    if outcome_type == "continuous":
        return egger_test_from_result(result, model="lm", min_k=k_min)
    if counts is None:
        return None
    cols = [np.asarray(counts[c], dtype=float) for c in ("events_t", "n_t", "events_c", "n_c")]
    test = peters_test_from_counts if rules["funnel.binary_test"] == "peters" else harbord_test
    return test(*cols, min_k=k_min)


def publication_bias(result: PooledResult, outcome_type: OutcomeType, *,
                     small_study: SmallStudyTest | None = None, counts: Counts | None = None,
                     flags: Flags = NO_FLAGS, rules: RuleSet = DEFAULT_RULES) -> DomainJudgement:
    """Core GRADE 4 Fig 5 (METHODS §4.5); never more than one level."""
    k_min = int(rules["funnel.min_k"])
    num: dict[str, Any] = {"k": result.k, "min_k": k_min}
    out = _judge("publication_bias", num)
    if flags.small_industry_funded:  # Fig 5 Q1
        return out(1, "most or all studies are small and industry-sponsored (Core GRADE 4 Fig 5 Q1)",
                   plain="most of the studies are small and funded by industry, so unfavourable "
                   "results may be missing")
    if result.k < k_min:  # Fig 5 Q2 no → Q4
        base = (f"{count(result.k, 'study', 'studies')} (< {k_min}): funnel-plot tests not used "
                "(Core GRADE 4 Fig 5)")
        if flags.unpublished_trials:
            return out(1, base, "documented unpublished studies (Fig 5 Q4)",
                       plain="studies known to have been done were never published")
        return out(0, base, "no documented unpublished studies (Fig 5 Q4)")
    test = small_study or _funnel_test(result, outcome_type, counts, k_min, rules)
    extra = (("known unpublished trials flagged; Core GRADE 4 Fig 5 weighs them only when k < "
              f"{k_min}: consider an override",) if flags.unpublished_trials else ())
    if test is None or test.skipped or test.pvalue is None:
        why = "no 2×2 counts for Harbord/Peters" if test is None else test.skipped_reason
        return out(0, f"no funnel-plot test result ({why}): not rated down", *extra)
    num.update(test=test.test, model=test.model, statistic=test.statistic, pvalue=test.pvalue,
               bias=test.bias)
    cut = rules["funnel.p_cutoff"]
    name = test.test.capitalize()
    if test.pvalue < cut:  # Fig 5 Q3 "strongly suggests"; p < 0.05 is pmatools' convention
        return out(1, f"{name} test p = {test.pvalue:.3g} < {cut} (Core GRADE 4 Fig 5 Q3; the "
                   "cut-off is a convention)", *extra,
                   plain=f"the funnel plot is asymmetric (p = {test.pvalue:.2g}): small studies "
                   "with unfavourable results may be missing")
    return out(0, f"{name} test p = {test.pvalue:.3g} ≥ {cut}: no funnel-plot asymmetry detected",
               *extra)


def _column(counts: Counts, name: str) -> np.ndarray | None:
    try:
        col = counts[name]
    except (KeyError, IndexError):
        return None
    return np.asarray(pd.to_numeric(pd.Series(list(col)), errors="coerce"), dtype=float)


def _from_counts(counts: Counts | None, outcome_type: OutcomeType) -> dict[str, float]:
    """Control risk Σe_C/Σn_C and total events (binary) or the pooled control SD (continuous)."""
    if counts is None:
        return {}
    out: dict[str, float] = {}
    n_c = _column(counts, "n_c")
    if outcome_type == "dichotomous":
        e_c, e_t = _column(counts, "events_c"), _column(counts, "events_t")
        if e_c is not None and n_c is not None:
            ok = np.isfinite(e_c) & np.isfinite(n_c) & (n_c > 0)
            if ok.any():
                out["control_risk"] = float(e_c[ok].sum() / n_c[ok].sum())  # study population
        if e_c is not None and e_t is not None:
            both = np.isfinite(e_c) & np.isfinite(e_t)
            if both.any():
                out["events"] = float(e_c[both].sum() + e_t[both].sum())
    else:
        sd_c = _column(counts, "sd_c")
        if sd_c is not None and n_c is not None:
            ok = np.isfinite(sd_c) & np.isfinite(n_c) & (n_c > 1) & (sd_c > 0)
            if ok.any():  # pooled SD √(Σ(n−1)s²/Σ(n−1)) over control arms (Handbook 6.5.2.10)
                out["sd"] = float(np.sqrt(((n_c[ok] - 1) * sd_c[ok] ** 2).sum() / (n_c[ok] - 1).sum()))
    return out


def _source(control_risk: float | None, sd: float | None, derived: Mapping[str, float],
            outcome_type: OutcomeType) -> str | None:
    """Where the OIS input came from, for its stated basis."""
    if outcome_type == "dichotomous":
        return ("set by the review" if control_risk is not None else
                "pooled control arms of these studies" if "control_risk" in derived else None)
    return ("set by the review" if sd is not None else
            "pooled SD of the control arms" if "sd" in derived else None)


def _apply(j: DomainJudgement, ov: Override | None) -> DomainJudgement:
    if ov is None:
        return j
    if ov.downgrade == 3 and j.domain != "imprecision":  # GRADE 34/35: −3 for imprecision only
        raise ValueError(f"{j.domain}: −3 is allowed for imprecision only")
    return replace(j, downgrade=ov.downgrade, override=replace(ov, proposed=j.downgrade))


def assess(result: PooledResult, *, rob: Sequence[str | None] | None, mid: float | None,
           outcome_type: OutcomeType, direction_of_benefit: Benefit,
           control_risk: float | None = None, sd: float | None = None,
           pico_match: Sequence[bool | None] | None = None, flags: Flags = NO_FLAGS,
           overrides: Mapping[str, Override] | None = None,
           small_study: SmallStudyTest | None = None, counts: Counts | None = None,
           rules: RuleSet = DEFAULT_RULES, start: Level = "high",
           rob_complete: Sequence[bool] | None = None, events: float | None = None,
           subgroup_tests: Sequence[tuple[str, float | None]] = ()) -> Certainty:
    """GRADE certainty of one pooled analysis (METHODS §4; randomised trials start ``"high"``).

    ``rob``: per-study overall RoB 2 judgement (low / some_concerns / high / None), in the order of
    ``result.studies``. ``pico_match``: per-study True (matches the PICO), False (indirect) or None.
    ``counts``: the 2×2 columns ``events_t, n_t, events_c, n_c`` for Harbord's/Peters' test;
    ``small_study``: a funnel-plot test computed elsewhere (takes precedence).
    ``rob_complete``: per study, True when its judgement covers every domain (or is overall).
    Without ``control_risk`` / ``events`` / ``sd`` these are read from ``counts`` when it has
    the columns (``events_c, n_c, events_t``; ``sd_c, n_c`` for continuous outcomes):
    control risk Σe_C/Σn_C, events Σe_T + Σe_C, SD pooled over control arms.
    ``subgroup_tests``: (factor, p) of the tests for subgroup differences of the review's
    subgroup analyses of this outcome (inconsistency: a difference nobody called credible
    explains nothing, Core GRADE 3).
    """
    binary = result.measure in BINARY_MEASURES
    if outcome_type not in ("continuous", "dichotomous") or (
            result.measure != "GENERIC" and binary != (outcome_type == "dichotomous")):
        raise ValueError(f"outcome_type {outcome_type!r} does not fit measure {result.measure}")
    overrides = dict(overrides or {})
    if set(overrides) - set(DOMAINS):
        raise ValueError(f"unknown GRADE domain(s) {sorted(set(overrides) - set(DOMAINS))}")
    thr = make_threshold(result.measure, mid, direction_of_benefit, rules)
    derived = _from_counts(counts, outcome_type)
    source = _source(control_risk, sd, derived, outcome_type)
    control_risk = derived.get("control_risk") if control_risk is None else control_risk
    events = derived.get("events") if events is None else events
    sd = derived.get("sd") if sd is None else sd
    judged = (risk_of_bias(result, rob, thr, flags=flags, rules=rules, complete=rob_complete),
              inconsistency(result, thr, flags=flags, rules=rules, subgroup_tests=subgroup_tests),
              indirectness(result, pico_match, rules=rules),
              imprecision(result, thr, outcome_type, mid=mid, control_risk=control_risk, sd=sd,
                          events=events, rules=rules, source=source),
              publication_bias(result, outcome_type, small_study=small_study, counts=counts,
                               flags=flags, rules=rules))
    domains = {j.domain: _apply(j, overrides.get(j.domain)) for j in judged}
    total = sum(j.downgrade for j in domains.values())
    level = LEVELS[max(0, LEVELS.index(start) - total)]  # METHODS §4.1: max(very low, high − Σ)
    return Certainty(level=level, domains=domains, start=start)
