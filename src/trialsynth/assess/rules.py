"""Every threshold of the GRADE automation, named, in one table.

Each :class:`Rule` carries its value, unit and source. Rules whose value is our own choice
(METHODS.md marks them "project convention" or leaves the choice to us) say so in ``note``,
starting with :data:`CONVENTION`; they are configuration, not GRADE, and the SoF footnotes must
declare them. Code reads values through a :class:`RuleSet` (``DEFAULT_RULES`` unless the
caller overrides some by name), so a threshold is never a bare literal in ``grade.py`` or
``statements.py``.

Sources (full references in ../shared/METHODS.md §10):
Core GRADE 2 = Guyatt et al., BMJ 2025;389:e081904 (imprecision; Fig 4, Table 1);
Core GRADE 3 = inconsistency (BMJ 2025, PMID 40328467); Core GRADE 4 = BMJ 2025;389:e083864
(risk of bias Fig 2, publication bias Fig 5); GRADE 6 = Guyatt et al., J Clin Epidemiol
2011;64:1283; GRADE 34 = Zeng et al. (PMID 35934265); Santesso 2020 = J Clin Epidemiol 119:126
(GRADE 26); Handbook = Cochrane Handbook (5.1 §9.5.2, §10.4.3.1, §12.6.2; v6 ch. 14, 15);
pmatools = github ykfrkw/pmatools (R/domain_*.R, transcribing the Core GRADE figures).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

CONVENTION = "project convention, not GRADE"


@dataclass(frozen=True, slots=True)
class Rule:
    """One named threshold: value, unit, the source it comes from, and a note."""

    name: str
    value: Any
    unit: str
    source: str
    note: str = ""

    @property
    def is_convention(self) -> bool:
        """True for values we chose ourselves (declare them in the SoF footnotes)."""
        return self.note.startswith(CONVENTION)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "source": self.source,
                "note": self.note, "project_convention": self.is_convention}


RULES: tuple[Rule, ...] = (
    # ---- certainty frame ------------------------------------------------------------------
    Rule("certainty.start_rct", "high", "level", "Handbook v6 ch. 14 key points; METHODS §4.1",
         "randomised trials start at high; only downgrading domains are automated"),
    Rule("certainty.max_downgrade", 2, "levels per domain",
         "Handbook v6 ch. 14 (serious −1, very serious −2); METHODS §4.1"),
    Rule("certainty.max_downgrade_imprecision", 3, "levels",
         "GRADE 34 ('rating down two or three levels'); GRADE 35 (extremely serious −3)"),
    # ---- risk of bias (Core GRADE 4 Fig 2) --------------------------------------------------
    Rule("rob.dominating_share", 0.65, "share of analysis weight (0–1)",
         "Core GRADE 4 Fig 2 footnote ('dominating if >65%'), via pmatools R/domain_rob.R; "
         "METHODS §4.2", "strictly greater than"),
    Rule("rob.possibly_dominating_share", 0.55, "share of analysis weight (0–1)",
         "Core GRADE 4 Fig 2 footnote ('≥55% possibly dominating'); METHODS §4.2"),
    Rule("rob.appreciable_low_share", 0.35, "share of analysis weight (0–1)",
         "Core GRADE 4 Fig 2 ('appreciable' low-RoB evidence, ≥35–45%); METHODS §4.2",
         "lower end of the published 35–45% range"),
    Rule("rob.some_concerns_as_high", True, "flag",
         "METHODS §4.2 step 1 ('the fold for some concerns is a project choice')",
         f"{CONVENTION}: RoB 2 'some concerns' counts with 'high' (not-low) weight"),
    Rule("rob.possibly_dominating_downgrade_if_different", True, "flag", "Core GRADE 4 Fig 2",
         f"{CONVENTION}: with 55–65% not-low weight, rate down 1 only if the low-RoB studies "
         "give a substantially different estimate (other side of the threshold) or none exist"),
    Rule("rob.incomplete_low_as_unclear", True, "flag",
         "RoB 2: an overall 'low' needs 'low' in every domain (Sterne et al., BMJ 2019;366:l4898, "
         "overall-judgement criteria); METHODS §3",
         "a study judged 'low' on only some domains is not at low risk overall: its weight counts "
         "as 'some concerns' (judgement incomplete)"),
    Rule("rob.unassessed_as_not_low", True, "flag",
         "Core GRADE 4 Fig 2 ('low' needs a judgement); METHODS §4.2",
         f"{CONVENTION}: when some studies carry judgements, the weight of studies without any "
         "judgement cannot count as low risk; it is added to the not-low share"),
    Rule("rob.not_assessed_downgrade", 1, "levels",
         "Core GRADE 4 (risk of bias is judged from the studies' risk-of-bias assessments); "
         "Handbook v6.4 §14.2.2 (study limitations come from the risk-of-bias assessments)",
         f"{CONVENTION}: with no risk-of-bias judgement for any study the domain cannot be 'not "
         "serious' — nobody assessed it; rated down one level (serious) and marked provisional "
         "until the studies are assessed"),
    Rule("rob.unknown_direction_could_explain", True, "flag", "Core GRADE 4 Fig 2 step 3",
         f"{CONVENTION}: when the reviewer states no direction of bias, assume the bias could "
         "explain the effect (rate down 1)"),
    # ---- inconsistency (Core GRADE 3) --------------------------------------------------------
    Rule("inconsistency.i2_seldom_serious", 30.0, "% (I²)",
         "Core GRADE 3 (verbatim: 'one will seldom see serious inconsistency with I² values "
         "<30%'); METHODS §4.3", "pre-screen: below it no downgrade is proposed"),
    Rule("inconsistency.i2_bands", ((0, 40, "might not be important"),
                                    (30, 60, "may represent moderate heterogeneity"),
                                    (50, 90, "may represent substantial heterogeneity"),
                                    (75, 100, "considerable heterogeneity")),
         "% (I²), overlapping bands", "Handbook 5.1 §9.5.2 (verbatim bands); METHODS §2.3",
         "descriptive only"),
    Rule("inconsistency.min_nonoverlapping_pairs", 1, "pairs of study CIs",
         "GRADE 7 ('minimal overlap of CIs', KCE summary); Core GRADE 3 ('the less the overlap "
         "of CIs, the more likely there is problematic inconsistency')",
         f"{CONVENTION}: 'limited overlap' = at least this many pairs of study 95% CIs that do "
         "not overlap"),
    Rule("inconsistency.i2_substantial", 50.0, "% (I²)",
         "Handbook v6.4 §10.10.2 (I² '50% to 90%: may represent substantial heterogeneity'); "
         "Core GRADE 3 ('as I² rises beyond [30%], the possible need to rate down … increases')",
         f"{CONVENTION}: with estimates on both sides of the threshold, I² at least this value "
         "says the scatter is more than chance"),
    Rule("inconsistency.q_p_cutoff", 0.10, "p-value (test of heterogeneity)",
         "Handbook v6.4 §10.10.2 ('a P value of 0.10, rather than the conventional level of "
         "0.05, is sometimes used')", "the test has low power with few studies"),
    Rule("inconsistency.subgroup_p", 0.10, "p-value (test for subgroup differences)",
         "Core GRADE 3 (the P value of a test of interaction is a credibility criterion); "
         "Handbook v6.4 §10.11.3; ICEMAN (Schandelmaier et al., CMAJ 2020)",
         f"{CONVENTION}: a subgroup difference below this p that the reviewer has not judged "
         "credible counts as unexplained heterogeneity"),
    Rule("inconsistency.most_weight_one_side", 0.75, "share of analysis weight (0–1)",
         "Core GRADE 3 Q2 ('most point estimates on one side of the threshold')",
         f"{CONVENTION}: 'most' = this share of the weight in the pooled estimate's zone"),
    Rule("inconsistency.two_levels_pi_spans_both", True, "flag",
         "Core GRADE 3 Q3; pmatools R/domain_inconsistency.R (−2, declared departure)",
         f"{CONVENTION}: −2 only when the estimates are scattered, I² is 'considerable' and the "
         "prediction interval spans both important benefit and important harm"),
    Rule("inconsistency.i2_two_levels", 75.0, "% (I²)",
         "Handbook 5.1 §9.5.2 ('75% to 100%: considerable heterogeneity')",
         f"{CONVENTION}: minimum I² for the −2 above (Core GRADE 3: two levels 'sufficiently "
         "unusual')"),
    # ---- indirectness (Core GRADE 5) -----------------------------------------------------------
    Rule("indirectness.most_weight_indirect", 0.5, "share of analysis weight (0–1)",
         "METHODS §4.6 ('propose −1 when most of the weight comes from indirect studies')",
         f"{CONVENTION}: 'most' read as strictly more than half"),
    Rule("indirectness.default_downgrade", 0, "levels", "METHODS §4.6 (requires reviewer input)",
         f"{CONVENTION}: no PICO judgement given → not rated down, the reason says 'not "
         "assessed' and the rating is provisional (Core GRADE 5 needs the reviewer's comparison "
         "of the question's PICO with the studies')"),
    # ---- imprecision (Core GRADE 2 Fig 4; GRADE 6/34) -----------------------------------------
    Rule("imprecision.ci_ratio_rr", 3.0, "upper/lower 95% CI limit (RR)",
         "Core GRADE 2 Fig 4 (binary outcomes, large effect: 'relative risk CI ratio ≥3')",
         f"{CONVENTION}: used only when no OIS can be computed (no control risk, no event "
         "count); a ratio at or above it says the OIS is probably not met: one level, never two "
         "and never when the OIS is known"),
    Rule("imprecision.ci_ratio_or", 2.5, "upper/lower 95% CI limit (OR)",
         "Core GRADE 2 Fig 4 ('odds ratio CI ratio ≥2.5')",
         f"{CONVENTION}: as imprecision.ci_ratio_rr, for odds ratios"),
    Rule("imprecision.large_rrr", 0.30, "relative risk reduction",
         "Core GRADE 2 ('implausibly large (certainly RRR >40%, possibly >30%)')",
         "the 'possibly' value, so that more large effects get the OIS check"),
    Rule("imprecision.large_smd", 0.8, "SMD", "Cohen 1988; pmatools R/domain_imprecision.R",
         f"{CONVENTION} (as in pmatools): 'large' continuous effect for the OIS branch"),
    Rule("imprecision.large_md_over_mid", 5.0, "|MD| / MID",
         "Busse 2015 (substantial 50 mm = 5 × minimal 10 mm); METHODS §4.7, §7",
         f"{CONVENTION}: 'large' MD for the OIS branch"),
    Rule("imprecision.ois_fraction_two_levels", 0.30, "N / OIS",
         "Core GRADE 2 Fig 4 ('N < 30% of OIS → consider rating down two')"),
    Rule("imprecision.ois_default_continuous", 800, "participants",
         "Core GRADE 2 Fig 4 ('N ≥ OIS (or 800)'); 4·(1.96+0.84)²/0.2² ≈ 785, METHODS §4.4"),
    Rule("imprecision.three_levels", True, "flag",
         "GRADE 34 ('consider rating down two or three levels'; 'far less than the OIS … more "
         "than one level')",
         f"{CONVENTION}: −3 when the CI crosses both thresholds and N < 30% of the OIS"),
    Rule("imprecision.ois_for_all_effects", False, "flag",
         "Core GRADE 2 Fig 4 (CI not crossing: 'moderate effect → do not rate down'; the OIS "
         "only for a large effect); GRADE 6 (Guyatt 2011, J Clin Epidemiol 64:1283, abstract: "
         "for systematic reviews precision is adequate if the CI excludes the null 'and the total "
         "number of events or patients exceeds the OIS criterion')",
         "False follows Core GRADE 2 (2025); True follows GRADE 6 (2011) and checks the OIS for "
         "any effect whose CI crosses no threshold"),
    Rule("imprecision.ois_events_rule_of_thumb", 300, "events (both arms)",
         "GRADE 6 (Guyatt 2011) and GRADE Handbook §5.2.4.1 rule of thumb (fewer than 300 events: "
         "OIS criterion likely not met) [K: check the page]",
         "used for binary outcomes only when no control risk gives a computed OIS"),
    Rule("imprecision.few_information_two_levels", False, "flag",
         "Core GRADE 2 Fig 4 (a CI that crosses one threshold: one level; 'Core GRADE users … do "
         "not need to consider sample size'); GRADE 34 (Zeng 2022, J Clin Epidemiol 150:216, "
         "abstract: 'far less than the OIS … more than one level')",
         "False follows Core GRADE 2 (and the Handbook example in the GRADE case book); True: a "
         "CI that crosses one threshold with the information far below the OIS (under "
         "imprecision.ois_fraction_two_levels) rates down two"),
    Rule("imprecision.ois_in_events", True, "flag",
         "GRADE 6 (Guyatt 2011, J Clin Epidemiol 64:1283, abstract: precision is adequate if the "
         "CI excludes no effect 'and the total number of events or patients exceeds the OIS "
         "criterion')",
         "binary outcomes: the OIS is also met when the total events reach the events the OIS "
         "trial would observe, OIS·(p₀ + p₁)/2"),
    Rule("imprecision.low_event_rate_exception", True, "flag",
         "GRADE 6 (section 'Low event rates with large sample size: an exception to the need for "
         "OIS', reproduced in KCE process book §5.5.5; key point 'the CIs to consider are those "
         "around the absolute, rather than the relative effect'); GRADE 34 (the CI of absolute "
         "effects is the primary criterion)",
         "binary outcomes below the OIS: not rated down when the control risk is low "
         "(imprecision.low_control_risk), the sample is not far below the OIS "
         "(imprecision.ois_fraction_two_levels) and the risk difference is estimated at least as "
         "precisely as the OIS trial would estimate it (SE(RD) ≤ p₀·RRR/(z₁₋α/₂ + z₁₋β))"),
    Rule("imprecision.low_control_risk", 0.05, "control-group risk",
         "GRADE 6 ('when event rates are very low'; no number given)",
         f"{CONVENTION}: 'low event rate' read as a control risk under 5%; the exception also "
         "needs a sample not far below the OIS and an absolute effect as precise as the OIS "
         "trial's, so the cut only decides which analyses may be judged on the absolute scale"),
    Rule("imprecision.ois_without_mid", True, "flag",
         "Core GRADE 2 Fig 4 (the OIS for effects that are not shown to be moderate); GRADE 6 "
         "(the OIS for any effect)",
         f"{CONVENTION}: a mean difference without an MID cannot be called moderate or large, so "
         "a CI that excludes no effect still has its OIS checked"),
    Rule("imprecision.appreciable_without_mid", True, "flag",
         "GRADE 6 ('If the 95% CI includes appreciable benefit or harm (… RR of under 0.75 or over "
         "1.25 as a rough guide) rating down … may be appropriate even if OIS criteria are met')",
         "ratio measures with the null as threshold: a CI below RR 0.75 and above RR 1.25 "
         "'crosses both' (appreciable benefit and harm), as with an MID (rule "
         "imprecision.ratio_appreciable)"),
    Rule("imprecision.smd_threshold_without_mid", 0.5, "SMD",
         "KCE process book 5512 ('downgrade if the CI crosses SMD ±0.5'); METHODS §4.4"),
    Rule("imprecision.ratio_appreciable", 0.25, "relative change (RR 0.75 / 1.25)",
         "GRADE 6 ('RR under 0.75 or over 1.25 as a rough guide'); METHODS §4.4",
         "a ready-made ratio MID: pass mid=0.25 for RR/OR (thresholds RR 0.75 and 1.25)"),
    Rule("ois.alpha", 0.05, "two-sided type I error", "Core GRADE 2; RTSA R/ris.R; METHODS §4.4/§6"),
    Rule("ois.beta", 0.20, "type II error (power 80%)", "Core GRADE 2 ('beta (typically 0.20)')"),
    Rule("ois.rrr", 0.25, "relative risk reduction",
         "Core GRADE 2 ('a modest relative risk reduction, typically 20% or 25%')"),
    Rule("ois.increase_on_rarer", True, "flag",
         "Core GRADE 2 (the OIS for 'a modest relative risk reduction'; no rule for an increase "
         "of a desired event)",
         f"{CONVENTION}: for a higher-is-better outcome the modest change is ois.rrr times the "
         "rarer of the event and its absence (an increase of the desired event while it is "
         "rarer, else a reduction of the undesired one), so the OIS trial never asks for a risk "
         "above 100%"),
    # ---- publication bias (Core GRADE 4 Fig 5) ------------------------------------------------
    Rule("funnel.min_k", 10, "studies",
         "Core GRADE 4 Fig 5 ('ie, meta-analysis was performed, >=10 studies'); Handbook 5.1 "
         "§10.4.3.1; METHODS §2.6"),
    Rule("funnel.p_cutoff", 0.05, "p-value (two-sided)",
         "pmatools R/domain_pubias.R (declared there as its convention); METHODS §2.6",
         f"{CONVENTION}: Core GRADE gives no cut-off ('strongly suggests')"),
    Rule("funnel.binary_test", "harbord", "test name",
         "Handbook 5.1 §10.4.3.1 (Harbord or Peters for binary outcomes; Egger biased for OR)",
         f"{CONVENTION}: Harbord by default, Peters on request"),
    # ---- MIDs and effect bands ------------------------------------------------------------------
    Rule("mid.pain_0_100", 10.0, "points on a 0–100 scale",
         "Busse 2015 / OMERACT 12 (1 cm / 10 mm VAS); METHODS §7"),
    Rule("mid.pain_0_100_sensitivity", 15.0, "points on a 0–100 scale",
         "Ostelo 2008 (low-back pain); METHODS §7", "sensitivity option"),
    Rule("band.smd", (0.2, 0.5, 0.8), "SMD (small, moderate, large)",
         "Cohen 1988; Handbook 5.1 §12.6.2; METHODS §4.7, §7"),
    Rule("band.smd_trivial_below_threshold", True, "flag",
         "Core GRADE 2 (the threshold of the rating decides the target: below it, little or no "
         "effect); KCE process book (SMD ±0.5 as the threshold without an MID)",
         f"{CONVENTION}: without an MID or thresholds stated for the outcome, an SMD below the "
         "imprecision threshold (imprecision.smd_threshold_without_mid, 0.5) is worded as little "
         "or no difference, not as 'slightly' (Cohen's 0.2–0.5 'small' band is not used), so "
         "the statement, the imprecision rating and the Bayesian probability use one threshold"),
    Rule("band.md_over_mid", (1.0, 1.0, 5.0), "|MD| / MID (small, moderate, large)",
         "Core GRADE 2 (a point estimate beyond the MID is an important effect, below it little "
         "or no effect); Busse 2015 (substantial 50 mm = 5 × the minimal 10 mm); Santesso 2020 "
         "('slightly' for a small important effect); METHODS §4.7",
         f"{CONVENTION}: without thresholds stated for the outcome, no range of 'small' "
         "important effects is known, so an effect of at least one MID is worded as important "
         "without 'slightly' (small = moderate cut); large from 5 MIDs; the review folder's "
         "outcome thresholds replace these"),
    Rule("band.ratio_relative_change", (0.10, 0.25, 0.40), "|RR − 1| (small, moderate, large)",
         "0.25 from GRADE 6 (appreciable), 0.40 from Core GRADE 2 (certainly large)",
         f"{CONVENTION}: the 0.10 'small' cut and the use without an absolute (RD) scale; "
         "GRADE 35 prefers RD per 1000 against outcome-specific thresholds"),
)


def _index(rules: tuple[Rule, ...]) -> Mapping[str, Rule]:
    out: dict[str, Rule] = {}
    for r in rules:
        if r.name in out:
            raise ValueError(f"duplicate rule {r.name!r}")
        out[r.name] = r
    return MappingProxyType(out)


RULE: Mapping[str, Rule] = _index(RULES)


@dataclass(frozen=True, slots=True)
class RuleSet(Mapping[str, Any]):
    """Rule values by name: the defaults, with some replaced by the caller (named, validated)."""

    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.overrides) - set(RULE))
        if unknown:
            raise KeyError(f"unknown GRADE rule(s): {', '.join(unknown)}")
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))

    def __getitem__(self, name: str) -> Any:
        if name in self.overrides:
            return self.overrides[name]
        return RULE[name].value

    def __iter__(self) -> Iterator[str]:
        return iter(RULE)

    def __len__(self) -> int:
        return len(RULE)

    def replace(self, **values: Any) -> RuleSet:
        """A new rule set with ``values`` replaced (names use '.' → pass via ``**{...}``)."""
        return RuleSet({**self.overrides, **values})

    def table(self) -> list[dict[str, Any]]:
        """Every rule as a dict (for reports), with the value in force and whether it was changed."""
        return [{**RULE[n].to_dict(), "value": self[n], "changed": n in self.overrides}
                for n in RULE]


DEFAULT_RULES = RuleSet()


def value(name: str) -> Any:
    """The default value of rule ``name`` (KeyError for an unknown name)."""
    return RULE[name].value


def conventions() -> tuple[Rule, ...]:
    """The rules that are project conventions, not GRADE (for SoF footnotes)."""
    return tuple(r for r in RULES if r.is_convention)
