"""Largest relative difference between trialsynth.nma and R metafor rma.mv, per metadat network.

Reads tests/reference/nma_metafor_reference.json (made by validation/make_nma_reference.R) and
prints a Markdown table: coefficients and their SEs, tau^2 and Q for the common-effect (IV), DL
(netmeta's estimator), REML and ML fits; node splitting (direct, indirect, difference) and the
design-by-treatment Q for IV and REML; P-scores. Run: python validation/compare_nma_metafor.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from trialsynth.nma.data import network_from_frame
from trialsynth.nma.inconsistency import design_by_treatment, node_split
from trialsynth.nma.model import fit_networks
from trialsynth.nma.ranking import ranking

REF = Path(__file__).resolve().parents[1] / "tests" / "reference" / "nma_metafor_reference.json"
METHODS = (("IV", "fe"), ("DL", "dl"), ("REML", "reml"), ("ML", "ml"))


def rel(a: float, b: float, floor: float = 1e-8) -> float:
    return abs(a - b) / max(abs(b), floor)


def case_row(case: dict) -> dict[str, float]:
    data = network_from_frame(pd.DataFrame(case["arms"]), case["measure"])
    ref = data.treatments.index(case["reference"])
    out: dict[str, float] = {}
    for method, key in METHODS:
        fit, r = fit_networks([data], [ref], method)[0], case[key]
        worst = 0.0
        for t, b in r["beta"].items():
            i = data.treatments.index(t)
            worst = max(worst, abs(fit.d[i] - b) / r["se"][t],  # relative to the SE
                        rel(np.sqrt(fit.vcov[i, i]), r["se"][t]))
        out[f"{method} coef/SE"] = worst
        out[f"{method} tau2"] = (abs((fit.tau2 or 0.0) - r["tau2"]) if r["tau2"] < 1e-6
                                 else rel(fit.tau2 or 0.0, r["tau2"]))
        if method in ("IV", "REML"):
            splits = {(s.treatment, s.comparator): s for s in node_split(fit)}
            w = 0.0
            for x in case["node_split"][key]:
                b_, a_ = x["comparison"]
                s, sign = (splits[(b_, a_)], 1) if (b_, a_) in splits else (splits[(a_, b_)], -1)
                for f in ("direct", "indirect", "difference"):
                    w = max(w, abs(sign * getattr(s, f) - x[f]) / x[f"{f}_se"])
            out[f"{method} node split"] = w
            d, rd = design_by_treatment(fit), case["design_by_treatment"][key]
            out[f"{method} DBT Q"] = 0.0 if rd["q"] is None else rel(d.q, rd["q"])
            p = ranking(fit)
            out[f"{method} P-score"] = max(rel(p[t]["p_score"], v, 1e-12)
                                           for t, v in r["pscore"].items())
    return out


def main() -> None:
    cases = json.loads(REF.read_text())["cases"]
    rows = {c["name"]: case_row(c) for c in cases}
    cols = list(next(iter(rows.values())))
    print("| data set | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[c]:.1e}" for c in cols) + " |")


if __name__ == "__main__":
    main()
