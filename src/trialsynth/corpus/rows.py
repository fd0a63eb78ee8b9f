"""Study rows of many analyses as flat arrays, before each analysis' measure is chosen.

The bottom layer of the batch reader (:mod:`trialsynth.corpus.sources` reads INPUT into these,
:mod:`trialsynth.corpus.read` turns them into analyses ready to pool): the data columns, absent
columns that cost nothing (:func:`nan_column`), :class:`RawRows`, and the parsers of a long
table's chunk (:func:`long_frame`) and of RevMan Web data-rows CSVs (:func:`rows_raw`), each
checking its cells and naming file, row and column of the first bad one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trialsynth.effects.table import COLUMNS
from trialsynth.errors import DataError

DATA_COLUMNS = ("events_t", "n_t", "events_c", "n_c", "mean_t", "sd_t", "mean_c", "sd_c", "yi", "se")
TYPE_COLUMNS = {"continuous": COLUMNS["MD"], "dichotomous": COLUMNS["RR"], "generic": COLUMNS["GENERIC"]}
# RevMan Web data-rows export (R names) -> ours
ROWS_NUMERIC = {"Experimental.cases": "events_t", "Experimental.N": "n_t",
                "Control.cases": "events_c", "Control.N": "n_c", "Experimental.mean": "mean_t",
                "Experimental.SD": "sd_t", "Control.mean": "mean_c", "Control.SD": "sd_c",
                "GIV.Mean": "yi", "GIV.SE": "se", "Mean": "stored_effect"}
ROWS_TEXT = ("Analysis.group", "Analysis.number", "Study")
ROWS_HEADER = {"Analysis.group", "Analysis.number", "Study"}


_NAN_BUFFERS: list[np.ndarray] = []


def nan_column(n: int) -> np.ndarray:
    """A read-only column of ``n`` NaNs for a column the input does not have: a view of one
    shared buffer, so absent columns cost no memory and no copies (:func:`cat`)."""
    if not _NAN_BUFFERS or _NAN_BUFFERS[-1].size < n:
        buf = np.full(max(n, 1 << 20, 2 * (_NAN_BUFFERS[-1].size if _NAN_BUFFERS else 0)), np.nan)
        buf.flags.writeable = False
        _NAN_BUFFERS.append(buf)
    return _NAN_BUFFERS[-1][:n]


def is_nan_column(a: np.ndarray) -> bool:
    return any(a.base is b or a is b for b in _NAN_BUFFERS)


def cat(arrays: list[np.ndarray]) -> np.ndarray:
    """np.concatenate, keeping absent columns (:func:`nan_column`) absent."""
    if all(is_nan_column(a) for a in arrays):
        return nan_column(sum(a.size for a in arrays))
    return np.concatenate(arrays)


def take(a: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """``a[order]`` (``order`` None: ``a``), keeping absent columns absent."""
    if order is None:
        return a
    return nan_column(order.size) if is_nan_column(a) else a[order]


# ------------------------------------------------------------------------------------------
# raw rows of many analyses


@dataclass
class RawRows:
    """Study rows of many analyses before the measure is chosen (``codes``: analysis of a row)."""

    ids: np.ndarray  # analysis id per analysis
    codes: np.ndarray  # analysis per row
    cols: dict[str, np.ndarray]
    study: np.ndarray | None  # None: a long table without study labels
    rownum: np.ndarray  # spreadsheet row (header = 1) in its file
    source: np.ndarray  # file per analysis
    stated: np.ndarray | None  # measure per analysis as the input states it ("" = not stated)
    stored: np.ndarray | None  # RevMan's stored per-study effect (display scale)
    long: bool = False
    present: tuple[str, ...] = DATA_COLUMNS


def rows_raw(files: list) -> RawRows:
    """Parsed RevMan Web data-rows CSVs (:class:`trialsynth.corpus.sources._Parsed`) as one
    block: analyses (file, group, number), sorted as trialsynth.readers.revman_rows does."""
    n_rows = np.array([f.rows for f in files])
    file_of = np.repeat(np.arange(len(files)), n_rows)
    rownum = np.concatenate([np.arange(n, dtype=np.int64) + 2 for n in n_rows])
    num = {c: np.concatenate([f.num[c] for f in files]) for c in files[0].num}
    names = np.array([f.name for f in files], dtype=object)
    ag = _positive_ints(np.concatenate([f.group for f in files]), "Analysis.group", names, file_of,
                        rownum)
    an = _positive_ints(np.concatenate([f.number for f in files]), "Analysis.number", names,
                        file_of, rownum)
    study = np.concatenate([f.study for f in files])
    _check_rows(num, study, names, file_of, rownum)
    uniq, codes = np.unique((file_of.astype(np.int64) << 40) | (ag << 20) | an, return_inverse=True)
    u_file, u_g, u_n = uniq >> 40, (uniq >> 20) & 0xFFFFF, uniq & 0xFFFFF
    keys = np.array([f.key for f in files], dtype=object)
    ids = (pd.Series(keys[u_file]) + ":" + pd.Series(u_g).astype(str) + "."
           + pd.Series(u_n).astype(str)).to_numpy(dtype=object)
    stored = num.pop("stored_effect")
    return RawRows(ids=ids, codes=codes.astype(np.intp), cols=num, study=study, rownum=rownum,
                source=names[u_file], stated=None, stored=stored)


def _positive_ints(x: np.ndarray, field_name: str, names: np.ndarray, file_of: np.ndarray,
                   rownum: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(x) & (x >= 1) & (x == np.round(x)) & (x < 1e6))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"must be a positive whole number, not {x[i]!r}",
                        file=str(names[file_of[i]]), row=int(rownum[i]), field=field_name)
    return x.astype(np.int64)


_THEIRS = {v: k for k, v in ROWS_NUMERIC.items()}


def _check_rows(num: dict[str, np.ndarray], study: np.ndarray, names: np.ndarray,
                file_of: np.ndarray, rownum: np.ndarray) -> None:
    """The checks of trialsynth.readers.revman_rows (ranges no RevMan export can have), vectorised."""
    def fail(mask: np.ndarray, message: str, ours: str) -> None:
        if mask.any():
            i = int(np.argmax(mask))
            raise DataError(message, file=str(names[file_of[i]]), row=int(rownum[i]),
                            field=_THEIRS.get(ours, ours))

    fail(study == "", "study name is empty", "Study")
    with np.errstate(invalid="ignore"):
        for c in ("n_t", "events_t", "n_c", "events_c"):
            fail(num[c] < 0, "cannot be negative", c)
            fail(np.isfinite(num[c]) & (num[c] != np.round(num[c])), "must be a whole number", c)
        for c in ("sd_t", "sd_c"):
            fail(num[c] < 0, "a standard deviation cannot be negative", c)
        fail(num["se"] < 0, "a standard error cannot be negative", "se")


# ------------------------------------------------------------------------------------------
# long tables


def long_frame(frame: Any, src: str, first_row: int = 2) -> RawRows:
    """The study arrays of (a chunk of) a long table (rows as a spreadsheet shows them, the
    chunk's first row being ``first_row``): a pandas DataFrame, or a pyarrow Table."""
    if not isinstance(frame, pd.DataFrame):
        fast = _long_arrow(frame, src, first_row)
        if fast is not None:
            return fast
        frame = frame.to_pandas()
    if "analysis" not in frame.columns:
        raise DataError("a long table needs an 'analysis' column (have: "
                        f"{', '.join(map(str, frame.columns))})", file=src, row=1, field="analysis")
    if len(frame) == 0:
        raise DataError("the table has no study rows", file=src)
    ids = frame["analysis"]
    key = ids.astype(str).str.strip()
    empty = ids.isna().to_numpy() | (key == "").to_numpy()
    if empty.any():
        raise DataError("analysis id is empty", file=src, row=int(np.argmax(empty)) + first_row,
                        field="analysis")
    present = [c for c in DATA_COLUMNS if c in frame.columns]
    if not any(all(c in frame.columns for c in cols) for cols in TYPE_COLUMNS.values()):
        raise DataError("no data columns for any measure: need events_t, n_t, events_c, n_c or "
                        "mean_t, sd_t, n_t, mean_c, sd_c, n_c or yi, se", file=src)
    n = len(frame)
    cols = dict.fromkeys(DATA_COLUMNS, nan_column(n))  # absent columns: shared, never written
    for c in present:
        cols[c] = _numbers(frame[c], src, c, first_row)
    codes, uniques = pd.factorize(key.to_numpy(), sort=False)
    study = frame["study"].fillna("").astype(str).to_numpy(dtype=object) \
        if "study" in frame.columns else None
    stated = None
    if "measure" in frame.columns:
        m = frame["measure"].fillna("").astype(str).str.strip().str.upper().to_numpy()
        stated = np.full(len(uniques), "", dtype=object)
        stated[codes] = m  # last row wins; checked for consistency below
        if (stated[codes] != m).any():
            i = int(np.argmax(stated[codes] != m))
            raise DataError(f"analysis {key.iloc[i]!r} has more than one measure", file=src,
                            row=i + first_row, field="measure")
    return RawRows(ids=np.asarray(uniques, dtype=object), codes=codes.astype(np.intp), cols=cols,
                study=study, rownum=np.arange(first_row, first_row + n, dtype=np.int64),
                source=np.full(len(uniques), src, dtype=object), stated=stated,
                stored=None, long=True, present=tuple(present))


def _long_arrow(table: Any, src: str, first_row: int) -> RawRows | None:
    """:func:`long_frame` on a pyarrow Table, in pyarrow's kernels (no Python strings per row);
    None where the pandas path must decide (odd column types, or any problem to report, so
    that the message is the same)."""
    import pyarrow as pa
    import pyarrow.compute as pac

    names = table.column_names
    if "analysis" not in names or table.num_rows == 0:
        return None
    ids = table.column("analysis")
    numeric = [c for c in DATA_COLUMNS if c in names]
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)) or any(
            not (pa.types.is_floating(table.schema.field(c).type)
                 or pa.types.is_integer(table.schema.field(c).type)) for c in numeric):
        return None
    if not any(all(c in names for c in cols) for cols in TYPE_COLUMNS.values()):
        return None
    key = pac.utf8_trim_whitespace(ids.combine_chunks())
    if key.null_count or pac.any(pac.equal(key, "")).as_py():
        return None
    n = table.num_rows
    cols = dict.fromkeys(DATA_COLUMNS, nan_column(n))
    for c in numeric:
        values = table.column(c).to_numpy().astype(np.float64, copy=False)  # nulls become NaN
        if np.isinf(values).any():
            return None
        cols[c] = values
    encoded = key.dictionary_encode()
    codes = encoded.indices.to_numpy().astype(np.intp)
    uniques = np.asarray(encoded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    study = None
    if "study" in names:
        study = np.asarray(table.column("study").fill_null("").to_numpy(zero_copy_only=False),
                           dtype=object)
    stated = None
    if "measure" in names:
        m = np.asarray(pac.utf8_upper(pac.utf8_trim_whitespace(table.column("measure")
                                                                .fill_null(""))).to_numpy(
            zero_copy_only=False), dtype=object)
        stated = np.full(len(uniques), "", dtype=object)
        stated[codes] = m
        if (stated[codes] != m).any():
            return None
    return RawRows(ids=uniques, codes=codes, cols=cols, study=study,
                rownum=np.arange(first_row, first_row + n, dtype=np.int64),
                source=np.full(len(uniques), src, dtype=object), stated=stated, stored=None,
                long=True, present=tuple(numeric))


def _numbers(raw: pd.Series, src: str, column: str, first_row: int) -> np.ndarray:
    """A numeric column as float64; a cell that is not a finite number is a DataError."""
    if raw.dtype.kind in "fiu":
        values = raw.to_numpy(dtype=np.float64)
        if np.isfinite(values).all() or not np.isinf(values).any():
            return values
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) & raw.notna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"not a finite number: {str(raw.iloc[i])[:40]!r}", file=src,
                        row=i + first_row, field=column)
    return values
