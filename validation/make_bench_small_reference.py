"""Reference numbers for tests/test_bench_small.py: R metafor on 200 SIMULATED analyses.

    python validation/make_bench_small_reference.py

Simulates 200 analyses with ``benchmarks/bench_scale.simulate`` (seed 20261122; SIMULATED data from
a random-effects model, not real trials), runs ``benchmarks/peers_metafor.R`` on them (``rma`` DL,
``rma`` REML + knha + ``predict``, ``rma.mh`` OR; R 4.2.2, metafor 3.8-1) and writes the inputs and
metafor's results to ``tests/reference/bench_small_reference.json``. The inputs are stored so that
the test does not depend on numpy's random stream.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "reference" / "bench_small_reference.json"
N, SEED = 200, 20261122


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main() -> None:
    bench = load_bench()
    d = bench.simulate(N, SEED)
    with tempfile.TemporaryDirectory() as tmp:
        _, gen, mh, version = bench.run_metafor(d, Path(tmp))

    def col(frame, name):
        return [None if not np.isfinite(x) else float(x) for x in frame[name].to_numpy(float)]

    doc = {
        "description": "SIMULATED data (bench_scale.simulate, seed 20261122): 200 analyses, "
                       "generic yi/sei and 2x2 tables; metafor results from peers_metafor.R",
        "generator": "validation/make_bench_small_reference.py",
        "software": version,
        "inputs": {"group": d.group.tolist(), "yi": d.yi.tolist(), "sei": d.sei.tolist(),
                   "ai": d.ai.tolist(), "n1i": d.n1i.tolist(), "ci": d.ci.tolist(),
                   "n2i": d.n2i.tolist()},
        "metafor": {
            "dl": {"estimate": col(gen, "est_dl"), "se": col(gen, "se_dl"),
                   "tau2": col(gen, "tau2_dl")},
            "reml_knha": {"estimate": col(gen, "est_reml"), "se": col(gen, "se_reml"),
                          "tau2": col(gen, "tau2_reml"), "pi_low": col(gen, "pi_lb"),
                          "pi_high": col(gen, "pi_ub")},
            "mh_or": {"estimate": col(mh, "est_mh"), "se": col(mh, "se_mh")},
        },
    }
    OUT.write_text(json.dumps(doc, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({version})")


if __name__ == "__main__":
    main()
