"""Where ``trialsynth batch`` writes: finished partitions, the results table, temporary files.

* ``<RESULTS>.parts/`` holds ``manifest.json`` (the SHA-256 of the input's bytes, the options,
  the version and the writer) and one file per finished partition, in the format of RESULTS
  (``part-00000.csv`` or ``.parquet``) plus its pooling failures (``part-00000.failures.csv``).
  A run whose manifest differs (another input, an input edited in place, other options) starts
  afresh; one whose manifest is the same pools only the partitions without a file.
* RESULTS is put together from the part files, streaming (bounded memory), into a temporary file
  beside it that is renamed at the end: readers never see a half-written table.
* Temporary files carry the id of the process writing them (``.<name>.<pid>-<random>.tmp``); a
  run removes those of processes that no longer run (a killed batch leaves nothing large behind
  for long). Spill folders (:mod:`trialsynth.corpus.spill`) in the parts folder likewise.

CSV is written by pyarrow's writer when pyarrow is installed (fast), else by pandas; the text of
a number may differ between the two (``1e-05`` or ``0.00001``) but reads back as the same double.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialsynth._optional import available, require

STR_COLUMNS = ("analysis", "measure", "method", "model", "hksj", "conventions", "warnings", "source",
               "data_type", "measure_source")
INT_COLUMNS = ("k", "q_df", "iterations", "n_rows")
BOOL_COLUMNS = ("converged",)
FAILURE_COLUMNS = ("analysis", "source", "reason")


def writer_name() -> str:
    """Which program writes CSV here (part of the manifest: parts are never mixed)."""
    return "pyarrow" if available("pyarrow.csv") else "pandas"


def typed(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` with the result columns, each of its fixed type (so every part has one schema)."""
    out = frame.reindex(columns=list(columns))
    for c in columns:
        if c in STR_COLUMNS:
            out[c] = out[c].astype("str")
        elif c in INT_COLUMNS:
            out[c] = out[c].astype(np.int64)
        elif c in BOOL_COLUMNS:
            out[c] = out[c].astype(bool)
        else:
            out[c] = out[c].astype(np.float64)
    return out


def csv_bytes(frame: pd.DataFrame, header: bool = True) -> bytes:
    """A results frame as CSV text (pyarrow's writer if installed, else pandas')."""
    if available("pyarrow.csv"):
        import pyarrow as pa
        import pyarrow.csv as pc

        table = pa.Table.from_pandas(frame, preserve_index=False)
        buf = io.BytesIO()
        pc.write_csv(table, buf, write_options=pc.WriteOptions(include_header=header))
        return buf.getvalue()
    return frame.to_csv(index=False, header=header, lineterminator="\n").encode()


def read_csv_typed(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A results CSV read back with the types it was written from."""
    floats = [c for c in columns if c not in (*STR_COLUMNS, *INT_COLUMNS, *BOOL_COLUMNS)]
    dtype: dict[str, Any] = {c: str for c in STR_COLUMNS if c in columns}
    dtype.update({c: np.int64 for c in INT_COLUMNS if c in columns})
    dtype.update({c: np.float64 for c in floats})
    frame = pd.read_csv(path, dtype=dtype, keep_default_na=False,
                        na_values={c: ["", "NaN", "nan"] for c in floats},
                        true_values=["True", "true"], false_values=["False", "false"])
    return frame


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """A whole table to ``path`` (.parquet or .csv), atomically."""
    if path.suffix.lower() == ".parquet":
        require("pyarrow", "writing Parquet")
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: tmp.write_bytes(csv_bytes(frame)))


def write_failures(frame: pd.DataFrame, path: Path) -> None:
    """The failure log (small): always pandas' CSV."""
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def read_failures(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False).astype(object)


# ------------------------------------------------------------------------------------------
# temporary files


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write next to ``path`` and rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_of(name: str) -> int | None:
    """The writer's process id in ``.<name>.<pid>-<random>.tmp`` or ``.spill-<pid>-…``."""
    stem = name.removesuffix(".tmp")
    token = stem.rsplit(".", 1)[-1] if name.endswith(".tmp") else stem.split("-", 2)[1]
    head = token.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def clean_stale(out: Path, failures: Path, parts: Path) -> list[Path]:
    """Remove the temporary files and spill folders that killed runs left for these outputs
    (those of processes still running are kept). Returns what was removed."""
    from trialsynth.corpus.spill import SPILL_PREFIX

    found = [*out.parent.glob(f".{out.name}.*.tmp"), *failures.parent.glob(f".{failures.name}.*.tmp")]
    if parts.is_dir():
        found += [*parts.glob(".*.tmp"), *parts.glob(f"{SPILL_PREFIX}*")]
    removed = []
    for p in found:
        pid = _pid_of(p.name)
        if pid is None or _alive(pid):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


# ------------------------------------------------------------------------------------------
# finished partitions


class PartStore:
    """``<RESULTS>.parts/``: ``manifest.json`` and the files of the finished partitions."""

    def __init__(self, folder: Path, key: dict[str, Any], fmt: str) -> None:
        self.folder, self.key, self.fmt = folder, key, fmt
        manifest = folder / "manifest.json"
        old = None
        if manifest.is_file() and not manifest.is_symlink():
            try:
                old = json.loads(manifest.read_text())
            except (OSError, ValueError):
                old = None
        self._ready = old == key
        if not self._ready:  # another input, the input edited, or other options: start afresh
            self.reset()

    def reset(self) -> None:
        """Forget every part (the folder is made again when the first part is saved)."""
        if self.folder.is_symlink() or self.folder.is_file():
            self.folder.unlink()
        elif self.folder.exists():
            shutil.rmtree(self.folder)
        self._ready = False

    def _prepare(self) -> None:
        if not self._ready:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.folder / "manifest.json",
                         lambda tmp: tmp.write_text(json.dumps(self.key, indent=1, sort_keys=True)))
            self._ready = True

    def paths(self, i: int) -> tuple[Path, Path]:
        return (self.folder / f"part-{i:05d}.{self.fmt}",
                self.folder / f"part-{i:05d}.failures.csv")

    def done(self, i: int) -> bool:
        if not self._ready:
            return False
        res, fail = self.paths(i)
        return res.is_file() and fail.is_file()

    def encode(self, table: pd.DataFrame) -> bytes:
        """The bytes of a part file (may run on another thread than :meth:`save`)."""
        if self.fmt == "parquet":
            buf = io.BytesIO()
            table.to_parquet(buf, index=False)
            return buf.getvalue()
        return csv_bytes(table, header=False)

    def save(self, i: int, table: pd.DataFrame, fails: pd.DataFrame,
             encoded: bytes | None = None) -> None:
        self._prepare()
        res, fail = self.paths(i)
        write_failures(fails, fail)  # the results file last: its presence = done
        data = self.encode(table) if encoded is None else encoded
        atomic_write(res, lambda tmp: tmp.write_bytes(data))

    def load(self, i: int, columns: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
        res, fail = self.paths(i)
        if self.fmt == "parquet":
            table = pd.read_parquet(res)
        else:
            head = csv_bytes(pd.DataFrame(columns=list(columns)), header=True)
            table = read_csv_typed(io.BytesIO(head + res.read_bytes()), columns)  # type: ignore[arg-type]
        return typed(table, columns), read_failures(fail)

    def assemble(self, out: Path, n_parts: int, columns: tuple[str, ...]) -> None:
        """RESULTS from the part files, one after the other, in bounded memory."""
        self._prepare()
        if self.fmt == "parquet":
            atomic_write(out, lambda tmp: self._parquet(tmp, n_parts, columns))
        else:
            atomic_write(out, lambda tmp: self._csv(tmp, n_parts, columns))

    def _csv(self, tmp: Path, n_parts: int, columns: tuple[str, ...]) -> None:
        with tmp.open("wb") as fh:
            fh.write(csv_bytes(typed(pd.DataFrame(columns=list(columns)), columns), header=True))
            for i in range(n_parts):
                with self.paths(i)[0].open("rb") as part:
                    shutil.copyfileobj(part, fh, 1 << 22)

    def _parquet(self, tmp: Path, n_parts: int, columns: tuple[str, ...]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        kinds = {**dict.fromkeys(STR_COLUMNS, pa.string()), **dict.fromkeys(INT_COLUMNS, pa.int64()),
                 **dict.fromkeys(BOOL_COLUMNS, pa.bool_())}
        schema = pa.schema([(c, kinds.get(c, pa.float64())) for c in columns])
        with pq.ParquetWriter(tmp, schema) as writer:
            for i in range(n_parts):
                table = pq.read_table(self.paths(i)[0])
                if table.num_rows:
                    writer.write_table(table.cast(schema))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
