"""The floor under `trialsynth batch` CSV -> CSV: the least a Python process can do for its numbers.

    python benchmarks/bench_e2e_floor.py IN.csv OUT.csv

Reads a long CSV of generic effects (``analysis, yi, se``: bench_e2e's SIMULATED input) with
pyarrow's multi-threaded reader, pools every analysis by REML with the Q-profile CI of τ² in one
:func:`trialsynth.pooling.batch.pool_arrays` call (the validated kernels, on their own threads),
and writes the analysis fields with pyarrow's CSV writer. It leaves out everything else the
command does: no pandas, no command line (Typer), no checks of the input naming row and column,
no warnings column, no part files, resume key or atomic rename, no failure log. bench_e2e.py times
it beside the command, so that a run shows how much of the command's time is its kernels and
its readers and writers, and how much the rest. Its output is for timing, not for use.

Prints the seconds of each step on stderr.
"""

from __future__ import annotations

import os
import sys
import time

T0 = time.perf_counter()
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command line (trialsynth._threads)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pc  # noqa: E402


def main(src: str, out: str) -> None:
    types = {"analysis": pa.string(), "yi": pa.float64(), "se": pa.float64()}
    table = pc.read_csv(src, convert_options=pc.ConvertOptions(column_types=types))
    ids = table.column("analysis").combine_chunks().dictionary_encode()
    group = ids.indices.to_numpy().astype(np.intp)
    n = len(ids.dictionary)
    columns = {"yi": table.column("yi").to_numpy(), "se": table.column("se").to_numpy()}
    t_read = time.perf_counter()
    from trialsynth.pooling.batch import pool_arrays

    t_import = time.perf_counter()
    with np.errstate(all="ignore"):
        res = pool_arrays("GENERIC", "REML", columns, group, n, tau2_ci=True)
    t_pool = time.perf_counter()
    fields = {"analysis": ids.dictionary}
    fields.update({f: pa.array(getattr(res, f)) for f in res.analysis_fields()})
    pc.write_csv(pa.table(fields), out)
    t_write = time.perf_counter()
    print(f"start and read {t_read - T0:.3f} s, import the kernels {t_import - t_read:.3f} s, "
          f"pool {t_pool - t_import:.3f} s, write {t_write - t_pool:.3f} s", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
