"""Frozen result objects for one meta-analysis, built from a row of a :class:`PooledBatch`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trialsynth._json import finite
from trialsynth.pooling.batch import PooledBatch
from trialsynth.registry.measures import RATIO_MEASURES

if TYPE_CHECKING:
    import pandas as pd

# the keys of ``trialsynth pool --json`` in their documented order (issue #2 contract)
CONTRACT_KEYS = (
    "k", "measure", "method", "estimate", "se", "ci_low", "ci_high", "statistic", "pvalue",
    "tau2", "tau2_ci_low", "tau2_ci_high", "i2", "i2_ci_low", "i2_ci_high", "h2", "q", "q_df",
    "q_pvalue", "pi_low", "pi_high", "weights",
)


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One study as pooled: effect on the analysis scale, its CI and its weight (percent)."""

    study: str
    yi: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    weight: float | None
    included: bool
    subgroup: str | None = None


@dataclass(frozen=True, slots=True)
class SubgroupTest:
    """Test for subgroup differences (Deeks & Higgins 2010; Borenstein et al. 2009 ch. 19)."""

    q: float | None
    df: int
    pvalue: float | None
    i2: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"q": self.q, "df": self.df, "pvalue": self.pvalue, "i2": self.i2}


@dataclass(frozen=True, slots=True)
class PooledResult:
    """One pooled meta-analysis: estimate, CIs, heterogeneity, weights, settings and warnings.

    Values are on the analysis scale (log for RR, OR, PETO_OR); :attr:`exp` holds the
    back-transformed estimate and intervals for ratio measures. ``None`` marks what does not
    apply (e.g. τ² of a common-effect model).
    """

    measure: str
    method: str
    k: int
    participants: float | None
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    statistic: float | None
    pvalue: float | None
    df: float | None
    tau2: float | None
    tau2_ci_low: float | None
    tau2_ci_high: float | None
    i2: float | None
    i2_ci_low: float | None
    i2_ci_high: float | None
    h2: float | None
    h2_ci_low: float | None
    h2_ci_high: float | None
    q: float | None
    q_df: int | None
    q_pvalue: float | None
    pi_low: float | None
    pi_high: float | None
    converged: bool
    iterations: int
    settings: dict[str, Any]
    studies: tuple[StudyRow, ...] = field(repr=False)
    warnings: tuple[str, ...] = ()
    subgroups: dict[str, PooledResult] | None = field(default=None, repr=False)
    subgroup_test: SubgroupTest | None = None

    @property
    def model(self) -> str:
        return "common" if self.method in ("IV", "MH", "PETO") else "random"

    @property
    def tau(self) -> float | None:
        return None if self.tau2 is None else math.sqrt(self.tau2)

    @property
    def weights(self) -> list[float | None]:
        return [s.weight for s in self.studies]

    @property
    def exp(self) -> dict[str, float | None] | None:
        """Ratio measures back-transformed: exp of estimate, CI and prediction interval."""
        if self.measure not in RATIO_MEASURES:
            return None
        keys = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
        return {key: finite(math.exp(v)) if (v := getattr(self, key)) is not None else None
                for key in keys}

    def studies_frame(self, *, exp: bool = False) -> pd.DataFrame:
        """The studies as a pandas DataFrame (:func:`trialsynth.pooling.frames.studies_frame`):
        ``study, subgroup, yi, se, ci_low, ci_high, weight, included``; ``exp=True``
        back-transforms ratio measures."""
        from trialsynth.pooling.frames import studies_frame

        return studies_frame(self, exp=exp)

    def summary_frame(self, *, exp: bool = False) -> pd.DataFrame:
        """Studies, subgroup and pooled rows as a pandas DataFrame, as statsmodels'
        ``CombineResults.summary_frame`` (:func:`trialsynth.pooling.frames.summary_frame`)."""
        from trialsynth.pooling.frames import summary_frame

        return summary_frame(self, exp=exp)

    def to_dict(self) -> dict[str, Any]:
        """The ``trialsynth pool --json`` object: the contract keys first, then extras."""
        out: dict[str, Any] = {key: getattr(self, key) for key in CONTRACT_KEYS}
        out["exp"] = self.exp
        if self.subgroups is not None:
            out["subgroups"] = {label: sub.to_dict() for label, sub in self.subgroups.items()}
            out["subgroup_test"] = None if self.subgroup_test is None else \
                self.subgroup_test.to_dict()
        out.update({
            "model": self.model, "tau": self.tau, "df": self.df,
            "h2_ci_low": self.h2_ci_low, "h2_ci_high": self.h2_ci_high,
            "participants": self.participants, "converged": self.converged,
            "iterations": self.iterations, "settings": self.settings,
            "warnings": list(self.warnings),
            "studies": [
                {"study": s.study, "yi": s.yi, "se": s.se, "ci_low": s.ci_low,
                 "ci_high": s.ci_high, "weight": s.weight, "included": s.included,
                 **({"subgroup": s.subgroup} if s.subgroup is not None else {})}
                for s in self.studies
            ],
        })
        return out


def result_from_batch(batch: PooledBatch, index: int, *, measure: str, method: str,
                      studies: tuple[StudyRow, ...], settings: dict[str, Any],
                      warnings: tuple[str, ...] = ()) -> PooledResult:
    """Pick analysis ``index`` out of a batch as a :class:`PooledResult`."""
    def v(name: str) -> float | None:
        return finite(getattr(batch, name)[index])

    k = int(batch.k[index])
    q_df = v("q_df")
    return PooledResult(
        measure=measure, method=method, k=k, participants=v("participants"),
        estimate=v("estimate"), se=v("se"), ci_low=v("ci_low"), ci_high=v("ci_high"),
        statistic=v("statistic"), pvalue=v("pvalue"), df=v("df"), tau2=v("tau2"),
        tau2_ci_low=v("tau2_ci_low"), tau2_ci_high=v("tau2_ci_high"), i2=v("i2"),
        i2_ci_low=v("i2_ci_low"), i2_ci_high=v("i2_ci_high"), h2=v("h2"),
        h2_ci_low=v("h2_ci_low"), h2_ci_high=v("h2_ci_high"), q=v("q"),
        q_df=None if q_df is None else int(q_df), q_pvalue=v("q_pvalue"),
        pi_low=v("pi_low"), pi_high=v("pi_high"), converged=bool(batch.converged[index]),
        iterations=int(batch.iterations[index]), settings=settings, studies=studies,
        warnings=warnings,
    )


def study_rows(batch: PooledBatch, rows: np.ndarray, labels: list[str],
               subgroups: list[str] | None, z: float) -> tuple[StudyRow, ...]:
    """Per-study rows for the flat positions ``rows`` of a batch (Wald CI with quantile z)."""
    out = []
    for j, pos in enumerate(rows):
        yi, vi = batch.yi[pos], batch.vi[pos]
        se = math.sqrt(vi) if math.isfinite(vi) and vi >= 0 else math.nan
        out.append(StudyRow(
            study=labels[j], yi=finite(yi), se=finite(se), ci_low=finite(yi - z * se),
            ci_high=finite(yi + z * se), weight=finite(batch.weight[pos]),
            included=bool(batch.included[pos]) and math.isfinite(batch.weight[pos]),
            subgroup=None if subgroups is None else subgroups[j],
        ))
    return tuple(out)
