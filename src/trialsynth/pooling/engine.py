"""Which kernels pool a call: the numpy kernels, or the compiled ones of large batches.

The compiled kernels (:mod:`trialsynth.pooling.compiled`, numba: the optional extra ``fast``)
compute the numpy kernels' numbers at a fraction of the cost per study, but loading numba and
their cached machine code costs about half a second per process, and the numpy kernels stay the
reference engine. So they pool a call of at least :data:`MIN_STUDIES` studies (the call pays for
its own loading; about 3 µs of CPU are saved per REML analysis of 16 studies), or, once a run
expects that many studies in all (:func:`expect`: ``trialsynth batch`` on a large input), its
partitions of at least :data:`MIN_PART` studies. This module decides without importing numba,
so that small inputs (a review's analyses) never load it.

``TRIALSYNTH_COMPILED=1`` makes every call use the compiled kernels (the tests), ``0`` none.
"""

from __future__ import annotations

import functools
import importlib.util
import os

MIN_STUDIES = 3_000_000
MIN_PART = 20_000
_expected = False


@functools.cache
def installed() -> bool:
    """Whether numba is installed (looked up, not imported)."""
    return importlib.util.find_spec("numba") is not None


def enabled() -> bool:
    """Whether the compiled kernels can run: numba installed and ``TRIALSYNTH_COMPILED`` not 0."""
    return os.environ.get("TRIALSYNTH_COMPILED", "") != "0" and installed()


def use_compiled(n_studies: int) -> bool:
    """Whether a call on ``n_studies`` studies uses the compiled kernels."""
    if not enabled():
        return False
    if os.environ.get("TRIALSYNTH_COMPILED") == "1":
        return True
    return n_studies >= MIN_STUDIES or (_expected and n_studies >= MIN_PART)


def expect(n_studies: int) -> None:
    """A run announces the studies it will pool in all (an estimate is enough): from
    :data:`MIN_STUDIES` on, its calls of :data:`MIN_PART` studies or more are compiled."""
    global _expected
    _expected = _expected or n_studies >= MIN_STUDIES
