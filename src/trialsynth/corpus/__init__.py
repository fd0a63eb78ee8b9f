"""Batch re-analysis of many reviews (``trialsynth batch``): read a corpus into flat arrays and
pool every analysis with the batch kernels, partition by partition, resumably, optionally on Dask.
"""

from __future__ import annotations

from trialsynth.corpus.read import BatchInput, read_input, read_long_table
from trialsynth.corpus.run import failures_path, pool_partition, run_batch

__all__ = ["BatchInput", "failures_path", "pool_partition", "read_input", "read_long_table",
           "run_batch"]
