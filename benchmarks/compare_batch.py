"""Before/after check: `trialsynth batch` of two source trees gives the same results.

    python benchmarks/compare_batch.py OLD_SRC NEW_SRC [--n 200000] [--seed 1]

Runs ``trialsynth batch`` with ``PYTHONPATH=OLD_SRC`` and with ``PYTHONPATH=NEW_SRC`` on

* ``--n`` SIMULATED analyses (``bench_scale.simulate``: generic yi/se and 2×2 tables of 3–30
  studies from a random-effects model; not real trials) as a long CSV, with DL, REML + HKSJ,
  PM, ML, EB, SJ, HE and IV (generic) and MH, PETO and MH_RANDOM (2×2 tables), metafor's and
  RevMan's conventions;
* the 501 Cochrane reviews of ``pairwise70_all_501_csv.tgz`` (real data) with DL and REML + HKSJ;

and compares the result tables (read back with pandas) value by value: the largest relative
difference of every numeric column, and whether every text column and the failure logs are
identical. Exit status 1 if any value differs by more than 1e-12 (relative) or any text differs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import CORPUS, simulate  # noqa: E402


def write_tables(n: int, seed: int, folder: Path) -> tuple[Path, Path]:
    d = simulate(n, seed)
    ids = np.char.add("sim", d.group.astype(str))
    gen = folder / "generic.csv"
    pd.DataFrame({"analysis": ids, "yi": d.yi, "se": d.sei}).to_csv(gen, index=False,
                                                                    float_format="%.17g")
    tab = folder / "tables.csv"
    pd.DataFrame({"analysis": ids, "events_t": d.ai.astype(int), "n_t": d.n1i.astype(int),
                  "events_c": d.ci.astype(int), "n_c": d.n2i.astype(int)}).to_csv(tab, index=False)
    return gen, tab


def batch(src: str, inp: Path, out: Path, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.run([sys.executable, "-m", "trialsynth.cli", "batch", str(inp), "--out",
                           str(out), "--quiet", *args], env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{src}: batch {inp.name} {' '.join(args)} failed:\n{proc.stderr[-2000:]}")


def compare(a: Path, b: Path) -> tuple[float, list[str]]:
    x = pd.read_csv(a, keep_default_na=False, na_values=[""], low_memory=False)
    y = pd.read_csv(b, keep_default_na=False, na_values=[""], low_memory=False)
    problems = []
    if list(x.columns) != list(y.columns) or len(x) != len(y):
        return np.inf, [f"shape or columns differ: {x.shape} vs {y.shape}"]
    worst = 0.0
    for c in x.columns:
        if x[c].dtype.kind in "fiu" and y[c].dtype.kind in "fiu":
            u, v = x[c].to_numpy(float), y[c].to_numpy(float)
            if not np.array_equal(np.isnan(u), np.isnan(v)):
                problems.append(f"{c}: NaN patterns differ")
                continue
            ok = ~np.isnan(u)
            if ok.any():
                rel = np.abs(u[ok] - v[ok]) / np.maximum(1.0, np.abs(u[ok]))
                worst = max(worst, float(rel.max()))
        else:  # text (an empty column reads as all-NaN floats on one side, text on the other)
            u, v = (s.astype(object).where(s.notna(), "").astype(str) for s in (x[c], y[c]))
            if not u.equals(v):
                problems.append(f"{c}: text differs in {int((u != v).sum())} rows")
    fa, fb = (p.with_name(p.name.removesuffix(".csv") + ".failures.csv") for p in (a, b))
    if fa.read_bytes() != fb.read_bytes():
        problems.append("failure logs differ")
    return worst, problems


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    runs = [("generic", m) for m in (["--method", "DL"], ["--method", "REML", "--hksj"],
                                     ["--method", "PM"], ["--method", "ML"], ["--method", "EB"],
                                     ["--method", "SJ"], ["--method", "HE"], ["--method", "IV"],
                                     ["--method", "REML", "--revman"])]
    runs += [("tables", m) for m in (["--method", "MH", "--measure", "OR"],
                                     ["--method", "MH", "--measure", "RR", "--revman"],
                                     ["--method", "PETO"], ["--method", "MH_RANDOM", "--measure",
                                                           "RD"], ["--method", "DL", "--measure", "OR"])]
    runs += [("corpus", m) for m in (["--method", "DL"], ["--method", "REML", "--hksj"])]
    bad = False
    with tempfile.TemporaryDirectory(prefix="trialsynth-compare-") as tmp:
        folder = Path(tmp)
        gen, tab = write_tables(args.n, args.seed, folder)
        inputs = {"generic": gen, "tables": tab, "corpus": CORPUS}
        print(f"SIMULATED data: {args.n} analyses (seed {args.seed}); real: {CORPUS.name}")
        for j, (kind, opts) in enumerate(runs):
            outs = [folder / f"{side}{j}.csv" for side in ("old", "new")]
            for src, out in zip((args.old, args.new), outs, strict=True):
                batch(src, inputs[kind], out, opts)
            worst, problems = compare(*outs)
            bad |= worst > 1e-12 or bool(problems)
            print(f"{kind:<8} {' '.join(opts):<32} largest relative difference {worst:.2e}"
                  + (f"; {'; '.join(problems)}" if problems else "; text identical"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
