"""GRADE imprecision (Core GRADE 2 Fig 4, BMJ 2025;389:e081904; GRADE 6, J Clin Epidemiol
2011;64:1283; GRADE 34, J Clin Epidemiol 2022;150:216) and the optimal information size.

Core GRADE 2 Fig 4 (as transcribed in METHODS §4.4):

* The 95% CI crosses the threshold of the rating (the MID, or the null): rate down one level;
  two when it crosses both thresholds (important benefit *and* important harm). In this branch
  "Core GRADE users … do not need to consider sample size".
* It crosses no threshold: a moderate effect is not rated down; a large effect goes to the
  optimal information size (OIS): N ≥ OIS not rated down, N < OIS one level, N < 30% of the OIS
  "consider rating down two".

Nothing here rates down a CI that lies wholly on one side of every threshold when the OIS is met.
The CI ratio of Fig 4 (upper/lower limit ≥ 3 for RR, ≥ 2.5 for OR) only stands in for an OIS
that cannot be computed (no control risk and no event count) and then says "OIS probably not
met" (one level), never more. A mean difference without an MID has no size to call moderate,
so its OIS is checked too (``imprecision.ois_without_mid``). Options kept as rules:
``imprecision.ois_for_all_effects`` (GRADE 6: the OIS for any effect),
``imprecision.few_information_two_levels`` (GRADE 34: a CI that crosses one threshold with the
information far below the OIS: two levels) and ``imprecision.three_levels`` (GRADE 34: crossing
both thresholds far below the OIS: three levels).
"""

from __future__ import annotations

import math
from typing import Any

from trialsynth._dist import norm_isf
from trialsynth.assess.certainty.judgement import Benefit, DomainJudgement, OutcomeType, Threshold, judge, pct
from trialsynth.assess.rules import DEFAULT_RULES, RuleSet
from trialsynth.pooling.result import RATIO_MEASURES, PooledResult

ZONE_WORDS = {"benefit": "an important benefit", "harm": "an important harm",
              "trivial": "little or no difference", "null": "no effect"}
NULL_WORDS = {"benefit": "a benefit", "harm": "a harm", "null": "no effect"}


def optimal_information_size(outcome_type: OutcomeType, *, control_risk: float | None = None,
                             sd: float | None = None, mid: float | None = None,
                             benefit: Benefit = "lower", rules: RuleSet = DEFAULT_RULES
                             ) -> float | None:
    """Total participants (both arms) for α, β and the effect to detect (Core GRADE 2; METHODS §4.4).

    Dichotomous: n_arm = (z₁₋α/₂ + z₁₋β)²·[p₀(1−p₀) + p₁(1−p₁)]/(p₀ − p₁)², p₁ = p₀(1 ∓ RRR)
    (reduction when lower is better). Continuous: n_arm = 2(z₁₋α/₂ + z₁₋β)²σ²/δ², δ = MID.
    OIS = 2·⌈n_arm⌉ (rounded up to an even total, as RTSA ``ris``). None if inputs are missing.
    """
    z = norm_isf(rules["ois.alpha"] / 2) + norm_isf(rules["ois.beta"])
    if outcome_type == "dichotomous":
        if control_risk is None or not 0 < control_risk < 1:
            return None
        p0, p1 = ois_risks(control_risk, benefit, rules)
        n_arm = z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2  # Core GRADE 2 OIS
    else:
        if sd is None or mid is None or sd <= 0 or mid <= 0:
            return None
        n_arm = 2 * z**2 * sd**2 / mid**2  # Core GRADE 2 OIS, δ = MID
    return 2.0 * math.ceil(n_arm - 1e-9)


def ois_risks(control_risk: float, benefit: Benefit, rules: RuleSet = DEFAULT_RULES
              ) -> tuple[float, float]:
    """(p₀, p₁) of the OIS trial: the control risk and the risk after the modest relative change
    ``ois.rrr`` (Core GRADE 2: "a modest relative risk reduction, typically 20% or 25%").

    Lower is better: p₁ = p₀(1 − RRR), GRADE's reduction of the event. Higher is better (a
    responder outcome), rule ``ois.increase_on_rarer``: p₁ = p₀ + RRR·min(p₀, 1 − p₀) — the
    relative increase of the desired event while it is the rarer, else the relative reduction
    of its absence (the undesired event, the way GRADE states the RRR). A 25% increase of a
    control risk of 80% would ask for a risk of 100% and an OIS of a few dozen people.
    """
    p0, rrr = control_risk, rules["ois.rrr"]
    if benefit == "lower":
        return p0, p0 * (1 - rrr)
    base = min(p0, 1 - p0) if rules["ois.increase_on_rarer"] else p0
    return p0, min(p0 + rrr * base, 1 - 1e-12)


def ois_basis(outcome_type: OutcomeType, *, control_risk: float | None, sd: float | None,
              mid: float | None, source: str | None, rules: RuleSet = DEFAULT_RULES) -> str:
    """The anticipated effect of the OIS and where each input came from (Core GRADE 2)."""
    power = f"α {rules['ois.alpha']:g} two-sided, power {1 - rules['ois.beta']:.0%}"
    where = f" ({source})" if source else ""
    if outcome_type == "dichotomous":
        return (f"a {rules['ois.rrr']:.0%} relative change in risk from a control risk of "
                f"{control_risk:.1%}{where}, {power} (Core GRADE 2)")
    return f"a difference of {mid:g} (the threshold) with SD {sd:.3g}{where}, {power} (Core GRADE 2)"


def large_effect(result: PooledResult, mid: float | None, control_risk: float | None,
                 rules: RuleSet) -> bool:
    """A 'large' effect, which sends Core GRADE 2 Fig 4 to the OIS check."""
    est, m = result.estimate, result.measure
    if est is None:
        return False
    if m in RATIO_MEASURES:  # Core GRADE 2: "implausibly large (… possibly > 30%)"
        return abs(math.exp(est) - 1) >= rules["imprecision.large_rrr"]
    if m == "RD":
        return control_risk is not None and control_risk > 0 and \
            abs(est) / control_risk >= rules["imprecision.large_rrr"]
    if m == "SMD":
        return abs(est) >= rules["imprecision.large_smd"]
    return m == "MD" and mid is not None and abs(est) >= rules["imprecision.large_md_over_mid"] * mid


def crossings(lo: float, hi: float, threshold: Threshold, measure: str,
              rules: RuleSet) -> tuple[int, str, tuple[float, float] | None]:
    """Thresholds inside the CI: 0, 1 or 2 (both), what was crossed, and the appreciable limits.

    With the null as threshold, ratio measures are also checked against GRADE 6's appreciable
    benefit/harm (RR 0.75 / 1.25, rule ``imprecision.appreciable_without_mid``): a CI beyond both
    counts as crossing both thresholds; one that only contains the null crosses one.
    """
    if threshold.kind == "mid":
        return int(lo < threshold.lower < hi) + int(lo < threshold.upper < hi), \
            "the MID threshold", None
    if not lo < 0 < hi:
        return 0, "the null", None
    if measure in RATIO_MEASURES and rules["imprecision.appreciable_without_mid"]:
        a = rules["imprecision.ratio_appreciable"]
        limits = (math.log(1 - a), math.log(1 + a))  # GRADE 6: RR 0.75 and 1.25
        if lo < limits[0] and hi > limits[1]:
            return 2, (f"the null and both RR {1 - a:g} and {1 + a:g} (appreciable benefit and "
                       "appreciable harm, GRADE 6)"), limits
        return 1, "the null", limits
    return 1, "the null", None


def show(v: float, measure: str) -> str:
    """A value on the display scale: ratios back-transformed and MDs to 2 and 1 decimals, SMDs
    and others to 2 decimals (as the SoF table prints them)."""
    if measure in RATIO_MEASURES:
        return f"{math.exp(v):.2f}"
    return f"{v:.1f}" if measure == "MD" else f"{v:.2f}"


def ci_text(lo: float, hi: float, measure: str) -> str:
    return f"{measure} {show(lo, measure)} to {show(hi, measure)}"


def _information(n: float | None, ois: float | None, default_used: bool,
                 events: float | None, outcome_type: OutcomeType, rules: RuleSet
                 ) -> tuple[float | None, str, str]:
    """(information fraction, basis for the reason, basis in plain words)."""
    if ois is not None and n:
        basis = f"N = {n:.0f} participants, {pct(n / ois)} of the OIS of {ois:.0f}"
        if default_used:
            basis += " (Core GRADE 2 default: no SD given)"
        return n / ois, basis, (f"{n:,.0f} participants, where one adequately powered trial "
                                f"would need {ois:,.0f}")
    if outcome_type == "dichotomous" and events is not None:
        e300 = float(rules["imprecision.ois_events_rule_of_thumb"])  # GRADE 6 rule of thumb
        return events / e300, (
            f"{events:.0f} event{'' if events == 1 else 's'} in total, against the {e300:.0f}-event "
            "rule of thumb (GRADE 6; no control risk for an OIS)"), (
            f"only {events:.0f} event{'' if events == 1 else 's'} in total, where a common rule of "
            f"thumb asks for at least {e300:.0f}")
    return None, "", ""


def imprecision(result: PooledResult, threshold: Threshold, outcome_type: OutcomeType, *,
                mid: float | None = None, control_risk: float | None = None,
                sd: float | None = None, events: float | None = None,
                rules: RuleSet = DEFAULT_RULES, source: str | None = None) -> DomainJudgement:
    """Core GRADE 2 Fig 4 (module text). ``source`` says where the control risk or SD came from.

    The information is N / OIS (participants); for a binary outcome without a control risk,
    total events / 300 (GRADE 6 rule of thumb); for a continuous one without an SD, N / 800.
    """
    lo, hi, n = result.ci_low, result.ci_high, result.participants
    if lo is None or hi is None:
        return DomainJudgement("imprecision", 0, ("no confidence interval: not assessable",),
                               {"assessable": False})
    smd = result.measure == "SMD"
    delta = (threshold.upper if threshold.kind == "mid" else None) if smd else mid
    ois = optimal_information_size(  # SMD: σ = 1 and δ = the SMD threshold
        outcome_type, control_risk=control_risk, sd=1.0 if smd else sd, mid=delta,
        benefit=threshold.benefit, rules=rules)
    basis_ois = None if ois is None else ois_basis(
        outcome_type, control_risk=control_risk, sd=1.0 if smd else sd, mid=delta,
        source=source, rules=rules)
    default_used = ois is None and outcome_type == "continuous"
    lacking = " or ".join(w for w, v in (("MID", delta), ("SD", 1.0 if smd else sd)) if not v)
    if default_used:
        ois = float(rules["imprecision.ois_default_continuous"])  # Core GRADE 2: "(or 800)"
        basis_ois = f"Core GRADE 2's default of 800 participants (no {lacking} to compute an OIS)"
    i2 = (result.i2 or 0.0) / 100
    crossed, where, appreciable = crossings(lo, hi, threshold, result.measure, rules)
    info, basis, plain_info = _information(n, ois, default_used, events, outcome_type, rules)
    if default_used:  # say which input was missing: the file often has SDs but no MID
        basis = basis.replace("no SD given", f"no {lacking} given")
    num: dict[str, Any] = {
        "assessable": True, "ci_low": lo, "ci_high": hi, "threshold": threshold.kind,
        "threshold_low": threshold.lower, "threshold_high": threshold.upper, "participants": n,
        "events": events, "k": result.k, "ois": ois, "ois_basis": basis_ois,
        "ois_default_used": default_used,
        "ois_heterogeneity_adjusted": None if ois is None or i2 >= 1 else ois / (1 - i2),
        "control_risk": control_risk, "sd": sd, "thresholds_crossed": crossed,
        "information_fraction": info, "ois_events_rule_used": ois is None and info is not None,
        "appreciable_low": None if appreciable is None else appreciable[0],
        "appreciable_high": None if appreciable is None else appreciable[1]}  # HARIS, METHODS §6
    out = judge("imprecision", num)
    frac = rules["imprecision.ois_fraction_two_levels"]
    far = info is not None and info < frac
    ends = _ends(lo, hi, threshold, result.measure, result.estimate, appreciable)
    if crossed == 2:  # Core GRADE 2 Fig 4 / GRADE 6: important (appreciable) benefit and harm
        reason = f"the 95% CI crosses {where}: important benefit and important harm"
        if rules["imprecision.three_levels"] and far:  # GRADE 34: two or three levels
            return out(3, f"{reason}; and the information is far below the OIS ({basis}; under "
                       f"{pct(frac)}): extremely serious (GRADE 34; project convention: −3)",
                       plain=f"{ends}, and the studies are very small ({plain_info})")
        return out(2, f"{reason} (Core GRADE 2 Fig 4; GRADE 34: two levels)"
                   + (f"; {basis}" if basis else ""), plain=ends)
    if crossed == 1:  # Core GRADE 2 Fig 4, YES branch: sample size not considered
        reason = f"the 95% CI crosses {where} (Core GRADE 2 Fig 4)"
        if rules["imprecision.few_information_two_levels"] and far:
            return out(2, f"{reason}, with information far below the OIS ({basis}; under "
                       f"{pct(frac)}): two levels (GRADE 34)",
                       plain=f"{ends}, and the studies are very small ({plain_info})")
        return out(1, reason + (f"; {basis}" if basis else ""), plain=ends)
    return _beyond_thresholds(result, out, num, info=info, basis=basis, plain_info=plain_info,
                              where=where, mid=mid, control_risk=control_risk, events=events,
                              outcome_type=outcome_type, benefit=threshold.benefit, rules=rules)


def _beyond_thresholds(result: PooledResult, out: Any, num: dict[str, Any], *, info: float | None,
                       basis: str, plain_info: str, where: str, mid: float | None,
                       control_risk: float | None, events: float | None,
                       outcome_type: OutcomeType, benefit: Benefit, rules: RuleSet
                       ) -> DomainJudgement:
    """Core GRADE 2 Fig 4, NO branch: the CI lies wholly on one side of every threshold. Below
    the OIS in participants, GRADE 6's two ways of meeting it for a binary outcome are checked
    before rating down (:func:`ois_met_otherwise`)."""
    num["large_effect"] = large = large_effect(result, mid, control_risk, rules)
    unsized = result.measure == "MD" and mid is None and rules["imprecision.ois_without_mid"]
    if not large and not unsized and not rules["imprecision.ois_for_all_effects"]:
        return out(0, f"the 95% CI does not cross {where} and the effect is not large: not rated "
                   "down (Core GRADE 2 Fig 4)")
    what = ("large effect" if large else f"the 95% CI does not cross {where}, but without an "
            "MID the size of the effect cannot be judged" if unsized
            else f"the 95% CI does not cross {where}")
    frac = rules["imprecision.ois_fraction_two_levels"]
    if info is None:
        if result.measure in RATIO_MEASURES and outcome_type == "dichotomous" and \
                result.ci_low is not None and result.ci_high is not None:
            num["ci_ratio"] = ratio = math.exp(result.ci_high - result.ci_low)
            limit = rules["imprecision.ci_ratio_rr" if result.measure == "RR"
                          else "imprecision.ci_ratio_or"]
            num["ci_ratio_limit"] = limit
            if ratio >= limit:  # Core GRADE 2 Fig 4's CI ratio, standing in for the OIS
                return out(1, f"{what}; no control risk or event count for an OIS, and the CI "
                           f"ratio {ratio:.2f} ≥ {limit}: the OIS is probably not met (Core GRADE "
                           "2 Fig 4; project convention: one level)",
                           plain="the effect is large, but its confidence interval is wide for "
                           f"its size (upper limit {ratio:.1f} times the lower), a sign of too "
                           "little information")
            return out(0, f"{what}; no control risk or event count for an OIS, and the CI ratio "
                       f"{ratio:.2f} < {limit} (Core GRADE 2 Fig 4)")
        return out(0, f"{what}, but the OIS could not be checked (control risk, events or "
                   "participants missing): reviewer to confirm")
    lead = "the effect is large, but" if large else "the confidence interval excludes the threshold, but"
    if info < 1 and not num["ois_default_used"] and (why := ois_met_otherwise(
            result, num, control_risk=control_risk, events=events, outcome_type=outcome_type,
            benefit=benefit, rules=rules)):
        return out(0, f"{what}; {basis}, but {why}: not rated down")
    if info < frac:  # Core GRADE 2 Fig 4: N < 30% of the OIS → consider rating down two
        return out(2, f"{what}, but the information is far below the OIS ({basis}; under "
                   f"{pct(frac)}): two levels (Core GRADE 2 Fig 4; GRADE 34)",
                   plain=f"{lead} the studies are far too small to rely on it ({plain_info})")
    if info < 1:
        return out(1, f"{what}, but the OIS is not met ({basis}) (Core GRADE 2 Fig 4; GRADE 6)",
                   plain=f"{lead} the studies are too small to rely on it ({plain_info})")
    return out(0, f"{what} and the OIS is met ({basis}): not rated down (Core GRADE 2 Fig 4; "
               "GRADE 6)")


def absolute_ci(result: PooledResult, control_risk: float) -> tuple[float, float] | None:
    """The 95% CI of the risk difference at the control risk p₀, from the same model as the
    relative effect: p₀·RR − p₀ (RR), p₀·OR/(1 − p₀ + p₀·OR) − p₀ (OR; Handbook v6.4
    §15.4.4), the pooled RD itself (RD). None for other measures."""
    lo, hi, m = result.ci_low, result.ci_high, result.measure
    if lo is None or hi is None:
        return None
    if m == "RD":
        return lo, hi
    if m == "RR":
        return control_risk * math.exp(lo) - control_risk, control_risk * math.exp(hi) - control_risk
    if m in ("OR", "PETO_OR"):
        def risk(log_or: float) -> float:  # Handbook v6.4 §15.4.4: risk from an odds ratio
            odds = math.exp(log_or)
            return control_risk * odds / (1 - control_risk + control_risk * odds)
        return risk(lo) - control_risk, risk(hi) - control_risk
    return None


def ois_met_otherwise(result: PooledResult, num: dict[str, Any], *, control_risk: float | None,
                      events: float | None, outcome_type: OutcomeType, benefit: Benefit,
                      rules: RuleSet) -> str:
    """Why a binary outcome below the OIS in participants still has enough information, or "".

    1. **Events** (rule ``imprecision.ois_in_events``). GRADE 6 (Guyatt 2011, abstract): for a
       systematic review precision is adequate if the CI excludes no effect "and the total number
       of events *or* patients exceeds the OIS criterion". The OIS in events is the number of
       events the OIS trial would observe, OIS·(p₀ + p₁)/2. A large increase in a rare event
       (a responder outcome from a 2% baseline) brings thousands of events that an OIS counted
       in participants at the baseline risk ignores.
    2. **Low event rates with a large sample** (rule ``imprecision.low_event_rate_exception``).
       GRADE 6, section "Low event rates with large sample size: an exception to the need for
       OIS" (as reproduced in the KCE process book §5.5.5): when event rates are very low "CIs
       around relative effects may be wide, but if sample sizes are sufficiently large … rating
       down for imprecision becomes inappropriate"; "consideration of the CI around the absolute
       effect may lead to an appropriate conclusion that precision is adequate" (GRADE 6 key
       point: "the CIs to consider are those around the absolute, rather than the relative
       effect"; GRADE 34: the CI of the absolute effect is the primary criterion). Operational
       reading (each part a named rule): the control risk is below ``imprecision.low_control_risk``,
       the sample is not far below the OIS (at least ``imprecision.ois_fraction_two_levels`` of
       it, Core GRADE 2's cut for "far"), and the risk difference is estimated at least as
       precisely as the OIS trial would estimate it: SE(RD) ≤ p₀·RRR/(z₁₋α/₂ + z₁₋β), the
       standard error at which a trial has power 1 − β for the OIS's anticipated difference.
    """
    ois = num.get("ois")
    if outcome_type != "dichotomous" or ois is None or control_risk is None or \
            not 0 < control_risk < 1:
        return ""
    p0, p1 = ois_risks(control_risk, benefit, rules)
    if rules["imprecision.ois_in_events"] and events is not None:
        num["ois_events"] = ois_events = ois * (p0 + p1) / 2  # GRADE 6: events an OIS trial sees
        if events >= ois_events:
            return (f"the {events:,.0f} events exceed the {ois_events:,.0f} events one adequately "
                    "powered trial would observe (the OIS in events; GRADE 6: precision is adequate "
                    "when 'the total number of events or patients exceeds the OIS criterion')")
    info = num.get("information_fraction")
    if not rules["imprecision.low_event_rate_exception"] or info is None or \
            control_risk >= rules["imprecision.low_control_risk"] or \
            info < rules["imprecision.ois_fraction_two_levels"] or \
            (rd := absolute_ci(result, control_risk)) is None:
        return ""
    z_ci = norm_isf(rules["ois.alpha"] / 2)
    se_rd = (rd[1] - rd[0]) / (2 * z_ci)  # from the 95% CI of the risk difference
    se_ois = abs(p1 - p0) / (z_ci + norm_isf(rules["ois.beta"]))  # the OIS trial's SE
    num.update(absolute_ci_low=rd[0], absolute_ci_high=rd[1], absolute_se=se_rd,
               absolute_se_ois=se_ois)
    if se_rd > se_ois:
        return ""
    num["low_event_rate_exception"] = True
    return (f"the control risk is low ({control_risk:.1%}) and the absolute effect, "
            f"{_per_1000(rd[0])} to {_per_1000(rd[1])} per 1000, is estimated at least as "
            f"precisely as one adequately powered trial would estimate it (standard error "
            f"{1000 * se_rd:.2g} against {1000 * se_ois:.2g} per 1000) (GRADE 6: 'low event rates "
            "with large sample size: an exception to the need for OIS'; the CI of the absolute "
            "effect decides)")


def _per_1000(rd: float) -> str:
    v = 1000 * rd
    return f"{abs(v):.{0 if abs(v) >= 10 else 1}f} {'fewer' if v < 0 else 'more'}"


def _ends(lo: float, hi: float, threshold: Threshold, measure: str, estimate: float | None,
          appreciable: tuple[float, float] | None) -> str:
    """ "the confidence interval (MD -32.1 to 0.505) includes an important benefit as well as
    little or no difference": the plain reason for a CI that crosses a threshold."""
    ci = f"the confidence interval ({ci_text(lo, hi, measure)}) includes"
    if threshold.kind == "mid":
        return f"{ci} {ZONE_WORDS[threshold.zone(lo)]} as well as {ZONE_WORDS[threshold.zone(hi)]}"
    if appreciable is not None and lo < appreciable[0] and hi > appreciable[1]:  # GRADE 6
        return f"{ci} an appreciable benefit as well as an appreciable harm"
    if estimate is None or estimate == 0:
        return f"{ci} a benefit as well as a harm"
    return f"{ci} {NULL_WORDS[threshold.zone(estimate)]} as well as no effect"
