"""``trialsynth check``: re-run every analysis of a review with the settings stored in the file
(or inferred from it) and compare with the results RevMan stored.

Compared, where the file has them: the pooled estimate and its CI, τ², I², Q (overall and per
subgroup), the test for subgroup differences (Q, I²), and per study the effect, its CI and its
weight. Pooling uses RevMan's conventions (``revman=True``; docs/methods/revman-conventions.md).

``match`` means agreement to the precision RevMan stored: full doubles (``.rm5``) 1e-6 relative
(1e-9 absolute near zero); exports rounded to d decimals (RevMan 5 CSV 8, RevMan Web 6) one unit
of the last decimal, 10⁻ᵈ absolute (the stored value and the exported inputs it is recomputed
from are each rounded by up to half a unit), or 1e-6 relative. Every row states its tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from trialsynth._dist import norm_isf
from trialsynth._json import finite
from trialsynth.api import pool
from trialsynth.errors import DataError
from trialsynth.pooling.result import PooledResult
from trialsynth.review import (
    Analysis,
    Review,
    RowIdentity,
    Skipped,
    StoredEstimate,
    pool_measure,
    pooled_by_identity,
    row_identities,
    to_display,
)

Status = Literal["match", "differs", "not-estimable", "no-stored-result", "unsupported"]
KEYS = ("estimate", "ci_low", "ci_high", "tau2", "i2", "q")
MAX_LISTED = 50  # differences listed per row (all are counted)


@dataclass(frozen=True, slots=True)
class Tolerance:
    """|recomputed − stored| ≤ max(abs, rel·|stored|)."""

    rel: float
    abs: float
    basis: str

    def ok(self, ours: float, stored: float) -> bool:
        return abs(ours - stored) <= max(self.abs, self.rel * abs(stored))

    def to_dict(self) -> dict[str, Any]:
        return {"rel": self.rel, "abs": self.abs, "basis": self.basis}


def tolerance_for(decimals: int | None) -> Tolerance:
    """The tolerance for numbers RevMan stored with ``decimals`` decimals (None: doubles)."""
    if decimals is None:
        return Tolerance(1e-6, 1e-9, "RevMan stored full doubles: 1e-6 relative "
                                     "(1e-9 absolute near zero)")
    return Tolerance(1e-6, 10.0 ** -decimals,
                     f"RevMan stored {decimals} decimals: one unit of the last decimal "
                     f"({10.0 ** -decimals:g} absolute) or 1e-6 relative")


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One analysis: its settings, RevMan's stored results next to ours, and the verdict."""

    analysis: str
    name: str
    measure: str | None
    model: str | None
    method: str | None
    status: Status
    stored: dict[str, float | None]
    recomputed: dict[str, float | None]
    max_abs_diff: float | None
    tolerance: Tolerance | None = None
    comparison: str | None = None
    settings_source: str | None = None  # "stated" | "inferred"
    inferred: dict[str, str] | None = None  # what was inferred, and how
    compared: int = 0  # numbers compared
    differences: tuple[dict[str, Any], ...] = ()  # values outside the tolerance
    diffs: dict[str, float | None] = field(default_factory=dict)  # max |diff| by kind
    studies: dict[str, int] = field(default_factory=dict)  # per-study counts
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``trialsynth check --json`` object: the contract keys first, then extras."""
        return {
            "analysis": self.analysis, "name": self.name, "measure": self.measure,
            "model": self.model, "method": self.method, "status": self.status,
            "stored": dict(self.stored), "recomputed": dict(self.recomputed),
            "max_abs_diff": self.max_abs_diff,
            "comparison": self.comparison, "settings_source": self.settings_source,
            "inferred": self.inferred,
            "tolerance": None if self.tolerance is None else self.tolerance.to_dict(),
            "compared": self.compared, "diffs": dict(self.diffs), "studies": dict(self.studies),
            "differences": [dict(d) for d in self.differences], "notes": list(self.notes),
        }


def check_review(review: Review) -> list[CheckRow]:
    """Check every analysis of ``review`` (and list those that could not be read) in
    comparison/outcome order."""
    rows = [check_analysis(a, review.stored_decimals, source=review.source)
            for a in review.analyses]
    rows += [_skipped(s) for s in review.skipped]
    return sorted(rows, key=lambda r: _order(r.analysis))


def check_source(path: Any) -> list[CheckRow]:
    """Read any supported review source (:func:`trialsynth.readers.read_review`) and check it."""
    from trialsynth.readers import read_review

    return check_review(read_review(path))


def exit_code(rows: Iterable[CheckRow]) -> int:
    """0 when nothing differs, 1 when something does (``trialsynth check``)."""
    return int(any(r.status == "differs" for r in rows))


def _order(aid: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in aid.split("."))
    except ValueError:
        return (10**9,)


def _skipped(s: Skipped) -> CheckRow:
    return CheckRow(analysis=s.id, name=s.name, measure=None, model=None, method=None,
                    status="unsupported", stored=dict.fromkeys(KEYS), recomputed=dict.fromkeys(KEYS),
                    max_abs_diff=None, comparison=s.comparison_name, notes=(s.reason,))


class _Diffs:
    """Collects comparisons of recomputed with stored numbers."""

    def __init__(self, tol: Tolerance) -> None:
        self.tol = tol
        self.n = 0
        self.listed: list[dict[str, Any]] = []
        self.worst: dict[str, float] = {}

    def add(self, kind: str, label: str, ours: float | None, stored: float | None) -> None:
        if stored is None:
            return
        self.n += 1
        if ours is None or not math.isfinite(ours):
            self._bad(kind, label, None, stored, None)
            return
        d = abs(ours - stored)
        self.worst[kind] = max(self.worst.get(kind, 0.0), d)
        if not self.tol.ok(ours, stored):
            self._bad(kind, label, ours, stored, d)

    def one_sided(self, kind: str, label: str, ours: float | None, stored: float | None) -> None:
        self.n += 1
        self._bad(kind, label, ours, stored, None)

    def _bad(self, kind: str, label: str, ours: float | None, stored: float | None,
             d: float | None) -> None:
        self.listed.append({"kind": kind, "what": label, "stored": stored, "recomputed": ours,
                            "abs_diff": d})

    @property
    def max_abs(self) -> float | None:
        return max(self.worst.values()) if self.worst else None


def check_analysis(analysis: Analysis, decimals: int | None = None, *,
                   source: str | None = None) -> CheckRow:
    """Re-run one analysis with its settings and compare with RevMan's stored numbers."""
    s = analysis.settings
    tol = tolerance_for(decimals)
    notes = list(s.notes)
    sp = analysis.stored_pooled
    if sp is not None:
        notes += sp.notes
    base = {"analysis": analysis.id, "name": analysis.name, "measure": s.measure,
            "model": s.model, "method": s.method, "tolerance": tol,
            "comparison": analysis.comparison_name, "settings_source": analysis.settings_source,
            "inferred": _inferred(analysis)}
    result, problem = _pool(analysis, source)
    if sp is not None and not sp.results_stored:
        empty = result is None or result.k == 0
        return CheckRow(**base, status="not-estimable" if empty else "no-stored-result",
                        stored=_stored_dict(sp),
                        recomputed=_recomputed(analysis, result), max_abs_diff=None,
                        notes=tuple(dict.fromkeys(notes)))
    if problem is not None:
        return CheckRow(**base, status="unsupported", stored=_stored_dict(sp),
                        recomputed=dict.fromkeys(KEYS), max_abs_diff=None,
                        notes=(*notes, problem))
    diffs = _Diffs(tol)
    counts = _compare_studies(analysis, result, diffs, notes)
    recomputed = _recomputed(analysis, result)
    overall = None if sp is None else sp.overall
    if overall is not None:
        _compare_pooled(diffs, "", overall, recomputed, notes, s.model)
    if sp is not None and result is not None:
        _compare_subgroups(analysis, result, diffs, notes)
    elif sp is None:
        notes.append("no pooled results in the file: per-study values compared")
    status: Status
    k = 0 if result is None else result.k
    if diffs.listed:
        status = "differs"
        notes += _closer_candidate(analysis, tol)
    elif k == 0:
        status = "not-estimable"
        notes.append("no study is estimable: nothing to pool (RevMan agrees)"
                     if diffs.n else "no study is estimable: nothing to pool")
    elif diffs.n == 0:
        status = "no-stored-result"
    else:
        status = "match"
    return CheckRow(**base, status=status, stored=_stored_dict(sp), recomputed=recomputed,
                    max_abs_diff=diffs.max_abs, compared=diffs.n,
                    differences=tuple(diffs.listed[:MAX_LISTED]), diffs=dict(diffs.worst),
                    studies=counts, notes=tuple(dict.fromkeys(notes)))


def _inferred(analysis: Analysis) -> dict[str, str] | None:
    s = analysis.settings
    if not s.inferred:
        return None
    ev = s.evidence or {}
    return {k: ev[k]["decided_by"] for k in ("measure", "method")
            if isinstance(ev.get(k), dict) and "decided_by" in ev[k]} | {"totals": s.totals}


def _closer_candidate(analysis: Analysis, tol: Tolerance) -> list[str]:
    """For inferred settings: another method whose weights reproduce RevMan's to the stored
    precision, when the reader's choice did so only to its looser inference tolerance."""
    s = analysis.settings
    cands = (s.evidence or {}).get("method", {}).get("candidates", {}) if s.inferred else {}
    chosen = s.method + ("/subgroups" if s.totals == "subgroups" else "")
    close = [(f["max_abs_diff"], k) for k, f in cands.items() if k != chosen
             and not f["mismatched_rows"] and f["max_abs_diff"] is not None
             and f["max_abs_diff"] <= 2 * tol.abs]
    if not close:
        return []
    d, k = min(close)
    return [f"method {k} reproduces RevMan's stored weights to {d:.1g}; the data-rows reader "
            f"chose {chosen} (both within its inference tolerance)"]


def _pool(analysis: Analysis, source: str | None) -> tuple[PooledResult | None, str | None]:
    s = analysis.settings
    rows = analysis.pooled_rows
    if rows.empty:
        return None, None
    if s.swap_events:  # RevMan analysed the non-events (SWAP_EVENTS=YES)
        rows = rows.assign(events_t=rows["n_t"] - rows["events_t"],
                           events_c=rows["n_c"] - rows["events_c"])
    try:
        with np.errstate(all="ignore"):
            res = pool(rows, pool_measure(s.measure), s.method, hksj=s.hksj,
                       subgroup="subgroup" if analysis.has_subgroups else None, revman=True,
                       confidence_level=s.confidence_level, source=source,
                       # the stored results pooled the rows as entered (a shared comparator
                       # group counted in every comparison): reproduce them as such
                       designs={**(getattr(s, "designs", None) or {}), "multi_arm": "as_entered"})
    except DataError as exc:
        row = int(rows["row"].iloc[exc.row - 2]) if exc.row is not None and \
            0 <= exc.row - 2 < len(rows) else None
        where = f" (file row/line {row}, field {exc.field})" if row is not None else ""
        return None, f"could not be pooled: {exc.reason}{where}"
    return res, None


def _display(measure: str, *values: float | None) -> list[float | None]:
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return [finite(x) for x in to_display(measure, arr)]


def _result_dict(res: PooledResult, measure: str, model: str) -> dict[str, float | None]:
    est, lo, hi = _display(measure, res.estimate, res.ci_low, res.ci_high)
    tau2 = res.tau2 if model == "random" else (0.0 if res.k else None)  # RevMan stores τ² = 0
    return {"estimate": est, "ci_low": lo, "ci_high": hi, "tau2": tau2, "i2": res.i2,
            "q": res.q}


def _recomputed(analysis: Analysis, res: PooledResult | None) -> dict[str, float | None]:
    s = analysis.settings
    if res is None:
        return dict.fromkeys(KEYS)
    out = _result_dict(res, s.measure, s.model)
    if s.totals == "subgroups" and res.subgroups:
        # RevMan 5 with TOTALS=SUB stores as overall estimate the inverse-variance common-effect
        # pooling of the subgroup estimates (revman-conventions.md §7; Deeks & Higgins 2010)
        est = np.array([g.estimate if g.estimate is not None else np.nan
                        for g in res.subgroups.values()])
        se = np.array([g.se if g.se is not None else np.nan for g in res.subgroups.values()])
        ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
        if ok.any():
            w = 1 / se[ok] ** 2
            mean, sem = float(np.sum(w * est[ok]) / w.sum()), float(1 / np.sqrt(w.sum()))
            z = float(norm_isf((1 - s.confidence_level) / 2))
            out["estimate"], out["ci_low"], out["ci_high"] = _display(
                s.measure, mean, mean - z * sem, mean + z * sem)
    return out


def _stored_dict(sp: Any) -> dict[str, float | None]:
    ov = None if sp is None else sp.overall
    if ov is None:
        return dict.fromkeys(KEYS)
    return {k: getattr(ov, k) for k in KEYS}


def _compare_pooled(diffs: _Diffs, label: str, stored: StoredEstimate,
                    ours: dict[str, float | None], notes: list[str], model: str) -> None:
    where = f"{label} " if label else ""
    if not stored.estimable:
        if ours["estimate"] is not None:
            diffs.one_sided("pooled", f"{where}estimate (RevMan: not estimable)",
                            ours["estimate"], None)
        else:
            diffs.n += 1  # both not estimable: an agreement
        return
    single = stored.df == 0
    for key in KEYS:
        if key == "i2" and single:
            notes.append("k = 1: I² is 0/0 for a single study and RevMan's stored value comes "
                         "from a rounding residue of Q; I² not compared")
            continue
        if key == "tau2" and model == "common" and stored.tau2 is None:
            continue
        diffs.add("pooled" if not label else "subgroups", f"{where}{key}", ours[key],
                  getattr(stored, key))


def _compare_subgroups(analysis: Analysis, res: PooledResult, diffs: _Diffs,
                       notes: list[str]) -> None:
    s = analysis.settings
    sp = analysis.stored_pooled
    assert sp is not None
    subs = res.subgroups or {}
    for label, stored in sp.subgroups.items():
        ours = subs.get(label)
        if ours is None or ours.k == 0:
            if stored.estimable and stored.estimate is not None:
                diffs.one_sided("subgroups", f"[{label}] estimate (no estimable study here)",
                                None, stored.estimate)
            elif not stored.estimable:
                diffs.n += 1  # both not estimable: an agreement
            continue
        _compare_pooled(diffs, f"[{label}]", stored, _result_dict(ours, s.measure, s.model),
                        notes, s.model)
    test = sp.subgroup_test
    if test is None or res.subgroup_test is None or not subs:
        return
    if not s.subgroup_test and not test.q:
        notes.append("test for subgroup differences not requested (SUBGROUP_TEST=NO) and "
                     "stored as 0: not compared")
        return
    if res.subgroup_test.q is None and res.subgroup_test.df == 0:
        if test.q:  # fewer than two subgroups with an estimate: RevMan stores Q = 0
            diffs.one_sided("subgroup_test", "subgroup test Q (fewer than two subgroups "
                            "with an estimate here)", None, test.q)
        return
    diffs.add("subgroup_test", "subgroup test Q", res.subgroup_test.q, test.q)
    if res.subgroup_test.df and res.subgroup_test.df > 0:
        diffs.add("subgroup_test", "subgroup test I²", res.subgroup_test.i2, test.i2)


def _where(rec: dict[str, Any]) -> str:
    sub = rec.get("subgroup")
    return f"row {rec['row']}" + (f", subgroup {sub!r}" if isinstance(sub, str) and sub else "")


def _implied_level(analysis: Analysis, mine: dict[RowIdentity, Any], keys: list[RowIdentity]
                   ) -> float | None:
    """The CI level RevMan used for study CIs: the median of (CI width)/(2·SE) over the
    studies, if it is the normal quantile of one of RevMan's levels (90, 95, 99 %)."""
    log = analysis.settings.scale == "log"
    zs = []
    for key, rec in zip(keys, analysis.frame.to_dict("records"), strict=True):
        st = mine.get(key)
        lo, hi = finite(rec["stored_ci_low"]), finite(rec["stored_ci_high"])
        if st is None or st.se is None or not st.se > 0 or lo is None or hi is None:
            continue
        if log and not (lo > 0 and hi > 0):
            continue
        zs.append(((math.log(hi) - math.log(lo)) if log else (hi - lo)) / (2 * st.se))
    if not zs:
        return None
    z = float(np.median(zs))
    return next((lv for lv in LEVELS if abs(z / norm_isf((1 - lv) / 2) - 1) < 1e-3), None)


LEVELS = (0.95, 0.9, 0.99)  # the study CI levels RevMan offers


def _compare_studies(analysis: Analysis, res: PooledResult | None, diffs: _Diffs,
                     notes: list[str]) -> dict[str, int]:
    """Per-study effect, CI (at the study CI level) and weight against the stored ones."""
    s = analysis.settings
    mine = pooled_by_identity(analysis, res)  # rows matched by identity, never by row number
    keys = row_identities(analysis.frame)
    level = s.study_confidence_level
    if s.inferred:  # the data-rows export does not state the study CI level: read it off
        level = _implied_level(analysis, mine, keys) or level
        if level != s.study_confidence_level:
            notes.append(f"study CI level {100 * level:g}% inferred from RevMan's stored "
                         f"per-study CIs (not stated in this export)")
    z = float(norm_isf((1 - level) / 2))
    counts = {"rows": len(analysis.frame), "effects_compared": 0, "weights_compared": 0}
    for key, rec in zip(keys, analysis.frame.to_dict("records"), strict=True):
        st = mine.get(key)
        label = f"study {rec['study']} ({_where(rec)})"
        eff = lo = hi = w = None
        if st is not None and st.yi is not None and st.se is not None:
            eff, lo, hi = _display(s.measure, st.yi, st.yi - z * st.se, st.yi + z * st.se)
            w = st.weight if st.included else None
        stored = {k: finite(rec[f"stored_{k}"]) for k in ("effect", "ci_low", "ci_high", "weight")}
        if eff is None and stored["effect"] is not None:
            diffs.one_sided("study_effects", f"{label} effect (not estimable here)", None,
                            stored["effect"])
        elif eff is not None and stored["effect"] is not None:
            counts["effects_compared"] += 1
            diffs.add("study_effects", f"{label} effect", eff, stored["effect"])
            diffs.add("study_effects", f"{label} CI low", lo, stored["ci_low"])
            diffs.add("study_effects", f"{label} CI high", hi, stored["ci_high"])
        if s.totals == "none":
            continue
        if (w is None) != (stored["weight"] is None):
            diffs.one_sided("study_weights", f"{label} weight (weighted on one side only)", w,
                            stored["weight"])
        elif w is not None:
            counts["weights_compared"] += 1
            diffs.add("study_weights", f"{label} weight", w, stored["weight"])
    return counts


# ------------------------------------------------------------------------------------------
# table output


STATUS_STYLE = {"match": "green", "differs": "bold red", "not-estimable": "yellow",
                "no-stored-result": "cyan", "unsupported": "magenta"}


def render_check_table(rows: Sequence[CheckRow], title: str | None = None) -> Any:
    """A :class:`rich.table.Table` of check rows (``trialsynth check`` default output)."""
    from rich.table import Table
    from rich.text import Text

    counts = pd.Series([r.status for r in rows], dtype=object).value_counts()
    caption = ", ".join(f"{n} {status}" for status, n in counts.items())
    table = Table(title=title, caption=caption or None, show_lines=False)
    for col, justify in (("analysis", "left"), ("name", "left"), ("measure", "left"),
                         ("method", "left"), ("settings", "left"), ("status", "left"),
                         ("estimate (stored / ours)", "right"), ("max |diff|", "right"),
                         ("notes", "left")):
        table.add_column(col, justify=justify,  # type: ignore[arg-type]
                         overflow="fold" if col in ("name", "notes") else "ellipsis")
    for r in rows:
        style = STATUS_STYLE.get(r.status, "")
        shown = [n for n in r.notes if not n.startswith(("settings stated", "measure ", "method "))]
        note = r.differences[0]["what"] if r.differences else (shown[-1] if shown else "")
        table.add_row(
            r.analysis, r.name[:60], r.measure or "-", f"{r.method or '-'} ({r.model or '-'})",
            r.settings_source or "-", Text(r.status, style=style),
            f"{_fmt(r.stored['estimate'])} / {_fmt(r.recomputed['estimate'])}",
            "-" if r.max_abs_diff is None else f"{r.max_abs_diff:.1e}", note[:90])
    return table


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"
