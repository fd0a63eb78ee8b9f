"""How a reader finds things in the report: one unique, meaningful heading per comparison and the
filter facets (comparison, drug, outcome, time window) of every analysis.

Pure data for :mod:`trialsynth.render.html`: the page's contents panel, anchors and filters are
formatted from it; nothing here reads files or draws.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from trialsynth.report.model import outcome_family
from trialsynth.review.protocol import Protocol

NOT_STATED = "not stated"
NO_WINDOW = "no time window"
MAX_NAMED_STUDIES = 3  # a heading names at most this many studies, then "and N more"


def _key(text: str) -> str:
    """A stable, HTML-attribute-safe filter key ("Pain intensity (≥ 50%)" -> "pain-intensity-50")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _studies_text(studies: Sequence[str]) -> str:
    shown = list(studies[:MAX_NAMED_STUDIES])
    more = len(studies) - len(shown)
    text = ", ".join(shown)
    return text + (f" and {more} more" if more else "")


def comparison_headings(names: Mapping[int, str | None],
                        studies: Mapping[int, Sequence[str]]) -> dict[int, str]:
    """Comparison number -> its heading: the name, and where several comparisons share a name
    (or have none), the studies with data that tell them apart ("Magnesium comparison (not
    named): Fischer 2013, Voogd 2010"); if even those coincide, the comparison number."""
    base = {g: (names.get(g) or f"Comparison {g}") for g in names}
    counts: dict[str, int] = {}
    for text in base.values():
        counts[text] = counts.get(text, 0) + 1
    out: dict[int, str] = {}
    for g, text in base.items():
        if counts[text] > 1 and studies.get(g):
            text = f"{text}: {_studies_text(sorted(studies[g]))}"
        out[g] = text
    seen: dict[str, int] = {}
    for text in out.values():
        seen[text] = seen.get(text, 0) + 1
    return {g: (f"{t} (comparison {g})" if seen[t] > 1 else t) for g, t in out.items()}


def comparison_drugs(protocol: Protocol) -> dict[int, str]:
    """Comparison number -> the drug of its intervention as the review question names it."""
    drugs = {i.id: i.drug for i in protocol.question.interventions}
    out: dict[int, str] = {}
    for c in protocol.comparisons:
        drug = drugs.get(c.intervention or "")
        if drug:
            out[int(c.id)] = drug
    return out


def navigation(analyses: Sequence[Mapping[str, Any]], protocol: Protocol,
               names: Mapping[int, str | None]) -> dict[str, Any]:
    """The contents and filter model: ``comparisons`` [{id, heading, drug, inferred}] in order,
    ``facets`` {comparison, drug, outcome, window: [{key, label}]} and ``analyses`` {id: {comparison,
    drug, outcome, window}} (keys, as the facets name them)."""
    studies: dict[int, set[str]] = {}
    order: list[int] = []
    for a in analyses:
        g = int(a["comparison"])
        if g not in studies:
            order.append(g)
        studies.setdefault(g, set()).update(str(s["study"]) for s in a["studies"])
    headings = comparison_headings({g: names.get(g) for g in order},
                                   {g: sorted(s) for g, s in studies.items()})
    drugs = comparison_drugs(protocol)
    inferred = {int(c.id) for c in protocol.comparisons if c.inferred}
    outcome_names = {o.id: o.name for o in protocol.question.outcomes}
    facets: dict[str, dict[str, str]] = {"comparison": {}, "drug": {}, "outcome": {}, "window": {}}
    for g in order:
        facets["comparison"][str(g)] = f"{g}. {headings[g]}"
    per: dict[str, dict[str, str]] = {}
    for a in analyses:
        g = int(a["comparison"])
        drug = drugs.get(g, NOT_STATED)
        p = a.get("parsed") or {}
        oid = p.get("outcome_id")
        outcome = outcome_names.get(oid) if oid else None
        if outcome is None:
            outcome = outcome_family(p.get("outcome") or a["name"])
        window = p.get("window") or NO_WINDOW
        window = NO_WINDOW if window.startswith("other") else window
        keys = {"comparison": str(g), "drug": _key(drug), "outcome": _key(oid or outcome),
                "window": _key(window)}
        for facet, label in (("drug", drug), ("outcome", outcome), ("window", window)):
            facets[facet].setdefault(keys[facet], label)
        per[str(a["id"])] = keys
    ordered = {f: [{"key": k, "label": v} for k, v in items.items()] for f, items in facets.items()}
    ordered["drug"].sort(key=lambda x: (x["label"] == NOT_STATED, x["label"].lower()))
    return {"comparisons": [{"id": g, "heading": headings[g], "drug": drugs.get(g),
                             "inferred": g in inferred} for g in order],
            "facets": ordered, "analyses": per}


def row_facets(row: Mapping[str, Any]) -> dict[str, str]:
    """The outcome and time-window filter keys of a summary-of-findings row (as
    :func:`navigation` gives them to the row's analysis)."""
    return {"outcome": _key(row.get("outcome_id") or outcome_family(row.get("name") or "")),
            "window": _key(row.get("time_window") or NO_WINDOW)}
