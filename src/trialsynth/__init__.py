"""trialsynth: evidence synthesis validated against R metafor and RevMan.

The public names below are loaded on first use (PEP 562 module ``__getattr__``): ``import
trialsynth`` and ``trialsynth --help`` then cost no numpy, scipy or pandas import, which the
command line pays only in the command that needs them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from trialsynth import _moved

__version__ = "0.1.0"

# old module paths (trialsynth.io, trialsynth.certainty, ...) resolve to their new homes, with a
# DeprecationWarning; the finder is a few lines and loads nothing else
_moved.install()

# public name -> module that defines it
_LAZY = {
    "pool": "trialsynth.api",
    "METAFOR_CONVENTIONS": "trialsynth.conventions",
    "REVMAN_CONVENTIONS": "trialsynth.conventions",
    "Conventions": "trialsynth.conventions",
    "ConvergenceWarning": "trialsynth.errors",
    "DataError": "trialsynth.errors",
    "PooledBatch": "trialsynth.pooling.batch",
    "pool_arrays": "trialsynth.pooling.batch",
    "PooledResult": "trialsynth.pooling.result",
}

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

if TYPE_CHECKING:  # static analysers see the real objects
    from trialsynth.api import pool
    from trialsynth.conventions import METAFOR_CONVENTIONS, REVMAN_CONVENTIONS, Conventions
    from trialsynth.errors import ConvergenceWarning, DataError
    from trialsynth.pooling.batch import PooledBatch, pool_arrays
    from trialsynth.pooling.result import PooledResult


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trialsynth' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
