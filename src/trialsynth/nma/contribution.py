"""How much each direct comparison and each study contributes to each network estimate.

Papakonstantinou et al. 2018 (F1000Research 7:610, "Estimating the contribution of studies in
network meta-analysis: paths, flows and streams"), as CINeMA uses it (Nikolakopoulou et al. 2020,
PLoS Med 17:e1003082, within-study bias and indirectness):

1. Aggregate hat matrix: every network estimate θ̂_ab = Σ_e h_ab,e ŷ_e, a linear combination of the
   direct (pairwise) estimates ŷ_e of the comparisons e = u–v with direct evidence. With the
   study's arm-level Laplacian L_s = C'Σ_s⁻¹C (Σ_s its contrasts' covariance, with τ²G for random
   effects; C the contrasts-from-arms matrix), the pairwise weights w_uv = −(L_s)_uv are netmeta's
   multi-arm weights (Rücker & Schwarzer 2014), W_e = Σ_s w_e, L = Σ_s L_s and
   h_ab,e = (e_a − e_b)'L⁺(e_u − e_v)·W_e (Rücker 2012, eq. 9 aggregated by comparison).
2. The row of θ̂_ab is a flow from a to b (h > 0 along u→v); it is decomposed into streams by taking
   the shortest remaining path first, each path carrying the smallest flow left on its edges, and
   every edge of a path of length ℓ and flow φ receives φ/ℓ (Papakonstantinou 2018, §"Contribution
   of direct comparisons"). The contributions of a row sum to 1.
3. A study's contribution is its edges' contributions shared in proportion to its weight in each
   direct comparison (w_e,s / W_e).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from trialsynth.nma.design import structure
from trialsynth.nma.model import NetworkFit

FLOW_TOL = 1e-10


@dataclass(frozen=True, slots=True)
class Contributions:
    """Rows: network estimates (pairs a < b); columns: direct comparisons ``edges``."""

    pairs: tuple[tuple[int, int], ...]
    edges: tuple[tuple[int, int], ...]
    hat: np.ndarray  # (pairs, edges) h_ab,e
    matrix: np.ndarray  # (pairs, edges) share of each direct comparison, rows sum to 1
    studies: tuple[str, ...]
    study_matrix: np.ndarray  # (pairs, studies) share of each study
    edge_weight: np.ndarray  # W_e
    edge_studies: tuple[tuple[int, ...], ...]  # studies with direct evidence on each edge
    direct: np.ndarray  # ŷ_e: the pooled direct estimate of u against v (same weights, τ²)
    direct_se: np.ndarray  # 1/√W_e

    def row(self, a: int, b: int) -> int:
        return self.pairs.index((min(a, b), max(a, b)))


def _study_laplacians(fit: NetworkFit) -> list[np.ndarray]:
    tau2 = fit.tau2 if fit.random else 0.0
    out = []
    for s in fit.data.studies:
        m = len(s.y)
        c = np.hstack([-np.ones((m, 1)), np.eye(m)])  # contrasts against the first arm
        sigma = s.v + (tau2 or 0.0) * structure(m)
        out.append(c.T @ np.linalg.solve(sigma, c))  # arm-level Laplacian C'Σ⁻¹C
    return out


def _streams(flow: dict[tuple[int, int], float], start: int, end: int) -> dict[tuple[int, int], float]:
    """Shortest-path-first decomposition of a flow (directed edges u→v with positive flow)."""
    contrib: dict[tuple[int, int], float] = {}
    flow = dict(flow)
    while True:
        prev = {start: None}
        queue = deque([start])
        while queue and end not in prev:
            u = queue.popleft()
            for (x, y), f in flow.items():
                if x == u and f > FLOW_TOL and y not in prev:
                    prev[y] = u
                    queue.append(y)
        if end not in prev:
            return contrib
        path, node = [], end
        while prev[node] is not None:
            path.append((prev[node], node))
            node = prev[node]
        phi = min(flow[e] for e in path)
        for e in path:
            flow[e] -= phi
            key = (min(e), max(e))
            contrib[key] = contrib.get(key, 0.0) + phi / len(path)


def contributions(fit: NetworkFit) -> Contributions:
    """The contribution matrix of a fitted network (see the module docstring)."""
    data = fit.data
    t = len(data.treatments)
    laps = _study_laplacians(fit)
    big = np.zeros((t, t))
    edge_w: dict[tuple[int, int], float] = {}
    study_w: dict[tuple[int, int], dict[int, float]] = {}
    edge_wy: dict[tuple[int, int], float] = {}
    for si, (s, lap) in enumerate(zip(data.studies, laps, strict=True)):
        idx = np.array(s.arms)
        big[np.ix_(idx, idx)] += lap
        y_arm = np.concatenate([[0.0], s.y])
        for i in range(len(s.arms)):
            for j in range(i + 1, len(s.arms)):
                e = (min(s.arms[i], s.arms[j]), max(s.arms[i], s.arms[j]))
                w = -lap[i, j]  # netmeta's multi-arm weight of this pair
                y = y_arm[i] - y_arm[j] if s.arms[i] == e[0] else y_arm[j] - y_arm[i]
                edge_wy[e] = edge_wy.get(e, 0.0) + w * y
                edge_w[e] = edge_w.get(e, 0.0) + w
                study_w.setdefault(e, {})[si] = study_w.get(e, {}).get(si, 0.0) + w
    edges = tuple(sorted(edge_w))
    pairs = tuple((a, b) for a in range(t) for b in range(a + 1, t))
    lplus = np.linalg.pinv(big)
    inc_e = np.zeros((len(edges), t))
    for k, (u, v) in enumerate(edges):
        inc_e[k, u], inc_e[k, v] = 1.0, -1.0
    inc_p = np.zeros((len(pairs), t))
    for k, (a, b) in enumerate(pairs):
        inc_p[k, a], inc_p[k, b] = 1.0, -1.0
    w = np.array([edge_w[e] for e in edges])
    hat = inc_p @ lplus @ inc_e.T * w[None, :]  # Rücker 2012 hat matrix, by comparison
    matrix = np.zeros_like(hat)
    for k, (a, b) in enumerate(pairs):
        flow = {}
        for j, (u, v) in enumerate(edges):
            h = hat[k, j]
            if abs(h) > FLOW_TOL:
                flow[(u, v) if h > 0 else (v, u)] = abs(h)
        streams = _streams(flow, a, b)
        total = sum(streams.values())
        for e, c in streams.items():
            matrix[k, edges.index(e)] = c / total if total > 0 else 0.0
    n_s = len(data.studies)
    share = np.zeros((len(edges), n_s))
    for j, e in enumerate(edges):
        for si, ws in study_w[e].items():
            share[j, si] = ws / edge_w[e]
    return Contributions(pairs, edges, hat, matrix, tuple(s.name for s in data.studies),
                         matrix @ share, w, tuple(tuple(sorted(study_w[e])) for e in edges),
                         np.array([edge_wy[e] for e in edges]) / w,  # inverse-variance mean
                         1 / np.sqrt(w))
