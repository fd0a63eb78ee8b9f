"""``trialsynth plan``: the trial sequential analysis and next-trial size of one analysis of a
review, in plain words or as JSON.

The analysis is pooled exactly as ``trialsynth run`` pools it
(:func:`trialsynth.analyse.analyse_with_result`);
studies enter the Z-curve in order of publication year. The MID, direction of benefit and
assumed control risk come from ``--mid`` or the review protocol (``review.yaml``); without them
ratio measures use a 20% relative risk reduction (the RTSA SOP's typical value, METHODS §6) and
SMD 0.5; an MD analysis needs an MID.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from trialsynth.assess.sequential.tsa import BINARY_MEASURES, TsaSummary, tsa_summary
from trialsynth.errors import DataError, TrialsynthError
from trialsynth.registry.measures import RATIO_MEASURES

DEFAULT_RATIO_MID = 0.2  # relative risk reduction 20% (RTSA SOP, METHODS.md §6)
DEFAULT_SMD_MID = 0.5  # SMD without an MID (KCE rule used by certainty.grade)


class UnknownAnalysis(TrialsynthError):
    """The analysis ID is not in the review."""


def plan_analysis(source: str | Path, analysis_id: str, *, mid: float | None = None,
                  alpha: float = 0.05, power: float = 0.9) -> dict[str, Any]:
    """TSA and next-trial size of analysis ``analysis_id`` of the review ``source``."""
    from trialsynth.analyse import analyse_with_result, review_correlations
    from trialsynth.readers.convert import build_folder

    source = Path(source)
    folder = build_folder(source)  # the review (read by trialsynth.readers.read_review) + protocol
    review, protocol = folder.review, folder.protocol
    by_id = {a.id: a for a in review.analyses}
    if analysis_id not in by_id:
        raise UnknownAnalysis(f"{source}: no analysis {analysis_id!r}; valid IDs: "
                              f"{', '.join(by_id)}")
    analysis = by_id[analysis_id]
    # the crossover correlation imputed across the review, as the report's run pools it
    imputed = review_correlations(review.analyses, source.name).get(analysis_id)
    out, result = analyse_with_result(analysis, source.name, imputed)
    if result is None:
        raise DataError(f"analysis {analysis_id} was not pooled: {out['reason']}",
                        file=str(source))
    return {"review": review.id, **plan_for(analysis, result, protocol, mid=mid, alpha=alpha,
                                            power=power)}


def default_mid(measure: str) -> float | None:
    """The MID used when the review states none: a 20% relative change for ratio measures, SMD
    0.5; None for MD (an MD needs the review's MID)."""
    if measure in RATIO_MEASURES:
        return DEFAULT_RATIO_MID
    return DEFAULT_SMD_MID if measure == "SMD" else None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialPlan:
    """The trial sequential analysis and next-trial size of one pooled analysis (estimate and CI
    on the analysis scale, as its PooledResult), with where its MID came from."""

    analysis: str
    name: str
    measure: str
    method: str
    k: int
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    direction_of_benefit: str | None
    mid: float
    mid_source: str
    tsa: TsaSummary

    def to_dict(self) -> dict[str, Any]:
        return {"analysis": self.analysis, "name": self.name, "measure": self.measure,
                "method": self.method, "k": self.k, "estimate": self.estimate,
                "ci_low": self.ci_low, "ci_high": self.ci_high,
                "direction_of_benefit": self.direction_of_benefit, "mid": self.mid,
                "mid_source": self.mid_source, "tsa": self.tsa.to_dict()}


def plan_for(analysis: Any, result: Any, protocol: Any, *, mid: float | None = None,
             alpha: float = 0.05, power: float = 0.9) -> dict[str, Any]:
    """:func:`trial_plan` as a dict (``tsa`` as a dict, and the TsaSummary itself as ``_tsa``)."""
    plan = trial_plan(analysis, result, protocol, mid=mid, alpha=alpha, power=power)
    return {**plan.to_dict(), "_tsa": plan.tsa}


def trial_plan(analysis: Any, result: Any, protocol: Any, *, mid: float | None = None,
               alpha: float = 0.05, power: float = 0.9) -> TrialPlan:
    """TSA and next-trial size of one pooled analysis (``analysis``: trialsynth.review.Analysis,
    ``result``: its PooledResult, ``protocol``: the review's, or None)."""
    analysis_id = analysis.id
    spec_mid, direction, assumed_risk = _protocol_facts(protocol, analysis_id)
    measure = result.measure
    mid_source = "--mid" if mid is not None else "review protocol" if spec_mid is not None \
        else "default"
    if mid is None:
        mid = spec_mid
    if mid is None:
        mid = default_mid(measure)
        if mid is None:
            raise DataError(f"analysis {analysis_id} ({measure}) has no minimal important "
                            "difference in the review; give one with --mid", field="mid")
    rows = analysis.pooled_rows.reset_index(drop=True)
    participants = (rows["n_t"] + rows["n_c"]).to_numpy(dtype=np.float64) \
        if {"n_t", "n_c"} <= set(rows.columns) else None
    control_risk = None
    if measure in BINARY_MEASURES:
        control_risk = assumed_risk if assumed_risk is not None else _control_risk(rows, result)
    # chronological order for the cumulative Z-curve (stable: file order within a year)
    years = rows["year"].to_numpy(dtype=np.float64) if "year" in rows.columns else \
        np.zeros(len(rows))
    order = np.argsort(np.where(np.isfinite(years), years, np.inf), kind="stable")
    ordered = replace(result, studies=tuple(result.studies[i] for i in order))
    tsa = tsa_summary(ordered, mid=mid, control_risk=control_risk, alpha=alpha, power=power,
                      participants=None if participants is None else participants[order])
    return TrialPlan(analysis=analysis_id, name=analysis.name, measure=measure,
                     method=result.method, k=result.k, estimate=result.estimate,
                     ci_low=result.ci_low, ci_high=result.ci_high, direction_of_benefit=direction,
                     mid=mid, mid_source=mid_source, tsa=tsa)


def _protocol_facts(protocol: Any, analysis_id: str) -> tuple[float | None, str | None,
                                                                float | None]:
    try:
        m = protocol.mid(analysis_id)
        outcome = protocol.outcome_of(analysis_id)
        direction = protocol.grade_benefit(analysis_id)
    except (KeyError, ValueError, LookupError, TrialsynthError):
        return None, None, None
    risk = None if outcome is None else outcome.assumed_control_risk
    return (None if m is None else float(m.value)), direction, risk


def _control_risk(rows: Any, result: Any) -> float:
    """Pooled control-group risk of the studies that entered the analysis."""
    used = np.array([s.included for s in result.studies])
    events = rows["events_c"].to_numpy(dtype=np.float64)[used]
    total = rows["n_c"].to_numpy(dtype=np.float64)[used]
    risk = float(events.sum() / total.sum()) if total.sum() > 0 else math.nan
    if not (0 < risk < 1):
        raise DataError(f"the control groups' risk is {risk:g}; TSA needs a risk strictly "
                        "between 0 and 1 (state assumed_control_risk in review.yaml)",
                        field="events_c")
    return risk


def _n(x: float | None, digits: int = 3) -> str:
    return "not estimable" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def render_plan(plan: dict[str, Any]) -> str:
    """The plan in plain words."""
    tsa: TsaSummary = plan["_tsa"]
    ratio = tsa.measure in RATIO_MEASURES
    show = (lambda v: None if v is None else math.exp(v)) if ratio else (lambda v: v)
    mid_words = (f"a relative change of {tsa.mid:.0%} ({tsa.measure} {1 - tsa.mid:.2f} or "
                 f"{1 + tsa.mid:.2f})" if ratio else f"{tsa.mid:g} ({tsa.measure})")
    lines = [
        f"Analysis {plan['analysis']}: {plan['name']}",
        f"  {plan['k']} studies, {tsa.measure} by {tsa.method}: estimate "
        f"{_n(show(plan['estimate']))} (95% CI {_n(show(plan['ci_low']))} to "
        f"{_n(show(plan['ci_high']))}).",
        f"Powered for the minimal important difference, {mid_words}, with alpha {tsa.alpha:g} "
        f"(two-sided) and power {tsa.power:.0%}"
        + (f", control-group risk {tsa.control_risk:.3g}." if tsa.control_risk is not None
           else f", outcome SD {tsa.sd:.4g}." if tsa.sd is not None else "."),
        f"  Required information size: {math.ceil(tsa.ris)} participants without heterogeneity; "
        f"{math.ceil(tsa.daris)} adjusted for diversity (D2 = {tsa.d2:.0%})"
        + (f", {math.ceil(tsa.haris)} adjusted for I2 ({tsa.i2:.0%})." if tsa.haris is not None
           else "."),
        f"  Accrued: {tsa.accrued:.0f} participants, {tsa.fraction:.1%} of the required "
        f"{math.ceil(tsa.required)}.",
        f"TSA: {tsa.conclusion}",
        f"  Final Z = {tsa.final_z:.3f}; monitoring boundary at this information "
        f"{_n(tsa.final_boundary)}" + (" (the boundary is beyond reach this early)."
                                         if tsa.final_boundary is None else "."),
    ]
    if tsa.adjusted_ci_low is None:
        lines.append("  TSA-adjusted CI: not estimable (too little information for a finite "
                     "boundary).")
    else:
        lines.append(f"  TSA-adjusted CI: {_n(show(tsa.adjusted_ci_low))} to "
                     f"{_n(show(tsa.adjusted_ci_high))} (the boundary {tsa.final_boundary:.3f} "
                     "in place of 1.96).")
    nxt = tsa.next_trial
    if nxt is not None:
        if nxt.per_arm:
            lines.append(f"Next trial: {nxt.per_arm} participants per arm ({nxt.total} in all). "
                         f"{nxt.reason[0].upper()}{nxt.reason[1:]}.")
        else:
            lines.append(f"Next trial: {nxt.reason[0].upper()}{nxt.reason[1:]}.")
    lines += [f"Note: {n}" for n in tsa.notes]
    return "\n".join(lines)
