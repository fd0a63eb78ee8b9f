"""Time ``trialsynth run`` on the flagship review (issue 7: the whole report in under 10 s).

    python benchmarks/bench_report.py [REVIEW.csv] [--repeat N]

Prints the wall time of each run of :func:`trialsynth.runner.run_review` (figures, certainty,
SoF tables, gap maps, HTML) into a temporary folder, and the best of them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from trialsynth.runner import run_review

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT = Path(os.environ.get("TRIALSYNTH_SHARED_DATA", SHARED)) / "pairwise70" / "CD015373_pub2_data.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("review", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            t = time.perf_counter()
            run_review(args.review, Path(tmp) / "out", quiet=True)
            times.append(time.perf_counter() - t)
            print(f"run {i + 1}: {times[-1]:.2f} s")
    print(f"best: {min(times):.2f} s (cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
