"""Tests for trialsynth.effects.conversions.

Every numeric expectation below is either a number printed in a publication (cited in a
comment next to it) or comes from an independent computation on raw data (scipy.stats,
numpy) for which the conversion is an exact identity. Where only approximate properties can
be checked, the data are SIMULATED from a normal distribution with a fixed seed and labelled
as such.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from trialsynth.effects import conversions as cv
from trialsynth.errors import DataError

# ----------------------------------------------------------------------------------------
# Published worked examples: Cochrane Handbook.
# The worked examples were read in Handbook v5.1 §7.7.3.2-7.7.3.3 (the same text is carried
# into v6 §6.5.2.2-6.5.2.3).
# ----------------------------------------------------------------------------------------


def test_ci_of_mean_small_sample_uses_t_with_n_minus_1_df():
    # Handbook v5.1 §7.7.3.2 / v6 §6.5.2.2: for a group of 25 the t value is
    # tinv(1-0.95, 25-1) = 2.0639, so the divisor 3.92 becomes 2 x 2.0639 = 4.128.
    # A CI 4.128 wide therefore gives SD = sqrt(25) * 4.128 / 4.128 = 5.
    assert cv.sd_from_ci(10.0, 14.128, 25) == pytest.approx(5.0, rel=1e-4)
    assert cv.sd_from_ci(10.0, 14.128, 25, distribution="t") == pytest.approx(5.0, rel=1e-4)


@pytest.mark.parametrize(
    ("level", "divisor"),
    # Handbook v5.1 §7.7.3.2 / v6 §6.5.2.2: a large-sample 95% CI is 3.92 SEs wide; replace
    # 3.92 by 3.29 for a 90% CI and by 5.15 for a 99% CI.
    [(0.95, 3.92), (0.90, 3.29), (0.99, 5.15)],
)
def test_ci_of_mean_large_sample_divisors(level, divisor):
    # n = 100: SD = sqrt(100) * divisor / divisor = 10 (published divisors have 3 digits).
    assert cv.sd_from_ci(0.0, divisor, 100, level=level) == pytest.approx(10.0, rel=1e-3)
    assert cv.sd_from_ci(0.0, divisor, 100, level=level, distribution="normal") == pytest.approx(
        10.0, rel=1e-3
    )


def test_ci_of_mean_distribution_default_switches_at_60():
    # Handbook §6.5.2.2: t distribution if a group has fewer than 60 participants.
    assert cv.sd_from_ci(0.0, 3.92, 60) == pytest.approx(math.sqrt(60), rel=1e-3)
    normal_59 = cv.sd_from_ci(0.0, 3.92, 59, distribution="normal")
    assert normal_59 == pytest.approx(math.sqrt(59), rel=1e-3)
    assert cv.sd_from_ci(0.0, 3.92, 59) < normal_59  # t quantile is larger, so SD is smaller


# Handbook v5.1 §7.7.3.3 / v6 §6.5.2.3 worked example: experimental n = 25, control n = 22,
# difference in means 3.8, P = 0.008. The t value with 25 + 22 - 2 = 45 df is
# tinv(0.008, 45) = 2.78 and the SE of the difference is 3.8 / 2.78 = 1.37.
HB_MD, HB_P, HB_N1, HB_N2, HB_T, HB_SE = 3.8, 0.008, 25, 22, 2.78, 1.37


def test_handbook_p_value_example_reproduces_published_se():
    sd = cv.sd_from_p(HB_MD, HB_P, HB_N1, HB_N2)
    se = sd * math.sqrt(1 / HB_N1 + 1 / HB_N2)  # undo the published SE -> SD step
    assert se == pytest.approx(HB_SE, abs=0.005)  # published to 2 decimals


def test_handbook_t_value_example_reproduces_published_se():
    sd = cv.sd_from_t(HB_MD, HB_T, HB_N1, HB_N2)
    assert sd * math.sqrt(1 / HB_N1 + 1 / HB_N2) == pytest.approx(HB_SE, abs=0.005)
    # negative t (control minus experimental) gives the same SD
    assert cv.sd_from_t(-HB_MD, -HB_T, HB_N1, HB_N2) == pytest.approx(sd)


def test_handbook_p_to_t_conversion_matches_published_t():
    # sd_from_p must use the t value 2.78 the Handbook derives from P = 0.008 with 45 df.
    via_p = cv.sd_from_p(HB_MD, HB_P, HB_N1, HB_N2)
    via_t = cv.sd_from_t(HB_MD, HB_T, HB_N1, HB_N2)
    assert via_p == pytest.approx(via_t, rel=2e-3)  # 2.78 is rounded to 2 decimals
    one_sided = cv.sd_from_p(HB_MD, HB_P / 2, HB_N1, HB_N2, two_sided=False)
    assert one_sided == pytest.approx(via_p, rel=1e-12)


# ----------------------------------------------------------------------------------------
# Exact identities on raw data (independent implementations in scipy / numpy).
# ----------------------------------------------------------------------------------------
values = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
samples = st.lists(values, min_size=2, max_size=40)
levels = st.floats(min_value=0.5, max_value=0.999)


def _spread_ok(x: np.ndarray) -> bool:
    return np.std(x) > 1e-3 * max(1.0, np.max(np.abs(x)))


@given(samples)
def test_sd_from_se_inverts_scipy_sem(data):
    x = np.array(data)
    assert cv.sd_from_se(stats.sem(x), x.size) == pytest.approx(np.std(x, ddof=1), rel=1e-9,
                                                                 abs=1e-9)


@given(samples, levels)
def test_sd_from_ci_inverts_scipy_t_interval(data, level):
    x = np.array(data)
    assume(_spread_ok(x))
    lo, hi = stats.t.interval(level, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    got = cv.sd_from_ci(lo, hi, x.size, level=level, distribution="t")
    assert got == pytest.approx(np.std(x, ddof=1), rel=1e-8)


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float:
    ss = (x.size - 1) * np.var(x, ddof=1) + (y.size - 1) * np.var(y, ddof=1)
    return math.sqrt(ss / (x.size + y.size - 2))


@settings(max_examples=150)
@given(samples, samples, levels)
def test_two_group_conversions_invert_scipy_ttest(data1, data2, level):
    x, y = np.array(data1), np.array(data2)
    assume(_spread_ok(x) and _spread_ok(y))
    res = stats.ttest_ind(x, y, equal_var=True)
    md = x.mean() - y.mean()
    assume(abs(res.statistic) > 1e-3 and 1e-12 < res.pvalue < 1 - 1e-9)
    sp = _pooled_sd(x, y)
    assert cv.sd_from_t(md, res.statistic, x.size, y.size) == pytest.approx(sp, rel=1e-7)
    assert cv.sd_from_p(md, res.pvalue, x.size, y.size) == pytest.approx(sp, rel=1e-5)
    ci = res.confidence_interval(confidence_level=level)
    got = cv.sd_from_ci_diff(ci.low, ci.high, x.size, y.size, level=level, distribution="t")
    assert got == pytest.approx(sp, rel=1e-8)
    se = sp * math.sqrt(1 / x.size + 1 / y.size)
    assert cv.sd_from_se_diff(se, x.size, y.size) == pytest.approx(sp, rel=1e-12)


def test_ci_of_difference_large_sample_divisor():
    # Handbook v6 §6.5.2.3: for a large trial SE = (upper - lower) / 3.92; 100 per group:
    # SE = 1 and SD = 1 / sqrt(1/100 + 1/100) = sqrt(50).
    assert cv.sd_from_ci_diff(0.0, 3.92, 100, 100) == pytest.approx(math.sqrt(50), rel=1e-3)
    # with fewer than 60 in a group the default is t with n1 + n2 - 2 df: a smaller SD
    assert cv.sd_from_ci_diff(0.0, 3.92, 59, 100) < cv.sd_from_ci_diff(
        0.0, 3.92, 59, 100, distribution="normal"
    )


@settings(max_examples=200)
@given(samples, samples)
def test_combine_groups_equals_pooled_raw_data(data1, data2):
    # Handbook Table 6.5.a must give the mean and SD of the concatenated raw data.
    x, y = np.array(data1), np.array(data2)
    n, mean, sd = cv.combine_groups(x.size, x.mean(), np.std(x, ddof=1),
                                    y.size, y.mean(), np.std(y, ddof=1))
    both = np.concatenate([x, y])
    assert n == both.size
    assert mean == pytest.approx(both.mean(), rel=1e-9, abs=1e-9)
    assert sd == pytest.approx(np.std(both, ddof=1), rel=1e-7, abs=1e-7)


def test_combine_groups_is_vectorised_and_chains():
    rng = np.random.default_rng(7)  # SIMULATED raw data
    groups = [rng.normal(size=k) for k in (5, 8, 13)]
    n, m, s = groups[0].size, groups[0].mean(), groups[0].std(ddof=1)
    for g in groups[1:]:
        n, m, s = cv.combine_groups(n, m, s, g.size, g.mean(), g.std(ddof=1))
    allx = np.concatenate(groups)
    assert (n, m, s) == pytest.approx((allx.size, allx.mean(), allx.std(ddof=1)))
    out = cv.combine_groups([5, 6], [1.0, 2.0], [1.0, 1.5], 7, 3.0, [2.0, 0.5])
    assert all(isinstance(o, np.ndarray) and o.shape == (2,) for o in out)


# ----------------------------------------------------------------------------------------
# Wan et al. 2014: published tables of xi(n) and eta(n).
# ----------------------------------------------------------------------------------------
# Wan et al. 2014, BMC Med Res Methodol 14:135, Table 1 "Values of xi(n) in the formula (7)
# and the formula (12) for n <= 50" (exact expected ranges), n = 1 ... 50; checked against the
# journal's table page https://bmcmedresmethodol.biomedcentral.com/articles/10.1186/1471-2288-14-135/tables/1
WAN_TABLE_1 = [
    0.000, 1.128, 1.693, 2.059, 2.326, 2.534, 2.704, 2.847, 2.970, 3.078,
    3.173, 3.259, 3.336, 3.407, 3.472, 3.532, 3.588, 3.640, 3.689, 3.735,
    3.778, 3.819, 3.858, 3.895, 3.931, 3.964, 3.997, 4.027, 4.057, 4.086,
    4.113, 4.139, 4.165, 4.189, 4.213, 4.236, 4.259, 4.280, 4.301, 4.322,
    4.341, 4.361, 4.379, 4.398, 4.415, 4.433, 4.450, 4.466, 4.482, 4.498,
]
# Wan et al. 2014, Table 2: eta(n) for n = 4Q + 1, Q = 1 ... 50 (as transcribed in the R
# package meta, option "Wan2014.Table2").
WAN_TABLE_2 = [
    0.990, 1.144, 1.206, 1.239, 1.260, 1.274, 1.284, 1.292, 1.298, 1.303,
    1.307, 1.311, 1.313, 1.316, 1.318, 1.320, 1.322, 1.323, 1.324, 1.326,
    1.327, 1.328, 1.329, 1.330, 1.330, 1.331, 1.332, 1.332, 1.333, 1.333,
    1.334, 1.334, 1.335, 1.335, 1.336, 1.336, 1.336, 1.337, 1.337, 1.337,
    1.338, 1.338, 1.338, 1.338, 1.339, 1.339, 1.339, 1.339, 1.339, 1.340,
]


def test_wan_xi_approximates_published_table_1():
    n = np.arange(2, 51)
    rel = np.asarray(cv.wan_xi(n)) / np.array(WAN_TABLE_1[1:]) - 1
    # Blom's approximation is within 5% at n = 2 and within 0.5% from n = 10 on.
    assert np.all(np.abs(rel) < 0.05)
    assert np.all(np.abs(rel[n >= 10]) < 0.005)


def test_wan_eta_approximates_published_table_2():
    n = 4 * np.arange(1, 51) + 1
    rel = np.asarray(cv.wan_eta(n)) / np.array(WAN_TABLE_2) - 1
    assert np.all(np.abs(rel) < 0.005)


def test_wan_sd_with_table_values_for_unit_range():
    # Range (or IQR) equal to the tabulated expected value of a standard normal sample
    # should give SD close to 1 (Wan 2014 eqs. 7, 12, 15 with Tables 1-2).
    q, n = 10, 41
    xi, eta = WAN_TABLE_1[n - 1], WAN_TABLE_2[q - 1]
    assert cv.sd_from_range(-xi / 2, xi / 2, n) == pytest.approx(1.0, abs=0.005)
    assert cv.sd_from_iqr(-eta / 2, eta / 2, n) == pytest.approx(1.0, abs=0.005)
    assert cv.sd_from_range_iqr(-xi / 2, -eta / 2, eta / 2, xi / 2, n) == pytest.approx(
        1.0, abs=0.005
    )


# ----------------------------------------------------------------------------------------
# Median-based estimators: properties on SIMULATED normal data and invariances.
# ----------------------------------------------------------------------------------------
def _simulated_summaries(q: int, reps: int = 3000, seed: int = 2014):
    """SIMULATED N(50, 10²) samples of size n = 4Q + 1 and their five-number summaries."""
    n = 4 * q + 1
    x = np.sort(np.random.default_rng(seed).normal(50, 10, size=(reps, n)), axis=1)
    return n, x, (x[:, 0], x[:, q], x[:, 2 * q], x[:, 3 * q], x[:, -1])


@pytest.mark.parametrize("q", [5, 25, 100])
def test_wan_sd_estimators_nearly_unbiased_on_simulated_normal_data(q):
    n, x, (a, q1, _m, q3, b) = _simulated_summaries(q)
    sd = x.std(axis=1, ddof=1)
    for est in (cv.sd_from_range(a, b, n), cv.sd_from_iqr(q1, q3, n),
                cv.sd_from_range_iqr(a, q1, q3, b, n)):
        assert np.mean(est / sd) == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("q", [5, 25, 100])
def test_luo_means_beat_their_ingredients_on_simulated_normal_data(q):
    # Luo et al. 2018 choose the weights to minimise the error against the sample mean; on
    # normal data each estimator must beat the median and the mid-summaries it combines.
    n, x, (a, q1, m, q3, b) = _simulated_summaries(q)
    xbar = x.mean(axis=1)

    def rmse(est):
        return float(np.sqrt(np.mean((est - xbar) ** 2)))

    s1 = cv.mean_from_range(a, m, b, n)
    s2 = cv.mean_from_iqr(q1, m, q3, n)
    s3 = cv.mean_from_range_iqr(a, q1, m, q3, b, n)
    assert rmse(s1) < min(rmse(m), rmse((a + b) / 2))
    assert rmse(s2) < min(rmse(m), rmse((q1 + q3) / 2))
    assert rmse(s3) < min(rmse(s1), rmse(s2))
    for est in (s1, s2, s3):
        assert abs(np.mean(est - xbar)) < 0.02 * 10  # no systematic bias


ordered5 = st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=5, max_size=5).map(sorted)
sizes = st.integers(min_value=2, max_value=10_000)
scales = st.floats(min_value=1e-3, max_value=1e3)


@given(ordered5, sizes, scales, st.floats(-1e4, 1e4))
def test_median_based_estimators_are_location_scale_equivariant(five, n, scale, shift):
    a, q1, m, q3, b = five
    t = [scale * v + shift for v in five]
    tol = {"rel": 1e-9, "abs": 1e-6 * scale * (1 + max(map(abs, five))) + 1e-6 * abs(shift)}
    for mean_fn, args in ((cv.mean_from_range, (0, 2, 4)), (cv.mean_from_iqr, (1, 2, 3)),
                          (cv.mean_from_range_iqr, (0, 1, 2, 3, 4))):
        got = mean_fn(*[t[i] for i in args], n)
        assert got == pytest.approx(scale * mean_fn(*[five[i] for i in args], n) + shift, **tol)
    for sd_fn, args in ((cv.sd_from_range, (0, 4)), (cv.sd_from_iqr, (1, 3)),
                        (cv.sd_from_range_iqr, (0, 1, 3, 4))):
        got = sd_fn(*[t[i] for i in args], n)
        assert got == pytest.approx(scale * sd_fn(*[five[i] for i in args], n), **tol)


@given(st.floats(-1e3, 1e3), st.floats(0, 1e3), st.floats(0, 1e3), sizes)
def test_symmetric_summaries_give_the_median(m, half_iqr, extra, n):
    a, q1, q3, b = m - half_iqr - extra, m - half_iqr, m + half_iqr, m + half_iqr + extra
    assert cv.mean_from_range(a, m, b, n) == pytest.approx(m, abs=1e-9)
    assert cv.mean_from_iqr(q1, m, q3, n) == pytest.approx(m, abs=1e-9)
    assert cv.mean_from_range_iqr(a, q1, m, q3, b, n) == pytest.approx(m, abs=1e-9)


# ----------------------------------------------------------------------------------------
# Vectorisation and return types.
# ----------------------------------------------------------------------------------------
def test_scalars_give_float_and_arrays_give_elementwise_arrays():
    assert isinstance(cv.sd_from_se(2.0, 25), float)
    lo, hi, n = np.array([1.0, 2.0, 0.0]), np.array([3.0, 2.5, 1.0]), np.array([10, 70, 30])
    got = cv.sd_from_ci(lo, hi, n)
    assert isinstance(got, np.ndarray) and got.shape == (3,)
    expected = [cv.sd_from_ci(lo[i], hi[i], n[i]) for i in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    got = cv.sd_from_p([3.8, 1.0], [0.008, 0.2], [25, 40], 22)
    np.testing.assert_allclose(got, [cv.sd_from_p(3.8, 0.008, 25, 22),
                                     cv.sd_from_p(1.0, 0.2, 40, 22)], rtol=1e-14)


# ----------------------------------------------------------------------------------------
# Error messages name the argument and the problem.
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: cv.sd_from_se(1.0, 1), r"n must be at least 2 \(got n=1\)"),
        (lambda: cv.sd_from_se(-0.5, 10), r"se must be non-negative \(got se=-0.5\)"),
        (lambda: cv.sd_from_ci(5, 4, 10), r"lower must not exceed upper \(got lower=5, upper=4\)"),
        (lambda: cv.sd_from_ci(1, 2, 10, level=1.5), r"level must be strictly between 0 and 1"),
        (lambda: cv.sd_from_ci(1, 2, 10, distribution="z"), r"distribution must be 'auto'"),
        (lambda: cv.sd_from_ci_diff(1, 2, 10, 1), r"n2 must be at least 2"),
        (lambda: cv.sd_from_t(1.0, 0.0, 10, 10), r"t must be non-zero"),
        (lambda: cv.sd_from_p(1.0, 0.0, 10, 10), r"p must be strictly between 0 and 1"),
        (lambda: cv.sd_from_p(1.0, 1.0, 10, 10), r"p must be strictly between 0 and 1"),
        (lambda: cv.sd_from_se_diff(-1, 10, 10), r"se must be non-negative"),
        (lambda: cv.sd_from_range(9, 1, 10), r"minimum must not exceed maximum"),
        (lambda: cv.sd_from_iqr(5, 4, 10), r"q1 must not exceed q3 \(got q1=5, q3=4\)"),
        (lambda: cv.sd_from_range_iqr(3, 2, 5, 9, 10), r"minimum must not exceed q1"),
        (lambda: cv.mean_from_iqr(5, 4, 6, 10), r"q1 must not exceed median"),
        (lambda: cv.mean_from_iqr(1, 7, 6, 10), r"median must not exceed q3"),
        (lambda: cv.mean_from_range(1, 5, 4, 10), r"median must not exceed maximum"),
        (lambda: cv.mean_from_range_iqr(1, 2, 3, 9, 8, 10), r"q3 must not exceed maximum"),
        (lambda: cv.mean_from_range(1, 2, 3, 1), r"n must be at least 2"),
        (lambda: cv.wan_xi(1), r"n must be at least 2"),
        (lambda: cv.combine_groups(1, 0, 1, 5, 0, 1), r"n1 must be at least 2"),
        (lambda: cv.combine_groups(5, 0, 1, 5, 0, -1), r"sd2 must be non-negative"),
        (lambda: cv.sd_from_se(float("nan"), 10), r"se must be finite"),
        (lambda: cv.sd_from_se("abc", 10), r"se must be numeric"),
        (lambda: cv.sd_from_se([1, 2], [3, 4, 5]),
         r"cannot be broadcast together: se\(2,\), n\(3,\)"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_array_errors_report_the_first_bad_index_and_field():
    with pytest.raises(DataError, match=r"lower must not exceed upper .* at index 2") as info:
        cv.sd_from_ci([1, 2, 7, 9], [2, 3, 4, 1], 30)
    assert info.value.field == "lower"
    with pytest.raises(DataError, match=r"n must be at least 2 \(got n=0 at index 1\)"):
        cv.sd_from_se([1.0, 1.0], [4, 0])
