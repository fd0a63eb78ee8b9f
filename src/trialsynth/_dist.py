"""Normal, t, chi-squared and F tail probabilities and quantiles from :mod:`scipy.special`.

``scipy.stats`` computes these with the same special functions (``ndtr``, ``ndtri``, ``stdtr``,
``stdtrit``, ``chdtr``, ``chdtrc``, ``chdtri``, ``fdtrc``) but takes about a second to import
and tens of microseconds of argument checking per call; every ``trialsynth`` command pays the
first and the report pays the second thousands of times. These wrappers return what
``scipy.stats`` returns, edge cases included (NaN for an invalid parameter or probability,
support limits at 0 and 1), which ``tests/test_dist.py`` checks against ``scipy.stats`` itself.
Scalars in give NumPy scalars out, arrays give arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special as sc

__all__ = ["chi2_cdf", "chi2_isf", "chi2_ppf", "chi2_sf", "f_sf", "norm_cdf", "norm_isf", "norm_ppf",
           "norm_sf", "t_isf", "t_ppf", "t_sf"]


def _out(x: np.ndarray) -> Any:
    return x[()] if x.ndim == 0 else x


def _prob(q: Any) -> np.ndarray:
    """Probabilities outside [0, 1] are NaN (as scipy.stats returns)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where((q >= 0) & (q <= 1), q, np.nan)


def _df(df: Any) -> np.ndarray:
    """Degrees of freedom must be > 0 (scipy.stats: NaN otherwise)."""
    df = np.asarray(df, dtype=np.float64)
    return np.where(df > 0, df, np.nan)


def norm_cdf(x: Any) -> Any:
    return _out(np.asarray(sc.ndtr(np.asarray(x, dtype=np.float64))))


def norm_sf(x: Any) -> Any:
    return _out(np.asarray(sc.ndtr(-np.asarray(x, dtype=np.float64))))


def norm_ppf(q: Any) -> Any:
    return _out(np.asarray(sc.ndtri(_prob(q))))


def norm_isf(q: Any) -> Any:
    return _out(np.asarray(-sc.ndtri(_prob(q))))


def t_sf(x: Any, df: Any) -> Any:
    """Upper tail of Student's t (df = inf: the normal)."""
    x, df = np.broadcast_arrays(np.asarray(x, dtype=np.float64), _df(df))
    with np.errstate(invalid="ignore"):
        out = np.where(np.isinf(df), sc.ndtr(-x), sc.stdtr(np.where(np.isinf(df), 1.0, df), -x))
    return _out(np.where(np.isnan(df), np.nan, out))


def t_ppf(q: Any, df: Any) -> Any:
    q, df = np.broadcast_arrays(_prob(q), _df(df))
    with np.errstate(invalid="ignore"):
        out = np.where(np.isinf(df), sc.ndtri(q), sc.stdtrit(np.where(np.isinf(df), 1.0, df), q))
    # the support limits, as scipy.stats gives them (stdtrit(df, 0) is +inf)
    out = np.where(q == 0, -np.inf, np.where(q == 1, np.inf, out))
    return _out(np.where(np.isnan(df) | np.isnan(q), np.nan, out))


def t_isf(q: Any, df: Any) -> Any:
    return _out(-np.asarray(t_ppf(q, df)))


def chi2_sf(x: Any, df: Any) -> Any:
    x, df = np.broadcast_arrays(np.asarray(x, dtype=np.float64), _df(df))
    with np.errstate(invalid="ignore"):
        out = sc.chdtrc(np.where(np.isfinite(df), df, 1.0), np.maximum(x, 0.0))
    out = np.where(np.isinf(df), np.where(np.isinf(x) & (x > 0), 0.0, 1.0), out)
    out = np.where(x < 0, 1.0, out)
    return _out(np.where(np.isnan(df) | np.isnan(x), np.nan, out))


def chi2_cdf(x: Any, df: Any) -> Any:
    x, df = np.broadcast_arrays(np.asarray(x, dtype=np.float64), _df(df))
    with np.errstate(invalid="ignore"):
        out = sc.chdtr(np.where(np.isfinite(df), df, 1.0), np.maximum(x, 0.0))
    out = np.where(np.isinf(df), np.where(np.isinf(x) & (x > 0), 1.0, 0.0), out)
    out = np.where(x < 0, 0.0, out)
    return _out(np.where(np.isnan(df) | np.isnan(x), np.nan, out))


def chi2_isf(q: Any, df: Any) -> Any:
    q, df = np.broadcast_arrays(_prob(q), _df(df))
    with np.errstate(invalid="ignore"):
        out = sc.chdtri(np.where(np.isfinite(df), df, 1.0), q)
    out = np.where(np.isinf(df), np.nan, out)
    out = np.where(q == 0, np.inf, np.where(q == 1, 0.0, out))
    return _out(np.where(np.isnan(df) | np.isnan(q), np.nan, out))


def chi2_ppf(q: Any, df: Any) -> Any:
    """Lower quantile: 2·P⁻¹(df/2, q), the inverse regularised lower incomplete gamma (the
    chi-squared is a gamma with shape df/2 and scale 2; scipy.stats computes it this way)."""
    q, df = np.broadcast_arrays(_prob(q), _df(df))
    with np.errstate(invalid="ignore"):
        out = 2 * sc.gammaincinv(np.where(np.isfinite(df), df, 2.0) / 2, q)
    out = np.where(np.isinf(df), np.nan, out)
    out = np.where(q == 0, 0.0, np.where(q == 1, np.inf, out))
    return _out(np.where(np.isnan(df) | np.isnan(q), np.nan, out))


def f_sf(x: Any, dfn: Any, dfd: Any) -> Any:
    x, dfn, dfd = np.broadcast_arrays(np.asarray(x, dtype=np.float64), _df(dfn), _df(dfd))
    with np.errstate(invalid="ignore"):
        out = sc.fdtrc(np.where(np.isfinite(dfn), dfn, 1.0), np.where(np.isfinite(dfd), dfd, 1.0),
                       np.maximum(x, 0.0))
    out = np.where(x < 0, 1.0, out)
    bad = np.isnan(dfn) | np.isnan(dfd) | np.isnan(x) | np.isinf(dfn) | np.isinf(dfd)
    return _out(np.where(bad, np.nan, out))
