"""Priors for the heterogeneity τ of the normal-normal hierarchical model.

Weakly informative: half-normal and half-Cauchy (Röver 2020, J Stat Softw 93(6), section 3.3).
Informative, from Cochrane data:

* Turner et al. 2015 (Stat Med 34:984-998, Table IV): log-normal predictive distributions for τ²
  of log odds ratios, by outcome type and type of comparison; the "general" setting (any outcome,
  any comparison) is the log-normal(−2.56, 1.74²) of their p. 993.
* Rhodes et al. 2015 (J Clin Epidemiol 68:52-60, Table 3): log-t (5 df) predictive distributions
  for τ² of standardised mean differences; the general setting (start of section 3.3) is
  log-t₅(−3.44, 2.59).

A prior on τ² of the form log τ² = m + s·X becomes log τ = m/2 + (s/2)·X, so both families carry
over to τ with halved location and scale (as bayesmeta's ``TurnerEtAlPrior``/``RhodesEtAlPrior``
do). Every table value below is the published one (τ² scale), tabulated in
docs/methods/bayes-and-tsa.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import gammaln, ndtri, stdtrit

from trialsynth._segments import FloatArray
from trialsynth.errors import DataError

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
PriorKind = Literal["half-normal", "half-cauchy", "log-normal", "log-t"]

# Turner et al. 2015, Table IV: (mean, sd) of log τ² by outcome type (rows) and comparison (cols)
TURNER_COMPARISONS = ("pharmacological vs placebo/control", "pharmacological vs pharmacological",
                      "non-pharmacological vs placebo/control",
                      "non-pharmacological vs pharmacological",
                      "non-pharmacological vs non-pharmacological")
TURNER_OUTCOMES = ("all-cause mortality", "obstetric outcomes",
                   "cause-specific mortality / major morbidity / composite",
                   "resource use / hospital stay / process", "surgical / device related success",
                   "withdrawals / drop-outs", "internal / structure-related outcomes",
                   "general physical health indicators", "adverse events",
                   "infection / onset of new disease",
                   "signs / symptoms reflecting continuation / end of condition", "pain",
                   "quality of life / functioning (dichotomised)", "mental health indicators",
                   "biological markers (dichotomised)", "subjective outcomes (various)")
_TURNER_MEAN = (  # one row per comparison type, one column per outcome type (Table IV)
    (-3.95, -3.52, -3.71, -2.34, -2.14, -2.99, -2.71, -2.29, -1.87, -2.49, -2.06, -1.83, -2.54,
     -2.12, -1.77, -2.70),
    (-4.18, -3.75, -3.95, -2.58, -2.37, -3.23, -2.94, -2.53, -2.10, -2.73, -2.29, -2.06, -2.78,
     -2.35, -2.00, -2.93),
    (-4.17, -3.74, -3.93, -2.56, -2.36, -3.21, -2.93, -2.51, -2.10, -2.71, -2.28, -2.05, -2.77,
     -2.34, -1.99, -2.92),
    (-2.92, -2.49, -2.68, -1.31, -1.11, -1.96, -1.67, -1.26, -0.84, -1.46, -1.03, -0.80, -1.51,
     -1.09, -0.74, -1.67),
    (-3.50, -3.08, -3.27, -1.90, -1.69, -2.55, -2.26, -1.85, -1.43, -2.05, -1.61, -1.38, -2.10,
     -1.67, -1.33, -2.26),
)
_TURNER_SD = (
    (1.34, 1.74, 1.74, 1.74, 1.74, 1.74, 1.74, 1.53, 1.52, 1.52, 1.51, 1.52, 1.54, 1.53, 1.52, 1.52),
    (1.41, 1.79, 1.79, 1.79, 1.79, 1.79, 1.79, 1.58, 1.58, 1.58, 1.58, 1.58, 1.60, 1.60, 1.58, 1.58),
    (1.55, 1.91, 1.91, 1.91, 1.91, 1.91, 1.92, 1.72, 1.71, 1.71, 1.71, 1.71, 1.73, 1.72, 1.71, 1.71),
    (1.02, 1.50, 1.51, 1.50, 1.50, 1.51, 1.51, 1.25, 1.24, 1.24, 1.24, 1.25, 1.27, 1.27, 1.24, 1.25),
    (1.26, 1.68, 1.68, 1.68, 1.68, 1.68, 1.68, 1.46, 1.45, 1.45, 1.45, 1.45, 1.47, 1.47, 1.45, 1.45),
)
# Rhodes et al. 2015, Table 3 (medical area "other"): (location, scale) of log τ², t with 5 df
RHODES_COMPARISONS = ("pharmacological vs placebo/control", "pharmacological vs pharmacological",
                      "non-pharmacological (any)")
RHODES_OUTCOMES = ("obstetric outcome", "resource use and hospital stay / process",
                   "internal and external structure-related outcome",
                   "general physical health, adverse event, pain, quality of life / functioning",
                   "signs / symptoms, infection / onset of new disease", "mental health outcome",
                   "biological marker", "various subjectively measured outcomes")
_RHODES_LOCATION = (
    (-4.13, -2.55, -2.43, -3.16, -3.00, -2.99, -3.41, -2.76),
    (-4.40, -2.83, -2.70, -3.44, -3.27, -3.27, -3.68, -3.03),
    (-3.99, -2.41, -2.29, -3.02, -2.86, -3.85, -3.27, -2.62),
)
_RHODES_SCALE = (
    (2.34, 2.73, 2.50, 2.50, 2.50, 2.16, 2.83, 2.58),
    (2.31, 2.70, 2.46, 2.44, 2.47, 2.14, 2.78, 2.59),
    (2.11, 2.57, 2.32, 2.27, 2.33, 1.93, 2.66, 2.41),
)
RHODES_DF = 5.0  # Rhodes et al. 2015, section 2.3: t distribution with 5 degrees of freedom


@dataclass(frozen=True, slots=True)
class TauPrior:
    """A proper prior density for τ ≥ 0.

    ``half-normal``/``half-cauchy``: ``scale``. ``log-normal``: log τ ~ N(``location``, ``scale``²).
    ``log-t``: log τ = ``location`` + ``scale``·T with T ~ t(``df``). ``label`` says where it is from.
    """

    kind: PriorKind
    scale: float
    location: float = 0.0
    df: float = math.inf
    label: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise DataError(f"prior scale must be a positive number, got {self.scale!r}",
                            field="prior")
        if self.kind not in ("half-normal", "half-cauchy", "log-normal", "log-t"):
            raise DataError(f"unknown tau prior {self.kind!r}", field="prior")

    def logpdf(self, tau: FloatArray) -> FloatArray:
        """Log density at τ (−inf for τ < 0; for log priors also at τ = 0)."""
        tau = np.asarray(tau, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = self.scale
            if self.kind == "half-normal":  # 2·φ(τ/s)/s on τ ≥ 0
                out = math.log(2.0) - 0.5 * (tau / s) ** 2 - math.log(s) - _LOG_SQRT_2PI
            elif self.kind == "half-cauchy":  # 2/(π s (1 + (τ/s)²)) on τ ≥ 0
                out = math.log(2.0) - math.log(math.pi * s) - np.log1p((tau / s) ** 2)
            else:
                z = (np.log(tau) - self.location) / s
                if self.kind == "log-normal":  # standard normal log density
                    base = -0.5 * z * z - _LOG_SQRT_2PI
                else:  # Student t log density with ν = df (e.g. Johnson, Kotz & Balakrishnan 1995, 28.1)
                    nu = self.df
                    base = (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
                            - (nu + 1) / 2 * np.log1p(z * z / nu))
                out = base - math.log(s) - np.log(tau)  # change of variable log τ → τ
            ok = tau > 0 if self.kind in ("log-normal", "log-t") else tau >= 0
            return np.where(ok, out, -np.inf)

    def quantile(self, p: float) -> float:
        """Prior quantile of τ (used to place the integration grid)."""
        if self.kind == "half-normal":
            return float(self.scale * ndtri(0.5 + p / 2))
        if self.kind == "half-cauchy":  # Cauchy quantile at 0.5 + p/2: tan(π p / 2)
            return float(self.scale * math.tan(math.pi * p / 2))
        q = ndtri(p) if self.kind == "log-normal" else stdtrit(self.df, p)
        return float(math.exp(self.location + self.scale * q))

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "scale": self.scale, "location": self.location,
                "df": None if math.isinf(self.df) else self.df, "label": self.label}


def half_normal(scale: float) -> TauPrior:
    """Half-normal prior for τ with the given scale (Röver 2020, section 3.3)."""
    return TauPrior("half-normal", float(scale), label=f"half-normal(scale={scale:g})")


def half_cauchy(scale: float) -> TauPrior:
    """Half-Cauchy prior for τ with the given scale (Gelman 2006; Röver 2020, section 3.3)."""
    return TauPrior("half-cauchy", float(scale), label=f"half-Cauchy(scale={scale:g})")


def _index(name: str | None, names: tuple[str, ...], what: str) -> int:
    if name is None:
        return -1
    key = name.strip().lower()
    for i, candidate in enumerate(names):
        if candidate.lower() == key or candidate.lower().startswith(key):
            return i
    raise DataError(f"unknown {what} {name!r}; expected one of: {'; '.join(names)}", field="prior")


def turner(outcome: str | None = None, comparison: str | None = None) -> TauPrior:
    """Turner et al. 2015 log-normal prior for τ of a log odds ratio.

    ``outcome``/``comparison`` name a row/column of their Table IV (prefixes accepted); both
    ``None`` gives the general setting log τ² ~ N(−2.56, 1.74²) (p. 993).
    """
    if outcome is None and comparison is None:
        mean, sd, where = -2.56, 1.74, "general setting, p. 993"
    else:
        o = _index(outcome or "subjective", TURNER_OUTCOMES, "Turner outcome type")
        c = _index(comparison or "pharmacological vs placebo", TURNER_COMPARISONS,
                   "Turner comparison type")
        mean, sd = _TURNER_MEAN[c][o], _TURNER_SD[c][o]
        where = f"Table IV: {TURNER_OUTCOMES[o]}, {TURNER_COMPARISONS[c]}"
    # log τ² ~ N(m, s²) ⇔ log τ ~ N(m/2, (s/2)²) (Turner et al. 2015, section 4.1)
    return TauPrior("log-normal", sd / 2, location=mean / 2,
                    label=f"Turner et al. 2015 log-normal (log tau^2 ~ N({mean}, {sd}^2); {where})")


def rhodes(outcome: str | None = None, comparison: str | None = None) -> TauPrior:
    """Rhodes et al. 2015 log-t(5) prior for τ of a standardised mean difference (Table 3;
    both ``None``: general setting log τ² ~ t₅(−3.44, 2.59), start of section 3.3)."""
    if outcome is None and comparison is None:
        loc, scale, where = -3.44, 2.59, "general setting, section 3.3"
    else:
        o = _index(outcome or "general", RHODES_OUTCOMES, "Rhodes outcome type")
        c = _index(comparison or "pharmacological vs placebo", RHODES_COMPARISONS,
                   "Rhodes comparison type")
        loc, scale = _RHODES_LOCATION[c][o], _RHODES_SCALE[c][o]
        where = f"Table 3: {RHODES_OUTCOMES[o]}, {RHODES_COMPARISONS[c]}"
    return TauPrior("log-t", scale / 2, location=loc / 2, df=RHODES_DF,
                    label=f"Rhodes et al. 2015 log-t (log tau^2 ~ t5({loc}, {scale}); {where})")
