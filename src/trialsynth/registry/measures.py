"""The effect measures, one row each: data type, scale, labels, RevMan's name and the source of
the formula (the formulas themselves live in :mod:`trialsynth.effects`, cited on their lines).

A ratio measure is analysed on the log scale and shown back-transformed (exp); every other
measure is analysed and shown on its own (identity) scale (Deeks & Higgins 2010, RevMan 5
statistical algorithms, "Effect measures"; metafor ``escalc`` measures "RR", "OR", "PETO"
are log ratios likewise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DataType = Literal["dichotomous", "continuous", "generic"]
Scale = Literal["log", "identity"]

REVMAN_ALGORITHMS = ("Deeks JJ, Higgins JPT. Statistical algorithms in Review Manager 5. The "
                     "Cochrane Collaboration, 2010.")


@dataclass(frozen=True, slots=True)
class MeasureInfo:
    """One effect measure.

    Attributes
    ----------
    code : the name used everywhere in trialsynth (``--measure``, ``review.yaml``, results).
    data_type : the data an analysis of this measure holds.
    ratio : analysed on the log scale and shown as exp(·) (risk, odds and Peto odds ratios, and
        generic estimates entered on the log scale).
    label : sentence-case name (report, tables).
    abbreviation : short name of the summary-of-findings tables ("RR", "Peto OR").
    revman_name : RevMan's name of the measure (forest-plot column heading).
    plural : the words of the methods text ("risk ratios").
    citation : where the effect and its variance are defined.
    poolable : accepted by :func:`trialsynth.pool` (``GENERIC_LOG`` is pooled as ``GENERIC``).
    """

    code: str
    data_type: DataType
    ratio: bool
    label: str
    abbreviation: str
    revman_name: str
    plural: str
    citation: str
    poolable: bool = True

    @property
    def scale(self) -> Scale:
        """The scale of the analysis' numbers (estimate, CI, τ², study effects yᵢ)."""
        return "log" if self.ratio else "identity"


_TABLE: tuple[MeasureInfo, ...] = (
    MeasureInfo("RR", "dichotomous", True, "Risk ratio", "RR", "Risk Ratio", "risk ratios",
                REVMAN_ALGORITHMS),
    MeasureInfo("OR", "dichotomous", True, "Odds ratio", "OR", "Odds Ratio", "odds ratios",
                "Woolf B. On estimating the relation between blood group and disease. Ann Hum "
                "Genet 1955;19(4):251-3."),
    MeasureInfo("RD", "dichotomous", False, "Risk difference", "RD", "Risk Difference",
                "risk differences", REVMAN_ALGORITHMS),
    MeasureInfo("PETO_OR", "dichotomous", True, "Peto odds ratio", "Peto OR", "Peto Odds Ratio",
                "Peto odds ratios",
                "Yusuf S, Peto R, Lewis J, Collins R, Sleight P. Beta blockade during and after "
                "myocardial infarction: an overview of the randomized trials. Prog Cardiovasc Dis "
                "1985;27(5):335-71."),
    MeasureInfo("MD", "continuous", False, "Mean difference", "MD", "Mean Difference",
                "mean differences", REVMAN_ALGORITHMS),
    MeasureInfo("SMD", "continuous", False, "Std. mean difference (Hedges' g)", "SMD",
                "Std. Mean Difference", "standardised mean differences (Hedges' g)",
                "Hedges LV. Distribution theory for Glass's estimator of effect size and related "
                "estimators. J Educ Stat 1981;6(2):107-28."),
    MeasureInfo("GENERIC", "generic", False, "Generic inverse variance", "GENERIC", "Estimate",
                "generic inverse-variance estimates", REVMAN_ALGORITHMS),
    MeasureInfo("GENERIC_LOG", "generic", True, "Generic inverse variance (ratio)", "Ratio",
                "Ratio", "generic inverse-variance estimates of ratios (pooled on the log scale)",
                REVMAN_ALGORITHMS, poolable=False),
)

MEASURES: dict[str, MeasureInfo] = {m.code: m for m in _TABLE}
# the measures of trialsynth.pool and --measure, in their documented order
POOL_MEASURES: tuple[str, ...] = tuple(m.code for m in _TABLE if m.poolable)
# the ratio measures among the poolable ones (the numbers of a result are log ratios)
RATIO_MEASURES: tuple[str, ...] = tuple(m.code for m in _TABLE if m.ratio and m.poolable)
# every measure analysed on the log scale, GENERIC_LOG included
LOG_SCALE: tuple[str, ...] = tuple(m.code for m in _TABLE if m.ratio)


def measure_info(code: str) -> MeasureInfo:
    """The row of ``code``; KeyError naming the known measures otherwise."""
    try:
        return MEASURES[code]
    except KeyError:
        raise KeyError(f"unknown effect measure {code!r}; known: {', '.join(MEASURES)}") from None


def measures_of_type(data_type: str) -> tuple[str, ...]:
    """The measures of one data type, in table order."""
    return tuple(m.code for m in _TABLE if m.data_type == data_type)


def is_ratio(code: str) -> bool:
    """True for measures analysed on the log scale (unknown codes: False)."""
    info = MEASURES.get(code)
    return info is not None and info.ratio


def scale_of(code: str) -> Scale:
    """``"log"`` or ``"identity"``: the scale of an analysis' numbers for measure ``code``."""
    return "log" if is_ratio(code) else "identity"
