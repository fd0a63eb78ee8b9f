"""Read a batch input into flat study arrays with an analysis index: no per-analysis Python loop.

Three kinds of input (:func:`read_input` decides from what the path is):

* a **long table** (``.csv``, ``.parquet``): an ``analysis`` column plus the columns of
  ``trialsynth pool`` (``study``; ``events_t, n_t, events_c, n_c`` or ``mean_t, sd_t, n_t, mean_c,
  sd_c, n_c`` or ``yi, se``), optionally a ``measure`` column (one value per analysis);
* the **Pairwise70 corpus** ``.tgz`` (or any ``.tgz`` / ``.tar.gz`` of RevMan Web data-rows
  CSVs), and RevMan Web data-rows CSVs with R-style names: their columns are parsed straight into
  arrays (pyarrow), and the measure of each analysis is the one whose per-study effects reproduce
  RevMan's stored ``Mean`` column (a cheap, effect-only version of
  :func:`trialsynth.review.infer_settings`; no weight fitting);
* a **folder of reviews**: every data-rows CSV and ``.tgz`` as above, and every other review file
  :func:`trialsynth.readers.read_review` opens (rm5, RevMan 5 CSV, RevMan Web package, review folder)
  with the settings that reader states or infers. Names starting with ``_`` or ``.`` are skipped
  (``_index_all_501.csv``); a review met twice with identical bytes is read once.

Analysis ids are ``<review>:<group>.<number>``, the review being the file name without
``_data.csv`` (``CD015373_pub2:1.4``). Study rows without complete data of the analysis' data type
are left out (RevMan: "not estimable"), exactly as :attr:`trialsynth.review.Analysis.pooled_rows`.
Unreadable input raises :class:`~trialsynth.errors.DataError` naming file, row and column.

Layers: :mod:`trialsynth.corpus.rows` (columns, raw rows, the cell parsers) under
:mod:`trialsynth.corpus.sources` (INPUT as a stream of blocks) and :mod:`trialsynth.corpus.spill`
(a long table grouped on disk) under this module (blocks to analyses ready to pool).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trialsynth._segments import segment_count, segment_sum
from trialsynth.conventions import REVMAN_CONVENTIONS
from trialsynth.corpus import sources
from trialsynth.corpus.rows import DATA_COLUMNS, TYPE_COLUMNS, RawRows, cat, take
from trialsynth.corpus.sources import NotGrouped, is_long_table, iter_raw
from trialsynth.corpus.spill import iter_spilled
from trialsynth.effects.table import BINARY, COLUMNS, MEASURES, study_effects
from trialsynth.errors import DataError
from trialsynth.review import complete_rows

TYPE_OF = {**{m: "dichotomous" for m in BINARY}, "MD": "continuous", "SMD": "continuous",
           "GENERIC": "generic"}
DEFAULT_MEASURE = {"dichotomous": "RR", "continuous": "MD", "generic": "GENERIC"}
# candidate measures for the stored per-study effects, in order of preference when tied
# (continuous before dichotomous before generic, as trialsynth.review.DATA_TYPES)
CANDIDATES = ("MD", "SMD", "RR", "OR", "RD", "PETO_OR", "GENERIC", "GENERIC_LOG")
EFFECT_TOL = 1e-4  # trialsynth.review.EFFECT_TOL: |ours − stored| / max(1, |stored|)
FAILURE_COLUMNS = ("analysis", "source", "reason")


@dataclass(frozen=True)
class BatchInput:
    """Analyses of an input (all of it, or one block of a stream), ready to pool.

    ``analyses``: one row per analysis that can be pooled (columns ``analysis, source,
    data_type, measure, measure_source, n_rows``), in the order of the flat arrays;
    ``columns``: flat float arrays of the study rows that enter the pooling (DATA_COLUMNS, NaN
    where a column does not apply), sorted by analysis; ``offsets``: analysis ``j`` owns rows
    ``offsets[j]:offsets[j+1]``; ``study``: study labels, or None for a long table without a
    ``study`` column ("Study 1", "Study 2", … within each analysis, made where a warning names
    one: :func:`study_labels`); ``failures``: analyses that cannot be pooled and why
    (``analysis, source, reason``).
    """

    analyses: pd.DataFrame
    columns: dict[str, np.ndarray]
    offsets: np.ndarray
    study: np.ndarray | None
    failures: pd.DataFrame

    @property
    def n(self) -> int:
        return len(self.analyses)

    def group(self) -> np.ndarray:
        return np.repeat(np.arange(self.n, dtype=np.intp), np.diff(self.offsets))


def study_labels(study: np.ndarray | None, rows: np.ndarray, offsets: np.ndarray,
                 group: np.ndarray) -> np.ndarray:
    """Labels of the study rows ``rows`` (``group``: their analyses): the stored ones, or
    "Study i", i counted within the analysis (trialsynth.validate.study_labels)."""
    if study is not None:
        return study[rows]
    return np.array([f"Study {i}" for i in (rows - offsets[group] + 1).tolist()], dtype=object)


def _failures(rows: Iterable[tuple[str, str, str]] = ()) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(FAILURE_COLUMNS), dtype=object)


# ------------------------------------------------------------------------------------------
# entry points


def iter_input(source: str | Path, *, measure: str | None = None, method: str = "DL",
               block_rows: int | None = None, spill: bool = False,
               spill_dir: Path | None = None) -> Iterator[BatchInput]:
    """INPUT (long table, corpus ``.tgz``, data-rows CSV, any review file, or a folder) as a
    stream of :class:`BatchInput` blocks of whole analyses, read in bounded memory
    (:mod:`trialsynth.corpus.sources`). A long table whose analyses are not runs of adjacent
    rows raises :class:`~trialsynth.corpus.sources.NotGrouped` (perhaps after some blocks);
    read it again with ``spill=True``: grouped on disk first (:mod:`trialsynth.corpus.spill`,
    in a temporary folder under ``spill_dir``)."""
    path = Path(source)
    size = block_rows or sources.BLOCK_ROWS  # looked up at each call: a setting of the module
    if spill:
        for raw in iter_spilled(path, size, spill_dir):
            yield _finish(raw, measure, method)
        return
    seen: set[str] = set()
    for raw in iter_raw(path, size):
        if not raw.long:
            _unique_ids(raw, seen, str(path))
        yield _finish(raw, measure, method)


def read_input(source: str | Path, *, measure: str | None = None, method: str = "DL"
               ) -> BatchInput:
    """Read all of INPUT into one :class:`BatchInput` (:func:`iter_input`, put together)."""
    try:
        blocks = list(iter_input(source, measure=measure, method=method))
    except NotGrouped:
        blocks = list(iter_input(source, measure=measure, method=method, spill=True))
    return concat_inputs(blocks)


def read_long_table(source: str | Path, *, measure: str | None = None, method: str = "DL"
                    ) -> BatchInput:
    """A long table (CSV or Parquet): an ``analysis`` column plus the ``pool`` columns, as flat
    arrays; analyses that cannot be pooled are in ``.failures``."""
    path = Path(source)
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    if not is_long_table(path):
        raise DataError("not a long table (.parquet, or .csv with an 'analysis' column)",
                        file=str(path))
    return read_input(path, measure=measure, method=method)


def concat_inputs(blocks: list[BatchInput]) -> BatchInput:
    """Blocks of one input as one :class:`BatchInput`."""
    if len(blocks) == 1:
        return blocks[0]
    starts = np.cumsum([0] + [len(b.columns["yi"]) for b in blocks])
    offsets = np.concatenate([[0]] + [b.offsets[1:] + s for b, s in zip(blocks, starts, strict=False)])
    study = None
    if any(b.study is not None for b in blocks):
        study = np.concatenate([b.study if b.study is not None else
                                study_labels(None, np.arange(len(b.columns["yi"])), b.offsets,
                                             b.group()) for b in blocks])
    return BatchInput(analyses=pd.concat([b.analyses for b in blocks], ignore_index=True),
                      columns={c: cat([b.columns[c] for b in blocks]) for c in DATA_COLUMNS},
                      offsets=offsets.astype(np.int64), study=study,
                      failures=pd.concat([b.failures for b in blocks], ignore_index=True))


def _unique_ids(raw: RawRows, seen: set[str], src: str) -> None:
    """Analysis ids are unique across the reviews of an input."""
    ids = [str(x) for x in raw.ids]
    again = [x for x in ids if x in seen]
    if again or len(set(ids)) < len(ids):
        dup = again[0] if again else pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise DataError(f"analysis id {dup!r} appears in two reviews of the folder", file=src)
    seen.update(ids)


def _finish(raw: RawRows, measure: str | None, method: str) -> BatchInput:
    n = len(raw.ids)
    codes = raw.codes
    # a long table's types without their columns have no complete row: not computed
    complete = {t: complete_rows(t, raw.cols) for t in TYPE_COLUMNS
                if not raw.long or all(c in raw.present for c in TYPE_COLUMNS[t])}
    if raw.long:
        dtype, chosen, how = _long_types(raw, complete, n)
    else:
        dtype, chosen, how = _infer_from_stored(raw, complete, n)
    given = measure.upper() if measure else None
    if raw.stated is not None:
        stated = np.asarray(raw.stated, dtype=object)
        has = stated != ""
        bad = has & ~np.isin(stated, MEASURES)
        if bad.any():
            j = int(np.argmax(bad))
            raise DataError(f"unknown measure {stated[j]!r}; expected one of {', '.join(MEASURES)}",
                            file=str(raw.source[j]), field="measure")
        chosen = np.where(has, stated, chosen)
        how = np.where(has, "stated in the input", how)
        dtype = np.where(has, pd.Series(stated).map(TYPE_OF).fillna("").to_numpy(dtype=object), dtype)
    fail = np.full(n, "", dtype=object)
    if given is not None:
        fits = dtype == TYPE_OF[given]
        fail = np.where(~fits & (dtype != ""),
                        "--measure " + given + " does not fit " + dtype.astype(str) + " data", fail)
        chosen = np.where(fits, given, chosen)
        how = np.where(fits, "--measure", how)
    elif method == "PETO":  # the Peto method pools the Peto odds ratio
        dich = dtype == "dichotomous"
        chosen, how = np.where(dich, "PETO_OR", chosen), np.where(dich, "--method PETO", how)
    fail = np.where((fail == "") & (dtype == ""), "no study row has data of any type", fail)
    if method in ("MH", "MH_RANDOM"):
        fail = np.where((fail == "") & ~np.isin(chosen, ("RR", "OR", "RD")),
                        "Mantel-Haenszel needs measure RR, OR or RD, not " + chosen.astype(str), fail)
    if method == "PETO":
        fail = np.where((fail == "") & (chosen != "PETO_OR"),
                        "the Peto method pools measure PETO_OR, not " + chosen.astype(str), fail)
    # rows used: complete for the analysis' data type (long tables: every row must be valid);
    # per-analysis masks indexed by the rows' analysis (no per-row strings)
    if raw.long:
        reason = _long_row_problems(raw, chosen, complete)
        fail = np.where((fail == "") & (reason != ""), reason, fail)
        use = (dtype != "")[codes]
    else:
        use = np.zeros(len(codes), dtype=bool)
        for t, ok in complete.items():
            use |= (dtype == t)[codes] & ok
    k_use = segment_count(codes[use], n)
    fail = np.where((fail == "") & (k_use == 0),
                    "no study row has complete " + dtype.astype(str) + " data", fail)
    ok_a = fail == ""
    failures = _failures(zip(raw.ids[~ok_a], raw.source[~ok_a], fail[~ok_a], strict=True))
    # flat arrays of the analyses that go on, sorted by analysis (stable: file order within)
    new = np.cumsum(ok_a) - 1
    rows = use & ok_a[codes]
    order = np.flatnonzero(rows)
    order = order[np.argsort(new[codes[order]], kind="stable")]
    grp = new[codes[order]]
    n_ok = int(ok_a.sum())
    offsets = np.concatenate([[0], np.cumsum(np.bincount(grp, minlength=n_ok))]).astype(np.int64)
    analyses = pd.DataFrame({
        "analysis": raw.ids[ok_a].astype(str), "source": raw.source[ok_a].astype(str),
        "data_type": dtype[ok_a].astype(str), "measure": chosen[ok_a].astype(str),
        "measure_source": how[ok_a].astype(str),
        "n_rows": segment_count(codes, n)[ok_a].astype(np.int64)})
    every = order.size == len(codes) and (order.size == 0 or (order == np.arange(order.size)).all())
    pick = None if every else order  # rows already in place: no copies
    return BatchInput(analyses=analyses, columns={c: take(raw.cols[c], pick) for c in DATA_COLUMNS},
                      offsets=offsets, study=None if raw.study is None else take(raw.study, pick),
                      failures=failures)


def _infer_from_stored(raw: RawRows, complete: dict[str, np.ndarray], n: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per analysis, the candidate measure whose per-study effects (RevMan's conventions)
    reproduce most of RevMan's stored ``Mean`` column; without stored effects, the data type
    from the columns filled in and its RevMan 5 default measure."""
    codes = raw.codes
    stored = raw.stored if raw.stored is not None else np.full(len(codes), np.nan)
    have = np.isfinite(stored)
    scores = np.zeros((len(CANDIDATES), n))
    conv = REVMAN_CONVENTIONS
    for i, cand in enumerate(CANDIDATES):
        m = "GENERIC" if cand == "GENERIC_LOG" else cand
        ok = complete[TYPE_OF[m]] & have
        if not ok.any():
            continue
        sub = {c: raw.cols[c][ok] for c in COLUMNS[m]}
        with np.errstate(all="ignore"):
            eff = study_effects(m, sub, codes[ok], n, zero_cells=conv.zero_cells,
                                smd_correction=conv.smd_correction, smd_variance=conv.smd_variance,
                                rd_raw_counts=conv.rd_raw_counts, rr_all_events_raw=conv.rr_all_events_raw,
                                peto_zero_cells=conv.peto_zero_cells)
            shown = np.exp(eff.yi) if cand in ("RR", "OR", "PETO_OR", "GENERIC_LOG") else eff.yi
            s = stored[ok]
            hit = np.abs(shown - s) <= EFFECT_TOL * np.maximum(1.0, np.abs(s))
        scores[i] = segment_sum(hit.astype(np.float64), codes[ok], n)
    best = np.argmax(scores, axis=0)  # first of the tied candidates: the preferred one
    found = scores[best, np.arange(n)] > 0
    cand = np.array(CANDIDATES, dtype=object)[best]
    measure = np.where(cand == "GENERIC_LOG", "GENERIC", cand)
    how = np.where(cand == "GENERIC_LOG", "stored effects (ratio entered on the log scale)",
                   "stored effects")
    # nothing stored: data type from the columns filled in (trialsynth.review.model._PRESENCE order)
    presence = {"continuous": ("mean_t", "sd_t", "mean_c", "sd_c"),
                "dichotomous": ("events_t", "n_t", "events_c", "n_c"), "generic": ("yi", "se")}
    fallback = np.full(n, "", dtype=object)
    for t in ("generic", "dichotomous", "continuous"):  # last assignment wins: continuous first
        filled = np.logical_or.reduce([np.nan_to_num(raw.cols[c]) != 0 for c in presence[t]])
        fallback = np.where(segment_sum(filled.astype(np.float64), codes, n) > 0, t, fallback)
    dflt = pd.Series(fallback).map(DEFAULT_MEASURE).fillna("").to_numpy(dtype=object)
    measure = np.where(found, measure, dflt)
    how = np.where(found, how, "no stored effect: default for " + fallback.astype(str) + " data")
    dtype = np.where(found, pd.Series(measure).map(TYPE_OF).to_numpy(dtype=object), fallback)
    return dtype.astype(object), measure.astype(object), how.astype(object)


def _long_types(raw: RawRows, complete: dict[str, np.ndarray], n: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long table: data type per analysis from the columns it fills (all rows complete first,
    then any row with data), continuous before dichotomous before generic."""
    codes = raw.codes
    k = segment_count(codes, n)
    dtype = np.full(n, "", dtype=object)
    counts = {}  # rows with every column of the type filled, per analysis
    for t in ("generic", "dichotomous", "continuous"):
        if all(c in raw.present for c in TYPE_COLUMNS[t]):
            filled = np.logical_and.reduce([np.isfinite(raw.cols[c]) for c in TYPE_COLUMNS[t]])
            counts[t] = segment_sum(filled.astype(np.float64), codes, n)
    for strict in (False, True):  # later assignment wins: "every row complete" beats "any row"
        for t, cnt in counts.items():
            dtype = np.where((cnt == k) if strict else (cnt > 0) & (dtype == ""), t, dtype)
    measure = pd.Series(dtype).map(DEFAULT_MEASURE).fillna("").to_numpy(dtype=object)
    how = np.where(dtype != "", "default for " + dtype.astype(str) + " data", "")
    return dtype, measure, how.astype(object)


def _long_row_problems(raw: RawRows, measure: np.ndarray, complete: dict[str, np.ndarray]
                       ) -> np.ndarray:
    """Long tables: the first row per analysis that ``trialsynth.pool`` would reject (the checks
    of :func:`trialsynth.validate.study_columns`), as ``row N, column 'x': message``."""
    codes = raw.codes
    n = len(raw.ids)
    cols = raw.cols
    checks: list[tuple[np.ndarray, str, str]] = []
    with np.errstate(invalid="ignore"):
        for m_set, required in ((BINARY, COLUMNS["RR"]), (("MD", "SMD"), COLUMNS["MD"]),
                                (("GENERIC",), COLUMNS["GENERIC"])):
            of_set = np.isin(measure, m_set)  # per analysis, then per row
            if not of_set.any():
                continue
            rows_m = of_set[codes]
            for c in required:
                checks.append((rows_m & ~np.isfinite(cols[c]), c, "is empty" if c in raw.present
                               else "the column is missing (needed for the analysis' measure)"))
            if m_set == BINARY:
                for c in ("events_t", "n_t", "events_c", "n_c"):
                    checks.append((rows_m & (cols[c] < 0), c, "counts cannot be negative"))
                    checks.append((rows_m & (cols[c] != np.round(cols[c])), c,
                                   "counts must be whole numbers"))
                for c in ("n_t", "n_c"):
                    checks.append((rows_m & (cols[c] == 0), c, "the arm has no participants (0)"))
                checks.append((rows_m & (cols["events_t"] > cols["n_t"]), "events_t",
                               "more events than participants (n_t)"))
                checks.append((rows_m & (cols["events_c"] > cols["n_c"]), "events_c",
                               "more events than participants (n_c)"))
            elif m_set == ("MD", "SMD"):
                for c in ("sd_t", "sd_c"):
                    checks.append((rows_m & (cols[c] <= 0), c, "standard deviation must be positive"))
                for c in ("n_t", "n_c"):
                    checks.append((rows_m & (cols[c] < 1), c, "an arm needs at least one participant"))
                checks.append((rows_m & (measure == "SMD")[codes] & (cols["n_t"] + cols["n_c"] < 3),
                               "n_t",
                               "an SMD needs at least 3 participants in the two arms together"))
            else:
                checks.append((rows_m & (cols["se"] <= 0), "se", "standard error must be positive"))
    first = np.full(n, np.iinfo(np.int64).max)
    reason = np.full(n, "", dtype=object)
    for mask, c, message in checks:  # a handful of vectorised checks, not a loop over analyses
        idx = np.flatnonzero(mask)
        if not idx.size:
            continue
        g = codes[idx]
        # first offending row of each analysis for this check
        uniq, pos = np.unique(g, return_index=True)
        rows = idx[pos]
        better = rows < first[uniq]
        first[uniq[better]] = rows[better]
        reason[uniq[better]] = [f"row {raw.rownum[r]}, column '{c}': {message}" for r in rows[better]]
    return reason


# ------------------------------------------------------------------------------------------
# content hash (for resuming)


def content_hash(path: Path) -> str:
    """Identity of the input for resuming: SHA-256 of the bytes of its files (and, for a folder,
    their names), so an edit in place is seen whatever it does to sizes and times."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        rel = os.path.relpath(p, path) if path.is_dir() else ""
        h.update(f"{rel}\0".encode())
        try:
            with p.open("rb") as fh:
                while chunk := fh.read(1 << 22):  # hashlib releases the GIL on large updates
                    h.update(chunk)
        except OSError as exc:
            raise DataError(f"cannot read ({exc})", file=str(p)) from None
        h.update(b"\0")
    return h.hexdigest()[:32]
