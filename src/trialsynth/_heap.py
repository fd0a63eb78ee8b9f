"""The garbage collector during a run: the objects a run starts with stay out of its passes.

A run loads hundreds of thousands of long-lived objects (numpy, pandas, matplotlib, the review)
and then allocates enough to trigger the collector's full passes several times; each full pass
walks every tracked object, those old ones included. In a forked figure worker it is worse: the
pass writes to every object it walks, so the worker copies the parent's memory page by page.
:func:`gc.freeze` moves the tracked objects into the collector's permanent generation, which no
pass walks (CPython documents exactly this use before ``fork``); :func:`gc.unfreeze` gives them
back when the run is done, so a program that runs many reviews keeps no garbage. Nothing here
changes what a run computes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def freeze() -> bool:
    """Freeze every object the collector tracks now; True when nothing was frozen before, i.e.
    the caller is the one to :func:`gc.unfreeze` when done (a caller that froze objects for its
    own reasons keeps them frozen)."""
    first = gc.get_freeze_count() == 0
    gc.freeze()
    return first


@contextmanager
def frozen() -> Iterator[None]:
    """Within: the objects that exist on entry (and whatever :func:`freeze` adds later) are out
    of the collector's passes; on exit they are given back (unless they were frozen before)."""
    first = freeze()
    try:
        yield
    finally:
        if first:
            gc.unfreeze()
