"""The batch engine: pool many meta-analyses in one call.

Studies of all analyses sit in flat arrays with an analysis index ``group``; every step below is
a vectorised kernel over all analyses at once. One meta-analysis is a batch of one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Literal

import numpy as np

from trialsynth._segments import (
    FloatArray,
    IntArray,
    Segments,
    SegmentSum,
    segment_count,
    segment_sum,
)
from trialsynth.conventions import METAFOR_CONVENTIONS, Conventions
from trialsynth.effects.table import (
    BINARY,
    Cells,
    Effects,
    counts_in_range,
    participants,
    study_effects,
)
from trialsynth.effects.zero_cells import double_zero
from trialsynth.pooling import engine
from trialsynth.pooling import heterogeneity as het
from trialsynth.pooling.control import DEFAULT_CONTROL, Control, as_control
from trialsynth.pooling.fixed import mantel_haenszel, peto
from trialsynth.pooling.inference import hksj_from_sum, hksj_residual_sum, interval, prediction_interval
from trialsynth.pooling.tau2 import ESTIMATORS, Tau2Fit, dersimonian_laird
from trialsynth.registry.methods import COMMON_METHODS, method_info
from trialsynth.registry.methods import METHODS as REGISTERED_METHODS

COMMON = COMMON_METHODS  # trialsynth.registry.methods
RANDOM = tuple(ESTIMATORS)  # = registry TAU2_METHODS (tested)
METHODS = tuple(REGISTERED_METHODS)
MH_MEASURES = method_info("MH").measures  # the 2×2-table measures Mantel–Haenszel pools
Hksj = bool | Literal["adhoc"]


@dataclass(frozen=True, slots=True)
class PooledBatch:
    """Results of many analyses as arrays (one entry per analysis; per-study arrays flat)."""

    k: np.ndarray
    estimate: FloatArray
    se: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    statistic: FloatArray
    pvalue: FloatArray
    df: FloatArray  # t degrees of freedom of the CI (NaN for Wald)
    tau2: FloatArray
    tau2_ci_low: FloatArray
    tau2_ci_high: FloatArray
    i2: FloatArray
    i2_ci_low: FloatArray
    i2_ci_high: FloatArray
    h2: FloatArray
    h2_ci_low: FloatArray
    h2_ci_high: FloatArray
    q: FloatArray
    q_df: FloatArray
    q_pvalue: FloatArray
    pi_low: FloatArray
    pi_high: FloatArray
    participants: FloatArray
    converged: np.ndarray
    iterations: np.ndarray
    tau2_ci_beyond: np.ndarray
    # per study
    yi: FloatArray = field(repr=False)
    vi: FloatArray = field(repr=False)
    weight: FloatArray = field(repr=False)  # percent within its analysis, NaN if not pooled
    included: np.ndarray = field(repr=False)
    group: IntArray = field(repr=False)

    def analysis_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if f.name not in _STUDY_FIELDS)


_STUDY_FIELDS = frozenset({"yi", "vi", "weight", "included", "group"})


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


def pool_arrays(
    measure: str,
    method: str,
    columns: Mapping[str, FloatArray],
    group: IntArray,
    n_groups: int,
    *,
    hksj: Hksj = False,
    conventions: Conventions = METAFOR_CONVENTIONS,
    confidence_level: float = 0.95,
    tau2_ci: bool = True,
    tau2_ci_search: str = "unbounded",
    control: Control | Mapping[str, object] | None = None,
) -> PooledBatch:
    """Pool every analysis of a batch with one method.

    ``columns`` holds the public input columns as float arrays, ``group`` the analysis of each
    study (0 … n_groups−1). See :func:`trialsynth.pool` for the meaning of the settings.

    ``tau2_ci=False`` skips the Q-profile confidence interval of τ² (and so the intervals of I²
    and H², which are derived from it): those fields are NaN and ``tau2_ci_beyond`` is False.
    Every other field is unchanged. The interval is the costliest step of a closed-form
    estimator (a root search per bound and analysis), so large re-analyses that do not report
    it can leave it out. ``tau2_ci_search`` is ``"unbounded"`` (the bounds wherever they lie) or
    ``"metafor"`` (metafor's default search, capped at max(100, 10·τ̂²);
    :func:`trialsynth.pooling.heterogeneity.q_profile_ci`). ``control``: the convergence
    control of the iterative τ² estimators and the Q-profile search
    (:class:`~trialsynth.pooling.control.Control`, or a mapping of its fields; None: defaults).

    Large batches are pooled in chunks of whole analyses of about :data:`CHUNK_ROWS` studies,
    so that the temporaries of every step stay in the processor's cache, on :data:`THREADS`
    threads (environment variable ``TRIALSYNTH_THREADS``); analyses are independent, so the
    results are the same as in one pass, bit for bit.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if hksj and method not in RANDOM and method != "MH_RANDOM":
        raise ValueError(f"HKSJ applies to random-effects methods, not to {method}")
    if method in ("MH", "MH_RANDOM") and measure not in MH_MEASURES:
        raise ValueError(f"Mantel-Haenszel needs measure RR, OR or RD, not {measure}")
    if method == "PETO" and measure != "PETO_OR":
        raise ValueError(f"the Peto method pools measure PETO_OR, not {measure}")
    group = np.asarray(group, dtype=np.intp)
    cols = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
    if tau2_ci_search not in het.TAU2_CI_SEARCHES:
        raise ValueError(f"tau2_ci_search must be one of {', '.join(het.TAU2_CI_SEARCHES)}, "
                         f"not {tau2_ci_search!r}")
    # the τ² CI setting travels as False (skip) or the name of its search
    settings = (measure, method, hksj, conventions, confidence_level,
                tau2_ci_search if tau2_ci else False, as_control(control),
                engine.use_compiled(group.size))
    if group.size <= CHUNK_ROWS:
        return _pool_chunk(settings, cols, group, n_groups)
    return _pool_chunked(settings, cols, group, n_groups)


CHUNK_ROWS = 1 << 19  # studies per chunk: the temporaries of a chunk stay in the processor's cache
# chunks pooled at the same time (threads); TRIALSYNTH_THREADS=1 turns it off, e.g. under Dask
THREADS = max(1, int(os.environ.get("TRIALSYNTH_THREADS", min(2, os.cpu_count() or 1))))
_Settings = tuple[str, str, Hksj, Conventions, float, bool | str, Control, bool]


def _chunk_bounds(group: IntArray, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row and analysis boundaries of chunks of whole analyses, or None if ``group`` is not
    sorted (non-decreasing)."""
    size = group.size
    for start in range(0, size - 1, CHUNK_ROWS):  # sortedness, checked chunk by chunk (in cache)
        part = group[start:start + CHUNK_ROWS + 1]
        if (part[1:] < part[:-1]).any():
            return None
    if size and (group[0] < 0 or group[-1] >= n):
        raise ValueError("group holds analysis numbers outside 0 … n_groups−1")
    # a chunk starts at the first study of the analysis holding row j·CHUNK_ROWS
    rows = np.searchsorted(group, group[np.arange(CHUNK_ROWS, size, CHUNK_ROWS)], side="left")
    rows = np.unique(np.concatenate([[0], rows, [size]]))
    ids = np.concatenate([[0], group[rows[1:-1]], [n]])
    return rows, ids


def _pool_chunked(settings: _Settings, cols: Mapping[str, FloatArray], group: IntArray,
                  n: int) -> PooledBatch:
    """:func:`_pool_chunk` over consecutive chunks of whole analyses, results put together."""
    order = None
    bounds = _chunk_bounds(group, n)
    if bounds is None:  # studies of an analysis not adjacent: pool them in sorted order
        order = np.argsort(group, kind="stable")  # stable: studies keep their order (same sums)
        sorted_group = group[order]
        cols = {k: v[order] for k, v in cols.items()}
        bounds = _chunk_bounds(sorted_group, n)
        assert bounds is not None
    else:
        sorted_group = group
    rows, ids = bounds
    out: dict[str, np.ndarray] = {}
    names = [f.name for f in fields(PooledBatch) if f.name != "group"]

    allocating = threading.Lock()

    def run(j: int) -> None:
        r0, r1, g0, g1 = rows[j], rows[j + 1], ids[j], ids[j + 1]
        part = _pool_chunk(settings, {k: v[r0:r1] for k, v in cols.items()},
                           sorted_group[r0:r1] - g0, int(g1 - g0))
        with allocating:  # the chunk finished first makes the output arrays, with its types
            for name in names:
                if name not in out:
                    size = group.size if name in _STUDY_FIELDS else n
                    out[name] = np.empty(size, dtype=getattr(part, name).dtype)
        for name in names:
            if name in _STUDY_FIELDS:
                out[name][r0:r1] = getattr(part, name)
            else:
                out[name][g0:g1] = getattr(part, name)

    chunks = range(len(rows) - 1)
    if THREADS > 1 and len(chunks) > 1:  # numpy and the compiled kernels release the GIL in
        with ThreadPoolExecutor(THREADS) as pool:  # their loops; chunks are independent and
            list(pool.map(run, chunks))  # write disjoint slices
    else:
        for j in chunks:
            run(j)
    if order is not None:
        for name in _STUDY_FIELDS - {"group"}:
            back = np.empty_like(out[name])
            back[order] = out[name]
            out[name] = back
    return PooledBatch(**out, group=group)


def _pool_chunk(settings: _Settings, cols: Mapping[str, FloatArray], group: IntArray,
                n_groups: int) -> PooledBatch:
    """Pool every analysis of one batch (the body of :func:`pool_arrays`)."""
    measure, method, hksj, conventions, confidence_level, tau2_ci, control, compiled = settings
    if method in ("MH", "PETO", "MH_RANDOM"):
        return _pool_tables(measure, method, cols, group, n_groups, hksj, conventions,
                            confidence_level, tau2_ci, control, compiled)
    eff = study_effects(measure, cols, group, n_groups, zero_cells=conventions.zero_cells,
                        smd_correction=conventions.smd_correction,
                        smd_variance=conventions.smd_variance,
                        rd_raw_counts=conventions.rd_raw_counts,
                        peto_zero_cells=conventions.peto_zero_cells,
                        rr_all_events_raw=conventions.rr_all_events_raw)
    return _pool_iv(measure, method, eff.yi, eff.vi, eff.estimable, _arm_sizes(measure, cols),
                    group, n_groups, hksj, conventions, confidence_level, tau2_ci,
                    control=control, compiled=compiled)


@dataclass(frozen=True)
class _IvSums:
    """The per-analysis sums of the inverse-variance model, from either engine: k, (Σwᵢ, Σwᵢ², k)
    with wᵢ = 1/vᵢ, Cochran's Q, the τ² fit (None: common effect), the pooled estimate and
    Σw*ᵢ; ``hksj_sum(est)`` gives Σw*ᵢ(yᵢ − μ̂)², ``weight()`` each study's percentage weight,
    ``ssum`` a sum per analysis over the studies."""

    k: np.ndarray
    sums: tuple[FloatArray, FloatArray, np.ndarray]
    q_raw: FloatArray
    tau2_fit: Tau2Fit | None
    est: FloatArray
    sw: FloatArray
    hksj_sum: Callable[[FloatArray], FloatArray]
    weight: Callable[[], FloatArray]
    ssum: SegmentSum
    q_pvalue: FloatArray | None = None  # the p-value of Q where the engine computed it


# methods whose sums the compiled kernels compute (τ² of the others comes from their numpy
# estimator); trialsynth.pooling.compiled says why and when
_COMPILED_METHODS = frozenset({"IV", "DL", "REML", "ML", "PM", "EB", "HE", "SJ"})


def _compiled_for(group: IntArray, compiled: bool) -> bool:
    """The compiled kernels for this chunk: chosen for the call (``compiled``, from
    :func:`trialsynth.pooling.engine.use_compiled` on all its studies) and studies sorted."""
    return compiled and group.size > 0 and not (group[1:] < group[:-1]).any()


def _iv_sums_numpy(method: str, y: FloatArray, v: FloatArray, g: IntArray, n: int,
                   center: FloatArray | None, control: Control) -> _IvSums:
    seg = Segments(g, n)
    ssum = seg.sum
    k = seg.counts
    # the sums of the inverse-variance weights wᵢ = 1/vᵢ, once: Cochran's Q, the typical variance,
    # DerSimonian–Laird and the common-effect estimate all use them (the same arithmetic as
    # het.cochran_q, het.typical_variance and dersimonian_laird computing them each)
    w0 = 1 / v
    sw0 = ssum(w0)
    sums = (sw0, ssum(w0**2), k)
    mu0 = None
    if center is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            mu0 = ssum(w0 * y) / sw0  # het.weighted_mean
    q_raw = ssum(w0 * (y - (mu0 if center is None else center)[g]) ** 2)  # Cochran 1954
    if method == "IV":
        tau2_fit = None
        # τ² = 0: wᵢ = 1/(vᵢ + 0) = 1/vᵢ, and the pooled estimate is Q's weighted mean
        assert mu0 is not None
        w, est, sw = w0, mu0, sw0
    else:
        est_fn = ESTIMATORS["DL" if method == "MH_RANDOM" else method]
        tau2_fit = (dersimonian_laird(y, v, g, n, center, q=q_raw, sums=sums)
                    if est_fn is dersimonian_laird else est_fn(y, v, g, n, control=control))
        w = 1 / (v + tau2_fit.tau2[g])
        est, sw = het.weighted_mean(y, w, g, n, ssum)
    return _IvSums(k, sums, q_raw, tau2_fit, est, sw,
                   hksj_sum=lambda mu: hksj_residual_sum(y, w, mu, g, n, ssum),
                   weight=lambda: 100 * w / sw[g], ssum=ssum)


def _iv_sums_compiled(method: str, y: FloatArray, v: FloatArray, g: IntArray, n: int,
                      control: Control) -> _IvSums:
    """:func:`_iv_sums_numpy` by the compiled kernels (studies sorted by analysis)."""
    from trialsynth.pooling import compiled

    starts = compiled.starts_of(g, n)
    k = np.diff(starts)
    tau2_fit: Tau2Fit | None
    if method == "REML":
        tau2_fit = compiled.restricted_maximum_likelihood(y, v, g, n, starts, control)
        given = tau2_fit.tau2
    elif method == "IV":
        tau2_fit, given = None, np.where(k >= 1, 0.0, np.nan)
    elif method == "DL":
        tau2_fit, given = None, None
    else:
        tau2_fit = ESTIMATORS[method](y, v, g, n, control=control)
        given = tau2_fit.tau2
    out = compiled.iv_passes(y, v, starts, given)
    if method == "DL":  # closed form: converged wherever defined (dersimonian_laird)
        tau2_fit = Tau2Fit(out["tau2"], k >= 1, np.zeros(n, dtype=np.int64))
    sums = (out["sw0"], out["sw0sq"], k)
    est = out["mu0"] if method == "IV" else out["est"]
    sw = out["sw0"] if method == "IV" else out["sw"]

    def ssum(x: FloatArray) -> FloatArray:
        return segment_sum(x, g, n)

    return _IvSums(k, sums, out["q"], tau2_fit, est, sw, hksj_sum=lambda mu: out["hk"],
                   weight=lambda: out["weight"], ssum=ssum, q_pvalue=out["q_p"])


def _pool_iv(measure: str, method: str, yi: FloatArray, vi: FloatArray, included: np.ndarray,
             n_per_study: FloatArray | None, group: IntArray, n: int, hksj: Hksj,
             conv: Conventions, level: float, tau2_ci: bool | str = True,
             center: FloatArray | None = None, control: Control = DEFAULT_CONTROL,
             compiled: bool = False) -> PooledBatch:
    """Inverse-variance common or random effects on the included studies.

    ``n_per_study``: participants per study, or None where the input has no arm sizes (then 0
    per analysis, as the sum of the NaN-to-0 values would be)."""
    every = bool(included.all())
    if every:  # every study enters: no compaction of the study arrays
        g, y, v = group, yi, vi
    else:
        g = group[included]
        y, v = yi[included], vi[included]
    if center is None and method in _COMPILED_METHODS and _compiled_for(g, compiled):
        s = _iv_sums_compiled(method, y, v, g, n, control)
    else:
        s = _iv_sums_numpy(method, y, v, g, n, center, control)
    k, sums, q_raw, tau2_fit, est, sw = s.k, s.sums, s.q_raw, s.tau2_fit, s.est, s.sw
    q_df = (k - 1).astype(np.float64)
    q = np.where(k >= 1, q_raw, np.nan)
    q_p = het.q_pvalue(q, q_df) if s.q_pvalue is None else s.q_pvalue
    nan = _nan(n)
    tau2 = np.where(k >= 1, 0.0, np.nan) if tau2_fit is None else tau2_fit.tau2
    est = np.where(k >= 1, est, np.nan)
    with np.errstate(divide="ignore"):
        se = np.where(k >= 1, 1 / np.sqrt(sw), np.nan)
    df = None
    if hksj:  # with k = 1 metafor falls back to the Wald test (rma.uni: test "z" when k = 1)
        se = np.where(k >= 2, hksj_from_sum(s.hksj_sum(est), sw, k, adhoc=hksj == "adhoc"), se)
        df = np.where(k >= 2, q_df, np.nan)
    ci_low, ci_high, stat, p = interval(est, se, df, level)
    if method == "IV":
        i2, h2 = het.i2_from_q(q, q_df), het.h2_from_q(q, q_df)
        t_lo = t_hi = i2_lo = i2_hi = h2_lo = h2_hi = pi_lo = pi_hi = nan
        beyond = np.zeros(n, dtype=bool)
        tau2_out = nan
    else:
        vt = het.typical_variance(v, g, n, sums=sums)
        if conv.i2 == "q":
            i2, h2 = het.i2_from_q(q, q_df), het.h2_from_q(q, q_df)
        else:
            i2, h2 = het.i2_from_tau2(tau2, vt), het.h2_from_tau2(tau2, vt)
        if tau2_ci:
            # Q(0) about the inverse-variance mean is Cochran's Q: reused unless Q was centred
            # elsewhere (M-H random)
            t_lo, t_hi, beyond = het.q_profile_ci(
                y, v, g, n, tau2, level, k=k, q0=q_raw if center is None else None,
                search="unbounded" if tau2_ci is True else str(tau2_ci), control=control)
        else:
            t_lo, t_hi, beyond = nan, nan, np.zeros(n, dtype=bool)
        i2_lo, i2_hi = het.i2_from_tau2(t_lo, vt), het.i2_from_tau2(t_hi, vt)
        h2_lo, h2_hi = het.h2_from_tau2(t_lo, vt), het.h2_from_tau2(t_hi, vt)
        if conv.prediction_df == "k-2":
            pi_lo, pi_hi = prediction_interval(est, se, tau2, k - 2.0, level)
            pi_lo, pi_hi = np.where(k >= 3, pi_lo, np.nan), np.where(k >= 3, pi_hi, np.nan)
        else:
            pi_lo, pi_hi = prediction_interval(est, se, tau2, df, level)
        tau2_out = tau2
    i2, h2, q_p = _single_study(k, i2, h2, q_p)
    if every:
        weight = s.weight()
    else:
        weight = np.full(yi.shape, np.nan)
        weight[included] = s.weight()
    return PooledBatch(
        k=k, estimate=est, se=se, ci_low=ci_low, ci_high=ci_high, statistic=stat, pvalue=p,
        df=nan if df is None else df, tau2=tau2_out, tau2_ci_low=t_lo, tau2_ci_high=t_hi,
        i2=np.where(k >= 1, i2, np.nan), i2_ci_low=i2_lo, i2_ci_high=i2_hi,
        h2=np.where(k >= 1, h2, np.nan), h2_ci_low=h2_lo, h2_ci_high=h2_hi,
        q=q, q_df=q_df, q_pvalue=q_p, pi_low=pi_lo, pi_high=pi_hi,
        participants=_participants(n_per_study, included, every, s.ssum, n),
        converged=np.ones(n, dtype=bool) if tau2_fit is None else tau2_fit.converged,
        iterations=np.zeros(n, dtype=np.int64) if tau2_fit is None else tau2_fit.iterations,
        tau2_ci_beyond=beyond, yi=yi, vi=vi, weight=weight, included=included, group=group,
    )


def _participants(n_per_study: FloatArray | None, keep: np.ndarray, every: bool,
                  ssum: SegmentSum, n: int) -> FloatArray:
    """Participants per analysis over the kept studies (NaN counts as 0; no arm sizes: 0)."""
    if n_per_study is None:
        return np.zeros(n)
    x = n_per_study if every else n_per_study[keep]
    if not np.isfinite(x).all():
        x = np.nan_to_num(x)
    return ssum(x)


def _arm_sizes(measure: str, cols: Mapping[str, FloatArray]) -> FloatArray | None:
    """Participants per study, or None where the input has no arm sizes."""
    return participants(measure, cols) if "n_t" in cols and "n_c" in cols else None


def _single_study(k: np.ndarray, i2: FloatArray, h2: FloatArray, q_p: FloatArray
                  ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """metafor's values for one study: Q = 0 with p = 1, I² = 0, H² = 1 (``rma.uni``, k = 1)."""
    one = k == 1
    return np.where(one, 0.0, i2), np.where(one, 1.0, h2), np.where(one, 1.0, q_p)


def _single_study_as_is(yi: FloatArray, vi: FloatArray, estimable: np.ndarray, group: IntArray,
                        n: int, k_yi: np.ndarray, est: FloatArray, se: FloatArray
                        ) -> tuple[FloatArray, FloatArray]:
    """Where one study is estimable, its own effect and SE (RevMan; revman-conventions.md §3)."""
    one = k_yi == 1
    if not one.any():
        return est, se
    own_y = np.full(n, np.nan)
    own_v = np.full(n, np.nan)
    own_y[group[estimable]] = yi[estimable]
    own_v[group[estimable]] = vi[estimable]
    return np.where(one, own_y, est), np.where(one, np.sqrt(own_v), se)


def _pool_tables(measure: str, method: str, cols: Mapping[str, FloatArray], group: IntArray,
                 n: int, hksj: Hksj, conv: Conventions, level: float, tau2_ci: bool | str = True,
                 control: Control = DEFAULT_CONTROL, compiled: bool = False) -> PooledBatch:
    """Mantel–Haenszel, Peto and RevMan's M-H random: pooled from the 2×2 tables."""
    if _compiled_for(group, compiled):
        from trialsynth.pooling import compiled as kernels

        if kernels.takes_tables(measure, method, conv):  # every step in one compiled pass
            t = kernels.mantel_haenszel_tables(measure, cols, kernels.starts_of(group, n), conv)
            eff = Effects(t["yi"], t["vi"], t["estimable"])
            return _tables_tail(eff, t["keep"], t["weight"], t["k"], t["k_yi"],
                                t["est"], t["se"], t["q"], t["participants"], group, n, conv,
                                level)
    raw = Cells.from_columns(cols)
    eff = study_effects(measure, cols, group, n, zero_cells=conv.mh_study_zero_cells,
                        rd_raw_counts=conv.rd_raw_counts, peto_zero_cells=conv.peto_zero_cells,
                        rr_all_events_raw=conv.rr_all_events_raw, raw=raw)
    variance_cells = None
    if measure == "RD" and conv.rd_raw_counts:  # RevMan: raw counts, corrected variances
        fixed_cells, keep = raw.corrected(group, n, replace(conv.mh_zero_cells, drop00=False))
        variance_cells = tuple(x[keep] for x in (fixed_cells.a, fixed_cells.b, fixed_cells.c,
                                                  fixed_cells.d))
        cells = raw
    elif method == "PETO":  # O − E and V need no correction (metafor rma.peto; RevMan)
        cells = raw
        keep = ~double_zero(raw.a, raw.b, raw.c, raw.d) if conv.mh_zero_cells.drop00 else \
            np.ones(group.shape, dtype=bool)
    elif measure == "RR" and conv.rr_all_events_raw:  # RevMan Web keeps all-events tables
        cells, keep = raw.corrected(group, n, replace(conv.mh_zero_cells, drop00=False))
        if conv.mh_zero_cells.drop00:  # only tables without events stay out
            keep = keep & ~((raw.a == 0) & (raw.c == 0))
    else:
        cells, keep = raw.corrected(group, n, conv.mh_zero_cells)
    keep = keep & counts_in_range(cols)  # the range rule of effects.table: exact counts only
    every = bool(keep.all())
    if every:  # no table left out: no compaction
        g, a, b, c, d = group, cells.a, cells.b, cells.c, cells.d
    else:
        g = group[keep]
        a, b, c, d = cells.a[keep], cells.b[keep], cells.c[keep], cells.d[keep]
    n_study = participants(measure, cols)
    seg = Segments(g, n)
    if method == "MH_RANDOM":
        mh_est, _, _, _ = mantel_haenszel(measure, a, b, c, d, g, n, conv.rd_variance,
                                          variance_cells, ssum=seg.sum)
        return _pool_iv(measure, "MH_RANDOM", eff.yi, eff.vi, eff.estimable, n_study, group,
                        n, hksj, conv, level, tau2_ci, center=mh_est, control=control)
    k = seg.counts
    all_estimable = bool(eff.estimable.all())
    q_g = group if all_estimable else group[eff.estimable]
    q_seg = seg if all_estimable and every else Segments(q_g, n)
    k_yi = q_seg.counts
    if method == "MH":
        est, se, w, sw = mantel_haenszel(measure, a, b, c, d, g, n, conv.rd_variance,
                                         variance_cells, ssum=seg.sum)
        q_y, q_v = (eff.yi, eff.vi) if all_estimable else \
            (eff.yi[eff.estimable], eff.vi[eff.estimable])
        q = het.cochran_q(q_y, q_v, q_g, n, center=est, ssum=q_seg.sum)
    else:
        est, se, q, w, pos = peto(a, b, c, d, g, n)
        sw = seg.sum(w)
        q = np.where(segment_count(g[pos], n) > 1, q, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight_kept = 100 * w / sw[g]
    if every:
        weight = weight_kept
    else:
        weight = np.full(group.shape, np.nan)
        weight[keep] = weight_kept
    return _tables_tail(eff, keep, weight, k, k_yi, est, se, q,
                        _participants(n_study, keep, every, seg.sum, n), group, n, conv, level)


def _tables_tail(eff: Effects, keep: np.ndarray, weight: FloatArray, k: np.ndarray,
                 k_yi: np.ndarray, est: FloatArray, se: FloatArray, q: FloatArray,
                 participants: FloatArray, group: IntArray, n: int, conv: Conventions,
                 level: float) -> PooledBatch:
    """The fields of a Mantel–Haenszel or Peto batch from its sums (either engine)."""
    q_df = (k_yi - 1).astype(np.float64)
    est = np.where(k >= 1, est, np.nan)
    if conv.mh_single_study_as_is:
        est, se = _single_study_as_is(eff.yi, eff.vi, eff.estimable, group, n, k_yi, est, se)
        est, se = np.where(k >= 1, est, np.nan), np.where(k >= 1, se, np.nan)
    ci_low, ci_high, stat, p = interval(est, se, None, level)
    nan = _nan(n)
    i2, h2, q_p = _single_study(k_yi, het.i2_from_q(q, q_df), het.h2_from_q(q, q_df),
                                het.q_pvalue(q, q_df))
    return PooledBatch(
        k=k, estimate=est, se=se, ci_low=ci_low, ci_high=ci_high, statistic=stat, pvalue=p,
        df=nan, tau2=nan, tau2_ci_low=nan, tau2_ci_high=nan, i2=i2, i2_ci_low=nan,
        i2_ci_high=nan, h2=h2, h2_ci_low=nan, h2_ci_high=nan, q=q, q_df=q_df,
        q_pvalue=q_p, pi_low=nan, pi_high=nan,
        participants=participants,
        converged=np.ones(n, dtype=bool), iterations=np.zeros(n, dtype=np.int64),
        tau2_ci_beyond=np.zeros(n, dtype=bool), yi=eff.yi, vi=eff.vi, weight=weight,
        included=keep, group=group,
    )


__all__ = ["BINARY", "METHODS", "PooledBatch", "pool_arrays"]
