"""Informative statements: the certainty × effect-size grid, cell by cell.

The expected sentences are copied from the published grid as given in METHODS §4.7: Santesso N,
Glenton C, Dahm P, et al. GRADE guidelines 26: informative statements to communicate the findings
of systematic reviews of interventions. J Clin Epidemiol 2020;119:126-135 (PMID 31711912), the
basis of Cochrane Handbook Table 15.6.b. "X" is the intervention and "Y" the outcome, exactly as
in the table; our functions add only the final full stop. The Core GRADE 2 Table 1 wording and the
Cochrane plain-language style ("It is unclear whether …") are checked the same way.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

import trialsynth as ts
from trialsynth.assess.certainty.statements import (
    BANDS,
    EffectBands,
    bayes_agreement,
    benefit_or_harm,
    core_grade_statement,
    default_bands,
    effect_band,
    effect_direction,
    informative_statement,
    outcome_phrase,
    plain_language_sentence,
    risk_difference_per_1000,
    stated_bands,
    statements_for,
)
from trialsynth.assess.rules import DEFAULT_RULES

# METHODS §4.7 table (Santesso 2020; Handbook 15.6.b), "reduction/increase" and "reduces/increases"
# resolved to each direction.
TABLE = {
    ("high", "large"): ("X results in a large reduction in Y", "X results in a large increase in Y"),
    ("high", "moderate"): ("X reduces Y", "X increases Y"),
    ("high", "small"): ("X reduces Y slightly", "X increases Y slightly"),
    ("high", "trivial"): ("X results in little to no difference in Y",) * 2,
    ("moderate", "large"): ("X likely results in a large reduction in Y",
                            "X likely results in a large increase in Y"),
    ("moderate", "moderate"): ("X likely reduces Y", "X likely increases Y"),
    ("moderate", "small"): ("X likely reduces Y slightly", "X likely increases Y slightly"),
    ("moderate", "trivial"): ("X likely results in little to no difference in Y",) * 2,
    ("low", "large"): ("X may result in a large reduction in Y",
                       "X may result in a large increase in Y"),
    ("low", "moderate"): ("X may reduce Y", "X may increase Y"),
    ("low", "small"): ("X may reduce Y slightly", "X may increase Y slightly"),
    ("low", "trivial"): ("X may result in little to no difference in Y",) * 2,
}
VERY_LOW = "The evidence is very uncertain about the effect of X on Y."


@pytest.mark.parametrize(("level", "band"), list(TABLE))
@pytest.mark.parametrize("direction", ["reduction", "increase"])
def test_grid_cell(level: str, band: str, direction: str) -> None:
    want = TABLE[(level, band)][direction == "increase"] + "."
    assert informative_statement("X", "Y", level, band, direction) == want


@pytest.mark.parametrize("band", BANDS)
def test_moderate_row_probably_variant(band: str) -> None:
    """The table's "likely (probably)": both words are published."""
    want = TABLE[("moderate", band)][0].replace("likely", "probably") + "."
    assert informative_statement("X", "Y", "moderate", band, "reduction",
                                 moderate_word="probably") == want


@pytest.mark.parametrize("band", BANDS)
@pytest.mark.parametrize("direction", ["reduction", "increase"])
def test_very_low_row(band: str, direction: str) -> None:
    assert informative_statement("X", "Y", "very_low", band, direction) == VERY_LOW
    # the alternative: "X may … but the evidence is very uncertain"
    alt = informative_statement("X", "Y", "very_low", band, direction, very_low="may")
    assert alt == TABLE[("low", band)][direction == "increase"] + \
        " but the evidence is very uncertain."


def test_names_are_inserted_and_the_sentence_capitalised() -> None:
    s = informative_statement("ketamine", "pain intensity", "low", "small", "reduction")
    assert s == "Ketamine may reduce pain intensity slightly."


# ---- Core GRADE 2 Table 1 (METHODS §4.7) ------------------------------------------------------

@pytest.mark.parametrize(("level", "has"), [("high", "has"), ("moderate", "likely has"),
                                            ("low", "may have")])
def test_core_grade_mid_version(level: str, has: str) -> None:
    # "Treatment has / likely has / may have an important benefit" or "… little to no benefit"
    assert core_grade_statement("X", "Y", level, "moderate", "reduction", "lower") == \
        f"X {has} an important benefit on Y."
    assert core_grade_statement("X", "Y", level, "large", "increase", "lower") == \
        f"X {has} an important harm on Y."
    assert core_grade_statement("X", "Y", level, "trivial", "reduction", "lower") == \
        f"X {has} little to no benefit on Y."


@pytest.mark.parametrize(("level", "verb"), [("high", "improves"), ("moderate", "likely improves"),
                                             ("low", "may improve")])
def test_core_grade_null_version(level: str, verb: str) -> None:
    # "improves / likely improves / may improve outcome X"
    assert core_grade_statement("X", "Y", level, "small", "increase", "higher",
                                threshold="null") == f"X {verb} Y."


def test_core_grade_very_low() -> None:
    # "We are very uncertain about whether treatment has a benefit"
    assert core_grade_statement("X", "Y", "very_low", "small", "reduction", "lower",
                                threshold="null") == "We are very uncertain about whether X has " \
                                                     "a benefit on Y."
    assert core_grade_statement("X", "Y", "very_low", "large", "reduction", "lower") == \
        "We are very uncertain about whether X has an important benefit on Y."


# ---- Cochrane plain-language style ---------------------------------------------------------------

def test_plain_language_very_low_is_unclear_whether() -> None:
    assert plain_language_sentence("X", "Y", "very_low", "moderate", "reduction") == \
        "It is unclear whether X reduces Y."
    assert plain_language_sentence("X", "Y", "very_low", "large", "increase") == \
        "It is unclear whether X increases Y."


@pytest.mark.parametrize(("level", "q", "verb"), [("high", "", "reduces"),
                                                  ("moderate", "probably ", "reduces"),
                                                  ("low", "may ", "reduce")])
def test_plain_language_qualifiers(level: str, q: str, verb: str) -> None:
    assert plain_language_sentence("X", "Y", level, "moderate", "reduction") == f"X {q}{verb} Y."
    assert plain_language_sentence("X", "Y", level, "small", "reduction") == \
        f"X {q}{verb} Y slightly."


def test_plain_language_trivial_and_large() -> None:
    assert plain_language_sentence("X", "Y", "low", "trivial", "reduction") == \
        "X may make little to no difference to Y."
    assert plain_language_sentence("X", "Y", "moderate", "large", "increase") == \
        "X probably results in a large increase in Y."


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        informative_statement("X", "Y", "very low", "small", "reduction")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        plain_language_sentence("X", "Y", "low", "huge", "reduction")  # type: ignore[arg-type]


# ---- effect bands (project convention, METHODS §4.7) and direction -------------------------------

@pytest.mark.parametrize(("md", "band"), [(-9.99, "trivial"), (-10, "moderate"), (15.8, "moderate"),
                                          (-20, "moderate"), (49.9, "moderate"), (-50, "large")])
def test_pain_bands_on_0_to_100(md: float, band: str) -> None:
    """Core GRADE 2: below the MID (10) little or no effect, from it an important effect; with no
    small-effect range stated it is never called 'slight'; large from 5 MIDs (Busse 2015)."""
    assert effect_band(md, "MD", mid=10) == band


@pytest.mark.parametrize(("md", "band"), [(-9.99, "trivial"), (-10, "small"), (-15.8, "small"),
                                          (-20, "moderate"), (-30, "large")])
def test_bands_stated_by_the_review(md: float, band: str) -> None:
    """GRADE 35: the review's own thresholds for small (10), moderate (20), large (30)."""
    assert effect_band(md, "MD", bands=stated_bands(10, 20, 30, "MD")) == band
    with pytest.raises(ValueError):
        stated_bands(20, 10, 30, "MD")


@pytest.mark.parametrize(("smd", "band"), [(0.19, "trivial"), (-0.2, "trivial"),
                                           (0.49, "trivial"), (0.5, "moderate"),
                                           (-0.79, "moderate"), (0.8, "large")])
def test_smd_bands(smd: float, band: str) -> None:
    """Without an MID an SMD is important from 0.5, the threshold its certainty is rated against
    (rule band.smd_trivial_below_threshold); Cohen's 0.2 'small' band only on request."""
    assert effect_band(smd, "SMD") == band
    cohen = DEFAULT_RULES.replace(**{"band.smd_trivial_below_threshold": False})
    assert effect_band(-0.2, "SMD", rules=cohen) == "small"


def test_ratio_bands_and_absolute_bands() -> None:
    assert effect_band(math.log(0.95), "RR") == "trivial"
    assert effect_band(math.log(0.85), "RR") == "small"
    assert effect_band(math.log(0.70), "RR") == "moderate"
    assert effect_band(math.log(0.5), "OR") == "large"
    assert effect_band(math.log(1.5), "RR") == "large"
    # RD per 1000 (METHODS §5): RR 0.5 at 200/1000 → 100 fewer; OR 0.5 → risk 0.2·0.5/(0.8+0.1)
    assert math.isclose(risk_difference_per_1000(math.log(0.5), "RR", 0.2), -100)
    assert math.isclose(risk_difference_per_1000(math.log(0.5), "OR", 0.2),
                        1000 * (0.1 / 0.9 - 0.2))
    assert effect_band(math.log(0.5), "RR", control_risk=0.2,
                       rd_thresholds_per_1000=(20, 50, 150)) == "moderate"
    with pytest.raises(ValueError, match="no effect-size bands"):
        effect_band(-5.0, "MD")  # no MID, no bands
    assert default_bands("MD") is None and "project convention" in default_bands("MD", 10).source
    assert effect_band(3.0, "MD", bands=EffectBands(1, 2, 3, "points", "test")) == "large"


def test_direction_and_benefit() -> None:
    assert effect_direction(-1.0) == "reduction" and effect_direction(0.3) == "increase"
    assert benefit_or_harm("reduction", "lower") == "benefit"
    assert benefit_or_harm("increase", "lower") == "harm"
    assert benefit_or_harm("increase", "higher") == "benefit"


def test_statements_for_the_flagship_pain_analysis() -> None:
    """CD015373 1.1 (ketamine IV vs placebo, pain 0–100, immediate term): MD −15.8."""
    path = Path(__file__).parents[2] / "shared" / "data" / "pairwise70" / "CD015373_pub2_data.csv"
    d = pd.read_csv(path)
    a = d[(d["Analysis.group"] == 1) & (d["Analysis.number"] == 1)]
    f = pd.DataFrame({"study": a.Study, "mean_t": a["Experimental.mean"],
                      "sd_t": a["Experimental.SD"], "n_t": a["Experimental.N"],
                      "mean_c": a["Control.mean"], "sd_c": a["Control.SD"],
                      "n_c": a["Control.N"]})
    r = ts.pool(f, "MD", "DL")
    assert -20 < r.estimate < -10 and r.ci_low < 0 < r.ci_high
    s = statements_for(r, "very_low", "intravenous ketamine", "pain intensity", mid=10,
                       direction_of_benefit="lower")
    assert (s.band, s.direction, s.effect) == ("moderate", "reduction", "benefit")
    assert not s.clear_direction  # the CI includes no effect: the primary very-low wording
    assert s.informative == ("The evidence is very uncertain about the effect of intravenous "
                             "ketamine on pain intensity.")
    assert s.plain_language == "It is unclear whether intravenous ketamine reduces pain intensity."
    assert "trivial below the MID (10), important from 10, large from 50" in s.band_basis
    s = statements_for(r, "low", "Intravenous ketamine", "pain intensity", mid=10,
                       direction_of_benefit="lower")
    # MD −15.8 beyond the MID of 10 is an important reduction, not a 'slight' one
    assert s.informative == "Intravenous ketamine may reduce pain intensity."
    assert s.core_grade == "Intravenous ketamine may have an important benefit on pain intensity."


def test_very_low_with_a_clear_direction_uses_the_alternative_wording() -> None:
    """CD015373 1.9 (adverse events, RR 3.26, 1.05 to 10.09): the CI excludes no effect, so the
    very-low statement is Santesso 2020's 'X may … but the evidence is very uncertain'."""
    r = ts.pool(pd.DataFrame({"study": ["a", "b"], "yi": [1.2, 1.1], "se": [0.5, 0.6]}),
                "GENERIC", "IV")  # CONSTRUCTED log RR ≈ 1.16, CI above 0
    s = statements_for(r, "very_low", "Intravenous ketamine", "adverse events",
                       direction_of_benefit="lower", bands=default_bands("RR"))
    assert s.clear_direction and s.effect == "harm"
    assert s.informative == ("Intravenous ketamine may result in a large increase in adverse "
                             "events but the evidence is very uncertain.")
    assert s.plain_language == ("Intravenous ketamine may increase adverse events, but we are "
                                "very uncertain about this.")


def test_statement_and_bayesian_probability_agree_or_the_report_says_why() -> None:
    """The issue's contradiction: 'it is unclear whether … increases' beside 97% probability of
    important harm. Each combination gets a sentence that agrees or explains."""
    agree = bayes_agreement("X may result in a large increase in Y but the evidence is very "
                            "uncertain.", "very_low", "large", "harm", 0.005, 0.97, 0.025,
                            rated_down=["risk_of_bias", "imprecision"])
    assert agree.startswith("Consistent with the statement") and "97%" in agree
    why = bayes_agreement("The evidence is very uncertain about the effect of X on Y.",
                          "very_low", "large", "harm", 0.005, 0.97, 0.025,
                          rated_down=["risk_of_bias", "imprecision"])
    assert "does not reflect the concerns about risk of bias and imprecision" in why
    other = bayes_agreement("X probably results in little to no difference in Y.", "moderate",
                            "trivial", "benefit", 0.92, 0.0, 0.08)
    assert "while the statement describes a trivial effect" in other
    open_ = bayes_agreement("X may reduce Y.", "low", "moderate", "benefit", 0.77, 0.01, 0.22)
    assert open_.startswith("Consistent with the statement") and "77%" in open_


# ---- outcome names as the flagship's analyses carry them → statement phrases ---------------------

@pytest.mark.parametrize(("name", "phrase"), [
    ("Pain intensity (continuous)", "pain intensity"),
    ("Pain intensity (≥ 50% reduction)",
     "the number of people with at least 50% reduction in pain intensity"),
    ("Pain intensity (>= 30% reduction)",
     "the number of people with at least 30% reduction in pain intensity"),
    ("Tolerability", "withdrawals due to adverse events"),  # PaPaS: withdrawal due to AEs
    ("Adverse events (total)", "adverse events"),
    ("Serious adverse events", "serious adverse events"),
    ("Disability (Pain Disability Index)", "disability (Pain Disability Index)"),
    ("EQ-5D", "EQ-5D"),  # an acronym keeps its capitals
])
def test_outcome_phrase(name: str, phrase: str) -> None:
    assert outcome_phrase(name) == phrase


@pytest.mark.parametrize(("level", "band", "direction", "sentence"), [
    # Santesso 2020 / Handbook 15.6.b cells with the flagship's withdrawal outcome (lower = better)
    ("moderate", "moderate", "increase", "X probably increases withdrawals due to adverse events."),
    ("low", "trivial", "increase", "X may result in little to no difference in withdrawals due to "
     "adverse events."),
    ("very_low", "large", "increase", "The evidence is very uncertain about the effect of X on "
     "withdrawals due to adverse events."),
])
def test_withdrawal_statements_use_what_was_counted(level, band, direction, sentence) -> None:
    assert informative_statement("X", outcome_phrase("Tolerability"), level, band, direction,
                                 moderate_word="probably") == sentence


def test_statements_for_defaults_to_the_handbook_probably() -> None:
    r = ts.pool(pd.DataFrame({"study": ["a", "b"], "yi": [-0.6, -0.5], "se": [0.1, 0.1]}),
                "GENERIC", "IV")  # CONSTRUCTED: SMD-like −0.55
    s = statements_for(r, "moderate", "X", "Y", direction_of_benefit="lower",
                       bands=default_bands("SMD"))
    assert s.informative == "X probably reduces Y."  # Handbook Table 15.6.b wording
    s = statements_for(r, "moderate", "X", "Y", direction_of_benefit="lower",
                       bands=default_bands("SMD"), moderate_word="likely")
    assert s.informative == "X likely reduces Y."  # Santesso 2020's first word
