"""A batch input as a stream of blocks of whole analyses, read in bounded memory.

:func:`iter_raw` reads INPUT piece by piece and yields :class:`~trialsynth.corpus.rows.RawRows`
blocks, each holding every study row of the analyses in it:

* a **long table** (CSV, Parquet) is read :data:`BLOCK_ROWS` rows at a time. Its analyses are
  expected as runs of adjacent rows (a table sorted or grouped by ``analysis``); a block ends
  before the run still open at the end of what was read. An analysis id that comes back after
  its run has ended raises :class:`NotGrouped`, and the caller reads the table again grouped on
  disk (:mod:`trialsynth.corpus.spill`), so row order never changes a result;
* a **.tgz** of RevMan Web data-rows CSVs is read member by member (each member at most
  :data:`MAX_MEMBER` bytes, checked on the header's size before anything is read and on the
  bytes read: a small archive cannot expand into a large read), a data-rows CSV in one piece;
  reviews are gathered into blocks of about :data:`BLOCK_ROWS` rows;
* a **folder** streams its data-rows sources in name order, then every other review file.

Without pyarrow the CSVs are parsed with pandas (the same numbers); Parquet needs pyarrow.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialsynth._optional import available, require
from trialsynth.corpus.rows import (
    DATA_COLUMNS,
    ROWS_HEADER,
    ROWS_NUMERIC,
    ROWS_TEXT,
    TYPE_COLUMNS,
    RawRows,
    cat,
    long_frame,
    nan_column,
    rows_raw,
)
from trialsynth.errors import DataError

BLOCK_ROWS = 1 << 20  # study rows read at a time (a long table's chunk; reviews per block)
MAX_MEMBER = 200 * 1024 * 1024  # bytes of one .tgz member or data-rows CSV (the readers' limit)
# all members of a .tgz together: at most EXPANSION × the archive's size (real corpora expand about
# 10×: CSV text compresses well, but not a thousandfold like a block of zeros), or the floor
EXPANSION = 100
EXPANSION_FLOOR = 64 * 1024 * 1024
NA = ["", "NA", "NaN", "nan"]


class NotGrouped(Exception):  # noqa: N818 - a signal to the caller, not an error of the input
    """A long table's analysis comes back after its run of rows ended (row ``row``)."""

    def __init__(self, analysis: str, row: int) -> None:
        self.analysis, self.row = analysis, row
        super().__init__(f"analysis {analysis!r} comes back at row {row}")


def iter_raw(path: Path, block_rows: int = BLOCK_ROWS) -> Iterator[RawRows]:
    """Blocks of whole analyses of INPUT, in input order (see the module docstring)."""
    src = str(path)
    if not path.exists():
        raise DataError("file not found", file=src)
    if path.is_dir() and not (path / "review.yaml").is_file() and not _is_web_package(path):
        entries = _folder_entries(path)
        if not entries:
            raise DataError("the folder holds no review files", file=src)
        rows = [p for p in entries if _is_rows_source(p)]
        if rows:
            yield from _rows_blocks(_all_blobs(rows), block_rows)
        for p in entries:
            if p not in rows:
                yield _read_review_file(p)
    elif is_long_table(path):
        yield from iter_long(path, block_rows)
    elif _is_rows_source(path):
        yield from _rows_blocks(_all_blobs([path]), block_rows)
    else:
        yield _read_review_file(path)


def is_long_table(path: Path) -> bool:
    suffix = path.suffix.lower()
    return path.is_file() and (suffix == ".parquet" or (suffix == ".csv" and _is_long_csv(path)))


# ------------------------------------------------------------------------------------------
# long tables


# pandas' default missing-value markers: pyarrow's reader is told the same ones
PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
             "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def long_chunks(path: Path, block_rows: int, arrow: bool | None = None) -> Iterator[Any]:
    """The rows of a long table, ``block_rows`` at a time: pyarrow Tables when pyarrow is
    installed (its multi-threaded reader; Parquet needs it), else pandas DataFrames."""
    src = str(path)
    if path.suffix.lower() == ".parquet":
        pq = require("pyarrow.parquet", "reading Parquet")
        try:
            reader = pq.ParquetFile(path)
            for batch in reader.iter_batches(batch_size=block_rows):
                yield _as_table(batch)
        except OSError as exc:
            if not path.exists():
                raise DataError("file not found", file=src) from None
            raise DataError(f"not a readable Parquet file ({exc})", file=src) from None
        except Exception as exc:  # pyarrow raises many kinds; the file is what is wrong
            if type(exc).__module__.startswith("pyarrow"):
                raise DataError(f"not a readable Parquet file ({exc})", file=src) from None
            raise
        return
    if available("pyarrow.csv") if arrow is None else arrow:
        try:
            yield from _arrow_csv_chunks(path, block_rows)
            return
        except _ArrowCsvFailed:  # a cell pyarrow cannot read: pandas' reader names it
            pass
    try:
        reader = pd.read_csv(path, dtype={"analysis": str, "study": str, "measure": str},
                             keep_default_na=True, chunksize=block_rows)
        with reader:
            yield from reader
    except FileNotFoundError:
        raise DataError("file not found", file=src) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"not a readable CSV table ({exc})", file=src) from None


def _locate_with_pandas(path: Path, block_rows: int) -> None:
    """Read the table again with pandas' reader and checks, which name the bad cell."""
    first_row = 2
    for chunk in long_chunks(path, block_rows, arrow=False):
        long_frame(chunk, str(path), first_row=first_row)
        first_row += len(chunk)


class _ArrowCsvFailed(Exception):
    """pyarrow's CSV reader stopped on the first chunk (the pandas reader takes over)."""


def _as_table(batch: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def _arrow_csv_chunks(path: Path, block_rows: int) -> Iterator[Any]:
    """pyarrow's streaming CSV reader, data columns read as numbers, text columns as text;
    batches gathered into tables of at least ``block_rows`` rows. A file it cannot read
    raises :class:`_ArrowCsvFailed` before any row is yielded; later, a DataError."""
    import pyarrow as pa
    import pyarrow.csv as pc

    header = _first_line(path)
    types = {c: pa.float64() for c in DATA_COLUMNS if c in header}
    types.update({c: pa.string() for c in ("analysis", "study", "measure") if c in header})
    opts = pc.ConvertOptions(column_types=types, null_values=PANDAS_NA, strings_can_be_null=True)
    pending: list[Any] = []
    rows = 0
    started = False
    try:
        reader = pc.open_csv(path, read_options=pc.ReadOptions(block_size=8 << 20),
                             convert_options=opts)
        for batch in reader:
            pending.append(batch)
            rows += batch.num_rows
            if rows >= block_rows:
                started = True
                table = pa.Table.from_batches(pending)
                start = 0
                while rows - start >= block_rows:  # chunks of exactly block_rows rows
                    yield table.slice(start, block_rows)
                    start += block_rows
                pending = table.slice(start).to_batches()
                rows -= start
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        if not started:
            raise _ArrowCsvFailed from None
        _locate_with_pandas(path, block_rows)  # raises the DataError naming row and column
        raise DataError(f"not a readable CSV table ({exc})", file=str(path)) from None
    if rows:
        yield pa.Table.from_batches(pending)


def iter_long(path: Path, block_rows: int = BLOCK_ROWS) -> Iterator[RawRows]:
    """Blocks of whole analyses of a long table whose analyses are runs of adjacent rows."""
    src = str(path)
    carry: RawRows | None = None
    closed: set[str] = set()
    first_row = 2
    for chunk in long_chunks(path, block_rows):
        if len(chunk) == 0:
            continue
        raw = long_frame(chunk, src, first_row=first_row)
        first_row += len(chunk)
        jump = np.flatnonzero(raw.codes[1:] < raw.codes[:-1])
        if jump.size:  # an id seen earlier in this chunk comes back
            i = int(jump[0]) + 1
            raise NotGrouped(str(raw.ids[raw.codes[i]]), int(raw.rownum[i]))
        if carry is not None and raw.ids[0] == carry.ids[0]:
            raw = _join_run(carry, raw, src)
        elif carry is not None:
            closed.add(str(carry.ids[0]))
            yield carry
        again = [x for x in map(str, raw.ids) if x in closed]
        if again:
            j = int(np.flatnonzero(raw.ids == again[0])[0])
            raise NotGrouped(again[0], int(raw.rownum[np.argmax(raw.codes == j)]))
        done, carry = _split_last(raw)
        if done is not None:
            closed.update(map(str, done.ids))
            yield done
    if carry is None:
        if first_row == 2:
            raise DataError("the table has no study rows", file=src)
        return
    yield carry


def _split_last(raw: RawRows) -> tuple[RawRows | None, RawRows]:
    """The analyses of a block but the last (complete), and the last (may go on)."""
    last = len(raw.ids) - 1
    cut = int(np.searchsorted(raw.codes, last))
    tail = _part(raw, slice(cut, None), slice(last, None), raw.codes[cut:] - last)
    if last == 0:
        return None, tail
    return _part(raw, slice(0, cut), slice(0, last), raw.codes[:cut]), tail


def _part(raw: RawRows, rows: slice, analyses: slice, codes: np.ndarray) -> RawRows:
    """Rows ``rows`` of a block, which are those of its analyses ``analyses``."""
    return replace(raw, ids=raw.ids[analyses], codes=codes,
                   cols={c: v[rows] for c, v in raw.cols.items()},
                   study=None if raw.study is None else raw.study[rows], rownum=raw.rownum[rows],
                   source=raw.source[analyses],
                   stated=None if raw.stated is None else raw.stated[analyses],
                   stored=None if raw.stored is None else raw.stored[rows])


def _join_run(carry: RawRows, raw: RawRows, src: str) -> RawRows:
    """The rows of the analysis left open, then the new chunk (whose first analysis it is)."""
    if carry.stated is not None and raw.stated is not None and carry.stated[0] != raw.stated[0]:
        raise DataError(f"analysis {raw.ids[0]!r} has more than one measure", file=src,
                        row=int(raw.rownum[0]), field="measure")
    if (carry.study is None) != (raw.study is None):  # pragma: no cover - one table, one header
        raise DataError("the study column changes within the table", file=src)
    return replace(raw, codes=np.concatenate([carry.codes, raw.codes]),
                   cols={c: cat([carry.cols[c], raw.cols[c]]) for c in raw.cols},
                   study=None if raw.study is None else np.concatenate([carry.study, raw.study]),
                   rownum=np.concatenate([carry.rownum, raw.rownum]))


# ------------------------------------------------------------------------------------------
# RevMan Web data-rows CSVs (one file or the members of a .tgz)


@dataclass
class _Parsed:
    """One data-rows CSV as arrays."""

    name: str
    key: str
    num: dict[str, np.ndarray]
    group: np.ndarray
    number: np.ndarray
    study: np.ndarray

    @property
    def rows(self) -> int:
        return len(self.study)


def _all_blobs(paths: Iterable[Path]) -> Iterator[tuple[str, str, bytes]]:
    """(name, review key, bytes) of every data-rows CSV, a review met twice with identical
    bytes once (e.g. a CSV beside the corpus .tgz); the same review with other bytes is an error."""
    seen: dict[str, tuple[bytes, str]] = {}
    for path in paths:
        for name, key, raw in _blobs(path):
            digest = hashlib.sha256(raw).digest()
            if key in seen:
                if seen[key][0] == digest:
                    continue
                raise DataError(f"review {key} appears twice with different content (also in "
                                f"{seen[key][1]})", file=name)
            seen[key] = (digest, name)
            yield name, key, raw


def _blobs(path: Path) -> Iterator[tuple[str, str, bytes]]:
    if path.name.lower().endswith((".tgz", ".tar.gz")):
        yield from _tgz_blobs(path)
        return
    from trialsynth.readers.revman_csv import read_bounded

    yield str(path), _review_key(path.name), read_bounded(path, str(path), MAX_MEMBER)


def _tgz_blobs(path: Path) -> Iterator[tuple[str, str, bytes]]:
    """(name, review key, bytes) of every CSV in a .tgz, one member at a time (names starting
    with _ or . skipped); a member larger than :data:`MAX_MEMBER` is refused unread."""
    src = str(path)
    found = False
    budget = max(EXPANSION_FLOOR, EXPANSION * path.stat().st_size)
    total = 0
    try:
        with tarfile.open(path, "r:*") as tf:
            for member in tf:
                base = member.name.rsplit("/", 1)[-1]
                if not (member.isfile() and base.lower().endswith(".csv")
                        and not base.startswith(("_", "."))):
                    continue
                name = f"{src}:{member.name}"
                if member.size > MAX_MEMBER:
                    raise DataError(f"archive member is {member.size} bytes; the limit is "
                                    f"{MAX_MEMBER}", file=name)
                total += member.size
                if total > budget:  # refused before this member is decompressed
                    raise DataError(f"the archive expands to more than {budget} bytes ({EXPANSION}× "
                                    "its size); not a corpus of data-rows CSVs", file=name)
                fh = tf.extractfile(member)
                if fh is None:
                    continue
                raw = fh.read(MAX_MEMBER + 1)
                if len(raw) > MAX_MEMBER:  # pragma: no cover - tarfile reads member.size bytes
                    raise DataError(f"archive member is larger than the limit of {MAX_MEMBER} "
                                    "bytes", file=name)
                found = True
                yield name, _review_key(base), raw
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"not a readable .tgz archive ({exc})", file=src) from None
    if not found:
        raise DataError("the archive holds no CSV files", file=src)


def _rows_blocks(blobs: Iterable[tuple[str, str, bytes]], block_rows: int) -> Iterator[RawRows]:
    """Parsed data-rows CSVs gathered into blocks of about ``block_rows`` study rows."""
    arrow = available("pyarrow.csv")
    block: list[_Parsed] = []
    rows = 0
    for name, key, raw in blobs:
        parsed = _parse_rows(name, key, raw, arrow)
        block.append(parsed)
        rows += parsed.rows
        if rows >= block_rows:
            yield rows_raw(block)
            block, rows = [], 0
    if block:
        yield rows_raw(block)


def _parse_rows(name: str, key: str, raw: bytes, arrow: bool) -> _Parsed:
    """One data-rows CSV (R names) straight into arrays: pyarrow's parser, else pandas'."""
    head = raw[:64 * 1024].split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    header = {c.strip().strip('"').strip() for c in head.split(",")}
    missing = [c for c in (*ROWS_TEXT, "Analysis.name") if c not in header]
    if missing:
        raise DataError("required column is missing (is this a RevMan Web data-rows export?)",
                        file=name, row=1, field=missing[0])
    numeric = [*ROWS_NUMERIC, "Analysis.group", "Analysis.number"]
    include = [c for c in (*ROWS_TEXT, *ROWS_NUMERIC) if c in header]
    cols = _parse_arrow(raw, name, include, numeric) if arrow else \
        _parse_pandas(raw, name, include, numeric)
    n = len(cols["Study"])
    if n == 0:
        raise DataError("the file has a header but no study rows", file=name)

    def col(c: str) -> np.ndarray:
        return cols[c] if c in cols else nan_column(n)

    return _Parsed(name=name, key=key, num={ours: col(theirs) for theirs, ours in ROWS_NUMERIC.items()},
                   group=col("Analysis.group"), number=col("Analysis.number"), study=cols["Study"])


def _parse_arrow(raw: bytes, name: str, include: list[str], numeric: list[str]
                 ) -> dict[str, np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pac
    import pyarrow.csv as pc

    types = {**{c: pa.float64() for c in numeric}, "Study": pa.string()}
    try:
        table = pc.read_csv(io.BytesIO(raw), read_options=pc.ReadOptions(use_threads=False),
                            convert_options=pc.ConvertOptions(
                                include_columns=include, column_types=types, null_values=NA,
                                strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _locate_bad_number(raw, name, include, exc) from None
    out = {c: table.column(c).to_numpy().astype(np.float64, copy=False)
           for c in include if c != "Study"}
    out["Study"] = np.asarray(pac.utf8_trim_whitespace(table.column("Study").fill_null(""))
                              .to_numpy(zero_copy_only=False), dtype=object)
    return out


def _parse_pandas(raw: bytes, name: str, include: list[str], numeric: list[str]
                  ) -> dict[str, np.ndarray]:
    try:
        frame = pd.read_csv(io.BytesIO(raw), usecols=include, dtype=str, keep_default_na=False,
                            encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataError(f"not a readable CSV file ({exc})", file=name) from None
    out: dict[str, np.ndarray] = {}
    for c in include:
        s = frame[c].str.strip()
        if c == "Study":
            out[c] = s.to_numpy(dtype=object)
            continue
        missing = s.isin(NA).to_numpy()
        with np.errstate(all="ignore"):
            values = pd.to_numeric(s.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(values) & ~missing & ~s.str.lower().isin(["nan"]).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"not a number: {s.iloc[i][:40]!r}", file=name, row=i + 2, field=c)
        out[c] = values
    return out


def _locate_bad_number(raw: bytes, name: str, include: list[str], exc: Exception) -> DataError:
    """Name row and column of a value pyarrow could not read as a number (pandas, slow path)."""
    try:
        _parse_pandas(raw, name, include, [*ROWS_NUMERIC, "Analysis.group", "Analysis.number"])
    except DataError as located:
        return located
    return DataError(f"not a readable CSV file ({exc})", file=name)


# ------------------------------------------------------------------------------------------
# what a path is


def _folder_entries(path: Path) -> list[Path]:
    out = []
    for p in sorted(path.iterdir()):
        if p.name.startswith(("_", ".")):
            continue
        if p.is_dir() or p.suffix.lower() in (".csv", ".rm5", ".gz", ".zip", ".tgz"):
            out.append(p)
    return out


def _is_web_package(path: Path) -> bool:
    return any(p.suffix.lower() == ".csv" and "data rows" in p.name.lower().replace("-", " ")
               for p in path.iterdir())


def _first_line(path: Path) -> set[str]:
    try:
        with path.open("rb") as fh:
            first = fh.readline(64 * 1024).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read ({exc})", file=str(path)) from None
    return {c.strip().strip('"').strip() for c in first.split(",")}


def _is_long_csv(path: Path) -> bool:
    return "analysis" in _first_line(path)


def _is_rows_source(path: Path) -> bool:
    """A .tgz of data-rows CSVs, or one data-rows CSV with R-style names (the fast path)."""
    name = path.name.lower()
    return path.is_file() and (name.endswith((".tgz", ".tar.gz"))
                               or (name.endswith(".csv") and ROWS_HEADER <= _first_line(path)))


def _review_key(name: str) -> str:
    stem = name.rsplit("/", 1)[-1]
    for suffix in (".csv", "_data"):
        stem = stem.removesuffix(suffix)
    return stem


def _read_review_file(path: Path) -> RawRows:
    """Any other review source, through trialsynth.readers.read_review (its stated/inferred settings).
    This reader works per analysis; it is not the corpus fast path."""
    from trialsynth.readers import read_review
    from trialsynth.review import pool_measure

    review = read_review(path)
    key = review.id.replace(".", "_") if review.id else _review_key(path.name).split(".")[0]
    ids, codes, study, rownum, stated = [], [], [], [], []
    cols: dict[str, list[np.ndarray]] = {c: [] for c in DATA_COLUMNS}
    for j, a in enumerate(review.analyses):
        rows = a.pooled_rows
        ids.append(f"{key}:{a.id}")
        stated.append(pool_measure(a.settings.measure))
        codes.append(np.full(len(rows), j, dtype=np.intp))
        study.append(rows["study"].astype(str).to_numpy(dtype=object))
        rownum.append(rows["row"].to_numpy(dtype=np.int64))
        for c in DATA_COLUMNS:
            cols[c].append(rows[c].to_numpy(dtype=np.float64) if c in rows.columns
                           else np.full(len(rows), np.nan))
    if not ids:
        raise DataError("the review has no analyses with data", file=str(path))
    return RawRows(ids=np.array(ids, dtype=object), codes=np.concatenate(codes),
                cols={c: np.concatenate(v) for c, v in cols.items()},
                study=np.concatenate(study), rownum=np.concatenate(rownum),
                source=np.full(len(ids), str(path), dtype=object),
                stated=np.array(stated, dtype=object), stored=None)


__all__ = ["BLOCK_ROWS", "MAX_MEMBER", "NotGrouped", "TYPE_COLUMNS", "iter_long", "iter_raw",
           "is_long_table", "long_chunks"]
