"""Start-up stays light: ``import trialsynth`` and ``trialsynth --help`` load no numerical stack
(numpy, pandas, scipy, matplotlib, pyarrow, Dask); the commands import what they use. The time
itself is measured in ``benchmarks/bench_e2e.py`` (start-up section), not here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "pyarrow", "dask", "distributed", "jinja2")


def _imported(code: str) -> set[str]:
    """Top-level modules imported by ``python -X importtime -c CODE`` (a fresh interpreter)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("code", [
    "import trialsynth",
    "import sys; from trialsynth.cli import app; sys.argv = ['trialsynth', '--help']\n"
    "try:\n    app()\nexcept SystemExit:\n    pass",
    "import sys; from trialsynth.cli import app; sys.argv = ['trialsynth', 'batch', '--help']\n"
    "try:\n    app()\nexcept SystemExit:\n    pass",
])
def test_start_up_loads_no_numerical_stack(code: str) -> None:
    assert not _imported(code) & set(HEAVY)


def test_public_names_still_there_on_first_use() -> None:
    import trialsynth

    assert callable(trialsynth.pool) and callable(trialsynth.pool_arrays)
    assert trialsynth.DataError.__name__ == "DataError"
    assert {"pool", "pool_arrays", "PooledBatch", "METAFOR_CONVENTIONS"} <= set(dir(trialsynth))
    with pytest.raises(AttributeError):
        trialsynth.no_such_name  # noqa: B018
