"""Typed per-analysis summaries of one run: the only place the diff reads ``results.json``.

A run's ``results.json`` (what :func:`trialsynth.runner.run_review` writes) is a large nested
document whose layout will evolve (versioned schema, new certainty rules). The diff never reads it
anywhere else: :func:`summarise` turns it into a :class:`ReviewSummary` of frozen
:class:`AnalysisSummary` records, and every key it reads is named in one accessor below
(:func:`certainty_level`, :func:`statement`, :func:`tsa_of`, ...), so a change of layout is a
change of this module only.

Values are kept as the run computed them (estimates and intervals on RevMan's display scale:
ratios natural); :mod:`trialsynth.diff.kernel` decides at what precision two of them differ.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trialsynth._json import finite
from trialsynth.errors import DataError

LOG_MEASURES = frozenset({"RR", "OR", "PETO_OR", "GENERIC_LOG"})  # shown as ratios (null at 1)


@dataclass(frozen=True, slots=True)
class SubgroupSummary:
    """One subgroup of an analysis: studies and estimate (display scale)."""

    name: str
    k: int | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True, slots=True)
class StudyRow:
    """One study row of an analysis as pooled: study, subgroup and its data values (sorted by
    column). The file row number is left out: a row inserted elsewhere in the file moves it
    without changing this analysis."""

    study: str
    subgroup: str | None
    values: tuple[tuple[str, float | str | None], ...]


@dataclass(frozen=True, slots=True)
class AnalysisSummary:
    """What a reader takes from one analysis of a run.

    ``comparison_key`` identifies the comparison across runs: its name as the source states it,
    else its number (a name trialsynth inferred is not stable, so it is not used). ``name`` is the
    analysis name, which carries outcome, time window and subgroup factor. ``null`` is the value
    of no effect and ``mid_low``/``mid_high`` the minimal-important-difference thresholds, all on
    the display scale; ``ci_scale_low``/``ci_scale_high`` the CI on the analysis scale (log for
    ratios), where "crosses" is decided as the report's sensitivity analyses decide it.
    """

    id: str
    comparison: str
    comparison_key: str
    comparison_label: str
    name: str
    status: str
    measure: str | None
    method: str | None
    k: int | None
    participants: float | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    pi_low: float | None
    pi_high: float | None
    pvalue: float | None
    i2: float | None
    tau2: float | None
    null: float | None
    mid_low: float | None
    mid_high: float | None
    certainty: str | None
    downgrades: tuple[tuple[str, int], ...]
    statement: str | None
    tsa_verdict: str | None
    tsa_crossed: str | None
    ris_reached: bool | None
    required: float | None
    accrued: float | None
    next_trial_total: int | None
    next_trial_reason: str | None
    subgroups: tuple[SubgroupSummary, ...]
    studies: tuple[str, ...]
    data: tuple[StudyRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``before``/``after`` object of ``trialsynth diff --json``."""
        return {
            "id": self.id, "comparison": self.comparison_label, "status": self.status,
            "measure": self.measure, "method": self.method, "k": self.k,
            "participants": self.participants, "estimate": self.estimate,
            "ci_low": self.ci_low, "ci_high": self.ci_high, "pi_low": self.pi_low,
            "pi_high": self.pi_high, "pvalue": self.pvalue, "i2": self.i2, "tau2": self.tau2,
            "null": self.null, "mid_low": self.mid_low, "mid_high": self.mid_high,
            "certainty": self.certainty, "downgrades": dict(self.downgrades),
            "statement": self.statement,
            "tsa": {"verdict": self.tsa_verdict, "boundary_crossed": self.tsa_crossed,
                    "ris_reached": self.ris_reached, "required": self.required,
                    "accrued": self.accrued},
            "next_trial": {"total": self.next_trial_total, "reason": self.next_trial_reason},
            "subgroups": [{"name": s.name, "k": s.k, "estimate": s.estimate,
                           "ci_low": s.ci_low, "ci_high": s.ci_high} for s in self.subgroups],
            "studies": list(self.studies),
        }


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    """A run: where it came from (file, fingerprint, trialsynth version) and its analyses."""

    label: str
    source_file: str | None
    source_sha256: str | None
    generator: str | None
    version: str | None
    review_id: str | None
    analyses: tuple[AnalysisSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "source": self.source_file, "sha256": self.source_sha256,
                "generator": self.generator, "trialsynth_version": self.version,
                "review": self.review_id, "analyses": len(self.analyses)}


# ---------------------------------------------------------------------------------------------
# Accessors: each key of results.json the diff reads, named once
# ---------------------------------------------------------------------------------------------
def certainty_level(a: Mapping[str, Any]) -> str | None:
    """GRADE level of an analysis (``high`` ... ``very_low``), None when not rated."""
    cert = a.get("certainty")
    return cert.get("level") if isinstance(cert, Mapping) else None


def downgrades(a: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """Levels taken off per GRADE domain, in the run's domain order."""
    cert = a.get("certainty")
    domains = cert.get("domains") if isinstance(cert, Mapping) else None
    if not isinstance(domains, Mapping):
        return ()
    return tuple((str(d), int(j.get("downgrade") or 0)) for d, j in domains.items()
                 if isinstance(j, Mapping))


def statement(a: Mapping[str, Any]) -> str | None:
    """The informative statement of an analysis (Santesso 2020 wording), None when none."""
    text = a.get("statement")
    return text if isinstance(text, str) and text else None


def tsa_of(a: Mapping[str, Any]) -> Mapping[str, Any]:
    """The trial sequential analysis of an analysis ({} when none was made)."""
    beyond = a.get("beyond")
    tsa = beyond.get("tsa") if isinstance(beyond, Mapping) else None
    return tsa if isinstance(tsa, Mapping) else {}


def tsa_verdict(tsa: Mapping[str, Any]) -> str | None:
    """The TSA's conclusion as one word, in the order :mod:`trialsynth.assess.sequential.tsa` decides it:
    a crossed monitoring boundary, the futility wedge, the required information size reached
    without crossing, else inconclusive (Wetterslev 2008, J Clin Epidemiol 61:64; Thorlund 2011,
    TSA manual)."""
    if not tsa:
        return None
    if tsa.get("crossed"):
        return "conclusive"
    if tsa.get("futile"):
        return "futile"
    return "ris_reached" if tsa.get("ris_reached") else "inconclusive"


def _scale(a: Mapping[str, Any]) -> str:
    settings = a.get("settings") or {}
    if settings.get("scale"):
        return str(settings["scale"])
    return "log" if settings.get("measure") in LOG_MEASURES else "identity"


def mid_thresholds(a: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The ±MID thresholds on the display scale: those the run's TSA used (analysis scale, log for
    ratios), else ±MID of the outcome for a difference measure; (None, None) when no MID."""
    tsa = tsa_of(a)
    low, high = finite(tsa.get("mid_lower")), finite(tsa.get("mid_upper"))
    if low is None or high is None:
        mid = finite((a.get("outcome_defaults") or {}).get("mid"))
        if mid is None or _scale(a) == "log" or (a.get("settings") or {}).get("measure") == "SMD":
            return None, None  # a ratio's or an SMD's MID is only known from the TSA's choice
        return -mid, mid
    if _scale(a) == "log":
        return math.exp(low), math.exp(high)
    return low, high


def _subgroups(display: Mapping[str, Any]) -> tuple[SubgroupSummary, ...]:
    subs = display.get("subgroups") or {}
    return tuple(SubgroupSummary(str(n), s.get("k"), finite(s.get("estimate")), finite(s.get("ci_low")),
                                 finite(s.get("ci_high"))) for n, s in subs.items())


def study_rows(studies: list[Mapping[str, Any]]) -> tuple[StudyRow, ...]:
    """An analysis' study rows ordered by (study, subgroup); rows of one study (a multi-arm
    trial) keep their file order (a stable sort)."""
    rows = [StudyRow(str(s.get("study")), None if s.get("subgroup") is None
                     else str(s.get("subgroup")),
                     tuple(sorted((str(k), finite(v) if finite(v) is not None else
                                   (None if v is None else str(v)))
                                  for k, v in (s.get("data") or {}).items())))
            for s in studies]
    return tuple(sorted(rows, key=lambda r: (r.study, r.subgroup or "")))


def norm(text: str) -> str:
    """Names compared across runs: Unicode NFKC, case-folded, whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _comparison_labels(results: Mapping[str, Any]) -> dict[str, str]:
    tables = results.get("sof_tables") or {}
    return {str(g): str(t.get("label")) for g, t in tables.items()
            if isinstance(t, Mapping) and t.get("label")}


def summarise_analysis(a: Mapping[str, Any], labels: Mapping[str, str]) -> AnalysisSummary:
    """One analysis of ``results.json`` as an :class:`AnalysisSummary`."""
    res, disp = a.get("result") or {}, a.get("display") or {}
    pooled = a.get("status") == "pooled" and bool(res)
    tsa, g = tsa_of(a), str(a.get("comparison"))
    stated = a.get("comparison_name")
    nxt = tsa.get("next_trial") or {}
    lo, hi = mid_thresholds(a) if pooled else (None, None)
    studies = [s for s in a.get("studies") or [] if isinstance(s, Mapping)]
    total = nxt.get("total")
    return AnalysisSummary(
        id=str(a.get("id")), comparison=g,
        comparison_key=f"name:{norm(stated)}" if isinstance(stated, str) and stated else f"#{g}",
        comparison_label=labels.get(g, f"Comparison {g}"), name=str(a.get("name") or ""),
        status=str(a.get("status")), measure=(a.get("settings") or {}).get("measure"),
        method=(a.get("settings") or {}).get("method"),
        k=res.get("k") if pooled else None,
        participants=finite(res.get("participants")) if pooled else None,
        **{key: finite(disp.get(key)) if pooled else None
           for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")},
        **{key: finite(res.get(key)) if pooled else None for key in ("pvalue", "i2", "tau2")},
        null=(1.0 if _scale(a) == "log" else 0.0) if pooled else None, mid_low=lo, mid_high=hi,
        certainty=certainty_level(a), downgrades=downgrades(a), statement=statement(a),
        tsa_verdict=tsa_verdict(tsa), tsa_crossed=tsa.get("crossed"),
        ris_reached=tsa.get("ris_reached") if tsa else None,
        required=finite(tsa.get("required")), accrued=finite(tsa.get("accrued")),
        next_trial_total=int(total) if isinstance(total, int | float) else None,
        next_trial_reason=nxt.get("reason") if total is None else None,
        subgroups=_subgroups(disp) if pooled else (),
        studies=tuple(sorted({str(s.get("study")) for s in studies})),
        data=study_rows(studies))


def summarise(results: Mapping[str, Any], label: str) -> ReviewSummary:
    """A whole ``results.json`` (already parsed) as a :class:`ReviewSummary`.

    Raises :class:`DataError` when ``results`` is not a trialsynth results document."""
    analyses = results.get("analyses") if isinstance(results, Mapping) else None
    if not isinstance(analyses, list) or not all(isinstance(a, Mapping) for a in analyses):
        raise DataError("not a trialsynth results.json (no list of analyses)", file=label)
    source = results.get("source") if isinstance(results.get("source"), Mapping) else {}
    generator = results.get("generator")
    version = results.get("trialsynth_version")
    if version is None and isinstance(generator, str) and generator.startswith("trialsynth "):
        version = generator.split(" ", 1)[1]  # results written before the key existed
    summaries: list[AnalysisSummary] = []
    try:
        labels = _comparison_labels(results)
        for a in analyses:
            summaries.append(summarise_analysis(a, labels))
        review = results.get("review") or {}
        return ReviewSummary(
            label=label, source_file=source.get("file"), source_sha256=source.get("sha256"),
            generator=generator if isinstance(generator, str) else None, version=version,
            review_id=review.get("id"), analyses=tuple(summaries))
    except (AttributeError, TypeError, ValueError) as exc:  # a hand-edited or foreign layout
        raise DataError(f"not the layout of a trialsynth results.json (analysis "
                        f"{len(summaries) + 1}: {exc})", file=label) from None
