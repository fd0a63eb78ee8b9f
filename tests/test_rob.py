"""Risk of bias: RoB 2 decision diagrams, overall judgement, overrides, RoB 1, RevMan Web columns.

Expected values come from the published algorithms, never from trialsynth itself:
- RoB 2 domain tables below are the official decision diagrams (Sterne et al. BMJ 2019;366:l4898)
  as transcribed in shared/METHODS.md §3 (D1, D2 assignment, D2 adhering, D4, D5 from corates
  ``ROB2Checklist/scoring/decision-diagrams/*.md``; D3 from the RoB 2 guidance). One row per arrow
  path to a judgement; ``"Y/PY"`` in a row means "any of these answers".
- Each table is also checked exhaustively: every combination of allowed answers matches exactly
  one row (and gets its judgement) or reaches a question with no usable answer (DataError).
- RoB 1 summary: Cochrane Handbook 5.1 Table 8.7.a.
- Real files: flagship CD015373.pub2 (RevMan Web data rows) and the Fleiss 1993 RevMan Web
  package; expected counts are made here with pandas from the files.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools

import pandas as pd
import pytest
from _paths import SHARED_DATA
from hypothesis import given, settings
from hypothesis import strategies as st

from trialsynth.errors import DataError
from trialsynth.review import rob
from trialsynth.review.rob import SIGNALLING_QUESTIONS

LOW, SOME, HIGH = "low", "some_concerns", "high"
RANK = {LOW: 0, SOME: 1, HIGH: 2}  # RoB 2: low < some concerns < high
DATA = SHARED_DATA
FLAGSHIP = DATA / "pairwise70" / "CD015373_pub2_data.csv"
FLEISS_ROB = (DATA / "meta-fleiss1993" / "revman-web-export" / "921923100913455418-study-data"
              / "921923100913455418-risk-of-bias.csv")
REVMAN_WORDS = {"Low risk": LOW, "Some concerns": SOME, "High risk": HIGH}  # RevMan Web wording
D1_COL = "Bias.arising.from.the.randomization.process..judgement."
OVERALL_COL = "Overall.bias..judgement."
needs_data = pytest.mark.shared_data  # data presence is checked in conftest.py


# ---------------------------------------------------------------------------------------------
# Diagram tables. A condition is ("each", (q,), group), ("both", (q1, q2), group) or ("either", ...).
# ---------------------------------------------------------------------------------------------
def Q(question, group):
    return ("each", (question,), frozenset(group.split("/")))


def BOTH(q1, q2, group):
    return ("both", (q1, q2), frozenset(group.split("/")))


def EITHER(q1, q2, group):
    return ("either", (q1, q2), frozenset(group.split("/")))


def holds(cond, answers):
    kind, questions, group = cond
    values = [answers.get(q) for q in questions]
    return any(v in group for v in values) if kind == "either" else all(v in group for v in values)


D1_ROWS = [  # METHODS.md §3 D1; corates domain-1.md
    ([Q("1.2", "N/PN")], HIGH, "D1: 1.2 N/PN -> High"),
    ([Q("1.2", "NI"), Q("1.3", "Y/PY")], HIGH, "D1: 1.2 NI, 1.3 Y/PY -> High"),
    ([Q("1.2", "NI"), Q("1.3", "N/PN/NI")], SOME, "D1: 1.2 NI, 1.3 N/PN/NI -> Some concerns"),
    ([Q("1.2", "Y/PY"), Q("1.1", "N/PN")], SOME, "D1: 1.2 Y/PY, 1.1 N/PN -> Some concerns"),
    ([Q("1.2", "Y/PY"), Q("1.1", "Y/PY/NI"), Q("1.3", "Y/PY")], SOME,
     "D1: 1.2 Y/PY, 1.1 Y/PY/NI, 1.3 Y/PY -> Some concerns"),
    ([Q("1.2", "Y/PY"), Q("1.1", "Y/PY/NI"), Q("1.3", "N/PN/NI")], LOW,
     "D1: 1.2 Y/PY, 1.1 Y/PY/NI, 1.3 N/PN/NI -> Low"),
]
_AWARE = EITHER("2.1", "2.2", "Y/PY/NI")
D2_PART1_ROWS = [  # METHODS.md §3 D2 Part 1; corates domain-2-a.md
    ([BOTH("2.1", "2.2", "N/PN")], LOW, "D2 part 1: 2.1 & 2.2 both N/PN -> Low"),
    ([_AWARE, Q("2.3", "N/PN")], LOW, "D2 part 1: 2.3 N/PN -> Low"),
    ([_AWARE, Q("2.3", "NI")], SOME, "D2 part 1: 2.3 NI -> Some concerns"),
    ([_AWARE, Q("2.3", "Y/PY"), Q("2.4", "N/PN")], SOME, "D2 part 1: 2.3 Y/PY, 2.4 N/PN -> Some"),
    ([_AWARE, Q("2.3", "Y/PY"), Q("2.4", "Y/PY/NI"), Q("2.5", "Y/PY")], SOME,
     "D2 part 1: 2.4 Y/PY/NI, 2.5 Y/PY -> Some concerns"),
    ([_AWARE, Q("2.3", "Y/PY"), Q("2.4", "Y/PY/NI"), Q("2.5", "N/PN/NI")], HIGH,
     "D2 part 1: 2.4 Y/PY/NI, 2.5 N/PN/NI -> High"),
]
D2_PART2_ROWS = [  # METHODS.md §3 D2 Part 2
    ([Q("2.6", "Y/PY")], LOW, "D2 part 2: 2.6 Y/PY -> Low"),
    ([Q("2.6", "N/PN/NI"), Q("2.7", "N/PN")], SOME, "D2 part 2: 2.6 N/PN/NI, 2.7 N/PN -> Some"),
    ([Q("2.6", "N/PN/NI"), Q("2.7", "Y/PY/NI")], HIGH, "D2 part 2: 2.6 N/PN/NI, 2.7 Y/PY/NI -> High"),
]


def d2_domain(part1, part2):
    """METHODS.md §3 D2: both LOW -> LOW; any HIGH -> HIGH; else SOME."""
    if part1 == part2 == LOW:
        return LOW
    return HIGH if HIGH in (part1, part2) else SOME


D2_ROWS = [(c1 + c2, d2_domain(e1, e2), f"{s1} + {s2}")
           for c1, e1, s1 in D2_PART1_ROWS for c2, e2, s2 in D2_PART2_ROWS]
_NOT_AWARE = BOTH("2.1", "2.2", "N/PN")
_NO_PROBLEMS, _PROBLEMS = BOTH("2.4", "2.5", "NA/N/PN"), EITHER("2.4", "2.5", "Y/PY/NI")
D2_ADHERING_ROWS = [  # METHODS.md §3 D2 alternative; corates domain-2-b.md
    ([_NOT_AWARE, _NO_PROBLEMS], LOW, "D2b: both N/PN -> 2.4&2.5 both NA/N/PN -> Low"),
    ([_NOT_AWARE, _PROBLEMS, Q("2.6", "Y/PY")], SOME, "D2b: 2.4/2.5 Y/PY/NI -> 2.6 Y/PY -> Some"),
    ([_NOT_AWARE, _PROBLEMS, Q("2.6", "N/PN/NI")], HIGH, "D2b: 2.4/2.5 Y/PY/NI -> 2.6 N/PN/NI -> High"),
    ([_AWARE, Q("2.3", "NA/Y/PY"), _NO_PROBLEMS], LOW, "D2b: 2.3 NA/Y/PY -> 2.4&2.5 NA/N/PN -> Low"),
    ([_AWARE, Q("2.3", "NA/Y/PY"), _PROBLEMS, Q("2.6", "Y/PY")], SOME, "D2b: 2.3 NA/Y/PY, 2.6 Y/PY -> Some"),
    ([_AWARE, Q("2.3", "NA/Y/PY"), _PROBLEMS, Q("2.6", "N/PN/NI")], HIGH,
     "D2b: 2.3 NA/Y/PY, 2.6 N/PN/NI -> High"),
    ([_AWARE, Q("2.3", "N/PN/NI"), Q("2.6", "Y/PY")], SOME, "D2b: 2.3 N/PN/NI -> 2.6 Y/PY -> Some"),
    ([_AWARE, Q("2.3", "N/PN/NI"), Q("2.6", "N/PN/NI")], HIGH, "D2b: 2.3 N/PN/NI -> 2.6 N/PN/NI -> High"),
]
_MISSING = [Q("3.1", "N/PN/NI"), Q("3.2", "N/PN")]
D3_ROWS = [  # METHODS.md §3 D3 (RoB 2 guidance, domain 3)
    ([Q("3.1", "Y/PY")], LOW, "D3: 3.1 Y/PY -> Low"),
    ([Q("3.1", "N/PN/NI"), Q("3.2", "Y/PY")], LOW, "D3: 3.2 Y/PY -> Low"),
    ([*_MISSING, Q("3.3", "N/PN")], LOW, "D3: 3.2 N/PN, 3.3 N/PN -> Low"),
    ([*_MISSING, Q("3.3", "Y/PY/NI"), Q("3.4", "N/PN")], SOME, "D3: 3.3 Y/PY/NI, 3.4 N/PN -> Some"),
    ([*_MISSING, Q("3.3", "Y/PY/NI"), Q("3.4", "Y/PY/NI")], HIGH, "D3: 3.4 Y/PY/NI -> High"),
]
_OK41 = Q("4.1", "N/PN/NI")
D4_ROWS = [  # METHODS.md §3 D4; corates domain-4.md
    ([Q("4.1", "Y/PY")], HIGH, "D4: 4.1 Y/PY -> High"),
    ([_OK41, Q("4.2", "Y/PY")], HIGH, "D4: 4.2 Y/PY -> High"),
    ([_OK41, Q("4.2", "N/PN"), Q("4.3", "N/PN")], LOW, "D4: 4.2 N/PN, 4.3 N/PN -> Low"),
    ([_OK41, Q("4.2", "N/PN"), Q("4.3", "Y/PY/NI"), Q("4.4", "N/PN")], LOW, "D4: 4.2 N/PN, 4.4 N/PN -> Low"),
    ([_OK41, Q("4.2", "N/PN"), Q("4.3", "Y/PY/NI"), Q("4.4", "Y/PY/NI"), Q("4.5", "N/PN")], SOME,
     "D4: 4.2 N/PN, 4.5 N/PN -> Some concerns"),
    ([_OK41, Q("4.2", "N/PN"), Q("4.3", "Y/PY/NI"), Q("4.4", "Y/PY/NI"), Q("4.5", "Y/PY/NI")], HIGH,
     "D4: 4.2 N/PN, 4.5 Y/PY/NI -> High"),
    ([_OK41, Q("4.2", "NI"), Q("4.3", "N/PN")], SOME, "D4: 4.2 NI, 4.3 N/PN -> Some concerns"),
    ([_OK41, Q("4.2", "NI"), Q("4.3", "Y/PY/NI"), Q("4.4", "N/PN")], SOME, "D4: 4.2 NI, 4.4 N/PN -> Some"),
    ([_OK41, Q("4.2", "NI"), Q("4.3", "Y/PY/NI"), Q("4.4", "Y/PY/NI"), Q("4.5", "N/PN")], SOME,
     "D4: 4.2 NI, 4.5 N/PN -> Some concerns"),
    ([_OK41, Q("4.2", "NI"), Q("4.3", "Y/PY/NI"), Q("4.4", "Y/PY/NI"), Q("4.5", "Y/PY/NI")], HIGH,
     "D4: 4.2 NI, 4.5 Y/PY/NI -> High"),
]
D5_ROWS = [  # METHODS.md §3 D5; corates domain-5.md
    ([EITHER("5.2", "5.3", "Y/PY")], HIGH, "D5: 5.2 or 5.3 Y/PY -> High"),
    ([BOTH("5.2", "5.3", "N/PN/NI"), EITHER("5.2", "5.3", "NI")], SOME,
     "D5: >=1 NI, neither Y/PY -> Some concerns"),
    ([BOTH("5.2", "5.3", "N/PN"), Q("5.1", "Y/PY")], LOW, "D5: both N/PN, 5.1 Y/PY -> Low"),
    ([BOTH("5.2", "5.3", "N/PN"), Q("5.1", "N/PN/NI")], SOME, "D5: both N/PN, 5.1 N/PN/NI -> Some"),
]
DOMAIN_TABLES = {  # name -> (function, question table, rows)
    "D1": (rob.judge_d1, "D1", D1_ROWS),
    "D2": (rob.judge_d2_assignment, "D2", D2_ROWS),
    "D2_adhering": (rob.judge_d2_adhering, "D2_adhering", D2_ADHERING_ROWS),
    "D3": (rob.judge_d3, "D3", D3_ROWS),
    "D4": (rob.judge_d4, "D4", D4_ROWS),
    "D5": (rob.judge_d5, "D5", D5_ROWS),
}
ALL_ROWS = [pytest.param(name, conds, expected, id=source)
            for name, (_, _, rows) in DOMAIN_TABLES.items() for conds, expected, source in rows]


def expansions(conds, table):
    """Every answer set (over the questions a row names) that satisfies the row's conditions."""
    questions = sorted({q for _, qs, _ in conds for q in qs})
    options = [SIGNALLING_QUESTIONS[table][q].split("/") for q in questions]
    for combo in itertools.product(*options):
        answers = dict(zip(questions, combo, strict=True))
        if all(holds(c, answers) for c in conds):
            yield answers


@pytest.mark.parametrize(("name", "conds", "expected"), ALL_ROWS)
def test_every_diagram_path(name, conds, expected):
    judge, table, _ = DOMAIN_TABLES[name]
    cases = list(expansions(conds, table))
    assert cases
    step = max(1, len(cases) // 400)  # D2 rows expand to thousands; the partition tests cover all
    for answers in cases[::step]:  # questions the path does not reach are left out: no answer needed
        assert judge(answers) == expected, answers


def full_space(table, fixed=None):
    questions = SIGNALLING_QUESTIONS[table]
    free = [q for q in questions if q not in (fixed or {})]
    for combo in itertools.product(*(questions[q].split("/") for q in free)):
        yield {**(fixed or {}), **dict(zip(free, combo, strict=True))}


def check_partition(judge, rows, space):
    for answers in space:
        matched = [expected for conds, expected, _ in rows if all(holds(c, answers) for c in conds)]
        assert len(matched) <= 1, (answers, matched)
        if matched:
            assert judge(answers) == matched[0], answers
        else:  # some reached question was answered NA: the diagram has no arrow for it
            with pytest.raises(DataError):
                judge(answers)


@pytest.mark.parametrize("name", ["D1", "D2_adhering", "D3", "D4", "D5"])
def test_tables_cover_every_combination_of_answers(name):
    judge, table, rows = DOMAIN_TABLES[name]
    check_partition(judge, rows, full_space(table))


def test_d2_assignment_tables_cover_every_combination_per_part():
    # part 1 alone (part 2 fixed Low by 2.6 = Y) and part 2 alone (part 1 fixed Low by 2.1 = 2.2 = N)
    part1 = [(c + [Q("2.6", "Y")], e, s) for c, e, s in D2_PART1_ROWS]
    check_partition(rob.judge_d2_assignment, part1, full_space("D2", {"2.6": "Y", "2.7": "NA"}))
    part2 = [(c + [_NOT_AWARE], e, s) for c, e, s in D2_PART2_ROWS]
    fixed = {"2.1": "N", "2.2": "N", "2.3": "NA", "2.4": "NA", "2.5": "NA"}
    check_partition(rob.judge_d2_assignment, part2, full_space("D2", fixed))


@pytest.mark.parametrize(("answers", "expected"), [
    ({"2.1": "N", "2.2": "PN"}, LOW),  # 2.3-2.5 not asked = NA -> both NA -> Low (domain-2-b.md)
    ({"2.1": "Y", "2.2": "N"}, LOW),  # 2.3 NA -> 2.4/2.5 NA -> Low
    ({"2.1": "Y", "2.2": "N", "2.5": "PY", "2.6": "N"}, HIGH),
])
def test_d2_adhering_questions_not_asked_are_not_applicable(answers, expected):
    assert rob.judge_d2_adhering(answers) == expected


def test_response_wording_is_normalised():
    long = {"1.1": "Yes", "1.2": "Probably yes", "1.3": "no information"}
    assert rob.judge_d1(long) == LOW  # Y/PY, Y/PY, NI -> Low
    assert rob.normalise_response(" probably_no ") == "PN"
    assert rob.normalise_response("Not applicable") == "NA"


@pytest.mark.parametrize(("judge", "answers", "field"), [
    (rob.judge_d1, {"1.1": "Y", "1.2": "maybe", "1.3": "N"}, "1.2"),  # not a response
    (rob.judge_d1, {"1.1": "Y", "1.2": "Y", "1.4": "N"}, "1.4"),  # not a question of D1
    (rob.judge_d1, {"1.1": "Y", "1.2": "NA", "1.3": "N"}, "1.2"),  # NA not allowed for 1.2
    (rob.judge_d1, {"1.1": "Y", "1.2": "Y"}, "1.3"),  # reached but unanswered
    (rob.judge_d3, {"3.1": "N", "3.2": "NI"}, "3.2"),  # RoB 2 guidance: 3.2 has no NI option
    (rob.judge_d3, {"3.1": "N", "3.2": "N", "3.3": "NA"}, "3.3"),  # NA where the diagram needs an answer
    (rob.judge_d2_assignment, {"2.1": "N", "2.2": "N"}, "2.6"),  # part 2 always needs 2.6
    (rob.judge_d2_adhering, {"2.1": "Y", "2.2": "Y", "2.3": "N", "2.6": "NA"}, "2.6"),
    (rob.judge_d5, {"5.1": "Y", "5.2": "N"}, "5.3"),
])
def test_bad_answers_name_the_question(judge, answers, field):
    with pytest.raises(DataError) as err:
        judge(answers)
    assert err.value.field == field
    assert isinstance(err.value, ValueError)


def test_judge_domain_dispatch_and_bad_domain():
    answers = {"2.1": "Y", "2.2": "Y", "2.3": "N", "2.6": "Y"}
    assert rob.judge_domain("D2", answers) == LOW  # assignment: part 1 Low (2.3 N), part 2 Low
    assert rob.judge_domain("D2", answers, effect="adhering") == SOME  # 2.3 N -> 2.6 Y/PY -> Some
    with pytest.raises(DataError) as err:
        rob.judge_domain("D6", answers)
    assert err.value.field == "D6"
    with pytest.raises(DataError) as err:
        rob.judge_domain("D2", answers, effect="per-protocol")
    assert err.value.field == "effect"


# ---------------------------------------------------------------------------------------------
# Overall judgement (Sterne 2019: low if all low; high if any high; some concerns otherwise)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("domains", "rule", "expected"), [
    ([LOW] * 5, None, LOW),
    ([LOW, LOW, SOME, LOW, LOW], None, SOME),
    ([SOME] * 5, None, SOME),  # RoB 2 itself never escalates: that is a judgement call
    ([LOW, HIGH, LOW, LOW, LOW], None, HIGH),
    ([SOME, HIGH, SOME, LOW, LOW], None, HIGH),
    ([SOME, SOME, SOME, LOW, LOW], 3, HIGH),  # project rule: >= 3 some concerns -> high
    ([SOME, SOME, LOW, LOW, LOW], 3, SOME),
    ([LOW] * 5, 2, LOW),
])
def test_overall_algorithm(domains, rule, expected):
    assert rob.rob2_overall(domains, some_concerns_to_high=rule) == expected


@pytest.mark.parametrize("rule", [0, 1, 6, True, 2.5, "3"])
def test_project_rule_must_be_a_small_integer(rule):
    with pytest.raises(DataError) as err:
        rob.rob2_overall([SOME] * 5, some_concerns_to_high=rule)
    assert err.value.field == "some_concerns_to_high"


def test_project_rule_is_labelled_on_the_result():
    some = dict.fromkeys(rob.ROB2_DOMAINS, "Some concerns")
    a = rob.assess_rob2("S", "pain", some, some_concerns_to_high=3)
    assert a.overall.final == HIGH
    assert a.overall.basis == "project_rule:some_concerns_to_high>=3"
    plain = rob.assess_rob2("S", "pain", dict.fromkeys(rob.ROB2_DOMAINS, "Some concerns"))
    assert (plain.overall.final, plain.overall.basis) == (SOME, "rob2_overall")


def test_incomplete_assessment():
    assert rob.assess_rob2("S", "pain", {"D1": "low", "D3": "some concerns"}).overall is None
    partial = rob.assess_rob2("S", "pain", {"D1": "low", "D4": "High risk"})
    assert partial.judgement == HIGH  # high in any domain is high, whatever the others are
    assert not partial.complete


def test_assessment_from_signalling_questions():
    domains = {
        "D1": {"1.1": "Y", "1.2": "PY", "1.3": "N"},  # Low
        "D2": {"2.1": "N", "2.2": "N", "2.6": "Y"},  # Low, Low
        "D3": {"3.1": "PY"},  # Low
        "D4": {"4.1": "N", "4.2": "N", "4.3": "Y", "4.4": "Y", "4.5": "N"},  # Some concerns
        "D5": {"5.1": "Y", "5.2": "N", "5.3": "PN"},  # Low
    }
    a = rob.assess_rob2("Sigtermans 2009", "pain intensity, short term", domains)
    assert {k: d.final for k, d in a.domains.items()} == {"D1": LOW, "D2": LOW, "D3": LOW, "D4": SOME,
                                                         "D5": LOW}
    assert a.judgement == SOME and a.complete
    assert a.domains["D4"].answers == {"4.1": "N", "4.2": "N", "4.3": "Y", "4.4": "Y", "4.5": "N"}
    assert a.domains["D4"].basis == "algorithm"
    with pytest.raises(DataError) as err:
        rob.assess_rob2("S", "pain", {"D6": "low"})
    assert err.value.field == "D6"


def test_results_are_frozen_and_slotted():
    a = rob.assess_rob2("S", "pain", {"D1": {"1.1": "Y", "1.2": "Y", "1.3": "N"}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.study = "T"
    with pytest.raises(TypeError):
        a.domains["D2"] = a.domains["D1"]
    with pytest.raises(TypeError):
        a.domains["D1"].answers["1.1"] = "N"
    assert not hasattr(a, "__dict__") and not hasattr(a.domains["D1"], "__dict__")


# ---------------------------------------------------------------------------------------------
# Reviewer overrides need a rationale, and keep proposed / final / override_rationale
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rationale", [None, "", "   "])
def test_overrides_need_a_rationale(rationale):
    answers = {"1.1": "Y", "1.2": "Y", "1.3": "N"}  # Low
    with pytest.raises(ValueError, match="rationale"):
        rob.assess_domain("D1", answers, "high", rationale=rationale)
    a = rob.assess_rob2("S", "pain", dict.fromkeys(rob.ROB2_DOMAINS, "low"))
    for target in ("D3", "overall"):
        with pytest.raises(ValueError, match="rationale") as err:
            a.override(target, "high", rationale)
        assert err.value.field == target
    with pytest.raises(ValueError, match="rationale"):
        rob.DomainJudgement("D1", "low", "high", "stated")


def test_domain_override_is_kept_and_recomputes_overall():
    a = rob.assess_rob2("S", "pain", {"D1": {"1.1": "Y", "1.2": "Y", "1.3": "N"},
                                      **dict.fromkeys(("D2", "D3", "D4", "D5"), "low")})
    b = a.override("D4", "high", "functional unblinding: 28/30 guessed their allocation")
    d4 = b.domains["D4"]
    assert (d4.proposed, d4.final, d4.overridden) == (LOW, HIGH, True)
    assert d4.override_rationale.startswith("functional unblinding")
    assert (b.overall.proposed, b.overall.final, b.overall.overridden) == (HIGH, HIGH, False)
    assert a.judgement == LOW  # the original is untouched


def test_overall_override_is_kept_and_cannot_beat_the_worst_domain():
    some = dict.fromkeys(rob.ROB2_DOMAINS, "some_concerns")
    a = rob.assess_rob2("S", "pain", some, overrides={"overall": ("high", "concerns in 5 domains compound")})
    assert (a.overall.proposed, a.overall.final) == (SOME, HIGH)
    assert a.overall.override_rationale == "concerns in 5 domains compound"
    b = a.override("D1", "low", "sequence was computer generated (protocol)")
    assert b.overall.final == HIGH and b.overall.overridden  # the reviewer's overall is kept
    with pytest.raises(DataError) as err:
        a.override("overall", "low", "looks fine")
    assert err.value.field == "overall"
    with pytest.raises(DataError):
        rob.Rob2Assessment("S", "pain", a.domains, rob.DomainJudgement("overall", LOW, LOW, "stated"))


def test_direct_domain_judgement_and_its_override():
    d = rob.assess_domain("D5", judgement="Some concerns", support="no protocol", direction="away_from_null")
    assert (d.proposed, d.final, d.basis, d.support) == (SOME, SOME, "stated", "no protocol")
    a = rob.assess_rob2("S", "pain", {"D5": d}).override("D5", "low", "SAP found, dated before unblinding")
    assert (a.domains["D5"].proposed, a.domains["D5"].final) == (SOME, LOW)
    with pytest.raises(DataError) as err:
        rob.assess_domain("D5", judgement="Some concerns", direction="sideways")
    assert err.value.field == "D5 direction"


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
judgements = st.sampled_from([LOW, SOME, HIGH])


@settings(max_examples=300, deadline=None)
@given(domains=st.fixed_dictionaries(dict.fromkeys(("D1", "D2", "D3", "D4", "D5"), judgements)),
       rule=st.none() | st.integers(2, 5), override=st.none() | judgements,
       domain_overrides=st.dictionaries(st.sampled_from(["D1", "D2", "D3", "D4", "D5"]), judgements))
def test_overall_is_never_better_than_the_worst_domain(domains, rule, override, domain_overrides):
    a = rob.assess_rob2("S", "pain", domains, some_concerns_to_high=rule)
    for key, level in domain_overrides.items():
        a = a.override(key, level, "reviewer")
    worst = max(RANK[d.final] for d in a.domains.values())
    assert RANK[a.judgement] >= worst
    if override is not None:
        if RANK[override] < worst:
            with pytest.raises(ValueError):
                a.override("overall", override, "reviewer")
        else:
            assert RANK[a.override("overall", override, "reviewer").judgement] >= worst


def answer_sets(table):
    """Any answers but NA: then every question a diagram reaches has an arrow to follow."""
    questions = SIGNALLING_QUESTIONS[table]
    return st.fixed_dictionaries({q: st.sampled_from([o for o in options.split("/") if o != "NA"])
                                  for q, options in questions.items()})


@settings(max_examples=200, deadline=None)
@given(d1=answer_sets("D1"), d2=answer_sets("D2"), d3=answer_sets("D3"), d4=answer_sets("D4"),
       d5=answer_sets("D5"))
def test_signalling_answers_give_an_overall_no_better_than_any_domain(d1, d2, d3, d4, d5):
    a = rob.assess_rob2("S", "pain", {"D1": d1, "D2": d2, "D3": d3, "D4": d4, "D5": d5})
    assert all(RANK[a.judgement] >= RANK[d.final] for d in a.domains.values())


# ---------------------------------------------------------------------------------------------
# Real files: RevMan Web RoB 2 columns (flagship) and RoB 1 study data (Fleiss 1993)
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def flagship_frame():
    return pd.read_csv(FLAGSHIP)


@needs_data
def test_flagship_rob2_columns(flagship_frame):
    frame = flagship_frame
    assessments = rob.from_revman_web_table(frame, file=FLAGSHIP.name)
    assert len(assessments) == len(frame)
    d1 = frame[D1_COL]
    parsed_d1 = [a.domains["D1"].final if "D1" in a.domains else None for a in assessments]
    assert parsed_d1.count(LOW) == int((d1 == "Low risk").sum())
    assert parsed_d1.count(SOME) == int((d1 == "Some concerns").sum())
    for (_, row), a in zip(frame.iterrows(), assessments, strict=True):
        assert a.study == row["Study"] and a.outcome.endswith(row["Analysis.name"])
        for key, (_, stem) in rob.ROB2_DOMAINS.items():
            cell = row[f"{stem}..judgement."]
            if pd.isna(cell):
                assert key not in a.domains
            else:
                assert a.domains[key].final == REVMAN_WORDS[cell]
                assert a.domains[key].support == str(row[f"{stem}..support."]).strip()
        if pd.notna(row[OVERALL_COL]):
            assert a.judgement == REVMAN_WORDS[row[OVERALL_COL]]
            assert a.overall.support == str(row["Overall.bias..support."]).strip()
        elif not any(pd.notna(row[f"{s}..judgement."]) and row[f"{s}..judgement."] == "High risk"
                     for _, s in rob.ROB2_DOMAINS.values()):
            assert a.overall is None  # not all domains assessed, none high: RoB 2 cannot decide


@needs_data
def test_flagship_stated_overall_against_the_optional_project_rule(flagship_frame):
    frame = flagship_frame
    cols = [f"{stem}..judgement." for _, stem in rob.ROB2_DOMAINS.values()]
    counts = (frame[cols] == "Some concerns").sum(axis=1)
    target = frame[(frame[OVERALL_COL] == "Some concerns") & (counts >= 3)]
    assert len(target) > 0  # the review kept "some concerns" with 3+ some-concerns domains
    for row_number, row in target.iterrows():
        a = rob.from_revman_web_row(row, some_concerns_to_high=3, row_number=row_number + 2)
        assert (a.overall.proposed, a.overall.final) == (HIGH, SOME)
        assert a.overall.basis == "project_rule:some_concerns_to_high>=3"
        assert a.overall.override_rationale == str(row["Overall.bias..support."]).strip()


@needs_data
def test_flagship_read_with_the_csv_module_gives_the_same_judgements(flagship_frame):
    with FLAGSHIP.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    parsed = [rob.from_revman_web_row(r) for r in rows]
    assert sum(1 for a in parsed if a.domains["D1"].final == LOW) == int(
        (flagship_frame[D1_COL] == "Low risk").sum())


@needs_data
@pytest.mark.parametrize(("column", "value", "match"), [
    (D1_COL, "Moderate", "not a RoB 2 judgement"),
    (D1_COL, "Unclear risk", "RoB 1 wording"),
    (OVERALL_COL, "Probably fine", "not a RoB 2 judgement"),
    ("Study", "", "study name"),
])
def test_bad_revman_values_name_the_column_and_row(flagship_frame, column, value, match):
    row = flagship_frame.iloc[0].to_dict()
    row[column] = value
    with pytest.raises(DataError, match=match) as err:
        rob.from_revman_web_row(row, row_number=2, file="CD015373_pub2_data.csv")
    assert err.value.field == column and err.value.row == 2
    assert column in str(err.value)


@needs_data
def test_stated_overall_better_than_a_high_domain_falls_back_to_the_worst_domain(flagship_frame):
    """A real flagship row with the stated overall altered to "Low risk" (constructed): RoB 2
    forbids an overall better than a domain, so the worst domain is used and the stated word is
    kept in the support text (19 real Pairwise70 reviews contain such rows)."""
    rows = flagship_frame[flagship_frame[OVERALL_COL] == "High risk"]
    row = rows.iloc[0].to_dict()
    row[OVERALL_COL] = "Low risk"
    assessment = rob.from_revman_web_row(row)
    assert assessment.judgement == "high"
    assert "better than the worst domain" in assessment.overall.support


def test_not_applicable_rob2_domain_is_not_assessed(flagship_frame):
    """RevMan writes "Not applicable" in RoB 2 domain cells (constructed from a flagship row)."""
    row = flagship_frame.iloc[0].to_dict()
    column = "Bias.arising.from.the.randomization.process..judgement."
    row[column] = "Not applicable"
    assert "D1" not in rob.from_revman_web_row(row).domains


@needs_data
def test_fleiss_rob1_study_data():
    frame = pd.read_csv(FLEISS_ROB)
    assessments = rob.rob1_from_revman_web_table(frame, file=FLEISS_ROB.name)
    assert [a.study for a in assessments] == list(frame["Study"])
    column = "Domain (judgement): Allocation concealment?"
    n_not_applicable = int((frame[column] == "Not applicable").sum())
    assert sum(a.domains["allocation_concealment"].judgement == "not_applicable"
               for a in assessments) == n_not_applicable
    assert all(a.domains["allocation_concealment"].label == "Allocation concealment?" for a in assessments)
    assert all(a.summary is None for a in assessments)  # nothing assessed
    bad = frame.iloc[0].to_dict()
    bad[column] = "Some concerns"
    with pytest.raises(DataError, match="RoB 2 wording") as err:
        rob.rob1_from_revman_web_row(bad, row_number=2)
    assert err.value.field == column


# ---------------------------------------------------------------------------------------------
# RoB 1 (Higgins 2011; Handbook 5.1 Table 8.7.a) and the GRADE scale
# ---------------------------------------------------------------------------------------------
SIX = ("random_sequence_generation", "allocation_concealment", "blinding_participants_personnel",
       "blinding_outcome_assessment", "incomplete_outcome_data", "selective_reporting")


@pytest.mark.parametrize(("judged", "keys", "expected"), [
    (dict.fromkeys(rob.ROB1_DOMAINS, "low"), rob.ROB1_KEY_DOMAINS, "low"),  # all key domains low
    ({**dict.fromkeys(rob.ROB1_DOMAINS, "low"), "other_bias": "unclear"}, rob.ROB1_KEY_DOMAINS, "unclear"),
    ({**dict.fromkeys(rob.ROB1_DOMAINS, "low"), "other_bias": "unclear"}, SIX, "low"),  # not a key domain
    ({**dict.fromkeys(rob.ROB1_DOMAINS, "unclear"), "selective_reporting": "high"},
     rob.ROB1_KEY_DOMAINS, "high"),  # high in one or more key domains
    ({**dict.fromkeys(SIX, "low")}, rob.ROB1_KEY_DOMAINS, "unclear"),  # other bias not assessed
    ({**dict.fromkeys(rob.ROB1_DOMAINS, "low"), "blinding_outcome_assessment": "not_applicable"},
     rob.ROB1_KEY_DOMAINS, "low"),
    ({"allocation_concealment": "not_applicable"}, rob.ROB1_KEY_DOMAINS, None),
])
def test_rob1_summary(judged, keys, expected):
    assert rob.rob1_summary(judged, keys) == expected
    assert rob.assess_rob1("S", judged, key_domains=keys).summary == expected


@pytest.mark.parametrize("keys", [(), ("alocation_concealment",)])
def test_rob1_key_domains_are_checked(keys):
    with pytest.raises(DataError) as err:
        rob.rob1_summary({"allocation_concealment": "low"}, keys)
    assert err.value.field == "key_domains"


@pytest.mark.parametrize(("name", "key"), [
    ("Random sequence generation (selection bias)", "random_sequence_generation"),
    ("Adequate sequence generation?", "random_sequence_generation"),  # RevMan 5.0 question form
    ("Allocation concealment?", "allocation_concealment"),
    ("Blinding of participants and personnel (performance bias)", "blinding_participants_personnel"),
    ("Blinding of outcome assessment (detection bias)", "blinding_outcome_assessment"),
    ("Incomplete outcome data addressed?", "incomplete_outcome_data"),
    ("Free of selective reporting?", "selective_reporting"),
    ("Other bias", "other_bias"),
    ("Funding source", "Funding source"),  # review-specific domain kept by name
])
def test_rob1_domain_names(name, key):
    assert rob.rob1_domain_key(name) == key


@pytest.mark.parametrize(("text", "expected"), [
    ("Low risk", "low"), ("Unclear risk", "unclear"), ("High risk", "high"), ("high risk of bias", "high"),
    ("YES", "low"), ("NO", "high"), ("UNKNOWN", "unclear"),  # .rm5 RESULT codes (Handbook 5.0)
    ("Not applicable", "not_applicable"),
])
def test_rob1_wording(text, expected):
    assert rob.normalise_rob1_judgement(text) == expected


def test_rob1_assessment_keeps_support_and_labels():
    a = rob.assess_rob1("S", {"Allocation concealment (selection bias)": rob.Rob1Domain(
        "allocation_concealment", "Low risk", "central telephone randomisation")})
    assert a.domains["allocation_concealment"].support == "central telephone randomisation"
    b = rob.assess_rob1("S", {"allocation_concealment": "High risk"})
    assert b.domains["allocation_concealment"].label == "Allocation concealment (selection bias)"
    with pytest.raises(DataError) as err:
        rob.assess_rob1("S", {"Allocation concealment?": "low", "allocation_concealment": "low"})
    assert err.value.field == "allocation_concealment"


@pytest.mark.parametrize(("judgement", "level"), [
    ("low", "low"), ("some_concerns", "some_concerns"), ("high", "high"),  # RoB 2
    ("Low risk", "low"), ("Some concerns", "some_concerns"), ("High risk", "high"),
    ("unclear", "some_concerns"), ("Unclear risk", "some_concerns"),  # RoB 1 middle level
])
def test_grade_scale(judgement, level):
    assert rob.grade_rob_level(judgement) == level


@pytest.mark.parametrize("judgement", ["Not applicable", "moderate", ""])
def test_grade_scale_rejects_non_judgements(judgement):
    with pytest.raises(DataError) as err:
        rob.grade_rob_level(judgement)
    assert err.value.field == "judgement"


def test_assessment_grade_level():
    r2 = rob.assess_rob2("S", "pain", dict.fromkeys(rob.ROB2_DOMAINS, "low"))
    assert rob.assessment_grade_level(r2) == "low"
    assert rob.assessment_grade_level(rob.assess_rob2("S", "pain", {"D1": "low"})) is None
    r1 = rob.assess_rob1("S", {**dict.fromkeys(rob.ROB1_DOMAINS, "low"), "other_bias": "unclear"})
    assert rob.assessment_grade_level(r1) == "some_concerns"
