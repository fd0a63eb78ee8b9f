"""Conversions reviewers need while extracting continuous outcome data.

SDs from a standard error, a confidence interval, a t statistic or a P value (Cochrane
Handbook v6 §6.5.2.2–6.5.2.3); mean and SD from a median with the range and/or the IQR (mean:
Luo et al. 2018; SD: Wan et al. 2014); combining two groups (Handbook Table 6.5.a). All
functions are vectorised (arguments broadcast; scalars in give ``float``, arrays give
``ndarray``) and raise :class:`trialsynth.errors.DataError`, a ``ValueError`` naming the
argument, on bad input.

References
----------
Higgins JPT, Li T, Deeks JJ (eds). Chapter 6. Cochrane Handbook for Systematic Reviews of
Interventions v6.x, §6.5.2.
Wan X, Wang W, Liu J, Tong T (2014). BMC Med Res Methodol 14:135.
Luo D, Wan X, Liu J, Tong T (2018). Stat Methods Med Res 27(6):1785–1805.
"""

from __future__ import annotations

from typing import Literal, NoReturn

import numpy as np
from numpy.typing import ArrayLike, NDArray

from trialsynth._dist import norm_ppf, t_isf, t_ppf
from trialsynth.errors import DataError

FloatOrArray = float | NDArray[np.float64]
Distribution = Literal["auto", "t", "normal"]

#: Handbook §6.5.2.2: below this many participants per group a CI should come from a t table.
T_DISTRIBUTION_BELOW = 60


# ---------------------------------------------------------------------------------- helpers
def _fail(field: str, message: str) -> NoReturn:
    err = DataError(message)
    err.field = field  # the argument at fault, for programmatic use
    raise err


def _check(bad: NDArray[np.bool_], field: str, message: str, **shown: NDArray) -> None:
    """Raise if any element of ``bad`` is set, quoting the first offending values."""
    bad = np.asarray(bad)
    if not bad.any():
        return
    idx = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
    values = ", ".join(f"{k}={float(np.broadcast_to(v, bad.shape)[idx]):g}"
                       for k, v in shown.items())
    where = f" at index {idx[0] if len(idx) == 1 else idx}" if idx else ""
    _fail(field, f"{message} (got {values}{where})")


def _arrays(**named: ArrayLike) -> list[NDArray[np.float64]]:
    """Convert to float arrays; reject non-numeric, non-finite and non-broadcastable input."""
    out = []
    for name, value in named.items():
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            _fail(name, f"{name} must be numeric (got {value!r})")
        _check(~np.isfinite(a), name, f"{name} must be finite", **{name: a})
        out.append(a)
    try:
        np.broadcast_shapes(*(a.shape for a in out))
    except ValueError:
        shapes = ", ".join(f"{k}{a.shape}" for k, a in zip(named, out, strict=True))
        _fail(next(iter(named)), f"arguments cannot be broadcast together: {shapes}")
    return out


def _check_n(**ns: NDArray) -> None:
    for name, n in ns.items():
        _check(n < 2, name, f"{name} must be at least 2", **{name: n})


def _check_nonnegative(**xs: NDArray) -> None:
    for name, x in xs.items():
        _check(x < 0, name, f"{name} must be non-negative", **{name: x})


def _check_order(*pairs: tuple[str, NDArray]) -> None:
    """Each named value must not exceed the next one (e.g. minimum ≤ q1 ≤ median)."""
    for (lo_name, lo), (hi_name, hi) in zip(pairs, pairs[1:], strict=False):
        _check(lo > hi, lo_name, f"{lo_name} must not exceed {hi_name}",
               **{lo_name: lo, hi_name: hi})


def _out(x: NDArray) -> FloatOrArray:
    return float(x) if np.ndim(x) == 0 else np.asarray(x, dtype=np.float64)


def _critical_value(level: NDArray, df: NDArray, small: NDArray, distribution: str) -> NDArray:
    """Two-sided critical value for a ``level`` CI: t with ``df`` or standard normal."""
    if distribution not in ("auto", "t", "normal"):
        _fail("distribution",
              f"distribution must be 'auto', 't' or 'normal' (got {distribution!r})")
    _check((level <= 0) | (level >= 1), "level", "level must be strictly between 0 and 1",
           level=level)
    upper = 1 - (1 - level) / 2
    use_t = small if distribution == "auto" else np.asarray(distribution == "t")
    return np.where(use_t, t_ppf(upper, df), norm_ppf(upper))


# ------------------------------------------------------------- SDs from SE, CI, t and P
def sd_from_se(se: ArrayLike, n: ArrayLike) -> FloatOrArray:
    """SD of a group from the standard error of its mean.

    Parameters
    ----------
    se, n : array_like
        Standard error of the group mean (≥ 0) and number of participants (≥ 2).

    Returns
    -------
    float or ndarray
        SD = SE·√n (Cochrane Handbook v6 §6.5.2.2).
    """
    se, n = _arrays(se=se, n=n)
    _check_nonnegative(se=se)
    _check_n(n=n)
    return _out(se * np.sqrt(n))  # Handbook v6 §6.5.2.2: SD = SE × √N


def sd_from_ci(lower: ArrayLike, upper: ArrayLike, n: ArrayLike, level: ArrayLike = 0.95,
               distribution: Distribution = "auto") -> FloatOrArray:
    """SD of a group from a confidence interval of its mean.

    Parameters
    ----------
    lower, upper, n : array_like
        Limits (lower ≤ upper) of the symmetric CI of the mean; group size n ≥ 2.
    level : array_like, default 0.95
        Confidence level, strictly between 0 and 1.
    distribution : {"auto", "t", "normal"}, default "auto"
        Distribution the authors used for the CI. ``"auto"`` follows the Handbook: the t
        distribution with n − 1 df when n < 60, the standard normal otherwise.

    Returns
    -------
    float or ndarray
        SD = √n·(upper − lower)/(2q), q the two-sided critical value (Handbook v6 §6.5.2.2;
        3.92 = 2 × 1.96 for a large-sample 95% CI).
    """
    lower, upper, n, level = _arrays(lower=lower, upper=upper, n=n, level=level)
    _check_order(("lower", lower), ("upper", upper))
    _check_n(n=n)
    q = _critical_value(level, n - 1, n < T_DISTRIBUTION_BELOW, distribution)
    return _out(np.sqrt(n) * (upper - lower) / (2 * q))  # Handbook v6 §6.5.2.2


def sd_from_se_diff(se: ArrayLike, n1: ArrayLike, n2: ArrayLike) -> FloatOrArray:
    """Within-group SD from the standard error of a difference in means (two groups).

    Parameters
    ----------
    se, n1, n2 : array_like
        Standard error of the mean difference (≥ 0); group sizes (≥ 2 each).

    Returns
    -------
    float or ndarray
        SD = SE/√(1/n1 + 1/n2), the SD of each group assuming both groups share it
        (Handbook v6 §6.5.2.3).
    """
    se, n1, n2 = _arrays(se=se, n1=n1, n2=n2)
    _check_nonnegative(se=se)
    _check_n(n1=n1, n2=n2)
    return _out(se / np.sqrt(1 / n1 + 1 / n2))  # Handbook v6 §6.5.2.3: SD = SE/√(1/N_E + 1/N_C)


def sd_from_ci_diff(lower: ArrayLike, upper: ArrayLike, n1: ArrayLike, n2: ArrayLike,
                    level: ArrayLike = 0.95, distribution: Distribution = "auto") -> FloatOrArray:
    """Within-group SD from a confidence interval of a difference in means.

    Parameters
    ----------
    lower, upper, n1, n2 : array_like
        Limits (lower ≤ upper) of the CI of the mean difference; group sizes (≥ 2 each).
    level : array_like, default 0.95
        Confidence level, strictly between 0 and 1.
    distribution : {"auto", "t", "normal"}, default "auto"
        ``"auto"``: t with n1 + n2 − 2 df when either group has fewer than 60 participants,
        standard normal otherwise.

    Returns
    -------
    float or ndarray
        SE = (upper − lower)/(2q), then SD = SE/√(1/n1 + 1/n2) (Handbook v6 §6.5.2.3).
    """
    lower, upper, n1, n2, level = _arrays(lower=lower, upper=upper, n1=n1, n2=n2, level=level)
    _check_order(("lower", lower), ("upper", upper))
    _check_n(n1=n1, n2=n2)
    small = np.minimum(n1, n2) < T_DISTRIBUTION_BELOW
    q = _critical_value(level, n1 + n2 - 2, small, distribution)
    se = (upper - lower) / (2 * q)  # Handbook v6 §6.5.2.3: SE = (upper − lower)/3.92 if large
    return sd_from_se_diff(se, n1, n2)


def sd_from_t(mean_difference: ArrayLike, t: ArrayLike, n1: ArrayLike,
              n2: ArrayLike) -> FloatOrArray:
    """Within-group SD from a two-sample t statistic and the mean difference.

    Parameters
    ----------
    mean_difference, t : array_like
        Difference in means and its (pooled-variance) t statistic (non-zero); signs ignored.
    n1, n2 : array_like
        Group sizes (≥ 2 each).

    Returns
    -------
    float or ndarray
        SE = |MD|/|t|, then SD = SE/√(1/n1 + 1/n2) (Handbook v6 §6.5.2.3).
    """
    md, t, n1, n2 = _arrays(mean_difference=mean_difference, t=t, n1=n1, n2=n2)
    _check(t == 0, "t", "t must be non-zero (the SE of the difference is undefined)", t=t)
    _check_n(n1=n1, n2=n2)
    se = np.abs(md) / np.abs(t)  # Handbook v6 §6.5.2.3: SE = MD / t
    return sd_from_se_diff(se, n1, n2)


def sd_from_p(mean_difference: ArrayLike, p: ArrayLike, n1: ArrayLike, n2: ArrayLike,
              two_sided: bool = True) -> FloatOrArray:
    """Within-group SD from the P value of a two-sample t test and the mean difference.

    Parameters
    ----------
    mean_difference, p, n1, n2 : array_like
        Difference in means; its exact P value in (0, 1) (for "P < 0.05" the Handbook suggests
        the limit 0.05 as a conservative choice); group sizes (≥ 2 each).
    two_sided : bool, default True
        Whether ``p`` is two-sided (the usual report).

    Returns
    -------
    float or ndarray
        t = F⁻¹(1 − p/2) of the t distribution with n1 + n2 − 2 df, then as :func:`sd_from_t`
        (Handbook v6 §6.5.2.3).
    """
    md, p, n1, n2 = _arrays(mean_difference=mean_difference, p=p, n1=n1, n2=n2)
    _check((p <= 0) | (p >= 1), "p", "p must be strictly between 0 and 1", p=p)
    _check_n(n1=n1, n2=n2)
    tail = p / 2 if two_sided else p
    t = t_isf(tail, n1 + n2 - 2)  # Handbook v6 §6.5.2.3: t from P with N_E + N_C − 2 df
    return sd_from_t(md, t, n1, n2)


# ------------------------------------------------ median, range and IQR (Wan 2014, Luo 2018)
def wan_xi(n: ArrayLike) -> FloatOrArray:
    """Expected range of n standard normal values, Blom's approximation used by Wan et al.

    Parameters
    ----------
    n : array_like
        Sample size (≥ 2).

    Returns
    -------
    float or ndarray
        ξ(n) = 2Φ⁻¹((n − 0.375)/(n + 0.25)) (Wan et al. 2014, eqs. 9 and 13; their Table 1
        lists the exact values for n ≤ 50).
    """
    (n,) = _arrays(n=n)
    _check_n(n=n)
    return _out(2 * norm_ppf((n - 0.375) / (n + 0.25)))  # Wan 2014, eq. (9)


def wan_eta(n: ArrayLike) -> FloatOrArray:
    """Expected IQR of n standard normal values, Blom's approximation used by Wan et al.

    Parameters
    ----------
    n : array_like
        Sample size (≥ 2).

    Returns
    -------
    float or ndarray
        η(n) = 2Φ⁻¹((0.75n − 0.125)/(n + 0.25)) (Wan et al. 2014, eqs. 13 and 16; their
        Table 2 lists the exact values for n = 4Q + 1, Q ≤ 50).
    """
    (n,) = _arrays(n=n)
    _check_n(n=n)
    return _out(2 * norm_ppf((0.75 * n - 0.125) / (n + 0.25)))  # Wan 2014, eq. (16)


def sd_from_range(minimum: ArrayLike, maximum: ArrayLike, n: ArrayLike) -> FloatOrArray:
    """SD from the range: scenario {min, median, max} (Wan's C1 = Luo's S1).

    Parameters
    ----------
    minimum, maximum, n : array_like
        Sample minimum ≤ maximum, and size n ≥ 2. Data are assumed roughly normal.

    Returns
    -------
    float or ndarray
        S ≈ (max − min)/ξ(n), ξ(n) = 2Φ⁻¹((n − 0.375)/(n + 0.25)) (Wan et al. 2014, eq. 9).
    """
    a, b, n = _arrays(minimum=minimum, maximum=maximum, n=n)
    _check_order(("minimum", a), ("maximum", b))
    return _out((b - a) / wan_xi(n))  # Wan 2014, eq. (9)


def sd_from_iqr(q1: ArrayLike, q3: ArrayLike, n: ArrayLike) -> FloatOrArray:
    """SD from the interquartile range: scenario {q1, median, q3} (Wan's C3 = Luo's S2).

    Parameters
    ----------
    q1, q3, n : array_like
        First quartile ≤ third quartile, and sample size n ≥ 2.

    Returns
    -------
    float or ndarray
        S ≈ (q3 − q1)/η(n), η(n) = 2Φ⁻¹((0.75n − 0.125)/(n + 0.25)) (Wan et al. 2014,
        eq. 16).
    """
    q1, q3, n = _arrays(q1=q1, q3=q3, n=n)
    _check_order(("q1", q1), ("q3", q3))
    return _out((q3 - q1) / wan_eta(n))  # Wan 2014, eq. (16)


def sd_from_range_iqr(minimum: ArrayLike, q1: ArrayLike, q3: ArrayLike, maximum: ArrayLike,
                      n: ArrayLike) -> FloatOrArray:
    """SD from the five-number summary (Wan's C2 = Luo's S3).

    Parameters
    ----------
    minimum, q1, q3, maximum, n : array_like
        minimum ≤ q1 ≤ q3 ≤ maximum, and sample size n ≥ 2.

    Returns
    -------
    float or ndarray
        S ≈ (max − min)/(2ξ(n)) + (q3 − q1)/(2η(n)) (Wan et al. 2014, eq. 13), ξ and η as in
        :func:`wan_xi` and :func:`wan_eta`.
    """
    a, q1, q3, b, n = _arrays(minimum=minimum, q1=q1, q3=q3, maximum=maximum, n=n)
    _check_order(("minimum", a), ("q1", q1), ("q3", q3), ("maximum", b))
    return _out((b - a) / (2 * wan_xi(n)) + (q3 - q1) / (2 * wan_eta(n)))  # Wan 2014, eq. (13)


def mean_from_range(minimum: ArrayLike, median: ArrayLike, maximum: ArrayLike,
                    n: ArrayLike) -> FloatOrArray:
    """Mean from the median and range (Luo et al. 2018, scenario S1).

    Parameters
    ----------
    minimum, median, maximum, n : array_like
        minimum ≤ median ≤ maximum, and sample size n ≥ 2.

    Returns
    -------
    float or ndarray
        X̄ ≈ w·(min + max)/2 + (1 − w)·median, w = 4/(4 + n^0.75) (Luo et al. 2018).
    """
    a, m, b, n = _arrays(minimum=minimum, median=median, maximum=maximum, n=n)
    _check_order(("minimum", a), ("median", m), ("maximum", b))
    _check_n(n=n)
    w = 4 / (4 + n**0.75)  # Luo 2018, scenario S1 optimal weight
    return _out(w * (a + b) / 2 + (1 - w) * m)  # Luo 2018, scenario S1 estimator


def mean_from_iqr(q1: ArrayLike, median: ArrayLike, q3: ArrayLike, n: ArrayLike) -> FloatOrArray:
    """Mean from the median and quartiles (Luo et al. 2018, scenario S2).

    Parameters
    ----------
    q1, median, q3, n : array_like
        q1 ≤ median ≤ q3, and sample size n ≥ 2.

    Returns
    -------
    float or ndarray
        X̄ ≈ w·(q1 + q3)/2 + (1 − w)·median, w = 0.7 + 0.39/n (Luo et al. 2018).
    """
    q1, m, q3, n = _arrays(q1=q1, median=median, q3=q3, n=n)
    _check_order(("q1", q1), ("median", m), ("q3", q3))
    _check_n(n=n)
    w = 0.7 + 0.39 / n  # Luo 2018, scenario S2 optimal weight
    return _out(w * (q1 + q3) / 2 + (1 - w) * m)  # Luo 2018, scenario S2 estimator


def mean_from_range_iqr(minimum: ArrayLike, q1: ArrayLike, median: ArrayLike, q3: ArrayLike,
                        maximum: ArrayLike, n: ArrayLike) -> FloatOrArray:
    """Mean from the five-number summary (Luo et al. 2018, scenario S3).

    Parameters
    ----------
    minimum, q1, median, q3, maximum, n : array_like
        minimum ≤ q1 ≤ median ≤ q3 ≤ maximum, and sample size n ≥ 2.

    Returns
    -------
    float or ndarray
        X̄ ≈ w1·(min + max)/2 + w2·(q1 + q3)/2 + (1 − w1 − w2)·median with
        w1 = 2.2/(2.2 + n^0.75), w2 = 0.7 − 0.72/n^0.55 (Luo et al. 2018).
    """
    a, q1, m, q3, b, n = _arrays(minimum=minimum, q1=q1, median=median, q3=q3, maximum=maximum,
                                 n=n)
    _check_order(("minimum", a), ("q1", q1), ("median", m), ("q3", q3), ("maximum", b))
    _check_n(n=n)
    w1 = 2.2 / (2.2 + n**0.75)  # Luo 2018, scenario S3 weight of the mid-range
    w2 = 0.7 - 0.72 / n**0.55  # Luo 2018, scenario S3 weight of the mid-quartile range
    return _out(w1 * (a + b) / 2 + w2 * (q1 + q3) / 2 + (1 - w1 - w2) * m)  # Luo 2018, eq. (15)


# ------------------------------------------------------------------------- combining groups
def combine_groups(n1: ArrayLike, mean1: ArrayLike, sd1: ArrayLike, n2: ArrayLike,
                   mean2: ArrayLike, sd2: ArrayLike
                   ) -> tuple[FloatOrArray, FloatOrArray, FloatOrArray]:
    """Combine two groups' summary statistics into one group (Handbook Table 6.5.a).

    Parameters
    ----------
    n1, mean1, sd1, n2, mean2, sd2 : array_like
        Size (≥ 2), mean and SD (≥ 0) of each group.

    Returns
    -------
    (n, mean, sd) : tuple of float or ndarray
        N = N1 + N2; M = (N1·M1 + N2·M2)/N;
        SD = √(((N1−1)SD1² + (N2−1)SD2² + N1·N2/N·(M1² + M2² − 2·M1·M2))/(N − 1)),
        which equals the mean and SD of the pooled raw data (Handbook v6 §6.5.2.10,
        Table 6.5.a). Apply repeatedly to combine more than two groups.
    """
    n1, m1, sd1, n2, m2, sd2 = _arrays(n1=n1, mean1=mean1, sd1=sd1, n2=n2, mean2=mean2, sd2=sd2)
    _check_n(n1=n1, n2=n2)
    _check_nonnegative(sd1=sd1, sd2=sd2)
    n = n1 + n2  # Handbook v6 Table 6.5.a: N = N1 + N2
    mean = (n1 * m1 + n2 * m2) / n  # Handbook v6 Table 6.5.a: M = (N1M1 + N2M2)/(N1 + N2)
    # M1² + M2² − 2·M1·M2 of Table 6.5.a written as (M1 − M2)², which avoids cancellation
    ss = (n1 - 1) * sd1**2 + (n2 - 1) * sd2**2 + n1 * n2 / n * (m1 - m2) ** 2
    return _out(n), _out(mean), _out(np.sqrt(ss / (n - 1)))  # Handbook v6 Table 6.5.a: SD
