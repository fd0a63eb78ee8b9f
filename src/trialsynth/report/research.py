"""Implications for research: per main outcome, how large the next trial must be (from the trial
sequential analyses and next-trial sizes the report computed), and what new trials must measure
(outcomes and time windows of the review question that no trial reported).

Pure data for :mod:`trialsynth.render.html`; every number comes from results already computed
(:mod:`trialsynth.assess.sequential`, :mod:`trialsynth.review.inventory`). The wording follows the Cochrane
Handbook's advice for implications for research: state what evidence is missing and the design
of the studies that would fill it (Schünemann et al., Cochrane Handbook v6.4 ch. 15, §15.6
"Drawing conclusions"), as the EPICOT elements suggest (Brown et al. BMJ 2006;333:804-6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from trialsynth.review.protocol import Protocol

STATUS_WORDS = {"conclusive": "conclusive", "futile": "futile",
                "ris_reached": "information size reached", "inconclusive": "inconclusive",
                "not_computed": "not computed"}


def tsa_status(tsa: Mapping[str, Any] | None) -> str:
    """conclusive (the monitoring boundary is crossed), futile, ris_reached, inconclusive, or
    not_computed (no trial sequential analysis)."""
    if not tsa:
        return "not_computed"
    if tsa.get("crossed"):
        return "conclusive"
    if tsa.get("futile"):
        return "futile"
    return "ris_reached" if tsa.get("ris_reached") else "inconclusive"


def _row(a: Mapping[str, Any], heading: str) -> dict[str, Any]:
    beyond = a.get("beyond") or {}
    tsa = beyond.get("tsa") or None
    nxt = (tsa or {}).get("next_trial") or {}
    status = tsa_status(tsa)
    res = a.get("result") or {}
    per_arm = nxt.get("per_arm") if status in ("inconclusive", "futile", "ris_reached") else None
    if tsa is None:
        note = beyond.get("next_trial") or "no trial sequential analysis"
    elif per_arm:
        note = ""
    else:
        note = nxt.get("reason") or ""
    return {"analysis": a["id"], "comparison": int(a["comparison"]), "heading": heading,
            "window": (a.get("parsed") or {}).get("window"), "k": res.get("k"),
            "participants": res.get("participants"),
            "certainty": (a.get("certainty") or {}).get("level"), "status": status,
            "status_text": STATUS_WORDS[status],
            "accrued": (tsa or {}).get("accrued"), "required": (tsa or {}).get("required"),
            "next_per_arm": per_arm or None, "next_total": nxt.get("total") if per_arm else None,
            "single_trial_insufficient": bool(tsa and status == "inconclusive" and not per_arm
                                              and nxt.get("power_limit") is not None),
            "note": note}


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _summary(name: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """One paragraph on an outcome: how many analyses are settled and what would settle the rest."""
    n = len(rows)
    comps = len({r["comparison"] for r in rows})
    by = {s: [r for r in rows if r["status"] == s] for s in STATUS_WORDS}
    sized = [r for r in rows if r["next_total"]]
    stuck = [r for r in rows if r["single_trial_insufficient"]]
    parts = [f"{name}: {_plural(n, 'main analysis', 'main analyses')} in "
             f"{_plural(comps, 'comparison')}"]
    settled = len(by["conclusive"])
    parts.append(f"{'none' if not settled else settled} conclusive by trial sequential analysis")
    text = "; ".join(parts) + "."
    if by["futile"] or by["ris_reached"]:
        m = len(by["futile"]) + len(by["ris_reached"])
        text += (f" In {m}, an effect as large as the minimal important difference is unlikely "
                 "(futility boundary crossed or information size reached).")
    if sized:
        totals = sorted(int(r["next_total"]) for r in sized)
        size = (f"{totals[0]:,} participants in total" if totals[0] == totals[-1]
                else f"{totals[0]:,} to {totals[-1]:,} participants in total")
        text += (f" In {len(sized)}, one new two-arm trial of {size} would make the updated "
                 "meta-analysis conclusive, if the true effect equals the minimal important "
                 "difference.")
    if stuck:
        text += (f" In {len(stuck)}, the trials disagree so much (between-study heterogeneity) "
                 "that no single new trial suffices: several trials, or trials that explain the "
                 "differences, are needed.")
    if by["not_computed"]:
        text += f" In {len(by['not_computed'])}, no trial sequential analysis could be computed."
    return text


def _unmeasured(findings: Sequence[Mapping[str, Any]], outcome_names: Mapping[str, str]
                ) -> list[dict[str, Any]]:
    """Outcomes no trial reported, and outcomes some drugs' trials did not report, grouped."""
    out: list[dict[str, Any]] = []
    by_outcome: dict[str, list[str]] = {}
    for f in findings:
        if f.get("scope") == "all":
            name = outcome_names.get(f["outcome"], f["outcome"])
            out.append({"outcome": f["outcome"], "name": name, "drugs": [],
                        "text": f"{name}: no trial reported it; every new trial should measure it."})
        elif f.get("drug"):
            by_outcome.setdefault(f["outcome"], []).append(str(f["drug"]))
    for oid, drugs in by_outcome.items():
        name = outcome_names.get(oid, oid)
        out.append({"outcome": oid, "name": name, "drugs": drugs,
                    "text": f"{name}: no trial of {_join(drugs)} reported it; new trials of "
                            f"{'this drug' if len(drugs) == 1 else 'these drugs'} should measure it."})
    return out


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _missing_windows(analyses: Sequence[Mapping[str, Any]], protocol: Protocol,
                     main: Sequence[str]) -> list[dict[str, Any]]:
    """Time windows of the question in which no trial measured a main outcome that trials did
    measure in other windows (e.g. no long-term pain data)."""
    names = {w.id: w.name for w in protocol.question.time_windows}
    if not names:
        return []
    seen: dict[str, set[str]] = {}
    for a in analyses:
        p = a.get("parsed") or {}
        if p.get("outcome_id") in main and not p.get("subgroup"):
            seen.setdefault(p["outcome_id"], set()).add(str(p.get("window")))
    outcome_names = {o.id: o.name for o in protocol.question.outcomes}
    out = []
    for oid in main:
        windows = seen.get(oid, set())
        if not windows & set(names.values()):
            continue
        missing = [n for n in names.values() if n not in windows]
        if missing:
            name = outcome_names.get(oid, oid)
            out.append({"outcome": oid, "name": name, "windows": missing,
                        "text": f"{name}: no trial measured it at {_join([m.lower() for m in missing])} "
                                "follow-up; new trials should follow participants up for longer."
                        if missing[-1] == list(names.values())[-1] else
                        f"{name}: no trial measured it at {_join([m.lower() for m in missing])} "
                        "follow-up."})
    return out


def research_implications(analyses: Sequence[Mapping[str, Any]], protocol: Protocol,
                          headings: Mapping[int, str], findings: Sequence[Mapping[str, Any]]
                          ) -> dict[str, Any]:
    """``{outcomes: [{outcome, name, summary, rows: [...]}], measure: [{outcome, name, drugs,
    text}], windows: [{outcome, name, windows, text}]}`` from the main analyses (those with a
    ``beyond`` block: the primary outcomes' non-subgroup analyses) and the evidence inventory's
    findings."""
    outcome_names = {o.id: o.name for o in protocol.question.outcomes}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for a in analyses:
        if a.get("beyond") is None:
            continue
        p = a.get("parsed") or {}
        groups.setdefault(p.get("outcome_id") or p.get("outcome") or a["name"], []).append(a)
    outcomes = []
    for key, items in groups.items():
        name = outcome_names.get(key, key)
        rows = [_row(a, headings.get(int(a["comparison"]), str(a["comparison"]))) for a in items]
        outcomes.append({"outcome": key, "name": name, "summary": _summary(name, rows),
                         "rows": rows})
    main = [k for k in groups if k in outcome_names]
    return {"outcomes": outcomes, "measure": _unmeasured(findings, outcome_names),
            "windows": _missing_windows(analyses, protocol, main)}
