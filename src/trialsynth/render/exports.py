"""The report's tables as files for the editorial workflow: CSV (``tables/*.csv``, every text a
reader needs — footnote text beside its letter, the reasons for each GRADE domain) and the
summary-of-findings tables as a Word document (``tables/sof.docx``, :mod:`.sof_docx`).

Formatting only: every value comes from the report model (:mod:`trialsynth.report.build`).
Spreadsheet programs read a cell starting with ``= + - @`` as a formula, so such text cells are
prefixed with an apostrophe (OWASP, "CSV Injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
SOF_FIELDS = ("comparison", "table", "outcome", "risk_comparator", "risk_intervention",
              "risk_difference", "relative_effect", "participants_text", "certainty_text",
              "comments", "comparison_heading", "outcome_short", "time_window", "analysis",
              "anchor", "footnotes")
CERTAINTY_FIELDS = ("id", "name", "outcome", "window", "level", *DOMAINS, "provisional",
                    "statement", *(f"{d}_reasons" for d in DOMAINS), "overrides")
GAP_FIELDS = ("map", "intervention", "outcome", "window", "k", "participants", "status",
              "certainty", "analysis")
RESEARCH_FIELDS = ("outcome", "analysis", "comparison", "heading", "window", "k", "participants",
                   "certainty", "status_text", "accrued", "required", "next_per_arm",
                   "next_total", "note")
FILES = {"tables/analyses.csv": "every analysis: pooled estimate, heterogeneity, check against "
                                "RevMan",
         "tables/sof.csv": "summary-of-findings rows with the text of their footnotes",
         "tables/sof.docx": "the summary-of-findings tables as a Word document",
         "tables/certainty.csv": "GRADE certainty per analysis with the reasons per domain",
         "tables/gap_map.csv": "evidence-gap map cells",
         "tables/research.csv": "next-trial sizes per main analysis",
         "tables/included_studies.csv": "characteristics of the included studies"}


def safe_cell(value: Any) -> Any:
    """A text cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: safe_cell(v) for k, v in r.items()})
    return buf.getvalue()


def footnote_text(row: Mapping[str, Any]) -> str:
    """ "a. text | b. text": the row's footnote letters with their explanations."""
    notes = row.get("notes") or {}
    return " | ".join(f"{k}. {notes[k]}" for k in row.get("footnote_keys") or () if k in notes)


def sof_rows(sof_tables: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for g, t in sof_tables.items():
        for tab in (t["table"], t.get("other_outcomes")):
            if not tab:
                continue
            for r in tab["rows"]:
                out.append({**r, "comparison": g, "table": tab["kind"],
                            "comparison_heading": t.get("heading", t.get("label")),
                            "analysis": r.get("analysis_id") or "", "anchor": r.get("anchor"),
                            "footnotes": footnote_text(r)})
    return out


def certainty_rows(analyses: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for a in analyses:
        domains = (a.get("certainty") or {}).get("domains") or {}
        row = {"id": a["id"], "name": a["name"], "outcome": a["parsed"]["outcome"],
               "window": a["parsed"]["window"], "level": (a.get("certainty") or {}).get("level"),
               "provisional": ";".join((a.get("certainty") or {}).get("provisional") or []),
               "statement": a.get("statement")}
        for d, j in domains.items():
            row[d] = j["downgrade"]
            row[f"{d}_reasons"] = "; ".join(j["reasons"])
        row["overrides"] = "; ".join(f"{d}: {j['override']['rationale']}"
                                     for d, j in domains.items() if j.get("override"))
        out.append(row)
    return out


def research_rows(research: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{**r, "outcome": o["name"]} for o in research.get("outcomes", []) for r in o["rows"]]


def table_files(analyses: Sequence[Mapping[str, Any]], sof_tables: Mapping[str, Any],
                maps: Sequence[Mapping[str, Any]], research: Mapping[str, Any]) -> dict[str, str]:
    """``tables/certainty.csv``, ``gap_map.csv``, ``sof.csv`` and ``research.csv`` as text."""
    return {
        "tables/certainty.csv": to_csv(certainty_rows(analyses), CERTAINTY_FIELDS),
        "tables/gap_map.csv": to_csv([{"map": i, **c} for i, m in enumerate(maps, start=1)
                                      for c in m["cells"]], GAP_FIELDS),
        "tables/sof.csv": to_csv(sof_rows(sof_tables), SOF_FIELDS),
        "tables/research.csv": to_csv(research_rows(research), RESEARCH_FIELDS),
    }
