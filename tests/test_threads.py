"""The command line's own process asks OpenBLAS for one thread (trialsynth._threads), unless the
user chose a number; a program that calls the command line in its own process is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from trialsynth._threads import BLAS_THREADS
from trialsynth.cli import app

METADAT = Path(__file__).resolve().parents[2] / "shared" / "data" / "metadat"

# runs `trialsynth pool` as the process's own command line (numpy and scipy loaded by the
# command), then reports the setting and how many threads the process has
CHILD = """
import os, sys
from trialsynth.cli import app
sys.argv = ['trialsynth', 'pool', sys.argv[1], '--measure', 'RR', '--method', 'REML']
try:
    app()
except SystemExit as exc:
    print('EXIT', exc.code, os.environ.get('{var}'), len(os.listdir('/proc/self/task')),
          file=sys.stderr)
""".replace("{var}", BLAS_THREADS)


@pytest.fixture()
def bcg_csv(tmp_path: Path) -> Path:
    """dat.bcg (Colditz et al. 1994, JAMA 271:698), real data from metadat, in our columns."""
    df = pd.read_csv(METADAT / "dat.bcg.csv")
    path = tmp_path / "bcg.csv"
    pd.DataFrame({"study": df.author, "events_t": df.tpos, "n_t": df.tpos + df.tneg,
                  "events_c": df.cpos, "n_c": df.cpos + df.cneg}).to_csv(path, index=False)
    return path


def _child(csv: Path, blas: str | None) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != BLAS_THREADS}
    if blas is not None:
        env[BLAS_THREADS] = blas
    proc = subprocess.run([sys.executable, "-c", CHILD, str(csv)], capture_output=True,
                          text=True, env=env)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("EXIT"))
    _, code, setting, threads = line.split()
    assert code == "0", proc.stderr
    return setting, int(threads)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc (Linux)")
def test_the_command_line_runs_with_one_blas_thread_unless_the_user_chose(bcg_csv: Path) -> None:
    setting, threads = _child(bcg_csv, None)
    assert setting == "1"
    chosen, more = _child(bcg_csv, "3")
    assert chosen == "3"  # the user's number is kept
    # with 3, OpenBLAS starts threads beside the calling one (as many as the cores allow, so
    # this needs two); with 1, none: the setting took effect before OpenBLAS was loaded
    if (os.cpu_count() or 1) >= 2:
        assert more > threads


def test_a_command_called_in_process_leaves_the_setting_alone(bcg_csv: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.delenv(BLAS_THREADS, raising=False)
    result = CliRunner().invoke(app, ["pool", str(bcg_csv), "--measure", "RR", "--method", "DL"])
    assert result.exit_code == 0, result.output
    assert BLAS_THREADS not in os.environ
