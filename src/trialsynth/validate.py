"""Check a table of study data before any number is computed.

Rows are reported as a spreadsheet shows them: row 2 is the first data row under the header.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialsynth.effects.generic import from_ci
from trialsynth.effects.table import BINARY, COLUMNS, MEASURES
from trialsynth.errors import DataError

_COUNTS = ("events_t", "n_t", "events_c", "n_c")


def _row(i: int) -> int:
    return i + 2  # header is row 1


def study_columns(frame: pd.DataFrame, measure: str, *, source: str | None = None
                  ) -> dict[str, np.ndarray]:
    """Return the numeric input columns of ``measure`` as float arrays, or raise DataError."""
    if measure not in MEASURES:
        raise DataError(f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}",
                        file=source)
    if len(frame) == 0:
        raise DataError("the table has no study rows", file=source)
    if measure == "GENERIC" and "se" not in frame.columns:
        return _generic_from_ci(frame, source)
    required = COLUMNS[measure]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)} needed for measure {measure} "
                        f"(have: {', '.join(map(str, frame.columns))})", file=source,
                        field=missing[0])
    out = {col: _numeric(frame, col, source) for col in required}
    for extra in ("n_t", "n_c"):  # optional sample sizes for generic data (participants)
        if extra in frame.columns and extra not in out:
            values = pd.to_numeric(frame[extra], errors="coerce").to_numpy(dtype=np.float64)
            out[extra] = values
    _check_ranges(out, measure, source)
    return out


GENERIC_CI = (("yi", "ci_low", "ci_high"), ("ratio", "ratio_ci_low", "ratio_ci_high"))


def _numeric(frame: pd.DataFrame, col: str, source: str | None) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raw = frame[col].iloc[i]
        shown = str(raw) if len(str(raw)) <= 40 else f"{str(raw)[:37]}..."  # one readable line
        what = "is empty" if pd.isna(raw) else f"is not a finite number: {shown!r}"
        raise DataError(what, file=source, row=_row(i), field=col)
    return values


def _generic_from_ci(frame: pd.DataFrame, source: str | None) -> dict[str, np.ndarray]:
    """Generic data given as an estimate with a 95% CI: ``yi, ci_low, ci_high`` on the analysis
    scale, or ``ratio, ratio_ci_low, ratio_ci_high`` for a ratio (RR, OR, HR) on its natural scale,
    taken to the log scale (Cochrane Handbook v6.4 §6.3.1–6.3.2)."""
    for names in GENERIC_CI:
        if all(c in frame.columns for c in names):
            est, lo, hi = (_numeric(frame, c, source) for c in names)
            ratio = names[0] == "ratio"
            if ratio:
                for c, v in zip(names, (est, lo, hi), strict=True):
                    _fail_first(v <= 0, "a ratio must be positive", source, c)
            _fail_first(lo > est, "lower CI limit above the estimate", source, names[1])
            _fail_first(hi < est, "upper CI limit below the estimate", source, names[2])
            _fail_first(hi <= lo, "upper CI limit not above the lower one", source, names[2])
            yi, vi = from_ci(est, lo, hi, ratio=ratio)
            return {"yi": yi, "se": np.sqrt(vi)}
    raise DataError("generic data need columns yi and se, or yi, ci_low, ci_high, or ratio, "
                    f"ratio_ci_low, ratio_ci_high (have: {', '.join(map(str, frame.columns))})",
                    file=source, field="se")


def _fail_first(mask: np.ndarray, message: str, source: str | None, field: str) -> None:
    if mask.any():
        raise DataError(message, file=source, row=_row(int(np.argmax(mask))), field=field)


def _check_ranges(cols: dict[str, np.ndarray], measure: str, source: str | None) -> None:
    if measure in BINARY:
        for c in _COUNTS:
            _fail_first(cols[c] < 0, "counts cannot be negative", source, c)
            _fail_first(cols[c] != np.round(cols[c]), "counts must be whole numbers", source, c)
        for n in ("n_t", "n_c"):
            _fail_first(cols[n] == 0, "the arm has no participants (0)", source, n)
        _fail_first(cols["events_t"] > cols["n_t"], "more events than participants (n_t)",
                    source, "events_t")
        _fail_first(cols["events_c"] > cols["n_c"], "more events than participants (n_c)",
                    source, "events_c")
    elif measure in ("MD", "SMD"):
        for c in ("sd_t", "sd_c"):
            _fail_first(cols[c] <= 0, "standard deviation must be positive", source, c)
        for c in ("n_t", "n_c"):
            _fail_first(cols[c] < 1, "an arm needs at least one participant", source, c)
        if measure == "SMD":  # the pooled SD needs n_t + n_c − 2 ≥ 1
            _fail_first(cols["n_t"] + cols["n_c"] < 3,
                        "an SMD needs at least 3 participants in the two arms together",
                        source, "n_t")
    else:
        _fail_first(cols["se"] <= 0, "standard error must be positive", source, "se")


def study_labels(frame: pd.DataFrame) -> list[str]:
    """Study names from the ``study`` column, else "Study 1", "Study 2", …"""
    if "study" in frame.columns:
        return [("" if pd.isna(s) else str(s)) for s in frame["study"]]
    return [f"Study {i + 1}" for i in range(len(frame))]

