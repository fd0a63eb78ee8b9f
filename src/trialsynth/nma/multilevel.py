"""Multilevel (three-level) meta-analysis on the multivariate kernel: several estimates per
cluster (time windows or outcomes of one trial, schools of one district), for many analyses at
once.

Model (Konstantopoulos 2011, Res Synth Methods 2:61, eq. 4; metafor ``rma.mv(yi, vi, random =
~ 1 | cluster/estimate)``): y_ij = μ + u_i + w_ij + e_ij with Var(u) = σ²₁ (between clusters),
Var(w) = σ²₂ (within clusters), e_ij ~ N(0, v_ij) independent. Per cluster block:
V = diag(v) + σ²₁J + σ²₂I, i.e. two variance components with structures J and I.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trialsynth.nma.mv import DEFAULT_CONTROL, Control, MvFit, fit_mv, pack_blocks


def multilevel(yi: Sequence[float], vi: Sequence[float], cluster: Sequence[object],
               group: Sequence[int] | None = None, *, method: str = "REML",
               control: Control = DEFAULT_CONTROL) -> MvFit:
    """Fit the three-level model for every analysis (``group``, default one analysis): θ[:, 0] is
    σ² between clusters, θ[:, 1] within clusters; ``beta[:, 0]`` the pooled effect. Sampling
    errors are independent (``vi`` variances); clusters are nested in analyses."""
    y = np.asarray(yi, dtype=np.float64)
    v = np.asarray(vi, dtype=np.float64)
    g = np.zeros(y.size, dtype=np.intp) if group is None else np.asarray(group, dtype=np.intp)
    if not (y.size == v.size == len(cluster) == g.size):
        raise ValueError("yi, vi, cluster and group must have the same length")
    blocks: dict[tuple[int, object], list[int]] = {}
    for i, (a, c) in enumerate(zip(g, cluster, strict=True)):
        blocks.setdefault((int(a), c), []).append(i)
    ys, vs, xs, between, within, gi = [], [], [], [], [], []
    for (a, _), idx in blocks.items():
        k = len(idx)
        ys.append(y[idx])
        vs.append(np.diag(v[idx]))
        xs.append(np.ones((k, 1)))
        between.append(np.ones((k, k)))  # σ²₁: shared by the estimates of one cluster
        within.append(np.eye(k))  # σ²₂: each estimate's own
        gi.append(a)
    n = int(g.max()) + 1 if g.size else 0
    return fit_mv(pack_blocks(ys, vs, xs, [between, within], np.array(gi), n, np.ones(n, int)),
                  method, control=control)
