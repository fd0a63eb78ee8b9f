"""Inconsistency in a network: design-by-treatment interaction test and node splitting.

* Design-by-treatment interaction (Higgins et al. 2012, Res Synth Methods 3:98, §3; White et al.
  2012, Res Synth Methods 3:111): the consistency model is compared with the model in which every
  design (set of treatments a study compares) has its own treatment effects. The Wald test of the
  inconsistency parameters, with the variance components of the inconsistency model, equals
  Q_cons(θ) − Q_dbt(θ), the drop in r'V(θ)⁻¹r, on df = rank(X_dbt) − (T − 1). Common effect: θ = 0
  (netmeta ``decomp.design``: "between designs" Q); REML/ML: τ² by that method in the inconsistency
  model (Higgins 2012); DL: the moment estimator in the inconsistency model (netmeta's random-
  effects design-by-treatment Q, τ² by the method of moments, Jackson et al. 2012).
* Node splitting (Dias et al. 2010, Stat Med 29:932, §2.2, frequentist form): for a comparison
  a–b with direct evidence, the contrast b − a of every study with both arms gets its own
  parameter ω: direct = (d_b − d_a) + ω, indirect = d_b − d_a, difference ω with its Wald z test.
  A multi-arm study with both arms is re-expressed against arm a (so only its b − a contrast is
  split; Dias 2010 §2.2.1, van Valkenhoef et al. 2016). τ² is re-estimated in every split model by
  the network's method. A comparison is split only when the split model is identifiable (there is
  indirect evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trialsynth._dist import chi2_sf, norm_isf, norm_sf
from trialsynth.nma import design
from trialsynth.nma.model import METHODS, RANDOM, NetworkFit, study_blocks
from trialsynth.nma.mv import DEFAULT_CONTROL, Control, MvBlocks, fit_mv, pack_blocks


@dataclass(frozen=True, slots=True)
class DesignByTreatment:
    q: float | None
    df: int
    pvalue: float | None
    tau2: float | None  # τ² of the inconsistency model (random effects), None for common effect
    q_within: float | None = None  # common-effect Q within designs (Krahn et al. 2013)
    df_within: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"q": self.q, "df": self.df, "pvalue": self.pvalue, "tau2": self.tau2,
                "q_within_designs": self.q_within, "df_within_designs": self.df_within}


@dataclass(frozen=True, slots=True)
class NodeSplit:
    """One split comparison: ``treatment`` against ``comparator`` (b against a)."""

    treatment: str
    comparator: str
    direct: float
    direct_se: float
    indirect: float
    indirect_se: float
    difference: float
    difference_se: float
    pvalue: float
    tau2: float | None
    confidence_level: float = 0.95

    def ci(self, est: float, se: float) -> tuple[float, float]:
        z = float(norm_isf((1 - self.confidence_level) / 2))
        return est - z * se, est + z * se

    def to_dict(self) -> dict[str, Any]:
        d_lo, d_hi = self.ci(self.direct, self.direct_se)
        i_lo, i_hi = self.ci(self.indirect, self.indirect_se)
        return {"comparison": f"{self.treatment} vs {self.comparator}",
                "treatment": self.treatment, "comparator": self.comparator,
                "direct": self.direct, "direct_se": self.direct_se, "direct_ci_low": d_lo,
                "direct_ci_high": d_hi, "indirect": self.indirect,
                "indirect_se": self.indirect_se, "indirect_ci_low": i_lo,
                "indirect_ci_high": i_hi, "difference": self.difference,
                "difference_se": self.difference_se, "pvalue": self.pvalue, "tau2": self.tau2}


def design_by_treatment(fit: NetworkFit, control: Control = DEFAULT_CONTROL) -> DesignByTreatment:
    """Higgins et al. 2012 design-by-treatment interaction test (see the module docstring)."""
    data = fit.data
    ys, vs, xs, gs, p = study_blocks(data, fit.reference)
    designs, offset = design.design_rows(data.studies)
    p_dbt = sum(len(d) - 1 for d in designs)
    xd = []
    for s in data.studies:
        x = np.zeros((len(s.y), p_dbt))
        for r, t in enumerate(s.arms[1:]):  # the baseline is the design's first treatment
            x[r, offset[s.design] + s.design.index(t) - 1] = 1.0
        xd.append(x)
    df = p_dbt - p
    if df <= 0:
        return DesignByTreatment(None, 0, None, None)
    n = len(ys)
    group = np.zeros(n, dtype=np.intp)
    dbt = pack_blocks(ys, vs, xd, [gs], group, 1, np.array([p_dbt]))
    method = METHODS[fit.method]
    inc = fit_mv(dbt, method, control=control)
    theta = inc.theta if fit.method in RANDOM and inc.q_df[0] > 0 else np.zeros((1, 1))
    cons = fit_mv(pack_blocks(ys, vs, xs, [gs], group, 1, np.array([p])), "FE", theta=theta)
    at = fit_mv(dbt, "FE", theta=theta)
    q = float(cons.rss[0] - at.rss[0])  # Wald statistic of the inconsistency parameters
    tau2 = float(theta[0, 0]) if fit.method in RANDOM else None
    return DesignByTreatment(q, df, float(chi2_sf(q, df)), tau2, float(inc.q[0]),
                             int(inc.q_df[0]))


def split_blocks(fit: NetworkFit, a: int, b: int) -> MvBlocks | None:
    """The node-splitting model of treatments a < b as a one-analysis batch (None when it
    cannot be fitted)."""
    m = _split_model(fit, a, b)
    if m is None:
        return None
    ys, vs, xs, gs, p = m
    return pack_blocks(ys, vs, xs, [gs], np.zeros(len(ys), dtype=np.intp), 1, np.array([p + 1]))


def _split_model(fit: NetworkFit, a: int, b: int) -> tuple[list, list, list, list, int] | None:
    """The node-splitting model of a–b (None without direct evidence or when not identifiable)."""
    data = fit.data
    col = design.columns(len(data.treatments), fit.reference)
    p = len(col)
    ys, vs, xs, gs, has = [], [], [], [], False
    for s in data.studies:
        both = a in s.arms and b in s.arms
        arms, y, v = design.rebase(s, a) if both else (s.arms, s.y, s.v)
        x = np.zeros((len(y), p + 1))
        x[:, :p] = design.consistency_rows(arms, col, p)
        if both:
            x[arms.index(b) - 1, p] = 1.0  # the split contrast b − a
            has = True
        ys.append(y)
        vs.append(v)
        xs.append(x)
        gs.append(design.structure(len(y)))
    if not has or np.linalg.matrix_rank(np.vstack(xs)) < p + 1:
        return None
    return ys, vs, xs, gs, p


def node_split(fit: NetworkFit, control: Control = DEFAULT_CONTROL) -> list[NodeSplit]:
    """Every comparison with direct and indirect evidence, split (Dias et al. 2010), all split
    models fitted in one batch."""
    t = len(fit.treatments)
    models, pairs = [], []
    for a in range(t):
        for b in range(a + 1, t):
            m = _split_model(fit, a, b)
            if m is not None:
                models.append(m)
                pairs.append((a, b))
    if not models:
        return []
    ys, vs, xs, gs, group = [], [], [], [], []
    for g, (y, v, x, gg, _) in enumerate(models):
        ys += y
        vs += v
        xs += x
        gs += gg
        group += [g] * len(y)
    p = models[0][4]
    blocks = pack_blocks(ys, vs, xs, [gs], np.array(group), len(models),
                         np.full(len(models), p + 1))
    res = fit_mv(blocks, METHODS[fit.method], control=control)
    col = design.columns(t, fit.reference)
    out = []
    for g, (a, b) in enumerate(pairs):
        c = np.zeros(p + 1)
        if b in col:
            c[col[b]] += 1.0
        if a in col:
            c[col[a]] -= 1.0
        cd = c.copy()
        cd[p] = 1.0
        beta, vc = res.beta[g, : p + 1], res.vcov[g][: p + 1, : p + 1]
        ind, ind_se = float(c @ beta), float(np.sqrt(c @ vc @ c))
        dire, dir_se = float(cd @ beta), float(np.sqrt(cd @ vc @ cd))
        omega, omega_se = float(beta[p]), float(np.sqrt(vc[p, p]))
        sign, (tr, cp) = (-1.0, (a, b)) if b == fit.reference else (1.0, (b, a))
        out.append(NodeSplit(  # oriented against the reference where it is one of the two
            fit.treatments[tr], fit.treatments[cp], sign * dire, dir_se, sign * ind, ind_se,
            sign * omega, omega_se,
            float(2 * norm_sf(abs(omega / omega_se))),  # Dias 2010: Wald test of ω = 0
            float(res.theta[g, 0]) if fit.method in RANDOM else None, fit.confidence_level))
    return out
