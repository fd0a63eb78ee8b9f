#!/usr/bin/env python3
"""Corpus measurement (not a unit test): ``trialsynth check`` over all 501 Cochrane reviews of the
Pairwise70 corpus, read straight from ``pairwise70_all_501_csv.tgz``.

Each review is a RevMan Web "data rows" export (no pooled rows): its settings are inferred by the
data-rows reader and :func:`trialsynth.analyse.checking.check_review` compares RevMan's stored per-study
effects, CIs and weights with ours (tolerance: one unit of RevMan's 6th decimal, or 1e-6
relative). Prints the share of analyses whose per-study effects and weights are reproduced, and
counts per mismatch class (rules in :func:`classify`; explained in
docs/methods/revman-conventions.md, "Corpus check").

Members are read into memory one at a time (size-bounded; never extracted by tarfile) and each is
written to a private temporary file for the reader. Usage::

    python validation/check_corpus.py [--tgz PATH] [--jobs N] [--limit N] [--details OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_TGZ = Path(os.environ.get("TRIALSYNTH_SHARED_DATA", SHARED)) / "pairwise70" / \
    "pairwise70_all_501_csv.tgz"
MAX_MEMBER = 200 * 1024 * 1024
LOOSE = 1e-4  # the earlier corpus measurement's weight tolerance (percentage points)
CLASSES = {
    "reproduced": "per-study effects, CIs and weights reproduced",
    "peto-pooled-zero-cells": "Peto: weights are proportional to V from the raw 2x2 tables; "
                              "trialsynth's Peto pooling corrects zero cells first",
    "inference-tie": "another method reproduces the weights exactly; the data-rows reader "
                     "chose one that fits only to its looser inference tolerance (the "
                     "inference now prefers a fit at the export's precision)",
    "weights-not-one-pooling": "stored weights do not sum to 100 (overall) or 100 per "
                               "subgroup: not the weights of any single pooling",
    "reml": "the weights are those of REML tau² (RevMan Web's newer estimator), but the "
            "data-rows inference chose another method",
    "all-events-kept-in-mh": "b = d = 0 tables (every participant an event in both arms): "
                             "RevMan keeps them, 0.5-corrected, in the Mantel-Haenszel sums; "
                             "trialsynth's M-H drops them",
    "all-event-tables": "no method fits; the analysis has b = d = 0 tables (keeping them in the "
                        "M-H sums brings the weights closer, not to RevMan's precision)",
    "zero-cell-tables": "no method fits; the analysis has zero-cell tables",
    "no-method-fits": "no method fits; no zero cells",
    "swapped-events": "per-study effects are RevMan's for non-events (the review swapped "
                      "events and non-events; the export does not say so)",
    "study-effect": "a per-study effect differs (weights agree or are absent)",
    "effect-zero-tie": "every stored effect is 0 (1 for ratios), which several measures give; "
                       "the stored CI belongs to another measure than the one inferred",
    "study-ci-only": "per-study effects and weights agree; a study CI differs",
    "unsupported": "could not be pooled",
}


def _weight_sums_ok(a: Any) -> bool:
    """Stored weights sum to 100 overall, or to 100 within every subgroup."""
    fr = a.frame
    w = fr["stored_weight"].to_numpy()
    ok = np.isfinite(w)
    if not ok.any():
        return True
    if abs(w[ok].sum() - 100) < 0.01:
        return True
    if "subgroup" not in fr.columns:
        return False
    sums = fr[ok].groupby("subgroup", sort=False)["stored_weight"].sum()
    return bool((abs(sums - 100) < 0.01).all())


def _peto_raw_fit(a: Any) -> bool:
    """Weights ∝ V = n₁n₂(a+c)(b+d)/(N²(N−1)) from the raw tables (Yusuf et al. 1985)."""
    fr = a.pooled_rows
    n1, n2 = fr["n_t"].to_numpy(), fr["n_c"].to_numpy()
    e = fr["events_t"].to_numpy() + fr["events_c"].to_numpy()
    n = n1 + n2
    v = n1 * n2 * e * (n - e) / (n**2 * (n - 1))
    groups = fr["subgroup"] if a.settings.totals == "subgroups" else np.zeros(len(fr))
    w = np.full(len(fr), np.nan)
    for g in set(groups):
        m = np.asarray(groups == g) & (v > 0)
        w[m] = 100 * v[m] / v[m].sum()
    stored = fr["stored_weight"].to_numpy()
    both = np.isfinite(w) & np.isfinite(stored)
    return bool(both.any() and np.isfinite(w).sum() == np.isfinite(stored).sum()
                and np.abs(w[both] - stored[both]).max() <= 2e-6)


def _has_tables(a: Any, kind: str) -> bool:
    if a.data_type != "dichotomous":
        return False
    fr = a.pooled_rows
    ev_t, ev_c = fr["events_t"].to_numpy(), fr["events_c"].to_numpy()
    b, d = fr["n_t"].to_numpy() - ev_t, fr["n_c"].to_numpy() - ev_c
    if kind == "all-events":
        return bool(((b == 0) & (d == 0)).any())
    return bool(((ev_t == 0) | (ev_c == 0) | (b == 0) | (d == 0)).any())


def _fits_with(a: Any, method: str) -> bool:
    """The analysis re-checked with another method reproduces everything stored."""
    from dataclasses import replace

    from trialsynth.analyse.checking import check_analysis

    try:
        row = check_analysis(replace(a, settings=replace(a.settings, method=method)), 6)
    except ValueError:
        return False
    return row.status == "match"


def _mh_all_events_kept(a: Any) -> bool:
    """Weights of RR M-H fixed, or M-H random (DL τ² with Q around the M-H estimate), when
    b = d = 0 tables stay in the M-H sums with 0.5 added to every cell (Greenland & Robins
    1985 weights c·n₁/N; revman-conventions.md §3, §4) reproduce the stored weights."""
    from trialsynth.conventions import REVMAN_CONVENTIONS
    from trialsynth.pooling.batch import pool_arrays

    if a.settings.measure != "RR" or a.settings.totals == "none":
        return False
    fr = a.pooled_rows
    groups = fr["subgroup"].to_numpy() if a.settings.totals == "subgroups" else np.zeros(len(fr))
    worst = {"MH": 0.0, "MH_RANDOM": 0.0}
    for g in set(groups):
        m = groups == g
        a_, n1, c, n2 = (fr[k].to_numpy()[m] for k in ("events_t", "n_t", "events_c", "n_c"))
        b, d = n1 - a_, n2 - c
        z = (a_ == 0) | (b == 0) | (c == 0) | (d == 0)
        keep = ~((a_ == 0) & (c == 0))
        ca, cb, cc, cd = (x + 0.5 * z for x in (a_, b, c, d))
        n = ca + cb + cc + cd
        r_, s_ = np.sum((ca * (cc + cd) / n)[keep]), np.sum((cc * (ca + cb) / n)[keep])
        w_mh = np.where(keep, cc * (ca + cb) / n, np.nan)
        eff = pool_arrays("RR", "DL", {"events_t": a_, "n_t": n1, "events_c": c, "n_c": n2},
                          np.zeros(m.sum(), dtype=np.intp), 1, conventions=REVMAN_CONVENTIONS)
        y, v = eff.yi[eff.included], eff.vi[eff.included]
        w = 1 / v
        q = np.sum(w * (y - np.log(r_ / s_)) ** 2)  # Q around the M-H estimate
        tau2 = max(0.0, (q - (len(y) - 1)) / (w.sum() - np.sum(w**2) / w.sum()))  # DL
        w_r = np.full(m.sum(), np.nan)
        w_r[eff.included] = 1 / (v + tau2)
        stored = fr["stored_weight"].to_numpy()[m]
        for key, ww in (("MH", w_mh), ("MH_RANDOM", w_r)):
            ww = 100 * ww / np.nansum(ww)
            both = np.isfinite(ww) & np.isfinite(stored)
            worst[key] = max(worst[key], float(np.abs(ww[both] - stored[both]).max())
                             if both.any() else np.inf)
    return min(worst.values()) <= 2e-6


def _swapped_events(a: Any) -> bool:
    """RR of non-events, with RevMan's zero-cell rule, gives the stored per-study effects."""
    if a.data_type != "dichotomous":
        return False
    fr = a.pooled_rows
    a_, n1, c, n2 = (fr[k].to_numpy() for k in ("events_t", "n_t", "events_c", "n_c"))
    a_, c = n1 - a_, n2 - c  # non-events
    z = (a_ == 0) | (c == 0) | (a_ == n1) | (c == n2)
    with np.errstate(all="ignore"):
        rr = ((a_ + 0.5 * z) / (n1 + z)) / ((c + 0.5 * z) / (n2 + z))
    stored = fr["stored_effect"].to_numpy()
    both = np.isfinite(rr) & np.isfinite(stored) & (rr > 0)
    return bool(both.any() and np.abs(rr[both] - stored[both]).max() <= 2e-6)


def classify(a: Any, row: Any) -> str:
    """The mismatch class of one checked analysis (first rule that applies)."""
    if row.status in ("match", "not-estimable", "no-stored-result"):
        return "reproduced" if row.status == "match" else row.status
    if row.status == "unsupported":
        return "unsupported"
    kinds = {d["kind"] for d in row.differences}
    if "study_weights" in kinds:
        if a.settings.method == "PETO" and _peto_raw_fit(a):
            return "peto-pooled-zero-cells"
        if any("reproduces RevMan's stored weights" in n for n in row.notes):
            return "inference-tie"
        if a.settings.model == "random" and _fits_with(a, "REML"):
            return "reml"
        if not _weight_sums_ok(a):
            return "weights-not-one-pooling"
        if _has_tables(a, "all-events"):
            return "all-events-kept-in-mh" if _mh_all_events_kept(a) else "all-event-tables"
        return "zero-cell-tables" if _has_tables(a, "zero") else "no-method-fits"
    if _swapped_events(a):
        return "swapped-events"
    stored = a.frame["stored_effect"].dropna().to_numpy()
    null = 1.0 if a.settings.scale == "log" else 0.0
    if stored.size and np.all(stored == null):
        return "effect-zero-tie"
    if all(" CI " in d["what"] for d in row.differences):
        return "study-ci-only"
    return "study-effect"


def _one(item: tuple[str, bytes]) -> dict[str, Any]:
    """Read and check one review (in a worker process)."""
    warnings.simplefilter("ignore")
    from trialsynth.analyse.checking import check_review
    from trialsynth.errors import DataError
    from trialsynth.readers.revman_rows import read_review

    name, data = item
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PurePosixPath(name).name
        path.write_bytes(data)
        try:
            review = read_review(path)
        except DataError as exc:
            return {"review": name, "error": str(exc), "analyses": []}
        by_id = {a.id: a for a in review.analyses}
        out = []
        for row in check_review(review):
            a = by_id[row.analysis]
            weights = row.studies.get("weights_compared", 0) + sum(
                d["kind"] == "study_weights" and d["abs_diff"] is None for d in row.differences)
            w_diffs = [d for d in row.differences if d["kind"] == "study_weights"]
            loose = row.status != "unsupported" and not any(
                d["abs_diff"] is None or d["abs_diff"] > LOOSE for d in w_diffs)
            out.append({"id": row.analysis, "status": row.status, "class": classify(a, row),
                        "measure": row.measure, "method": row.method, "weights": weights > 0,
                        "weights_loose": loose, "max_abs_diff": row.max_abs_diff,
                        "first_difference": row.differences[0] if row.differences else None})
    return {"review": name, "error": None, "analyses": out}


def _members(tgz: Path, limit: int | None):
    with tarfile.open(tgz, "r:gz") as tf:
        n = 0
        for m in tf:
            name = PurePosixPath(m.name)
            if not m.isfile() or name.suffix != ".csv" or name.name.startswith("_"):
                continue
            if m.size > MAX_MEMBER or ".." in name.parts or name.is_absolute():
                raise SystemExit(f"refusing member {m.name!r} (size or path)")
            fh = tf.extractfile(m)
            assert fh is not None
            yield m.name, fh.read(MAX_MEMBER + 1)
            n += 1
            if limit and n >= limit:
                return


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tgz", type=Path, default=DEFAULT_TGZ)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=int, default=None, help="only the first N reviews")
    ap.add_argument("--details", type=Path, default=None, help="write per-analysis JSON here")
    args = ap.parse_args(argv)
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs) as ex:
        results = list(ex.map(_one, _members(args.tgz, args.limit), chunksize=2))
    rows = [a for r in results for a in r["analyses"]]
    errors = [r for r in results if r["error"]]
    with_w = [a for a in rows if a["weights"]]
    ok = sum(a["class"] == "reproduced" for a in with_w)
    loose = sum(a["weights_loose"] for a in with_w)
    status = Counter(a["status"] for a in rows)
    print(f"reviews: {len(results)} ({len(errors)} unreadable); analyses: {len(rows)}; "
          f"{time.time() - t0:.0f} s with {args.jobs} processes")
    print("status: " + ", ".join(f"{k} {v}" for k, v in status.most_common()))
    print(f"analyses with stored per-study weights: {len(with_w)}")
    print(f"  per-study effects, CIs and weights reproduced (6-decimal tolerance): {ok} "
          f"({100 * ok / max(len(with_w), 1):.1f}%)")
    print(f"  weights reproduced to {LOOSE:g} percentage points (earlier measure): {loose} "
          f"({100 * loose / max(len(with_w), 1):.1f}%)")
    no_w = [a for a in rows if not a["weights"] and a["status"] != "not-estimable"]
    print(f"analyses without stored weights (not pooled by the review): {len(no_w)}, "
          f"effects reproduced in {sum(a['status'] == 'match' for a in no_w)}")
    print("mismatch classes (all analyses):")
    for cls, n in Counter(a["class"] for a in rows if a["status"] == "differs").most_common():
        by = Counter(f"{a['measure']} {a['method']}" for a in rows if a["class"] == cls)
        print(f"  {n:5d}  {cls}: {CLASSES.get(cls, cls)}")
        print("         " + ", ".join(f"{k} {v}" for k, v in by.most_common(6)))
    for r in errors:
        print(f"unreadable: {r['review']}: {r['error']}")
    if args.details:
        args.details.write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
