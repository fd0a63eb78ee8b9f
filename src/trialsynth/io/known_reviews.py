"""What the project knows about particular reviews beyond their data files, for ``import_review``.

Each entry turns the generic protocol made from a source (:func:`protocol_from_review`, plain data)
into a fuller one. Every fact says where it comes from (``basis``); facts not stated by the review
itself are ``inferred`` (read from the data) or ``provisional`` (placeholders / project defaults).

The flagship, CD015373.pub2 (Ferraro et al. 2025), sources:
``../shared/METHODS.md`` §1 (protocol facts [V] and unverified defaults [U]) and §7 (pain
conventions), ``../shared/data/PROVENANCE.md`` (comparison groups named from their study lists).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from trialsynth.review import Review

Template = Callable[[dict[str, Any], Review], dict[str, Any]]

_PROV = ("shared/data/PROVENANCE.md: the data file numbers comparison groups without naming "
         "them; named from each group's study list and outcome names")
_U13 = "METHODS.md §1.3 [U], an unverified engine default for this review"
_NAME = "read from the analysis names of the data file"


def _fact(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


# id, name, drug, route, basis (all inferred)
_INTERVENTIONS = [
    ("ketamine-iv", "Ketamine (intravenous)", "ketamine", "intravenous",
     f"{_PROV}: group 1 = intravenous ketamine vs placebo"),
    ("ketamine-oral", "Ketamine (oral)", "ketamine", "oral",
     "analysis names of group 4: 'Ketamine (oral) versus methadone'"),
    ("ketamine-topical", "Ketamine (topical)", "ketamine", "topical",
     "analysis names of group 6: 'Ketamine (topical) versus amitriptyline'"),
    ("ketamine-other-route", "Ketamine (route other than intravenous, oral or topical)", "ketamine",
     "not_stated", f"{_PROV}: group 3 = ketamine by another route vs placebo; route not stated"),
    ("memantine", "Memantine", "memantine", "not_stated",
     f"{_PROV}: group 7 is most likely memantine; route not stated"),
    ("dextromethorphan", "Dextromethorphan", "dextromethorphan", "not_stated",
     f"{_PROV}: group 8 is most likely dextromethorphan; route not stated"),
    ("amantadine", "Amantadine", "amantadine", "not_stated",
     f"{_PROV}: group 9 = Kleinböhl 2006 (amantadine); route not stated"),
    ("magnesium-oral", "Magnesium (oral)", "magnesium", "oral",
     "analysis name 12.1: 'Magnesium (oral) versus aspirin'"),
    ("magnesium", "Magnesium", "magnesium", "not_stated",
     f"{_PROV}: groups 10, 11, 13 are magnesium comparisons; route not stated"),
]
# id, name, kind, basis
_COMPARATORS = [
    ("placebo", "Placebo", "placebo", None),
    ("ketorolac-or-morphine", "Ketorolac or morphine", "active",
     "analysis names of group 2: 'Ketamine versus ketorolac', 'Ketamine versus morphine'"),
    ("methadone", "Methadone", "active", "analysis names of group 4"),
    ("amitriptyline", "Amitriptyline", "active", "analysis names of group 6"),
    ("aspirin", "Aspirin", "active", "analysis name 12.1"),
    ("not-stated", "Comparator not stated in the data file", "not_stated",
     "placeholder: the data file does not state this group's comparator"),
]
# group -> (name, intervention, comparator)
_COMPARISONS = {
    1: ("Intravenous ketamine versus placebo", "ketamine-iv", "placebo"),
    2: ("Intravenous ketamine versus ketorolac or morphine", "ketamine-iv", "ketorolac-or-morphine"),
    3: ("Ketamine (other route) versus placebo", "ketamine-other-route", "placebo"),
    4: ("Oral ketamine versus methadone", "ketamine-oral", "methadone"),
    5: ("Topical ketamine versus placebo", "ketamine-topical", "placebo"),
    6: ("Topical ketamine versus amitriptyline", "ketamine-topical", "amitriptyline"),
    7: ("Memantine versus placebo (most likely)", "memantine", "placebo"),
    8: ("Dextromethorphan (most likely; comparator not stated)", "dextromethorphan", "not-stated"),
    9: ("Amantadine (Kleinböhl 2006; comparator not stated)", "amantadine", "not-stated"),
    10: ("Magnesium comparison (not named)", "magnesium", "not-stated"),
    11: ("Magnesium comparison (not named)", "magnesium", "not-stated"),
    12: ("Oral magnesium versus aspirin", "magnesium-oral", "aspirin"),
    13: ("Magnesium comparison (not named)", "magnesium", "not-stated"),
}
_PAIN_SCALE = {"name": "Pain intensity on a 0-100 scale (VAS/NRS converted to 0-100)", "min": 0,
               "max": 100, "units": "points", "provisional": True,
               "basis": "METHODS.md §1.3 [U] and §7 (Busse 2015: convert pain scales to 0-100); "
                        "the review's stated scale was not available"}
_MID10 = {"value": 10, "units": "points on 0-100", "provisional": True,
          "basis": "project default per METHODS.md §7: MID 10/100 (Busse 2015, OMERACT 12), "
                   "a setting, not a constant; not stated by the data file"}
LOWER, HIGHER = "lower_is_better", "higher_is_better"
# id, name, type, priority, direction, pattern on the analysis name (None: no analysis expected)
_OUTCOMES: list[tuple[str, str, str, str | None, str, str | None]] = [
    ("pain-intensity", "Pain intensity", "continuous", "primary", LOWER, r"pain intensity \(cont"),
    ("pain-responders-30", "Pain reduction of at least 30%", "dichotomous", None, HIGHER,
     r"≥\s*30%"),
    ("pain-responders-50", "Pain reduction of at least 50%", "dichotomous", None, HIGHER,
     r"≥\s*50%"),
    ("adverse-events", "Adverse events (participants with at least one)", "dichotomous",
     "primary", LOWER, r"^adverse events \(total\)"),
    ("serious-adverse-events", "Serious adverse events", "dichotomous", "secondary", LOWER,
     r"^serious adverse events"),
    ("tolerability", "Tolerability (withdrawals due to adverse events)", "dichotomous",
     "secondary", LOWER, r"^tolerability"),
    ("psychotomimetic-effects", "Psychotomimetic effects", "dichotomous", None, LOWER,
     r"^psychotomimetic"),
    ("hallucinations", "Hallucinations", "dichotomous", None, LOWER, r"^hallucinations"),
    ("dissociative-symptoms", "Dissociative symptoms", "dichotomous", None, LOWER,
     r"^dissociative"),
    ("sedation", "Sedation", "dichotomous", None, LOWER, r"^sedation"),
    ("nausea", "Nausea", "dichotomous", None, LOWER, r"^nausea"),
    ("vomiting", "Vomiting", "dichotomous", None, LOWER, r"^vomiting"),
    ("dizziness", "Dizziness", "dichotomous", None, LOWER, r"^dizziness"),
    ("headache", "Headache", "dichotomous", None, LOWER, r"^headache"),
    ("other-adverse-events", "Other adverse events", "dichotomous", None, LOWER,
     r"^other adverse events"),
    ("disability", "Disability / physical function", "continuous", "secondary", LOWER,
     r"^disability"),
    ("depressive-symptoms", "Depressive symptoms", "continuous", "secondary", LOWER,
     r"^depressive symptoms"),
    ("hrqol", "Health-related quality of life", "continuous", "secondary", HIGHER,
     r"^health-related quality of life"),
    ("opioid-consumption", "Opioid consumption", "continuous", "secondary", LOWER, None),
]
# instrument named in an analysis name -> (min, max, direction); conventions of the instruments,
# not stated by the data file (None where not known to us)
_INSTRUMENTS: dict[str, tuple[float | None, float | None, str | None]] = {
    "Fibromyalgia Impact Questionnaire": (0, 100, LOWER),
    "Pain Disability Index": (0, 70, LOWER),
    "Hospital Anxiety and Depression Scale depression subscale": (0, 21, LOWER),
    "EQ-5D Visual Analogue Scale": (0, 100, HIGHER),
    "SF-36 General Health subscale": (0, 100, HIGHER),
    "SF-12 Physical Component score": (None, None, HIGHER),
    "Radboud Skills Questionnaire": (None, None, None),
}
_WINDOWS = [  # METHODS.md §1.3 provisional cut-points, measured from the end of treatment
    ("immediate", "Immediate term", None, (1, "days", True)),
    ("short", "Short term", (1, "days", False), (6, "weeks", True)),
    ("medium", "Medium term", (6, "weeks", False), (12, "months", False)),
    ("long", "Long term", (12, "months", True), None),
]


def _duration(d: tuple[float, str, bool] | None) -> dict[str, Any] | None:
    return None if d is None else {"value": d[0], "unit": d[1], "inclusive": d[2]}


def _analysis(spec: dict[str, Any], outcome_ids: list[tuple[str, str]]) -> dict[str, Any]:
    from trialsynth.io.convert import base_outcome_name

    base = base_outcome_name(spec["name"])
    low = base.lower()
    spec = {**spec, "outcome": next((oid for oid, rx in outcome_ids if re.search(rx, low)), None)}
    window = re.search(r"\b(immediate|short|medium|long)-term\b", low)
    spec["time_window"] = window[1] if window else None
    spec["basis"] = f"outcome and time window {_NAME}" if window else f"outcome {_NAME}"
    inst = re.search(r"\(([^()]*(?:questionnaire|index|scale|subscale|score)[^()]*)\)", base,
                     re.IGNORECASE)
    if inst and inst[1] in _INSTRUMENTS:
        lo, hi, direction = _INSTRUMENTS[inst[1]]
        spec["scale"] = _fact(
            name=inst[1], min=lo, max=hi, direction_of_benefit=direction, inferred=True,
            provisional=True,
            basis="instrument named in the analysis name; range and direction are the "
                  "instrument's convention, not stated by the data file"
            + ("" if direction else "; direction unknown: set it before GRADE"))
    return spec


def cd015373(data: dict[str, Any], review: Review) -> dict[str, Any]:
    """Ferraro MC et al. Ketamine and other NMDA receptor antagonists for chronic pain.
    Cochrane Database Syst Rev 2025, CD015373.pub2."""
    data = dict(data)
    data["review"] = {
        **data["review"],
        "title": "Ketamine and other NMDA receptor antagonists for chronic pain",
        "citation": "Ferraro MC, Cashin AG, O'Connell NE, Visser EJ, Abdel Shaheed C, Wewege MA, "
                    "Gustin SM, McAuley JH. Ketamine and other NMDA receptor antagonists for "
                    "chronic pain. Cochrane Database of Systematic Reviews 2025, Issue 8. Art. "
                    "No.: CD015373. DOI: 10.1002/14651858.CD015373.pub2. PMID 40819842.",
    }
    if "data_source" in data:
        data["data_source"] = {
            **data["data_source"],
            "citation": "RevMan Web data-rows export of CD015373.pub2 (© The Cochrane "
                        "Collaboration), from mahmood789/Pairwise70 @ 5230e0e "
                        "(data/CD015373_pub2_data.rda, MIT), converted to CSV with R 4.2.2; "
                        "../shared/data/pairwise70/CD015373_pub2_data.csv",
            "url": "https://github.com/mahmood789/Pairwise70"}
    data["included_studies"] = {
        "studies": 67, "participants": 2309, "design": "randomised controlled trials",
        "source": "Ferraro et al. 2025, CD015373.pub2, abstract (main results): 67 RCTs, "
                  "2309 participants; PMID 40819842"}
    outcomes = []
    for oid, name, otype, prio, direction, rx in _OUTCOMES:
        basis = (f"{_U13}; no analysis of this outcome in the data file" if rx is None else
                 f"outcome {_NAME}" + (f"; priority from {_U13}" if prio else "")
                 + "; direction of benefit from the outcome's meaning")
        o = _fact(id=oid, name=name, type=otype, priority=prio, direction_of_benefit=direction,
                  inferred=rx is not None, provisional=rx is None or prio is not None, basis=basis)
        if oid == "pain-intensity":
            o["scale"], o["mid"] = dict(_PAIN_SCALE), dict(_MID10)
        outcomes.append(o)
    data["question"] = {
        "objective": "To evaluate the benefits and harms of ketamine and other NDMA [sic] receptor "
                     "antagonists compared to placebo, usual care, or other medicines for adults "
                     "with chronic non-cancer pain.",
        "population": {"description": "Adults with chronic non-cancer pain (pain persisting for "
                                      "3 months or more)",
                       "basis": "protocol CD015373 (2023), objective and background; "
                                "METHODS.md §1.1 [V]"},
        "interventions": [{"id": i, "name": n, "drug": d, "route": r, "inferred": True, "basis": b}
                          for i, n, d, r, b in _INTERVENTIONS],
        "comparators": [_fact(id=i, name=n, kind=k, inferred=b is not None and k != "not_stated",
                              provisional=k == "not_stated",
                              basis=b or "protocol objective: placebo, usual care, or other "
                                         "medicines (METHODS.md §1.1 [V])")
                        for i, n, k, b in _COMPARATORS],
        "outcomes": outcomes,
        "time_windows": [_fact(id=i, name=n, **{"from": _duration(lo)}, to=_duration(hi),
                               provisional=True,
                               basis="METHODS.md §1.3 [U]: provisional cut-points (immediate ≤1 "
                                     "day after the end of treatment; short >1 day to ≤6 weeks; "
                                     "medium >6 weeks to <12 months; long ≥12 months)")
                         for i, n, lo, hi in _WINDOWS],
    }
    data["comparisons"] = [
        {"id": c["id"], "name": _COMPARISONS[int(c["id"])][0],
         "intervention": _COMPARISONS[int(c["id"])][1],
         "comparator": _COMPARISONS[int(c["id"])][2], "inferred": True,
         "basis": _PROV + _group_note(review, int(c["id"]))}
        for c in data["comparisons"]]
    patterns = [(oid, rx) for oid, _, _, _, _, rx in _OUTCOMES if rx is not None]
    data["analyses"] = [_analysis(a, patterns) for a in data["analyses"]]
    return data


def _group_note(review: Review, group: int) -> str:
    studies = sorted({str(s) for a in review.analyses if a.group == group for s in a.frame["study"]})
    return f" (studies: {', '.join(studies)})" if studies else ""


KNOWN: dict[str, Template] = {"CD015373": cd015373}
