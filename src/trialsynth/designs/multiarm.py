"""Multi-arm trials: a study that enters one analysis more than once with the same comparator
group (Cochrane Handbook v6.4 §23.3.4).

Entering the shared group in full for every comparison counts its participants twice (a
unit-of-analysis error). Two remedies of §23.3.4, as a setting:

* ``"split"`` (default): the shared group is divided evenly between the comparisons — its
  events and participants for a dichotomous outcome, its participants for a continuous one
  (mean and SD unchanged) — unrounded;
* ``"combine"``: the experimental arms are combined into one group (events and participants
  summed; means and SDs by Handbook Table 6.5.a) and compared once with the shared group.

``"as_entered"`` keeps the rows as they are (to reproduce an analysis that double counted);
the detection is reported all the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from trialsynth._segments import FloatArray
from trialsynth.effects.conversions import combine_groups

MultiArm = Literal["split", "combine", "as_entered"]
MULTI_ARM: tuple[MultiArm, ...] = ("split", "combine", "as_entered")
CONTROL = {"dichotomous": ("events_c", "n_c"), "continuous": ("mean_c", "sd_c", "n_c")}


@dataclass(frozen=True, slots=True)
class SharedGroup:
    """Rows (positions) of one study that share the same comparator data in one analysis."""

    study: str
    rows: tuple[int, ...]


def detect(studies: Sequence[str], group: np.ndarray, control: Mapping[str, FloatArray],
           eligible: np.ndarray) -> list[SharedGroup]:
    """Shared comparator groups: two or more ``eligible`` rows of the same analysis (``group``)
    and study whose comparator columns are all equal (and given)."""
    keys: dict[tuple, list[int]] = {}
    cols = list(control.values())
    for i in np.flatnonzero(eligible):
        values = tuple(float(c[i]) for c in cols)
        if any(v != v for v in values):  # NaN: no comparator data to share
            continue
        keys.setdefault((int(group[i]), studies[i], values), []).append(int(i))
    return [SharedGroup(k[1], tuple(rows)) for k, rows in keys.items() if len(rows) > 1]


def split_shared(cols: dict[str, FloatArray], shared: Sequence[SharedGroup], data_type: str
                 ) -> None:
    """Divide each shared comparator group evenly between its comparisons, in place
    (Handbook v6.4 §23.3.4: "split the 'shared' group into two or more groups with smaller
    sample size"; events too for dichotomous data; unrounded)."""
    for s in shared:
        idx = np.array(s.rows)
        share = len(idx)
        cols["n_c"][idx] = cols["n_c"][idx] / share  # Handbook §23.3.4
        if data_type == "dichotomous":
            cols["events_c"][idx] = cols["events_c"][idx] / share


def combine_arms(cols: dict[str, FloatArray], shared: Sequence[SharedGroup], data_type: str
                 ) -> list[int]:
    """Combine the experimental arms of each shared group into its first row, in place
    (Handbook v6.4 §23.3.4; Table 6.5.a for means and SDs); returns the rows folded into
    another (to be left out of the pooling)."""
    dropped: list[int] = []
    for s in shared:
        first, rest = s.rows[0], s.rows[1:]
        if data_type == "dichotomous":
            for c in ("events_t", "n_t"):
                cols[c][first] = cols[c][list(s.rows)].sum()  # Handbook Table 6.5.a: sums
        else:
            n, m, sd = cols["n_t"][first], cols["mean_t"][first], cols["sd_t"][first]
            for r in rest:  # Table 6.5.a, applied repeatedly for more than two groups
                n, m, sd = combine_groups(n, m, sd, cols["n_t"][r], cols["mean_t"][r],
                                          cols["sd_t"][r])
            cols["n_t"][first], cols["mean_t"][first], cols["sd_t"][first] = n, m, sd
        dropped.extend(rest)
    return dropped
