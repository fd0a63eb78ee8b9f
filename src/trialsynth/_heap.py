"""The garbage collector during a run: the objects a run starts with stay out of its passes.

A run loads hundreds of thousands of long-lived objects (numpy, pandas, matplotlib, the review)
and then allocates enough to trigger the collector's full passes several times; each full pass
walks every tracked object, those old ones included. In a forked figure worker it is worse: the
pass writes to every object it walks, so the worker copies the parent's memory page by page.
:func:`gc.freeze` moves the tracked objects into the collector's permanent generation, which no
pass walks (CPython documents exactly this use before ``fork``); :func:`gc.unfreeze` gives them
back when the run is done, so a program that runs many reviews keeps no garbage. While a run
lasts, the youngest generation is also collected less often (every :data:`YOUNG` allocations
instead of CPython's 700): a run builds its report in bursts of short-lived objects, and each
young collection walks every object still alive in the burst. Nothing here changes what a run
computes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG = 5000  # net allocations between two collections of the youngest generation, during a run


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
    of the collector's passes, and the youngest generation is collected every :data:`YOUNG`
    allocations at most; on exit both are as they were (objects frozen before stay frozen)."""
    threshold = gc.get_threshold()
    first = freeze()
    gc.set_threshold(max(threshold[0], YOUNG), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if first:
            gc.unfreeze()


def ending() -> None:
    """The process ends after this call: every object stays out of the collector's last passes.

    CPython runs full collections while it tears the interpreter down, and at the end of a big
    run (pandas, pyarrow, scipy and their objects loaded) they walk every object for nothing:
    about a tenth of a second of ``trialsynth batch`` on 100,000 analyses, a quarter of a second
    of the flagship report. Objects in reference cycles are then not finalized, so this is for
    the command line's last step (``_cli_guard``), once every output is written and closed:
    what is left to reclaim, memory, the operating system reclaims."""
    freeze()
