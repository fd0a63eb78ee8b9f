"""Zero-cell conventions for 2×2 tables, as explicit named policies.

Two tools, two conventions (see ../shared/PITFALLS.md §3.1):

* metafor ``escalc`` (Viechtbauer 2010, J Stat Softw 36(3), ``escalc`` defaults): add 1/2 to every
  cell of a table with a zero cell (``to="only0"``), keep double-zero tables (``drop00=FALSE``).
* RevMan (Deeks & Higgins 2010, *Statistical algorithms in Review Manager 5*, §"zero cells";
  Cochrane Handbook 5.1 §16.9.2): studies with no events (or only events) in both arms are
  "not estimable" and dropped; a study with a single zero cell gets 0.5 added to all four cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from trialsynth._segments import FloatArray, IntArray, segment_any

AddTo = Literal["only0", "all", "if0all", "none"]


@dataclass(frozen=True, slots=True)
class ZeroCellPolicy:
    """How 2×2 tables with zero cells are treated.

    Attributes
    ----------
    name : label shown in results and reports.
    add : amount added to the cells.
    to : ``"only0"`` tables with a zero cell; ``"all"`` every table; ``"if0all"`` every table of an
        analysis in which any table has a zero cell; ``"none"`` never (metafor's vocabulary).
    drop00 : drop tables with no events, or only events, in both arms.
    """

    name: str
    add: float = 0.5
    to: AddTo = "only0"
    drop00: bool = False


METAFOR = ZeroCellPolicy("metafor escalc default (add 1/2 to tables with a zero, keep double zeros)")
REVMAN = ZeroCellPolicy("RevMan (double-zero studies not estimable, 0.5 added to tables with a zero)",
                        drop00=True)
NO_CORRECTION = ZeroCellPolicy("no correction", add=0.0, to="none")


def double_zero(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray) -> np.ndarray:
    """Tables with no events in both arms, or only events in both arms."""
    return ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))


def apply_policy(
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    d: FloatArray,
    group: IntArray,
    n_groups: int,
    policy: ZeroCellPolicy,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, np.ndarray]:
    """Return corrected cells ``a, b, c, d`` and the mask of tables kept (not dropped).

    Where nothing is added, the cells are returned as they are (adding 0 would change no value).
    """
    if policy.to == "none" or policy.add == 0:
        keep = ~double_zero(a, b, c, d) if policy.drop00 else np.ones(a.shape, dtype=bool)
        return a, b, c, d, keep
    za, zb, zc, zd = a == 0, b == 0, c == 0, d == 0
    # double_zero(a, b, c, d), from the same comparisons
    keep = ~((za & zc) | (zb & zd)) if policy.drop00 else np.ones(a.shape, dtype=bool)
    has_zero = za | zb | zc | zd
    if policy.to == "only0":
        target = has_zero
    elif policy.to == "all":
        target = np.ones(a.shape, dtype=bool)
    elif policy.to == "if0all":
        target = segment_any(has_zero & keep, group, n_groups)[group]
    else:
        target = np.zeros(a.shape, dtype=bool)
    target &= keep
    if not target.any():
        return a, b, c, d, keep
    # add to the target tables only: the values of a + where(target, add, 0), one copy each
    at = np.flatnonzero(target)
    out = []
    for x in (a, b, c, d):
        x = x.copy()
        x[at] += policy.add
        out.append(x)
    return out[0], out[1], out[2], out[3], keep
