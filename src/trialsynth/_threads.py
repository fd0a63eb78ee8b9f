"""The threads of the command line's own process: one BLAS thread, trialsynth's own for the rest.

numpy's and scipy's wheels each carry an OpenBLAS that starts a pool of threads (one per core)
when it is loaded; those threads spin for a while, waiting for work, before they sleep
(OpenBLAS ``driver/others/blas_server.c``). trialsynth gives BLAS no work worth a second thread:
its matrices are a review's few treatments, studies or moderators, and OpenBLAS keeps a product
on one thread anyway unless m·n·k is large (``interface/gemm.c``). The spinning only takes
cores from the work trialsynth parallelises itself (``trialsynth batch``'s reader and pooling
threads, a report's figure workers): on the project's 2-core reference machine it cost about
0.15 s of CPU per process at import and 0.3-0.4 s over the flagship report (benchmarks/README.md).
So the command line asks for one BLAS thread, unless the user has set the number
(``OPENBLAS_NUM_THREADS``, which OpenBLAS reads once, when it is loaded).

This is for the process the command line owns (``_cli_guard``): a program that imports
trialsynth keeps its own settings.
"""

from __future__ import annotations

import os
import sys

BLAS_THREADS = "OPENBLAS_NUM_THREADS"


def one_blas_thread() -> None:
    """Ask OpenBLAS for one thread unless the user chose a number; nothing once numpy (which
    loads OpenBLAS, and OpenBLAS reads its settings then) is imported."""
    if "numpy" not in sys.modules:
        os.environ.setdefault(BLAS_THREADS, "1")
