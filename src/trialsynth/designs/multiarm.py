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
import pandas as pd

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


def shared_rows(group: np.ndarray, studies: np.ndarray | Sequence[str] | None,
                control: Mapping[str, FloatArray], eligible: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Shared comparator groups over flat arrays of many analyses, vectorised.

    Two or more ``eligible`` rows of the same analysis (``group``) and study whose comparator
    columns (``control``) are all equal and given share one comparator group (Handbook v6.4
    §23.3.4). Returns ``share`` (per row: how many rows share its comparator group; 1 when it
    is not shared) and ``set_id`` (per row: the first row of its shared set, −1 when not
    shared). ``studies`` None: every row is its own study (nothing can be shared).
    """
    n = len(group)
    share, set_id = np.ones(n, np.int64), np.full(n, -1, np.int64)
    if studies is None or n < 2:
        return share, set_id
    ok = np.asarray(eligible, bool).copy()
    for c in control.values():
        ok &= np.isfinite(c)
    # cheap pass first: only rows whose (analysis, study) pair repeats can share a group
    code = pd.factorize(np.asarray(studies, dtype=object))[0].astype(np.int64)
    pair = np.asarray(group, np.int64) * (int(code.max()) + 1) + code
    idx = np.flatnonzero(ok)
    _, inv, counts = np.unique(pair[idx], return_inverse=True, return_counts=True)
    idx = idx[counts[inv] > 1]
    if idx.size == 0:
        return share, set_id
    keys = np.column_stack([pair[idx].astype(np.float64), *(c[idx] for c in control.values())])
    _, inv, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    first = np.full(counts.size, n, np.int64)
    np.minimum.at(first, inv, idx)
    many = counts[inv] > 1
    share[idx[many]] = counts[inv][many]
    set_id[idx[many]] = first[inv][many]
    return share, set_id


def detect(studies: Sequence[str], group: np.ndarray, control: Mapping[str, FloatArray],
           eligible: np.ndarray) -> list[SharedGroup]:
    """Shared comparator groups (:func:`shared_rows`) as :class:`SharedGroup` objects, in the
    order of their first rows."""
    share, set_id = shared_rows(group, np.asarray(studies, dtype=object), control, eligible)
    out: dict[int, list[int]] = {}
    for i in np.flatnonzero(share > 1):
        out.setdefault(int(set_id[i]), []).append(int(i))
    return [SharedGroup(studies[first], tuple(rows)) for first, rows in sorted(out.items())]


def split_counts(cols: Mapping[str, FloatArray], share: np.ndarray, data_type: str
                 ) -> dict[str, FloatArray]:
    """The comparator columns with each shared group divided evenly between the comparisons
    that share it (Handbook v6.4 §23.3.4: "split the 'shared' group into two or more groups
    with smaller sample size"): participants, and events for dichotomous data; unrounded. New
    arrays (the inputs are left alone, they may be read-only views)."""
    out = {"n_c": cols["n_c"] / share}  # Handbook §23.3.4
    if data_type == "dichotomous":
        out["events_c"] = cols["events_c"] / share
    return out


def split_shared(cols: dict[str, FloatArray], shared: Sequence[SharedGroup], data_type: str
                 ) -> None:
    """:func:`split_counts` for the groups ``shared`` of one analysis, in place."""
    share = np.ones(len(cols["n_c"]), np.int64)
    for s in shared:
        share[list(s.rows)] = len(s.rows)
    cols.update(split_counts(cols, share, data_type))


def shared_warning(study: str, rows: Sequence[int], how: MultiArm) -> str:
    """The notice of one shared comparator group (``rows``: positions in the analysis' table,
    reported as file rows, header = row 1) — the same words from ``pool`` and ``batch``."""
    k = len(rows)
    what = {"split": "split evenly between them",
            "combine": "experimental arms combined",
            "as_entered": f"counted as entered, i.e. {k} times (settings.designs.multi_arm: "
                          "as_entered)"}[how]
    return (f"{study}: one comparator group enters {k} comparisons (rows "
            f"{', '.join(str(r + 2) for r in rows)}); {what} (Handbook v6.4 §23.3.4)")


def split_flat(data_type: str, cols: Mapping[str, FloatArray], group: np.ndarray, n_groups: int,
               studies: np.ndarray | None, position: np.ndarray, how: MultiArm = "split"
               ) -> tuple[dict[str, FloatArray], np.ndarray]:
    """Shared comparator groups of many analyses at once (flat arrays, ``group`` the analysis of
    each row, ``position`` each row's place in its analysis): the columns with each shared
    group split (``how="split"``, the default of ``pool``; ``"as_entered"`` leaves them) and,
    per analysis, its notices joined by " | " ("" when none). Every row is taken to have
    complete arm data (the batch reader keeps only those)."""
    out = dict(cols)
    notes = np.full(n_groups, "", dtype=object)
    if data_type not in CONTROL:
        return out, notes
    control = {c: cols[c] for c in CONTROL[data_type]}
    share, set_id = shared_rows(group, studies, control, np.ones(len(group), bool))
    if not (share > 1).any():
        return out, notes
    if how == "split":
        out.update(split_counts(cols, share, data_type))
    elif how != "as_entered":
        raise ValueError(f"batch takes multi_arm split or as_entered, not {how!r}")
    rows = np.flatnonzero(share > 1)
    rows = rows[np.lexsort((rows, set_id[rows]))]  # by shared set (its first row), then row
    starts = np.flatnonzero(np.r_[True, set_id[rows][1:] != set_id[rows][:-1]])
    for a, b in zip(starts, np.r_[starts[1:], rows.size], strict=True):
        members = rows[a:b]
        g = int(group[members[0]])
        text = shared_warning(str(studies[members[0]]), position[members].tolist(), how)
        notes[g] = text if not notes[g] else f"{notes[g]} | {text}"
    return out, notes


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
