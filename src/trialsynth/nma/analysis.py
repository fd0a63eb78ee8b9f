"""``network_meta_analysis``: one network from a data frame, with everything the CLI and the
report show (estimates against a reference, league table, heterogeneity, inconsistency, P-scores,
contributions and CINeMA-style confidence). ``to_dict`` is the ``trialsynth nma --json`` contract.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from trialsynth.errors import DataError
from trialsynth.nma.certainty import EstimateCertainty, Inputs, assess_network
from trialsynth.nma.contribution import Contributions, contributions
from trialsynth.nma.data import RATIO, NetworkData, network_from_frame
from trialsynth.nma.inconsistency import DesignByTreatment, NodeSplit, design_by_treatment, node_split
from trialsynth.nma.model import METHODS, NetworkFit, fit_networks, league
from trialsynth.nma.ranking import SmallValues, ranking

CLI_METHODS = ("IV", "REML", "DL")


@dataclass(frozen=True, slots=True)
class NmaResult:
    fit: NetworkFit
    node_splits: tuple[NodeSplit, ...]
    design_by_treatment: DesignByTreatment
    ranking: dict[str, dict[str, float]]
    contributions: Contributions
    certainty: tuple[EstimateCertainty, ...]
    small_values: str

    @property
    def data(self) -> NetworkData:
        return self.fit.data

    def estimates(self) -> dict[str, dict[str, Any]]:
        """Every treatment against the reference (analysis scale)."""
        f, ref = self.fit, self.fit.reference
        return {name: f.interval(i, ref) for i, name in enumerate(f.treatments) if i != ref}

    def participants(self) -> dict[str, float | None]:
        """Participants randomised to each treatment (None where arm sizes are not given)."""
        out: dict[str, float | None] = {t: 0.0 for t in self.fit.treatments}
        for s in self.data.studies:
            for t, n in zip(s.arms, s.n, strict=True):
                name = self.fit.treatments[t]
                out[name] = None if n is None or out[name] is None else out[name] + n
        return out

    def to_dict(self) -> dict[str, Any]:
        f = self.fit
        ratio = f.data.measure in RATIO
        est = self.estimates()
        lg = league(f)

        def back(x: Mapping[str, Any]) -> dict[str, float | None]:
            return {k: (math.exp(x[k]) if x.get(k) is not None else None)
                    for k in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")}
        if ratio:
            for row in lg.values():
                for cell in row.values():
                    cell["exp"] = back(cell)
        return {
            "measure": f.data.measure, "method": f.method,
            "model": "random" if f.random else "common",
            "treatments": list(f.treatments), "reference": f.treatments[f.reference],
            "k_studies": len(f.data.studies),
            "n_contrasts": int(sum(len(s.y) for s in f.data.studies)),
            "estimates": est,
            "exp": {t: back(v) for t, v in est.items()} if ratio else None,
            "tau2": f.tau2, "q": f.q, "q_df": f.q_df, "q_pvalue": f.q_pvalue, "i2": f.i2,
            "league": lg,
            "ranking": self.ranking, "ranking_small_values": self.small_values,
            "inconsistency": {"design_by_treatment": self.design_by_treatment.to_dict(),
                              "node_split": [s.to_dict() for s in self.node_splits]},
            "certainty": {c.to_dict()["comparison"]: c.to_dict() for c in self.certainty},
            "contributions": self._contributions_dict(),
            "participants": self.participants(),
            "studies": [{"study": s.name, "treatments": [f.treatments[t] for t in s.arms],
                         "n": list(s.n), "corrected": s.corrected, "rows": list(s.rows)}
                        for s in f.data.studies],
            "converged": f.converged, "iterations": f.iterations,
            "settings": {"confidence_level": f.confidence_level, "input": f.data.input_format,
                         "zero_cells": "0.5 added to every cell of every arm of a study with a "
                                       "zero cell (netmeta pairwise)",
                         "heterogeneity_model": "common tau^2, tau^2/2 between the comparisons "
                                                "of one study (rho = 1/2)"},
            "warnings": list(f.warnings),
        }

    def _contributions_dict(self) -> dict[str, Any]:
        c, names = self.contributions, self.fit.treatments
        edge = [f"{names[v]} vs {names[u]}" for u, v in c.edges]
        return {"direct_comparisons": edge,
                "matrix": {f"{names[b]} vs {names[a]}": dict(zip(edge, map(float, row),
                                                                  strict=True))
                           for (a, b), row in zip(c.pairs, c.matrix, strict=True)},
                "studies": {f"{names[b]} vs {names[a]}": {
                    s: float(x) for s, x in zip(c.studies, row, strict=True) if x > 1e-12}
                    for (a, b), row in zip(c.pairs, c.study_matrix, strict=True)}}


def analyse_network(data: NetworkData, reference: str, method: str, *,
                    small_values: SmallValues = "desirable", confidence_level: float = 0.95,
                    inputs: Inputs | None = None) -> NmaResult:
    """Fit one parsed network and everything around it."""
    return analyse_networks([data], [reference], method, small_values=small_values,
                            confidence_level=confidence_level, inputs=[inputs])[0]


def analyse_networks(datas: Sequence[NetworkData], references: Sequence[str], method: str, *,
                     small_values: SmallValues | Sequence[SmallValues] = "desirable",
                     confidence_level: float = 0.95,
                     inputs: Sequence[Inputs | None] | None = None) -> list[NmaResult]:
    """Several networks: the consistency models in one batch, then per network its node splits
    (one batch), design-by-treatment test, P-scores, contributions and certainty.
    ``small_values``: one value for every network, or one per network."""
    smalls = [small_values] * len(datas) if isinstance(small_values, str) else list(small_values)
    method = method.upper()
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    refs = []
    for d, r in zip(datas, references, strict=True):
        if r not in d.treatments:
            raise DataError(f"reference treatment {r!r} is not in the network (treatments: "
                            f"{', '.join(d.treatments)})", file=d.source, field="treatment")
        refs.append(d.treatments.index(r))
    fits = fit_networks(datas, refs, method, confidence_level=confidence_level)
    out = []
    for i, fit in enumerate(fits):
        splits = tuple(node_split(fit))
        dbt = design_by_treatment(fit)
        con = contributions(fit)
        inp = (inputs[i] if inputs else None) or Inputs()
        cert = tuple(assess_network(fit, con, splits, dbt, inp))
        out.append(NmaResult(fit, splits, dbt, ranking(fit, smalls[i]), con, cert, smalls[i]))
    return out


def network_meta_analysis(frame: pd.DataFrame, measure: str, method: str, reference: str, *,
                          small_values: SmallValues = "desirable", confidence_level: float = 0.95,
                          mid: float | None = None, source: str | None = None) -> NmaResult:
    """Network meta-analysis of an arm-level or contrast-level table (:mod:`trialsynth.nma.data`);
    an optional ``rob`` column (low / some concerns / high, per study) feeds the within-study bias
    domain of the certainty."""
    if mid is not None and not (mid > 0 and (measure.upper() not in RATIO or mid < 1)):
        raise DataError(f"the minimal important difference must be positive (a relative change "
                        f"below 1 for {'/'.join(RATIO)}), not {mid!r}", file=source)
    data = network_from_frame(frame, measure, source=source)
    inputs = Inputs(rob=_rob_column(frame, source), mid=mid,
                    benefit="lower" if small_values == "desirable" else "higher")
    return analyse_network(data, reference, method, small_values=small_values,
                           confidence_level=confidence_level, inputs=inputs)


def _rob_column(frame: pd.DataFrame, source: str | None) -> dict[str, str]:
    if "rob" not in frame.columns:
        return {}
    from trialsynth.nma.certainty import rob_level_from_word

    out: dict[str, str] = {}
    for i, (study, raw) in enumerate(zip(frame["study"], frame["rob"], strict=True)):
        if pd.isna(raw) or not str(raw).strip():
            continue
        level = rob_level_from_word(str(raw))
        if level is None:
            raise DataError(f"unknown risk-of-bias judgement {raw!r} (low, some concerns, high)",
                            file=source, row=i + 2, field="rob")
        key = str(study).strip()
        if out.get(key, level) != level:
            raise DataError(f"study {key!r} has two risk-of-bias judgements", file=source,
                            row=i + 2, field="rob")
        out[key] = level
    return out


def json_ready(result: NmaResult) -> dict[str, Any]:
    """``to_dict`` with NaN and infinities as null."""
    from trialsynth._json import json_safe

    return json_safe(result.to_dict())


__all__ = ["CLI_METHODS", "NmaResult", "analyse_network", "analyse_networks", "json_ready",
           "network_meta_analysis"]
