"""Informative statements from certainty × effect size (METHODS §4.7).

Three wordings, each a pure function of (intervention, outcome, certainty level, effect band,
direction):

* :func:`informative_statement` — Santesso et al. 2020 (GRADE guideline 26, J Clin Epidemiol
  119:126), the basis of Cochrane Handbook Table 15.6.b: "X results in a large reduction in Y",
  "X likely reduces Y", "X may reduce Y slightly", "The evidence is very uncertain about the effect
  of X on Y" (grid in METHODS §4.7).
* :func:`core_grade_statement` — Core GRADE 2 Table 1 (two thresholds): "has / likely has / may
  have an important benefit", "little to no benefit"; with the null, "improves / likely improves /
  may improve"; very low, "We are very uncertain about whether …".
* :func:`plain_language_sentence` — Cochrane plain-language-summary house style (Pitcher, Mitchell
  & Hughes 2021): "probably" for moderate, "may" for low, "It is unclear whether X reduces Y"
  for very low.

The effect band (trivial / small / moderate / large) comes from :func:`effect_band`: the
thresholds the review states for the outcome (small, moderate, large; GRADE 35), else a
**project convention, not GRADE** (rules ``band.*``, stated per outcome in the SoF row): an MD
is trivial below one MID and important from it — worded without "slightly", since no range of
small effects is known — and large from five MIDs; SMD 0.2/0.5/0.8 (Cohen 1988); ratio measures
by relative change 0.10/0.25/0.40, or — preferred for RR/OR (GRADE 35) — the absolute risk
difference per 1000 against outcome-specific thresholds.

At very low certainty the statement uses Santesso's alternative "X may … but the evidence is
very uncertain" when the 95% CI excludes no effect (the direction is clear, only its size and
credibility are not), and "The evidence is very uncertain about the effect of X on Y" otherwise
(project convention choosing between two published wordings). :func:`bayes_agreement` checks the
statement against the Bayesian probability of an important effect and explains a difference.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from trialsynth.assess.rules import DEFAULT_RULES, RuleSet
from trialsynth.pooling.result import RATIO_MEASURES, PooledResult

Level = Literal["high", "moderate", "low", "very_low"]
Band = Literal["trivial", "small", "moderate", "large"]
Direction = Literal["reduction", "increase"]
Effect = Literal["benefit", "harm"]
BANDS: tuple[Band, ...] = ("trivial", "small", "moderate", "large")
LEVELS: tuple[Level, ...] = ("high", "moderate", "low", "very_low")

# Santesso 2020 / Handbook Table 15.6.b, as in METHODS §4.7. Placeholders: {x} intervention,
# {y} outcome, {change} "reduction"/"increase", {verbs} "reduces"/"increases" (after X),
# {verb} "reduce"/"increase" (after "may"), {m} "likely" or "probably" (moderate certainty).
GRID: dict[tuple[Level, Band], str] = {
    ("high", "large"): "{x} results in a large {change} in {y}",
    ("high", "moderate"): "{x} {verbs} {y}",
    ("high", "small"): "{x} {verbs} {y} slightly",
    ("high", "trivial"): "{x} results in little to no difference in {y}",
    ("moderate", "large"): "{x} {m} results in a large {change} in {y}",
    ("moderate", "moderate"): "{x} {m} {verbs} {y}",
    ("moderate", "small"): "{x} {m} {verbs} {y} slightly",
    ("moderate", "trivial"): "{x} {m} results in little to no difference in {y}",
    ("low", "large"): "{x} may result in a large {change} in {y}",
    ("low", "moderate"): "{x} may {verb} {y}",
    ("low", "small"): "{x} may {verb} {y} slightly",
    ("low", "trivial"): "{x} may result in little to no difference in {y}",
}
VERY_LOW = "The evidence is very uncertain about the effect of {x} on {y}"  # Santesso 2020
VERY_LOW_ALTERNATIVE = "{low} but the evidence is very uncertain"  # Santesso 2020 alternative

# Core GRADE 2 Table 1 qualifiers by certainty (METHODS §4.7, verbatim in pmatools plain_language.R)
CORE_HAS = {"high": "has", "moderate": "likely has", "low": "may have"}
CORE_IMPROVES = {"high": "improves", "moderate": "likely improves", "low": "may improve"}
CORE_WORSENS = {"high": "worsens", "moderate": "likely worsens", "low": "may worsen"}  # composed

# Cochrane PLS house style: high (no qualifier), moderate "probably", low "may"
PLS_QUALIFIER = {"high": "", "moderate": "probably ", "low": "may "}


@dataclass(frozen=True, slots=True)
class EffectBands:
    """Cut points (small, moderate, large) for the magnitude of an effect, with their basis."""

    small: float
    moderate: float
    large: float
    unit: str
    source: str

    def band(self, magnitude: float) -> Band:
        """Trivial below ``small``; each band includes its lower cut point (METHODS §4.7)."""
        m = abs(magnitude)
        return ("large" if m >= self.large else "moderate" if m >= self.moderate
                else "small" if m >= self.small else "trivial")


def default_bands(measure: str, mid: float | None = None, rules: RuleSet = DEFAULT_RULES
                  ) -> EffectBands | None:
    """The declared band convention for ``measure`` (None where there is none, e.g. MD without an
    MID, RD, GENERIC)."""
    if measure == "SMD" and mid is not None and mid != rules["band.smd"][0]:
        return EffectBands(mid, mid, rules["band.smd"][2], "SMD", "project convention, not "
                           f"GRADE: important from the stated MID (SMD {mid:g}), large from "
                           f"{rules['band.smd'][2]:g} (Cohen 1988)")
    if measure == "SMD" and rules["band.smd_trivial_below_threshold"]:
        # the certainty of an SMD without an MID is rated against ±0.5 (imprecision), and the
        # Bayesian probability counts |SMD| < 0.5 as trivial: a statement that called 0.2–0.5
        # a small important effect would claim what the rating and the probability deny
        cut = rules["imprecision.smd_threshold_without_mid"]
        return EffectBands(cut, cut, rules["band.smd"][2], "SMD", "project convention, not "
                           f"GRADE: important from SMD {cut:g}, the threshold the certainty is "
                           f"rated against (KCE), large from {rules['band.smd'][2]:g} (Cohen "
                           "1988); the review states no MID or thresholds for this outcome")
    if measure == "SMD":
        s, m, lg = rules["band.smd"]
        return EffectBands(s, m, lg, "SMD", "Cohen 1988; Handbook 5.1 §12.6.2")
    if measure == "MD" and mid is not None:
        s, m, lg = (f * mid for f in rules["band.md_over_mid"])
        small = f"small from {s:g}, moderate from {m:g}" if s < m else f"important from {s:g}"
        return EffectBands(s, m, lg, "MD", f"project convention, not GRADE: trivial below the "
                           f"MID ({mid:g}), {small}, large from {lg:g} (the review states no "
                           "thresholds for this outcome)")
    if measure in RATIO_MEASURES:
        s, m, lg = rules["band.ratio_relative_change"]
        if mid is not None:  # the stated MID is the trivial/important cut
            return EffectBands(mid, max(mid, m), max(mid, lg), "|ratio − 1|", "project "
                               f"convention, not GRADE: important from the stated MID (a "
                               f"{mid:.0%} relative change), large from {max(mid, lg):.0%}")
        return EffectBands(s, m, lg, "|ratio − 1|", "project convention, not GRADE: relative "
                           f"change: small from {s:.0%}, moderate from {m:.0%}, large from "
                           f"{lg:.0%} (GRADE 6, Core GRADE 2; the review states no thresholds "
                           "for this outcome)")
    return None


def risk_difference_per_1000(estimate: float, measure: str, control_risk: float) -> float:
    """Absolute effect per 1000 from a relative one (METHODS §5; Handbook 14.1.6).

    RR: risk_I = ACR·RR; OR: risk_I = OR·ACR/(1 − ACR + OR·ACR); RD: the estimate itself.
    """
    if measure == "RD":
        return 1000 * estimate
    ratio = math.exp(estimate)
    risk = (control_risk * ratio if measure == "RR"
            else ratio * control_risk / (1 - control_risk + ratio * control_risk))
    return 1000 * (risk - control_risk)


def effect_band(estimate: float, measure: str, *, mid: float | None = None,
                bands: EffectBands | None = None, control_risk: float | None = None,
                rd_thresholds_per_1000: tuple[float, float, float] | None = None,
                rules: RuleSet = DEFAULT_RULES) -> Band:
    """Band of a pooled ``estimate`` (analysis scale: log for RR/OR).

    Binary measures with ``control_risk`` and ``rd_thresholds_per_1000`` use the risk difference
    per 1000 (GRADE 35); otherwise ``bands`` or :func:`default_bands`.
    """
    if rd_thresholds_per_1000 is not None and control_risk is not None \
            and measure in (*RATIO_MEASURES, "RD"):
        s, m, lg = rd_thresholds_per_1000
        rd = risk_difference_per_1000(estimate, measure, control_risk)
        return EffectBands(s, m, lg, "RD per 1000", "GRADE 35").band(rd)
    bands = bands or default_bands(measure, mid, rules)
    if bands is None:
        raise ValueError(f"no effect-size bands for {measure} without an MID or explicit bands")
    magnitude = math.exp(estimate) - 1 if measure in RATIO_MEASURES else estimate
    return bands.band(magnitude)


def effect_direction(estimate: float) -> Direction:
    """Reduction or increase in the outcome (analysis scale: MD < 0, RR < 1 reduce Y)."""
    return "reduction" if estimate < 0 else "increase"


def benefit_or_harm(direction: Direction, direction_of_benefit: Literal["lower", "higher"]
                    ) -> Effect:
    """Benefit when the outcome moves the way that is better for patients."""
    good = "reduction" if direction_of_benefit == "lower" else "increase"
    return "benefit" if direction == good else "harm"


# Outcome names as the review's analyses carry them → the phrase a statement uses ("X increases
# Y"). "Tolerability" in PaPaS reviews is withdrawal due to adverse events (lower is better), so
# "increases tolerability" would invert its meaning; the phrase names what was counted.
OUTCOME_PHRASES: dict[str, str] = {
    "tolerability": "withdrawals due to adverse events",
    "acceptability": "withdrawals for any reason",
}
_RESPONDER = re.compile(r"^(?P<base>.+?)\s*\(\s*(?:≥|>=)\s*(?P<pct>\d+(?:\.\d+)?)\s*%\s*"
                        r"(?P<what>reduction|improvement)\s*\)\s*$", re.IGNORECASE)
_DROP = re.compile(r"\s*\((?:continuous|total|dichotomous)\)\s*$", re.IGNORECASE)


def outcome_phrase(name: str) -> str:
    """The outcome as a statement names it, from the analysis' outcome name.

    "Pain intensity (continuous)" → "pain intensity"; "Pain intensity (≥ 50% reduction)" → "the
    number of people with at least 50% reduction in pain intensity"; "Tolerability" →
    "withdrawals due to adverse events"; "Adverse events (total)" → "adverse events". Other
    names keep their wording (first letter lowered unless it is an acronym), without the full
    stop some files end them with ("… at 12 weeks." would end a sentence mid-statement).
    """
    text = name.strip().rstrip(" .;,:")
    if (m := _RESPONDER.match(text)) is not None:
        base = lower_first(m["base"].strip())
        return f"the number of people with at least {m['pct']}% {m['what'].lower()} in {base}"
    text = _DROP.sub("", text)
    return OUTCOME_PHRASES.get(text.lower(), lower_first(text))


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


# Outcomes named as a capacity people want more of. Whatever the direction of the instrument
# (WOMAC function and the Fibromyalgia Impact Questionnaire score lower-is-better, SF-36 higher),
# "X reduces physical function" reads as a harm, so these are worded by what the change means
# for patients: "improves" / "worsens" (Core GRADE 2 Table 1 words a benefit "improves").
_CAPACITY = re.compile(r"\bfunction|quality of life|\b(?:hr)?qol\b|well-?being|strength|"
                       r"mobility|range of motion|satisfaction", re.IGNORECASE)
_NOT_CAPACITY = re.compile(r"disabilit|impairment|dysfunction|loss of", re.IGNORECASE)
VERB_WORDS: dict[str, tuple[str, str, str]] = {  # change → (noun, verb, 3rd person)
    "reduction": ("reduction", "reduce", "reduces"),
    "increase": ("increase", "increase", "increases"),
    "improvement": ("improvement", "improve", "improves"),
    "worsening": ("worsening", "worsen", "worsens")}


_PLURAL = re.compile(r"[^siu\W]s$", re.IGNORECASE)  # "antibiotics", not "…sis", "…us", "…ss"


def is_plural(intervention: str) -> bool:
    """An intervention named in the plural ("antibiotics", "hip protectors", "biologics"), so
    that its verb agrees ("antibiotics probably reduce"); the last word decides ("X versus Y"
    and "X compared with Y" by X)."""
    head = re.split(r"\s+(?:versus|vs\.?|compared with)\s+", intervention.strip(), maxsplit=1,
                    flags=re.IGNORECASE)[0]
    head = re.sub(r"\s*\([^()]*\)\s*$", "", head).strip()  # "ketamine (topical)"
    return bool(_PLURAL.search(head))


def is_capacity(outcome: str) -> bool:
    """True for an outcome named as a capacity (function, quality of life, strength, …)."""
    return bool(_CAPACITY.search(outcome)) and not _NOT_CAPACITY.search(outcome)


def change_word(direction: str, effect: str | None, outcome: str) -> str:
    """ "reduction"/"increase" of the outcome, or "improvement"/"worsening" for a capacity
    (:func:`is_capacity`) whose benefit or harm is known."""
    if effect in ("benefit", "harm") and direction in ("reduction", "increase") and \
            is_capacity(outcome):
        return "improvement" if effect == "benefit" else "worsening"
    return direction


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _check(level: str, band: str, direction: str) -> None:
    if level not in LEVELS or band not in BANDS or direction not in ("reduction", "increase"):
        raise ValueError(f"unknown level/band/direction {level!r}/{band!r}/{direction!r}")


def stated_bands(small: float, moderate: float, large: float, measure: str) -> EffectBands:
    """The review's own thresholds for an outcome (GRADE 35): small, moderate and large effects,
    in the MD's units or as a relative change for ratio measures."""
    if not 0 < small <= moderate <= large:
        raise ValueError(f"thresholds must satisfy 0 < small ≤ moderate ≤ large, not {small}, "
                         f"{moderate}, {large}")
    unit = "|ratio − 1|" if measure in RATIO_MEASURES else measure
    return EffectBands(small, moderate, large, unit, f"thresholds stated by the review: small "
                       f"from {small:g}, moderate from {moderate:g}, large from {large:g}")


def very_low_statement(intervention: str, outcome: str) -> str:
    """Santesso 2020's very-low-certainty statement: it names no size of effect, so it needs no
    effect band (an MD on a scale without an MID still gets it)."""
    return _sentence(VERY_LOW.format(x=intervention, y=outcome))


def informative_statement(intervention: str, outcome: str, level: Level, band: Band,
                          direction: Direction, *, moderate_word: str = "likely",
                          very_low: Literal["uncertain", "may"] = "uncertain",
                          plural: bool = False, effect: Effect | None = None) -> str:
    """Santesso 2020 / Handbook Table 15.6.b statement for one certainty × effect-band cell.

    ``moderate_word``: "likely" or "probably" (both in the table). ``very_low="may"`` gives the
    alternative "X may … but the evidence is very uncertain". ``plural``: X is plural ("Hip
    protectors probably reduce …"), so its verb loses the -s. ``effect`` (benefit/harm): a
    capacity outcome is then worded "improves"/"worsens" (:func:`change_word`).
    """
    _check(level, band, direction)
    noun, verb, third = VERB_WORDS[change_word(direction, effect, outcome)]
    words = {"x": intervention, "y": outcome, "change": noun, "m": moderate_word,
             "verbs": verb if plural else third, "verb": verb}
    if plural:  # "X results in" → "X result in" (the only other finite verb of the grid)
        grid = {key: t.replace("{x} results", "{x} result").replace("{m} results", "{m} result")
                for key, t in GRID.items()}
        if level != "very_low":
            return _sentence(grid[(level, band)].format(**words))
        if very_low == "may":
            return _sentence(VERY_LOW_ALTERNATIVE.format(low=grid[("low", band)].format(**words)))
    if level == "very_low":
        if very_low == "uncertain":
            return very_low_statement(intervention, outcome)
        low = GRID[("low", band)].format(**words)
        return _sentence(VERY_LOW_ALTERNATIVE.format(low=low))
    return _sentence(GRID[(level, band)].format(**words))


def core_grade_statement(intervention: str, outcome: str, level: Level, band: Band,
                         direction: Direction, direction_of_benefit: Literal["lower", "higher"],
                         *, threshold: Literal["mid", "null"] = "mid") -> str:
    """Core GRADE 2 Table 1 wording (METHODS §4.7).

    MID threshold: "X has / likely has / may have an important benefit (harm) on Y", or
    "… little to no benefit on Y" for a trivial effect. Null threshold: "X improves / likely
    improves / may improve Y" (a harm reads "worsens", composed by mirroring). Very low: "We are
    very uncertain about whether X has (an important) benefit on Y". The outcome is appended to
    the verbatim frames ("on Y"), which name only the treatment.
    """
    _check(level, band, direction)
    effect = benefit_or_harm(direction, direction_of_benefit)
    if level == "very_low":
        what = f"an important {effect}" if threshold == "mid" else f"a {effect}"
        return _sentence(f"We are very uncertain about whether {intervention} has {what} on "
                         f"{outcome}")
    if threshold == "null":
        verb = (CORE_IMPROVES if effect == "benefit" else CORE_WORSENS)[level]
        return _sentence(f"{intervention} {verb} {outcome}")
    what = "little to no benefit" if band == "trivial" else f"an important {effect}"
    return _sentence(f"{intervention} {CORE_HAS[level]} {what} on {outcome}")


def plain_language_sentence(intervention: str, outcome: str, level: Level, band: Band,
                            direction: Direction, *, clear_direction: bool = False,
                            effect: Effect | None = None) -> str:
    """Cochrane plain-language-summary sentence ("It is unclear whether …" for very low; with
    ``clear_direction`` — the CI excludes no effect — "X may increase Y, but we are very
    uncertain about this", as the very-low statement then says)."""
    _check(level, band, direction)
    noun, base, finite = VERB_WORDS[change_word(direction, effect, outcome)]
    if level == "very_low" and clear_direction and band != "trivial":
        return _sentence(f"{intervention} may {base} {outcome}, but we are very uncertain about "
                         "this")
    if level == "very_low":  # Cochrane PLS house style (METHODS §4.7)
        many = is_plural(intervention)
        what = (("make" if many else "makes") + " any difference to" if band == "trivial"
                else base if many else finite)
        return _sentence(f"It is unclear whether {intervention} {what} {outcome}")
    q = PLS_QUALIFIER[level]
    # "reduces" after no qualifier or "probably", unless the intervention is plural
    third = (not q or q.startswith("probably")) and not is_plural(intervention)
    verb = finite if third else base
    if band == "trivial":
        make = "makes" if third else "make"
        return _sentence(f"{intervention} {q}{make} little to no difference to {outcome}")
    if band == "large":
        result = "results" if third else "result"
        return _sentence(f"{intervention} {q}{result} in a large {noun} in {outcome}")
    return _sentence(f"{intervention} {q}{verb} {outcome}" + (" slightly" if band == "small" else ""))


@dataclass(frozen=True, slots=True)
class Statements:
    """All wordings for one analysis, with the band and direction they were built from."""

    band: Band
    direction: Direction
    effect: Effect
    informative: str
    core_grade: str
    plain_language: str
    band_basis: str
    clear_direction: bool = False  # the 95% CI excludes no effect


def statements_for(result: PooledResult, level: Level, intervention: str, outcome: str, *,
                   direction_of_benefit: Literal["lower", "higher"], mid: float | None = None,
                   bands: EffectBands | None = None, control_risk: float | None = None,
                   rd_thresholds_per_1000: tuple[float, float, float] | None = None,
                   rules: RuleSet = DEFAULT_RULES, moderate_word: str = "probably",
                   plural: bool | None = None) -> Statements:
    """Band and direction from a pooled result, then the three wordings (``plural``: the
    intervention is named in the plural, as "hip protectors").

    ``moderate_word`` defaults to "probably", the Cochrane Handbook Table 15.6.b wording
    (Santesso 2020 prints "likely (probably)").
    """
    if result.estimate is None:
        raise ValueError("the analysis has no pooled estimate")
    plural = is_plural(intervention) if plural is None else plural
    band = effect_band(result.estimate, result.measure, mid=mid, bands=bands,
                       control_risk=control_risk, rd_thresholds_per_1000=rd_thresholds_per_1000,
                       rules=rules)
    direction = effect_direction(result.estimate)
    clear = result.ci_low is not None and result.ci_high is not None and (
        result.ci_low > 0 or result.ci_high < 0)  # the CI excludes no effect (log scale: 0)
    if rd_thresholds_per_1000 is not None and control_risk is not None:
        basis = "risk difference per 1000 against outcome-specific thresholds (GRADE 35)"
    else:
        used = bands or default_bands(result.measure, mid, rules)
        basis = "" if used is None else used.source
    effect = benefit_or_harm(direction, direction_of_benefit)
    return Statements(
        band=band, direction=direction, effect=effect,
        informative=informative_statement(
            intervention, outcome, level, band, direction, moderate_word=moderate_word,
            very_low="may" if clear and band != "trivial" else "uncertain", plural=plural,
            effect=effect),
        core_grade=core_grade_statement(intervention, outcome, level, band, direction,
                                        direction_of_benefit,
                                        threshold="mid" if mid is not None else "null"),
        plain_language=plain_language_sentence(intervention, outcome, level, band, direction,
                                               clear_direction=clear, effect=effect),
        band_basis=basis, clear_direction=clear)


BAYES_CLEAR = 0.90  # project convention: a posterior probability this high is "clear"


def bayes_agreement(statement: str, level: Level, band: str, effect: str, p_benefit: float,
                    p_harm: float, p_trivial: float, *, rated_down: Sequence[str] = ()) -> str:
    """Whether the statement and the Bayesian probability of an important effect agree, and if
    not, why (the report must not contradict itself; issue of the statements' consistency).

    ``effect``: "benefit" or "harm" (the direction of the point estimate for patients); ``band``
    trivial means the statement claims little or no difference. ``rated_down``: the GRADE
    domains that lowered the certainty. The probabilities come from the pooled data and a
    weakly informative prior only; GRADE also weighs risk of bias, inconsistency, indirectness
    and publication bias, which the probability does not.
    """
    probs = {"benefit": p_benefit, "harm": p_harm, "trivial": p_trivial}
    top = max(probs, key=lambda k: probs[k])
    claim = "trivial" if band == "trivial" else effect
    words = {"benefit": "an important benefit", "harm": "an important harm",
             "trivial": "a trivial effect"}
    p_text = f"{probs[top]:.0%} probability of {words[top]}"
    why = (" and ".join(d.replace("_", " ") for d in rated_down) or "the GRADE domains")
    if probs[top] < BAYES_CLEAR:
        if level in ("high", "moderate"):
            return (f"The Bayesian analysis is less decisive than the statement (the largest "
                    f"probability is {p_text}): the statement rests on the point estimate and "
                    "its certainty, and the probability shows how far the true effect may lie "
                    "from it.")
        return (f"Consistent with the statement: the Bayesian analysis leaves the answer open "
                f"(the largest probability is {p_text}).")
    if top == claim and (level != "very_low" or " may " in f" {statement} "):
        return f"Consistent with the statement: the Bayesian analysis gives a {p_text}."
    if band == "small" and top == "trivial" and level != "very_low":
        # "slightly" claims a small effect, not an important one: an effect the probability puts
        # below its minimal important difference is what the statement describes
        return (f"Consistent with the statement, which calls the effect small ('slightly'): the "
                f"Bayesian analysis gives a {probs[top]:.0%} probability that the effect is "
                "smaller than the minimal important difference it uses.")
    if level == "very_low":
        return (f"The Bayesian analysis gives a {p_text}, yet the certainty of the evidence is "
                f"very low: the probability uses the pooled data alone and does not reflect the "
                f"concerns about {why} for which the evidence was rated down, so it overstates "
                "how sure we can be.")
    return (f"The Bayesian analysis gives a {p_text}, while the statement describes "
            f"{words[claim]}: the statement follows the point estimate against the thresholds; "
            f"read the two together (the certainty was rated down for {why}).")
