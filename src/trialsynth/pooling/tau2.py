"""Between-study variance (τ²) estimators, one small function each, batch-first.

Every estimator takes flat arrays ``yi, vi`` and the analysis index ``group`` and returns a
:class:`Tau2Fit` with one τ² per analysis, truncated at 0, plus per-analysis convergence flags.
Analyses with k = 1 get τ² = 0, as metafor does (``rma.uni``, method "k1").
Formulas follow Veroniki et al. 2016 (Res Synth Methods 7:55, Appendix) and metafor's ``rma.uni``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trialsynth._segments import FloatArray, IntArray, SegmentSum, segment_count, segment_sum
from trialsynth.pooling._roots import ActiveSet, Blocks, q_and_slope, solve_q
from trialsynth.pooling.control import DEFAULT_CONTROL, Control
from trialsynth.pooling.heterogeneity import cochran_q, generalized_q, weighted_mean

# the defaults of the convergence control (trialsynth.pooling.control.Control documents each):
# convergence on |Δτ²|/max(1, τ²) (metafor default 1e-5, tightened for 1e-6 agreement), and the
# iterations of the bracketed root search
THRESHOLD = DEFAULT_CONTROL.threshold
MAXITER = DEFAULT_CONTROL.root_maxiter


@dataclass(frozen=True, slots=True)
class Tau2Fit:
    """τ² per analysis with convergence information."""

    tau2: FloatArray
    converged: np.ndarray
    iterations: np.ndarray


def _closed_form(tau2: FloatArray, k: np.ndarray) -> Tau2Fit:
    tau2 = np.where(k == 1, 0.0, np.maximum(0.0, tau2))
    ok = k >= 1
    return Tau2Fit(np.where(ok, tau2, np.nan), ok, np.zeros(tau2.shape, dtype=np.int64))


def dersimonian_laird(yi: FloatArray, vi: FloatArray, group: IntArray, n: int,
                      center: FloatArray | None = None, q: FloatArray | None = None,
                      sums: tuple[FloatArray, FloatArray, np.ndarray] | None = None, *,
                      control: Control = DEFAULT_CONTROL) -> Tau2Fit:
    """τ² = max(0, (Q − (k−1)) / (Σw − Σw²/Σw)), wᵢ = 1/vᵢ (DerSimonian & Laird 1986, eq. 8).

    ``center`` replaces the inverse-variance estimate in Q: RevMan 5's "M-H, random" centres Q
    on the Mantel–Haenszel estimate (Deeks & Higgins 2010, random-effects section). ``q``:
    Cochran's Q of these studies about that centre, and ``sums`` their (Σw, Σw², k), when the
    caller has them (saves the passes). ``control``: not used (closed form).
    """
    if sums is None:
        wi = 1 / vi
        sums = segment_sum(wi, group, n), segment_sum(wi**2, group, n), segment_count(group, n)
    sw, sw2, k = sums
    if q is None:
        q = cochran_q(yi, vi, group, n, center)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = (q - (k - 1)) / (sw - sw2 / sw)  # DerSimonian & Laird 1986, eq. 8
    return _closed_form(tau2, k)


def hedges(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, *,
           control: Control = DEFAULT_CONTROL) -> Tau2Fit:
    """τ² = (Σ(yᵢ − ȳ)² − (1 − 1/k)Σvᵢ)/(k − 1), ȳ unweighted (Hedges 1983; Hedges & Olkin 1985)."""
    k = segment_count(group, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = segment_sum(yi, group, n) / k
        rss = segment_sum((yi - ybar[group]) ** 2, group, n)
        tau2 = (rss - (1 - 1 / k) * segment_sum(vi, group, n)) / (k - 1)  # Hedges 1983 (HE)
    return _closed_form(tau2, k)


def sidik_jonkman(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, *,
                  control: Control = DEFAULT_CONTROL) -> Tau2Fit:
    """τ² = τ₀²·Σwᵢ(yᵢ − μ̂_w)²/(k − 1), wᵢ = 1/(vᵢ + τ₀²), τ₀² = Σ(yᵢ − ȳ)²/k (Sidik & Jonkman 2005,
    J Biopharm Stat 15:823, eq. 3–4; initial value as metafor ``rma.uni``)."""
    k = segment_count(group, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = segment_sum(yi, group, n) / k
        tau0 = segment_sum((yi - ybar[group]) ** 2, group, n) / k  # Sidik & Jonkman 2005, τ₀²
        wi = 1 / (vi + tau0[group])
        mu, _ = weighted_mean(yi, wi, group, n)
        rss = segment_sum(wi * (yi - mu[group]) ** 2, group, n)
        tau2 = tau0 * rss / (k - 1)  # Sidik & Jonkman 2005, eq. 4
    return _closed_form(tau2, k)


def _paule_mandel(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, *,
                  control: Control = DEFAULT_CONTROL, start: FloatArray | None = None
                  ) -> Tau2Fit:
    """τ² solving Σwᵢ(τ²)(yᵢ − μ̂(τ²))² = k − 1, or 0 if Q(0) < k − 1 (Paule & Mandel 1982;
    DerSimonian & Kacker 2007, Contemp Clin Trials 28:105, eq. 6). The bracket starts as
    [0, ``start``] (default 100; :func:`paule_mandel` passes ``control.tau2_max`` in these
    units) and the root is solved to ``control.tol`` in at most ``control.q_maxiter`` steps."""
    k = segment_count(group, n)
    f = generalized_q(yi, vi, group, n)
    target = (k - 1).astype(np.float64)
    zero = np.zeros(n)
    q0, _ = f(zero)
    positive = (k >= 2) & (q0 > target)
    hi = np.full(n, 100.0) if start is None else np.array(start, dtype=np.float64)
    for _ in range(64):  # widen the bracket until Q(hi) < k − 1 (metafor stops at a fixed tau2.max)
        qhi, _ = f(hi)
        short = positive & (qhi > target)
        if not short.any():
            break
        hi = np.where(short, hi * 4, hi)
    root, conv, iters = solve_q(yi, vi, group, n, target, zero, hi, positive, rtol=control.tol,
                                maxiter=control.q_maxiter)
    tau2 = np.where(positive, root, 0.0)
    converged = np.where(positive, conv, k >= 1)
    return Tau2Fit(np.where(k >= 1, tau2, np.nan), converged, iters)


# defaults of the control (trialsynth.pooling.control.Control): Fisher scoring steps before the
# bracketed fallback takes over; a Fisher step this small (relative) marks a root of the
# estimating equation; relative log-likelihood difference that counts as "more likely"
SCORING_ITERATIONS = DEFAULT_CONTROL.maxiter
ROOT_TOL = DEFAULT_CONTROL.root_tol
LL_TOL = DEFAULT_CONTROL.ll_tol
GRID = np.concatenate([[0.0], 10.0 ** np.linspace(-6, 4, 61)])  # τ² grid, in units of mean vᵢ


def _fisher_scoring(yi: FloatArray, vi: FloatArray, group: IntArray, n: int,
                    step: Callable[..., FloatArray],
                    loglik: Callable[..., FloatArray] | None = None,
                    control: Control = DEFAULT_CONTROL) -> Tau2Fit:
    """Fisher scoring for ML, REML and EB, all analyses together (metafor ``rma.uni``).

    Start from the Hedges estimate, multiply each step by ``control.stepadj``, halve any step
    that would make τ² negative, stop when |Δτ²| < ``control.threshold``·max(1, τ²), at most
    ``control.maxiter`` steps. Fisher scoring can oscillate without converging (metafor then
    stops with an error), and the likelihood of ML and REML can have more than one maximum.
    For ML and REML (``loglik`` given), an analysis whose scoring did not converge, or whose
    root is less likely than τ² = 0 (metafor's ``ll0check``), is settled by a global search: the
    log-likelihood on a grid of τ², then the root of the estimating equation next to the best
    grid point; the most likely candidate wins. EB's estimating equation has a single root
    (it is Paule–Mandel's), found by a bracketed search.
    """
    k = segment_count(group, n)
    tau2 = hedges(yi, vi, group, n).tau2
    active = k >= 2
    tau2 = np.where(active, tau2, np.where(k == 1, 0.0, np.nan))
    converged = k == 1
    iters = np.zeros(n, dtype=np.int64)
    blocks = Blocks(yi, vi, group, k, active)
    # every analysis with k ≥ 2 as blocks, kept for the likelihood checks after the loop (the
    # loop's blocks drop the analyses that converge); shares the arrays, no copy
    full = blocks.subset(active) if loglik is not None else None
    near = np.zeros(n, dtype=bool)  # close enough to a root for Newton steps (REML only)
    for _ in range(control.maxiter):
        idx = np.flatnonzero(active)  # the updates below touch the active analyses only
        if idx.size == 0:
            break
        adj = blocks.step(tau2, n, _reml_newton_step if step is _reml_step else step,
                          near if step is _reml_step else None)[idx]
        if control.stepadj != 1.0:
            adj = adj * control.stepadj  # metafor rma.uni: adj <- adj * stepadj
        t = tau2[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            # step halving until τ² + adj ≥ 0 (metafor: while (tau2 + adj < tau2.min) adj <- adj/2)
            halvings = np.ceil(np.log2(np.where(t > 0, -adj / t, 1.0)))
            adj = np.where(t + adj < 0, np.where(t > 0, adj / 2.0**halvings, 0.0), adj)
        new = np.maximum(0.0, t + adj)
        change = np.abs(new - t)
        iters[idx] += 1
        tau2[idx] = new
        scale = np.maximum(1.0, new)
        now = change < control.threshold * scale
        near[idx] = change < control.newton_switch * scale
        converged[idx[now]] = True
        active[idx[now | ~np.isfinite(new)]] = False
        blocks.refresh(active)
    return _settle(yi, vi, group, n, k, step, loglik, full, active, tau2, converged, iters,
                   control)


def _settle(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, k: np.ndarray,
            step: Callable[..., FloatArray], loglik: Callable[..., FloatArray] | None,
            full: Blocks | None, active: np.ndarray, tau2: FloatArray, converged: np.ndarray,
            iters: np.ndarray, control: Control) -> Tau2Fit:
    """Where Fisher scoring stopped (``active``: not converged), the settling searches."""
    # a step that overflowed (a study far more precise than the others, the score at τ² = 0
    # beyond double precision) is not the end: the analysis starts again from τ² = 0 and is
    # settled by the bracketed search (EB) or the global likelihood search (ML, REML)
    failed = (k >= 2) & ~np.isfinite(tau2)
    tau2 = np.where(failed, 0.0, tau2)
    converged = converged & ~failed
    if loglik is None:
        return _settle_eb(yi, vi, group, n, k, step, active | failed, tau2, converged, iters,
                          control)
    assert full is not None
    return _settle_likelihood(yi, vi, group, n, k, step, loglik, full, active | failed, tau2,
                              converged, iters, control)


EDGE = 1e-8  # τ² (in units of the smallest variance) this close to 0 is at the boundary


def _settle_eb(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, k: np.ndarray,
               step: Callable[..., FloatArray], active: np.ndarray, tau2: FloatArray,
               converged: np.ndarray, iters: np.ndarray, control: Control = DEFAULT_CONTROL
               ) -> Tau2Fit:
    """EB analyses that scoring did not settle: the single root of the estimating equation by a
    bracketed search from 0."""
    studies = ActiveSet(yi, vi, group, active)
    if active.any():
        hi = _widen(studies, n, k, step, active, np.ones(n))
        root, ok, extra = _bracketed(studies, n, k, step, active, np.zeros(n), hi, control)
        tau2 = np.where(active, root, tau2)
        converged |= ok
        iters = iters + extra
    return Tau2Fit(tau2, converged, iters)


def _settle_likelihood(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, k: np.ndarray,
                       step: Callable[..., FloatArray], loglik: Callable[..., FloatArray],
                       full: Blocks, active: np.ndarray, tau2: FloatArray,
                       converged: np.ndarray, iters: np.ndarray,
                       control: Control = DEFAULT_CONTROL) -> Tau2Fit:
    """ML and REML: analyses whose scoring did not converge, whose root is less likely than
    τ² = 0 (metafor's ``ll0check``), or whose root at (or next to) the boundary a coarse grid
    beats, are settled by the global search (:func:`_global_search`)."""
    with np.errstate(invalid="ignore"):
        ll_hat = loglik(full, tau2, n)
        # metafor's ll0check, with its tolerance: τ² = 0 must be clearly more likely
        better_at_zero = loglik(full, np.zeros(n), n) - ll_hat > \
            control.ll_tol * np.maximum(1.0, np.abs(ll_hat))
        doubtful = (k >= 2) & (active | better_at_zero | ~np.isfinite(ll_hat))
        # a root at the boundary τ² = 0 can be a local maximum only (the likelihood can be
        # bimodal, e.g. yi = (0, 0, 2), sei = (2, 0.75, 0.125) under ML: metafor stops at 0, the
        # maximum is at 0.643); a coarse grid screens those for a more likely τ² > 0. Step
        # halving approaches 0 without reaching it, so "at 0" includes τ² ≤ EDGE; those are
        # screened without the bound that needs τ² = 0 exactly.
        for edge, exact in (((k >= 2) & ~doubtful & (tau2 == 0), True),
                            ((k >= 2) & ~doubtful & (tau2 > 0) & (tau2 <= EDGE), False)):
            if edge.any():  # on the edge analyses alone, numbered 0 … m−1 (independent)
                studies, lik, ids = _local(yi, vi, group, edge, full)
                m = ids.size
                doubtful[ids] |= _beaten_on_grid(studies, m, k[ids], loglik,
                                                 np.ones(m, dtype=bool), ll_hat[ids],
                                                 lik if exact else None, control.ll_tol)
    if doubtful.any():  # likewise on the doubtful analyses alone
        studies, lik, ids = _local(yi, vi, group, doubtful, full)
        m = ids.size
        best, ok = _global_search(studies, m, k[ids], step, loglik, np.ones(m, dtype=bool),
                                  tau2[ids], lik, control)
        tau2, converged = tau2.copy(), converged.copy()
        tau2[ids], converged[ids] = best, ok
    return Tau2Fit(tau2, converged, iters)


def _local(yi: FloatArray, vi: FloatArray, group: IntArray, mask: np.ndarray, full: Blocks
           ) -> tuple[ActiveSet, Blocks, np.ndarray]:
    """The studies of the analyses in ``mask``, renumbered 0 … m−1 in the order of their
    numbers, as an :class:`ActiveSet` and as :class:`Blocks` (from ``full``), and the analyses'
    numbers. Every per-analysis step is independent of the other analyses, so the results for
    these analyses are the same as over all n, at a cost in m, not n."""
    ids = np.flatnonzero(mask)
    local = np.full(mask.size, -1, dtype=np.intp)
    local[ids] = np.arange(ids.size)
    sel = mask[group]
    studies = ActiveSet(yi[sel], vi[sel], local[group[sel]], np.ones(ids.size, dtype=bool))
    return studies, full.subset(mask).renumbered(local), ids


def _ml_loglik(studies: ActiveSet | Blocks, tau2: FloatArray, n: int, reml: bool = False
               ) -> FloatArray:
    """Log-likelihood of the random-effects model up to a constant (Viechtbauer 2005, eq. 4–5):
    −½Σlog(vᵢ+τ²) − ½Σwᵢ(yᵢ−μ̂)², minus ½log Σwᵢ for the restricted likelihood. On
    :class:`Blocks` the same sums, cheaper (``Blocks.loglik``)."""
    if isinstance(studies, Blocks):
        return studies.loglik(tau2, n, reml)
    g = studies.group
    wi = 1 / (studies.vi + tau2[g])
    sw = np.bincount(g, weights=wi, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.bincount(g, weights=wi * studies.yi, minlength=n) / sw
        ll = -0.5 * np.bincount(g, weights=np.log(studies.vi + tau2[g]) + wi * (studies.yi - mu[g])
                                ** 2, minlength=n)
        return ll - 0.5 * np.log(sw) if reml else ll


def _reml_loglik(studies: ActiveSet | Blocks, tau2: FloatArray, n: int) -> FloatArray:
    return _ml_loglik(studies, tau2, n, reml=True)


def _beaten_on_grid(studies: ActiveSet, n: int, k: np.ndarray, loglik: Callable[..., FloatArray],
                    active: np.ndarray, ll_hat: FloatArray, lik: Blocks | None = None,
                    ll_tol: float = LL_TOL) -> np.ndarray:
    """Analyses where some point of a coarse τ² grid (every third point of :data:`GRID`) is
    clearly more likely than the current estimate (metafor's ``ll0check`` tolerance).
    ``lik``: the same studies as :class:`Blocks`, for the likelihood (same values, cheaper); the
    current estimate must then be τ² = 0 (``ll_hat`` = the log-likelihood at 0), and grid points
    that provably cannot be more likely are not evaluated (the answer is the same)."""
    lik_of: ActiveSet | Blocks = studies if lik is None else lik
    tol = ll_tol * np.maximum(1.0, np.abs(ll_hat))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.bincount(studies.group, weights=studies.vi, minlength=n) / np.maximum(k, 1)
        if lik is not None:
            # ll(τ²) − ll(0) ≤ ½[Q(0) − (k−1)·log(1 + τ²/v_max)] for ML and REML, because Q(τ²) ≥ 0,
            # Σlog(1 + τ²/vᵢ) ≥ log(1 + τ²/v_min) + (k−1)·log(1 + τ²/v_max), and the REML term
            # ½log(Σwᵢ(0)/Σwᵢ(τ²)) ≤ ½log(1 + τ²/v_min) (log-likelihoods: Viechtbauer 2005,
            # eq. 4–5). Where that bound is below −10⁴ × the tolerance the point cannot win.
            q0, _ = lik.q_and_slope(np.zeros(n), n)
            v_max = lik.largest_v(n)
            columns = int(active.sum())
        live = active
        beaten = np.zeros(n, dtype=bool)
        for g in GRID[1::3]:
            tau2 = g * scale
            if lik is not None:
                live = live & ~(0.5 * (q0 - (k - 1) * np.log1p(tau2 / v_max)) < -1e4 * tol)
                remaining = int(live.sum())
                if remaining == 0:
                    break
                if remaining < 0.7 * columns:  # the bound only grows with τ²: drop those columns
                    lik_of, columns = lik.subset(live), remaining
            ll = loglik(lik_of, tau2, n)
            beaten |= live & (ll - ll_hat > tol)
    return beaten


def _global_search(studies: ActiveSet, n: int, k: np.ndarray, step: Callable[..., FloatArray],
                   loglik: Callable[..., FloatArray], active: np.ndarray, current: FloatArray,
                   lik: Blocks | None = None, control: Control = DEFAULT_CONTROL
                   ) -> tuple[FloatArray, np.ndarray]:
    """The most likely τ² of each ``active`` analysis: grid, then the score root beside the best
    grid point, compared with ``current`` and with τ² = 0. ``lik``: as in :func:`_beaten_on_grid`."""
    lik_of: ActiveSet | Blocks = studies if lik is None else lik
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.bincount(studies.group, weights=studies.vi, minlength=n) / np.maximum(k, 1)
    points = GRID[:, None] * scale[None, :]
    lls = np.stack([loglik(lik_of, p, n) for p in points])
    lls = np.where(np.isfinite(lls), lls, -np.inf)
    j = np.argmax(lls, axis=0)
    cols = np.arange(n)
    # the maximum lies where the score falls through 0 next to the best grid point: in the
    # interval to its left or to its right
    left = points[np.maximum(j - 1, 0), cols]
    mid = points[j, cols]
    right = points[np.minimum(j + 1, len(GRID) - 1), cols]
    f_left, f_mid, f_right = (_step_at(studies, p, n, k, step) for p in (left, mid, right))
    use_left = (f_left > 0) & ~(f_mid > 0)
    lo, hi = np.where(use_left, left, mid), np.where(use_left, mid, right)
    interior = active & (use_left | ((f_mid > 0) & (f_right < 0)))
    root, _, _ = _bracketed(studies, n, k, step, interior, lo, hi, control)
    # candidates in order of preference; the first within LL_TOL of the best likelihood wins, so
    # that an exact root beats a nearly-as-likely unconverged iterate
    candidates = np.stack([np.where(interior, root, points[j, cols]), np.zeros(n),
                           np.nan_to_num(current)])
    cand_ll = np.stack([loglik(lik_of, c, n) for c in candidates])
    cand_ll = np.where(np.isfinite(cand_ll), cand_ll, -np.inf)
    top = cand_ll.max(axis=0)
    pick = np.argmax(cand_ll >= top - control.ll_tol * np.maximum(1.0, np.abs(top)), axis=0)
    best = candidates[pick, cols]
    # converged: the winner is a root (the Fisher step there is below tolerance) or the boundary
    # maximum at 0 (score at 0 not positive)
    step_best = _step_at(studies, best, n, k, step)
    converged = (np.abs(step_best) <= control.root_tol * np.maximum(1.0, best)) | \
        ((best == 0) & ~(step_best > 0))
    return best, converged & active


def _widen(studies: ActiveSet, n: int, k: np.ndarray, step: Callable[..., FloatArray],
           active: np.ndarray, hi: FloatArray) -> FloatArray:
    """Grow ``hi`` until the estimating equation changes sign (score < 0)."""
    f_hi = _step_at(studies, hi, n, k, step)
    for _ in range(200):
        grow = active & (f_hi > 0)
        if not grow.any():
            break
        hi = np.where(grow, hi * 4, hi)
        f_hi = np.where(grow, _step_at(studies, hi, n, k, step), f_hi)
    return hi


def _step_at(studies: ActiveSet, tau2: FloatArray, n: int, k: np.ndarray,
             step: Callable[..., FloatArray]) -> FloatArray:
    """The scoring step of every active analysis at ``tau2`` (its sign is the score's)."""
    g = studies.group

    def ssum(v: FloatArray) -> FloatArray:
        return np.bincount(g, weights=v, minlength=n)

    wi = 1 / (studies.vi + tau2[g])
    sw = ssum(wi)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = ssum(wi * studies.yi) / sw
        return step(wi, (studies.yi - mu[g]) ** 2, sw, k, ssum)


def _bracketed(studies: ActiveSet, n: int, k: np.ndarray, step: Callable[..., FloatArray],
               active: np.ndarray, lo: FloatArray, hi: FloatArray,
               control: Control = DEFAULT_CONTROL) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """Root of the estimating equation in [lo, hi] by the Illinois variant of regula falsi
    (Dowell & Jarratt 1971, BIT 11:168), vectorised; where the score at ``lo`` is not positive
    the root is ``lo`` (for lo = 0: the boundary maximum)."""
    lo, hi = lo.copy(), hi.copy()
    f_lo = _step_at(studies, lo, n, k, step)
    f_hi = _step_at(studies, hi, n, k, step)
    at_lo = active & ~(f_lo > 0)
    todo = active & ~at_lo
    converged = at_lo.copy()
    iters = np.zeros(n, dtype=np.int64)
    x = lo.copy()
    side = np.zeros(n)
    for _ in range(control.root_maxiter):
        if not todo.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(todo, (lo * f_hi - hi * f_lo) / (f_hi - f_lo), x)
        x = np.where(todo & ~np.isfinite(x), 0.5 * (lo + hi), x)
        fx = _step_at(studies, x, n, k, step)
        right = todo & (fx > 0)  # root lies right of x
        left = todo & ~right
        lo, f_lo = np.where(right, x, lo), np.where(right, fx, f_lo)
        hi, f_hi = np.where(left, x, hi), np.where(left, fx, f_hi)
        # Illinois: halve the retained end's value when the same end is kept twice
        f_hi = np.where(right & (side > 0), f_hi / 2, f_hi)
        f_lo = np.where(left & (side < 0), f_lo / 2, f_lo)
        side = np.where(right, 1.0, np.where(left, -1.0, side))
        iters += todo
        scale = np.maximum(1.0, np.abs(x))
        tol = control.threshold * scale
        now = todo & (((hi - lo) <= tol) | (np.abs(fx) <= tol))
        converged |= now
        todo &= ~now
    return np.where(at_lo, lo, x), converged, iters


def _ml_step(wi: FloatArray, r2: FloatArray, sw: FloatArray, k: np.ndarray,
             ssum: SegmentSum) -> FloatArray:
    """ML scoring step (Σw²r² − Σw)/Σw² (Hardy & Thompson 1996; Viechtbauer 2005, eq. 7)."""
    return (ssum(wi**2 * r2) - sw) / ssum(wi**2)


def _reml_step(wi: FloatArray, r2: FloatArray, sw: FloatArray, k: np.ndarray,
               ssum: SegmentSum) -> FloatArray:
    """REML scoring step (Σw²r² − tr P)/tr(P²), P = W − wwᵀ/Σw (Viechtbauer 2005, eq. 9)."""
    sw2, sw3 = ssum(wi**2), ssum(wi**3)
    tr_p = sw - sw2 / sw
    tr_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
    return (ssum(wi**2 * r2) - tr_p) / tr_pp


NEWTON_SWITCH = DEFAULT_CONTROL.newton_switch  # |Δτ²|/max(1, τ²): REML's Newton steps below it


def _reml_newton_step(wi: FloatArray, r: FloatArray, sw: FloatArray, k: np.ndarray,
                      ssum: SegmentSum, near: np.ndarray) -> FloatArray:
    """REML step: Fisher scoring, or, where ``near`` and the log-likelihood is locally concave,
    Newton–Raphson with the observed information, which converges quadratically to the root
    that scoring is approaching instead of linearly.

    Score U = y'P²y − tr P = Σw²r² − tr P; Fisher information tr(P²) (Viechtbauer 2005, eq. 9);
    observed −dU/dτ² = 2·y'P³y − tr(P²), with y'P³y = Σw³r² − (Σw²r)²/Σw since Py = w∘r
    (Harville 1977, JASA 72:320, §4 — derivatives of the restricted likelihood; dP/dτ² = −P²).
    """
    w2 = wi**2
    r2 = r**2
    sw2, sw3 = ssum(w2), ssum(wi**3)
    tr_p = sw - sw2 / sw
    tr_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
    score = ssum(w2 * r2) - tr_p
    fisher = score / tr_pp  # the arithmetic of _reml_step
    if not near.any():
        return fisher
    observed = 2 * (ssum(w2 * wi * r2) - ssum(w2 * r) ** 2 / sw) - tr_pp
    newton = score / observed
    use = near & (observed > 0) & np.isfinite(newton)
    return np.where(use, newton, fisher)


def _eb_step(wi: FloatArray, r2: FloatArray, sw: FloatArray, k: np.ndarray,
             ssum: SegmentSum) -> FloatArray:
    """Empirical Bayes step (Q·k/(k−1) − k)/Σw (Morris 1983, JASA 78:47; Berkey et al. 1995)."""
    return (ssum(wi * r2) * k / (k - 1) - k) / sw


def _scored(step: Callable[..., FloatArray],
            loglik: Callable[..., FloatArray] | None = None) -> Callable[..., Tau2Fit]:
    def estimator(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, *,
                  control: Control = DEFAULT_CONTROL) -> Tau2Fit:
        return _fisher_scoring(yi, vi, group, n, step, loglik, control)
    return estimator


# estimator(yi, vi, group, n, *, control) (the codes of trialsynth.registry.methods)
Estimator = Callable[..., Tau2Fit]
VERIFY_TOL = 1e-7  # a solution must satisfy its estimating equation to this (relative) precision


def _unit_scale(yi: FloatArray, vi: FloatArray, group: IntArray, n: int
                ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Each analysis centred on its mean effect and measured in units of its smallest variance:
    (yᵢ − ȳ)/√v₍₁₎, vᵢ/v₍₁₎, and v₍₁₎ per analysis. τ² estimators are equivariant (τ² of c·y
    with variances c²·v is c²·τ², and a shift of y leaves it unchanged; Viechtbauer 2005, §2),
    so τ² = v₍₁₎·τ²′. In these units every weight 1/(vᵢ′ + τ²′) is at most 1 (no overflow in
    the sums of squared and cubed weights), and the stopping rules |Δτ²′| < tol·max(1, τ²′) and
    search brackets mean the same for data in any unit: a change of τ² below tol·v₍₁₎ changes
    no study's weight beyond the tolerance."""
    k = segment_count(group, n)
    vmin = np.full(n, np.inf)
    np.minimum.at(vmin, group, vi)
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = segment_sum(yi, group, n) / k
    vmin = np.where(np.isfinite(vmin) & (vmin > 0), vmin, 1.0)
    ybar = np.where(np.isfinite(ybar), ybar, 0.0)
    s = vmin[group]
    return (yi - ybar[group]) / np.sqrt(s), vi / s, vmin


def _honest(fit: Tau2Fit, yi: FloatArray, vi: FloatArray, group: IntArray, n: int,
            step: Callable[..., FloatArray] | None) -> np.ndarray:
    """``converged`` only where the value solves its estimating equation (unit-scale data):
    the scoring step (ML, REML, EB) or Q(τ²) − (k − 1) (PM, ``step`` None) is ~0 relative to
    τ², or τ² is ~0 with the equation pointing below the boundary. A non-finite τ² never is."""
    k = segment_count(group, n)
    tau2 = fit.tau2
    t = np.nan_to_num(tau2)
    studies = ActiveSet(yi, vi, group, k >= 2)
    if step is None:  # Paule–Mandel: Q(τ²) = k − 1 (DerSimonian & Kacker 2007, eq. 6)
        q, _ = q_and_slope(studies, t, n)
        gap = q - (k - 1)
        solved = np.abs(gap) <= VERIFY_TOL * np.maximum(k - 1, 1)
        boundary = (t <= VERIFY_TOL) & (gap <= VERIFY_TOL * np.maximum(k - 1, 1))
    else:
        adj = _step_at(studies, t, n, k, step)
        solved = np.abs(adj) <= VERIFY_TOL * np.maximum(1.0, t)
        # the maximum on τ² ≥ 0 is at 0 when the equation points below it; scoring with step
        # halving (metafor's) approaches 0 geometrically, so "at 0" is within the tolerance
        boundary = (t <= VERIFY_TOL) & ~(adj > VERIFY_TOL)
    ok = np.isfinite(tau2) & ((k == 1) | (solved | boundary))
    return fit.converged & ok


def _in_unit_scale(estimator: Estimator, step: Callable[..., FloatArray] | None) -> Estimator:
    """``estimator`` run on unit-scale data (:func:`_unit_scale`), τ² back in the data's units,
    and ``converged`` checked on the solution (:func:`_honest`). ``control`` is passed on; its
    search bound ``tau2_max`` (in the data's units) is passed to Paule–Mandel in unit scale."""
    def scaled(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, *,
               control: Control = DEFAULT_CONTROL) -> Tau2Fit:
        y, v, vbar = _unit_scale(yi, vi, group, n)
        if step is None and control.tau2_max is not None:  # Paule–Mandel's first bracket end
            fit = estimator(y, v, group, n, control=control, start=control.tau2_max / vbar)
        else:
            fit = estimator(y, v, group, n, control=control)
        converged = _honest(fit, y, v, group, n, step)
        return Tau2Fit(fit.tau2 * vbar, converged, fit.iterations)
    scaled.__doc__ = estimator.__doc__
    scaled.__name__ = getattr(estimator, "__name__", "estimator")
    return scaled


def settle_reml(yi: FloatArray, vi: FloatArray, group: IntArray, n: int, tau2: FloatArray,
                scoring_done: np.ndarray, iterations: np.ndarray,
                control: Control = DEFAULT_CONTROL) -> Tau2Fit:
    """The end of :func:`restricted_maximum_likelihood` from where its Fisher scoring stopped, on
    unit-scale data (:func:`_unit_scale`): ``tau2`` the iterate (NaN where it overflowed),
    ``scoring_done`` where the scoring converged. The likelihood checks and the global search of
    :func:`_settle_likelihood`, then :func:`_honest`. Used by the compiled kernels for the
    analyses their scoring hands back (:mod:`trialsynth.pooling.compiled`)."""
    k = segment_count(group, n)
    fit = _settle(yi, vi, group, n, k, _reml_step, _reml_loglik, Blocks(yi, vi, group, k, k >= 2),
                  (k >= 2) & ~scoring_done, tau2, scoring_done, iterations, control)
    return Tau2Fit(fit.tau2, _honest(fit, yi, vi, group, n, _reml_step), fit.iterations)


maximum_likelihood = _in_unit_scale(_scored(_ml_step, _ml_loglik), _ml_step)
restricted_maximum_likelihood = _in_unit_scale(_scored(_reml_step, _reml_loglik), _reml_step)
empirical_bayes = _in_unit_scale(_scored(_eb_step), _eb_step)
paule_mandel = _in_unit_scale(_paule_mandel, None)

ESTIMATORS: dict[str, Estimator] = {
    "DL": dersimonian_laird,
    "REML": restricted_maximum_likelihood,
    "ML": maximum_likelihood,
    "PM": paule_mandel,
    "HE": hedges,
    "SJ": sidik_jonkman,
    "EB": empirical_bayes,
}
