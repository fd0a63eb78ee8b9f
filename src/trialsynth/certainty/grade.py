"""GRADE certainty per analysis: five downgrading domains, each a small function.

Randomised evidence starts at high (Handbook v6 ch. 14); each domain proposes 0, −1 or −2
(−3 allowed for imprecision, GRADE 34/35); ``certainty = max(very low, high − Σ downgrades)``
(METHODS §4.1). Each proposal records the numbers it used; a reviewer override needs a rationale
and keeps proposed and final values (METHODS §8.4). Thresholds: :mod:`trialsynth.certainty.rules`;
flowcharts: Core GRADE 2–5 as transcribed in METHODS §4.2–§4.6.

Scale: ``mid`` is in the units of the analysis for MD, SMD, RD and GENERIC; for RR/OR/PETO_OR it
is a relative change, so the thresholds are RR 1 − mid and 1 + mid (GRADE 6: 0.75 / 1.25 for
mid = 0.25). ``direction_of_benefit`` says whether ``"lower"`` or ``"higher"`` values of the
effect favour the intervention (pain MD: "lower"; RR of an adverse event: "lower").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from trialsynth._dist import norm_isf
from trialsynth._words import count
from trialsynth.api import pool
from trialsynth.bias.small_study import (
    SmallStudyTest,
    egger_test_from_result,
    harbord_test,
    peters_test_from_counts,
)
from trialsynth.certainty.rules import DEFAULT_RULES, RuleSet
from trialsynth.pooling.result import RATIO_MEASURES, PooledResult

Level = Literal["high", "moderate", "low", "very_low"]
OutcomeType = Literal["continuous", "dichotomous"]
Benefit = Literal["lower", "higher"]
LEVELS: tuple[Level, ...] = ("very_low", "low", "moderate", "high")
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
BINARY_MEASURES = ("RR", "OR", "PETO_OR", "RD")
Counts = Mapping[str, Sequence[float]] | pd.DataFrame
_ROB = {"low": "low", "low risk": "low", "some concerns": "some_concerns", "high": "high",
        "some_concerns": "some_concerns", "unclear": "some_concerns", "high risk": "high"}
# RevMan wording accepted; RoB 1 "unclear" reads as "some concerns" (as certainty.rob does)


@dataclass(frozen=True, slots=True)
class Override:
    """A reviewer's final rating for one domain; ``proposed`` is filled in by :func:`assess`."""

    downgrade: int
    rationale: str
    proposed: int | None = None
    reviewer: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rationale, str) or not self.rationale.strip():
            raise ValueError("a GRADE override needs a rationale (METHODS §8.4)")
        if self.downgrade not in (0, 1, 2, 3):
            raise ValueError(f"downgrade must be 0, 1, 2 or 3, not {self.downgrade!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"proposed": self.proposed, "final": self.downgrade, "rationale": self.rationale,
                "reviewer": self.reviewer}


@dataclass(frozen=True, slots=True)
class DomainJudgement:
    """One domain: final downgrade, the reasons and numbers behind the proposal, any override."""

    domain: str
    downgrade: int
    reasons: tuple[str, ...]
    numbers: dict[str, Any] = field(default_factory=dict)
    override: Override | None = None

    @property
    def proposed(self) -> int:
        """The automated proposal (differs from ``downgrade`` only under an override)."""
        return self.downgrade if self.override is None else int(self.override.proposed or 0)

    def to_dict(self) -> dict[str, Any]:
        return {"downgrade": self.downgrade, "reasons": list(self.reasons),
                "override": None if self.override is None else self.override.to_dict(),
                "proposed": self.proposed, "numbers": dict(self.numbers)}


@dataclass(frozen=True, slots=True)
class Flags:
    """Reviewer input that the data cannot supply."""

    small_industry_funded: bool = False  # most/all studies small and industry-funded (Fig 5 Q1)
    unpublished_trials: bool = False  # documented unpublished studies, registry/FDA (Fig 5 Q4)
    # Core GRADE 4 Fig 2 step 3; None = not stated (rule rob.unknown_direction_could_explain)
    rob_bias_direction: Literal["could_explain", "underestimates"] | None = None
    subgroup_explains_inconsistency: bool = False  # credible a-priori subgroup (Core GRADE 3)


@dataclass(frozen=True, slots=True)
class Certainty:
    """GRADE certainty of one analysis with its five domain judgements."""

    level: Level
    domains: dict[str, DomainJudgement]
    start: Level = "high"

    @property
    def downgrades(self) -> int:
        return sum(j.downgrade for j in self.domains.values())

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "domains": {d: j.to_dict() for d, j in self.domains.items()},
                "start": self.start, "downgrades": self.downgrades}


@dataclass(frozen=True, slots=True)
class Threshold:
    """Decision threshold(s) on the analysis scale (Core GRADE 2 rating target, METHODS §4.1)."""

    kind: Literal["mid", "null"]
    lower: float
    upper: float
    benefit: Benefit

    def zone(self, y: float) -> str:
        """``"benefit"``, ``"harm"``, or ``"trivial"`` (within ±MID) / ``"null"`` (exactly 0)."""
        below, above = ("benefit", "harm") if self.benefit == "lower" else ("harm", "benefit")
        middle = "trivial" if self.kind == "mid" else "null"
        return below if y < self.lower else above if y > self.upper else middle

    @property
    def distance(self) -> float:  # the MID on the analysis scale (nearest threshold to the null)
        return min(-self.lower, self.upper)


def make_threshold(measure: str, mid: float | None, benefit: Benefit,
                   rules: RuleSet = DEFAULT_RULES) -> Threshold:
    """±MID on the analysis scale, or the null when ``mid`` is None (SMD: ±0.5, KCE rule)."""
    if benefit not in ("lower", "higher"):
        raise ValueError("direction_of_benefit must be 'lower' or 'higher'")
    if mid is None and measure == "SMD":
        mid = rules["imprecision.smd_threshold_without_mid"]  # KCE 5512: SMD ±0.5 without an MID
    if mid is None:
        return Threshold("null", 0.0, 0.0, benefit)
    if mid <= 0 or (measure in RATIO_MEASURES and mid >= 1):
        raise ValueError("mid must be positive (a relative change in (0, 1) for RR/OR, e.g. 0.25)")
    if measure in RATIO_MEASURES:
        return Threshold("mid", math.log(1 - mid), math.log(1 + mid), benefit)  # GRADE 6
    return Threshold("mid", -float(mid), float(mid), benefit)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _judge(domain: str, numbers: dict[str, Any]) -> Callable[..., DomainJudgement]:
    """``out(downgrade, *reasons)`` for one domain, carrying its numbers."""
    def out(downgrade: int, *reasons: str) -> DomainJudgement:
        return DomainJudgement(domain, downgrade, tuple(reasons), numbers)
    return out


def _included(result: PooledResult) -> tuple[list[int], np.ndarray]:
    """Positions of the pooled studies and their weight shares (the analysis' own weights)."""
    idx = [i for i, s in enumerate(result.studies)
           if s.included and s.weight is not None and s.yi is not None]
    w = np.array([result.studies[i].weight for i in idx], dtype=float)
    return idx, (w / w.sum() if w.sum() > 0 else w)


def _subset_estimate(result: PooledResult, idx: list[int]) -> float | None:
    """Pooled estimate of a subset of studies, same τ² method (IV for common-effect analyses)."""
    rows = [result.studies[i] for i in idx]
    if len(rows) < 2:
        return rows[0].yi if rows else None
    frame = pd.DataFrame([{"study": s.study, "yi": s.yi, "se": s.se} for s in rows])
    method = "IV" if result.model == "common" or result.method == "MH_RANDOM" else result.method
    return pool(frame, "GENERIC", method).estimate


def risk_of_bias(result: PooledResult, rob: Sequence[str | None] | None, threshold: Threshold, *,
                 flags: Flags = Flags(), rules: RuleSet = DEFAULT_RULES,
                 complete: Sequence[bool] | None = None) -> DomainJudgement:
    """Core GRADE 4 Fig 2: weight share of studies not at low risk of bias (METHODS §4.2).

    ``complete``: per study, whether its judgement covers every domain (or is an overall
    judgement). A 'low' from only some domains is not an overall low (RoB 2, Sterne 2019): it
    counts as some concerns (rule ``rob.incomplete_low_as_unclear``). Weight without any
    judgement counts as not low (rule ``rob.unassessed_as_not_low``); the reason says what was
    available.
    """
    if rob is None:
        return DomainJudgement("risk_of_bias", 0, ("not assessed; default (no risk-of-bias "
                                                   "judgements given)",), {"assessed": False})
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
    dom, pos = rules["rob.dominating_share"], rules["rob.possibly_dominating_share"]
    num: dict[str, Any] = {
        "assessed": True, "share_low": share["low"], "share_some_concerns": share["some_concerns"],
        "share_high": share["high"], "share_not_assessed": share[None], "share_not_low": not_low,
        "share_incomplete": share_partial, "share_incomplete_low": share_partial_low,
        "weights_from": result.method, "estimate_all": result.estimate}
    out = _judge("risk_of_bias", num)
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
    what = (f"{_pct(not_low)} of the weight from studies at high risk of bias"
            + (" or with some concerns" if fold else "")
            + (" or without a judgement" if unassessed > 0 else "") + f" [{avail}]")
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
                       "effect (project convention)")
        return out(1, head + "; the bias could explain the effect")
    est_low = _subset_estimate(result, [i for i in idx if labels[i] == "low"])
    differs = est_low is None or (result.estimate is not None
                                  and threshold.zone(est_low) != threshold.zone(result.estimate))
    num.update(estimate_low_rob=est_low, low_rob_differs=differs)
    if not_low >= pos:  # Core GRADE 4 Fig 2 footnote: ≥ 55% possibly dominating
        num["dominance"] = "possibly dominating"
        head = f"{what} ({_pct(pos)}–{_pct(dom)}: possibly dominating, Core GRADE 4 Fig 2)"
        if differs and rules["rob.possibly_dominating_downgrade_if_different"]:
            why = ("no low-risk studies to compare" if est_low is None else
                   "the low-risk studies' estimate lies on the other side of the threshold")
            return out(1, f"{head} and {why} (project convention)")
        return out(0, head + ", but the low-risk studies give an estimate on the same side of "
                   "the threshold: not rated down")
    num["dominance"] = "not dominating"
    reasons = [f"{what}: not dominating (< {_pct(pos)}, Core GRADE 4 Fig 2)"]
    if share["low"] >= rules["rob.appreciable_low_share"] and differs:  # Fig 2 step 4
        num["use_low_rob_estimate"] = True
        reasons.append("the low-risk studies' estimate lies on the other side of the threshold: "
                       "consider presenting the low-risk-of-bias estimate (Core GRADE 4 Fig 2)")
    return out(0, *reasons)


def _nonoverlapping_pairs(lo: np.ndarray, hi: np.ndarray) -> int:
    """Pairs of study CIs that do not overlap (GRADE 7: 'minimal overlap of CIs')."""
    apart = (hi[:, None] < lo[None, :]) | (hi[None, :] < lo[:, None])
    return int(np.triu(apart, 1).sum())


def inconsistency(result: PooledResult, threshold: Threshold, *, flags: Flags = Flags(),
                  rules: RuleSet = DEFAULT_RULES) -> DomainJudgement:
    """Core GRADE 3 flowchart with I², τ vs MID, CI overlap and the prediction interval."""
    idx, w = _included(result)
    if len(idx) < 2:  # METHODS §4.3: single study → "not applicable", not "not serious"
        return DomainJudgement("inconsistency", 0, (
            "single study: inconsistency not applicable (not rated down; the limited information "
            "of a single study is judged under imprecision)",), {"applicable": False, "k": len(idx)})
    rows = [result.studies[i] for i in idx]
    lo = np.array([s.ci_low for s in rows], dtype=float)
    hi = np.array([s.ci_high for s in rows], dtype=float)
    i2, tau, pi = result.i2 or 0.0, result.tau, (result.pi_low, result.pi_high)
    pooled = threshold.zone(result.estimate) if result.estimate is not None else None
    same = float(sum(wi for wi, s in zip(w, rows, strict=True) if threshold.zone(s.yi) == pooled))
    pairs = _nonoverlapping_pairs(lo, hi)
    pi_crosses = None if None in pi else threshold.zone(pi[0]) != threshold.zone(pi[1])
    pi_both = (None if None in pi or threshold.kind != "mid"
               else bool(pi[0] < threshold.lower and pi[1] > threshold.upper))
    tau_ratio = tau / threshold.distance if tau is not None and threshold.kind == "mid" else None
    num: dict[str, Any] = {
        "applicable": True, "k": len(idx), "i2": i2, "tau": tau, "tau_over_mid": tau_ratio,
        "nonoverlapping_pairs": pairs, "pooled_zone": pooled, "share_in_pooled_zone": same,
        "pi_low": pi[0], "pi_high": pi[1], "pi_crosses_threshold": pi_crosses,
        "pi_spans_both_thresholds": pi_both, "threshold": threshold.kind}
    out = _judge("inconsistency", num)
    pi_note = "; the prediction interval crosses the threshold" if pi_crosses else ""
    i2_cut = rules["inconsistency.i2_seldom_serious"]
    if i2 < i2_cut:  # Core GRADE 3, verbatim I² hint
        return out(0, f"I² = {i2:.0f}% < {i2_cut:.0f}%: 'one will seldom see serious "
                   f"inconsistency' (Core GRADE 3){pi_note}")
    important = tau_ratio is None or tau_ratio >= rules["inconsistency.tau_over_mid"]
    limited = pairs >= rules["inconsistency.min_nonoverlapping_pairs"]
    if not (important and limited):  # Core GRADE 3 Q1
        why = ([] if important else [f"τ = {tau:.3g} is below the MID ({threshold.distance:.3g})"]) \
            + ([] if limited else ["all study confidence intervals overlap"])
        return out(0, f"I² = {i2:.0f}% but {' and '.join(why)}: no important inconsistency "
                   f"(Core GRADE 3 Q1){pi_note}")
    head = f"I² = {i2:.0f}%, {pairs} non-overlapping CI pair(s)"
    if same >= rules["inconsistency.most_weight_one_side"]:  # Core GRADE 3 Q2
        return out(0, f"{head}, but {_pct(same)} of the weight lies on the pooled estimate's side "
                   f"of the threshold (Core GRADE 3 Q2){pi_note}")
    if flags.subgroup_explains_inconsistency:  # Core GRADE 3 Q3
        return out(0, "estimates scattered across the threshold, explained by a credible a-priori "
                   "subgroup: present the subgroups as separate rows (Core GRADE 3; ICEMAN)")
    reason = (f"{head} and only {_pct(same)} of the weight on the pooled estimate's side of the "
              "threshold (Core GRADE 3 Q2–Q3)")
    if pi_both and rules["inconsistency.two_levels_pi_spans_both"] and \
            i2 >= rules["inconsistency.i2_two_levels"]:
        return out(2, reason + "; I² is considerable and the prediction interval spans important "
                   "benefit and important harm (project convention: −2)")
    return out(1, reason + pi_note)


def indirectness(result: PooledResult, pico_match: Sequence[bool | None] | None, *,
                 rules: RuleSet = DEFAULT_RULES) -> DomainJudgement:
    """Core GRADE 5: weight share of studies whose PICO does not match (reviewer flags)."""
    if pico_match is None:  # METHODS §4.6 needs reviewer input; stated default
        return DomainJudgement("indirectness", rules["indirectness.default_downgrade"],
                               ("not assessed; default",), {"assessed": False})
    if len(pico_match) != len(result.studies):
        raise ValueError(f"pico_match has {len(pico_match)} entries for {len(result.studies)} studies")
    idx, w = _included(result)
    share = {f: float(sum(wi for wi, i in zip(w, idx, strict=True) if pico_match[i] is f))
             for f in (False, None)}
    out = _judge("indirectness", {"assessed": True, "share_indirect": share[False],
                                  "share_not_assessed": share[None]})
    if share[False] > rules["indirectness.most_weight_indirect"]:  # METHODS §4.6: most weight
        return out(1, f"{_pct(share[False])} of the weight from studies whose PICO does not match "
                   "the review question (Core GRADE 5)")
    return out(0, f"{_pct(share[False])} of the weight from indirect studies: not rated down")


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
        p0, rrr = control_risk, rules["ois.rrr"]
        p1 = p0 * (1 - rrr) if benefit == "lower" else min(p0 * (1 + rrr), 1 - 1e-12)
        n_arm = z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2  # Core GRADE 2 OIS
    else:
        if sd is None or mid is None or sd <= 0 or mid <= 0:
            return None
        n_arm = 2 * z**2 * sd**2 / mid**2  # Core GRADE 2 OIS, δ = MID
    return 2.0 * math.ceil(n_arm - 1e-9)


def _large(result: PooledResult, mid: float | None, control_risk: float | None,
           rules: RuleSet) -> bool:
    """A 'large' effect, which sends Core GRADE 2 Fig 4 to the OIS check."""
    est, m = result.estimate, result.measure
    if est is None:
        return False
    if m in RATIO_MEASURES:  # Core GRADE 2: "implausibly large (… possibly > 30%)"
        return abs(math.exp(est) - 1) >= rules["imprecision.large_rrr"]
    if m == "RD":
        return control_risk is not None and abs(est) / control_risk >= rules["imprecision.large_rrr"]
    if m == "SMD":
        return abs(est) >= rules["imprecision.large_smd"]
    return m == "MD" and mid is not None and abs(est) >= rules["imprecision.large_md_over_mid"] * mid


def _crossings(lo: float, hi: float, threshold: Threshold, measure: str,
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


def imprecision(result: PooledResult, threshold: Threshold, outcome_type: OutcomeType, *,
                mid: float | None = None, control_risk: float | None = None,
                sd: float | None = None, events: float | None = None,
                rules: RuleSet = DEFAULT_RULES) -> DomainJudgement:
    """GRADE 6 / GRADE 34 / Core GRADE 2 Fig 4: CI against the threshold(s), then the OIS.

    1. CI crosses both thresholds (MID ±, or RR 0.75 and 1.25 with the null): −2; −3 when the
       information is also under 30% of the OIS (GRADE 34; rule ``imprecision.three_levels``).
    2. CI crosses one threshold: −1; −2 when the information is far below the OIS or is one
       study below it (GRADE 34; rule ``imprecision.few_information_two_levels``).
    3. CI crosses nothing: a large binary effect with a CI ratio ≥ 3 (RR) / 2.5 (OR) −2 (Core
       GRADE 2); then the OIS (GRADE 6 for any effect, Core GRADE 2 for large ones): N < 30%
       of the OIS −2, N < OIS −1, else 0.
    The information is N / OIS (participants); for a binary outcome without a control risk,
    total events / 300 (GRADE 6 rule of thumb); for a continuous one without an SD, N / 800.
    """
    lo, hi, n = result.ci_low, result.ci_high, result.participants
    if lo is None or hi is None:
        return DomainJudgement("imprecision", 0, ("no confidence interval: not assessable",),
                               {"assessable": False})
    smd = result.measure == "SMD"
    ois = optimal_information_size(  # SMD: σ = 1 and δ = the SMD threshold
        outcome_type, control_risk=control_risk, sd=1.0 if smd else sd,
        mid=(threshold.upper if threshold.kind == "mid" else None) if smd else mid,
        benefit=threshold.benefit, rules=rules)
    i2 = (result.i2 or 0.0) / 100
    crossed, where, appreciable = _crossings(lo, hi, threshold, result.measure, rules)
    num: dict[str, Any] = {
        "assessable": True, "ci_low": lo, "ci_high": hi, "threshold": threshold.kind,
        "threshold_low": threshold.lower, "threshold_high": threshold.upper, "participants": n,
        "events": events, "k": result.k, "ois": ois,
        "ois_heterogeneity_adjusted": None if ois is None or i2 >= 1 else ois / (1 - i2),
        "control_risk": control_risk, "sd": sd, "thresholds_crossed": crossed,
        "appreciable_low": None if appreciable is None else appreciable[0],
        "appreciable_high": None if appreciable is None else appreciable[1]}  # HARIS, METHODS §6
    out = _judge("imprecision", num)
    frac = rules["imprecision.ois_fraction_two_levels"]
    # the information available against the OIS (GRADE 6: participants, or events for binary)
    if ois is None and outcome_type == "continuous":
        ois = float(rules["imprecision.ois_default_continuous"])  # Core GRADE 2: "(or 800)"
        num.update(ois=ois, ois_default_used=True)
    info: float | None = None
    basis = ""
    if ois is not None and n:
        info = n / ois
        basis = f"N = {n:.0f} participants, {_pct(info)} of the OIS of {ois:.0f}"
        if num.get("ois_default_used"):
            basis += " (Core GRADE 2 default: no SD given)"
    elif outcome_type == "dichotomous" and events is not None:
        e300 = float(rules["imprecision.ois_events_rule_of_thumb"])  # GRADE 6 rule of thumb
        info = events / e300
        basis = (f"{events:.0f} event{'' if events == 1 else 's'} in total, against the "
                 f"{e300:.0f}-event rule of thumb (GRADE 6; no control risk for an OIS)")
        num["ois_events_rule_used"] = True
    num["information_fraction"] = info
    below = info is not None and info < 1
    far = info is not None and info < frac
    single = result.k == 1
    if crossed == 2:  # Core GRADE 2 Fig 4 / GRADE 6: important (appreciable) benefit and harm
        reason = f"the 95% CI crosses {where}: important benefit and important harm"
        if rules["imprecision.three_levels"] and far:  # GRADE 34: two or three levels
            return out(3, f"{reason}; and the information is far below the OIS ({basis}; under "
                       f"{_pct(frac)}): extremely serious (GRADE 34; project convention: −3)")
        return out(2, f"{reason} (Core GRADE 2 Fig 4; GRADE 34: two levels)"
                   + (f"; {basis}" if basis else ""))
    if crossed == 1:  # Core GRADE 2 Fig 4, YES branch
        reason = f"the 95% CI crosses {where}"
        if rules["imprecision.few_information_two_levels"] and (far or (single and below)):
            why = (f"a single study below the OIS ({basis})" if single and not far
                   else f"information far below the OIS ({basis}; under {_pct(frac)})")
            return out(2, f"{reason}, with {why}: two levels (GRADE 34; project convention)")
        return out(1, f"{reason} (Core GRADE 2 Fig 4)" + (f"; {basis}" if basis else ""))
    num["large_effect"] = large = _large(result, mid, control_risk, rules)
    if large and outcome_type == "dichotomous" and result.measure in RATIO_MEASURES:
        num["ci_ratio"] = ratio = math.exp(hi - lo)
        limit = rules["imprecision.ci_ratio_rr" if result.measure == "RR" else "imprecision.ci_ratio_or"]
        if ratio >= limit:  # Core GRADE 2 Fig 4: CI ratio ≥ 3 (RR) / ≥ 2.5 (OR)
            return out(2, f"large effect with a CI ratio of {ratio:.2f} (≥ {limit}): two levels "
                       "(Core GRADE 2 Fig 4)")
    if not large and not rules["imprecision.ois_for_all_effects"]:
        return out(0, f"the 95% CI does not cross {where} and the effect is not large: not rated "
                   "down (Core GRADE 2 Fig 4)")
    what = "large effect" if large else f"the 95% CI does not cross {where}"
    if info is None:
        return out(0, f"{what}, but the OIS could not be checked (control risk, events or "
                   "participants missing): reviewer to confirm")
    if far:
        return out(2, f"{what}, but the information is far below the OIS ({basis}; under "
                   f"{_pct(frac)}): two levels (Core GRADE 2 Fig 4; GRADE 34)")
    if below:
        return out(1, f"{what}, but the OIS is not met ({basis}) (GRADE 6; Core GRADE 2 Fig 4)")
    return out(0, f"{what} and the OIS is met ({basis}) (GRADE 6; Core GRADE 2 Fig 4)")


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
                     flags: Flags = Flags(), rules: RuleSet = DEFAULT_RULES) -> DomainJudgement:
    """Core GRADE 4 Fig 5 (METHODS §4.5); never more than one level."""
    k_min = int(rules["funnel.min_k"])
    num: dict[str, Any] = {"k": result.k, "min_k": k_min}
    out = _judge("publication_bias", num)
    if flags.small_industry_funded:  # Fig 5 Q1
        return out(1, "most or all studies are small and industry-sponsored (Core GRADE 4 Fig 5 Q1)")
    if result.k < k_min:  # Fig 5 Q2 no → Q4
        base = (f"{count(result.k, 'study', 'studies')} (< {k_min}): funnel-plot tests not used "
                "(Core GRADE 4 Fig 5)")
        if flags.unpublished_trials:
            return out(1, base, "documented unpublished studies (Fig 5 Q4)")
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
                   "cut-off is a convention)", *extra)
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


def _apply(j: DomainJudgement, ov: Override | None) -> DomainJudgement:
    if ov is None:
        return j
    if ov.downgrade == 3 and j.domain != "imprecision":  # GRADE 34/35: −3 for imprecision only
        raise ValueError(f"{j.domain}: −3 is allowed for imprecision only")
    return replace(j, downgrade=ov.downgrade, override=replace(ov, proposed=j.downgrade))


def assess(result: PooledResult, *, rob: Sequence[str | None] | None, mid: float | None,
           outcome_type: OutcomeType, direction_of_benefit: Benefit,
           control_risk: float | None = None, sd: float | None = None,
           pico_match: Sequence[bool | None] | None = None, flags: Flags = Flags(),
           overrides: Mapping[str, Override] | None = None,
           small_study: SmallStudyTest | None = None, counts: Counts | None = None,
           rules: RuleSet = DEFAULT_RULES, start: Level = "high",
           rob_complete: Sequence[bool] | None = None, events: float | None = None) -> Certainty:
    """GRADE certainty of one pooled analysis (METHODS §4; randomised trials start ``"high"``).

    ``rob``: per-study overall RoB 2 judgement (low / some_concerns / high / None), in the order of
    ``result.studies``. ``pico_match``: per-study True (matches the PICO), False (indirect) or None.
    ``counts``: the 2×2 columns ``events_t, n_t, events_c, n_c`` for Harbord's/Peters' test;
    ``small_study``: a funnel-plot test computed elsewhere (takes precedence).
    ``rob_complete``: per study, True when its judgement covers every domain (or is overall).
    Without ``control_risk`` / ``events`` / ``sd`` these are read from ``counts`` when it has
    the columns (``events_c, n_c, events_t``; ``sd_c, n_c`` for continuous outcomes):
    control risk Σe_C/Σn_C, events Σe_T + Σe_C, SD pooled over control arms.
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
    control_risk = derived.get("control_risk") if control_risk is None else control_risk
    events = derived.get("events") if events is None else events
    sd = derived.get("sd") if sd is None else sd
    judged = (risk_of_bias(result, rob, thr, flags=flags, rules=rules, complete=rob_complete),
              inconsistency(result, thr, flags=flags, rules=rules),
              indirectness(result, pico_match, rules=rules),
              imprecision(result, thr, outcome_type, mid=mid, control_risk=control_risk, sd=sd,
                          events=events, rules=rules),
              publication_bias(result, outcome_type, small_study=small_study, counts=counts,
                               flags=flags, rules=rules))
    domains = {j.domain: _apply(j, overrides.get(j.domain)) for j in judged}
    total = sum(j.downgrade for j in domains.values())
    level = LEVELS[max(0, LEVELS.index(start) - total)]  # METHODS §4.1: max(very low, high − Σ)
    return Certainty(level=level, domains=domains, start=start)
