"""The pure report model of ``trialsynth run``: names parsed into outcome and time window,
the declared project default of the direction of benefit, per-study risk of bias from the file,
GRADE certainty, summary-of-findings rows, the evidence-gap map cells and the methods text.

Nothing here draws or writes files; :mod:`trialsynth.runner` calls it and
:mod:`trialsynth.render.html` renders it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from trialsynth.assess.certainty.grade import Certainty, Flags, Override, assess
from trialsynth.assess.certainty.plain_language import plain_language_summary
from trialsynth.assess.certainty.rob_levels import judged_for, study_rob_level  # noqa: F401 (model.judged_for)
from trialsynth.assess.certainty.statements import lower_first
from trialsynth.errors import DataError
from trialsynth.pooling.result import PooledResult
from trialsynth.registry import MEASURES, METHODS, RATIO_MEASURES
from trialsynth.registry.methods import REFERENCES as METHOD_REFERENCES
from trialsynth.report.sof import (
    MAX_OUTCOMES,
    Comparison,
    OutcomeInfo,
    SofRow,
    no_studies_row,
    sof_row,
    sof_table,
)
from trialsynth.review.arms import split_analysis_name
from trialsynth.review.protocol import Protocol, Question

WINDOWS = ("immediate-term", "short-term", "medium-term", "long-term")
OTHER = "other / not stated"
ROB2_COLUMNS = {  # RevMan Web data-rows column -> RoB 2 domain key
    "Bias.arising.from.the.randomization.process..judgement.": "D1",
    "Bias.due.to.deviations.from.intended.interventions..judgement.": "D2",
    "Bias.due.to.missing.outcome.data..judgement.": "D3",
    "Bias.in.measurement.of.the.outcome..judgement.": "D4",
    "Bias.in.selection.of.the.reported.result..judgement.": "D5",
    "Overall.bias..judgement.": "overall",
}
DOMAIN_NAMES = {"D1": "randomisation process", "D2": "deviations from intended interventions",
                "D3": "missing outcome data", "D4": "measurement of the outcome",
                "D5": "selection of the reported result"}
_WINDOW = re.compile(r"[,;]?\s*\b(immediate|short|medium|long)[\s-]*term(?:\s+follow[\s-]*up)?\s*$",
                     re.IGNORECASE)
_SUBGROUP = re.compile(r":\s*([^:]*?)\s+subgroup analysis\s*$", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*([^:]{1,120}?\bversus\b[^:]{1,120}?):\s*(.+)$", re.IGNORECASE)
_SPACE_GE = re.compile(r"([≥≤])\s*")
_DANGLING = re.compile(r"\s+(?:in|at|during|over|for|by)(?:\s+the)?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedName:
    """An analysis name split into its parts; ``window`` is :data:`OTHER` when none was found."""

    outcome: str
    window: str
    comparison: str | None = None  # "X versus Y" prefix of the name, if any
    subgroup: str | None = None  # "clinical condition" for "...: clinical condition subgroup analysis"

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "window": self.window, "comparison": self.comparison,
                "subgroup": self.subgroup}


def parse_name(name: str) -> ParsedName:
    """``"Ketamine versus ketorolac: pain intensity (continuous), immediate-term follow up"`` ->
    outcome "Pain intensity (continuous)", window "immediate-term", comparison "Ketamine versus
    ketorolac". Never fails: what cannot be parsed stays in the outcome, window :data:`OTHER`."""
    # entities some exports leave in names ("All-cause mortality&nbsp;"); the renderer escapes
    text = " ".join(html.unescape(str(name or "")).split())
    subgroup = None
    if m := _SUBGROUP.search(text):
        subgroup, text = m[1].strip() or None, text[:m.start()].strip()
    comparison = None
    if m := _PREFIX.match(text):
        comparison, text = m[1].strip(), m[2].strip()
    elif (cap := split_analysis_name(text))[0] is not None:  # "Comparison 1 X, Outcome 2 Y"
        comparison, text = cap
    window = OTHER
    if m := _WINDOW.search(text):  # "Function in the long term" → "Function", not "Function in the"
        window, text = f"{m[1].lower()}-term", _DANGLING.sub("", text[:m.start()]).strip(" ,;")
    text = _SPACE_GE.sub(lambda g: g[1] + " ", text).replace(" response)", " reduction)")
    outcome = (text[:1].upper() + text[1:]) if text else "(unnamed outcome)"
    return ParsedName(outcome, window, comparison, subgroup)


def outcome_type(measure: str) -> str | None:
    if measure in (*RATIO_MEASURES, "RD"):
        return "dichotomous"
    return "continuous" if measure in ("MD", "SMD") else None


def direction_of_benefit(outcome: str) -> str:
    """Project default: lower is better (pain, adverse events, withdrawals, disability) except
    responder and success outcomes ("≥ 50% reduction", "treatment success", "remission", "cure"),
    quality-of-life scores other than the FIQ, and capacities no instrument scores the other way
    round (strength, range of motion, well-being, satisfaction). Function stays lower-is-better
    (WOMAC, RMDQ); a review whose function scale runs the other way says so in review.yaml."""
    low = outcome.lower()
    if re.search(r"reduction|respon|relief|success|remission|recover|\bcure|healing|healed|"
                 r"improvement|strength|range of motion|well-?being|satisfaction|"
                 r"\bexcellent\b|satisfactory", low) and \
            not re.search(r"adverse|disabilit|impairment|loss of", low):
        return "higher"
    if "quality of life" in low and "fibromyalgia impact" not in low:
        return "higher"
    return "lower"


def rob_by_row(frame: pd.DataFrame) -> dict[int, dict[str, str]]:
    """File row number (header = 1) -> {RoB 2 domain key: judgement as written} (present only)."""
    cols = [c for c in ROB2_COLUMNS if c in frame.columns]
    out: dict[int, dict[str, str]] = {}
    for i, rec in enumerate(frame[cols].to_dict("records")):
        judged = {ROB2_COLUMNS[str(c)]: str(v).strip() for c, v in rec.items()
                  if isinstance(v, str) and v.strip() and v.strip().lower() not in ("na", "nan")}
        if judged:
            out[i + 2] = judged
    return out


def rob_tool(judged: Mapping[str, str]) -> str | None:
    """The tool a study's judgements come from, by their domains: "RoB 2" (D1-D5), "RoB 1"
    (Higgins 2011 domains, or domains of the review's own), None when nothing is judged."""
    domains = [d for d in judged if d != "overall"]
    if not judged:
        return None
    if domains and all(d in DOMAIN_NAMES for d in domains):
        return "RoB 2"
    if not domains:  # an overall judgement alone: RoB 2's words differ from RoB 1's
        return "RoB 1" if str(judged["overall"]).strip().lower().startswith("unclear") else "RoB 2"
    return "RoB 1"


_ROB_OVERALL = {"RoB 2": "an overall RoB 2 judgement in the file",
                "RoB 1": "a RoB 1 summary judgement (the authors', or summarised from the "
                         "domains in the file as Cochrane Handbook 5.1 §8.7 describes)"}


def rob_note(judged_per_study: Sequence[Mapping[str, str]]) -> str:
    """How complete the risk-of-bias judgements behind a GRADE rating are, naming the tool each
    comes from (RoB 2 or RoB 1, by the domains the file holds)."""
    from trialsynth.review.rob1 import ROB1_DOMAINS

    k = len(judged_per_study)
    none = sum(not j for j in judged_per_study)
    parts = []

    def of(n: int) -> str:  # "the study" / "1 of 3 studies" / "2 of 3 studies"
        return "the study" if k == 1 else f"{n} of {k} studies"

    def verb(n: int, one: str, many: str) -> str:
        return one if n == 1 else many

    for tool in ("RoB 2", "RoB 1"):
        mine = [j for j in judged_per_study if j and rob_tool(j) == tool]
        full = sum("overall" in j for j in mine)
        partial = len(mine) - full
        if full:
            parts.append(f"{of(full)} {verb(full, 'has', 'have')} {_ROB_OVERALL[tool]}")
        if partial:
            doms = sorted({d for j in mine if "overall" not in j for d in j})
            words = {**DOMAIN_NAMES, **ROB1_DOMAINS}
            names = ", ".join(f"{d} ({words[d]})" if d in DOMAIN_NAMES else words.get(d, d)
                              for d in doms)
            its = verb(partial, "its", "their")
            parts.append(f"{of(partial)} {verb(partial, 'is', 'are')} judged ({tool}) only for "
                         f"{names}; {its} worst judged domain is used as a lower bound of {its} "
                         "overall risk of bias")
    if none:
        parts.append(f"{of(none)} {verb(none, 'has', 'have')} no risk-of-bias judgement in the "
                     "file")
    return "; ".join(parts)


def certainty_dict(c: Certainty) -> dict[str, Any]:
    """``{level, provisional, domains: {domain: {downgrade, reasons, override, plain,
    provisional}}}`` for results.json; ``provisional`` (top level) lists the domains whose
    judgement rests on something nobody assessed."""
    return {"level": c.level, "provisional": list(c.provisional), "domains": {
        d: {"downgrade": j.downgrade, "reasons": list(j.reasons),
            "override": None if j.override is None else j.override.to_dict(),
            "plain": j.plain, "provisional": j.provisional}
        for d, j in c.domains.items()}}


@dataclass(frozen=True, slots=True)
class Facts:
    """What the review states about one analysis' outcome, and where each fact came from.

    The review folder (``review.yaml``) is used where it states a fact; what it does not state
    falls back to the declared project defaults of this module (``*_source`` says which)."""

    outcome_id: str | None
    window_id: str | None  # the review folder's time-window id, if it states one
    window: str  # the time window's name, or OTHER
    direction: str  # "lower" / "higher" is better
    direction_source: str
    mid: float | None
    mid_source: str | None
    control_risk: float | None = None
    overrides: Mapping[str, Override] = field(default_factory=dict)
    flags: Flags = Flags()
    pico_match: Sequence[bool | None] | None = None
    scale: str | None = None
    units: str | None = None
    scale_range: tuple[float, float] | None = None  # the instrument's min and max
    thresholds: tuple[float, float, float] | None = None  # small, moderate, large (review)
    per_1000: bool = False  # thresholds are risk differences per 1000
    kind: str | None = None  # "benefit" / "harm" as the review states; None: from the name


def _window_name(protocol: Protocol | None, spec: Any, parsed: ParsedName) -> str:
    if protocol is not None and spec is not None and spec.time_window:
        for w in protocol.question.time_windows:
            if w.id == spec.time_window:
                return w.name
    return parsed.window


def facts_for(protocol: Protocol | None, analysis_id: str, parsed: ParsedName, measure: str,
              means: Sequence[float], studies: Sequence[str]) -> Facts:
    """The outcome facts of one analysis: the review folder's where stated, else the defaults."""
    spec = None
    if protocol is not None:
        try:
            spec = protocol.analysis(analysis_id)
        except KeyError:
            spec = None
    window = _window_name(protocol, spec, parsed)
    stated_dir = protocol.grade_benefit(analysis_id) if spec is not None else None
    direction = stated_dir or direction_of_benefit(parsed.outcome)
    dir_src = "review folder" if stated_dir else "project default (from the outcome's name)"
    outcome = protocol.outcome_of(analysis_id) if spec is not None else None
    mid, mid_src, scale, units, rng = None, None, None, None, None
    # the MID is the review's: the analysis' own (for its instrument), else its outcome's; the
    # library assumes none (a review states its MIDs in review.yaml)
    own = spec.mid if spec is not None else None
    stated = own or (outcome.mid if outcome is not None else None)
    if stated is not None and measure == "MD":
        mid, mid_src = float(stated.value), "review folder"
        units = stated.units
        instrument = spec.scale if own is not None and spec.scale is not None else \
            (outcome.scale if outcome is not None else None)
        scale = instrument.name if instrument is not None else None
        rng = _range(instrument)
    overrides, flags, pico = {}, Flags(), None
    if spec is not None:
        overrides = {d: Override(o.downgrade, o.rationale, reviewer=o.reviewer)
                     for d, o in protocol.overrides_for(analysis_id).items()}
        if (f := protocol.flags_for(analysis_id)) is not None:
            flags = Flags(small_industry_funded=f.small_industry_funded,
                          unpublished_trials=f.unpublished_trials,
                          rob_bias_direction=f.rob_bias_direction,
                          subgroup_explains_inconsistency=f.subgroup_explains_inconsistency)
        matches = protocol.pico_match(analysis_id, list(studies))
        pico = matches if any(m is not None for m in matches) else None
    if rng is None and measure == "MD":
        rng = range_in_name(parsed.outcome)
    control = outcome.assumed_control_risk if outcome is not None else None
    th = outcome.thresholds if outcome is not None else None
    return Facts(outcome.id if outcome is not None else None,
                 spec.time_window if spec is not None else None, window, direction, dir_src, mid,
                 mid_src, control, overrides, flags, pico, scale, units, rng,
                 None if th is None else (th.small, th.moderate, th.large),
                 bool(th is not None and th.per_1000),
                 outcome.kind if outcome is not None else None)


_NAMED_RANGE = re.compile(r"\(([^()]*?)\b0\s*(?:to|-|–)\s*(\d+(?:\.\d+)?)\b(?!\s*(?:%|percent|"
                          r"second|minute|hour|day|week|month|year|[smhdwy]\b))([^()]*)\)",
                          re.IGNORECASE)


def range_in_name(outcome: str) -> tuple[float, float] | None:
    """An instrument range the outcome's name states ("pain intensity (0 to 100)", "(RMDQ, 0 to
    24)", "(EQ-5D, 0 to 1)"), never a time window ("(0 to 4 weeks)"): (0, max), or None."""
    m = _NAMED_RANGE.search(outcome)
    return None if m is None or float(m[2]) <= 0 else (0.0, float(m[2]))


_DATA_COLUMNS = ("events_t", "n_t", "events_c", "n_c", "mean_t", "sd_t", "mean_c", "sd_c",
                 "yi", "se")


def _signatures(rows: pd.DataFrame) -> frozenset[tuple[Any, ...]]:
    """Each study row as (study, its arm data rounded to 6 significant digits)."""
    cols = [c for c in _DATA_COLUMNS if c in rows.columns]
    if "study" not in rows.columns or not cols or rows.empty:
        return frozenset()
    data = rows[cols].apply(pd.to_numeric, errors="coerce")
    out = set()
    events = [cols.index(c) for c in ("events_t", "events_c") if c in cols]
    for study, values in zip(rows["study"].astype(str), data.itertuples(index=False), strict=True):
        nums = tuple(None if v != v else float(f"{v:.6g}") for v in values)  # NaN → None
        if len(events) == 2 and not any(nums[i] for i in events):
            continue  # no events in either arm: the same in any outcome nobody had
        if any(v is not None for v in nums):
            out.add((study, *nums))
    return frozenset(out)


_NUMBERING = re.compile(r"^\s*\d+(?:\.\d+)*\.?\s+")
_QUALIFIER = (": ", ". ", " according to ", " (", " - ", ", ")


def _plain_name(name: str) -> str:
    return " ".join(_NUMBERING.sub("", html.unescape(str(name or ""))).lower().split())


def _extends(name: str, earlier: str) -> bool:
    """``name`` is ``earlier`` plus a qualifier ("X: blind versus unblinded studies", "X
    according to vested interest", "X. Penicillin versus placebo")."""
    return bool(earlier) and any(name.startswith(earlier + sep) for sep in _QUALIFIER)


def repeated_analyses(analyses: Sequence[tuple[str, str, str, pd.DataFrame]]) -> dict[str, str]:
    """Analyses that re-analyse an outcome an earlier analysis of the review already holds — a
    subgroup or sensitivity analysis, however it is named. ``analyses``: (id, comparison, name,
    study rows) in file order; returns ``{id: id of the earlier analysis}``.

    Re-analysis: (1) every study row (study and arm data) is one of an earlier analysis' rows
    (the same data, split or restricted: "Selection bias: knee pain severity"); or (2) in the
    same comparison, the name is an earlier analysis' name plus a qualifier ("…: blind versus
    unblinded studies", "… according to vested interest", "…. Penicillin versus placebo") and
    the analysis is split into subgroups or at least half of its rows are the earlier one's (so
    "Adverse events: nausea" after "Adverse events" stays an outcome of its own).

    A summary-of-findings table presents each main outcome once (Cochrane Handbook v6.4
    §14.1.4), and the key messages speak of outcomes, not of their re-analyses; the analyses
    themselves stay in the report.
    """
    seen: list[tuple[str, str, str, frozenset[tuple[Any, ...]]]] = []
    out: dict[str, str] = {}
    for aid, comparison, name, rows in analyses:
        sig, plain = _signatures(rows), _plain_name(name)
        split = "subgroup" in rows.columns and bool(rows["subgroup"].notna().any()) \
            and bool(rows["subgroup"].astype(str).str.strip().ne("").any())
        # two or more identical study rows: one row's counts can coincide across outcomes
        earlier = next((e for e, _, _, es in seen if len(sig) >= 2 and sig <= es), None)
        if earlier is None:
            earlier = next((e for e, c, n, es in seen if c == comparison and _extends(plain, n)
                            and (split or 2 * len(sig & es) >= max(len(sig), 1))), None)
        if earlier is not None:
            out[aid] = earlier
        else:
            seen.append((aid, comparison, plain, sig))
    return out


def _range(scale: Any) -> tuple[float, float] | None:
    if scale is None or scale.min is None or scale.max is None:
        return None
    return float(scale.min), float(scale.max)


@dataclass(slots=True)
class Assessed:
    """What the report knows about one pooled analysis beyond its numbers."""

    certainty: Certainty | None
    rob_note: str
    rob_map: dict[str, dict[str, str]]  # study -> {domain: judgement} for the forest plot
    outcome: OutcomeInfo
    direction: str
    mid: float | None
    error: str | None = None
    facts: Facts | None = None


def outcome_info(parsed: ParsedName, facts: Facts) -> OutcomeInfo:
    """The outcome of an analysis as its SoF row names it."""
    th = facts.thresholds
    return OutcomeInfo(parsed.outcome, None if facts.window == OTHER else facts.window,
                       scale=facts.scale,
                       higher_is="worse" if facts.direction == "lower" else "better",
                       direction_of_benefit=facts.direction, mid=facts.mid,  # type: ignore[arg-type]
                       units=facts.units, scale_range=facts.scale_range,
                       thresholds=None if th is None or facts.per_1000 else th,
                       rd_thresholds_per_1000=th if th is not None and facts.per_1000 else None,
                       kind=facts.kind or outcome_kind(parsed.outcome))  # type: ignore[arg-type]


_HARM = re.compile(r"adverse|side[ -]effect|harm|toxicit|complication|withdraw|tolerab|"
                   r"nausea|vomit|dizz|headache|sedation|hallucinat|psychotomimetic|dissociat|"
                   r"bleed|haemorrhage|hemorrhage|injur", re.IGNORECASE)


def outcome_kind(name: str) -> str:
    """ "harm" for an outcome named as an adverse effect (adverse events, withdrawals due to
    them, nausea, …), else "benefit": a declared project default where the review states no
    ``kind`` (the key messages word harms as harms)."""
    return "harm" if _HARM.search(name) else "benefit"


def assess_analysis(result: PooledResult, rows: pd.DataFrame, parsed: ParsedName,
                    judged: Sequence[Mapping[str, str]], facts: Facts,
                    subgroup_tests: Sequence[tuple[str, float | None]] = ()) -> Assessed:
    """GRADE certainty of one pooled analysis from the studies' risk of bias (``judged``, one
    mapping per row of ``rows``) and the outcome facts (review folder, else project defaults).
    The risk-of-bias note counts the studies that contribute to the pooled estimate, as the
    row's "№ of studies" does. ``subgroup_tests``: the review's subgroup analyses of the same
    outcome (factor, p), for inconsistency."""
    judged = [dict(j) for j in judged]
    levels = [study_rob_level(j)[0] for j in judged]
    direction, mid = facts.direction, facts.mid
    info = outcome_info(parsed, facts)
    rob_map: dict[str, dict[str, str]] = {}
    for name, j in zip(rows["study"], judged, strict=True):
        if j:
            rob_map[str(name)] = dict(j)
    pooled = [s.included and s.yi is not None for s in result.studies] \
        if len(result.studies) == len(judged) else [True] * len(judged)
    note = rob_note([j for j, p in zip(judged, pooled, strict=True) if p])
    otype = outcome_type(result.measure)
    if otype is None or result.estimate is None:
        return Assessed(None, note, rob_map, info, direction, mid,
                        "no GRADE rating: no pooled estimate of a supported measure", facts)
    any_rob = any(lv is not None for lv in levels)
    # a judgement covers the study when it is overall or names all five RoB 2 domains
    complete = ["overall" in j or all(d in j for d in DOMAIN_NAMES) for j in judged]
    try:
        cert = assess(result, rob=levels if any_rob else None, mid=mid,
                      outcome_type=otype, direction_of_benefit=direction,  # type: ignore[arg-type]
                      counts=rows, rob_complete=complete if any_rob else None,
                      control_risk=facts.control_risk, pico_match=facts.pico_match,
                      flags=facts.flags, overrides=facts.overrides or None,
                      subgroup_tests=subgroup_tests)
    except (ValueError, DataError) as exc:
        return Assessed(None, note, rob_map, info, direction, mid, f"no GRADE rating: {exc}", facts)
    rob_j = cert.domains["risk_of_bias"]
    if note:
        cert.domains["risk_of_bias"] = replace(rob_j, reasons=(*rob_j.reasons, note + "."))
    return Assessed(cert, note, rob_map, info, direction, mid, facts=facts)


def sof_for(result: PooledResult, assessed: Assessed, rows: pd.DataFrame, intervention: str,
            analysis_id: str = "", prediction_interval: bool | None = None) -> SofRow | None:
    if assessed.certainty is None:
        return None
    try:
        return sof_row(result, assessed.certainty, assessed.outcome, control_arms=rows,
                       intervention=intervention, analysis_id=analysis_id,
                       show_prediction_interval=prediction_interval)
    except (ValueError, KeyError, DataError):
        return None


def split_comparison(name: str | None, number: int) -> tuple[str, str]:
    """(intervention, comparator) from "X versus Y (note)"; without "versus" the name (less a
    trailing note or the word "comparison") is the intervention and "the comparator" the other."""
    text = re.sub(r"\s*\([^)]*\)\s*$", "", name or "").strip()
    if " versus " in text:
        x, y = text.split(" versus ", 1)
        return x.strip(), y.strip()
    text = re.sub(r"\s+comparison$", "", text, flags=re.IGNORECASE).strip()
    return (text or f"the intervention of comparison {number}"), "the comparator"


@dataclass(frozen=True, slots=True)
class SofCandidate:
    """A summary-of-findings row with the outcome and time-window ids it belongs to."""

    row: SofRow
    outcome: str | None
    window: str | None
    analysis: str | None = None  # the analysis the row comes from (None: "no studies" rows)


def main_outcomes(candidates: Sequence[SofCandidate], question: Question,
                  max_outcomes: int = MAX_OUTCOMES) -> tuple[list[SofRow], list[SofRow], str]:
    """(main rows, other rows, how they were chosen) of one comparison.

    A summary-of-findings table presents up to seven main outcomes (Cochrane Handbook v6.4
    §14.1.4); the rest are not dropped but shown in a second table of other outcomes. The
    review's ``question.summary_of_findings`` chooses them, in its order (an entry without a
    time window takes the outcome in every window). Without it, trialsynth's default: primary
    outcomes, then secondary ones, then outcomes without a priority, each in the order of the
    question's outcomes and time windows, the first ``max_outcomes`` rows; outcomes no study
    reported count like any other, so a missing main outcome stays visible.
    """
    chosen = question.summary_of_findings
    if chosen:
        picked: list[int] = []
        for entry in chosen:
            picked += [i for i, c in enumerate(candidates) if i not in picked
                       and c.outcome == entry.outcome
                       and (entry.time_window is None or c.window == entry.time_window)]
        basis = ("Outcomes chosen by the review (question.summary_of_findings); the other "
                 "outcomes follow in a second table.")
    else:
        rank = {"primary": 0, "secondary": 1}
        outcomes = {o.id: (rank.get(o.priority or "", 2), i) for i, o in enumerate(question.outcomes)}
        windows = {w.id: i for i, w in enumerate(question.time_windows)}
        unknown = (3, len(outcomes))

        def key(i: int) -> tuple[int, int, int, int]:
            c = candidates[i]
            return (*outcomes.get(c.outcome or "", unknown), windows.get(c.window or "",
                                                                         len(windows)), i)

        picked = sorted(range(len(candidates)), key=key)[:max_outcomes]
        basis = (f"Main outcomes chosen by trialsynth's default rule (the review names none): "
                 f"primary outcomes, then secondary, then the others, in the order of the "
                 f"review question's outcomes and time windows, up to {max_outcomes} "
                 f"(Cochrane Handbook v6.4 §14.1.4); the other outcomes follow in a second table.")
    main = [candidates[i].row for i in picked]
    taken = set(picked)
    other = [c.row for i, c in enumerate(candidates) if i not in taken]
    return main, other, basis


def comparison_sof(number: int, name: str | None, candidates: Sequence[SofCandidate],
                   question: Question, population: str | None = None,
                   arms: tuple[str, str, str | None] | None = None) -> dict[str, Any]:
    """The SoF table of one comparison (its main outcomes, :func:`main_outcomes`) and the table
    of its other outcomes, as dicts with their Markdown, plus the plain-language summary.
    ``arms``: (intervention, comparator, outcome) as the file names them (trialsynth.review.arms; the
    outcome only for a group organised by outcome); else from the comparison's name."""
    x, y = split_comparison(name, number) if arms is None else arms[:2]
    comp = Comparison(x, y, population or "the population of the review (not stated in the "
                                          "source)", outcome=None if arms is None else arms[2])
    main, other, basis = main_outcomes(candidates, question)
    table = sof_table(comp, main, selection=basis)
    rest = sof_table(comp, other, kind="other") if other else None
    pls = plain_language_summary(f"{x} versus {y}", [c.row for c in candidates])
    markdown = table.to_markdown() + ("" if rest is None else "\n" + rest.to_markdown())
    source = {id(c.row): c for c in candidates}
    out = {"table": table.to_dict(), "other_outcomes": None if rest is None else rest.to_dict(),
           "markdown": markdown, "plain_language_summary": pls.to_dict()}
    for key, rows, tag in (("table", main, ""), ("other_outcomes", other, "o")):
        if out[key] is None:
            continue
        for i, (d, row) in enumerate(zip(out[key]["rows"], rows, strict=True), start=1):
            cand = source[id(row)]  # sof_table keeps the order of its rows
            d["analysis_id"], d["outcome_id"] = cand.analysis, cand.outcome
            d["anchor"] = f"sof{number}-{tag}{i}"
    return out


def missing_row(outcome: str, window: str | None, direction: str) -> SofRow:
    """The "no studies" row of an outcome (and time window) no study of the comparison reported."""
    return no_studies_row(OutcomeInfo(outcome, window, higher_is="worse" if direction == "lower"
                                      else "better", direction_of_benefit=direction))  # type: ignore[arg-type]


_INSTRUMENT = re.compile(r"\s*\(([^()]*)\)\s*$")


def outcome_family(outcome: str) -> str:
    """The gap-map column of an outcome: a trailing instrument name is dropped ("Disability
    (Pain Disability Index)" -> "Disability"); kinds such as "(continuous)", "(≥ 50% reduction)"
    and "(total)" are kept."""
    m = _INSTRUMENT.search(outcome)
    if m and not re.search(r"continuous|dichotomous|total|[≥≤%]", m[1], re.IGNORECASE):
        return outcome[:m.start()].strip() or outcome
    return outcome


NO_WINDOW = "no time window"
ALL_WINDOWS = "all time windows"


def gap_maps(inventory: Any, analyses: Sequence[Mapping[str, Any]],
             labels: Mapping[Any, str], windows: Sequence[str] = WINDOWS) -> list[dict[str, Any]]:
    """Evidence-gap maps from the evidence inventory (:func:`trialsynth.review.inventory.evidence_inventory`):
    every outcome of the review question in every map, including those no trial reported.

    Map 1: comparison × outcome, every time window together (distinct studies and participants;
    certainty of the largest analysis). Map 2: comparison × outcome × time window; an outcome
    never analysed in a window has one "no time window" column. Cell ``status``: ``pooled``,
    ``not_estimable`` (studies but no pooled estimate, e.g. no events) or ``no_studies``.
    ``labels``: inventory comparison → row label; cells of comparisons it leaves out (a group
    whose analyses are rows of their own, as in a review organised by outcome) are not drawn."""
    by_id = {str(a["id"]): a for a in analyses}
    rows = list(dict.fromkeys(labels.values()))
    label = {str(g): name for g, name in labels.items()}
    names = list(dict.fromkeys(c.outcome_name for c in inventory.cells))
    timed = {c.outcome_name for c in inventory.cells if c.window is not None}
    used_windows = list(dict.fromkeys(c.window_name for c in inventory.cells if c.window_name))
    columns = [*windows, *[w for w in used_windows if w not in windows]]
    per_outcome = {o: (columns if o in timed else [NO_WINDOW]) for o in names}
    maps = []
    for title, cells, outcome_windows in (
            ("Every outcome of the review question, all time windows together",
             inventory.outcome_cells, {o: [ALL_WINDOWS] for o in names}),
            ("Every outcome of the review question by time window", inventory.cells, per_outcome)):
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        for c in cells:
            if c.comparison not in label:
                continue
            key = (label[c.comparison], c.outcome_name,
                   ALL_WINDOWS if outcome_windows[c.outcome_name] == [ALL_WINDOWS]
                   else c.window_name or NO_WINDOW)
            cell = _map_cell(c, by_id)  # groups sharing a row label: the larger cell shows
            if key not in out or cell["k"] > out[key]["k"]:
                out[key] = cell
        flat = [{"intervention": i, "outcome": o, "window": w,
                 **out.get((i, o, w), {"k": 0, "participants": None, "status": "no_studies",
                                       "certainty": None, "analysis": None})}
                for i in rows for o in names for w in outcome_windows[o]]
        maps.append({"title": title, "outcomes": names, "windows": columns,
                     "outcome_windows": outcome_windows, "interventions": rows, "cells": flat,
                     "notes": _gap_notes(flat)})
    return maps


def _map_cell(cell: Any, by_id: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A gap-map cell: studies and participants of the inventory cell, and the certainty of its
    largest pooled main analysis (its id links the cell to the analysis)."""
    best: Mapping[str, Any] | None = None
    for aid in cell.estimable:
        a = by_id.get(aid)
        if a is None or not a.get("result"):
            continue
        if best is None or (a["result"].get("k") or 0) > (best["result"].get("k") or 0):
            best = a
    anchor = best or (by_id.get(cell.analyses[0]) if cell.analyses else None)
    return {"k": cell.k, "participants": cell.participants if cell.k else None,
            "status": cell.status,
            "certainty": ((best or {}).get("certainty") or {}).get("level"),
            "analysis": None if anchor is None else anchor["id"]}


def _gap_notes(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    """The cells with studies but no estimable effect, in words (the same truth as the figure)."""
    out = []
    for c in cells:
        if c["status"] == "not_estimable":
            k = c["k"]
            people = "" if not c["participants"] else f", {c['participants']:,.0f} participants"
            where = "" if c["window"] in (ALL_WINDOWS, NO_WINDOW) else f", {c['window'].lower()}"
            out.append(f"{c['intervention']}: {lower_first(c['outcome'])}{where}: {k} "
                       f"{'study' if k == 1 else 'studies'}{people}, but no effect could be "
                       f"estimated (analysis {c['analysis']}).")
    return out


REFERENCES = {
    **METHOD_REFERENCES,  # DL, MH, GB, PETO, IV and every τ² estimator (trialsynth.registry)
    "SMD": "Hedges LV. Distribution theory for Glass's estimator of effect size and related "
           "estimators. J Educ Stat 1981;6(2):107-28.",
    "I2": "Higgins JPT, Thompson SG, Deeks JJ, Altman DG. Measuring inconsistency in "
          "meta-analyses. BMJ 2003;327(7414):557-60.",
    "PI": "Riley RD, Higgins JPT, Deeks JJ. Interpretation of random effects meta-analyses. BMJ "
          "2011;342:d549.",
    "SUB": "Borenstein M, Higgins JPT. Meta-analysis and subgroups. Prev Sci 2013;14(2):134-43.",
    "ROB2": "Sterne JAC, Savović J, Page MJ, et al. RoB 2: a revised tool for assessing risk of "
            "bias in randomised trials. BMJ 2019;366:l4898.",
    "ROB1": "Higgins JPT, Altman DG, Gøtzsche PC, et al. The Cochrane Collaboration's tool for "
            "assessing risk of bias in randomised trials. BMJ 2011;343:d5928.",
    "GRADE": "Guyatt GH, Oxman AD, Vist GE, et al. GRADE: an emerging consensus on rating quality "
             "of evidence and strength of recommendations. BMJ 2008;336(7650):924-6.",
    "SOF": "Schünemann HJ, Higgins JPT, Vist GE, et al. Chapter 14: Completing 'Summary of "
           "findings' tables and grading the certainty of the evidence. In: Cochrane Handbook "
           "for Systematic Reviews of Interventions, version 6.4. Cochrane, 2023.",
    "STATEMENTS": "Santesso N, Glenton C, Dahm P, et al. GRADE guidelines 26: informative "
                  "statements to communicate the findings of systematic reviews of "
                  "interventions. J Clin Epidemiol 2020;119:126-35.",
    "EGGER": "Egger M, Davey Smith G, Schneider M, Minder C. Bias in meta-analysis detected by a "
             "simple, graphical test. BMJ 1997;315(7109):629-34.",
    "HARBORD": "Harbord RM, Egger M, Sterne JAC. A modified test for small-study effects in "
               "meta-analyses of controlled trials with binary endpoints. Stat Med "
               "2006;25(20):3443-57.",
    "HKSJ": "Hartung J, Knapp G. A refined method for the meta-analysis of controlled clinical "
            "trials with binary outcome. Stat Med 2001;20(24):3875-89.",
    "INFLUENCE": "Viechtbauer W, Cheung MWL. Outlier and influence diagnostics for meta-analysis. "
                 "Res Synth Methods 2010;1(2):112-25.",
    "TRIMFILL": "Duval S, Tweedie R. Trim and fill: a simple funnel-plot-based method of testing "
                "and adjusting for publication bias in meta-analysis. Biometrics "
                "2000;56(2):455-63.",
    "BEGG": "Begg CB, Mazumdar M. Operating characteristics of a rank correlation test for "
            "publication bias. Biometrics 1994;50(4):1088-101.",
    "PETERS": "Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L. Comparison of two methods "
              "to detect publication bias in meta-analysis. JAMA 2006;295(6):676-80.",
    "BAYESMETA": "Röver C. Bayesian random-effects meta-analysis using the bayesmeta R package. "
                 "J Stat Softw 2020;93(6):1-51.",
    "TAU_PRIOR": "Röver C, Bender R, Dias S, et al. On weakly informative prior distributions "
                 "for the heterogeneity parameter in Bayesian random-effects meta-analysis. Res "
                 "Synth Methods 2021;12(4):448-74.",
    "LAN_DEMETS": "Lan KKG, DeMets DL. Discrete sequential boundaries for clinical trials. "
                  "Biometrika 1983;70(3):659-63.",
    "TSA": "Wetterslev J, Thorlund K, Brok J, Gluud C. Trial sequential analysis may establish "
           "when firm evidence is reached in cumulative meta-analysis. J Clin Epidemiol "
           "2008;61(1):64-75.",
    "DARIS": "Wetterslev J, Thorlund K, Brok J, Gluud C. Estimating required information size by "
             "quantifying diversity in random-effects model meta-analyses. BMC Med Res Methodol "
             "2009;9:86.",
    "SUTTON": "Sutton AJ, Cooper NJ, Jones DR, Lambert PC, Thompson JR, Abrams KR. Evidence-based "
              "sample size calculations based upon updated meta-analysis. Stat Med "
              "2007;26(12):2479-500.",
    "GAP": "Snilstveit B, Vojtkova M, Bhavsar A, Stevenson J, Gaarder M. Evidence & gap maps: a "
           "tool for promoting evidence informed policy and strategic research agendas. J Clin "
           "Epidemiol 2016;79:120-9.",
}


def methods(analyses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Methods paragraphs and the references they cite, from the methods actually used."""
    pooled = [a for a in analyses if a["result"]]
    measures = sorted({a["settings"]["measure"] for a in analyses})
    methods_used = sorted({a["settings"]["method"] for a in pooled})
    cites: list[str] = []

    def cite(*keys: str) -> str:
        nums = []
        for k in keys:
            if k not in cites:
                cites.append(k)
            nums.append(str(cites.index(k) + 1))
        return "[" + ", ".join(nums) + "]"

    paras = []
    eff = ", ".join(MEASURES[m].plural if m in MEASURES else m for m in measures)
    paras.append(f"Effects were expressed as {eff}, each with a 95% confidence interval"
                 + (f" {cite('SMD')}" if "SMD" in measures else "") + ".")
    m_text = []
    for m in methods_used:  # each method's words and references from trialsynth.registry
        info = METHODS.get(m)
        m_text.append(f"{info.sentence} {cite(*info.cites)}" if info is not None
                      else f"random-effects meta-analysis ({m} estimator of τ²)")
    if any(a["settings"].get("hksj") for a in pooled):
        m_text.append("confidence intervals of random-effects estimates by the Hartung-Knapp-"
                      f"Sidik-Jonkman method {cite('HKSJ')}")
    if m_text:
        inferred = any(a["settings"].get("inferred") for a in analyses)
        paras.append("Studies were combined by " + "; ".join(m_text) + (
            ", as in the review (the method was inferred from RevMan's stored weights)"
            if inferred else ", as the review's settings state") +
            f", with RevMan's conventions {cite('IV')}.")
    shown = any(a["settings"].get("prediction_interval") is not False for a in pooled)
    paras.append(f"Heterogeneity is reported as τ², Cochran's Q and I² {cite('I2')}" + (
        f"; random-effects analyses with at least three studies show a 95% prediction interval "
        f"{cite('PI')}." if shown else "; the review does not present prediction intervals."))
    if any((a["result"] or {}).get("subgroups") for a in pooled):
        paras.append(f"Subgroup differences were tested with the Q test between subgroups {cite('SUB')}.")
    tools = sorted({t for a in analyses for st in a.get("studies") or ()
                    if (t := rob_tool(st.get("rob") or {}))}, reverse=True)
    if tools:
        used = " and ".join(f"{t} {cite('ROB2' if t == 'RoB 2' else 'ROB1')}" for t in tools)
        paras.append(f"Risk of bias is shown as judged by the review authors with {used}, as "
                     "the source file holds the judgements; each tool has its own figures.")
    else:
        paras.append("The source holds no risk-of-bias judgements.")
    paras.append(f"Certainty of the evidence was proposed per analysis with GRADE {cite('GRADE')}: "
                 "randomised evidence starts at high and is rated down for risk of bias, "
                 "inconsistency, indirectness, imprecision and publication bias by the named rules "
                 f"of METHODS §4; summary-of-findings tables follow the Cochrane Handbook {cite('SOF')} "
                 f"and the statements the GRADE informative-statement wording {cite('STATEMENTS')}. "
                 "Funnel-plot asymmetry is tested only with 10 or more studies (Egger's test for "
                 f"continuous outcomes {cite('EGGER')}, Harbord's for binary ones {cite('HARBORD')}).")
    paras.append("Where the review question states an outcome's direction of benefit and minimal "
                 "important difference, they are used (each analysis names its source); otherwise "
                 "the direction of benefit follows a declared project default (lower values are "
                 "better for pain, adverse events, tolerability (withdrawals) and disability, "
                 "higher values for responder outcomes (≥ 30% or ≥ 50% reduction) and quality of "
                 "life (except the Fibromyalgia Impact Questionnaire)), and no minimal important "
                 "difference is assumed. Indirectness is rated from the reviewer's "
                 "per-study PICO flags in the review folder and not rated down without them; "
                 "reviewer overrides of a GRADE domain are shown with their rationale. The evidence "
                 f"inventory and gap map follow {cite('GAP')}.")
    paras += _beyond_methods(analyses, cite)
    return {"paragraphs": paras,
            "references": [{"n": i + 1, "key": k, "text": REFERENCES[k]} for i, k in enumerate(cites)]}


def _beyond_methods(analyses: Sequence[Mapping[str, Any]], cite: Any) -> list[str]:
    """Methods of the sections beyond the pooled estimate, for what the report computed."""
    sens = [a for a in analyses if a.get("sensitivity")]
    main = [a for a in analyses if a.get("beyond")]
    out = []
    if sens:
        out.append(f"Beyond the pooled estimate, for the {len(sens)} pooled analyses other than "
                   "subgroup analyses: sensitivity analyses leaving out one study at a time, "
                   "excluding studies at high risk of bias (then also those with some concerns), "
                   "with the common-effect model, with DerSimonian-Laird Wald and REML + "
                   "Hartung-Knapp-Sidik-Jonkman intervals, cumulatively by year, with influence "
                   f"diagnostics {cite('INFLUENCE')} and trim-and-fill {cite('TRIMFILL')}.")
    if any((a.get("small_study") or {}).get("tests") for a in sens):
        out.append("With 10 or more studies, small-study effects are tested by Begg's rank "
                   f"correlation {cite('BEGG')} and Peters' regression {cite('PETERS')} too, and "
                   "shown in a contour-enhanced funnel plot with the trim-and-fill studies.")
    bayes = [a["beyond"]["bayes"] for a in main if (a.get("beyond") or {}).get("bayes")]
    if bayes:
        priors = sorted({b["prior"]["label"].split("(")[0].strip() for b in bayes})
        mu = "flat" if all(b["mu_prior"] is None for b in bayes) else "normal"
        out.append(f"For the {len(bayes)} analyses of the primary outcomes, the probability of "
                   "important benefit, of important harm and of a trivial effect (beyond the "
                   "minimal important difference) comes from a Bayesian random-effects model "
                   "computed by numerical integration over τ, as bayesmeta does "
                   f"{cite('BAYESMETA')}, with a {mu} prior on the effect and a "
                   f"{' or '.join(priors)} prior on τ {cite('TAU_PRIOR')}.")
    tsa = [a["beyond"]["tsa"] for a in main if (a.get("beyond") or {}).get("tsa")]
    if tsa:
        t = tsa[0]
        out.append(f"Trial sequential analysis {cite('TSA')} compares the cumulative Z-curve with "
                   f"Lan-DeMets O'Brien-Fleming alpha-spending boundaries {cite('LAN_DEMETS')} "
                   f"(two-sided α {t['alpha']:g}, power {t['power']:.0%}) up to the "
                   f"diversity-adjusted required information size {cite('DARIS')}; the size of "
                   "a new two-arm trial that would make the updated meta-analysis conclusive "
                   f"follows Sutton et al. {cite('SUTTON')}.")
    return out
