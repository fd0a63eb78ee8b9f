"""The Dask path of ``trialsynth batch``: a LocalCluster of two worker processes, ``--workers 2``
on the command line, and a real cluster — ``dask scheduler`` and two ``dask worker`` processes
started from the command line — give exactly the single-process results."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _paths import SHARED_DATA
from typer.testing import CliRunner

from trialsynth.cli import app
from trialsynth.corpus import run_batch

SOURCE = SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv"  # real: 95 analyses


@pytest.mark.shared_data
def test_local_cluster_equals_single_process(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    single = run_batch(SOURCE, method="REML", hksj=True, partition_size=20)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=":0") as cluster:
        out = tmp_path / "dask.parquet"
        on_dask = run_batch(SOURCE, out, method="REML", hksj=True, partition_size=20,
                            scheduler=cluster.scheduler_address)
        # both workers got partitions (5 partitions of at most 20 analyses)
        assert len(cluster.workers) == 2
    pd.testing.assert_frame_equal(on_dask, single, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(out), single, check_exact=True)
    pd.testing.assert_frame_equal(on_dask.attrs["failures"], single.attrs["failures"])


@pytest.mark.shared_data
def test_cli_workers_2_equals_single_process(tmp_path: Path) -> None:
    runner = CliRunner()
    a, b = tmp_path / "one.csv", tmp_path / "two.csv"
    r1 = runner.invoke(app, ["batch", str(SOURCE), "--out", str(a), "--method", "PM", "--quiet"])
    r2 = runner.invoke(app, ["batch", str(SOURCE), "--out", str(b), "--method", "PM", "--quiet",
                             "--workers", "2"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r2.output
    pd.testing.assert_frame_equal(pd.read_csv(a), pd.read_csv(b), check_exact=True)
    assert (tmp_path / "two.failures.csv").read_text() == (tmp_path / "one.failures.csv").read_text()


# ------------------------------------------------------------------------------------------
# a real cluster: `dask scheduler` and two `dask worker` processes from the command line


def _dask_cli() -> str:
    beside = Path(sys.executable).parent / "dask"  # the dask of this interpreter's install
    found = str(beside) if beside.is_file() else shutil.which("dask")
    assert found, "the dask command (dask[distributed], a test dependency) is not installed"
    return found


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """A process in a session of its own, so that it and its children can be stopped together."""
    with log.open("wb") as fh:
        return subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to each started process group, SIGKILL to what is left after 20 s."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


@pytest.mark.shared_data
def test_cli_on_a_real_scheduler_and_two_worker_processes(tmp_path: Path) -> None:
    from dask.distributed import Client

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TRIALSYNTH_THREADS": "1"}
    dask = _dask_cli()
    info = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                             "--no-dashboard", "--scheduler-file", str(info)],
                            tmp_path / "scheduler.log", env))
        for w in range(2):
            procs.append(_start([dask, "worker", "--scheduler-file", str(info), "--nthreads", "1",
                                 "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1",
                                 "--name", f"w{w}"], tmp_path / f"worker{w}.log", env))
        deadline = time.monotonic() + 120
        while not info.is_file():
            assert time.monotonic() < deadline and procs[0].poll() is None, \
                (tmp_path / "scheduler.log").read_text()[-2000:]
            time.sleep(0.2)
        with Client(scheduler_file=str(info), timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            address = client.scheduler.address
            one, many = tmp_path / "one.csv", tmp_path / "cluster.csv"
            cmd = [sys.executable, "-m", "trialsynth.cli", "batch", str(SOURCE), "--method", "REML",
                   "--hksj", "--quiet"]
            single = subprocess.run([*cmd, "--out", str(one)], env=env, capture_output=True,
                                    text=True, timeout=600, check=False)
            assert single.returncode == 0, single.stderr
            # small partitions: 95 analyses in 10 partitions, spread over both workers
            on_cluster = subprocess.run(
                [*cmd, "--out", str(many), "--scheduler", address, "--partition-size", "10"],
                env=env, capture_output=True, text=True, timeout=600, check=False)
            assert on_cluster.returncode == 0, on_cluster.stderr
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
        assert len(executed) == 2 and all(n >= 1 for n in executed.values()), executed
        assert many.read_bytes() == one.read_bytes()  # the same results, byte for byte
        assert (tmp_path / "cluster.failures.csv").read_bytes() == \
            (tmp_path / "one.failures.csv").read_bytes()
    finally:
        _stop(procs)
    assert all(p.poll() is not None for p in procs)
