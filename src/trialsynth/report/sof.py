"""Summary-of-findings (SoF) tables: Cochrane Handbook v6 ch. 14 layout (METHODS §5).

One table per comparison, one row per outcome (up to seven; more are kept but flagged). Columns:
outcome (name, scale with direction, time window); anticipated absolute effects* — risk with the
comparator per 1000 and the corresponding risk with the intervention (95% CI) plus the risk
difference, or for continuous outcomes the comparator mean(s) and "MD x lower (y lower to z
higher)"; relative effect (95% CI), blank for continuous outcomes; № of participants (studies);
certainty (⊕ symbols, words, footnote letters); comments (the Santesso 2020 statement).

Absolute effects: :func:`corresponding_risk` on the estimate and both CI bounds, RD per 1000 =
1000·(risk_I − ACR); the ACR is the control arms' pooled risk Σe_C/Σn_C by default, their median
on request, or set by the reviewer (:func:`assumed_control_risk`). JSON: :meth:`SofRow.to_dict`
(:data:`ROW_KEYS` plus certainty keys) and :meth:`SofTable.to_dict` (``kind, heading, selection,
title, population, setting, intervention, comparison, rows, footnotes`` {``asterisk, abbreviations,
grade_definitions, explanations`` [{``key, text``}], ``analysis, conventions``}, ``warnings``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandas as pd

from trialsynth.api import pool
from trialsynth.assess.certainty.grade import DOMAINS, Benefit, Certainty, Level
from trialsynth.assess.certainty.statements import (
    lower_first,
    outcome_phrase,
    stated_bands,
    statements_for,
    very_low_statement,
)
from trialsynth.assess.rules import CONVENTION, DEFAULT_RULES, RuleSet
from trialsynth.effects.nnt import nnt
from trialsynth.pooling.result import PooledResult
from trialsynth.registry import MEASURES, METHODS
from trialsynth.report.numbers import fixed

# SofRow JSON keys; measure: RR, OR, PETO_OR, HR, RD, MD, SMD (None without studies); assumed_risk
# 0–1; absolute_per_1000 {comparator, intervention(_ci_low/_high), difference(_ci_low/_high)}.
ROW_KEYS = ("outcome", "name", "time_window", "measure", "outcome_type", "assumed_risk", "absolute_per_1000",
            "relative", "risk_comparator", "risk_intervention", "risk_difference", "reexpression",
            "relative_effect", "participants", "studies", "participants_text", "downgrades", "comments",
            "statement", "band_basis", "analysis", "no_studies")
MAX_OUTCOMES = 7  # Handbook v6 ch. 14 key points: "up to a maximum of seven" outcomes
RATIOS = ("RR", "OR", "PETO_OR", "HR")
DICHOTOMOUS = (*RATIOS, "RD")
SYMBOLS: dict[str, str] = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very_low": "⊕◯◯◯"}
WORDS: dict[str, str] = {"high": "High", "moderate": "Moderate", "low": "Low", "very_low": "Very low"}
# short names of the measures a SoF row states (trialsynth.registry; generic estimates have no
# SoF row); HR: hazard ratios
LABEL = {code: m.abbreviation for code, m in MEASURES.items()
         if m.data_type != "generic"} | {"HR": "HR"}
ABBREVIATIONS = {"CI": "confidence interval", "RR": "risk ratio", "OR": "odds ratio",
                 "Peto OR": "Peto odds ratio", "HR": "hazard ratio", "RD": "risk difference",
                 "MD": "mean difference", "SMD": "standardised mean difference"}
ASTERISK = ("*The risk in the intervention group (and its 95% CI) is based on the assumed risk in "
            "the comparison group and the relative effect of the intervention (and its 95% CI).")
GRADE_DEFINITIONS = (  # GRADE Working Group grades of evidence, as printed under GRADEpro tables
    "High certainty: we are very confident that the true effect lies close to that of the estimate of the "
    "effect.", "Moderate certainty: we are moderately confident in the effect estimate: the true effect is "
    "likely to be close to the estimate of the effect, but there is a possibility that it is substantially "
    "different.", "Low certainty: our confidence in the effect estimate is limited: the true effect may be "
    "substantially different from the estimate of the effect.", "Very low certainty: we have very little "
    "confidence in the effect estimate: the true effect is likely to be substantially different from the "
    "estimate of effect.")
METHOD_NAMES = {code: m.short_label for code, m in METHODS.items()}  # trialsynth.registry
LEVELS_TEXT = {0: "no downgrade", 1: "one level", 2: "two levels", 3: "three levels"}
NO_STUDIES = "No studies"
NO_STUDIES_COMMENT = "No trials reported this outcome."
NO_BAND = ("No minimal important difference is set for this scale, so the size of the effect is "
           "not judged.")
# Handbook §14.1.6 and GRADEpro practice: a ratio applied to a comparator risk of 0 gives 0, so
# the risk with the intervention is not estimated from it (the footnote says so in plain words)
ZERO_CONTROL_NOTE = ("No one in the control groups had the event, so the risk with the "
                     "intervention cannot be worked out from the relative effect and is not shown.")
SMD_RULE = ("As a rule of thumb, an SMD of 0.2 represents a small difference, 0.5 a moderate and "
            "0.8 a large difference (Cohen 1988); without a minimal important difference for this "
            "outcome, the certainty and the statement take 0.5 as the smallest important one.")
# the second clause keeps the comment from calling "small" what the statement beside it calls
# "little to no difference" (rule band.smd_trivial_below_threshold)


@dataclass(frozen=True, slots=True)
class OutcomeInfo:
    """What the data cannot say about an outcome: its wording, scale, threshold and comparator.

    ``higher_is`` "better"/"worse" prints the scale direction; ``direction_of_benefit`` and
    ``mid`` feed the statement (as in :func:`trialsynth.assess.certainty.grade.assess`);
    ``generic_measure`` names what a GENERIC analysis pools (HR, RR, OR on the log scale; MD,
    SMD); ``comparator_mean`` is a mean or a (low, high) range of control-group means;
    ``typical_sd`` re-expresses an SMD as an MD on ``reexpress_scale`` (Handbook §15.5.3).
    """

    name: str
    time_window: str | None = None
    scale: str | None = None
    higher_is: Literal["better", "worse"] | None = None
    direction_of_benefit: Benefit = "lower"
    mid: float | None = None
    units: str | None = None
    comparator_mean: float | tuple[float, float] | None = None
    typical_sd: float | None = None
    reexpress_scale: str | None = None
    generic_measure: Literal["HR", "RR", "OR", "MD", "SMD"] | None = None
    rd_thresholds_per_1000: tuple[float, float, float] | None = None
    statement_name: str | None = None
    comment: str | None = None
    analysis_set: str = "all studies"
    design: str = "RCT"
    decimals: int | None = None
    scale_range: tuple[float, float] | None = None  # instrument min and max (PI check)
    thresholds: tuple[float, float, float] | None = None  # small, moderate, large (review)
    kind: Literal["benefit", "harm"] = "benefit"  # what the outcome measures

    @property
    def label(self) -> str:
        """The Outcomes cell, e.g. "Pain intensity, 0–100 NRS (higher = worse); short term"."""
        text = self.name + (f", {self.scale}" if self.scale else "")
        text += f" (higher = {self.higher_is})" if self.higher_is else ""
        return text + (f"; {self.time_window}" if self.time_window else "")

    @property
    def short_label(self) -> str:
        """The concise Outcomes cell of the page and the Word table: the outcome and its time
        window ("Pain intensity (continuous); Immediate term"); the scale goes to a footnote."""
        return self.name + (f"; {self.time_window}" if self.time_window else "")

    @property
    def scale_note(self) -> str:
        """The footnote of the Outcomes cell: the scale and which way is better, when known
        ("Measured on: Pain intensity on a 0-100 scale; higher scores are worse.")."""
        parts = [f"Measured on: {self.scale}" if self.scale else "",
                 f"higher scores are {self.higher_is}" if self.higher_is and self.scale else ""]
        text = "; ".join(p for p in parts if p)
        return text + "." if text else ""


@dataclass(frozen=True, slots=True)
class Comparison:
    """The header block of a table (Handbook §14.1.5)."""

    intervention: str
    comparator: str
    population: str
    setting: str | None = None
    outcome: str | None = None  # a table of one outcome (a review organised by outcome)

    @property
    def title(self) -> str:
        """ "X compared with Y for [population]" (": [outcome]" for a table of one outcome)."""
        x = self.intervention[:1].upper() + self.intervention[1:]
        return (f"{x} compared with {self.comparator} for {lower_first(self.population)}"
                + (f": {self.outcome}" if self.outcome else ""))


@dataclass(frozen=True, slots=True)
class SofRow:
    """One outcome row; footnote letters are given by :func:`sof_table`."""

    outcome: str
    name: str
    time_window: str | None
    measure: str | None
    outcome_type: Literal["dichotomous", "continuous"] | None
    risk_comparator: str
    risk_intervention: str
    risk_difference: str
    relative_effect: str
    participants: float | None
    studies: int
    participants_text: str
    level: Level | None
    comments: str
    statement: str = ""
    reexpression: str = ""
    assumed_risk: float | None = None
    absolute_per_1000: dict[str, float | None] = field(default_factory=dict)
    relative: dict[str, float | str | None] = field(default_factory=dict)
    downgrades: dict[str, int] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    band_basis: str = ""
    analysis: str = ""
    certainty_notes: tuple[str, ...] = ()
    effect_notes: tuple[str, ...] = ()
    certainty_keys: tuple[str, ...] = ()
    effect_keys: tuple[str, ...] = ()
    no_studies: bool = False
    plain_language: str = ""  # Cochrane PLS sentence (statements.plain_language_sentence)
    band: str = ""  # effect band behind the statement: trivial / small / moderate / large
    direction: str = ""  # reduction / increase of the outcome
    phrase: str = ""  # the outcome as the statements name it (statements.outcome_phrase)
    not_estimable: bool = False  # trials reported the outcome, but no effect could be estimated
    no_events: bool = False  # ... because no one in any arm had an event
    not_pooled_by_review: bool = False  # ... because the review reported it study by study
    analysis_id: str = ""  # the analysis behind the row ("1.1")
    kind: str = "benefit"  # "benefit" or "harm": what the outcome measures
    effect: str = ""  # "benefit" / "harm": which way the point estimate goes for patients
    clear_direction: bool = False  # the 95% CI excludes no effect
    heterogeneity: str = ""  # "I² = 69% (95% CI 0% to 96%)", or not applicable for one study
    prediction_interval: dict[str, Any] = field(default_factory=dict)
    provisional: tuple[str, ...] = ()  # GRADE domains nobody assessed (rating provisional)
    override_details: tuple[dict[str, Any], ...] = ()  # proposed, final, rationale, reviewer
    nnt: dict[str, Any] | None = None  # NNTB/NNTH with its CI (effects.nnt), dichotomous rows
    outcome_short: str = ""  # the concise Outcomes cell (OutcomeInfo.short_label)
    outcome_notes: tuple[str, ...] = ()  # footnotes of the Outcomes cell (the scale)
    outcome_keys: tuple[str, ...] = ()

    @property
    def certainty_symbols(self) -> str:
        return SYMBOLS[self.level] if self.level else "—"

    @property
    def certainty_words(self) -> str:
        return WORDS[self.level] if self.level else "—"

    @property
    def certainty_text(self) -> str:
        """ "⊕⊕◯◯ Low a,b": symbols, words and the explanation letters."""
        keys = f" {','.join(_ordered(self.certainty_keys))}" if self.certainty_keys else ""
        return f"{self.certainty_symbols} {self.certainty_words}{keys}" if self.level else "—"

    @property
    def footnote_keys(self) -> tuple[str, ...]:
        return _ordered((*self.outcome_keys, *self.certainty_keys, *self.effect_keys))

    def to_dict(self) -> dict[str, Any]:
        """JSON keys: :data:`ROW_KEYS`, then ``certainty`` (the level), ``certainty_symbols,
        certainty_words, certainty_text, footnote_keys, certainty_footnote_keys,
        effect_footnote_keys`` and ``notes`` {letter: text}."""
        out: dict[str, Any] = {k: getattr(self, k) for k in ROW_KEYS}
        out.update({k: dict(out[k]) for k in ("absolute_per_1000", "relative", "downgrades")})
        out.update(plain_language=self.plain_language, band=self.band, direction=self.direction,
                   phrase=self.phrase, not_estimable=self.not_estimable,
                   no_events=self.no_events, analysis_id=self.analysis_id, kind=self.kind,
                   effect=self.effect, clear_direction=self.clear_direction,
                   heterogeneity=self.heterogeneity,
                   prediction_interval=dict(self.prediction_interval),
                   provisional=list(self.provisional),
                   override_details=[dict(o) for o in self.override_details],
                   nnt=self.nnt)
        out.update(overrides=list(self.overrides), certainty=self.level,
                   certainty_symbols=self.certainty_symbols, certainty_words=self.certainty_words,
                   certainty_text=self.certainty_text, footnote_keys=list(self.footnote_keys),
                   certainty_footnote_keys=list(_ordered(self.certainty_keys)),
                   effect_footnote_keys=list(_ordered(self.effect_keys)),
                   outcome_short=self.outcome_short or self.outcome,
                   outcome_footnote_keys=list(_ordered(self.outcome_keys)),
                   notes=dict(zip((*self.outcome_keys, *self.certainty_keys, *self.effect_keys),
                                  (*self.outcome_notes, *self.certainty_notes, *self.effect_notes),
                                  strict=False)))
        return out


@dataclass(frozen=True, slots=True)
class SofTable:
    """A summary-of-findings table with its header block and footnotes."""

    title: str
    population: str
    setting: str | None
    intervention: str
    comparison: str
    rows: tuple[SofRow, ...]
    explanations: tuple[tuple[str, str], ...]
    abbreviations: str
    analysis: tuple[str, ...]
    conventions: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    asterisk: str = ASTERISK
    grade_definitions: tuple[str, ...] = GRADE_DEFINITIONS
    # "main": the summary-of-findings table (up to seven main outcomes); "other": the same
    # layout for the comparison's other outcomes, so that none is left out
    kind: Literal["main", "other"] = "main"
    selection: str = ""  # how the main outcomes were chosen

    @property
    def heading(self) -> str:
        return ("Summary of findings" if self.kind == "main" else
                "Other outcomes (not in the summary of findings table)") + f": {self.title}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "heading": self.heading, "selection": self.selection,
            "title": self.title, "population": self.population, "setting": self.setting,
            "intervention": self.intervention, "comparison": self.comparison,
            "rows": [r.to_dict() for r in self.rows],
            "footnotes": {"asterisk": self.asterisk, "abbreviations": self.abbreviations,
                          "grade_definitions": list(self.grade_definitions),
                          "explanations": [{"key": k, "text": t} for k, t in self.explanations],
                          "analysis": list(self.analysis), "conventions": list(self.conventions)},
            "warnings": list(self.warnings)}

    def to_markdown(self) -> str:
        """The table as Markdown (readable as plain text): header, rows, then footnotes."""
        head = [f"**Patient or population:** {self.population}",
                f"**Setting:** {self.setting or 'not stated'}",
                f"**Intervention:** {self.intervention}", f"**Comparison:** {self.comparison}"]
        cols = ("Outcomes", f"Risk with {self.comparison}*", f"Risk with {self.intervention}* "
                "(95% CI)", "Relative effect (95% CI)", "№ of participants (studies)",
                "Certainty of the evidence (GRADE)", "Comments")
        lines = [f"## {self.heading}", "", "  \n".join(head), "",
                 "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.rows:
            mid = "; ".join(t for t in (r.risk_intervention, r.risk_difference, r.reexpression) if t)
            cert = f"{r.certainty_symbols} {r.certainty_words}" if r.level else "—"
            cells = (r.outcome, r.risk_comparator + _sup(r.effect_keys), mid, r.relative_effect,
                     r.participants_text, cert + _sup(r.certainty_keys), r.comments)
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
        lines += ["", self.asterisk, "", self.abbreviations, "", "**GRADE Working Group grades of evidence**",
                  "", *[f"- {d}" for d in self.grade_definitions], "",
                  *(["**Explanations**", ""] if self.explanations else []),
                  *[f"{k}. {t}" for k, t in self.explanations], "",
                  *[f"Analysis: {a}" for a in self.analysis],
                  *([f"Outcomes: {self.selection}"] if self.selection else []),
                  *[f"Convention: {c}" for c in self.conventions],
                  *[f"Warning: {w}" for w in self.warnings]]
        return "\n".join(lines).rstrip() + "\n"


def _ordered(keys: Sequence[str]) -> tuple[str, ...]:
    """Distinct footnote letters in alphabetical order (a … z, aa, …)."""
    return tuple(sorted(set(keys), key=lambda k: (len(k), k)))


def _sup(keys: Sequence[str]) -> str:
    return f" <sup>{','.join(_ordered(keys))}</sup>" if keys else ""


def _round(x: float) -> int:
    """Half away from zero (Python's round() rounds half to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _diff(x: float) -> str:
    """A risk difference (per 1) as "24 fewer" / "5 more" per 1000."""
    n = _round(1000 * x)
    return f"{abs(n)} {'fewer' if n < 0 or (n == 0 and x < 0) else 'more'}"


def corresponding_risk(acr: float, ratio: float, measure: str) -> float:
    """Risk with the intervention from the assumed comparator risk ``acr`` (0–1) and a ratio.

    Capped at 1 (an RR can carry ACR·RR past it). Apply to the estimate and to each CI bound.
    """
    if not 0 <= acr <= 1 or not ratio >= 0:
        raise ValueError(f"assumed risk must lie in [0, 1] and the ratio be ≥ 0 ({acr}, {ratio})")
    if measure == "RR":
        risk = acr * ratio  # Handbook 5.1 §12.5.4.2; v6 §15.4.4 (METHODS §5)
    elif measure in ("OR", "PETO_OR"):
        risk = ratio * acr / (1 - acr + ratio * acr)  # Handbook 5.1 §12.5.4.3; METHODS §5
    elif measure == "HR":
        risk = 1 - (1 - acr) ** ratio  # S_I = S_C^HR, proportional hazards; GRADE 27 (Skoetz 2020)
    else:
        raise ValueError(f"no corresponding risk for measure {measure!r}")
    return min(risk, 1.0)


def assumed_control_risk(control_arms: pd.DataFrame,
                         method: Literal["pooled", "median"] = "pooled") -> tuple[float, str]:
    """The ACR from the control arms (columns ``events_c``, ``n_c``), with its basis for the note.

    ``"pooled"``: the "study population" risk Σe_C/Σn_C; ``"median"``: the median control-arm
    risk across studies (METHODS §5; Handbook §14.1.6).
    """
    e, n = (pd.to_numeric(control_arms[c], errors="coerce") for c in ("events_c", "n_c"))
    ok = e.notna() & n.notna() & (n > 0)
    if (k := int(ok.sum())) == 0:
        raise ValueError("no control arm with events_c and n_c > 0")
    if method == "pooled":
        se, sn = float(e[ok].sum()), float(n[ok].sum())
        return se / sn, (f"pooled control-arm risk of the included studies (study population), "
                         f"{se:.0f}/{sn:.0f} in {k} {'study' if k == 1 else 'studies'}")
    if method == "median":
        return float((e[ok] / n[ok]).median()), f"median control-arm risk across {k} studies"
    raise ValueError(f"acr_method must be 'pooled' or 'median', not {method!r}")


def method_text(result: PooledResult, measure: str) -> str:
    """E.g. "RR, random effects, DerSimonian–Laird (RevMan conventions)"."""
    text = f"{LABEL.get(measure, measure)}, {METHOD_NAMES.get(result.method, result.method)}"
    hksj = result.settings.get("hksj")
    if hksj:
        text += ", Hartung–Knapp–Sidik–Jonkman CI" + (" (ad hoc)" if hksj == "adhoc" else "")
    conv = result.settings.get("conventions")
    return text + (f" ({'RevMan' if conv == 'revman' else conv} conventions)" if conv else "")


DOMAIN_NAMES = {"risk_of_bias": "risk of bias", "inconsistency": "inconsistency",
                "indirectness": "indirectness", "imprecision": "imprecision",
                "publication_bias": "publication bias"}


def _certainty_notes(certainty: Certainty) -> list[str]:
    """One explanation per downgraded, overridden or unassessed domain, in plain words a guideline
    panel reads (the rules' citations are in the methods, not here)."""
    out = [] if certainty.start == "high" else [f"Evidence started at {WORDS[certainty.start]}."]
    for d in DOMAINS:
        j = certainty.domains.get(d)
        if j is None:
            continue
        name = DOMAIN_NAMES.get(d, d.replace("_", " "))
        why = (j.plain or "; ".join(j.reasons)).rstrip(".")
        if (ov := j.override) is not None:
            who = f" ({ov.reviewer})" if ov.reviewer else ""
            what = (f"Rated down {LEVELS_TEXT[j.downgrade]} for {name}" if j.downgrade
                    else f"Not rated down for {name}")
            out.append(f"{what} by the review authors{who}, instead of the proposed "
                       f"{LEVELS_TEXT[j.proposed].replace('no downgrade', 'none')}: "
                       f"{ov.rationale.strip().rstrip('.')}.")
        elif j.downgrade:
            out.append(f"Downgraded {LEVELS_TEXT[j.downgrade]} for {name}: {why}.")
        elif j.provisional:
            out.append(f"Not rated down for {name}, but not assessed: {why}; the rating is "
                       "provisional.")
    return out


def _heterogeneity(result: PooledResult) -> str:
    """I² with its CI, or 'not applicable' for a single study (no between-study variation)."""
    k = sum(1 for s in result.studies if s.included and s.yi is not None)
    if k < 2:
        return "Not applicable (single study)"
    text = f"I² = {result.i2 or 0:.0f}%"
    if result.i2_ci_low is not None and result.i2_ci_high is not None:
        text += f" (95% CI {result.i2_ci_low:.0f}% to {result.i2_ci_high:.0f}%)"
    return text + ("" if result.tau2 is None else f"; τ² = {result.tau2:.3g}")


def prediction_interval(result: PooledResult, measure: str, outcome: OutcomeInfo,
                        acr: float | None) -> dict[str, Any]:
    """The 95% prediction interval on the display scale, flagged uninformative when it runs past
    what the outcome's scale allows: a mean difference beyond ±(max − min) of the instrument, or
    a ratio that would put the risk with the intervention above 100% (Riley et al. 2011 read
    a PI as the range of effects in a new setting; one beyond the scale says nothing)."""
    lo, hi = result.pi_low, result.pi_high
    if lo is None or hi is None:
        return {}
    ratio = measure in RATIOS
    low, high = (math.exp(lo), math.exp(hi)) if ratio else (lo, hi)
    out: dict[str, Any] = {"low": low, "high": high, "uninformative": False, "note": ""}
    label = f"{LABEL.get(measure, measure)} {low:.2f} to {high:.2f}" if ratio else \
        f"{low:.1f} to {high:.1f}"
    why = ""
    if not ratio and outcome.scale_range is not None:
        width = outcome.scale_range[1] - outcome.scale_range[0]
        if low < -width or high > width:
            why = (f"it runs past the limits of the {_g(outcome.scale_range[0], 1)}–"
                   f"{_g(outcome.scale_range[1], 1)} scale, where no difference can exceed "
                   f"{_g(width, 1)}")
    elif measure == "RR" and acr is not None and 0 < acr < 1 and acr * high > 1:
        why = (f"its upper limit would put the risk with the intervention above 100% "
               f"(assumed comparator risk {_round(1000 * acr)} per 1000)")
    if why:
        out.update(uninformative=True, note=(
            f"The 95% prediction interval ({label}) is uninformative: {why}; with "
            f"{result.k} studies the between-study variance is too poorly estimated to predict "
            "the effect in a new setting."))
    return out


def _contributing(arms: pd.DataFrame, result: PooledResult) -> pd.DataFrame:
    """The rows of ``arms`` whose study contributes to the pooled estimate (all rows when the
    arms carry no study names or none match)."""
    if "study" not in arms:
        return arms
    used = {s.study for s in result.studies if s.included and s.yi is not None}
    kept = arms[arms["study"].astype(str).isin(used)]
    return kept if len(kept) else arms


def _excluded_note(result: PooledResult, arms: pd.DataFrame | None) -> str:
    """Studies of the analysis that do not contribute to the pooled estimate (e.g. no events in
    either group), so the row's count and the footnotes agree."""
    out = [s for s in result.studies if not (s.included and s.yi is not None)]
    if not out:
        return ""
    n = None
    if arms is not None and {"study", "n_t", "n_c"} <= set(arms.columns):
        names = {s.study for s in out}
        sub = arms[arms["study"].astype(str).isin(names)]
        n = float(pd.to_numeric(sub["n_t"], errors="coerce").fillna(0).sum()
                  + pd.to_numeric(sub["n_c"], errors="coerce").fillna(0).sum())
    k = len(out)
    people = f", {n:,.0f} participants" if n else ""
    return (f"{k} further stud{'y' if k == 1 else 'ies'} ({', '.join(s.study for s in out)}"
            f"{people}) reported the outcome but {'does' if k == 1 else 'do'} not contribute to "
            "the pooled estimate (for example, no events in either group); the row counts only "
            "the studies that do.")


def sof_row(result: PooledResult, certainty: Certainty, outcome: OutcomeInfo, *,
            assumed_risk: float | None = None, control_arms: pd.DataFrame | None = None,
            acr_method: Literal["pooled", "median"] = "pooled",
            intervention: str = "the intervention", rules: RuleSet = DEFAULT_RULES,
            analysis_id: str = "", show_prediction_interval: bool | None = None) -> SofRow:
    """One SoF row from a pooled analysis and its GRADE certainty.

    Dichotomous: ACR = ``assumed_risk`` if set by the reviewer, else from ``control_arms``
    (:func:`assumed_control_risk` with ``acr_method``); without either the absolute columns stay
    empty with a note. Continuous: comparator mean from ``outcome.comparator_mean``, else the
    range of ``control_arms["mean_c"]`` (not for SMD). ``intervention`` is X in the statement.
    Absolute effects always come from the same model as the relative effect.
    ``show_prediction_interval``: the review's setting (None: random effects with 3 or more
    studies, False: never) for the uninformative-prediction-interval note.
    """
    measure = outcome.generic_measure if result.measure == "GENERIC" else result.measure
    if measure is None:
        raise ValueError("a GENERIC analysis needs OutcomeInfo.generic_measure (HR, RR, OR, MD, SMD)")
    dich = measure in DICHOTOMOUS
    est, lo, hi = result.estimate, result.ci_low, result.ci_high
    base = dict(outcome=outcome.label, name=outcome.name, time_window=outcome.time_window,
                outcome_short=outcome.short_label, outcome_notes=_scale_notes(outcome),
                measure=measure, outcome_type="dichotomous" if dich else "continuous",
                participants=result.participants, studies=result.k,
                participants_text=participants_text(result.participants, result.k, outcome.design),
                level=certainty.level, analysis=f"{outcome.analysis_set}: {method_text(result, measure)}",
                downgrades={d: j.downgrade for d, j in certainty.domains.items()},
                overrides=tuple(d for d, j in certainty.domains.items() if j.override is not None),
                override_details=tuple({"domain": d, **j.override.to_dict()}
                                       for d, j in certainty.domains.items() if j.override),
                certainty_notes=tuple(_certainty_notes(certainty)), analysis_id=analysis_id,
                kind=outcome.kind, heterogeneity=_heterogeneity(result),
                provisional=certainty.provisional)
    if est is None or lo is None or hi is None:
        why = "; ".join(result.warnings) or "no pooled estimate"
        return SofRow(risk_comparator="See comment", risk_intervention="See comment", risk_difference="",
                      relative_effect="Not estimable", comments=f"Not estimable ({why}).", **base)
    effect_notes = [n for n in (_excluded_note(result, control_arms),) if n]
    acr = assumed_risk
    if dich and acr is None and control_arms is not None:  # the studies the row counts
        acr, basis = assumed_control_risk(_contributing(control_arms, result), acr_method)
        effect_notes.append(f"Risk with the comparator: {basis}.")
    elif dich and acr is not None:
        effect_notes.append("Risk with the comparator: set by the review authors.")
    texts, absolute, relative, notes, nnt_row = _effects(result, measure, outcome, acr,
                                                         control_arms, own_acr=assumed_risk is None)
    effect_notes += notes
    shown = show_prediction_interval is True or (
        show_prediction_interval is None and result.model == "random" and result.k >= 3)
    pi = prediction_interval(result, measure, outcome, acr if dich else None) if shown else {}
    if pi.get("uninformative"):
        effect_notes.append(pi["note"])
    words = _statement(result, certainty, outcome, measure, intervention,
                       acr if dich and measure != "HR" else None, rules)
    nnt_text = "" if nnt_row is None or acr is None else \
        _nnt_sentence(nnt_row, acr, outcome, intervention, words["phrase"])
    comments = " ".join(t for t in (words["statement"] or words["no_band"], nnt_text,
                                    outcome.comment, _smd_rule(outcome, rules) if measure == "SMD"
                                    else "") if t)
    if nnt_text and outcome.direction_of_benefit == "higher" and words["pls"] and \
            certainty.level != "very_low":  # a responder outcome's statement carries its NNT
        words["pls"] = f"{words['pls']} {nnt_text}"
    return SofRow(**base, **texts, comments=comments, statement=words["statement"], nnt=nnt_row,
                  band_basis=words["basis"], assumed_risk=acr if dich else None,
                  absolute_per_1000=absolute, relative=relative,
                  effect_notes=tuple(effect_notes), plain_language=words["pls"],
                  band=words["band"], direction=words["direction"], phrase=words["phrase"],
                  effect=words["effect"], clear_direction=bool(words["clear"]),
                  prediction_interval=pi)


def _smd_rule(outcome: OutcomeInfo, rules: RuleSet) -> str:
    """The SMD rule of thumb, and which threshold the statement used."""
    if outcome.thresholds is not None or outcome.mid is not None or \
            not rules["band.smd_trivial_below_threshold"]:
        return SMD_RULE.split(";")[0] + "."
    return SMD_RULE


def _nnt_sentence(row: dict[str, Any], acr: float, outcome: OutcomeInfo, intervention: str,
                  phrase: str) -> str:
    """The NNT sentence of a dichotomous row at the assumed comparator risk (Altman 1998). For a
    responder outcome (an event that is good: at least 30% or 50% pain relief) it says what the
    NNTB/NNTH means: for every N people treated, one more (or fewer) has the event."""
    where = f"at the assumed comparator risk of {_round(1000 * acr)} per 1000 (Altman 1998)"
    text = row["text"]
    if outcome.direction_of_benefit != "higher" or row["kind"] is None:
        return f"{text[:1].upper()}{text[1:]} {where}."
    event = phrase.removeprefix("the number of people with ")
    n = math.ceil(row["value"] - 1e-9)  # whole people, rounded up (Handbook v6.4 §15.4.4)
    more = "more" if row["kind"] == "NNTB" else "fewer"
    ci = text.partition("(95% CI ")[2].removesuffix(")")
    return (f"For every {n} people treated with {intervention}, one {more} has {event} "
            f"({row['kind']} {n}, 95% CI {ci}; assumed comparator risk {_round(1000 * acr)} per "
            "1000; Altman 1998).")


def _statement(result: PooledResult, certainty: Certainty, outcome: OutcomeInfo, measure: str,
               intervention: str, acr: float | None, rules: RuleSet) -> dict[str, Any]:
    """The Santesso 2020 statement and its band; a GENERIC HR is banded like an RR."""
    phrase = outcome.statement_name or outcome_phrase(outcome.name)
    out: dict[str, Any] = dict(statement="", basis="", pls="", band="", direction="", effect="",
                               clear=False, no_band="", phrase=phrase)
    bands = None if outcome.thresholds is None else stated_bands(*outcome.thresholds, measure)
    try:
        st = statements_for(replace(result, measure="RR" if measure == "HR" else measure),
                            certainty.level, intervention, phrase, bands=bands,
                            direction_of_benefit=outcome.direction_of_benefit, mid=outcome.mid,
                            control_risk=acr,
                            rd_thresholds_per_1000=outcome.rd_thresholds_per_1000, rules=rules)
    except ValueError:  # no band convention applies (e.g. an MD without an MID)
        if certainty.level == "very_low":  # Santesso 2020: this wording needs no effect size
            out["statement"] = very_low_statement(intervention, phrase)
        else:  # a statement needs the size of the effect; the comment says why there is none
            out["no_band"] = NO_BAND
        return out
    out.update(statement=st.informative, basis=st.band_basis, pls=st.plain_language, band=st.band,
               direction=st.direction, effect=st.effect, clear=st.clear_direction)
    return out


def _effects(result: PooledResult, measure: str, outcome: OutcomeInfo, acr: float | None,
             arms: pd.DataFrame | None, *, own_acr: bool
             ) -> tuple[dict[str, str], dict[str, float | None], dict[str, Any], list[str],
                        dict[str, Any] | None]:
    """(texts, absolute per 1000, relative, notes, NNTB/NNTH at the ACR) of a row with a pooled
    estimate."""
    est, lo, hi = result.estimate, result.ci_low, result.ci_high
    assert est is not None and lo is not None and hi is not None
    dich, ratio = measure in DICHOTOMOUS, measure in RATIOS
    rel = [math.exp(v) for v in (est, lo, hi)] if ratio else [est, lo, hi]
    relative = dict(zip(("measure", "estimate", "ci_low", "ci_high"), (measure, *rel), strict=True))
    texts = dict.fromkeys(("risk_comparator", "risk_intervention", "risk_difference", "reexpression",
                           "relative_effect"), "")
    absolute: dict[str, float | None] = {}
    notes: list[str] = []
    nnt_row: dict[str, Any] | None = None  # NNTB/NNTH at the assumed comparator risk
    d = outcome.decimals
    if ratio:
        e, a, b = (f"{v:.{2 if d is None else d}f}" for v in rel)
        texts["relative_effect"] = f"{LABEL[measure]} {e} ({a} to {b})"
    if dich and ratio and acr == 0 and arms is not None and own_acr:
        absolute = _zero_control(texts, notes, result, arms)
    elif dich and acr is not None:
        if ratio:
            risks = [corresponding_risk(acr, r, measure) for r in rel]
        else:  # RD pooled directly: risk_I = ACR + RD, kept within [0, 1]
            risks = [min(max(acr + r, 0.0), 1.0) for r in rel]
        diffs = [r - acr for r in risks]  # RD per 1000 = 1000·(risk_I − ACR) (METHODS §5)
        nnt_row = nnt(diffs[0], diffs[1], diffs[2], outcome.direction_of_benefit).to_dict()
        texts["risk_comparator"] = f"{_round(1000 * acr)} per 1000"
        ri, rd = [_round(1000 * r) for r in risks], [_diff(x) for x in diffs]
        texts["risk_intervention"] = f"{ri[0]} per 1000 ({ri[1]} to {ri[2]})"
        texts["risk_difference"] = f"{rd[0]} per 1000 ({rd[1]} to {rd[2]})"
        absolute = {"comparator": 1000 * acr} | {
            f"{what}{end}": 1000 * v for what, vals in (("intervention", risks), ("difference", diffs))
            for end, v in zip(("", "_ci_low", "_ci_high"), vals, strict=True)}
    elif dich:
        notes.append("No assumed comparator risk was given: absolute effects not computed.")
    else:
        d = (2 if measure == "SMD" else _md_decimals(hi - lo)) if d is None else d
        texts["risk_comparator"] = _comparator_mean(outcome, arms, d, measure == "SMD")
        texts["risk_intervention"] = f"{LABEL[measure]} {_md(est, lo, hi, d)}"
        if measure == "SMD" and outcome.typical_sd:
            sd = outcome.typical_sd  # Handbook v6 §15.5.3: MD = SMD × typical comparator SD
            scale = outcome.reexpress_scale or outcome.scale or "the original scale"
            texts["reexpression"] = f"MD {_md(est * sd, lo * sd, hi * sd, 1)} on {scale} (SMD × SD {sd:g})"
    return texts, absolute, relative, notes, nnt_row


def _zero_control(texts: dict[str, str], notes: list[str], result: PooledResult,
                  arms: pd.DataFrame) -> dict[str, float | None]:
    """No control events: ACR × ratio is 0 whatever the ratio (GRADEpro practice [K]); the
    absolute effect is the risk difference of the same studies, pooled with the same model."""
    texts["risk_comparator"] = "0 per 1000"
    texts["risk_intervention"] = "See comment"
    rd = _direct_risk_difference(arms, result)
    if rd is None:
        texts["risk_difference"] = "Not estimable"
        notes.append(ZERO_CONTROL_NOTE + " The difference in risk could not be estimated "
                     "either (the studies give no event counts).")
        return {}
    texts["risk_difference"] = (f"{_diff(rd[0])} per 1000 ({_diff(rd[1])} to {_diff(rd[2])}); "
                                "risk difference")
    notes.append(ZERO_CONTROL_NOTE + " The difference shown is the difference in risk from the "
                 "same studies, with the same model as the relative effect "
                 f"({METHOD_NAMES.get(result.method, result.method)}).")
    return {"comparator": 0.0} | {f"difference{end}": 1000 * v for end, v in
                                  zip(("", "_ci_low", "_ci_high"), rd, strict=True)}


def _direct_risk_difference(arms: pd.DataFrame, result: PooledResult
                            ) -> tuple[float, float, float] | None:
    """RD (per 1) with its CI from the 2×2 counts of the studies that contribute to ``result``,
    pooled with its method, CI and conventions (Handbook §10.4.1; same model as the ratio)."""
    cols = ["events_t", "n_t", "events_c", "n_c"]
    if not set(cols) <= set(arms.columns):
        return None
    frame = arms[cols].apply(pd.to_numeric, errors="coerce")
    frame.insert(0, "study", arms["study"] if "study" in arms else [f"s{i}" for i in range(len(arms))])
    used = {s.study for s in result.studies if s.included and s.yi is not None}
    if "study" in arms:
        frame = frame[frame["study"].astype(str).isin(used)]
    frame = frame.dropna()
    if frame.empty:
        return None
    settings = result.settings or {}
    r = pool(frame.reset_index(drop=True), "RD", result.method, hksj=settings.get("hksj") or False,
             revman=settings.get("conventions") == "revman")
    if r.estimate is None or r.ci_low is None or r.ci_high is None:
        return None
    return r.estimate, r.ci_low, r.ci_high


def _md_decimals(width: float) -> int:
    """Decimals for an MD row: one, or as many as show the width of its CI (an EQ-5D utility
    difference of 0.03 (0.00 to 0.06) would otherwise print as "0 (0 to 0.1 higher)")."""
    if not math.isfinite(width) or width <= 0:
        return 1
    return min(4, max(1, -math.floor(math.log10(width))))


def _md(est: float, lo: float, hi: float, d: int) -> str:
    """ "4.7 lower (4.9 lower to 4.5 lower)" (GRADEpro / Handbook Figure 14.1.a wording)."""
    def one(v: float) -> str:
        text = f"{abs(v):.{d}f}"
        return "0" if float(text) == 0 else f"{text} {'lower' if v < 0 else 'higher'}"
    return f"{one(est)} ({one(lo)} to {one(hi)})"


def _comparator_mean(outcome: OutcomeInfo, arms: pd.DataFrame | None, d: int, smd: bool) -> str:
    what, units = f"The mean {outcome.statement_name or outcome_phrase(outcome.name)}", outcome.units
    cm = outcome.comparator_mean
    if cm is None and arms is not None and "mean_c" in arms and not smd:  # SMD: mixed scales
        m = pd.to_numeric(arms["mean_c"], errors="coerce").dropna()
        cm = None if m.empty else float(m.iloc[0]) if len(m) == 1 else (float(m.min()), float(m.max()))
    tail = f" {units}" if units else ""
    if cm is not None and outcome.comparator_mean is None and outcome.scale_range is not None:
        what = _change_or_final(what, cm, outcome.scale_range)
    if isinstance(cm, tuple):
        low, high = _same_decimals(cm[0], cm[1], d=d)
        return f"{what} ranged across control groups from {low} to {high}{tail}"
    return "" if cm is None else f"{what} was {_same_decimals(cm, d=d)[0]}{tail}"


def _change_or_final(what: str, cm: float | tuple[float, float], scale: tuple[float, float]
                     ) -> str:
    """A control mean outside the instrument's range is a change from baseline, not a score:
    an MD may combine studies reporting change and final values (Handbook v6.4 §10.5.2), and
    the comparator column must not show "a mean pain intensity of −8 on 0–100"."""
    values = cm if isinstance(cm, tuple) else (cm, cm)
    outside = [v < scale[0] or v > scale[1] for v in values]
    if not any(outside):
        return what
    if isinstance(cm, float) or all(outside):
        return what.replace("The mean ", "The mean change from baseline in ", 1)
    return f"{what} (final values or changes from baseline, as the studies reported them)"


def _g(v: float, d: int) -> str:
    """``v`` to ``d`` decimals without trailing zeros (6 → "6", 54.50 → "54.5")."""
    return f"{v:.{d}f}".rstrip("0").rstrip(".") if d else f"{v:.0f}"


def _same_decimals(*values: float, d: int) -> list[str]:
    """``values`` to at most ``d`` decimals, all with the same number of decimals: as few as show
    every one of them ((6, 9) -> "6", "9" as Handbook Figure 14.1.a; (54.5, 74) -> "54.5",
    "74.0", not a cell that mixes "74" and "54.5")."""
    need = max((len(fixed(v, d).rstrip("0").partition(".")[2]) if d else 0) for v in values)
    return [fixed(v, need) for v in values]


def participants_text(participants: float | None, k: int, design: str = "RCT") -> str:
    """ "1,234 (12 RCTs)" (METHODS §5, as pmatools ``R/sof_table.R``)."""
    plural = design if k == 1 else design[:-1] + "ies" if design.endswith("y") else design + "s"
    studies = f"({k} {plural})"
    return f"{participants:,.0f} {studies}" if participants else studies  # 0: not reported (GENERIC)


def no_studies_row(outcome: OutcomeInfo) -> SofRow:
    """The row of an outcome no study reported: shown, not hidden (Handbook practice, METHODS §5)."""
    return SofRow(outcome=outcome.label, name=outcome.name, time_window=outcome.time_window,
                  outcome_short=outcome.short_label, outcome_notes=_scale_notes(outcome),
                  measure=None, outcome_type=None, risk_comparator="—", risk_intervention="—",
                  risk_difference="", relative_effect="—", participants=None, studies=0,
                  participants_text=NO_STUDIES, level=None,
                  comments=" ".join(t for t in (NO_STUDIES_COMMENT, outcome.comment) if t),
                  no_studies=True, phrase=outcome.statement_name or outcome_phrase(outcome.name),
                  kind=outcome.kind)


def not_estimable_row(outcome: OutcomeInfo, arms: pd.DataFrame, reason: str,
                      analysis_id: str = "") -> SofRow:
    """The row of an outcome that trials reported but that has no pooled estimate: shown with its
    participants and studies and "Not estimable", as RevMan shows it, not dropped. With no
    events in any arm (a common reason: e.g. no serious adverse events) the comment says so."""
    sizes = pd.to_numeric(arms.get("n_t", pd.Series(dtype=float)), errors="coerce").fillna(0) + \
        pd.to_numeric(arms.get("n_c", pd.Series(dtype=float)), errors="coerce").fillna(0)
    k = int(arms["study"].nunique()) if "study" in arms else len(arms)
    if k == 0:  # an analysis without a single study row: nobody reported it, nothing "not
        # estimable" (and no "no one had this event" for events nobody counted)
        return replace(no_studies_row(outcome), analysis_id=analysis_id)
    events = [pd.to_numeric(arms[c], errors="coerce") for c in ("events_t", "events_c") if c in arms]
    no_events = len(events) == 2 and all(bool((e.fillna(0) == 0).all()) for e in events)
    comment = ("No events in either group in any study; the relative effect is not estimable."
               if no_events else f"Not estimable: {reason}.")
    total = float(sizes.sum())
    return SofRow(outcome=outcome.label, name=outcome.name, time_window=outcome.time_window,
                  outcome_short=outcome.short_label, outcome_notes=_scale_notes(outcome),
                  measure=None, outcome_type=None,
                  risk_comparator="0 per 1000" if no_events else "—",
                  risk_intervention="0 per 1000" if no_events else "—", risk_difference="",
                  relative_effect="Not estimable", participants=total or None, studies=k,
                  participants_text=participants_text(total or None, k, outcome.design),
                  level=None, comments=" ".join(t for t in (comment, outcome.comment) if t),
                  phrase=outcome.statement_name or outcome_phrase(outcome.name),
                  not_estimable=True, no_events=no_events, analysis_id=analysis_id,
                  not_pooled_by_review=not no_events and "did not pool" in reason,
                  kind=outcome.kind, heterogeneity="Not applicable (no estimate)"
                  if k > 1 else "Not applicable (single study)")


def unique_labels(rows: Sequence[SofRow]) -> list[SofRow]:
    """Rows whose Outcomes cell would read the same get their analysis number (or measure) added,
    so that no two rows of a table carry one label with different numbers."""
    seen: dict[str, int] = {}
    for r in rows:  # the concise cell (page, Word) repeats more often than the full label
        seen[r.outcome_short or r.outcome] = seen.get(r.outcome_short or r.outcome, 0) + 1
    out = []
    for r in rows:
        if seen[r.outcome_short or r.outcome] > 1:
            tag = f"analysis {r.analysis_id}" if r.analysis_id else (r.measure or "no studies")
            r = replace(r, outcome=f"{r.outcome} ({tag})",
                        outcome_short=f"{r.outcome_short} ({tag})" if r.outcome_short else "")
        out.append(r)
    return out


def _scale_notes(outcome: OutcomeInfo) -> tuple[str, ...]:
    return (outcome.scale_note,) if outcome.scale_note else ()


def _letter(i: int) -> str:
    """a … z, then aa, bb, … (the doubled-letter footnote style)."""
    return chr(97 + i % 26) * (i // 26 + 1)


def sof_table(comparison: Comparison, rows: Sequence[SofRow], *,
              max_outcomes: int = MAX_OUTCOMES, kind: Literal["main", "other"] = "main",
              selection: str = "") -> SofTable:
    """Assemble the table: rows in the given order, footnote letters in reading order.

    Identical explanations share one letter. A main table of more than ``max_outcomes`` rows is
    kept but flagged in ``warnings`` (Handbook v6.4 §14.1.4: up to seven outcomes); ``kind``
    "other" is the table of the outcomes left out of the main one (no limit).
    """
    keys: dict[str, str] = {}

    def key(text: str) -> str:
        return keys.setdefault(text, _letter(len(keys)))

    rows = unique_labels(rows)
    lettered = tuple(replace(r, outcome_keys=tuple(map(key, r.outcome_notes)),
                             certainty_keys=tuple(map(key, r.certainty_notes)),
                             effect_keys=tuple(map(key, r.effect_notes))) for r in rows)
    used = ["CI"] + [LABEL[m] for m in dict.fromkeys(r.measure for r in rows if r.measure)]
    abbreviations = "; ".join(f"{a}: {ABBREVIATIONS[a]}" for a in dict.fromkeys(used)) + "."
    analysis = tuple(dict.fromkeys(f"{r.name}{f' ({r.time_window})' if r.time_window else ''} — "
                                   f"{r.analysis}" for r in rows if r.analysis))
    bases = tuple(dict.fromkeys(r.band_basis.removeprefix(f"{CONVENTION}: ")
                                for r in rows if r.band_basis))
    conventions = ((("Statements in Comments follow Santesso 2020 (Handbook Table 15.6.b); the "
                     "effect-size bands that pick the wording are a project convention, not "
                     "GRADE (METHODS §4.7): " + "; ".join(bases) + "."),) if bases else ())
    conventions += ("GRADE ratings were proposed from the data by named rules "
                    "(trialsynth.assess.rules); reviewer overrides are marked as such.",)
    warnings = (f"{len(rows)} outcomes: a summary-of-findings table should have at most "
                f"{max_outcomes} (Handbook v6.4 §14.1.4)",) \
        if kind == "main" and len(rows) > max_outcomes else ()
    return SofTable(title=comparison.title, population=comparison.population,
                    setting=comparison.setting, intervention=comparison.intervention,
                    comparison=comparison.comparator, rows=lettered,
                    explanations=tuple((k, t) for t, k in keys.items()),
                    abbreviations=abbreviations, analysis=analysis, conventions=conventions,
                    warnings=warnings, kind=kind, selection=selection)
