"""Pool every analysis of a batch input, partition by partition, resumably, optionally on Dask.

A partition is a contiguous range of analyses. Its studies are flat arrays with a group index,
pooled by :func:`trialsynth.pooling.batch.pool_arrays` once per measure present in the partition
(no loop over analyses). Finished partitions are written to ``<RESULTS>.parts/`` beside a
manifest keyed by the input's fingerprint and the options; a run stopped halfway picks up the
missing partitions only. The final table (and its failure log ``<stem>.failures.csv``) is written
atomically once every partition is done, then the parts folder is removed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialsynth import __version__ as _version
from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS
from trialsynth.corpus.read import FAILURE_COLUMNS, BatchInput, read_input
from trialsynth.errors import DataError
from trialsynth.pooling.batch import COMMON, METHODS, RANDOM, PooledBatch, pool_arrays
from trialsynth.pooling.result import CONTRACT_KEYS, RATIO_MEASURES

PARTITION_SIZE = 10_000  # analyses per partition (the corpus: 2; a million: 100)
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
              partition_size: int = PARTITION_SIZE) -> pd.DataFrame:
    """Pool every analysis of ``input`` and return the results table (one row per pooled
    analysis); with ``out`` also write it (Parquet or CSV by extension) and the failure log
    ``<stem>.failures.csv``. The failures are in ``result.attrs["failures"]``."""
    method = method.upper()
    options = _options(measure, method, hksj, revman, partition_size)
    if out is not None:
        out = Path(out)
        if out.suffix.lower() not in (".parquet", ".csv"):
            raise DataError("RESULTS must end in .parquet or .csv", file=str(out))
    batch = read_input(input, measure=options["measure"], method=method)
    bounds = partitions(batch.n, partition_size)
    key = {"fingerprint": batch.fingerprint, "options": options, "n_analyses": batch.n,
           "partitions": len(bounds), "version": _version}
    store = _PartStore(parts_dir(out), key) if out is not None else None
    todo = [i for i in range(len(bounds)) if store is None or not store.done(i)]
    results: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}
    if store is not None:
        for i in range(len(bounds)):
            if i not in todo:
                results[i] = store.load(i)
    with _Progress(progress, len(bounds), len(bounds) - len(todo)) as bar:
        def finished(i: int, res: tuple[pd.DataFrame, pd.DataFrame]) -> None:
            if store is not None:
                store.save(i, res)
            results[i] = res
            bar.advance()

        payloads = ((i, slice_partition(batch, *bounds[i])) for i in todo)
        if workers or scheduler:
            _run_dask(payloads, options, finished, workers, scheduler)
        else:
            for i, payload in payloads:
                finished(i, pool_partition(payload, options))
    table = pd.concat([results[i][0] for i in range(len(bounds))] or [_empty()], ignore_index=True)
    fails = pd.concat([batch.failures, *(results[i][1] for i in range(len(bounds)))],
                      ignore_index=True)
    table = table.reindex(columns=list(RESULT_COLUMNS))
    fails = fails.reindex(columns=list(FAILURE_COLUMNS)).reset_index(drop=True)
    if out is not None:
        _write_atomic(table, out)
        _write_atomic(fails, failures_path(out))
        assert store is not None
        store.remove()
    table.attrs["failures"] = fails
    return table


def _options(measure: str | None, method: str, hksj: bool | str, revman: bool,
             partition_size: int) -> dict[str, Any]:
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if hksj and method in COMMON:
        raise DataError(f"HKSJ applies to random-effects methods, not to {method}")
    if partition_size < 1:
        raise DataError("partition size must be at least 1")
    return {"measure": measure.upper() if measure else None, "method": method,
            "hksj": hksj if hksj == "adhoc" else bool(hksj), "revman": bool(revman),
            "partition_size": int(partition_size)}


def partitions(n: int, size: int) -> list[tuple[int, int]]:
    """Contiguous analysis ranges of at most ``size`` analyses (at least one, possibly empty)."""
    return [(a, min(a + size, n)) for a in range(0, n, size)] or [(0, 0)]


def slice_partition(batch: BatchInput, a: int, b: int) -> dict[str, Any]:
    """What a worker needs to pool analyses ``a:b``: plain arrays and a small frame (picklable)."""
    lo, hi = int(batch.offsets[a]), int(batch.offsets[b])
    return {"analyses": batch.analyses.iloc[a:b].reset_index(drop=True),
            "columns": {c: v[lo:hi] for c, v in batch.columns.items()},
            "offsets": batch.offsets[a:b + 1] - lo, "study": batch.study[lo:hi]}


def pool_partition(payload: dict[str, Any], options: dict[str, Any]
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pool one partition: one :func:`pool_arrays` call per measure present. Returns the result
    rows (analyses with at least one pooled study) and the failures (none pooled)."""
    analyses: pd.DataFrame = payload["analyses"]
    offsets: np.ndarray = payload["offsets"]
    n = len(analyses)
    method, hksj = options["method"], options["hksj"]
    conv = REVMAN_CONVENTIONS if options["revman"] else METAFOR_CONVENTIONS
    level = 0.95
    group_all = np.repeat(np.arange(n, dtype=np.intp), np.diff(offsets))
    measures = analyses["measure"].to_numpy()
    frames, fails = [], []
    for m in pd.unique(measures):
        sel = np.flatnonzero(measures == m)
        rows = np.flatnonzero(np.isin(group_all, sel))  # studies of these analyses, in order
        new = np.full(n, -1, dtype=np.intp)
        new[sel] = np.arange(len(sel))
        group = new[group_all[rows]]
        cols = {c: payload["columns"][c][rows] for c in _input_columns(m)}
        with np.errstate(all="ignore"):
            res = pool_arrays(m, method, cols, group, len(sel), hksj=hksj, conventions=conv,
                              confidence_level=level)
        frame = _result_frame(res, analyses.iloc[sel].reset_index(drop=True), m, method, hksj,
                              conv.name, level, payload["study"][rows], group)
        pooled = frame["k"].to_numpy() >= 1
        frames.append(frame[pooled])
        if (~pooled).any():
            f = frame[~pooled]
            fails.append(pd.DataFrame({"analysis": f["analysis"], "source": f["source"],
                                       "reason": "no study could be pooled: " + f["warnings"]}))
    table = pd.concat(frames, ignore_index=True) if frames else _empty()
    table["q_df"] = table["q_df"].astype(np.int64)  # k ≥ 1 here
    # back in input order
    order = pd.Series(np.arange(n), index=analyses["analysis"].to_numpy())
    table = table.iloc[np.argsort(order[table["analysis"]].to_numpy(), kind="stable")]
    fail = pd.concat(fails, ignore_index=True) if fails else pd.DataFrame(columns=list(FAILURE_COLUMNS))
    return table.reset_index(drop=True), fail.reset_index(drop=True)


def _input_columns(measure: str) -> tuple[str, ...]:
    from trialsynth.effects.table import COLUMNS

    cols = COLUMNS[measure]
    return (*cols, "n_t", "n_c") if measure == "GENERIC" else cols


def _result_frame(res: PooledBatch, analyses: pd.DataFrame, measure: str, method: str,
                  hksj: bool | str, conventions: str, level: float, study: np.ndarray,
                  group: np.ndarray) -> pd.DataFrame:
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
    out["warnings"] = _warnings(res, method, hksj, study, group, n)
    for c in ("source", "data_type", "measure_source", "n_rows"):
        out[c] = analyses[c].to_numpy()
    return pd.DataFrame(out)


def _warnings(res: PooledBatch, method: str, hksj: bool | str, study: np.ndarray,
              group: np.ndarray, n: int) -> np.ndarray:
    """The warnings of :func:`trialsynth.api._warnings`, vectorised, joined with `` | ``."""
    parts: list[np.ndarray] = []
    dropped = ~(res.included & np.isfinite(res.weight))
    names = np.full(n, "", dtype=object)
    if dropped.any():
        joined = pd.Series(study[dropped]).groupby(group[dropped]).agg(", ".join)
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


def _run_dask(payloads: Any, options: dict[str, Any], finished: Callable[[int, Any], None],
              workers: int | None, scheduler: str | None) -> None:
    """Pool partitions on a Dask cluster: a local one with ``workers`` processes, or the one at
    ``scheduler``. Each partition is written as soon as it comes back (resume works here too)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency of the batch extra
        raise DataError("--workers/--scheduler need dask[distributed]: pip install "
                        "'trialsynth[batch]'") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=int(workers or 1), threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        index = {}
        futures = []
        for i, payload in payloads:
            with warnings.catch_warnings():  # a partition is data by design: it is the task
                warnings.filterwarnings("ignore", message="Sending large graph")
                fut = client.submit(pool_partition, payload, options, pure=False)
            index[fut.key] = i
            futures.append(fut)
        for fut in as_completed(futures):
            finished(index[fut.key], fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------------------
# parts, progress, atomic writes


class _PartStore:
    """``<RESULTS>.parts/``: ``manifest.json`` and one Parquet file per finished partition."""

    def __init__(self, folder: Path, key: dict[str, Any]) -> None:
        self.folder = folder
        manifest = folder / "manifest.json"
        old = None
        if manifest.is_file():
            try:
                old = json.loads(manifest.read_text())
            except (OSError, ValueError):
                old = None
        if old != key:  # another input or other options: start afresh
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            _write_text_atomic(manifest, json.dumps(key, indent=1, sort_keys=True))

    def _paths(self, i: int) -> tuple[Path, Path]:
        return self.folder / f"part-{i:05d}.parquet", self.folder / f"part-{i:05d}.failures.parquet"

    def done(self, i: int) -> bool:
        res, fail = self._paths(i)
        return res.is_file() and fail.is_file()

    def load(self, i: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        res, fail = self._paths(i)
        return pd.read_parquet(res), pd.read_parquet(fail)

    def save(self, i: int, result: tuple[pd.DataFrame, pd.DataFrame]) -> None:
        res, fail = self._paths(i)
        _write_atomic(result[1].astype(str), fail)  # the results file last: its presence = done
        _write_atomic(result[0], res)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write next to ``path`` and rename: readers never see a half-written table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    os.close(fd)
    try:
        if path.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; a result file is not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


class _Progress:
    """A rich progress bar over partitions (silent unless asked for)."""

    def __init__(self, show: bool, total: int, completed: int) -> None:
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

