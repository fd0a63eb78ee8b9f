"""Time trialsynth against R metafor on SIMULATED data, both in the same run.

    python benchmarks/bench_core.py [--n 10000] [--seed 1]

The data are SIMULATED, not real trials: generic effects yi with sampling variances vi drawn
from a random-effects model (see ``simulate``), analyses of 3–30 studies, from a seeded numpy
Generator. They are written once to a temporary CSV that both programs read.

Timed:
  (1) one meta-analysis (REML): ``trialsynth.pool`` on a data frame vs metafor ``rma()``;
  (2) ``--n`` meta-analyses: ``trialsynth.pool_arrays`` in one batch call (DL, and REML + HKSJ)
      vs a loop of ``rma(method="DL")`` and ``rma(method="REML", test="knha")`` run by Rscript
      (``benchmarks/metafor_loop.R``; only the loops are timed inside R with ``proc.time``).
Then the largest absolute differences between the two programs' estimates, SEs and τ² over
all analyses are printed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trialsynth

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "metafor_loop.R"


def simulate(n: int, seed: int) -> pd.DataFrame:
    """SIMULATED generic data from a random-effects model, one row per study.

    Per analysis: k ~ U{3..30}, true mean μ ~ N(0, 0.5²), τ² = 0 with probability 1/4, else
    τ² ~ U(0, 0.3). Per study: sampling variance vi ~ U(0.01, 0.4), yi ~ N(μ, τ² + vi).
    The CSV stores yi and its standard error sei = √vi (both programs square sei).
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(3, 31, size=n)
    mu = rng.normal(0.0, 0.5, size=n)
    tau2 = np.where(rng.random(n) < 0.25, 0.0, rng.uniform(0.0, 0.3, size=n))
    group = np.repeat(np.arange(n), k)
    vi = rng.uniform(0.01, 0.4, size=group.size)
    yi = rng.normal(mu[group], np.sqrt(tau2[group] + vi))
    return pd.DataFrame({"analysis": group, "yi": yi, "sei": np.sqrt(vi)})


def median_time(fn, reps: int) -> float:
    """Median wall time of ``reps`` calls of ``fn`` (seconds)."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run_metafor(data_csv: Path, results_csv: Path, single_id: int, single_reps: int
                ) -> tuple[dict[str, tuple[float, int]], tuple[float, float, float], str]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        sys.exit("Rscript not found: R with metafor is needed for the comparison")
    proc = subprocess.run([rscript, str(R_SCRIPT), str(data_csv), str(results_csv),
                           str(single_id), str(single_reps)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"metafor_loop.R failed:\n{proc.stderr}")
    timings: dict[str, tuple[float, int]] = {}
    single = (np.nan, np.nan, np.nan)
    version = ""
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["TIMING"]:
            timings[parts[1]] = (float(parts[2]), int(parts[3]))
        elif parts[:1] == ["SINGLE"]:
            single = (float(parts[1]), float(parts[2]), float(parts[3]))
        elif parts[:1] == ["VERSION"]:
            version = line.removeprefix("VERSION ").strip()
    return timings, single, version


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:9.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:9.3f} ms"
    return f"{seconds:9.3f} s "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of meta-analyses")
    parser.add_argument("--seed", type=int, default=1, help="seed of the numpy Generator")
    parser.add_argument("--single-reps", type=int, default=200,
                        help="repetitions of the single meta-analysis in each program")
    parser.add_argument("--batch-reps", type=int, default=3,
                        help="repetitions of each trialsynth batch call (median reported)")
    args = parser.parse_args()

    print("trialsynth vs metafor benchmark -- SIMULATED data (generic yi/vi from a "
          "random-effects model; not real trials)")
    print(f"date {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
          f"{os.cpu_count()} cores ({cpu_model()}); Python {platform.python_version()}, "
          f"numpy {np.__version__}, trialsynth {trialsynth.__version__}")
    print(f"load average at start {os.getloadavg()[0]:.2f} (other processes share these cores; "
          f"both programs run in turn, never at the same time)")

    with tempfile.TemporaryDirectory(prefix="trialsynth-bench-") as tmp:
        data_csv, results_csv = Path(tmp) / "data.csv", Path(tmp) / "metafor.csv"
        simulate(args.n, args.seed).to_csv(data_csv, index=False, float_format="%.17g")
        data = pd.read_csv(data_csv)  # trialsynth reads the same file as metafor
        n = int(data["analysis"].max()) + 1
        k = data.groupby("analysis").size().to_numpy()
        print(f"data: {n} simulated analyses, {len(data)} studies, k = {k.min()}..{k.max()} "
              f"(mean {k.mean():.1f}), seed {args.seed}")

        # (1) one meta-analysis: the first analysis of median size
        single_id = int(np.flatnonzero(k == int(np.median(k)))[0])
        frame = data.loc[data["analysis"] == single_id, ["yi", "sei"]] \
            .rename(columns={"sei": "se"}).reset_index(drop=True)
        frame.insert(0, "study", [f"S{i + 1}" for i in range(len(frame))])
        trialsynth.pool(frame, "GENERIC", "REML")  # warm-up
        t_single_ts = median_time(lambda: trialsynth.pool(frame, "GENERIC", "REML"),
                                  args.single_reps)
        single_ts = trialsynth.pool(frame, "GENERIC", "REML")

        # (2) n meta-analyses in one batch call
        group = data["analysis"].to_numpy(dtype=np.intp)
        cols = {"yi": data["yi"].to_numpy(dtype=np.float64),
                "se": data["sei"].to_numpy(dtype=np.float64)}

        def dl():
            return trialsynth.pool_arrays("GENERIC", "DL", cols, group, n)

        def reml():
            return trialsynth.pool_arrays("GENERIC", "REML", cols, group, n, hksj=True)

        t_dl_ts = median_time(dl, args.batch_reps)
        t_reml_ts = median_time(reml, args.batch_reps)
        res_dl, res_reml = dl(), reml()

        timings, single_mf, r_version = run_metafor(data_csv, results_csv, single_id,
                                                    args.single_reps)
        mf = pd.read_csv(results_csv, keep_default_na=False, na_values=["NA"]) \
            .sort_values("analysis").reset_index(drop=True)

    print(f"metafor: {r_version}; load average at end {os.getloadavg()[0]:.2f}")
    print()
    t_single_mf = timings["single_reml"][0] / timings["single_reml"][1]
    rows = [
        (f"1 analysis, REML (k={len(frame)})", t_single_ts, t_single_mf, 1),
        (f"{n} analyses, DL", t_dl_ts, timings["loop_dl"][0], n),
        (f"{n} analyses, REML+HKSJ", t_reml_ts, timings["loop_reml_knha"][0], n),
    ]
    head = (f"{'task':<30} {'trialsynth total':>16} {'metafor total':>14} "
            f"{'ts per analysis':>15} {'mf per analysis':>15} {'ts analyses/s':>13} "
            f"{'mf analyses/s':>13} {'ratio ts/mf':>11}")
    print(head)
    print("-" * len(head))
    for name, ts, mf_t, count in rows:
        print(f"{name:<30} {fmt_time(ts):>16} {fmt_time(mf_t):>14} {fmt_time(ts / count):>15} "
              f"{fmt_time(mf_t / count):>15} {count / ts:13.0f} {count / mf_t:13.0f} "
              f"{ts / mf_t:11.4f}")
    print(f"(trialsynth: median of {args.single_reps} calls for 1 analysis, of {args.batch_reps} "
          f"batch calls for {n}; metafor: mean of {timings['single_reml'][1]} rma() calls for "
          f"1 analysis, one timed loop for {n}; R start-up not counted)")

    print()
    print("largest |trialsynth - metafor| over all analyses:")
    print(f"{'':<26} {'estimate':>10} {'se':>10} {'tau2':>10} {'metafor failed':>15} "
          f"{'ts not converged':>17}")
    single_diff = [abs(a - b) for a, b in zip(
        (single_ts.estimate, single_ts.se, single_ts.tau2), single_mf, strict=True)]
    print(f"{'1 analysis, REML':<26} " + " ".join(f"{d:10.2e}" for d in single_diff)
          + f" {0 if np.isfinite(single_mf[0]) else 1:15d} {int(not single_ts.converged):17d}")
    notes = []
    for name, res, suffix in (("DL", res_dl, "dl"), ("REML+HKSJ", res_reml, "reml")):
        failed = ~np.isfinite(mf[f"est_{suffix}"].to_numpy(dtype=np.float64))
        unconverged = ~np.asarray(res.converged, dtype=bool)
        both = ~failed & ~unconverged
        diffs = []
        worst = np.zeros(n)
        for field, col in (("estimate", "est"), ("se", "se"), ("tau2", "tau2")):
            ours = np.asarray(getattr(res, field), dtype=np.float64)
            theirs = mf[f"{col}_{suffix}"].to_numpy(dtype=np.float64)
            gap = np.where(both, np.abs(ours - theirs), 0.0)
            diffs.append(float(gap.max()))
            worst = np.maximum(worst, gap)
        print(f"{f'{n} analyses, {name}':<26} " + " ".join(f"{d:10.2e}" for d in diffs)
              + f" {int(failed.sum()):15d} {int(unconverged.sum()):17d}")
        off = np.flatnonzero(worst > 1e-6)
        if off.size:
            tau2_ts = np.asarray(res.tau2, dtype=np.float64)
            tau2_mf = mf[f"tau2_{suffix}"].to_numpy(dtype=np.float64)
            shown = off[np.argsort(-worst[off])][:6]
            notes.append(f"{name}: {off.size} analyses differ by more than 1e-6; tau2 trialsynth vs "
                         f"metafor in the largest: " + ", ".join(
                             f"#{i} {tau2_ts[i]:.6g} vs {tau2_mf[i]:.6g}" for i in shown))
        if failed.any() or unconverged.any():
            errors = sorted(set(mf.loc[failed, f"error_{suffix}"].astype(str)))
            notes.append(f"{name}: rma() stopped with an error in {int(failed.sum())} analyses "
                         f"({'; '.join(errors)}), trialsynth flags converged=False in "
                         f"{int(unconverged.sum())} ({int((failed & unconverged).sum())} in both); "
                         f"the differences are over the {int(both.sum())} analyses both solved.")
    for note in notes:
        print(textwrap.fill(note, 110))


if __name__ == "__main__":
    main()
