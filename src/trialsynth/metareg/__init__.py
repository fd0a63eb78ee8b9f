"""Meta-regression on study-level covariates, as metafor's ``rma(yi, vi, mods = ~ ...)``.

Defaults: τ² by REML with the Knapp–Hartung t and F tests (``test="knha"``), the choice
issue 6 asks for and that Knapp & Hartung 2003 and the Cochrane Handbook v6.4 §10.11.4 favour
for few studies; metafor's own default test is ``"z"``, available here too. Categorical
covariates are coded with treatment contrasts against their first level in sorted order (R's
``factor()``), or against ``reference[name]``. Studies with a missing covariate are left out and
listed. Pure functions: numbers in, a frozen :class:`MetaRegression` out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from trialsynth._json import finite
from trialsynth.errors import DataError
from trialsynth.metareg.kernel import METHODS, TESTS, MetaRegBatch, metareg_arrays, r2_metareg


@dataclass(frozen=True, slots=True)
class Coefficient:
    """One model coefficient: estimate, SE, test and CI (t on ``df`` for knha, else z)."""

    name: str
    estimate: float | None
    se: float | None
    statistic: float | None
    pvalue: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "estimate": self.estimate, "se": self.se,
                "statistic": self.statistic, "pvalue": self.pvalue, "ci_low": self.ci_low,
                "ci_high": self.ci_high}


@dataclass(frozen=True, slots=True)
class MetaRegression:
    """A fitted meta-regression (metafor ``rma.uni`` with ``mods``).

    ``qm`` is the omnibus test of the moderators: χ² on ``qm_df[0]`` df (test z) or F on
    (``qm_df[0]``, ``qm_df[1]``) (knha). ``qe`` tests residual heterogeneity (χ², k − p df).
    ``r2`` is the percentage of τ² accounted for by the moderators (None without moderators).
    """

    k: int
    method: str
    test: str
    covariates: tuple[str, ...]
    coefficients: tuple[Coefficient, ...]
    df: float | None
    tau2: float | None
    i2: float | None
    h2: float | None
    r2: float | None
    qm: float | None
    qm_df: tuple[int, ...]
    qm_pvalue: float | None
    qe: float | None
    qe_df: int
    qe_pvalue: float | None
    converged: bool
    dropped: tuple[str, ...] = ()
    skipped_reason: str | None = None
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def tau(self) -> float | None:
        return None if self.tau2 is None else math.sqrt(self.tau2)

    def coefficient(self, name: str) -> Coefficient:
        for c in self.coefficients:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k, "method": self.method, "test": self.test,
            "covariates": list(self.covariates),
            "coefficients": [c.to_dict() for c in self.coefficients], "df": self.df,
            "tau2": self.tau2, "tau": self.tau, "i2": self.i2, "h2": self.h2, "r2": self.r2,
            "qm": self.qm, "qm_df": list(self.qm_df), "qm_pvalue": self.qm_pvalue,
            "qe": self.qe, "qe_df": self.qe_df, "qe_pvalue": self.qe_pvalue,
            "converged": self.converged, "dropped": list(self.dropped),
            "skipped_reason": self.skipped_reason,
            "levels": {k: list(v) for k, v in self.levels.items()},
        }


def _is_missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or (isinstance(x, str) and not x.strip())


def _numeric(values: Sequence[Any]) -> bool:
    for x in values:
        if _is_missing(x):
            continue
        if isinstance(x, bool | np.bool_) or isinstance(x, str):
            return False
        try:
            float(x)
        except (TypeError, ValueError):
            return False
    return True


def design_matrix(mods: Mapping[str, Sequence[Any]], *, categorical: Sequence[str] = (),
                  reference: Mapping[str, str] | None = None, source: str | None = None
                  ) -> tuple[np.ndarray, tuple[str, ...], np.ndarray, dict[str, tuple[str, ...]]]:
    """Intercept plus one column per numeric covariate and treatment-coded dummies per categorical
    one (R ``model.matrix(~ x + factor(f))``). Returns X, column names, the rows without missing
    values, and the levels of each categorical covariate (reference first)."""
    reference = dict(reference or {})
    names = list(mods)
    if not names:
        raise DataError("meta-regression needs at least one covariate", file=source)
    n = len(next(iter(mods.values())))
    complete = np.ones(n, dtype=bool)
    for name in names:
        col = list(mods[name])
        if len(col) != n:
            raise DataError(f"covariate {name!r} has {len(col)} values, expected {n}", file=source,
                            field=name)
        complete &= np.array([not _is_missing(x) for x in col], dtype=bool)
    columns: list[np.ndarray] = [np.ones(n)]
    labels = ["intercept"]
    levels: dict[str, tuple[str, ...]] = {}
    for name in names:
        col = list(mods[name])
        if name not in categorical and _numeric(col):
            columns.append(np.array([np.nan if _is_missing(x) else float(x) for x in col]))
            labels.append(name)
            continue
        text = [None if _is_missing(x) else str(x) for x in col]
        lev = sorted({t for t, ok in zip(text, complete, strict=True) if ok and t is not None})
        if name in reference:
            if reference[name] not in lev:
                raise DataError(f"reference level {reference[name]!r} not among the values of "
                                f"{name!r} ({', '.join(lev)})", file=source, field=name)
            lev.remove(reference[name])
            lev.insert(0, reference[name])
        levels[name] = tuple(lev)
        for level in lev[1:]:  # treatment contrasts against the first level (R contr.treatment)
            columns.append(np.array([1.0 if t == level else 0.0 for t in text]))
            labels.append(f"{name}[{level}]")
    return np.column_stack(columns), tuple(labels), complete, levels


def meta_regression(yi: ArrayLike, vi: ArrayLike, mods: Mapping[str, Sequence[Any]], *,
                    method: str = "REML", test: str = "knha", categorical: Sequence[str] = (),
                    reference: Mapping[str, str] | None = None, labels: Sequence[str] | None = None,
                    confidence_level: float = 0.95, source: str | None = None) -> MetaRegression:
    """Fit a meta-regression of ``yi`` (sampling variances ``vi``) on the covariates ``mods``.

    ``method``: ``REML`` (default), ``ML``, ``DL`` or ``FE``/``IV`` (common effect, metafor "EE");
    ``test``: ``knha`` (default; Knapp & Hartung 2003), ``adhoc`` or ``z`` (metafor's default).
    """
    method, test = method.upper(), test.lower()
    if method in ("EE", "IV", "CE"):  # common effect: metafor "EE"/"FE", trialsynth "IV"
        method = "FE"
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}",
                        file=source, field="method")
    if test not in TESTS:
        raise DataError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}", file=source,
                        field="test")
    y = np.asarray(yi, dtype=np.float64)
    v = np.asarray(vi, dtype=np.float64)
    X, names, complete, levels = design_matrix(mods, categorical=categorical, reference=reference,
                                               source=source)
    if len(y) != len(X) or len(v) != len(X):
        raise DataError(f"yi, vi and covariates differ in length ({len(y)}, {len(v)}, {len(X)})",
                        file=source)
    ok = complete & np.isfinite(y) & np.isfinite(v) & (v > 0)
    study = list(labels) if labels is not None else [f"study {i + 1}" for i in range(len(y))]
    dropped = tuple(s for s, keep in zip(study, ok, strict=True) if not keep)
    X, y, v = X[ok], y[ok], v[ok]
    # a dummy column that is all zero (a level only among the dropped studies) cannot be estimated
    k, p = len(y), X.shape[1]
    base = {"k": k, "method": method, "test": test, "covariates": tuple(mods), "df": None,
            "tau2": None, "i2": None, "h2": None, "r2": None, "qm": None, "qm_df": (p - 1,),
            "qm_pvalue": None, "qe": None, "qe_df": k - p, "qe_pvalue": None, "converged": False,
            "dropped": dropped, "levels": levels}
    if k <= p or np.linalg.matrix_rank(X) < p:
        reason = (f"{k} studies for {p} coefficients: a meta-regression needs more studies than "
                  "coefficients" if k <= p else "the covariates are collinear in these studies")
        return MetaRegression(**base, coefficients=(), skipped_reason=reason)
    g = np.zeros(k, dtype=np.intp)
    fit: MetaRegBatch = metareg_arrays(y, v, X, g, 1, method=method, test=test,
                                       confidence_level=confidence_level)
    r2 = r2_metareg(y, v, X, g, 1, method, fit.tau2)[0]
    coefs = tuple(Coefficient(name=nm, estimate=finite(fit.beta[0, j]), se=finite(fit.se[0, j]),
                              statistic=finite(fit.statistic[0, j]), pvalue=finite(fit.pvalue[0, j]),
                              ci_low=finite(fit.ci_low[0, j]), ci_high=finite(fit.ci_high[0, j]))
                  for j, nm in enumerate(names))
    base.update(df=finite(fit.df[0]), tau2=None if method == "FE" else finite(fit.tau2[0]),
                i2=finite(fit.i2[0]), h2=finite(fit.h2[0]), r2=finite(r2), qm=finite(fit.qm[0]),
                qm_df=(p - 1,) if test == "z" else (p - 1, k - p), qm_pvalue=finite(fit.qm_pvalue[0]),
                qe=finite(fit.qe[0]), qe_pvalue=finite(fit.qe_pvalue[0]), converged=bool(fit.converged[0]))
    return MetaRegression(**base, coefficients=coefs)


__all__ = ["Coefficient", "MetaRegBatch", "MetaRegression", "design_matrix", "meta_regression",
           "metareg_arrays"]
