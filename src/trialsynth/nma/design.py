"""Design matrices of network meta-analysis models, built per study in the contrast basis.

Basic parameters: d_t, the effect of treatment t against the reference (d_reference = 0). A study
contrast "arm j against baseline b" has expectation d_j − d_b (X row: +1 at j, −1 at b, no column
for the reference); the consistency model (Lu & Ades 2004, Stat Med 23:3105; Salanti 2012, Res
Synth Methods 3:80). The heterogeneity model is the one of netmeta and of metafor's ``random =
~ comp | study, rho = 1/2``: every comparison has variance τ², and two contrasts of one study share
τ²/2 (Higgins & Whitehead 1996, Stat Med 15:2733), i.e. G = ½(I + J) per study block.

Variants used by :mod:`trialsynth.nma.inconsistency`:

* node splitting (Dias et al. 2010, Stat Med 29:932): one extra column, 1 on the contrast b − a
  of every study with both a and b, its baseline moved to a;
* design-by-treatment interaction (Higgins et al. 2012, Res Synth Methods 3:98): one set of basic
  parameters per design (set of treatments compared), i.e. each design's own effects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trialsynth.nma.data import Study


def rebase(study: Study, base: int) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """The study's contrasts against another of its arms ``base``: (arms with ``base`` first,
    y, V). Linear map y' = M y, V' = M V M' with M the change of baseline."""
    arms = study.arms
    if base == arms[0]:
        return arms, study.y, study.v
    j = arms.index(base)
    others = [t for t in arms if t != base]
    m = np.zeros((len(arms) - 1, len(arms) - 1))
    for r, t in enumerate(others):
        if t != arms[0]:
            m[r, arms.index(t) - 1] = 1.0  # y_t − y_b0
        m[r, j - 1] -= 1.0  # − (y_base − y_b0)
    return (base, *others), m @ study.y, m @ study.v @ m.T


def consistency_rows(arms: Sequence[int], column: dict[int, int], p: int) -> np.ndarray:
    """X rows of a study's contrasts (arms[1:] against arms[0]) for basic parameters whose
    column of treatment t is ``column[t]`` (the reference has none)."""
    x = np.zeros((len(arms) - 1, p))
    for r, t in enumerate(arms[1:]):
        if t in column:
            x[r, column[t]] += 1.0
        if arms[0] in column:
            x[r, column[arms[0]]] -= 1.0
    return x


def structure(m: int) -> np.ndarray:
    """G = ½(I + J): τ² on every contrast, τ²/2 between two contrasts of one study."""
    return 0.5 * (np.eye(m) + np.ones((m, m)))


def columns(treatments: int, reference: int) -> dict[int, int]:
    """Column of each non-reference treatment (in treatment order)."""
    others = [t for t in range(treatments) if t != reference]
    return {t: i for i, t in enumerate(others)}


def design_rows(studies: Sequence[Study]) -> tuple[list[tuple[int, ...]], dict[tuple[int, ...], int]]:
    """Designs (sorted treatment sets) in order of first appearance and their column offsets in
    the design-by-treatment model."""
    designs: list[tuple[int, ...]] = []
    for s in studies:
        if s.design not in designs:
            designs.append(s.design)
    offset, at = {}, 0
    for d in designs:
        offset[d] = at
        at += len(d) - 1
    return designs, offset
