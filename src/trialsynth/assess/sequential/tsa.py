"""Trial sequential analysis (TSA) of one pooled analysis, and the size of the next trial.

* Required information size from the MID (:mod:`trialsynth.assess.sequential.ris`), adjusted for
  diversity D² of the analysis (Wetterslev et al. 2009) or for I².
* Cumulative Z-curve: the analysis re-pooled after each study (in the given order, normally by
  year) with the same τ² estimator, Wald Z = estimate/SE (Wetterslev et al. 2008; Thorlund et al.
  2011, TSA manual, ch. 3). Mantel-Haenszel and Peto analyses are re-pooled by inverse variance on
  the study effects (the Z-curve needs only the per-look Z); MH_RANDOM by DerSimonian-Laird.
* Lan-DeMets O'Brien-Fleming boundaries at the observed information fractions and β-spending
  futility boundaries (:mod:`trialsynth.assess.sequential.boundaries`).
* TSA-adjusted CI: estimate ± c_K·SE with c_K the monitoring boundary at the last look instead of
  z_{1−α/2} (Thorlund et al. 2011, TSA manual, section 4.3).
* Next trial: the per-arm size n of one new two-arm trial such that the updated random-effects
  meta-analysis (τ² fixed at its current estimate) crosses the monitoring boundary with
  probability 1 − β, given the current studies and a true mean effect equal to the MID on the
  side of the current estimate - the conditional power of Roloff, Higgins & Sutton 2013 (Stat Med
  32:11, eq. 4-6) in the updating framework of Sutton et al. 2007 (Stat Med 26:2479). With τ² > 0
  the new trial's weight is at most 1/τ², so the power is bounded as n → ∞ and there may be no
  such n: then ``per_arm`` is None and ``reason`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from trialsynth._json import finite
from trialsynth.assess.sequential.boundaries import efficacy_boundaries, futility_boundaries
from trialsynth.assess.sequential.ris import adjusted, diversity, ris_binary, ris_continuous
from trialsynth.errors import DataError
from trialsynth.pooling.batch import COMMON, pool_arrays
from trialsynth.pooling.result import RATIO_MEASURES, PooledResult
from trialsynth.registry.measures import measures_of_type

BINARY_MEASURES = measures_of_type("dichotomous")  # trialsynth.registry
MAX_PER_ARM = 10_000_000


@dataclass(frozen=True, slots=True)
class ZPoint:
    """One cumulative look: after ``study``, ``information`` participants, Z and boundaries."""

    study: str
    information: float
    fraction: float
    z: float
    upper: float | None
    futility: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "information": self.information, "fraction": self.fraction,
                "z": self.z, "upper": self.upper, "futility": self.futility}


@dataclass(frozen=True, slots=True)
class NextTrial:
    """Per-arm size of the next two-arm trial (None when no size suffices; see ``reason``)."""

    per_arm: int | None
    total: int | None
    conditional_power: float | None
    power_limit: float
    assumed_effect: float
    boundary: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"per_arm": self.per_arm, "total": self.total,
                "conditional_power": self.conditional_power, "power_limit": self.power_limit,
                "assumed_effect": self.assumed_effect, "boundary": self.boundary,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class TsaSummary:
    """Trial sequential analysis of one analysis (effects on the analysis scale)."""

    measure: str
    method: str
    alpha: float
    power: float
    mid: float
    mid_lower: float
    mid_upper: float
    control_risk: float | None
    sd: float | None
    ris: float
    d2: float
    i2: float | None
    daris: float
    haris: float | None
    heterogeneity: str
    required: float
    accrued: float
    fraction: float
    z_curve: tuple[ZPoint, ...] = field(repr=False)
    final_z: float | None = None
    final_boundary: float | None = None
    crossed: str | None = None  # "above" (Z ≥ c, estimate > 0) / "below" / None
    crossed_at: str | None = None
    futile: bool = False
    ris_reached: bool = False
    adjusted_ci_low: float | None = None
    adjusted_ci_high: float | None = None
    next_trial: NextTrial | None = None
    conclusion: str = ""
    notes: tuple[str, ...] = ()

    @property
    def adjusted_ci_exp(self) -> tuple[float | None, float | None] | None:
        if self.measure not in RATIO_MEASURES:
            return None
        return tuple(None if v is None else math.exp(v)  # type: ignore[return-value]
                     for v in (self.adjusted_ci_low, self.adjusted_ci_high))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:  # type: ignore[attr-defined]
            val = getattr(self, name)
            if name == "z_curve":
                val = [p.to_dict() for p in val]
            elif name == "next_trial":
                val = None if val is None else val.to_dict()
            elif name == "notes":
                val = list(val)
            out[name] = val
        out["adjusted_ci_exp"] = self.adjusted_ci_exp
        return out


def tsa_summary(result: PooledResult, *, mid: float, control_risk: float | None = None,
                sd: float | None = None, alpha: float = 0.05, power: float = 0.9,
                participants: Sequence[float] | None = None, heterogeneity: str = "D2",
                ) -> TsaSummary:
    """Trial sequential analysis of ``result`` powered for the MID.

    ``mid``: as in :func:`trialsynth.assess.bayes.mid_bounds` - for ratio measures a relative change
    r in (0, 1), powered as a relative risk (odds) reduction r (RR 1 − r; Wetterslev et al. 2008),
    otherwise in the measure's units.
    ``control_risk``: needed for binary measures. ``sd``: the outcome's SD for MD (default: the
    unit-information SD/2 of the included studies). ``participants``: per study, in the order of
    ``result.studies`` (default: each study's share of ``result.participants`` proportional to
    its inverse variance, an approximation that is noted). Studies are taken in the order of
    ``result.studies``. ``heterogeneity``: "D2" (default) or "I2".
    """
    from trialsynth.assess.bayes.summary import mid_bounds

    measure = result.measure
    mid_lower, mid_upper = mid_bounds(measure, mid)
    notes: list[str] = []
    rows = [(i, s) for i, s in enumerate(result.studies)
            if s.included and s.yi is not None and s.se is not None and s.se > 0]
    if not rows:
        raise DataError("no study with an effect and a standard error to analyse", field="studies")
    y = np.array([s.yi for _, s in rows], dtype=np.float64)
    se = np.array([s.se for _, s in rows], dtype=np.float64)
    labels = [s.study for _, s in rows]
    n = _participants(result, rows, participants, se, notes)
    tau2 = result.tau2 if (result.model == "random" and result.tau2 is not None) else 0.0
    # --- required information size
    if measure in BINARY_MEASURES:
        if control_risk is None:
            raise DataError(f"TSA of a {measure} analysis needs the control-group risk",
                            field="control_risk")
        p_i = _intervention_risk(measure, control_risk, mid)
        ris = ris_binary(control_risk, 1 - p_i / control_risk, alpha, power)
        unit_sd = None
    else:
        if sd is None:
            uisd = math.sqrt(float(n.sum()) / float(np.sum(se ** -2.0)))  # Röver et al. 2021, eq. 9
            sd = uisd / 2 if measure != "SMD" else 1.0
            notes.append(f"outcome SD estimated from the studies as {sd:.4g} (unit-information "
                         "SD/2)" if measure != "SMD" else "SMD: the SD is 1 by definition")
        ris = ris_continuous(mid, sd, alpha, power)
        unit_sd = sd
    d2 = diversity(se, tau2)
    i2 = None if result.i2 is None else result.i2 / 100
    daris = adjusted(ris, d2)
    haris = None if i2 is None else adjusted(ris, min(i2, 0.999999))
    if heterogeneity.upper() not in ("D2", "I2"):
        raise DataError("heterogeneity must be 'D2' or 'I2'", field="heterogeneity")
    required = daris if heterogeneity.upper() == "D2" or haris is None else haris
    # --- cumulative Z-curve with the analysis' τ² estimator, all looks in one batch
    k = len(y)
    group = np.concatenate([np.full(j + 1, j) for j in range(k)]).astype(np.intp)
    member = np.concatenate([np.arange(j + 1) for j in range(k)])
    method = "IV" if result.method in COMMON else ("DL" if result.method == "MH_RANDOM"
                                                   else result.method)
    with np.errstate(divide="ignore", invalid="ignore"):
        batch = pool_arrays("GENERIC", method, {"yi": y[member], "se": se[member]}, group, k,
                            tau2_ci=False)
    z = batch.estimate / batch.se
    info = np.cumsum(n)
    frac = info / required
    bounds = futility_boundaries(efficacy_boundaries(frac, alpha, sides=2), 1 - power)
    points = tuple(ZPoint(study=labels[j], information=float(info[j]), fraction=float(frac[j]),
                          z=float(z[j]), upper=finite(bounds.upper[j]),
                          futility=finite(bounds.futility[j])) for j in range(k))
    cross = np.abs(z) >= bounds.upper
    crossed_at = labels[int(np.argmax(cross))] if cross.any() else None
    final_z, final_c = float(z[-1]), float(bounds.upper[-1])
    crossed = ("above" if final_z > 0 else "below") if abs(final_z) >= final_c else None
    futile = bool(math.isfinite(bounds.futility[-1]) and abs(final_z) < bounds.futility[-1])
    reached = bool(frac[-1] >= 1)
    est, se_pooled = result.estimate, result.se
    if est is not None and se_pooled is not None and math.isfinite(final_c):
        ci = (est - final_c * se_pooled, est + final_c * se_pooled)
    else:
        ci = (None, None)
    if result.settings.get("hksj"):
        notes.append("the Z-curve uses Wald statistics; the adjusted CI uses the analysis' HKSJ SE")
    if not math.isclose(float(batch.estimate[-1]), est or 0.0, rel_tol=1e-9, abs_tol=1e-12):
        notes.append(f"the Z-curve re-pools by {method} on the study effects "
                     f"(final Z {final_z:.3f}); the adjusted CI is around the analysis' estimate")
    summary = TsaSummary(
        measure=measure, method=result.method, alpha=alpha, power=power, mid=mid,
        mid_lower=mid_lower, mid_upper=mid_upper, control_risk=control_risk, sd=unit_sd, ris=ris,
        d2=d2, i2=i2,
        daris=daris, haris=haris, heterogeneity=heterogeneity.upper(), required=required,
        accrued=float(info[-1]), fraction=float(frac[-1]), z_curve=points, final_z=final_z,
        final_boundary=finite(final_c), crossed=crossed, crossed_at=crossed_at, futile=futile,
        ris_reached=reached, adjusted_ci_low=ci[0], adjusted_ci_high=ci[1], notes=tuple(notes))
    nxt = next_trial(summary, y, se, tau2, frac)
    return _with_conclusion(summary, nxt)


def _participants(result: PooledResult, rows: list, participants: Sequence[float] | None,
                  se: np.ndarray, notes: list[str]) -> np.ndarray:
    if participants is not None:
        if len(participants) != len(result.studies):
            raise DataError(f"{len(participants)} participant counts for "
                            f"{len(result.studies)} studies", field="participants")
        n = np.array([participants[i] for i, _ in rows], dtype=np.float64)
        if not np.all(np.isfinite(n) & (n > 0)):
            raise DataError("participant counts must be positive numbers", field="participants")
        return n
    if not result.participants:
        raise DataError("TSA needs participant counts (the information axis)", field="participants")
    notes.append("participants per study not given: the total was shared in proportion to the "
                 "studies' inverse variances")
    w = se ** -2.0
    return result.participants * w / w.sum()


def _intervention_risk(measure: str, p_c: float, mid: float) -> float:
    """Intervention-group risk at the MID: a risk (RR), odds (OR) or absolute (RD) reduction."""
    if not (0 < p_c < 1):
        raise DataError(f"control risk must lie strictly between 0 and 1, got {p_c!r}",
                        field="control_risk")
    if measure == "RD":
        p_i = p_c - mid
    elif measure == "RR":
        p_i = p_c * (1 - mid)
    else:  # OR, Peto OR: the odds fall by the relative change
        odds = p_c / (1 - p_c) * (1 - mid)
        p_i = odds / (1 + odds)
    if not (0 < p_i < 1):
        raise DataError(f"the MID {mid!r} gives an intervention risk outside (0, 1)", field="mid")
    return p_i


def _new_trial_variance(s: TsaSummary, n: np.ndarray) -> np.ndarray:
    """Variance of a new two-arm trial's effect (analysis scale) with n per arm at the MID."""
    if s.measure in BINARY_MEASURES:
        p_c = float(s.control_risk)  # type: ignore[arg-type]
        p_i = _intervention_risk(s.measure, p_c, s.mid)
        if s.measure == "RR":  # var log RR (Greenland & Robins 1985)
            return ((1 - p_i) / p_i + (1 - p_c) / p_c) / n
        if s.measure == "RD":
            return (p_i * (1 - p_i) + p_c * (1 - p_c)) / n
        return (1 / (p_i * (1 - p_i)) + 1 / (p_c * (1 - p_c))) / n  # var log OR (Woolf 1955)
    return 2 * float(s.sd) ** 2 / n  # type: ignore[arg-type]  # MD (SMD: sd = 1)


def next_trial(s: TsaSummary, y: np.ndarray, se: np.ndarray, tau2: float, frac: np.ndarray
               ) -> NextTrial:
    """Per-arm size of one new trial giving conditional power 1 − β that the updated
    meta-analysis crosses the monitoring boundary (module docstring)."""
    v = se ** 2 + tau2
    w_sum = float(np.sum(1 / v))
    est0 = float(np.sum(y / v) / w_sum)  # random-effects estimate with τ² fixed
    theta = s.mid_lower if est0 < 0 else s.mid_upper  # the MID on the side of the estimate
    target = s.power

    def boundary(per_arm: float) -> float:
        t_new = (s.accrued + 2 * per_arm) / s.required
        b = efficacy_boundaries(np.append(frac, t_new), s.alpha, sides=2).upper[-1]
        return float(b)

    def cp(per_arm: float, c: float | None = None) -> float:
        var_new = float(_new_trial_variance(s, np.array([per_arm]))[0])
        w_new = 1 / (var_new + tau2)
        c = boundary(per_arm) if c is None else c
        # Z_upd = (W·est0 + w_new·y_new)/√(W + w_new), y_new ~ N(θ, var_new + τ²)
        m = (w_sum * est0 + w_new * theta) / math.sqrt(w_sum + w_new)
        sd = math.sqrt(w_new / (w_sum + w_new))
        return float(ndtr((m - c) / sd) + ndtr((-c - m) / sd))

    # limit n → ∞: new weight 1/τ², the last look is the final analysis (c → z_{1−α/2})
    z_final = float(-ndtri(s.alpha / 2))
    if tau2 > 0:
        w_inf = 1 / tau2
        m = (w_sum * est0 + w_inf * theta) / math.sqrt(w_sum + w_inf)
        sd = math.sqrt(w_inf / (w_sum + w_inf))
        limit = float(ndtr((m - z_final) / sd) + ndtr((-z_final - m) / sd))
    else:
        limit = 1.0
    if s.crossed is not None:
        return NextTrial(0, 0, None, limit, theta, s.final_boundary,
                         "the monitoring boundary is already crossed: no further trial is needed "
                         "for this question")
    if cp(MAX_PER_ARM) < target:
        return NextTrial(None, None, None, limit, theta, None,
                         f"no single trial suffices: with τ² = {tau2:.4g} a new trial's weight "
                         f"is at most 1/τ², and the conditional power of the updated "
                         f"meta-analysis cannot exceed {limit:.1%} (target {target:.0%})")
    lo, hi = 1, MAX_PER_ARM
    if cp(lo) >= target:
        hi = lo
    while hi - lo > 1:  # conditional power increases with n
        mid = (lo + hi) // 2
        if cp(mid) >= target:
            hi = mid
        else:
            lo = mid
    return NextTrial(hi, 2 * hi, cp(hi), limit, theta, boundary(hi),
                     f"one new trial of {hi} participants per arm gives {target:.0%} conditional "
                     "power that the updated meta-analysis crosses the monitoring boundary, if "
                     "the true effect equals the MID")


def _with_conclusion(s: TsaSummary, nxt: NextTrial) -> TsaSummary:
    # a required sample size is rounded up (as the figure and `plan` show it)
    pct = f"{s.accrued:,.0f} of {math.ceil(s.required):,} required participants ({s.fraction:.0%})"
    if s.crossed is not None:
        side = "above zero (higher values with the intervention)" if s.crossed == "above" else \
            "below zero (lower values with the intervention)"
        text = (f"Conclusive: the cumulative Z-curve crosses the trial sequential monitoring "
                f"boundary, with the effect {side}; {pct}.")
    elif s.futile:
        text = (f"Futile: the Z-curve lies inside the futility wedge - an effect as large as the "
                f"MID is unlikely; {pct}.")
    elif s.ris_reached:
        text = (f"The required information size is reached without crossing the monitoring "
                f"boundary: an effect as large as the MID is unlikely; {pct}.")
    else:
        text = (f"Inconclusive: the Z-curve crosses neither the monitoring nor the futility "
                f"boundary and the information accrued is {pct}.")
    from dataclasses import replace

    return replace(s, next_trial=nxt, conclusion=text)
