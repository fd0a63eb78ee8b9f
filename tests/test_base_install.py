"""The base install works: a fresh virtual environment (no access to this interpreter's packages)
gets ``pip install <checkout>`` — no extras, so no pyarrow and no Dask — and runs a CSV → CSV
batch whose numbers are those of the full install; asking for Parquet there is a one-line error
naming the extra, exit 2. pip's cache keeps this to well under a minute after the first run.

The data are SIMULATED (a seeded random-effects model, ``test_batch.simulated_long_table``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from test_batch import simulated_long_table

from trialsynth.corpus import run_batch

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)


def test_fresh_venv_without_extras_runs_a_csv_batch(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stderr
    py = str(venv / "bin" / "python")
    installed = _run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                      str(ROOT)])
    assert installed.returncode == 0, installed.stderr[-3000:]
    for extra in ("pyarrow", "dask", "distributed"):  # the base install has none of them
        probe = _run([py, "-c", f"import {extra}"])
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
    frame = simulated_long_table(seed=31, n=45)  # simulated
    src = tmp_path / "simulated.csv"
    frame.to_csv(src, index=False)
    cli = str(venv / "bin" / "trialsynth")
    done = _run([cli, "batch", str(src), "--out", str(tmp_path / "res.csv"), "--method", "REML",
                 "--hksj", "--quiet"])
    assert done.returncode == 0, done.stderr[-3000:]
    got = pd.read_csv(tmp_path / "res.csv")
    want = run_batch(src, method="REML", hksj=True)  # this (full) install, pyarrow's CSV path
    assert list(got.columns) == list(want.columns) and list(got["analysis"]) == list(want["analysis"])
    for c in ("estimate", "se", "ci_low", "tau2", "tau2_ci_high", "i2", "pi_high", "q_pvalue"):
        np.testing.assert_array_equal(got[c].to_numpy(float), want[c].to_numpy(float))
    assert len(pd.read_csv(tmp_path / "res.failures.csv")) + len(got) == 45
    parquet = _run([cli, "batch", str(src), "--out", str(tmp_path / "res.parquet")])
    assert parquet.returncode == 2 and "Traceback" not in parquet.stderr
    assert parquet.stderr.strip().splitlines() == [
        "error: writing Parquet needs the optional dependency pyarrow, which is not installed: "
        "pip install 'trialsynth[parquet]'"]
    assert not (tmp_path / "res.parquet").exists()
    started = _run([py, "-X", "importtime", "-c", "import trialsynth"])
    assert "numpy" not in started.stderr  # `import trialsynth` loads no numerical stack
