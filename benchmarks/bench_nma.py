"""Speed of the network meta-analysis kernel: many networks in one batch.

The 13 metadat networks of tests/reference/nma_metafor_reference.json, each repeated R times,
fitted by REML (Fisher scoring on padded study blocks, all networks together) and by DL, against
fitting them one call at a time. Run: python benchmarks/bench_nma.py [R]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd

from trialsynth.nma.data import network_from_frame
from trialsynth.nma.model import fit_networks

REF = Path(__file__).resolve().parents[1] / "tests" / "reference" / "nma_metafor_reference.json"


def main(repeat: int = 50) -> None:
    cases = json.loads(REF.read_text())["cases"]
    datas = [network_from_frame(pd.DataFrame(c["arms"]), c["measure"]) for c in cases]
    refs = [d.treatments.index(c["reference"]) for d, c in zip(datas, cases, strict=True)]
    datas, refs = datas * repeat, refs * repeat
    for method in ("DL", "REML"):
        t0 = time.perf_counter()
        fit_networks(datas, refs, method)
        batch = time.perf_counter() - t0
        t0 = time.perf_counter()
        for d, r in zip(datas[:len(cases) * 5], refs[:len(cases) * 5], strict=True):
            fit_networks([d], [r], method)
        single = (time.perf_counter() - t0) / (len(cases) * 5) * len(datas)
        print(f"{method}: {len(datas)} networks in one batch {batch:.2f} s; one call each "
              f"(extrapolated) {single:.2f} s; {single / batch:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
