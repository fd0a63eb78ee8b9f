"""Network meta-analysis input: arm-level or contrast-level tables to study contrasts with their
within-study covariance.

Arm level (one row per study arm): ``study, treatment`` plus ``events, n`` (OR, RR, RD) or
``mean, sd, n`` (MD, SMD). Contrast level (one row per pair of arms): ``study, treatment1,
treatment2, yi, se`` with ``yi`` the effect of treatment1 against treatment2 (ratio measures on the
log scale); a multi-arm study gives every pair of its arms (as netmeta requires).

Each study becomes its a − 1 contrasts against a baseline arm (the arm whose treatment comes first
in the network's treatment order) with their covariance:

* Additive measures (log OR, log RR, RD, MD): Var(y_j − y_b) = v_j + v_b and Cov between two
  contrasts sharing the baseline = v_b, the baseline arm's variance (Gleser & Olkin 2009, Handbook
  of Research Synthesis 2nd ed., eq. 19.11 for log OR; the same argument for any arm-additive
  measure). Arm variances: log odds 1/x + 1/(n − x), log risk 1/x − 1/n, risk p(1 − p)/n, mean sd²/n.
* SMD: Hedges' g per pair (pooled SD of the two arms, exact J; metafor ``escalc`` "SMD"),
  Var = 1/n_j + 1/n_b + g_j²/(2N), Cov = 1/n_b + g_j g_k/(2N), N the study's total
  (Gleser & Olkin 2009, eq. 19.19–19.20; for two arms this is escalc's large-sample variance).
* Contrast-level multi-arm studies: Cov(y_jb, y_kb) = ½(v_jb + v_kb − v_jk), the polarisation
  identity, exact for any covariance of the arm estimates; the given effects must agree
  (y_jk = y_jb − y_kb within ``MULTIARM_TOL``, netmeta's default ``tol.multiarm`` 0.001).

Zero cells (OR, RR, RD): a study with a zero cell in any arm (no events, or only events) gets 0.5
added to the events and to the non-events of every arm (netmeta ``pairwise``: ``incr = 0.5`` to
all arms of a study with a zero cell). A study with no events in every arm (or only events in every
arm) carries no information on the OR or RR scale and is left out with a warning (netmeta's
default ``allstudies = FALSE``); on the RD scale it is kept, corrected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialsynth.effects.continuous import hedges_correction
from trialsynth.errors import DataError

ARM_MEASURES = ("OR", "RR", "RD", "MD", "SMD")
MEASURES = (*ARM_MEASURES, "GENERIC")
RATIO = ("OR", "RR")
CONTRAST_COLUMNS = ("study", "treatment1", "treatment2", "yi", "se")
MULTIARM_TOL = 1e-3  # netmeta tol.multiarm default
INCREMENT = 0.5  # netmeta pairwise incr default


@dataclass(frozen=True, slots=True)
class Study:
    """One study: its arms (treatment indices, baseline first), the a − 1 contrasts of the other
    arms against the baseline and their sampling covariance."""

    name: str
    arms: tuple[int, ...]
    y: np.ndarray  # (a − 1,)
    v: np.ndarray  # (a − 1, a − 1)
    n: tuple[float | None, ...]  # participants per arm (None when not given)
    rows: tuple[int, ...]  # spreadsheet rows of the study
    corrected: bool = False  # 0.5 added to every cell

    @property
    def design(self) -> tuple[int, ...]:
        return tuple(sorted(self.arms))


@dataclass(frozen=True, slots=True)
class NetworkData:
    """The studies of one network, treatments in a fixed (sorted) order."""

    measure: str
    treatments: tuple[str, ...]
    studies: tuple[Study, ...]
    source: str | None = None
    warnings: tuple[str, ...] = ()
    input_format: str = "arm"

    def components(self) -> list[list[str]]:
        """Connected components of the network graph (treatments joined by a study)."""
        parent = list(range(len(self.treatments)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i
        for s in self.studies:
            for t in s.arms[1:]:
                parent[find(t)] = find(s.arms[0])
        groups: dict[int, list[str]] = {}
        for i, name in enumerate(self.treatments):
            groups.setdefault(find(i), []).append(name)
        return sorted(groups.values(), key=lambda g: (-len(g), g))

    def check_connected(self) -> None:
        """DataError naming the components when the network is not connected."""
        comps = self.components()
        if len(comps) > 1:
            parts = "; ".join("{" + ", ".join(c) + "}" for c in comps)
            raise DataError(f"the network is disconnected: {len(comps)} components that no study "
                            f"joins: {parts}", file=self.source)


def _row(i: int) -> int:
    return i + 2  # row 1 is the header


def _text(frame: pd.DataFrame, col: str, source: str | None) -> list[str]:
    out = []
    for i, raw in enumerate(frame[col]):
        text = "" if pd.isna(raw) else str(raw).strip()
        if not text:
            raise DataError("is empty", file=source, row=_row(i), field=col)
        out.append(text)
    return out


def _numbers(frame: pd.DataFrame, col: str, source: str | None, *, positive: bool = False,
             whole: bool = False) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
    for i, x in enumerate(values):
        raw = frame[col].iloc[i]
        if not np.isfinite(x):
            what = "is empty" if pd.isna(raw) else f"is not a finite number: {raw!r}"
            raise DataError(what, file=source, row=_row(i), field=col)
        if positive and x <= 0:
            raise DataError(f"must be positive, not {raw!r}", file=source, row=_row(i), field=col)
        if whole and (x < 0 or x != np.floor(x)):
            raise DataError(f"must be a whole number >= 0, not {raw!r}", file=source, row=_row(i),
                            field=col)
    return values


def _require(frame: pd.DataFrame, cols: tuple[str, ...], what: str, source: str | None) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)} needed for {what} (have: "
                        f"{', '.join(map(str, frame.columns))})", file=source, field=missing[0])


def network_from_frame(frame: pd.DataFrame, measure: str, *, source: str | None = None
                       ) -> NetworkData:
    """Parse an arm-level or contrast-level table (see the module docstring)."""
    measure = measure.upper()
    if measure not in MEASURES:
        raise DataError(f"unknown measure {measure!r}; expected one of {', '.join(MEASURES)}",
                        file=source)
    if len(frame) == 0:
        raise DataError("the table has no rows", file=source)
    if {"treatment1", "treatment2"} <= set(frame.columns):
        _require(frame, CONTRAST_COLUMNS, "contrast-level data", source)
        return _from_contrasts(frame, measure, source)
    if measure == "GENERIC":
        raise DataError("measure GENERIC needs contrast-level data: columns study, treatment1, "
                        "treatment2, yi, se", file=source)
    cols = ("events", "n") if measure in ("OR", "RR", "RD") else ("mean", "sd", "n")
    _require(frame, ("study", "treatment", *cols), f"arm-level {measure} data", source)
    return _from_arms(frame, measure, cols, source)


def _groups(studies: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, s in enumerate(studies):
        out.setdefault(s, []).append(i)
    return out


def _arm_terms(measure: str, x: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arm-level estimate and variance whose differences are the contrast (additive measures)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            return np.log(x / (n - x)), 1 / x + 1 / (n - x)  # Woolf 1955, per arm
        if measure == "RR":
            return np.log(x / n), 1 / x - 1 / n  # Deeks & Higgins 2010, per arm
        p = x / n
        return p, p * (1 - p) / n  # RD: binomial variance per arm


def _from_arms(frame: pd.DataFrame, measure: str, cols: tuple[str, ...], source: str | None
               ) -> NetworkData:
    studies = _text(frame, "study", source)
    treats = _text(frame, "treatment", source)
    vals = {c: _numbers(frame, c, source, positive=c == "n", whole=c == "events") for c in cols}
    if "sd" in vals:
        bad = np.flatnonzero(vals["sd"] <= 0)
        if bad.size:
            raise DataError("must be positive", file=source, row=_row(int(bad[0])), field="sd")
    if "events" in vals:
        bad = np.flatnonzero(vals["events"] > vals["n"])
        if bad.size:
            raise DataError(f"events ({vals['events'][bad[0]]:g}) exceed n ({vals['n'][bad[0]]:g})",
                            file=source, row=_row(int(bad[0])), field="events")
    names = tuple(sorted(set(treats)))
    index = {t: i for i, t in enumerate(names)}
    out, warnings = [], []
    for study, idx in _groups(studies).items():
        idx = _check_arms(study, idx, treats, source)
        if idx is None:
            warnings.append(f"study {study!r} has one arm only and is left out")
            continue
        order = sorted(idx, key=lambda i: index[treats[i]])
        arms = tuple(index[treats[i]] for i in order)
        n = vals["n"][order]
        if measure in ("MD", "SMD"):
            y, v = _continuous(measure, vals["mean"][order], vals["sd"][order], n)
            corrected = False
        else:
            x = vals["events"][order].copy()
            if measure in RATIO and (np.all(x == 0) or np.all(x == n)):
                warnings.append(f"study {study!r}: {'no' if np.all(x == 0) else 'only'} events in "
                                f"every arm, no information on the {measure} scale; left out")
                continue
            corrected = bool(np.any((x == 0) | (x == n)))
            nn = n + 2 * INCREMENT if corrected else n
            x = x + INCREMENT if corrected else x  # netmeta pairwise: incr to every arm
            est, var = _arm_terms(measure, x, nn)
            y = est[1:] - est[0]
            v = np.diag(var[1:]) + var[0]  # Gleser & Olkin 2009 eq. 19.11: shared-arm covariance
        out.append(Study(study, arms, y, v, tuple(float(t) for t in n),
                         tuple(_row(i) for i in order), corrected))
    return _finish(measure, names, out, source, warnings, "arm")


def _check_arms(study: str, idx: list[int], treats: list[str], source: str | None
                ) -> list[int] | None:
    seen: dict[str, int] = {}
    for i in idx:
        if treats[i] in seen:
            raise DataError(f"study {study!r} has treatment {treats[i]!r} twice (also row "
                            f"{_row(seen[treats[i]])}); combine the arms first", file=source,
                            row=_row(i), field="treatment")
        seen[treats[i]] = i
    return idx if len(idx) >= 2 else None


def _continuous(measure: str, m: np.ndarray, sd: np.ndarray, n: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    if measure == "MD":
        var = sd**2 / n  # variance of an arm mean
        return m[1:] - m[0], np.diag(var[1:]) + var[0]
    big_n = float(n.sum())
    sp = np.sqrt(((n[1:] - 1) * sd[1:] ** 2 + (n[0] - 1) * sd[0] ** 2) / (n[1:] + n[0] - 2))
    g = hedges_correction(n[1:] + n[0] - 2) * (m[1:] - m[0]) / sp  # Hedges 1981, exact J
    v = 1 / n[0] + np.outer(g, g) / (2 * big_n)  # Gleser & Olkin 2009, eq. 19.20
    v[np.diag_indices_from(v)] = 1 / n[1:] + 1 / n[0] + g**2 / (2 * big_n)  # eq. 19.19
    return g, v


def _from_contrasts(frame: pd.DataFrame, measure: str, source: str | None) -> NetworkData:
    studies = _text(frame, "study", source)
    t1, t2 = _text(frame, "treatment1", source), _text(frame, "treatment2", source)
    yi = _numbers(frame, "yi", source)
    se = _numbers(frame, "se", source, positive=True)
    for i, (a, b) in enumerate(zip(t1, t2, strict=True)):
        if a == b:
            raise DataError(f"treatment1 and treatment2 are both {a!r}", file=source, row=_row(i),
                            field="treatment2")
    names = tuple(sorted(set(t1) | set(t2)))
    index = {t: i for i, t in enumerate(names)}
    sizes = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
             for c in ("n1", "n2") if c in frame.columns}
    out = []
    for study, idx in _groups(studies).items():
        out.append(_contrast_study(study, idx, t1, t2, yi, se**2, index, sizes, source))
    return _finish(measure, names, out, source, [], "contrast")


def _contrast_study(study: str, idx: list[int], t1: list[str], t2: list[str], yi: np.ndarray,
                    vi: np.ndarray, index: dict[str, int], sizes: dict[str, np.ndarray],
                    source: str | None) -> Study:
    pairs: dict[tuple[int, int], tuple[float, float, int]] = {}
    n_arm: dict[int, float] = {}
    for i in idx:
        a, b = index[t1[i]], index[t2[i]]
        key, sign = ((a, b), 1.0) if a < b else ((b, a), -1.0)
        if key in pairs:
            raise DataError(f"study {study!r} gives the comparison {t1[i]} vs {t2[i]} twice",
                            file=source, row=_row(i), field="treatment2")
        pairs[key] = (sign * yi[i], vi[i], i)  # effect of the lower index against the higher
        for t, col in ((a, "n1"), (b, "n2")):
            if col in sizes and np.isfinite(sizes[col][i]):
                n_arm[t] = float(sizes[col][i])
    arms = sorted({t for k in pairs for t in k})
    a = len(arms)
    if len(pairs) != a * (a - 1) // 2:
        raise DataError(f"study {study!r} has {a} arms but {len(pairs)} comparisons; a multi-arm "
                        f"study needs all {a * (a - 1) // 2} pairs of its arms", file=source,
                        row=_row(idx[0]), field="treatment1")
    base = arms[0]

    def eff(j: int, k: int) -> tuple[float, float]:  # effect of arm j against arm k, variance
        if j == k:
            return 0.0, 0.0
        y, v, _ = pairs[(min(j, k), max(j, k))]
        return (y if j < k else -y), v
    y = np.array([-eff(base, t)[0] for t in arms[1:]])  # arm t against the baseline
    vb = np.array([eff(base, t)[1] for t in arms[1:]])
    v = np.empty((a - 1, a - 1))
    for j, tj in enumerate(arms[1:]):
        for k, tk in enumerate(arms[1:]):
            y_jk, v_jk = eff(tj, tk)
            v[j, k] = 0.5 * (vb[j] + vb[k] - v_jk)  # polarisation identity
            if j < k and abs(y_jk - (y[j] - y[k])) > MULTIARM_TOL:
                raise DataError(f"study {study!r}: the effects of its arms do not add up "
                                f"({y_jk:g} given, {y[j] - y[k]:g} from the other comparisons; "
                                f"tolerance {MULTIARM_TOL:g})", file=source,
                                row=_row(pairs[(min(tj, tk), max(tj, tk))][2]), field="yi")
    if a > 2 and np.linalg.eigvalsh(v)[0] <= 0:
        raise DataError(f"study {study!r}: the standard errors of its comparisons are not those "
                        "of one multi-arm study (their covariance is not positive definite)",
                        file=source, row=_row(idx[0]), field="se")
    return Study(study, tuple(arms), y, v, tuple(n_arm.get(t) for t in arms),
                 tuple(sorted(_row(i) for i in idx)))


def _finish(measure: str, names: tuple[str, ...], studies: list[Study], source: str | None,
            warnings: list[str], fmt: str) -> NetworkData:
    if not studies:
        raise DataError("no study with two or more arms that can be analysed", file=source)
    used = sorted({t for s in studies for t in s.arms})
    if len(used) < len(names):  # treatments only in studies that were left out
        keep = {old: new for new, old in enumerate(used)}
        names = tuple(names[i] for i in used)
        studies = [Study(s.name, tuple(keep[t] for t in s.arms), s.y, s.v, s.n, s.rows,
                         s.corrected) for s in studies]
    if len(names) < 2:
        raise DataError("a network needs at least two treatments", file=source)
    return NetworkData(measure, names, tuple(studies), source, tuple(warnings), fmt)
