"""The pooling methods, one row each: model, how studies are combined, the τ² estimator, labels,
RevMan's name and the references the methods text cites.

The implementations live in :mod:`trialsynth.pooling` (``pooling.tau2.ESTIMATORS`` maps the
τ² codes to their functions; a test keeps both tables in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Model = Literal["common", "random"]

# reference key -> the reference, for every method and for the measures' methods text
REFERENCES: dict[str, str] = {
    "DL": "DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials "
          "1986;7(3):177-88.",
    "MH": "Mantel N, Haenszel W. Statistical aspects of the analysis of data from retrospective "
          "studies of disease. J Natl Cancer Inst 1959;22(4):719-48.",
    "GB": "Greenland S, Robins JM. Estimation of a common effect parameter from sparse follow-up "
          "data. Biometrics 1985;41(1):55-68.",
    "PETO": "Yusuf S, Peto R, Lewis J, Collins R, Sleight P. Beta blockade during and after "
            "myocardial infarction: an overview of the randomized trials. Prog Cardiovasc Dis "
            "1985;27(5):335-71.",
    "IV": "Deeks JJ, Higgins JPT, Altman DG (editors). Chapter 10: Analysing data and undertaking "
          "meta-analyses. In: Cochrane Handbook for Systematic Reviews of Interventions, version "
          "6.4. Cochrane, 2023.",
    "REML": "Viechtbauer W. Bias and efficiency of meta-analytic variance estimators in the "
            "random-effects model. J Educ Behav Stat 2005;30(3):261-93.",
    "ML": "Hardy RJ, Thompson SG. A likelihood approach to meta-analysis with random effects. "
          "Stat Med 1996;15(6):619-29.",
    "PM": "Paule RC, Mandel J. Consensus values and weighting factors. J Res Natl Bur Stand "
          "1982;87(5):377-85.",
    "HE": "Hedges LV. A random effects model for effect sizes. Psychol Bull 1983;93(2):388-95.",
    "SJ": "Sidik K, Jonkman JN. A note on variance estimation in random effects meta-regression. "
          "J Biopharm Stat 2005;15(5):823-38.",
    "EB": "Morris CN. Parametric empirical Bayes inference: theory and applications. J Am Stat "
          "Assoc 1983;78(381):47-55.",
}


@dataclass(frozen=True, slots=True)
class MethodInfo:
    """One pooling method.

    Attributes
    ----------
    code : the name used everywhere in trialsynth (``--method``, ``review.yaml``, results).
    model : ``"common"`` (one true effect) or ``"random"`` (random effects).
    combine : how study results are combined: ``"IV"`` inverse variance, ``"MH"``
        Mantel–Haenszel, ``"PETO"`` Peto's one-step method.
    tau2 : the τ² estimator (a code of ``pooling.tau2.ESTIMATORS``), None for common effect.
    label : the report's words ("inverse variance, random effects (REML tau²)").
    short_label : the words of a summary-of-findings footnote ("random effects, REML").
    tau2_name : the estimator's name in a forest plot's heterogeneity line (None: no τ²).
    revman_name : RevMan's "Statistical method, Analysis model" ("M-H, Random"), as a forest
        plot's column heading names it (RevMan 5 offers DerSimonian–Laird τ² only; RevMan Web
        names every inverse-variance random-effects analysis "IV, Random").
    sentence : the methods text ("random-effects meta-analysis with the ...").
    cites : the keys of :data:`REFERENCES` the sentence cites.
    measures : the measures it can pool (None: every measure).
    """

    code: str
    model: Model
    combine: Literal["IV", "MH", "PETO"]
    tau2: str | None
    label: str
    short_label: str
    tau2_name: str | None
    revman_name: str
    sentence: str
    cites: tuple[str, ...]
    measures: tuple[str, ...] | None = None

    @property
    def random(self) -> bool:
        return self.model == "random"

    @property
    def citations(self) -> tuple[str, ...]:
        """The references of :attr:`cites`, in order."""
        return tuple(REFERENCES[k] for k in self.cites)


_TABLES = ("RR", "OR", "RD")  # 2×2-table measures the Mantel–Haenszel methods pool


def _random_iv(code: str, name: str, words: str, html: str | None = None) -> MethodInfo:
    """An inverse-variance random-effects method with τ² estimator ``code``."""
    return MethodInfo(
        code, "random", "IV", code,
        f"inverse variance, random effects ({html or name} tau²)", f"random effects, {name}", name,
        "IV, Random",
        f"random-effects meta-analysis with the {words}", (code,))


_TABLE: tuple[MethodInfo, ...] = (
    MethodInfo("IV", "common", "IV", None, "inverse variance, common effect",
               "common effect, inverse variance", None, "IV, Fixed",
               "common-effect inverse-variance pooling", ("IV",)),
    MethodInfo("MH", "common", "MH", None, "Mantel-Haenszel, common effect",
               "common effect, Mantel–Haenszel", None, "M-H, Fixed", "Mantel-Haenszel pooling",
               ("MH", "GB"), _TABLES),
    MethodInfo("PETO", "common", "PETO", None, "Peto, common effect", "common effect, Peto", None,
               "Peto, Fixed", "the Peto method", ("PETO",), ("PETO_OR",)),
    _random_iv("DL", "DerSimonian–Laird", "DerSimonian and Laird estimator of the between-study "
               "variance τ²", "DerSimonian-Laird"),
    _random_iv("REML", "REML", "restricted maximum-likelihood estimator of τ²"),
    _random_iv("ML", "maximum likelihood", "maximum-likelihood estimator of τ²", "ML"),
    _random_iv("PM", "Paule–Mandel", "Paule-Mandel estimator of τ²", "Paule-Mandel"),
    _random_iv("HE", "Hedges", "Hedges estimator of τ²"),
    _random_iv("SJ", "Sidik–Jonkman", "Sidik-Jonkman estimator of τ²", "Sidik-Jonkman"),
    _random_iv("EB", "empirical Bayes", "empirical Bayes estimator of τ²"),
    MethodInfo("MH_RANDOM", "random", "MH", "DL", "Mantel-Haenszel, random effects (RevMan 5)",
               "random effects, Mantel–Haenszel with DerSimonian–Laird τ² (RevMan 5)",
               "DerSimonian–Laird around the M-H estimate", "M-H, Random",
               "Mantel-Haenszel pooling", ("MH", "GB"), _TABLES),
)

METHODS: dict[str, MethodInfo] = {m.code: m for m in _TABLE}
COMMON_METHODS: tuple[str, ...] = tuple(m.code for m in _TABLE if m.model == "common")
# the τ² estimators, in the order of pooling.tau2.ESTIMATORS
TAU2_METHODS: tuple[str, ...] = tuple(m.code for m in _TABLE if m.model == "random"
                                      and m.combine == "IV")
# every random-effects method (the τ² estimators and RevMan 5's "M-H, random")
RANDOM_METHODS: tuple[str, ...] = tuple(m.code for m in _TABLE if m.model == "random")


def method_info(code: str) -> MethodInfo:
    """The row of ``code``; KeyError naming the known methods otherwise."""
    try:
        return METHODS[code]
    except KeyError:
        raise KeyError(f"unknown pooling method {code!r}; known: {', '.join(METHODS)}") from None
