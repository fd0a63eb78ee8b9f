"""trialsynth: evidence synthesis validated against R metafor and RevMan."""

from trialsynth.api import pool
from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS, Conventions
from trialsynth.errors import ConvergenceWarning, DataError
from trialsynth.pooling.batch import PooledBatch, pool_arrays
from trialsynth.pooling.result import PooledResult

__all__ = [
    "METAFOR_CONVENTIONS",
    "REVMAN_CONVENTIONS",
    "ConvergenceWarning",
    "Conventions",
    "DataError",
    "PooledBatch",
    "PooledResult",
    "pool",
    "pool_arrays",
]
__version__ = "0.1.0"
