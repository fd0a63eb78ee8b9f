"""Pool every analysis of a batch input, partition by partition, resumably, optionally on Dask.

The input is read as a stream of blocks of whole analyses (:func:`trialsynth.corpus.read.
iter_input`, bounded memory) and cut into partitions of ``partition_size`` analyses, in input
order. A partition's studies are flat arrays with a group index, pooled by
:func:`trialsynth.pooling.batch.pool_arrays` once per measure present in it (no loop over
analyses), on :data:`THREADS` threads (or Dask workers) a few partitions at a time. Finished
partitions are written to ``<RESULTS>.parts/`` beside a manifest keyed by the SHA-256 of the
input's bytes and the options (:mod:`trialsynth.corpus.output`); a run stopped halfway pools the
missing partitions only. The final table (and its failure log ``<stem>.failures.csv``) is put
together from the parts, atomically, once every partition is done; then the parts folder is
removed.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialsynth import __version__ as _version
from trialsynth._optional import require
from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS
from trialsynth.corpus import output
from trialsynth.corpus.read import (
    FAILURE_COLUMNS,
    BatchInput,
    concat_inputs,
    content_hash,
    iter_input,
    study_labels,
)
from trialsynth.errors import DataError
from trialsynth.pooling.batch import COMMON, METHODS, RANDOM, PooledBatch, pool_arrays
from trialsynth.pooling.result import CONTRACT_KEYS, RATIO_MEASURES

# a comparator group shared by several comparisons of one study (Handbook v6.4 §23.3.4): split
# evenly as `pool` does by default, or counted as entered (to reproduce stored analyses)
BATCH_MULTI_ARM = ("split", "as_entered")
PARTITION_SIZE = 10_000  # analyses per partition (the corpus: 2; a million: 100)
# partitions pooled at the same time in one process (numpy releases the GIL in its loops)
THREADS = max(1, int(os.environ.get("TRIALSYNTH_THREADS", min(2, os.cpu_count() or 1))))
# result columns: the analysis id, the `pool --json` keys (weights aside), then its extras
ARRAY_KEYS = ("estimate", "se", "ci_low", "ci_high", "statistic", "pvalue", "tau2", "tau2_ci_low",
              "tau2_ci_high", "i2", "i2_ci_low", "i2_ci_high", "h2", "q", "q_pvalue", "pi_low",
              "pi_high", "df", "h2_ci_low", "h2_ci_high", "participants")
RESULT_COLUMNS = (
    "analysis", *(k for k in CONTRACT_KEYS if k != "weights"),
    "exp_estimate", "exp_ci_low", "exp_ci_high", "exp_pi_low", "exp_pi_high",
    "model", "tau", "df", "h2_ci_low", "h2_ci_high", "participants", "converged", "iterations",
    "hksj", "conventions", "confidence_level", "warnings",
    "source", "data_type", "measure_source", "n_rows",
)


def failures_path(out: str | Path) -> Path:
    """The failure log beside RESULTS: ``<stem>.failures.csv``."""
    out = Path(out)
    return out.with_name(out.name.rsplit(".", 1)[0] + ".failures.csv")


def parts_dir(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".parts")


def run_batch(input: str | Path, out: str | Path | None = None, *, measure: str | None = None,  # noqa: A002
              method: str = "DL", hksj: bool | str = False, revman: bool = False,
              workers: int | None = None, scheduler: str | None = None, progress: bool = False,
              partition_size: int = PARTITION_SIZE, tau2_ci: bool = True,
              return_table: bool = True, stages: dict[str, float] | None = None,
              multi_arm: str = "split") -> pd.DataFrame:
    """Pool every analysis of ``input`` and return the results table (one row per pooled
    analysis); with ``out`` also write it (Parquet or CSV by extension) and the failure log
    ``<stem>.failures.csv``. The failures are in ``result.attrs["failures"]``.

    ``return_table=False`` keeps memory bounded whatever the input's size: the table is only
    written, and the frame returned is empty, with ``attrs["pooled"]`` (the number of result
    rows) and ``attrs["failures"]``. ``tau2_ci=False`` leaves out the Q-profile CI of τ² (and of
    I², H²), as metafor's ``rma`` does unless ``confint`` is called. ``stages`` (for the
    benchmarks): a dict that receives the seconds spent in each stage (see :class:`_Clock`).
    ``multi_arm``: a study entering one analysis more than once with the same comparator data
    has that shared group split evenly between its comparisons (``"split"``, as ``pool``) or
    counted as entered (``"as_entered"``); either way the ``warnings`` column says so."""
    clock = _Clock(stages)
    method = method.upper()
    options = _options(measure, method, hksj, revman, partition_size, tau2_ci, multi_arm)
    path = Path(input)
    if not path.exists():
        raise DataError("file not found", file=str(path))
    store = None
    if out is not None:
        out = Path(out)
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("parquet", "csv"):
            raise DataError("RESULTS must end in .parquet or .csv", file=str(out))
        if fmt == "parquet":
            require("pyarrow.parquet", "writing Parquet")
        output.clean_stale(out, failures_path(out), parts_dir(out))
        with clock("hash input"):
            digest = content_hash(path)
        key = {"input": digest, "options": options, "version": _version,
               "writer": output.writer_name()}
        store = output.PartStore(parts_dir(out), key, fmt)
    if workers or scheduler:
        require("dask.distributed", "--workers/--scheduler")
    # the size of the whole run travels with the partitions (not in the resume key): on a large
    # input the compiled kernels pay for their loading, in this process or on a Dask worker
    # (pool_partition, trialsynth.pooling.engine)
    options = {**options, "expect_studies": _studies_estimate(path)}
    from trialsynth.corpus.sources import NotGrouped

    try:
        done = _run(path, options, store, workers, scheduler, progress, return_table, False, clock)
    except NotGrouped:  # analyses not in runs of adjacent rows: read again, grouped on disk
        if store is not None:
            store.reset()
        done = _run(path, options, store, workers, scheduler, progress, return_table, True, clock)
    table, fails, n_parts, pooled = done
    if out is not None:
        assert store is not None
        with clock("write results"):
            store.assemble(out, n_parts, RESULT_COLUMNS)
            output.write_failures(fails, failures_path(out))
            store.remove()
    table.attrs["failures"] = fails
    table.attrs["pooled"] = pooled
    return table


def _studies_estimate(path: Path) -> int:
    """About how many studies (rows) ``path`` holds: a Parquet file's row count, else the size
    at 50 bytes a row (a long CSV of generic effects takes about 50)."""
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # unreadable here: the reader will say why
            return 0
    return path.stat().st_size // 50


def _run(path: Path, options: dict[str, Any], store: output.PartStore | None,
         workers: int | None, scheduler: str | None, progress: bool, return_table: bool,
         spill: bool, clock: _Clock) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """Read, pool and save every partition; the table (if asked for), failures, counts."""
    read_fails: list[pd.DataFrame] = []
    pool_fails: list[pd.DataFrame] = []
    tables: list[pd.DataFrame] = []
    pooled = 0
    blocks = iter_input(path, measure=options["measure"], method=options["method"], spill=spill,
                        spill_dir=None if store is None else store.folder)

    def todo() -> Iterator[tuple[int, dict[str, Any] | None]]:
        parts = _partitions(blocks, options["partition_size"], read_fails)
        for i in itertools.count():
            with clock("read and check"):
                part = next(parts, None)
            if part is None:
                return
            yield i, None if store is not None and store.done(i) else slice_partition(part)

    def finished(i: int, res: tuple[pd.DataFrame, pd.DataFrame] | None,
                 encoded: bytes | None = None) -> None:
        nonlocal pooled
        if res is None:  # done in an earlier run
            assert store is not None
            res = store.load(i, RESULT_COLUMNS) if return_table else \
                (_count_rows(store, i), output.read_failures(store.paths(i)[1]))
        elif store is not None:
            with clock("write parts"):
                store.save(i, *res, encoded=encoded)
        pooled += res[0].attrs.get("rows", len(res[0]))
        pool_fails.append(res[1])
        if return_table:
            tables.append(res[0])
        bar.advance()

    with _Progress(progress) as bar:
        if workers or scheduler:
            n_parts = _run_dask(todo(), options, finished, workers, scheduler)
        else:
            n_parts = _run_threads(_prefetch(todo()), options, finished, clock,
                                   None if store is None else store.encode)
    table = pd.concat(tables, ignore_index=True) if tables else _empty()
    table = output.typed(table, RESULT_COLUMNS)
    fails = pd.concat([*read_fails, *pool_fails], ignore_index=True) if read_fails or pool_fails \
        else pd.DataFrame(columns=list(FAILURE_COLUMNS))
    fails = fails.reindex(columns=list(FAILURE_COLUMNS)).astype(object).reset_index(drop=True)
    return table, fails, n_parts, pooled


def _count_rows(store: output.PartStore, i: int) -> pd.DataFrame:
    """An empty frame standing for a finished part, with its number of rows."""
    res = store.paths(i)[0]
    if store.fmt == "parquet":
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(res).metadata.num_rows
    else:
        with res.open("rb") as fh:
            rows = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 22), b""))
    frame = _empty()
    frame.attrs["rows"] = rows
    return frame


def _run_threads(todo: Iterator[tuple[int, dict[str, Any] | None]], options: dict[str, Any],
                 finished: Callable[..., None], clock: _Clock | None = None,
                 encode: Callable[[pd.DataFrame], bytes] | None = None) -> int:
    """Pool partitions on :data:`THREADS` threads, at most a few ahead of the one written
    next (bounded memory); results are handled in partition order. ``encode``: the part
    file's bytes, made on the pooling thread too (the main thread only writes them)."""
    clock = clock or _Clock(None)

    def pool(payload: dict[str, Any]) -> tuple[tuple[pd.DataFrame, pd.DataFrame], bytes | None]:
        with clock("pool and format (CPU of the pooling threads)", cpu=True):
            res = pool_partition(payload, options)
            return res, None if encode is None else encode(res[0])

    def wait(fut: Future) -> tuple[tuple[pd.DataFrame, pd.DataFrame], bytes | None]:
        with clock("wait for pooling"):
            return fut.result()

    n = 0
    if THREADS == 1:  # in this thread: no hand-over
        for i, payload in todo:
            n += 1
            if payload is None:
                finished(i, None)
            else:
                finished(i, *pool(payload))
        return n
    window: deque[tuple[int, Future | None]] = deque()
    with ThreadPoolExecutor(THREADS) as executor:
        def drain(size: int) -> None:
            while len(window) > size:
                j, fut = window.popleft()
                if fut is None:
                    finished(j, None)
                else:
                    finished(j, *wait(fut))

        for i, payload in todo:
            n += 1
            window.append((i, None if payload is None else executor.submit(pool, payload)))
            drain(THREADS)
        drain(0)
    return n


_DONE = object()


def _prefetch(items: Iterator[Any], size: int = 2) -> Iterator[Any]:
    """``items`` produced on a thread of its own, at most ``size`` ahead (reading the next
    partition overlaps pooling and writing); an exception there is raised here."""
    box: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            box.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="trialsynth-batch-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = box.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        worker.join()


def _partitions(blocks: Iterator[BatchInput], size: int, failures: list[pd.DataFrame]
                ) -> Iterator[BatchInput]:
    """Partitions of exactly ``size`` analyses (the last one fewer) from a stream of blocks;
    the blocks' read failures go to ``failures``."""
    rest: BatchInput | None = None
    for block in blocks:
        if len(block.failures):
            failures.append(block.failures)
        rest = block if rest is None or rest.n == 0 else concat_inputs([rest, block])
        start = 0
        while rest.n - start >= size:
            yield slice_input(rest, start, start + size)
            start += size
        rest = slice_input(rest, start, rest.n)
    if rest is not None and rest.n:
        yield rest


def slice_input(batch: BatchInput, a: int, b: int) -> BatchInput:
    """Analyses ``a:b`` of a batch."""
    lo, hi = int(batch.offsets[a]), int(batch.offsets[b])
    return BatchInput(analyses=batch.analyses.iloc[a:b].reset_index(drop=True),
                      columns={c: v[lo:hi] for c, v in batch.columns.items()},
                      offsets=batch.offsets[a:b + 1] - lo,
                      study=None if batch.study is None else batch.study[lo:hi],
                      failures=batch.failures.iloc[:0])


def _options(measure: str | None, method: str, hksj: bool | str, revman: bool,
             partition_size: int, tau2_ci: bool = True, multi_arm: str = "split") -> dict[str, Any]:
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if hksj and method in COMMON:
        raise DataError(f"HKSJ applies to random-effects methods, not to {method}")
    if partition_size < 1:
        raise DataError("partition size must be at least 1")
    if multi_arm not in BATCH_MULTI_ARM:
        raise DataError(f"batch takes --multi-arm {' or '.join(BATCH_MULTI_ARM)}, not {multi_arm!r} "
                        "(combining arms drops rows: use pool or run on that review)")
    return {"measure": measure.upper() if measure else None, "method": method,
            "hksj": hksj if hksj == "adhoc" else bool(hksj), "revman": bool(revman),
            "partition_size": int(partition_size), "tau2_ci": bool(tau2_ci),
            "multi_arm": multi_arm}


def partitions(n: int, size: int) -> list[tuple[int, int]]:
    """Contiguous analysis ranges of at most ``size`` analyses (at least one, possibly empty)."""
    return [(a, min(a + size, n)) for a in range(0, n, size)] or [(0, 0)]


def slice_partition(batch: BatchInput, a: int = 0, b: int | None = None) -> dict[str, Any]:
    """What a worker needs to pool analyses ``a:b``: plain arrays and a small frame (picklable)."""
    part = batch if a == 0 and (b is None or b == batch.n) else slice_input(batch, a, b or batch.n)
    return {"analyses": part.analyses, "columns": part.columns, "offsets": part.offsets,
            "study": part.study}


def pool_partition(payload: dict[str, Any], options: dict[str, Any]
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pool one partition: one :func:`pool_arrays` call per measure present. Returns the result
    rows (analyses with at least one pooled study) and the failures (none pooled)."""
    from trialsynth.pooling import engine

    engine.expect(int(options.get("expect_studies", 0)))
    analyses: pd.DataFrame = payload["analyses"]
    offsets: np.ndarray = payload["offsets"]
    n = len(analyses)
    method, hksj = options["method"], options["hksj"]
    conv = REVMAN_CONVENTIONS if options["revman"] else METAFOR_CONVENTIONS
    level = 0.95
    group_all = np.repeat(np.arange(n, dtype=np.intp), np.diff(offsets))
    measures = analyses["measure"].to_numpy()
    kinds = pd.unique(measures)
    frames, fails, where = [], [], []
    for m in kinds:
        if len(kinds) == 1:  # one measure (the usual case): every study, no copies
            sel, rows, group = np.arange(n), slice(None), group_all
            sub = analyses
        else:
            sel = np.flatnonzero(measures == m)
            rows = np.flatnonzero(np.isin(group_all, sel))  # studies of these analyses, in order
            new = np.full(n, -1, dtype=np.intp)
            new[sel] = np.arange(len(sel))
            group = new[group_all[rows]]
            sub = analyses.iloc[sel].reset_index(drop=True)
        cols = {c: payload["columns"][c][rows] for c in _input_columns(m)}
        row_ids = np.arange(len(group_all))[rows]
        # a study entering one analysis more than once with the same comparator data: split
        # its shared group as `pool` does (or keep it, --multi-arm as_entered), and say so
        cols, shared = _shared_groups(m, cols, group, len(sel), payload, row_ids, offsets,
                                      group_all, options.get("multi_arm", "split"))
        with np.errstate(all="ignore"):
            res = pool_arrays(m, method, cols, group, len(sel), hksj=hksj, conventions=conv,
                              confidence_level=level, tau2_ci=options.get("tau2_ci", True))

        def labels(idx: np.ndarray, row_ids: np.ndarray = row_ids) -> np.ndarray:
            r = row_ids[idx]
            return study_labels(payload["study"], r, offsets, group_all[r])

        frame = _result_frame(res, sub, m, method, hksj, conv.name, level, labels, group)
        if shared is not None:  # pool's notices first, then the pooling's own
            w = frame["warnings"].to_numpy()
            frame["warnings"] = np.where(shared == "", w, np.where(w == "", shared,
                                                                   shared + " | " + w))
        pooled = frame["k"].to_numpy() >= 1
        if pooled.all():
            frames.append(frame)
            where.append(sel)
        else:
            frames.append(frame[pooled])
            where.append(sel[pooled])
            f = frame[~pooled]
            fails.append(pd.DataFrame({"analysis": f["analysis"], "source": f["source"],
                                       "reason": "no study could be pooled: " + f["warnings"]}))
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0] if frames \
        else _empty()
    table["q_df"] = table["q_df"].astype(np.int64)  # k ≥ 1 here
    if len(frames) > 1:  # back in input order
        table = table.iloc[np.argsort(np.concatenate(where), kind="stable")]
    fail = pd.concat(fails, ignore_index=True) if fails else pd.DataFrame(columns=list(FAILURE_COLUMNS))
    return table.reset_index(drop=True).reindex(columns=list(RESULT_COLUMNS)), \
        fail.reset_index(drop=True)


def _shared_groups(measure: str, cols: dict[str, np.ndarray], group: np.ndarray, n: int,
                   payload: dict[str, Any], row_ids: np.ndarray, offsets: np.ndarray,
                   group_all: np.ndarray, how: str) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Shared comparator groups of multi-arm trials (:func:`trialsynth.designs.multiarm.
    split_flat`, the implementation behind ``pool``): the columns to pool and the notices per
    analysis (None when there are none)."""
    from trialsynth.corpus.read import TYPE_OF
    from trialsynth.designs.multiarm import split_flat

    study = payload["study"]
    if study is None or TYPE_OF.get(measure) == "generic":
        return cols, None
    position = row_ids - offsets[group_all[row_ids]]
    cols, notes = split_flat(TYPE_OF[measure], cols, group, n, study[row_ids], position, how)
    return cols, notes if (notes != "").any() else None


def _input_columns(measure: str) -> tuple[str, ...]:
    from trialsynth.effects.table import COLUMNS

    cols = COLUMNS[measure]
    return (*cols, "n_t", "n_c") if measure == "GENERIC" else cols


def _result_frame(res: PooledBatch, analyses: pd.DataFrame, measure: str, method: str,
                  hksj: bool | str, conventions: str, level: float,
                  labels: Callable[[np.ndarray], np.ndarray], group: np.ndarray) -> pd.DataFrame:
    """The `pool --json` fields as columns (``PooledResult.to_dict``), for a whole batch."""
    n = len(analyses)
    out: dict[str, Any] = {"analysis": analyses["analysis"].to_numpy()}
    out["k"] = res.k.astype(np.int64)
    out["measure"] = np.full(n, measure, dtype=object)
    out["method"] = np.full(n, method, dtype=object)
    for key in ARRAY_KEYS:
        out[key] = np.where(np.isfinite(getattr(res, key)), getattr(res, key), np.nan)
    out["q_df"] = res.q_df
    ratio = measure in RATIO_MEASURES
    for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        with np.errstate(over="ignore"):
            v = np.exp(out[key]) if ratio else np.full(n, np.nan)
        out["exp_" + key] = np.where(np.isfinite(v), v, np.nan)
    out["model"] = np.full(n, "common" if method in COMMON else "random", dtype=object)
    with np.errstate(invalid="ignore"):
        out["tau"] = np.sqrt(out["tau2"])
    out["converged"] = res.converged.astype(bool)
    out["iterations"] = res.iterations.astype(np.int64)
    out["hksj"] = np.full(n, "adhoc" if hksj == "adhoc" else str(bool(hksj)).lower(), dtype=object)
    out["conventions"] = np.full(n, conventions, dtype=object)
    out["confidence_level"] = np.full(n, level)
    out["warnings"] = _warnings(res, method, hksj, labels, group, n)
    for c in ("source", "data_type", "measure_source", "n_rows"):
        out[c] = analyses[c].to_numpy()
    # text columns stay Python objects here (pandas would convert them to its "str" type, which
    # costs more than the pooling of small partitions); run_batch converts once, at the end
    return pd.DataFrame({k: pd.Series(v, dtype=object, copy=False)
                         if getattr(v, "dtype", None) is np.dtype(object) else v for k, v in out.items()})


def _warnings(res: PooledBatch, method: str, hksj: bool | str,
              labels: Callable[[np.ndarray], np.ndarray], group: np.ndarray, n: int) -> np.ndarray:
    """The warnings of :func:`trialsynth.api._warnings`, vectorised, joined with `` | ``."""
    parts: list[np.ndarray] = []
    dropped = ~(res.included & np.isfinite(res.weight))
    names = np.full(n, "", dtype=object)
    if dropped.any():
        idx = np.flatnonzero(dropped)
        joined = pd.Series(labels(idx)).groupby(group[idx]).agg(", ".join)
        names[joined.index.to_numpy()] = "not estimable, left out of the pooling: " + joined.to_numpy()
    parts.append(names)
    k = res.k
    parts.append(np.where(k == 0, "no study could be pooled", ""))
    if method in RANDOM:
        bad = (k >= 2) & ~res.converged
        msg = np.full(n, "", dtype=object)
        msg[bad] = [f"the {method} estimator of tau^2 did not converge ({int(i)} iterations); its "
                    f"value is not a solution" for i in res.iterations[bad]]
        parts.append(msg)
    if hksj:
        parts.append(np.where(k == 2, "HKSJ with k = 2 uses a t distribution on 1 df: the CI is "
                              "very wide (PITFALLS §3.4)", ""))
    beyond = np.asarray(res.tau2_ci_beyond, dtype=bool)
    msg = np.full(n, "", dtype=object)
    msg[beyond] = [f"upper tau^2 confidence limit lies beyond the search range (> {x:g})"
                   for x in res.tau2_ci_high[beyond]]
    parts.append(msg)
    out = np.full(n, "", dtype=object)
    for p in parts:
        p = p.astype(object)
        out = np.where(p == "", out, np.where(out == "", p, out + " | " + p))
    return out


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=list(RESULT_COLUMNS))


# ------------------------------------------------------------------------------------------
# Dask


def _run_dask(todo: Iterator[tuple[int, dict[str, Any] | None]], options: dict[str, Any],
              finished: Callable[[int, Any], None], workers: int | None,
              scheduler: str | None) -> int:
    """Pool partitions on a Dask cluster: a local one with ``workers`` processes, or the one at
    ``scheduler``. At most two partitions per worker thread are in flight (bounded memory);
    results are handled in partition order, each written as it comes (resume works here too)."""
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=int(workers or 1), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        slots = 2 * max(1, sum(client.nthreads().values()))
        n = 0
        window: deque[tuple[int, Any]] = deque()
        for i, payload in todo:
            n += 1
            fut = None
            if payload is not None:
                with warnings.catch_warnings():  # a partition is data by design: it is the task
                    warnings.filterwarnings("ignore", message="Sending large graph")
                    fut = client.submit(pool_partition, payload, options, pure=False)
            window.append((i, fut))
            while len(window) > slots:
                j, f = window.popleft()
                finished(j, None if f is None else f.result())
        while window:
            j, f = window.popleft()
            finished(j, None if f is None else f.result())
        return n
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------------------
# progress, stage times


class _Clock:
    """Seconds per stage into ``stages`` (wall time of the main thread, or CPU time of the
    thread with ``cpu=True``); nothing when ``stages`` is None."""

    def __init__(self, stages: dict[str, float] | None) -> None:
        self.stages = stages
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self, name: str, cpu: bool = False) -> Iterator[None]:
        if self.stages is None:
            yield
            return
        now = time.thread_time if cpu else time.perf_counter
        t0 = now()
        try:
            yield
        finally:
            with self._lock:
                self.stages[name] = self.stages.get(name, 0.0) + now() - t0


class _Progress:
    """A rich progress bar over partitions (silent unless asked for); the number of partitions
    is not known before the input has been read through."""

    def __init__(self, show: bool, total: int | None = None, completed: int = 0) -> None:
        self.show, self.total, self.completed = show, total, completed
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self.show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), transient=False)
            self._bar.__enter__()
            self._task = self._bar.add_task("pooling partitions", total=self.total,
                                            completed=self.completed)
        return self

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

