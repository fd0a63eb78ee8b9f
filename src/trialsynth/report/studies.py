"""The study inventory of a review: the studies it included, as the source states them, next to
the studies with data in its analyses, the difference explained, and the characteristics of the
included studies as the file holds them.

A review's data file holds study rows only for studies that contribute data to an analysis; the
review itself may include more (studies reporting no outcome in a usable form, or results given
only in the text). The included count comes from the review folder (``included_studies`` in
``review.yaml``, with its source) or the source's included-studies list (rm5
``INCLUDED_STUDIES``, RevMan Web study information); the analysed count from the study rows.
The two are the PRISMA flow diagram's "studies included in qualitative synthesis" and "studies
included in quantitative synthesis (meta-analysis)" (Moher et al. 2009, PLoS Med 6:e1000097,
Figure 1). The characteristics table follows what a review collects per study (Cochrane
Handbook v6.4, chapter 5, §5.3: methods, participants, interventions, outcomes) as far as the
file holds it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# table column <- fields of a study record that may hold it, first non-empty wins (the review
# folder's own columns, then the characteristics of RevMan's table: rm5 CHAR_*, Web "Char: *")
COLUMNS: dict[str, tuple[str, ...]] = {
    "design": ("design", "x_methods", "x_Methods"),
    "participants": ("x_participants", "x_Participants"),
    "condition": ("condition",),
    "country": ("country",),
    "interventions": ("x_interventions", "x_Interventions"),
    "outcomes": ("x_outcomes", "x_Outcomes"),
    "funding": ("funding",),
    "notes": ("notes", "x_notes", "x_Notes"),
}
_USED = {f for fields in COLUMNS.values() for f in fields}


def _cell(record: Any, field: str) -> str | None:
    if field.startswith("x_"):
        value = dict(getattr(record, "extra", ())).get(field)
    else:
        value = getattr(record, field, None)
    return value.strip() or None if isinstance(value, str) else None


def _analysed(analyses: Iterable[Any]) -> tuple[dict[str, set[str]], dict[str, float], set[str]]:
    """Per study: the analyses it has data in and its largest number of participants in one of
    them; and every study named in a row."""
    with_data: dict[str, set[str]] = {}
    people: dict[str, float] = {}
    named: set[str] = set()
    for a in analyses:
        frame = a.frame
        n_t = frame["n_t"] if "n_t" in frame else None
        n_c = frame["n_c"] if "n_c" in frame else None
        for i, (study, ok) in enumerate(zip(frame["study"], frame["complete"], strict=True)):
            study = str(study)
            named.add(study)
            if not ok:
                continue
            with_data.setdefault(study, set()).add(a.id)
            if n_t is not None and n_c is not None:
                n = float(n_t.iloc[i]) + float(n_c.iloc[i])
                if math.isfinite(n):
                    people[study] = max(people.get(study, 0.0), n)
    return with_data, people, named


def study_inventory(protocol: Any, review: Any, studies: Iterable[Any]) -> dict[str, Any]:
    """The inventory for results.json and the report: ``included`` (as stated, with its source),
    ``with_data`` (from the study rows), ``not_analysed`` (included studies the source lists
    that have data in no analysis), ``explanation`` and the ``characteristics`` table."""
    records = list(studies)
    with_data, people, named = _analysed(review.analyses)
    listed = [r for r in records if getattr(r, "status", None) == "included"]
    stated = getattr(protocol, "included_studies", None)
    included: dict[str, Any] = {"studies": None, "participants": None, "design": None,
                                "source": None, "listed": len(listed) or None}
    if stated is not None:
        included.update(studies=stated.studies, participants=stated.participants,
                        design=stated.design, source=stated.source)
    elif listed:
        included.update(studies=len(listed), source="the included-studies list of the source")
    n_people = int(sum(people.values())) if people else None
    analysed = {"studies": len(with_data), "participants": n_people,
                "participants_basis": "each study counted once, with its largest number of "
                                      "participants in any one analysis (a lower bound of "
                                      "those randomised)",
                "source": "the study rows of the data: studies with usable data in at least "
                          "one analysis"}
    not_analysed = [r.study for r in listed if r.study not in with_data]
    rows_only = sorted(s for s in named if s not in with_data)
    return {"included": included, "with_data": analysed, "not_analysed": not_analysed,
            "in_rows_without_data": rows_only,
            "explanation": _explain(included, analysed, not_analysed, rows_only),
            "characteristics": characteristics(listed or [r for r in records
                                                          if r.study in with_data], with_data)}


def _n(x: int | None, word: str) -> str:
    return f"{x:,} {word}" if x is not None else f"an unstated number of {word}"


def _explain(included: Mapping[str, Any], analysed: Mapping[str, Any], not_analysed: list[str],
             rows_only: list[str]) -> str:
    n_inc, n_dat = included["studies"], analysed["studies"]
    dat = f"{n_dat} {'study has' if n_dat == 1 else 'studies have'} data in at least one analysis"
    if analysed["participants"] is not None:
        dat += f" ({analysed['participants']:,} participants, each study's largest analysis)"
    rows = (f" {len(rows_only)} more {'is' if len(rows_only) == 1 else 'are'} named in study "
            f"rows without usable data ({', '.join(rows_only[:10])}"
            f"{', ...' if len(rows_only) > 10 else ''}).") if rows_only else ""
    if n_inc is None:
        return (f"The source does not state how many studies the review included; {dat}."
                + rows)
    inc = (f"The review included {_n(n_inc, 'studies')}"
           + (f" ({included['design']})" if included.get("design") else "")
           + (f" with {included['participants']:,} participants"
              if included.get("participants") is not None else "")
           + f" (source: {included['source']})")
    if n_dat == n_inc:
        return f"{inc}; all of them have data in at least one analysis.{rows}"
    if n_dat > n_inc:
        return (f"{inc}; {dat}: more than the included count, so some study names in the rows "
                f"stand for parts of one study (or the count is out of date).{rows}")
    gap = n_inc - n_dat
    named = (f": {', '.join(not_analysed[:20])}{', ...' if len(not_analysed) > 20 else ''}"
             if not_analysed else "")
    return (f"{inc}; {dat}. The other {gap} contribute to no analysis{named}. A data file holds "
            "study rows only for studies with data in an analysis: included studies that "
            "reported no outcome in a form the review could analyse, or whose results the "
            f"review describes only in its text, appear in none.{rows}")


def characteristics(records: Iterable[Any], with_data: Mapping[str, set[str]]
                    ) -> dict[str, Any]:
    """Characteristics of included studies (Handbook v6.4 §5.3): study, year, the :data:`COLUMNS` the
    file fills for any study, other characteristics the file holds, and the number of analyses
    each study has data in."""
    records = list(records)
    fixed = {col: [next((v for f in fields if (v := _cell(r, f))), None) for r in records]
             for col, fields in COLUMNS.items()}
    extra_keys = sorted({k for r in records for k, v in getattr(r, "extra", ())
                         if k not in _USED and v})
    columns = ["study", "year", *(c for c, vals in fixed.items() if any(vals)),
               *(k[2:] for k in extra_keys), "analyses_with_data"]
    rows = []
    for i, r in enumerate(records):
        extra = dict(getattr(r, "extra", ()))
        row = {"study": r.study, "year": getattr(r, "year", None)}
        row |= {c: vals[i] for c, vals in fixed.items() if c in columns}
        row |= {k[2:]: extra.get(k) or None for k in extra_keys}
        row["analyses_with_data"] = len(with_data.get(r.study, ()))
        rows.append(row)
    return {"columns": columns, "rows": rows}
