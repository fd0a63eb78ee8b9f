"""The Dask path of ``trialsynth batch``: a LocalCluster of two worker processes (and
``--workers 2`` on the command line) gives exactly the single-process results."""

from __future__ import annotations

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
