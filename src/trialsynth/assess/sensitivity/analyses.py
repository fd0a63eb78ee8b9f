"""Sensitivity analyses of one pooled analysis, for the report (Cochrane Handbook v6.4 §10.14).

:func:`sensitivity_analyses` takes a :class:`~trialsynth.pooling.result.PooledResult` and re-runs
the analysis with one decision changed at a time (Handbook §10.14: "repeating the primary analysis,
substituting alternative decisions"): leaving out high risk-of-bias studies, then also those with
"some concerns"; the other model (common vs random effects); DerSimonian–Laird with Wald CI vs
REML with the Hartung–Knapp–Sidik–Jonkman CI (IntHout et al. 2014, BMC Med Res Methodol 14:25);
leave-one-out; cumulative meta-analysis by year (Lau et al. 1992); influence diagnostics
(Viechtbauer & Cheung 2010); trim-and-fill (Duval & Tweedie 2000) when k ≥ 10. Each analysis is
reported with its estimate, CI, τ², k and a plain sentence.

Sub-analyses re-pool the per-study yi and SE the result carries (inverse variance). For
Mantel–Haenszel or Peto results pass the raw ``columns`` (aligned with ``result.studies``) to
re-pool with the same method; otherwise those are re-pooled by inverse variance, and the
analysis says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from trialsynth._json import finite
from trialsynth.assess.bias.trimfill import MIN_K, TrimFill, trimfill
from trialsynth.assess.sensitivity.kernels import (
    cumulative_subsets,
    influence_arrays,
    leave_one_out_subsets,
    pool_subsets,
)
from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS, Conventions
from trialsynth.errors import DataError
from trialsynth.pooling.batch import RANDOM, PooledBatch
from trialsynth.pooling.result import RATIO_MEASURES, PooledResult
from trialsynth.review.rob import grade_rob_level

NAMES = {"MD": "MD", "SMD": "SMD", "RR": "RR", "OR": "OR", "RD": "RD", "PETO_OR": "Peto OR",
         "GENERIC": "effect"}
MINUS = "\u2212"


@dataclass(frozen=True, slots=True)
class SubAnalysis:
    """One re-analysis: estimate, CI and heterogeneity of the analysis with one decision changed."""

    k: int | None
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    pvalue: float | None
    tau2: float | None
    i2: float | None
    q: float | None
    q_pvalue: float | None
    h2: float | None

    @classmethod
    def from_batch(cls, b: PooledBatch, i: int, random: bool) -> SubAnalysis:
        return cls(k=int(b.k[i]), estimate=finite(b.estimate[i]), se=finite(b.se[i]),
                   ci_low=finite(b.ci_low[i]), ci_high=finite(b.ci_high[i]), pvalue=finite(b.pvalue[i]),
                   tau2=finite(b.tau2[i]) if random else None, i2=finite(b.i2[i]), q=finite(b.q[i]),
                   q_pvalue=finite(b.q_pvalue[i]), h2=finite(b.h2[i]))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SensitivityAnalysis:
    """One row of the sensitivity table: what changed, the new result and a sentence."""

    name: str
    changed: str
    result: SubAnalysis | None
    sentence: str
    studies_removed: tuple[str, ...] = ()
    skipped_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {"name": self.name, "changed": self.changed,
                "k": None if r is None else r.k,
                "estimate": None if r is None else r.estimate,
                "ci_low": None if r is None else r.ci_low,
                "ci_high": None if r is None else r.ci_high,
                "tau2": None if r is None else r.tau2,
                "i2": None if r is None else r.i2,
                "pvalue": None if r is None else r.pvalue,
                "studies_removed": list(self.studies_removed), "sentence": self.sentence,
                "skipped_reason": self.skipped_reason}


@dataclass(frozen=True, slots=True)
class StudyStep:
    """A leave-one-out (``study`` omitted) or cumulative (``study`` added) step."""

    study: str
    year: int | None
    result: SubAnalysis

    def to_dict(self) -> dict[str, Any]:
        return {"study": self.study, "year": self.year, **self.result.to_dict()}


@dataclass(frozen=True, slots=True)
class InfluenceRow:
    """metafor ``influence.rma.uni`` diagnostics of one study (Viechtbauer & Cheung 2010)."""

    study: str
    rstudent: float | None
    dffits: float | None
    cook_d: float | None
    cov_r: float | None
    tau2_del: float | None
    qe_del: float | None
    hat: float | None
    weight: float | None
    dfbetas: float | None
    influential: bool

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SensitivityReport:
    """Every sensitivity analysis of one pooled analysis."""

    measure: str
    method: str
    hksj: Any
    primary: SubAnalysis
    analyses: tuple[SensitivityAnalysis, ...]
    leave_one_out: tuple[StudyStep, ...]
    cumulative: tuple[StudyStep, ...]
    influence: tuple[InfluenceRow, ...]
    trimfill: TrimFill | None
    notes: tuple[str, ...] = ()
    leave_one_out_sentence: str = ""
    cumulative_sentence: str = ""
    influence_sentence: str = ""
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "measure": self.measure, "method": self.method, "hksj": self.hksj,
            "primary": self.primary.to_dict(),
            "analyses": [a.to_dict() for a in self.analyses],
            "leave_one_out": [s.to_dict() for s in self.leave_one_out],
            "leave_one_out_sentence": self.leave_one_out_sentence,
            "cumulative": [s.to_dict() for s in self.cumulative],
            "cumulative_sentence": self.cumulative_sentence,
            "influence": [r.to_dict() for r in self.influence],
            "influence_sentence": self.influence_sentence,
            "trimfill": None if self.trimfill is None else self.trimfill.to_dict(),
            "notes": list(self.notes), "skipped": dict(self.skipped),
        }


# ---- wording -----------------------------------------------------------------------------------

def _num(x: float | None, ratio: bool) -> str:
    if x is None:
        return "not estimable"
    v = math.exp(x) if ratio else x
    text = f"{v:.2f}" if ratio or abs(v) < 10 else f"{v:.1f}"
    return text.replace("-", MINUS)


def _crosses(r: SubAnalysis | None) -> bool | None:
    if r is None or r.ci_low is None or r.ci_high is None:
        return None
    return r.ci_low <= 0 <= r.ci_high


def _ci_phrase(before: SubAnalysis, after: SubAnalysis | None) -> str:
    a, b = _crosses(before), _crosses(after)
    if b is None:
        return "no CI"
    if a == b:
        return "CI still crosses no effect" if b else "CI still excludes no effect"
    return "CI now crosses no effect" if b else "CI no longer crosses no effect"


def _change(label: str, before: SubAnalysis, after: SubAnalysis | None, ratio: bool) -> str:
    est = None if after is None else after.estimate
    if _num(before.estimate, ratio) == _num(est, ratio):
        return f"leaves the {label} at {_num(est, ratio)} ({_ci_phrase(before, after)})"
    return (f"changes the {label} from {_num(before.estimate, ratio)} to {_num(est, ratio)} "
            f"({_ci_phrase(before, after)})")


def _plural_study(n: int) -> str:
    return f"{n} study" if n == 1 else f"{n} studies"


# ---- helpers -----------------------------------------------------------------------------------

def _conventions(result: PooledResult) -> Conventions:
    return REVMAN_CONVENTIONS if (result.settings or {}).get("conventions") == "revman" \
        else METAFOR_CONVENTIONS


def _rob_level(text: str | None, row: int) -> str | None:
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return None
    try:
        return grade_rob_level(str(text))
    except DataError as err:
        raise DataError(f"risk-of-bias judgement {text!r} not recognised: {err}", row=row + 1,
                        field="rob_levels") from None


def _year(x: Any, row: int) -> int | None:
    if x is None or (isinstance(x, float) and math.isnan(x)) or (isinstance(x, str) and not x.strip()):
        return None
    try:
        return int(str(x).strip()[:4])
    except ValueError:
        raise DataError(f"study year {x!r} is not a year", row=row + 1, field="years") from None


def sensitivity_analyses(result: PooledResult, *, rob_levels: Sequence[str | None] | None = None,
                         years: Sequence[int | str | None] | None = None,
                         columns: Mapping[str, ArrayLike] | None = None,
                         trimfill_min_k: int = MIN_K) -> SensitivityReport:
    """All sensitivity analyses of ``result`` (one analysis, no subgroups).

    ``rob_levels`` and ``years`` are aligned with ``result.studies`` (overall risk-of-bias
    judgement, RoB 2 or RoB 1 wording; study year). ``columns`` are the raw input columns of the
    analysis (aligned with ``result.studies``), needed to re-pool Mantel–Haenszel and Peto results
    with their own method. ``trimfill_min_k`` is the minimum number of studies for trim-and-fill.
    """
    n_all = len(result.studies)
    for name, seq in (("rob_levels", rob_levels), ("years", years)):
        if seq is not None and len(seq) != n_all:
            raise DataError(f"{name} has {len(seq)} entries for {n_all} studies", field=name)
    rows = [i for i, s in enumerate(result.studies) if s.included and s.yi is not None
            and s.se is not None and s.se > 0]
    labels = [result.studies[i].study for i in rows]
    yi = np.array([result.studies[i].yi for i in rows], dtype=np.float64)
    vi = np.array([result.studies[i].se ** 2 for i in rows], dtype=np.float64)  # type: ignore[operator]
    k = len(rows)
    settings = result.settings or {}
    hksj = settings.get("hksj", False)
    level = float(settings.get("confidence_level", 0.95))
    conv = _conventions(result)
    measure, method = result.measure, result.method
    ratio = measure in RATIO_MEASURES
    label = NAMES.get(measure, measure)
    notes: list[str] = []
    if columns is not None and method in ("MH", "PETO", "MH_RANDOM"):
        cols = {c: np.asarray(v, dtype=np.float64)[rows] for c, v in columns.items()}
        pool_measure, pool_method = measure, method
    else:
        cols = {"yi": yi, "se": np.sqrt(vi)}
        pool_measure = "GENERIC"
        pool_method = {"MH": "IV", "PETO": "IV", "MH_RANDOM": "DL"}.get(method, method)
        if pool_method != method:
            notes.append(f"the {method} analysis is re-pooled by inverse variance "
                         f"({pool_method}) from its study effects and SEs in the sub-analyses")
    random = pool_method in RANDOM or pool_method == "MH_RANDOM"
    primary = SubAnalysis(k=result.k, estimate=result.estimate, se=result.se, ci_low=result.ci_low,
                          ci_high=result.ci_high, pvalue=result.pvalue, tau2=result.tau2,
                          i2=result.i2, q=result.q, q_pvalue=result.q_pvalue, h2=result.h2)
    skipped: dict[str, str] = {}

    def pool(subsets: list[np.ndarray], meth: str | None = None, hk: Any = None) -> PooledBatch:
        m = pool_method if meth is None else meth
        h = (hksj if m in RANDOM or m == "MH_RANDOM" else False) if hk is None else hk
        return pool_subsets(pool_measure, m, cols, subsets, hksj=h, conventions=conv,
                            confidence_level=level)

    analyses: list[SensitivityAnalysis] = []
    everyone = np.arange(k)
    # 1. risk of bias: high, then high + some concerns (Handbook v6.4 §10.14, §7.6.2)
    steps = (("exclude_high_rob", {"high"}, "high risk of bias"),
             ("exclude_high_and_some_concerns_rob", {"high", "some_concerns"},
              "high risk of bias or with some concerns"))
    if rob_levels is None or all(_rob_level(x, i) is None for i, x in enumerate(rob_levels)):
        reason = "no risk-of-bias judgements were given for these studies"
        skipped["risk_of_bias"] = reason
        analyses.extend(SensitivityAnalysis(name, f"studies at {words} removed", None,
                                            f"Not run: {reason}.", skipped_reason=reason)
                        for name, _, words in steps)
    else:
        lv = [_rob_level(rob_levels[i], i) for i in rows]
        if any(x is None for x in lv):
            notes.append("studies without a risk-of-bias judgement are kept in the "
                         "risk-of-bias sensitivity analyses")
        for name, drop, words in steps:
            out = [labels[j] for j in range(k) if lv[j] in drop]
            keep = np.array([j for j in range(k) if lv[j] not in drop], dtype=np.intp)
            changed = f"studies at {words} removed"
            if not out:
                analyses.append(SensitivityAnalysis(name, changed, primary,
                                                    f"No study is at {words}; the result is the "
                                                    "primary one."))
                continue
            if keep.size == 0:
                who = f"All {len(out)} studies are" if len(out) > 1 else "The only study is"
                analyses.append(SensitivityAnalysis(
                    name, changed, None, f"{who} at {words}; nothing is left to pool.", tuple(out),
                    "no study left"))
                continue
            sub = SubAnalysis.from_batch(pool([keep]), 0, random)
            analyses.append(SensitivityAnalysis(
                name, changed, sub,
                f"Removing the {_plural_study(len(out))} at {words} "
                f"{_change(label, primary, sub, ratio)}.", tuple(out)))
    # 2. common vs random effects (Handbook v6.4 §10.10.4.1)
    if random:
        other = "MH" if pool_method == "MH_RANDOM" and pool_measure != "GENERIC" else "IV"
        sub = SubAnalysis.from_batch(pool([everyone], other, False), 0, False)
        analyses.append(SensitivityAnalysis(
            "common_effect", f"common-effect model ({other}) instead of random effects", sub,
            f"A common-effect model {_change(label, primary, sub, ratio)}."))
    else:
        sub = SubAnalysis.from_batch(pool([everyone], "REML", False), 0, True)
        analyses.append(SensitivityAnalysis(
            "random_effects", "random-effects model (REML) instead of a common effect", sub,
            f"A random-effects model (REML) {_change(label, primary, sub, ratio)}."))
    # 3. DL + Wald vs REML + HKSJ (IntHout et al. 2014; Handbook v6.4 §10.10.4.2)
    dl = SubAnalysis.from_batch(pool([everyone], "DL", False), 0, True)
    reml = SubAnalysis.from_batch(pool([everyone], "REML", True), 0, True)
    analyses.append(SensitivityAnalysis(
        "dl_wald", "DerSimonian–Laird τ² with a Wald CI", dl,
        f"DerSimonian–Laird with a Wald CI {_change(label, primary, dl, ratio)}."))
    analyses.append(SensitivityAnalysis(
        "reml_hksj", "REML τ² with the Hartung–Knapp–Sidik–Jonkman CI", reml,
        f"REML with the HKSJ CI {_change(label, primary, reml, ratio)}."))
    # 4. trim-and-fill (Duval & Tweedie 2000), guarded by k >= trimfill_min_k
    tf_method = pool_method if pool_method in ("IV", "DL", "REML", "ML") else \
        ("IV" if not random else "DL")
    tf = trimfill(yi, vi, method=tf_method, estimator="L0", hksj=hksj if random else False,
                  min_k=trimfill_min_k, confidence_level=level)
    if tf.skipped:
        analyses.append(SensitivityAnalysis("trim_and_fill", "studies imputed by trim-and-fill (L0)",
                                            None, f"Trim-and-fill not run: {tf.skipped_reason}.",
                                            skipped_reason=tf.skipped_reason))
    else:
        sub = SubAnalysis(k=tf.k + (tf.k0 or 0), estimate=tf.estimate, se=tf.se, ci_low=tf.ci_low,
                          ci_high=tf.ci_high, pvalue=tf.pvalue, tau2=tf.tau2, i2=tf.i2, q=tf.q,
                          q_pvalue=None, h2=None)
        text = (f"Trim-and-fill imputes {_plural_study(tf.k0 or 0)} on the {tf.side} of the funnel plot and "
                f"{_change(label, primary, sub, ratio)}." if tf.k0 else
                "Trim-and-fill imputes no study; the result is unchanged.")
        analyses.append(SensitivityAnalysis("trim_and_fill", "studies imputed by trim-and-fill (L0)",
                                            sub, text))
    # 5. leave-one-out and influence (Viechtbauer & Cheung 2010)
    loo: tuple[StudyStep, ...] = ()
    infl: tuple[InfluenceRow, ...] = ()
    loo_sentence = infl_sentence = ""
    yr = None if years is None else [_year(years[i], i) for i in rows]
    if k < 2:
        skipped["leave_one_out"] = skipped["influence"] = f"{k} study: nothing to leave out"
    else:
        batch = pool(leave_one_out_subsets(k))
        loo = tuple(StudyStep(labels[i], None if yr is None else yr[i],
                              SubAnalysis.from_batch(batch, i, random)) for i in range(k))
        loo_sentence = _loo_sentence(loo, primary, label, ratio)
        if pool_measure == "GENERIC":
            full = pool([everyone])
            ia = influence_arrays(yi, vi, full, batch, random)
            infl = tuple(InfluenceRow(labels[i], finite(ia.rstudent[i]), finite(ia.dffits[i]),
                                      finite(ia.cook_d[i]), finite(ia.cov_r[i]), finite(ia.tau2_del[i]),
                                      finite(ia.qe_del[i]), finite(ia.hat[i]), finite(ia.weight[i]),
                                      finite(ia.dfbetas[i]), bool(ia.influential[i])) for i in range(k))
            flagged = [r.study for r in infl if r.influential]
            infl_sentence = (f"Influential by metafor's criteria: {', '.join(flagged)}." if flagged
                             else "No study is influential by metafor's criteria "
                                  "(Viechtbauer & Cheung 2010).")
        else:
            skipped["influence"] = ("influence diagnostics are defined for inverse-variance "
                                    "models (metafor influence.rma.uni)")
    # 6. cumulative meta-analysis by year (Lau et al. 1992)
    cum: tuple[StudyStep, ...] = ()
    cum_sentence = ""
    if yr is None or all(y is None for y in yr):
        skipped["cumulative"] = "no study years were given"
    else:
        dated = [j for j in range(k) if yr[j] is not None]
        order = sorted(dated, key=lambda j: yr[j])  # stable: ties keep input order (R order())
        if len(dated) < k:
            notes.append("studies without a year are left out of the cumulative meta-analysis: "
                         + ", ".join(labels[j] for j in range(k) if yr[j] is None))
        batch = pool(cumulative_subsets(order))
        cum = tuple(StudyStep(labels[j], yr[j], SubAnalysis.from_batch(batch, i, random))
                    for i, j in enumerate(order))
        cum_sentence = _cumulative_sentence(cum, label, ratio)
    return SensitivityReport(measure=measure, method=method, hksj=hksj, primary=primary,
                             analyses=tuple(analyses), leave_one_out=loo, cumulative=cum,
                             influence=infl, trimfill=None if tf.skipped else tf,
                             notes=tuple(notes), leave_one_out_sentence=loo_sentence,
                             cumulative_sentence=cum_sentence, influence_sentence=infl_sentence,
                             skipped=skipped)


def _loo_sentence(loo: tuple[StudyStep, ...], primary: SubAnalysis, label: str, ratio: bool) -> str:
    est = [(s.result.estimate, s.study) for s in loo if s.result.estimate is not None]
    if not est:
        return ""
    lo, hi = min(est), max(est)
    flips = [s.study for s in loo if _crosses(s.result) is not None
             and _crosses(s.result) != _crosses(primary)]
    text = (f"Leaving out one study at a time, the {label} ranges from {_num(lo[0], ratio)} "
            f"(without {lo[1]}) to {_num(hi[0], ratio)} (without {hi[1]})")
    if flips:
        verb = "crosses" if not _crosses(primary) else "excludes"
        return text + f"; the CI {verb} no effect when leaving out {', '.join(flips)}."
    return text + "; no single study changes whether the CI crosses no effect."


def _cumulative_sentence(cum: tuple[StudyStep, ...], label: str, ratio: bool) -> str:
    first_excl = next((s for s in cum if _crosses(s.result) is False), None)
    last = cum[-1]
    head = (f"Adding studies in order of year, the {label} moves from "
            f"{_num(cum[0].result.estimate, ratio)} ({cum[0].year}) to "
            f"{_num(last.result.estimate, ratio)} ({last.year})")
    if first_excl is None:
        return head + "; the CI crosses no effect at every step."
    return head + f"; the CI first excludes no effect in {first_excl.year} ({first_excl.study})."
