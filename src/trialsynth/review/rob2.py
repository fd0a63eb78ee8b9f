"""RoB 2: signalling questions -> domain judgements -> overall judgement, per study and result.

Source: Sterne JAC et al. RoB 2: a revised tool for assessing risk of bias in randomised trials.
BMJ 2019;366:l4898, with the official decision diagrams as transcribed in METHODS.md §3 (corates
``ROB2Checklist/scoring/decision-diagrams/{domain-1,domain-2-a,domain-2-b,domain-4,domain-5,
overall}.md``; domain 3 from the RoB 2 guidance document of 22 Aug 2019).

Each diagram is a table below (``_D1`` ... ``_D5``): a box asks one question (or a pair, "both
N/PN") and the answer picks the next box or the judgement. RoB 2 is applied per *result*
(outcome x time point), so an assessment is keyed by study AND outcome.

Judgements are the strings ``"low"``, ``"some_concerns"``, ``"high"``; responses are ``Y, PY, PN,
N, NI, NA``. Every bad value is a :class:`~trialsynth.errors.DataError` (a ``ValueError``) that
names the question, domain or file column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from trialsynth.errors import DataError

LOW, SOME_CONCERNS, HIGH = "low", "some_concerns", "high"
ROB2_JUDGEMENTS = (LOW, SOME_CONCERNS, HIGH)  # best to worst
SEVERITY = {LOW: 0, SOME_CONCERNS: 1, HIGH: 2}
RESPONSES = ("Y", "PY", "PN", "N", "NI", "NA")
EFFECTS = ("assignment", "adhering")  # D2 variants: effect of assignment (ITT) / of adhering (PP)
DIRECTIONS = ("NA", "favours_experimental", "favours_comparator", "towards_null", "away_from_null",
              "unpredictable")  # optional predicted direction of bias (RoB 2 guidance, every domain)

# domain key -> (name as RoB 2 words it, RevMan Web column stem: "<stem>..judgement." / "..support.")
ROB2_DOMAINS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "D1": ("Bias arising from the randomization process", "Bias.arising.from.the.randomization.process"),
    "D2": ("Bias due to deviations from intended interventions",
           "Bias.due.to.deviations.from.intended.interventions"),
    "D3": ("Bias due to missing outcome data", "Bias.due.to.missing.outcome.data"),
    "D4": ("Bias in measurement of the outcome", "Bias.in.measurement.of.the.outcome"),
    "D5": ("Bias in selection of the reported result", "Bias.in.selection.of.the.reported.result"),
})
OVERALL_COLUMNS = ("Overall.bias..judgement.", "Overall.bias..support.")

_STD, _WITH_NA = "Y/PY/PN/N/NI", "NA/Y/PY/PN/N/NI"
# Allowed responses per signalling question (RoB 2 guidance tables; METHODS.md §3). 3.2 has no NI.
SIGNALLING_QUESTIONS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "D1": {"1.1": _STD, "1.2": _STD, "1.3": _STD},
    "D2": {"2.1": _STD, "2.2": _STD, "2.3": _WITH_NA, "2.4": _WITH_NA, "2.5": _WITH_NA, "2.6": _STD,
           "2.7": _WITH_NA},
    "D2_adhering": {"2.1": _STD, "2.2": _STD, "2.3": _WITH_NA, "2.4": _WITH_NA, "2.5": _WITH_NA,
                    "2.6": _WITH_NA},
    "D3": {"3.1": _STD, "3.2": "NA/Y/PY/PN/N", "3.3": _WITH_NA, "3.4": _WITH_NA},
    "D4": {"4.1": _STD, "4.2": _STD, "4.3": _WITH_NA, "4.4": _WITH_NA, "4.5": _WITH_NA},
    "D5": {"5.1": _STD, "5.2": _STD, "5.3": _STD},
})
# "[If applicable]" questions of D2 (adhering): not asked = NA (RoB 2 guidance, domain 2 part B)
_ADHERING_DEFAULTS = MappingProxyType({"2.3": "NA", "2.4": "NA", "2.5": "NA"})

_RESPONSE_WORDS = {
    "y": "Y", "yes": "Y", "py": "PY", "probably yes": "PY", "pn": "PN", "probably no": "PN",
    "n": "N", "no": "N", "ni": "NI", "no information": "NI", "na": "NA", "n/a": "NA",
    "not applicable": "NA",
}
_JUDGEMENT_WORDS = {  # RevMan Web writes "Low risk", "Some concerns", "High risk"
    "low": LOW, "low risk": LOW, "low risk of bias": LOW,
    "some concerns": SOME_CONCERNS, "some concern": SOME_CONCERNS,
    "high": HIGH, "high risk": HIGH, "high risk of bias": HIGH,
}



def _words(value: object) -> str:
    return re.sub(r"\s+", " ", str(value).replace("_", " ")).strip().lower()


def normalise_response(value: object, *, field: str | None = None) -> str:
    """Map a signalling-question answer ("Y", "Probably yes", "NI", ...) to its RoB 2 code."""
    code = _RESPONSE_WORDS.get(_words(value))
    if code is None:
        raise DataError(f"{value!r} is not a RoB 2 response (one of {', '.join(RESPONSES)})", field=field)
    return code


def normalise_rob2_judgement(value: object, *, field: str | None = None) -> str:
    """Map "Low risk" / "Some concerns" / "High risk" (and snake-case codes) to a RoB 2 judgement."""
    judgement = _JUDGEMENT_WORDS.get(_words(value))
    if judgement is None:
        hint = " ('unclear' is RoB 1 wording)" if "unclear" in _words(value) else ""
        raise DataError(f"{value!r} is not a RoB 2 judgement (Low risk, Some concerns, High risk){hint}",
                        field=field)
    return judgement


def worst(judgements: Iterable[str]) -> str:
    """The most severe of some RoB 2 judgements (low < some_concerns < high)."""
    return max(judgements, key=SEVERITY.__getitem__)


# ---------------------------------------------------------------------------------------------
# Decision diagrams as tables
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Ask:
    """A box asking one question; ``edges`` maps each response to the next box or a judgement."""

    question: str
    edges: Mapping[str, _Ask | _Both | str]


@dataclass(frozen=True, slots=True)
class _Both:
    """A box asking two questions: ``then`` if both answers are in ``responses``, else ``otherwise``."""

    questions: tuple[str, str]
    responses: frozenset[str]
    then: _Ask | _Both | str
    otherwise: _Ask | _Both | str


def _ask(question: str, edges: Mapping[str, _Ask | _Both | str]) -> _Ask:
    """Build a box from diagram notation: ``{"Y/PY": next, "N/PN/NI": HIGH}``."""
    expanded = {response: nxt for group, nxt in edges.items() for response in group.split("/")}
    return _Ask(question, MappingProxyType(expanded))


def _both(questions: tuple[str, str], responses: str, then: Any, otherwise: Any) -> _Both:
    return _Both(questions, frozenset(responses.split("/")), then, otherwise)


# D1 randomization process (METHODS.md §3 D1; corates domain-1.md)
_D1 = _ask("1.2", {
    "Y/PY": _ask("1.1", {"Y/PY/NI": _ask("1.3", {"N/PN/NI": LOW, "Y/PY": SOME_CONCERNS}),
                         "N/PN": SOME_CONCERNS}),
    "NI": _ask("1.3", {"N/PN/NI": SOME_CONCERNS, "Y/PY": HIGH}),
    "N/PN": HIGH,
})
# D2 effect of assignment, part 1 (2.1-2.5) and part 2 (2.6-2.7) (METHODS.md §3 D2; domain-2-a.md)
_D2_PART1 = _both(("2.1", "2.2"), "N/PN", LOW, _ask("2.3", {
    "N/PN": LOW, "NI": SOME_CONCERNS,
    "Y/PY": _ask("2.4", {"N/PN": SOME_CONCERNS,
                         "Y/PY/NI": _ask("2.5", {"Y/PY": SOME_CONCERNS, "N/PN/NI": HIGH})}),
}))
_D2_PART2 = _ask("2.6", {"Y/PY": LOW, "N/PN/NI": _ask("2.7", {"N/PN": SOME_CONCERNS, "Y/PY/NI": HIGH})})
# D2 effect of adhering (METHODS.md §3 D2 alternative; domain-2-b.md)
_D2_ADH_26 = _ask("2.6", {"Y/PY": SOME_CONCERNS, "N/PN/NI": HIGH})
_D2_ADH_2425 = _both(("2.4", "2.5"), "NA/N/PN", LOW, _D2_ADH_26)
_D2_ADHERING = _both(("2.1", "2.2"), "N/PN", _D2_ADH_2425,
                     _ask("2.3", {"NA/Y/PY": _D2_ADH_2425, "N/PN/NI": _D2_ADH_26}))
# D3 missing outcome data (METHODS.md §3 D3; RoB 2 guidance 2019, domain 3 algorithm)
_D3 = _ask("3.1", {"Y/PY": LOW, "N/PN/NI": _ask("3.2", {
    "Y/PY": LOW,
    "N/PN": _ask("3.3", {"N/PN": LOW, "Y/PY/NI": _ask("3.4", {"N/PN": SOME_CONCERNS, "Y/PY/NI": HIGH})}),
})})


def _d4_awareness(if_unaware: str) -> _Ask:
    """D4 questions 4.3-4.5; ``if_unaware`` is LOW after 4.2 N/PN and SOME_CONCERNS after 4.2 NI."""
    return _ask("4.3", {"N/PN": if_unaware, "Y/PY/NI": _ask("4.4", {
        "N/PN": if_unaware, "Y/PY/NI": _ask("4.5", {"N/PN": SOME_CONCERNS, "Y/PY/NI": HIGH})})})


# D4 measurement of the outcome (METHODS.md §3 D4; domain-4.md)
_D4 = _ask("4.1", {"Y/PY": HIGH, "N/PN/NI": _ask("4.2", {
    "Y/PY": HIGH, "N/PN": _d4_awareness(LOW), "NI": _d4_awareness(SOME_CONCERNS)})})
# D5 selection of the reported result (METHODS.md §3 D5; domain-5.md):
# both 5.2/5.3 N/PN -> 5.1; else neither Y/PY (so >= 1 NI) -> SOME; else (either Y/PY) -> HIGH
_D5 = _both(("5.2", "5.3"), "N/PN", _ask("5.1", {"Y/PY": LOW, "N/PN/NI": SOME_CONCERNS}),
            _both(("5.2", "5.3"), "N/PN/NI", SOME_CONCERNS, HIGH))


def _checked_answers(answers: Mapping[str, object], table: str) -> dict[str, str]:
    """Normalise answers; unknown questions and responses not allowed for a question are errors."""
    allowed = SIGNALLING_QUESTIONS[table]
    out = {}
    for question, value in answers.items():
        if question not in allowed:
            raise DataError(f"{question!r} is not a signalling question of {table} "
                            f"(expected {', '.join(allowed)})", field=str(question))
        code = normalise_response(value, field=question)
        if code not in allowed[question].split("/"):
            raise DataError(f"{code} is not an allowed response to {question} ({allowed[question]})",
                            field=question)
        out[question] = code
    return out


def _walk(node: _Ask | _Both | str, answers: Mapping[str, str], table: str) -> str:
    while not isinstance(node, str):
        if isinstance(node, _Both):
            pair = [_reached(answers, q, table) for q in node.questions]
            node = node.then if all(a in node.responses for a in pair) else node.otherwise
            continue
        answer = _reached(answers, node.question, table)
        if answer not in node.edges:
            raise DataError(f"{table}: the decision diagram reaches {node.question}, so it needs an "
                            f"answer other than {answer}", field=node.question)
        node = node.edges[answer]
    return node


def _reached(answers: Mapping[str, str], question: str, table: str) -> str:
    if question not in answers:
        raise DataError(f"{table}: the decision diagram reaches {question} but it has no answer",
                        field=question)
    return answers[question]


def judge_d1(answers: Mapping[str, object]) -> str:
    """D1, randomization process: answers to 1.1-1.3 -> judgement (Sterne 2019; METHODS.md §3 D1)."""
    return _walk(_D1, _checked_answers(answers, "D1"), "D1")


def judge_d2_assignment(answers: Mapping[str, object]) -> str:
    """D2, effect of assignment: worst of part 1 (2.1-2.5) and part 2 (2.6-2.7) (METHODS.md §3 D2)."""
    checked = _checked_answers(answers, "D2")
    return worst((_walk(_D2_PART1, checked, "D2"), _walk(_D2_PART2, checked, "D2")))


def judge_d2_adhering(answers: Mapping[str, object]) -> str:
    """D2, effect of adhering (per protocol): 2.1-2.6; 2.3-2.5 default to NA (not applicable)."""
    checked = {**_ADHERING_DEFAULTS, **_checked_answers(answers, "D2_adhering")}
    return _walk(_D2_ADHERING, checked, "D2_adhering")


def judge_d3(answers: Mapping[str, object]) -> str:
    """D3, missing outcome data: answers to 3.1-3.4 -> judgement (RoB 2 guidance; METHODS.md §3 D3)."""
    return _walk(_D3, _checked_answers(answers, "D3"), "D3")


def judge_d4(answers: Mapping[str, object]) -> str:
    """D4, measurement of the outcome: answers to 4.1-4.5 -> judgement (METHODS.md §3 D4).

    For participant-reported outcomes (pain) the participant is the outcome assessor (4.3).
    """
    return _walk(_D4, _checked_answers(answers, "D4"), "D4")


def judge_d5(answers: Mapping[str, object]) -> str:
    """D5, selection of the reported result: answers to 5.1-5.3 -> judgement (METHODS.md §3 D5)."""
    return _walk(_D5, _checked_answers(answers, "D5"), "D5")


def judge_domain(domain: str, answers: Mapping[str, object], *, effect: str = "assignment") -> str:
    """Dispatch to the algorithm of ``domain`` ("D1".."D5"); ``effect`` selects the D2 variant."""
    _check_effect(effect)
    judges = {"D1": judge_d1, "D3": judge_d3, "D4": judge_d4, "D5": judge_d5,
              "D2": judge_d2_assignment if effect == "assignment" else judge_d2_adhering}
    if domain not in judges:
        raise DataError(f"{domain!r} is not a RoB 2 domain ({', '.join(ROB2_DOMAINS)})", field=str(domain))
    return judges[domain](answers)


def rob2_overall(judgements: Iterable[str], *, some_concerns_to_high: int | None = None) -> str:
    """Overall RoB 2 judgement from the domain judgements (Sterne 2019, Table: overall judgement).

    Low if all domains are low; high if any domain is high; some concerns otherwise.
    RoB 2 also allows "high" for some concerns in multiple domains "in a way that substantially
    lowers confidence in the result" — a judgement call. It is applied here only as the named,
    optional project rule ``some_concerns_to_high=n``: n or more some-concerns domains -> high.
    It is a project convention, not RoB 2; default off (METHODS.md §3 "Overall judgement").
    """
    rule = _check_rule(some_concerns_to_high)
    levels = [normalise_rob2_judgement(j, field="domain judgement") for j in judgements]
    if not levels:
        raise DataError("no domain judgements to combine", field="domains")
    overall = worst(levels)  # all low -> low; any high -> high; else some concerns
    if overall == SOME_CONCERNS and rule is not None and levels.count(SOME_CONCERNS) >= rule:
        return HIGH  # project rule, not RoB 2
    return overall


def _check_rule(n: int | None) -> int | None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= len(ROB2_DOMAINS)):
        raise DataError(f"some_concerns_to_high must be None or an integer 2..5, not {n!r}",
                        field="some_concerns_to_high")
    return n


def _check_effect(effect: str) -> None:
    if effect not in EFFECTS:
        raise DataError(f"effect must be one of {EFFECTS}, not {effect!r}", field="effect")


def _check_rationale(rationale: str | None, target: str) -> str:
    if rationale is None or not str(rationale).strip():
        raise DataError(f"overriding the {target} judgement needs a non-empty rationale", field=target)
    return str(rationale).strip()


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DomainJudgement:
    """One judgement (a domain, or ``domain="overall"``) with its provenance.

    ``proposed`` comes from ``basis``: ``"algorithm"`` (signalling questions), ``"stated"`` (given
    directly, e.g. read from RevMan), ``"rob2_overall"`` or ``"project_rule:some_concerns_to_high>=n"``.
    ``final`` differs from ``proposed`` only by a reviewer override, whose rationale is kept.
    """

    domain: str
    proposed: str
    final: str
    basis: str
    answers: Mapping[str, str] = field(default_factory=dict)
    support: str = ""
    override_rationale: str | None = None
    direction: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "answers", MappingProxyType(dict(self.answers)))
        for name in ("proposed", "final"):
            object.__setattr__(self, name, normalise_rob2_judgement(getattr(self, name), field=self.domain))
        if self.final != self.proposed:
            object.__setattr__(self, "override_rationale",
                               _check_rationale(self.override_rationale, self.domain))
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise DataError(f"direction must be one of {DIRECTIONS}, not {self.direction!r}",
                            field=f"{self.domain} direction")

    @property
    def overridden(self) -> bool:
        return self.final != self.proposed


def assess_domain(domain: str, answers: Mapping[str, object] | None = None, judgement: str | None = None,
                  *, rationale: str | None = None, support: str = "", effect: str = "assignment",
                  direction: str | None = None) -> DomainJudgement:
    """Judge one domain from signalling-question ``answers``, or take a ``judgement`` given directly.

    With both, ``judgement`` is the reviewer's final word: if it differs from the algorithm it is an
    override and needs ``rationale`` (else :class:`DataError`, a ``ValueError``).
    """
    if answers is None and judgement is None:
        raise DataError(f"{domain}: give signalling-question answers or a judgement", field=domain)
    if answers is None:
        stated = normalise_rob2_judgement(judgement, field=domain)
        return DomainJudgement(domain, stated, stated, "stated", support=support, direction=direction)
    proposed = judge_domain(domain, answers, effect=effect)
    final = proposed if judgement is None else normalise_rob2_judgement(judgement, field=domain)
    checked = _checked_answers(answers, "D2_adhering" if (domain, effect) == ("D2", "adhering") else domain)
    return DomainJudgement(domain, proposed, final, "algorithm", checked, support,
                           rationale if final != proposed else None, direction)


@dataclass(frozen=True, slots=True)
class Rob2Assessment:
    """RoB 2 for one result: a study's ``outcome`` (outcome x time point), all its domains and overall.

    ``domains`` maps "D1".."D5" to :class:`DomainJudgement` (a domain not assessed is absent).
    ``overall`` is ``None`` only when a domain is missing and no domain is high, so that RoB 2
    cannot decide; with a high domain it is high whatever the missing domains say.
    """

    study: str
    outcome: str
    domains: Mapping[str, DomainJudgement]
    overall: DomainJudgement | None
    effect: str = "assignment"
    some_concerns_to_high: int | None = None

    def __post_init__(self) -> None:
        for name in ("study", "outcome"):
            if not str(getattr(self, name)).strip():
                raise DataError(f"{name} must be non-empty", field=name)
        _check_effect(self.effect)
        _check_rule(self.some_concerns_to_high)
        object.__setattr__(self, "domains", MappingProxyType(dict(self.domains)))
        for key, judged in self.domains.items():
            if key not in ROB2_DOMAINS or judged.domain != key:
                raise DataError(f"domain key {key!r} must be one of {', '.join(ROB2_DOMAINS)} and match "
                                f"its judgement's domain ({judged.domain!r})", field=str(key))
        finals = [d.final for d in self.domains.values()]
        if self.overall is not None and finals and SEVERITY[self.overall.final] < SEVERITY[worst(finals)]:
            raise DataError("the overall judgement cannot be better than the worst domain", field="overall")

    @property
    def judgement(self) -> str | None:
        """The final overall judgement (``None`` when RoB 2 cannot decide it)."""
        return None if self.overall is None else self.overall.final

    @property
    def complete(self) -> bool:
        return set(self.domains) == set(ROB2_DOMAINS)

    def override(self, target: str, judgement: str, rationale: str) -> Rob2Assessment:
        """A copy with ``target`` ("D1".."D5" or "overall") set to ``judgement`` for ``rationale``."""
        final = normalise_rob2_judgement(judgement, field=target)
        why = _check_rationale(rationale, target)
        if target == "overall":
            overall = overall_judgement(self.domains, some_concerns_to_high=self.some_concerns_to_high,
                                        final=final, rationale=why)
            return replace(self, overall=overall)
        if target not in self.domains:
            raise DataError(f"{target!r} is not an assessed domain of this result", field=str(target))
        domains = dict(self.domains)
        domains[target] = replace(domains[target], final=final, override_rationale=why)
        old = self.overall  # a reviewer's (or the source file's) own overall judgement is kept
        if old is not None and (old.overridden or old.basis == "stated"):
            overall = overall_judgement(domains, some_concerns_to_high=self.some_concerns_to_high,
                                        final=old.final, rationale=old.override_rationale,
                                        support=old.support)
        else:
            overall = overall_judgement(domains, some_concerns_to_high=self.some_concerns_to_high)
        return replace(self, domains=domains, overall=overall)


def _proposed_overall(domains: Mapping[str, DomainJudgement], rule: int | None) -> tuple[str | None, str]:
    """RoB 2 overall from the final domain judgements, and the basis it rests on."""
    finals = [d.final for d in domains.values()]
    if len(domains) == len(ROB2_DOMAINS):
        proposed = rob2_overall(finals, some_concerns_to_high=rule)
        plain = proposed == rob2_overall(finals)
        return proposed, "rob2_overall" if plain else f"project_rule:some_concerns_to_high>={rule}"
    if HIGH in finals:
        return HIGH, "rob2_overall"  # high in any domain -> high, whatever is missing (Sterne 2019)
    return None, "stated"


def overall_judgement(domains: Mapping[str, DomainJudgement], *, some_concerns_to_high: int | None = None,
                      final: str | None = None, rationale: str | None = None, support: str = ""
                      ) -> DomainJudgement | None:
    """The overall judgement: proposed by RoB 2 (:func:`rob2_overall`), ``final`` if a reviewer says so.

    ``final`` is a reviewer's (or a source file's) overall judgement; where it differs from the
    proposal, ``rationale`` is required and kept. With domains missing and none high nothing is
    proposed: the result is ``final`` as stated, or ``None``.

    A ``final`` better than the worst domain contradicts RoB 2's definitions (overall low needs
    every domain low; any high domain makes it high), so it is an error: override the domain.
    """
    proposed, basis = _proposed_overall(domains, _check_rule(some_concerns_to_high))
    if final is None:
        return None if proposed is None else DomainJudgement("overall", proposed, proposed, basis,
                                                             support=support)
    final = normalise_rob2_judgement(final, field="overall")
    finals = [d.final for d in domains.values()]
    if finals and SEVERITY[final] < SEVERITY[worst(finals)]:
        raise DataError(f"overall judgement {final!r} is better than the worst domain ({worst(finals)}); "
                        "RoB 2 overall is at least the worst domain: override the domain instead",
                        field="overall")
    if proposed is None:  # domains incomplete: nothing to propose, the stated judgement stands
        return DomainJudgement("overall", final, final, "stated", support=support,
                               override_rationale=rationale)
    return DomainJudgement("overall", proposed, final, basis, support=support,
                           override_rationale=rationale if final != proposed else None)


def assess_rob2(study: str, outcome: str, domains: Mapping[str, Mapping[str, object] | str | DomainJudgement],
                *, effect: str = "assignment", some_concerns_to_high: int | None = None,
                overrides: Mapping[str, tuple[str, str]] | None = None) -> Rob2Assessment:
    """Assess one result. Each domain is signalling-question answers, a judgement, or a DomainJudgement.

    ``overrides`` maps "D1".."D5"/"overall" to ``(judgement, rationale)``; a rationale is required.
    """
    _check_effect(effect)
    _check_rule(some_concerns_to_high)
    judged = {}
    for key, spec in domains.items():
        if key not in ROB2_DOMAINS:
            raise DataError(f"{key!r} is not a RoB 2 domain ({', '.join(ROB2_DOMAINS)})", field=str(key))
        if isinstance(spec, DomainJudgement):
            judged[key] = spec
        elif isinstance(spec, Mapping):
            judged[key] = assess_domain(key, spec, effect=effect)
        else:
            judged[key] = assess_domain(key, judgement=spec)
    overall = overall_judgement(judged, some_concerns_to_high=some_concerns_to_high)
    result = Rob2Assessment(str(study), str(outcome), judged, overall, effect, some_concerns_to_high)
    domains_first = sorted((overrides or {}).items(), key=lambda item: item[0] == "overall")
    for target, (judgement, rationale) in domains_first:
        result = result.override(target, judgement, rationale)
    return result
