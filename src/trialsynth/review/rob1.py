"""RoB 1: the original Cochrane risk-of-bias tool, seven domains and a per-study summary.

Sources: Higgins JPT, Altman DG, Gøtzsche PC et al. The Cochrane Collaboration's tool for assessing
risk of bias in randomised trials. BMJ 2011;343:d5928; Cochrane Handbook 5.1 (2011), chapter 8
(Table 8.5.a domains, Table 8.7.a summary assessments).

Judgements are ``"low"``, ``"unclear"``, ``"high"``, plus ``"not_applicable"`` because RevMan
exports write "Not applicable" (e.g. the Fleiss 1993 RevMan Web package). Review-specific domains
("other sources of bias" split by topic, outcome-specific blinding rows) are kept under their own
names and take no part in the summary unless they are named as key domains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from trialsynth.errors import DataError

LOW, UNCLEAR, HIGH, NOT_APPLICABLE = "low", "unclear", "high", "not_applicable"
ROB1_JUDGEMENTS = (LOW, UNCLEAR, HIGH)

# key -> label as Higgins 2011 (Table 2) / RevMan 5 name the domain (Handbook 5.1 Table 8.5.a)
ROB1_DOMAINS: Mapping[str, str] = MappingProxyType({
    "random_sequence_generation": "Random sequence generation (selection bias)",
    "allocation_concealment": "Allocation concealment (selection bias)",
    "blinding_participants_personnel": "Blinding of participants and personnel (performance bias)",
    "blinding_outcome_assessment": "Blinding of outcome assessment (detection bias)",
    "incomplete_outcome_data": "Incomplete outcome data (attrition bias)",
    "selective_reporting": "Selective reporting (reporting bias)",
    "other_bias": "Other bias",
})
# Handbook 5.1 §8.7 leaves the choice of key domains to each review; with no choice made, every
# standard domain is key (the neutral default). Pass ``key_domains`` to declare the review's set.
ROB1_KEY_DOMAINS: tuple[str, ...] = tuple(ROB1_DOMAINS)

# names seen in RevMan 5 (.rm5 <NAME>), RevMan Web exports and RevMan 5.0's question form
# ("Adequate sequence generation?"; Handbook 5.0 Table 8.5.a), after :func:`_clean_name`
_DOMAIN_ALIASES = MappingProxyType({
    "random sequence generation": "random_sequence_generation",
    "sequence generation": "random_sequence_generation",
    "adequate sequence generation": "random_sequence_generation",
    "allocation concealment": "allocation_concealment",
    "blinding of participants and personnel": "blinding_participants_personnel",
    "blinding of outcome assessment": "blinding_outcome_assessment",
    "incomplete outcome data": "incomplete_outcome_data",
    "incomplete outcome data addressed": "incomplete_outcome_data",
    "selective reporting": "selective_reporting",
    "selective outcome reporting": "selective_reporting",
    "free of selective reporting": "selective_reporting",
    "other bias": "other_bias",
    "other sources of bias": "other_bias",
    "free of other bias": "other_bias",
})
_JUDGEMENT_WORDS = MappingProxyType({
    "low": LOW, "low risk": LOW, "low risk of bias": LOW,
    "unclear": UNCLEAR, "unclear risk": UNCLEAR, "unclear risk of bias": UNCLEAR,
    "high": HIGH, "high risk": HIGH, "high risk of bias": HIGH,
    # RevMan 5.0 / .rm5 RESULT codes: "Yes" = low risk, "No" = high risk, "Unknown"/"Unclear"
    # (Handbook 5.0 Table 8.5.a: the question is phrased so that 'Yes' indicates low risk of bias)
    "yes": LOW, "no": HIGH, "unknown": UNCLEAR,
    "not applicable": NOT_APPLICABLE,
})


def _clean_name(name: str) -> str:
    text = re.sub(r"\([^)]*\)", " ", str(name)).replace("?", " ")
    return re.sub(r"\s+", " ", text).strip().lower()


def rob1_domain_key(name: str) -> str:
    """The standard key of a RoB 1 domain name ("Allocation concealment (selection bias)",
    "Allocation concealment?", "allocation_concealment"), or the name itself for a review-specific one."""
    if name in ROB1_DOMAINS:
        return name
    return _DOMAIN_ALIASES.get(_clean_name(name), str(name).strip())


def normalise_rob1_judgement(value: object, *, field: str | None = None) -> str:
    """Map "Low risk" / "Unclear risk" / "High risk" (and legacy Yes/No/Unknown) to a RoB 1 judgement."""
    words = re.sub(r"\s+", " ", str(value).replace("_", " ")).strip().lower()
    judgement = _JUDGEMENT_WORDS.get(words)
    if judgement is None:
        hint = " ('some concerns' is RoB 2 wording)" if "concern" in words else ""
        raise DataError(f"{value!r} is not a RoB 1 judgement (Low risk, Unclear risk, High risk){hint}",
                        field=field)
    return judgement


def rob1_summary(judgements: Mapping[str, str], key_domains: Iterable[str] = ROB1_KEY_DOMAINS) -> str | None:
    """Summary risk of bias for a study (for an outcome), Handbook 5.1 Table 8.7.a.

    Low if all key domains are low; unclear if one or more key domain is unclear and none high;
    high if one or more key domain is high. A key domain that was not assessed counts as unclear
    ("unclear" = lack of information, Higgins 2011 Table 2); one that is not applicable is left out.
    ``None`` if no key domain was assessed at all.
    """
    keys = tuple(key_domains)
    if not keys:
        raise DataError("key_domains must name at least one domain", field="key_domains")
    for key in keys:
        if key not in ROB1_DOMAINS and key not in judgements:
            raise DataError(f"key domain {key!r} is neither a standard RoB 1 domain nor assessed",
                            field="key_domains")
    levels = [normalise_rob1_judgement(judgements[k], field=k) if k in judgements else None for k in keys]
    assessed = [level for level in levels if level not in (None, NOT_APPLICABLE)]
    if not assessed:
        return None
    missing = [UNCLEAR for level in levels if level is None]
    levels_used = assessed + missing
    if HIGH in levels_used:
        return HIGH
    return UNCLEAR if UNCLEAR in levels_used else LOW


@dataclass(frozen=True, slots=True)
class Rob1Domain:
    """One RoB 1 domain: the judgement and the support for it (a quote or a comment)."""

    domain: str
    judgement: str
    support: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "judgement", normalise_rob1_judgement(self.judgement, field=self.domain))
        if not self.label:
            object.__setattr__(self, "label", ROB1_DOMAINS.get(self.domain, self.domain))


@dataclass(frozen=True, slots=True)
class Rob1Assessment:
    """RoB 1 for one study (optionally one ``outcome``: blinding and attrition can differ by outcome).

    ``summary`` is computed from ``domains`` over ``key_domains`` (:func:`rob1_summary`).
    """

    study: str
    domains: Mapping[str, Rob1Domain]
    key_domains: tuple[str, ...] = ROB1_KEY_DOMAINS
    outcome: str | None = None

    def __post_init__(self) -> None:
        if not str(self.study).strip():
            raise DataError("study must be non-empty", field="study")
        object.__setattr__(self, "domains", MappingProxyType(dict(self.domains)))
        object.__setattr__(self, "key_domains", tuple(self.key_domains))
        for key, judged in self.domains.items():
            if judged.domain != key:
                raise DataError(f"domain key {key!r} does not match its judgement ({judged.domain!r})",
                                field=str(key))
        self.summary  # noqa: B018  (validates key_domains now rather than on first use)

    @property
    def summary(self) -> str | None:
        return rob1_summary({k: d.judgement for k, d in self.domains.items()}, self.key_domains)


def assess_rob1(study: str, domains: Mapping[str, str | Rob1Domain], *,
                key_domains: Iterable[str] = ROB1_KEY_DOMAINS, outcome: str | None = None) -> Rob1Assessment:
    """Build a RoB 1 assessment; domain names may be keys or RevMan labels, judgements any wording."""
    judged: dict[str, Rob1Domain] = {}
    for name, spec in domains.items():
        key = rob1_domain_key(name)
        if key in judged:
            raise DataError(f"domain {key!r} is given twice", field=str(name))
        label = "" if name == key else str(name)
        judged[key] = spec if isinstance(spec, Rob1Domain) else Rob1Domain(key, spec, label=label)
    return Rob1Assessment(str(study), judged, tuple(key_domains), outcome)
