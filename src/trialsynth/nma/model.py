"""The consistency model of network meta-analysis, fitted for many networks at once.

Methods: ``IV`` common effect (τ² = 0; generalised least squares, which equals the graph-theoretical
approach of Rücker 2012, Res Synth Methods 3:312, for arm-additive variances); ``REML`` and ``ML``
(metafor ``rma.mv(yi, V, mods, random = ~ comp | study, rho = 1/2)``); ``DL``, netmeta's
generalised DerSimonian–Laird estimator: τ² = max(0, (Q − df)/tr((I − H)UW)) in netmeta's
all-pairs form (Jackson, White & Riley 2012; Rücker & Schwarzer 2014, Stat Med 33:4353), which is
(Q − df)/tr(P₀G) in the contrast basis used here (:func:`trialsynth.nma.mv.moment_theta`): both are
the method-of-moments equation E[Q] = df + τ² tr(·) for the same Q and the same heterogeneity
model (each comparison τ², τ²/2 between comparisons of one study).

Q is the generalised Cochran statistic r'S⁻¹r of the common-effect fit on df = (number of
contrasts) − (number of treatments − 1) (Krahn et al. 2013, BMC Med Res Methodol 13:35);
I² = max(0, (Q − df)/Q) (Higgins & Thompson 2002, as netmeta reports it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialsynth._dist import norm_isf, norm_sf, t_isf
from trialsynth._json import finite
from trialsynth.nma import design
from trialsynth.nma.data import NetworkData
from trialsynth.nma.mv import DEFAULT_CONTROL, Control, MvBlocks, MvFit, fit_mv, pack_blocks

METHODS = {"IV": "FE", "DL": "DL", "REML": "REML", "ML": "ML"}
RANDOM = ("DL", "REML", "ML")


@dataclass(frozen=True, slots=True)
class NetworkFit:
    """One network's consistency model. ``d[t]``: effect of treatment t against the reference,
    ``vcov``: their covariance (treatment order of ``data``; zero row/column at the reference)."""

    data: NetworkData
    reference: int
    method: str
    d: np.ndarray
    vcov: np.ndarray
    tau2: float | None
    q: float
    q_df: int
    q_pvalue: float | None
    i2: float | None
    converged: bool
    iterations: int
    loglik: float | None
    warnings: tuple[str, ...]
    confidence_level: float = 0.95

    @property
    def treatments(self) -> tuple[str, ...]:
        return self.data.treatments

    @property
    def random(self) -> bool:
        return self.method in RANDOM and self.tau2 is not None

    def contrast(self, i: int, j: int) -> tuple[float, float]:
        """Effect of treatment i against treatment j and its SE."""
        var = self.vcov[i, i] + self.vcov[j, j] - 2 * self.vcov[i, j]
        return float(self.d[i] - self.d[j]), float(np.sqrt(max(var, 0.0)))

    def interval(self, i: int, j: int) -> dict[str, float | None]:
        """Estimate, SE, Wald CI and p-value of i against j; prediction interval for random
        effects: est ± t(df)·√(SE² + τ²) (Higgins, Thompson & Spiegelhalter 2009; netmeta
        uses the t distribution on the df of Q)."""
        est, se = self.contrast(i, j)
        z = float(norm_isf((1 - self.confidence_level) / 2))
        out: dict[str, float | None] = {
            "estimate": est, "se": se, "ci_low": est - z * se, "ci_high": est + z * se,
            "pvalue": float(2 * norm_sf(abs(est / se))) if se > 0 else None,
            "pi_low": None, "pi_high": None}
        if self.random and self.q_df > 0:
            t = float(t_isf((1 - self.confidence_level) / 2, self.q_df))
            half = t * np.sqrt(se**2 + (self.tau2 or 0.0))
            out["pi_low"], out["pi_high"] = est - half, est + half
        return out


def study_blocks(data: NetworkData, reference: int) -> tuple[list, list, list, list, int]:
    """Per study: y, V, X and G of the consistency model; the number of basic parameters."""
    col = design.columns(len(data.treatments), reference)
    p = len(col)
    ys, vs, xs, gs = [], [], [], []
    for s in data.studies:
        ys.append(s.y)
        vs.append(s.v)
        xs.append(design.consistency_rows(s.arms, col, p))
        gs.append(design.structure(len(s.y)))
    return ys, vs, xs, gs, p


def network_blocks(datas: Sequence[NetworkData], references: Sequence[int]) -> MvBlocks:
    """Every network as one analysis (group) of a padded batch."""
    ys, vs, xs, gs, group, params = [], [], [], [], [], []
    for n, (data, ref) in enumerate(zip(datas, references, strict=True)):
        y, v, x, g, p = study_blocks(data, ref)
        ys += y
        vs += v
        xs += x
        gs += g
        group += [n] * len(y)
        params.append(p)
    return pack_blocks(ys, vs, xs, [gs], np.array(group), len(datas), np.array(params))


def fit_networks(datas: Sequence[NetworkData], references: Sequence[int], method: str, *,
                 confidence_level: float = 0.95, control: Control = DEFAULT_CONTROL
                 ) -> list[NetworkFit]:
    """Fit the consistency model of every network in one batch."""
    method = method.upper()
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    for d in datas:
        d.check_connected()
    blocks = network_blocks(datas, references)
    fit = fit_mv(blocks, METHODS[method], control=control)
    return [_one(data, ref, method, fit, n, confidence_level)
            for n, (data, ref) in enumerate(zip(datas, references, strict=True))]


def _one(data: NetworkData, ref: int, method: str, fit: MvFit, n: int, level: float) -> NetworkFit:
    col = design.columns(len(data.treatments), ref)
    t = len(data.treatments)
    d, vcov = np.zeros(t), np.zeros((t, t))
    idx = np.array(list(col), dtype=np.intp)
    pos = np.array(list(col.values()), dtype=np.intp)
    d[idx] = fit.beta[n, pos]
    vcov[np.ix_(idx, idx)] = fit.vcov[n][np.ix_(pos, pos)]
    df = int(fit.q_df[n])
    q = float(fit.q[n])
    warnings = list(data.warnings)
    tau2: float | None = float(fit.theta[n, 0]) if method in RANDOM else None
    if method in RANDOM and df <= 0:
        tau2 = None
        warnings.append("no degrees of freedom for heterogeneity (every comparison is informed "
                        "by one path of single studies): tau^2 cannot be estimated and the "
                        "random-effects results equal the common-effect ones")
    if not fit.converged[n]:
        warnings.append(f"the {method} estimator of tau^2 did not converge "
                        f"({int(fit.iterations[n])} iterations)")
    return NetworkFit(
        data=data, reference=ref, method=method, d=d, vcov=vcov, tau2=tau2, q=q, q_df=df,
        q_pvalue=float(fit.q_pvalue[n]) if df > 0 else None,
        i2=100 * max(0.0, (q - df) / q) if df > 0 and q > 0 else (0.0 if df > 0 else None),
        converged=bool(fit.converged[n]), iterations=int(fit.iterations[n]),
        loglik=finite(fit.loglik[n]),
        warnings=tuple(warnings), confidence_level=level)


def league(fit: NetworkFit) -> dict[str, dict[str, dict[str, Any]]]:
    """Every ordered pair: ``league[a][b]`` is the effect of a against b (analysis scale)."""
    names = fit.treatments
    return {names[i]: {names[j]: fit.interval(i, j) for j in range(len(names)) if j != i}
            for i in range(len(names))}
