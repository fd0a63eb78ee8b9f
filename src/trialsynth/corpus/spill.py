"""A long table whose analyses are not runs of adjacent rows, grouped on disk in bounded memory.

Pass 1 reads the table :data:`~trialsynth.corpus.sources.BLOCK_ROWS` rows at a time, numbers the
analyses in order of first appearance and appends each chunk's rows to the bucket file of their
analysis number (``B`` consecutive analyses per bucket, ``B`` chosen from the first chunk so that
a bucket holds about a block of rows). Pass 2 reads the buckets in order and sorts each by
analysis, stably, so that every analysis keeps its rows in file order: the blocks are those
:func:`~trialsynth.corpus.sources.iter_long` yields for the same table sorted by first
appearance, and the results are the same. Memory: one chunk, one bucket, and the analysis ids.
The folder of buckets is removed at the end (and, if the process was killed, by the next run:
:func:`trialsynth.corpus.output.clean_stale`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from trialsynth.corpus.rows import DATA_COLUMNS, RawRows, long_frame, nan_column
from trialsynth.corpus.sources import BLOCK_ROWS, long_chunks
from trialsynth.errors import DataError

SPILL_PREFIX = ".spill-"


def iter_spilled(path: Path, block_rows: int = BLOCK_ROWS, folder: Path | None = None
                 ) -> Iterator[RawRows]:
    """Blocks of whole analyses of a long table in any row order (module docstring)."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=folder))
    try:
        ids, stated, per_bucket, present, has_study = _spill(path, block_rows, tmp)
        for b, files in enumerate(per_bucket):
            yield _bucket(path, b, files, ids, stated, per_bucket.width, present, has_study)
            for f in files:
                f.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _Buckets(list):
    width = 1


def _spill(path: Path, block_rows: int, tmp: Path
           ) -> tuple[list[str], list[str] | None, _Buckets, tuple[str, ...], bool]:
    src = str(path)
    index: dict[str, int] = {}
    ids: list[str] = []
    stated: list[str] | None = None
    buckets = _Buckets()
    first_row, chunk_no = 2, 0
    present: tuple[str, ...] = ()
    has_study = False
    for chunk in long_chunks(path, block_rows):
        if len(chunk) == 0:
            continue
        raw = long_frame(chunk, src, first_row=first_row)
        present, has_study = raw.present, raw.study is not None
        local = [str(x) for x in raw.ids]
        gmap = np.empty(len(local), dtype=np.int64)
        for j, key in enumerate(local):  # one look-up per analysis of the chunk, not per row
            g = index.get(key)
            if g is None:
                g = index[key] = len(ids)
                ids.append(key)
            gmap[j] = g
        if raw.stated is not None:
            stated = _merge_stated(stated, raw, gmap, len(ids), src)
        if chunk_no == 0:  # analyses per bucket: about a block of rows each
            buckets.width = max(1, int(block_rows * len(local) / max(1, len(raw.codes))))
        gcode = gmap[raw.codes]
        bucket = gcode // buckets.width
        order = np.argsort(bucket, kind="stable")
        cuts = np.flatnonzero(np.diff(bucket[order])) + 1
        for rows in np.split(order, cuts):
            b = int(bucket[rows[0]])
            while len(buckets) <= b:
                buckets.append([])
            f = tmp / f"b{b:07d}-{chunk_no:07d}.npz"
            arrays = {"gcode": gcode[rows], "rownum": raw.rownum[rows],
                      **{c: raw.cols[c][rows] for c in present}}
            if raw.study is not None:
                arrays["study"] = np.asarray(raw.study[rows], dtype=str)
            np.savez(f, **arrays)
            buckets[b].append(f)
        first_row += len(chunk)
        chunk_no += 1
    if not ids:
        raise DataError("the table has no study rows", file=src)
    return ids, stated, buckets, present, has_study


def _merge_stated(stated: list[str] | None, raw: RawRows, gmap: np.ndarray, n: int, src: str
                  ) -> list[str]:
    """The measure each analysis states, the same in every chunk it has rows in."""
    out = stated if stated is not None else []
    known = len(out)  # analyses met in earlier chunks; the rest are new in this one
    out.extend([""] * (n - known))
    assert raw.stated is not None
    for j, g in enumerate(gmap.tolist()):
        m = str(raw.stated[j])
        if g >= known:
            out[g] = m
        elif out[g] != m:
            row = int(raw.rownum[np.argmax(raw.codes == j)])
            raise DataError(f"analysis {raw.ids[j]!r} has more than one measure", file=src,
                            row=row, field="measure")
    return out


def _bucket(path: Path, b: int, files: list[Path], ids: list[str], stated: list[str] | None,
            width: int, present: tuple[str, ...], has_study: bool) -> RawRows:
    parts = []
    for f in files:
        with np.load(f, allow_pickle=False) as z:
            parts.append({k: z[k] for k in z.files})
    gcode = np.concatenate([p["gcode"] for p in parts])
    order = np.argsort(gcode, kind="stable")  # rows of an analysis keep their file order
    lo, hi = b * width, min((b + 1) * width, len(ids))
    n = len(gcode)
    cols = {c: (np.concatenate([p[c] for p in parts])[order] if c in present
                else nan_column(n)) for c in DATA_COLUMNS}
    study = (np.concatenate([p["study"] for p in parts])[order].astype(object) if has_study
             else None)
    return RawRows(ids=np.array(ids[lo:hi], dtype=object), codes=(gcode[order] - lo).astype(np.intp),
                cols=cols, study=study,
                rownum=np.concatenate([p["rownum"] for p in parts])[order],
                source=np.full(hi - lo, str(path), dtype=object),
                stated=None if stated is None else np.array(stated[lo:hi], dtype=object),
                stored=None, long=True, present=present)


__all__ = ["SPILL_PREFIX", "iter_spilled"]
