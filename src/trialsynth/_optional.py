"""Optional dependencies: a missing one is a one-line error naming the extra that installs it.

The base install (``pip install trialsynth``) reads and writes CSV everywhere; Parquet needs
pyarrow (extra ``parquet``) and ``--workers``/``--scheduler`` need Dask (extra ``dask``);
numba (extra ``fast``) makes large batches faster (:mod:`trialsynth.pooling.compiled`; without it
the numpy kernels compute the same numbers); ``trialsynth[batch]`` installs all three.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from trialsynth.errors import TrialsynthError

EXTRAS = {"pyarrow": "parquet", "dask": "dask", "distributed": "dask"}  # top-level module -> extra


class MissingDependency(TrialsynthError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, module: str, purpose: str) -> None:
        extra = EXTRAS.get(module.split(".")[0], "batch")
        self.module, self.extra = module, extra
        super().__init__(f"{purpose} needs the optional dependency {module.split('.')[0]}, which "
                         f"is not installed: pip install 'trialsynth[{extra}]'")


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` saying what needs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(module, purpose) from None


def available(module: str) -> bool:
    """Whether ``module`` can be imported (imports it)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
