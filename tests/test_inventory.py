"""The evidence inventory: cells per comparison × outcome × window and the gaps derived from the
review question (made-up question and studies, not a real review)."""

from __future__ import annotations

import pytest

from trialsynth.review.inventory import AnalysisRecord, evidence_inventory
from trialsynth.review.protocol import Protocol


def _protocol(priorities: dict[str, str | None] | None = None) -> Protocol:
    priorities = priorities or {"pain": "primary", "mood": "secondary", "opioids": "secondary",
                                "nausea": None}
    return Protocol.model_validate({
        "schema": "trialsynth-review/1",
        "review": {"id": "TEST"},
        "question": {
            "interventions": [{"id": "a-iv", "name": "Drug A iv", "drug": "drug A",
                               "route": "intravenous"},
                              {"id": "a-oral", "name": "Drug A oral", "drug": "drug A",
                               "route": "oral"},
                              {"id": "b", "name": "Drug B", "drug": "drug B", "route": "oral"}],
            "outcomes": [{"id": o, "name": o.capitalize() if o != "mood" else "Depressive symptoms",
                          **({"priority": p} if p else {})} for o, p in priorities.items()],
            "time_windows": [{"id": "short", "name": "Short term"},
                             {"id": "medium", "name": "Medium term"}],
        },
        "comparisons": [{"id": "1", "name": "A iv versus placebo", "intervention": "a-iv"},
                        {"id": "2", "name": "A oral versus placebo", "intervention": "a-oral"},
                        {"id": "3", "name": "B versus placebo", "intervention": "b"}],
    })


def _rec(aid: str, comp: str, outcome: str, window: str | None, **n: float | None) -> AnalysisRecord:
    return AnalysisRecord(aid, comp, outcome, window, n)


RECORDS = [
    _rec("1.1", "1", "pain", "short", S1=40, S2=60),
    _rec("1.2", "1", "pain", "medium", S1=38),
    _rec("1.3", "1", "pain", "short", S1=40, S2=60, S3=20),  # overlapping analysis (subgroups)
    _rec("2.1", "2", "pain", "short", S4=30),
    _rec("2.2", "2", "nausea", None, S4=30),
    _rec("3.1", "3", "pain", "short", S5=100),
    _rec("3.2", "3", "mood", "medium", S5=100),
]


def test_cells_count_distinct_studies_and_keep_empty_cells():
    inv = evidence_inventory(_protocol(), RECORDS)
    cell = {(c.comparison, c.outcome, c.window): c for c in inv.cells}
    # 1.1 and 1.3 overlap: S1, S2, S3 once each, N = 40 + 60 + 20
    c = cell[("1", "pain", "short")]
    assert (c.k, c.participants, c.analyses) == (3, 120.0, ("1.1", "1.3"))
    assert cell[("1", "pain", "medium")].k == 1
    # outcomes asked about but never reported keep one empty cell per comparison
    assert all(cell[(g, "opioids", None)].k == 0 for g in "123")
    assert cell[("1", "mood", "medium")].k == 0 and cell[("3", "mood", "medium")].k == 1
    assert cell[("2", "pain", "medium")].k == 0  # an empty window of a timed outcome
    assert inv.outcomes_reported == ("pain", "mood", "nausea")
    assert inv.by_drug["drug A"]["mood"] == 0 and inv.by_drug["drug B"]["mood"] == 1


def test_findings_come_from_question_and_data():
    inv = evidence_inventory(_protocol(), RECORDS)
    texts = [f.text for f in inv.findings]
    assert texts == ["No trial reported opioids.", "No drug A trial reported depressive symptoms."]
    first = inv.findings[0]
    assert (first.scope, first.outcome, first.drug) == ("all", "opioids", None)
    assert "none of the 3 comparisons" in first.basis
    assert "2 comparison(s) of drug A" in inv.findings[1].basis and "drug B" in inv.findings[1].basis


@pytest.mark.parametrize(("priorities", "expected"), [
    # unranked outcomes make no headline finding when others are ranked (nausea is unranked)
    ({"pain": "primary", "nausea": None, "opioids": None}, []),
    # with nothing ranked, every outcome of the question is considered
    ({"pain": None, "nausea": None, "opioids": None},
     ["No trial reported opioids.", "No drug B trial reported nausea."]),
])
def test_which_outcomes_make_findings(priorities, expected):
    inv = evidence_inventory(_protocol(priorities), RECORDS)
    assert [f.text for f in inv.findings] == expected


def test_outcomes_outside_the_question_are_listed_not_dropped():
    recs = [*RECORDS, _rec("3.3", "3", "itching", None, S5=100)]
    inv = evidence_inventory(_protocol(), recs)
    assert "itching" in inv.outcomes_asked and "itching" in inv.outcomes_reported
    d = inv.to_dict()
    assert {"cells", "findings", "outcomes_asked", "outcomes_reported",
            "studies_by_drug_and_outcome"} <= set(d)


def test_unknown_participants_stay_unknown():
    inv = evidence_inventory(_protocol(), [_rec("1.1", "1", "pain", "short", S1=None, S2=10)])
    cell = next(c for c in inv.cells if c.analyses == ("1.1",))
    assert cell.k == 2 and cell.participants is None
