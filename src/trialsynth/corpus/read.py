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
  :func:`trialsynth.io.read_review` opens (rm5, RevMan 5 CSV, RevMan Web package, review folder)
  with the settings that reader states or infers. Names starting with ``_`` or ``.`` are skipped
  (``_index_all_501.csv``); a review met twice with identical bytes is read once.

Analysis ids are ``<review>:<group>.<number>``, the review being the file name without
``_data.csv`` (``CD015373_pub2:1.4``). Study rows without complete data of the analysis' data type
are left out (RevMan: "not estimable"), exactly as :attr:`trialsynth.review.Analysis.pooled_rows`.
Unreadable input raises :class:`~trialsynth.errors.DataError` naming file, row and column.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trialsynth._segments import segment_count, segment_sum
from trialsynth.conventions import REVMAN_CONVENTIONS
from trialsynth.effects.table import BINARY, COLUMNS, MEASURES, study_effects
from trialsynth.errors import DataError
from trialsynth.review import complete_rows

DATA_COLUMNS = ("events_t", "n_t", "events_c", "n_c", "mean_t", "sd_t", "mean_c", "sd_c", "yi", "se")
TYPE_OF = {**{m: "dichotomous" for m in BINARY}, "MD": "continuous", "SMD": "continuous",
           "GENERIC": "generic"}
TYPE_COLUMNS = {"continuous": COLUMNS["MD"], "dichotomous": COLUMNS["RR"], "generic": COLUMNS["GENERIC"]}
DEFAULT_MEASURE = {"dichotomous": "RR", "continuous": "MD", "generic": "GENERIC"}
# candidate measures for the stored per-study effects, in order of preference when tied
# (continuous before dichotomous before generic, as trialsynth.review.DATA_TYPES)
CANDIDATES = ("MD", "SMD", "RR", "OR", "RD", "PETO_OR", "GENERIC", "GENERIC_LOG")
EFFECT_TOL = 1e-4  # trialsynth.review.EFFECT_TOL: |ours − stored| / max(1, |stored|)
# RevMan Web data-rows export (R names) -> ours
ROWS_NUMERIC = {"Experimental.cases": "events_t", "Experimental.N": "n_t",
                "Control.cases": "events_c", "Control.N": "n_c", "Experimental.mean": "mean_t",
                "Experimental.SD": "sd_t", "Control.mean": "mean_c", "Control.SD": "sd_c",
                "GIV.Mean": "yi", "GIV.SE": "se", "Mean": "stored_effect"}
ROWS_TEXT = ("Analysis.group", "Analysis.number", "Study")
ROWS_HEADER = {"Analysis.group", "Analysis.number", "Study"}
FAILURE_COLUMNS = ("analysis", "source", "reason")


@dataclass(frozen=True)
class BatchInput:
    """All analyses of an input, ready to pool.

    ``analyses``: one row per analysis that can be pooled (columns ``analysis, source,
    data_type, measure, measure_source, n_rows``), in the order of the flat arrays;
    ``columns``: flat float arrays of the study rows that enter the pooling (DATA_COLUMNS, NaN
    where a column does not apply), sorted by analysis; ``offsets``: analysis ``j`` owns rows
    ``offsets[j]:offsets[j+1]``; ``study``: study labels; ``failures``: analyses that cannot be
    pooled and why (``analysis, source, reason``).
    """

    analyses: pd.DataFrame
    columns: dict[str, np.ndarray]
    offsets: np.ndarray
    study: np.ndarray
    failures: pd.DataFrame
    fingerprint: str = field(default="", compare=False)

    @property
    def n(self) -> int:
        return len(self.analyses)

    def group(self) -> np.ndarray:
        return np.repeat(np.arange(self.n, dtype=np.intp), np.diff(self.offsets))


def _failures(rows: Iterable[tuple[str, str, str]] = ()) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(FAILURE_COLUMNS), dtype=object)


# ------------------------------------------------------------------------------------------
# entry point


def read_input(source: str | Path, *, measure: str | None = None, method: str = "DL"
               ) -> BatchInput:
    """Read INPUT (long table, corpus ``.tgz``, data-rows CSV, any review file, or a folder)."""
    path = Path(source)
    src = str(path)
    if not path.exists():
        raise DataError("file not found", file=src)
    fp = fingerprint(path)
    if path.is_dir() and not (path / "review.yaml").is_file() and not _is_web_package(path):
        entries = _folder_entries(path)
        if not entries:
            raise DataError("the folder holds no review files", file=src)
        blobs = [b for p in entries if _is_rows_source(p) for b in _blobs(p)]
        parts = ([_read_rows_blobs(blobs, src)] if blobs else []) + \
            [_read_review_file(p) for p in entries if not _is_rows_source(p)]
        batch = _combine(parts, src)
    elif path.suffix.lower() == ".parquet" or (path.suffix.lower() == ".csv" and _is_long_csv(path)):
        return _finish(_long_raw(path), measure, method, fp)
    else:
        batch = _read_path(path)
    return _finish(batch, measure, method, fp)


def read_long_table(source: str | Path, *, measure: str | None = None, method: str = "DL"
                    ) -> BatchInput:
    """A long table (CSV or Parquet): an ``analysis`` column plus the ``pool`` columns, as flat
    arrays; analyses that cannot be pooled are in ``.failures``."""
    path = Path(source)
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    return _finish(_long_raw(path), measure, method, fingerprint(path))


def _long_raw(path: Path) -> _Raw:
    src = str(path)
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except FileNotFoundError:
            raise DataError("file not found", file=src) from None
        except Exception as exc:  # pyarrow raises many kinds; the file is what is wrong
            raise DataError(f"not a readable Parquet file ({exc})", file=src) from None
    else:
        try:
            frame = pd.read_csv(path, dtype={"analysis": str, "study": str, "measure": str},
                                keep_default_na=True)
        except FileNotFoundError:
            raise DataError("file not found", file=src) from None
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise DataError(f"not a readable CSV table ({exc})", file=src) from None
    return long_frame(frame, src)


def long_frame(frame: pd.DataFrame, src: str) -> _Raw:
    """The study arrays of a long table already in memory (rows as a spreadsheet shows them)."""
    if "analysis" not in frame.columns:
        raise DataError("a long table needs an 'analysis' column (have: "
                        f"{', '.join(map(str, frame.columns))})", file=src, row=1, field="analysis")
    if len(frame) == 0:
        raise DataError("the table has no study rows", file=src)
    ids = frame["analysis"]
    empty = ids.isna().to_numpy() | (ids.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        raise DataError("analysis id is empty", file=src, row=int(np.argmax(empty)) + 2,
                        field="analysis")
    present = [c for c in DATA_COLUMNS if c in frame.columns]
    if not any(all(c in frame.columns for c in cols) for cols in TYPE_COLUMNS.values()):
        raise DataError("no data columns for any measure: need events_t, n_t, events_c, n_c or "
                        "mean_t, sd_t, n_t, mean_c, sd_c, n_c or yi, se", file=src)
    n = len(frame)
    cols = {c: np.full(n, np.nan) for c in DATA_COLUMNS}
    for c in present:
        raw = frame[c]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) & raw.notna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"not a finite number: {str(raw.iloc[i])[:40]!r}", file=src,
                            row=i + 2, field=c)
        cols[c] = values
    key = ids.astype(str).str.strip().to_numpy()
    codes, uniques = pd.factorize(key, sort=False)
    study = (frame["study"].fillna("").astype(str).to_numpy() if "study" in frame.columns
             else _default_labels(codes))
    stated = None
    if "measure" in frame.columns:
        m = frame["measure"].fillna("").astype(str).str.strip().str.upper().to_numpy()
        stated = np.full(len(uniques), "", dtype=object)
        stated[codes] = m  # last row wins; checked for consistency below
        if (stated[codes] != m).any():
            i = int(np.argmax(stated[codes] != m))
            raise DataError(f"analysis {key[i]!r} has more than one measure", file=src, row=i + 2,
                            field="measure")
    return _Raw(ids=np.asarray(uniques, dtype=object), codes=codes.astype(np.intp), cols=cols,
                study=study, rownum=np.arange(n, dtype=np.int64) + 2,
                source=np.full(len(uniques), src, dtype=object), stated=stated,
                stored=None, long=True, present=tuple(present))


def _default_labels(codes: np.ndarray) -> np.ndarray:
    """"Study 1", "Study 2", … within each analysis (trialsynth.validate.study_labels)."""
    order = pd.Series(codes).groupby(codes).cumcount().to_numpy() + 1
    return np.array([f"Study {i}" for i in order], dtype=object)


# ------------------------------------------------------------------------------------------
# raw rows of many analyses


@dataclass
class _Raw:
    """Study rows of many analyses before the measure is chosen (``codes``: analysis of a row)."""

    ids: np.ndarray  # analysis id per analysis
    codes: np.ndarray  # analysis per row
    cols: dict[str, np.ndarray]
    study: np.ndarray
    rownum: np.ndarray  # spreadsheet row (header = 1) in its file
    source: np.ndarray  # file per analysis
    stated: np.ndarray | None  # measure per analysis as the input states it ("" = not stated)
    stored: np.ndarray | None  # RevMan's stored per-study effect (display scale)
    long: bool = False
    present: tuple[str, ...] = DATA_COLUMNS


def _combine(parts: list[_Raw], src: str) -> _Raw:
    offset = np.cumsum([0] + [len(p.ids) for p in parts])
    ids = np.concatenate([p.ids for p in parts])
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        j = int(np.argmax(dup))
        raise DataError(f"analysis id {ids[j]!r} appears in two reviews of the folder", file=src)
    stated = None
    if any(p.stated is not None for p in parts):
        stated = np.concatenate([p.stated if p.stated is not None else np.full(len(p.ids), "", object)
                                 for p in parts])
    stored = None
    if any(p.stored is not None for p in parts):
        stored = np.concatenate([p.stored if p.stored is not None else np.full(len(p.codes), np.nan)
                                 for p in parts])
    return _Raw(ids=ids, codes=np.concatenate([p.codes + o for p, o in zip(parts, offset, strict=False)]),
                cols={c: np.concatenate([p.cols[c] for p in parts]) for c in DATA_COLUMNS},
                study=np.concatenate([p.study for p in parts]),
                rownum=np.concatenate([p.rownum for p in parts]),
                source=np.concatenate([p.source for p in parts]), stated=stated, stored=stored)


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


def _is_long_csv(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            first = fh.readline(64 * 1024).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read ({exc})", file=str(path)) from None
    names = {c.strip().strip('"').strip() for c in first.split(",")}
    return "analysis" in names


def _read_path(path: Path) -> _Raw:
    if _is_rows_source(path):
        return _read_rows_blobs(_blobs(path), str(path))
    return _read_review_file(path)


def _is_rows_source(path: Path) -> bool:
    """A .tgz of data-rows CSVs, or one data-rows CSV with R-style names (the fast path)."""
    name = path.name.lower()
    return path.is_file() and (name.endswith((".tgz", ".tar.gz"))
                               or (name.endswith(".csv") and _is_rows_csv(path)))


def _blobs(path: Path) -> list[tuple[str, str, bytes]]:
    if path.name.lower().endswith((".tgz", ".tar.gz")):
        return _tgz_blobs(path)
    return [(str(path), _review_key(path.name), path.read_bytes())]


def _is_rows_csv(path: Path) -> bool:
    with path.open("rb") as fh:
        first = fh.readline(64 * 1024).decode("utf-8-sig", errors="replace")
    return ROWS_HEADER <= {c.strip().strip('"').strip() for c in first.split(",")}


def _review_key(name: str) -> str:
    stem = name.rsplit("/", 1)[-1]
    for suffix in (".csv", "_data"):
        stem = stem.removesuffix(suffix)
    return stem


def _tgz_blobs(path: Path) -> list[tuple[str, str, bytes]]:
    """(name, review key, bytes) of every CSV in a .tgz (names starting _ or . skipped)."""
    src = str(path)
    try:
        with tarfile.open(path, "r:*") as tf:
            blobs = []
            for member in tf:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base.lower().endswith(".csv") and not base.startswith(("_", ".")):
                    fh = tf.extractfile(member)
                    if fh is not None:
                        blobs.append((f"{src}:{member.name}", _review_key(base), fh.read()))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"not a readable .tgz archive ({exc})", file=src) from None
    if not blobs:
        raise DataError("the archive holds no CSV files", file=src)
    return blobs


def _read_rows_blobs(blobs: list[tuple[str, str, bytes]], src: str) -> _Raw:
    """Parse RevMan Web data-rows CSVs (R names) straight into arrays, one pyarrow parse each."""
    import pyarrow as pa
    import pyarrow.csv as pc

    seen: dict[str, tuple[bytes, str]] = {}
    keep = []
    for name, key, raw in blobs:
        if key in seen:
            if seen[key][0] == raw:
                continue  # the same review twice (e.g. a CSV beside the corpus .tgz)
            raise DataError(f"review {key} appears twice with different content (also in "
                            f"{seen[key][1]})", file=name)
        seen[key] = (raw, name)
        keep.append((name, key, raw))
    types = {**{c: pa.float64() for c in (*ROWS_NUMERIC, "Analysis.group", "Analysis.number")},
             "Study": pa.string()}
    wanted = [*ROWS_TEXT, *ROWS_NUMERIC]
    tables, files = [], []
    for name, key, raw in keep:
        head = raw[:64 * 1024].split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
        header = {c.strip().strip('"').strip() for c in head.split(",")}
        missing = [c for c in (*ROWS_TEXT, "Analysis.name") if c not in header]
        if missing:
            raise DataError("required column is missing (is this a RevMan Web data-rows export?)",
                            file=name, row=1, field=missing[0])
        include = [c for c in wanted if c in header]
        try:
            table = pc.read_csv(io.BytesIO(raw), read_options=pc.ReadOptions(use_threads=False),
                                convert_options=pc.ConvertOptions(
                                    include_columns=include, column_types=types,
                                    null_values=["", "NA", "NaN", "nan"],
                                    strings_can_be_null=False))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise _locate_bad_number(raw, name, include, exc) from None
        if table.num_rows == 0:
            raise DataError("the file has a header but no study rows", file=name)
        tables.append(table)
        files.append((name, key))
    n_rows = np.array([t.num_rows for t in tables])
    file_of = np.repeat(np.arange(len(tables)), n_rows)
    rownum = np.concatenate([np.arange(n, dtype=np.int64) + 2 for n in n_rows])
    table = pa.concat_tables(tables, promote_options="default")  # absent columns become null

    def col(c: str) -> np.ndarray:
        if c not in table.column_names:
            return np.full(table.num_rows, np.nan)
        return table.column(c).to_numpy().astype(np.float64, copy=False)

    num = {ours: col(theirs) for theirs, ours in ROWS_NUMERIC.items()}
    names = np.array([n for n, _ in files], dtype=object)
    ag = _positive_ints(col("Analysis.group"), "Analysis.group", names, file_of, rownum)
    an = _positive_ints(col("Analysis.number"), "Analysis.number", names, file_of, rownum)
    import pyarrow.compute as pac

    study = np.asarray(pac.utf8_trim_whitespace(table.column("Study").fill_null("")).to_numpy(
        zero_copy_only=False), dtype=object)
    _check_rows(num, study, names, file_of, rownum)
    # analyses: (file, group, number), sorted as trialsynth.io.revman_rows does (group, number)
    uniq, codes = np.unique((file_of.astype(np.int64) << 40) | (ag << 20) | an, return_inverse=True)
    u_file, u_g, u_n = uniq >> 40, (uniq >> 20) & 0xFFFFF, uniq & 0xFFFFF
    keys = np.array([k for _, k in files], dtype=object)
    ids = (pd.Series(keys[u_file]) + ":" + pd.Series(u_g).astype(str) + "."
           + pd.Series(u_n).astype(str)).to_numpy(dtype=object)
    stored = num.pop("stored_effect")
    return _Raw(ids=ids, codes=codes.astype(np.intp), cols=num, study=study, rownum=rownum,
                source=names[u_file], stated=None, stored=stored)


def _locate_bad_number(raw: bytes, name: str, include: list[str], exc: Exception) -> DataError:
    """Name row and column of a value pyarrow could not read as a number (pandas, slow path)."""
    try:
        frame = pd.read_csv(io.BytesIO(raw), usecols=include, dtype=str, keep_default_na=False)
    except Exception:  # noqa: BLE001 - the CSV itself is broken: report pyarrow's message
        return DataError(f"not a readable CSV file ({exc})", file=name)
    for theirs in (*ROWS_NUMERIC, "Analysis.group", "Analysis.number"):
        if theirs not in frame.columns:
            continue
        s = frame[theirs].str.strip()
        num = pd.to_numeric(s.where(~s.isin(["", "NA", "NaN", "nan"])), errors="coerce")
        bad = (num.isna() & ~s.isin(["", "NA", "NaN", "nan"])).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            return DataError(f"not a number: {s.iloc[i][:40]!r}", file=name, row=i + 2, field=theirs)
    return DataError(f"not a readable CSV file ({exc})", file=name)


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
    """The checks of trialsynth.io.revman_rows (ranges no RevMan export can have), vectorised."""
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


def _read_review_file(path: Path) -> _Raw:
    """Any other review source, through trialsynth.io.read_review (its stated/inferred settings).
    This reader works per analysis; it is not the corpus fast path."""
    from trialsynth.io import read_review
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
    return _Raw(ids=np.array(ids, dtype=object), codes=np.concatenate(codes),
                cols={c: np.concatenate(v) for c, v in cols.items()},
                study=np.concatenate(study), rownum=np.concatenate(rownum),
                source=np.full(len(ids), str(path), dtype=object),
                stated=np.array(stated, dtype=object), stored=None)


# ------------------------------------------------------------------------------------------
# measure per analysis, complete rows, flat arrays sorted by analysis


def _finish(raw: _Raw, measure: str | None, method: str, fp: str) -> BatchInput:
    n = len(raw.ids)
    codes = raw.codes
    complete = {t: complete_rows(t, raw.cols) for t in TYPE_COLUMNS}
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
    # rows used: complete for the analysis' data type (long tables: every row must be valid)
    row_type = dtype[codes]
    use = np.zeros(len(codes), dtype=bool)
    for t, ok in complete.items():
        use |= (row_type == t) & ok
    if raw.long:
        reason = _long_row_problems(raw, chosen, complete)
        fail = np.where((fail == "") & (reason != ""), reason, fail)
        use = (row_type != "")
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
    return BatchInput(analyses=analyses, columns={c: raw.cols[c][order] for c in DATA_COLUMNS},
                      offsets=offsets, study=raw.study[order].astype(str), failures=failures,
                      fingerprint=fp)


def _infer_from_stored(raw: _Raw, complete: dict[str, np.ndarray], n: int
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
    # nothing stored: data type from the columns filled in (trialsynth.review._PRESENCE order)
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


def _long_types(raw: _Raw, complete: dict[str, np.ndarray], n: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Long table: data type per analysis from the columns it fills (all rows complete first,
    then any row with data), continuous before dichotomous before generic."""
    codes = raw.codes
    k = segment_count(codes, n)
    dtype = np.full(n, "", dtype=object)
    for strict in (False, True):  # later assignment wins: "every row complete" beats "any row"
        for t in ("generic", "dichotomous", "continuous"):
            if not all(c in raw.present for c in TYPE_COLUMNS[t]):
                continue
            filled = np.logical_and.reduce([np.isfinite(raw.cols[c]) for c in TYPE_COLUMNS[t]])
            cnt = segment_sum(filled.astype(np.float64), codes, n)
            dtype = np.where((cnt == k) if strict else (cnt > 0) & (dtype == ""), t, dtype)
    measure = pd.Series(dtype).map(DEFAULT_MEASURE).fillna("").to_numpy(dtype=object)
    how = np.where(dtype != "", "default for " + dtype.astype(str) + " data", "")
    return dtype, measure, how.astype(object)


def _long_row_problems(raw: _Raw, measure: np.ndarray, complete: dict[str, np.ndarray]
                       ) -> np.ndarray:
    """Long tables: the first row per analysis that ``trialsynth.pool`` would reject (the checks
    of :func:`trialsynth.validate.study_columns`), as ``row N, column 'x': message``."""
    codes = raw.codes
    n = len(raw.ids)
    m_row = measure[codes]
    cols = raw.cols
    checks: list[tuple[np.ndarray, str, str]] = []
    with np.errstate(invalid="ignore"):
        for m_set, required in ((BINARY, COLUMNS["RR"]), (("MD", "SMD"), COLUMNS["MD"]),
                                (("GENERIC",), COLUMNS["GENERIC"])):
            rows_m = np.isin(m_row, m_set)
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
                checks.append((rows_m & (m_row == "SMD") & (cols["n_t"] + cols["n_c"] < 3), "n_t",
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
# fingerprint (for resuming)


def fingerprint(path: Path) -> str:
    """Identity of the input for resuming: names, sizes and modification times of its files."""
    h = hashlib.sha256()
    files: Iterator[Path] = iter(sorted(path.rglob("*"))) if path.is_dir() else iter([path])
    for p in files:
        if p.is_file():
            st = p.stat()
            rel = os.path.relpath(p, path) if path.is_dir() else str(path.resolve())
            h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]
