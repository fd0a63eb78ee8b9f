"""``bayes_summary``: the Bayesian random-effects answer to "how likely is an important benefit?"
for a pooled analysis (:class:`PooledResult`), and :func:`bayes_summaries` for many at once.

The minimal important difference (MID) follows the review protocol (:class:`trialsynth.review.protocol.Mid`)
and GRADE (:mod:`trialsynth.assess.certainty.grade`): for ratio measures (RR, OR, Peto OR; analysed as
logarithms) it is a relative change r in (0, 1), so r = 0.1 puts the thresholds at RR 0.9 and
RR 1.1, i.e. log(1 − r) and log(1 + r) on the analysis scale (not symmetric on the log scale);
for other measures it is in the measure's units (e.g. 10 points on a 0-100 pain scale) and the
thresholds are −MID and +MID. With ``direction="lower"`` (lower values favour the intervention)
"important benefit" is μ below the lower threshold, "important harm" μ above the upper one, and
"trivial" μ between them; ``direction="higher"`` swaps benefit and harm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from trialsynth._json import finite
from trialsynth.assess.bayes.nnhm import nnhm_batch
from trialsynth.assess.bayes.priors import TauPrior, half_normal
from trialsynth.errors import DataError
from trialsynth.pooling.result import RATIO_MEASURES, PooledResult

Direction = Literal["lower", "higher"]


@dataclass(frozen=True, slots=True)
class BayesSummary:
    """Posterior of one analysis under the NNHM (analysis scale; ``exp`` back-transforms ratios).

    ``p_benefit``, ``p_harm``, ``p_trivial``: posterior probabilities that the mean effect μ is an
    important benefit, an important harm, or trivial (see the module docstring); the
    ``predictive_*`` ones are the same for the effect in a new study.
    """

    measure: str
    k: int
    prior: dict[str, Any]
    mu_prior: dict[str, float] | None
    level: float
    mu_mean: float
    mu_median: float
    mu_sd: float
    mu_low: float
    mu_high: float
    tau_mean: float
    tau_median: float
    tau_low: float
    tau_high: float
    predictive_mean: float
    predictive_sd: float
    predictive_low: float
    predictive_high: float
    mid: float | None
    mid_lower: float | None
    mid_upper: float | None
    direction: Direction | None
    p_benefit: float | None
    p_harm: float | None
    p_trivial: float | None
    predictive_p_benefit: float | None
    predictive_p_harm: float | None
    predictive_p_trivial: float | None
    notes: tuple[str, ...] = ()

    @property
    def exp(self) -> dict[str, float] | None:
        if self.measure not in RATIO_MEASURES:
            return None
        keys = ("mu_median", "mu_low", "mu_high", "predictive_low", "predictive_high")
        return {key: math.exp(getattr(self, key)) for key in keys}

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]
        out["notes"] = list(self.notes)
        out["exp"] = self.exp
        return {key: (finite(val) if isinstance(val, float) else val) for key, val in out.items()}


def mid_bounds(measure: str, mid: float) -> tuple[float, float]:
    """The MID as (lower, upper) thresholds on the analysis scale (module docstring)."""
    if not math.isfinite(mid) or mid <= 0:
        raise DataError(f"the MID must be a positive number, got {mid!r}", field="mid")
    if measure in RATIO_MEASURES:
        if mid >= 1:
            raise DataError(f"the MID of a ratio measure is a relative change in (0, 1), e.g. 0.1 "
                            f"for RR 0.9 / 1.1; got {mid!r}", field="mid")
        return math.log(1 - mid), math.log(1 + mid)  # GRADE 6: thresholds RR 1 − r and 1 + r
    return -mid, mid


def default_prior(result: PooledResult) -> TauPrior:
    """A weakly informative half-normal τ prior on the analysis' scale.

    Log ratios and SMD: half-normal(0.5), which puts 95% prior probability on τ < 0.98 (Friede et
    al. 2017, Biom J 59:658; Röver et al. 2021, Res Synth Methods 12:448, section 4). MD: the same
    prior expressed in outcome units, half-normal(σ_u/4) with the unit-information SD
    σ_u = sqrt(N / Σ s_i⁻²) (Röver et al. 2021, eq. 9), since an SMD of 0.5 is 0.5 SD and
    σ_u ≈ 2 SD for two equal arms.
    """
    if result.measure in (*RATIO_MEASURES, "SMD") or not result.participants:
        return half_normal(0.5)
    se = np.array([s.se for s in result.studies if s.included and s.se], dtype=np.float64)
    uisd = math.sqrt(result.participants / float(np.sum(se ** -2.0)))
    return TauPrior("half-normal", uisd / 4,
                    label=f"half-normal(scale={uisd / 4:.4g}) = unit-information SD/4")


def bayes_summary(result: PooledResult, *, mid: float | None = None,
                  direction: Direction | None = None, prior: TauPrior | None = None,
                  mu_prior: tuple[float, float] | None = None, level: float = 0.95
                  ) -> BayesSummary:
    """Bayesian random-effects meta-analysis of the studies pooled in ``result``.

    ``prior``: τ prior (default :func:`default_prior`); ``mu_prior``: (mean, sd) of a normal prior
    for μ, default flat. ``mid`` and ``direction`` ("lower" or "higher" is better) give the
    probabilities of an important benefit, important harm and a trivial effect.
    """
    return bayes_summaries([result], mids=[mid], directions=[direction],
                           priors=[prior], mu_prior=mu_prior, level=level)[0]


def bayes_summaries(results: Sequence[PooledResult], *, mids: Sequence[float | None],
                    directions: Sequence[Direction | None],
                    priors: Sequence[TauPrior | None] | None = None,
                    mu_prior: tuple[float, float] | None = None, level: float = 0.95
                    ) -> list[BayesSummary]:
    """:func:`bayes_summary` for many analyses in one batch (one τ grid, one set of kernels)."""
    n = len(results)
    if n == 0:  # nothing to summarise (e.g. a review where no analysis could be pooled)
        return []
    if priors is None:
        priors = [None] * n
    if not (len(mids) == len(directions) == len(priors) == n):
        raise DataError("results, mids, directions and priors must have the same length")
    ys, ses, groups, used = [], [], [], []
    for a, res in enumerate(results):
        rows = [(s.yi, s.se) for s in res.studies if s.included and s.yi is not None
                and s.se is not None and s.se > 0]
        ys += [r[0] for r in rows]
        ses += [r[1] for r in rows]
        groups += [a] * len(rows)
        used.append(prior if (prior := priors[a]) is not None else default_prior(res))
    for d in directions:
        if d not in (None, "lower", "higher"):
            raise DataError(f"direction must be 'lower' or 'higher' (which is better), got {d!r}",
                            field="direction")
    m0, s0 = (None, None) if mu_prior is None else mu_prior
    batch = nnhm_batch(np.array(ys, dtype=np.float64), np.array(ses, dtype=np.float64),
                       np.array(groups, dtype=np.intp), n, used, mu_prior_mean=m0,
                       mu_prior_sd=s0, level=level)
    bounds = np.array([(np.nan, np.nan) if m is None else mid_bounds(r.measure, m)
                       for r, m in zip(results, mids, strict=True)]).reshape(n, 2)
    lower_mu, upper_mu = batch.mu_cdf(bounds[:, 0]), 1 - batch.mu_cdf(bounds[:, 1])
    lower_new = batch.predictive_cdf(bounds[:, 0])
    upper_new = 1 - batch.predictive_cdf(bounds[:, 1])
    out = []
    for a, res in enumerate(results):
        d = directions[a]
        has = d is not None and bool(np.isfinite(bounds[a]).all()) and batch.k[a] > 0

        def pick(lo: float, hi: float, d: Direction | None = d, has: bool = has
                 ) -> tuple[float | None, float | None, float | None]:
            if not has:
                return None, None, None
            benefit, harm = (lo, hi) if d == "lower" else (hi, lo)
            return float(benefit), float(harm), float(1 - benefit - harm)

        pb, ph, pt = pick(lower_mu[a], upper_mu[a])
        nb, nh, nt = pick(lower_new[a], upper_new[a])
        notes = []
        if batch.k[a] == 0:
            notes.append("no study could be pooled")
        elif batch.k[a] == 1:
            notes.append("one study: the posterior of tau is its prior")
        out.append(BayesSummary(
            measure=res.measure, k=int(batch.k[a]), prior=used[a].to_dict(),
            mu_prior=None if mu_prior is None else {"mean": m0, "sd": s0}, level=level,
            mu_mean=float(batch.mu_mean[a]), mu_median=float(batch.mu_median[a]),
            mu_sd=float(batch.mu_sd[a]), mu_low=float(batch.mu_low[a]),
            mu_high=float(batch.mu_high[a]), tau_mean=float(batch.tau_mean[a]),
            tau_median=float(batch.tau_median[a]), tau_low=float(batch.tau_low[a]),
            tau_high=float(batch.tau_high[a]), predictive_mean=float(batch.pred_mean[a]),
            predictive_sd=float(batch.pred_sd[a]), predictive_low=float(batch.pred_low[a]),
            predictive_high=float(batch.pred_high[a]), mid=mids[a],
            mid_lower=float(bounds[a, 0]) if mids[a] is not None else None,
            mid_upper=float(bounds[a, 1]) if mids[a] is not None else None,
            direction=d, p_benefit=pb, p_harm=ph, p_trivial=pt, predictive_p_benefit=nb,
            predictive_p_harm=nh, predictive_p_trivial=nt, notes=tuple(notes)))
    return out
