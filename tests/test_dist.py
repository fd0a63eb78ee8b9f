"""trialsynth._dist against scipy.stats itself (the reference): the same values, edge cases
included, for scalars and arrays."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from trialsynth import _dist

X = [-np.inf, -40.0, -3.1, -1e-300, 0.0, 1e-12, 0.5, 1.959963984540054, 7.3, 40.0, np.inf, np.nan]
Q = [-0.1, 0.0, 1e-300, 1e-12, 0.001, 0.025, 0.3, 0.5, 0.975, 1 - 1e-12, 1.0, 1.5, np.nan]
DF = [-1.0, 0.0, 1e-3, 0.5, 1.0, 2.0, 3.5, 17.0, 1e6, np.inf, np.nan]


def same(ours, ref) -> None:
    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=1e-13, atol=0)


@pytest.mark.parametrize(("ours", "ref", "args"), [
    (_dist.norm_cdf, stats.norm.cdf, X), (_dist.norm_sf, stats.norm.sf, X),
    (_dist.norm_ppf, stats.norm.ppf, Q), (_dist.norm_isf, stats.norm.isf, Q)])
def test_normal(ours, ref, args):
    same(ours(np.array(args)), ref(np.array(args)))
    for a in args:
        value = ours(a)
        assert isinstance(value, np.floating)
        same(value, ref(a))


@pytest.mark.parametrize(("ours", "ref", "first"), [
    (_dist.t_sf, stats.t.sf, X), (_dist.t_ppf, stats.t.ppf, Q), (_dist.t_isf, stats.t.isf, Q),
    (_dist.chi2_sf, stats.chi2.sf, X), (_dist.chi2_cdf, stats.chi2.cdf, X),
    (_dist.chi2_isf, stats.chi2.isf, Q), (_dist.chi2_ppf, stats.chi2.ppf, Q)])
def test_t_and_chi2_over_a_grid_with_edges(ours, ref, first):
    a, df = map(np.array, zip(*itertools.product(first, DF), strict=True))
    with np.errstate(all="ignore"):
        same(ours(a, df), ref(a, df))
    assert isinstance(ours(first[3], 2.0), np.floating)


def test_f_upper_tail():
    grid = list(itertools.product(X, [d for d in DF if np.isfinite(d)], [0.5, 3.0, 40.0, -1.0]))
    x, dfn, dfd = map(np.array, zip(*grid, strict=True))
    with np.errstate(all="ignore"):
        same(_dist.f_sf(x, dfn, dfd), stats.f.sf(x, dfn, dfd))
