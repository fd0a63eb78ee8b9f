"""GRADE inconsistency (Core GRADE 3, BMJ 2025;389:e081905; GRADE 7, J Clin Epidemiol 2011;64:1294).

Core GRADE 3 asks, on the forest plot: how far apart are the point estimates, how much do the
confidence intervals overlap, and where do the estimates lie relative to the threshold of the
rating (the MID or the null)? "The greater the extent to which, in the presence of minimally
overlapping CIs, point estimates fall on opposite sides of the threshold, the more likely there
is problematic inconsistency" (abstract). A credible a-priori subgroup explains it (separate
rows, no downgrade); a subgroup difference that is not credible explains nothing.

The rule here (each threshold a named rule of :mod:`trialsynth.assess.rules`):

1. One study: not applicable.
2. Most of the weight (``inconsistency.most_weight_one_side``) on the pooled estimate's side of
   the threshold: not rated down (Core GRADE 3: "usually do not rate down").
3. Estimates scattered across the threshold: rated down one level when the scatter is more than
   chance — I² at least ``inconsistency.i2_substantial`` (Handbook: "may represent substantial
   heterogeneity"), a pair of study CIs that do not overlap (GRADE 7 "minimal overlap"), the
   test of heterogeneity below ``inconsistency.q_p_cutoff`` (Handbook §10.10.2), or a subgroup
   difference no reviewer has called credible. Below I² 30% with overlapping CIs: not rated
   down (Core GRADE 3, "one will seldom see serious inconsistency with I² values <30%").
4. Two levels: scattered estimates, I² "considerable" and a prediction interval that spans
   important benefit and important harm (project convention).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trialsynth.assess.certainty.judgement import (
    NO_FLAGS,
    DomainJudgement,
    Flags,
    Threshold,
    included,
    judge,
    pct,
)
from trialsynth.assess.rules import DEFAULT_RULES, RuleSet
from trialsynth.pooling.result import PooledResult

ZONE_WORDS = {"benefit": "an important benefit", "harm": "an important harm",
              "trivial": "little or no difference", "null": "no difference"}
NULL_ZONE_WORDS = {"benefit": "a benefit", "harm": "a harm", "null": "no difference"}


def nonoverlapping_pairs(lo: np.ndarray, hi: np.ndarray) -> int:
    """Pairs of study CIs that do not overlap (GRADE 7: 'minimal overlap of CIs')."""
    apart = (hi[:, None] < lo[None, :]) | (hi[None, :] < lo[:, None])
    return int(np.triu(apart, 1).sum())


def _i2_text(result: PooledResult) -> str:
    """ "I² = 69% (95% CI 0% to 96%)": the CI from the Q-profile τ² CI, shown when computed and
    when it contains the point estimate (RevMan's I² is (Q − df)/Q, while the CI comes from τ²
    and the typical within-study variance; the two definitions can disagree)."""
    i2 = result.i2 or 0.0
    lo, hi = result.i2_ci_low, result.i2_ci_high
    if lo is None or hi is None or not lo - 0.5 <= i2 <= hi + 0.5:
        return f"I² = {i2:.0f}%"
    return f"I² = {i2:.0f}% (95% CI {lo:.0f}% to {hi:.0f}%)"


def positions(zones: Sequence[str], weights: np.ndarray, threshold: Threshold) -> str:
    """ "2 studies (66% of the weight) show an important benefit, 1 (34%) little or no
    difference": where the study estimates lie relative to the threshold."""
    words = ZONE_WORDS if threshold.kind == "mid" else NULL_ZONE_WORDS
    parts = []
    for z in ("benefit", "trivial", "null", "harm"):
        n = sum(1 for x in zones if x == z)
        if n:
            share = float(sum(w for x, w in zip(zones, weights, strict=True) if x == z))
            noun = ("study" if n == 1 else "studies") if not parts else ""
            parts.append(f"{n} {noun} ({pct(share)} of the weight) {'show ' if not parts else ''}"
                         f"{words[z]}".replace("  ", " "))
    return ", ".join(parts)


def inconsistency(result: PooledResult, threshold: Threshold, *, flags: Flags = NO_FLAGS,
                  rules: RuleSet = DEFAULT_RULES,
                  subgroup_tests: Sequence[tuple[str, float | None]] = ()) -> DomainJudgement:
    """Core GRADE 3 (module text). ``subgroup_tests``: (factor, p of the test for subgroup
    differences) of the review's subgroup analyses of the same outcome."""
    idx, w = included(result)
    if len(idx) < 2:  # METHODS §4.3: single study → "not applicable", not "not serious"
        return DomainJudgement("inconsistency", 0, (
            "single study: inconsistency not applicable (not rated down; the limited information "
            "of a single study is judged under imprecision)",), {"applicable": False, "k": len(idx)})
    rows = [result.studies[i] for i in idx]
    lo = np.array([s.ci_low for s in rows], dtype=float)
    hi = np.array([s.ci_high for s in rows], dtype=float)
    zones = [threshold.zone(float(s.yi)) for s in rows]  # type: ignore[arg-type]
    i2, pi = result.i2 or 0.0, (result.pi_low, result.pi_high)
    pooled = threshold.zone(result.estimate) if result.estimate is not None else None
    same = float(sum(wi for wi, z in zip(w, zones, strict=True) if z == pooled))
    pairs = nonoverlapping_pairs(lo, hi)
    pi_both = (None if None in pi or threshold.kind != "mid"
               else bool(pi[0] < threshold.lower and pi[1] > threshold.upper))  # type: ignore[operator]
    unexplained = [(f, p) for f, p in subgroup_tests
                   if p is not None and p < rules["inconsistency.subgroup_p"]]
    num: dict[str, Any] = {
        "applicable": True, "k": len(idx), "i2": i2, "i2_ci_low": result.i2_ci_low,
        "i2_ci_high": result.i2_ci_high, "tau": result.tau, "q_pvalue": result.q_pvalue,
        "nonoverlapping_pairs": pairs, "pooled_zone": pooled, "share_in_pooled_zone": same,
        "zones": dict(zip([s.study for s in rows], zones, strict=True)),
        "pi_low": pi[0], "pi_high": pi[1], "pi_spans_both_thresholds": pi_both,
        "threshold": threshold.kind, "subgroup_tests": [list(t) for t in subgroup_tests]}
    where = positions(zones, w, threshold)
    het = _i2_text(result)
    evidence = _evidence(result, pairs, unexplained, flags, rules)
    num["heterogeneity_evidence"] = evidence
    out = judge("inconsistency", num)
    if i2 < rules["inconsistency.i2_seldom_serious"] and not unexplained:
        return out(0, f"{het} < {rules['inconsistency.i2_seldom_serious']:.0f}%: 'one will "
                   "seldom see serious inconsistency' (Core GRADE 3); study estimates: " + where)
    if same >= rules["inconsistency.most_weight_one_side"]:  # Core GRADE 3: most on one side
        return out(0, f"{het}; most of the weight ({pct(same)}) lies on the pooled estimate's "
                   f"side of the threshold (Core GRADE 3): {where}")
    if not evidence:  # scattered, but no more than chance would give
        return out(0, f"study estimates lie on both sides of the threshold ({where}), but the "
                   f"confidence intervals overlap and {het} with heterogeneity p = "
                   f"{_p(result.q_pvalue)}: differences compatible with chance (Core GRADE 3)")
    if flags.subgroup_explains_inconsistency:  # Core GRADE 3: credible subgroup → separate rows
        return out(0, "estimates scattered across the threshold, explained by a credible "
                   "a-priori subgroup: present the subgroups as separate rows (Core GRADE 3; "
                   "ICEMAN)")
    reason = (f"study estimates lie on both sides of the threshold ({where}) and differ more than "
              f"chance: {'; '.join(evidence)} (Core GRADE 3)")
    line = "smallest important difference" if threshold.kind == "mid" else "line of no effect"
    plain = (f"the studies' results differ more than chance would explain (I² = {i2:.0f}%) and "
             f"fall on both sides of the {line}: {where}")
    if pi_both and rules["inconsistency.two_levels_pi_spans_both"] and \
            i2 >= rules["inconsistency.i2_two_levels"]:
        return out(2, reason + "; I² is considerable and the prediction interval spans important "
                   "benefit and important harm (project convention: −2)",
                   plain=plain + "; in a new setting the effect could be an important benefit or "
                   "an important harm")
    return out(1, reason, plain=plain)


def _evidence(result: PooledResult, pairs: int, unexplained: Sequence[tuple[str, float]],
              flags: Flags, rules: RuleSet) -> list[str]:
    """What says the scatter is more than chance (Core GRADE 3; GRADE 7; Handbook §10.10.2).
    Below I² 30% ('seldom serious', Core GRADE 3) only a subgroup difference counts: among many
    studies a few non-overlapping CIs arise by chance."""
    out = []
    i2 = result.i2 or 0.0
    some = i2 >= rules["inconsistency.i2_seldom_serious"]
    if i2 >= rules["inconsistency.i2_substantial"]:
        out.append(f"{_i2_text(result)}, at least {rules['inconsistency.i2_substantial']:.0f}% "
                   "('may represent substantial heterogeneity', Handbook)")
    if some and pairs >= rules["inconsistency.min_nonoverlapping_pairs"]:
        out.append(f"{pairs} pair{'s' if pairs != 1 else ''} of study confidence intervals do not "
                   "overlap (GRADE 7)")
    if some and result.q_pvalue is not None and result.q_pvalue < rules["inconsistency.q_p_cutoff"]:
        out.append(f"test of heterogeneity p = {_p(result.q_pvalue)} < "
                   f"{rules['inconsistency.q_p_cutoff']:g} (Handbook §10.10.2)")
    credible = flags.subgroup_explains_inconsistency
    out += [f"a subgroup difference by {f} (p = {_p(p)})" + (
        "" if credible else " that no reviewer has judged credible, so it does not explain the "
        "inconsistency (Core GRADE 3; ICEMAN)") for f, p in unexplained]
    return out


def _p(p: float | None) -> str:
    return "n/a" if p is None else ("< 0.001" if p < 0.001 else f"{p:.2f}")


__all__ = ["inconsistency", "nonoverlapping_pairs", "positions"]
