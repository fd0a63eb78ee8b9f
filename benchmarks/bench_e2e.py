"""End to end: `trialsynth batch` from a file to a file, beside R metafor's rma() in a loop.

    python benchmarks/bench_e2e.py [--n 100000] [--seed 1] [--metafor-n 1000] [--reps 3]
                                   [--big 1000000] [--no-big] [--startup-reps 10]

The data are SIMULATED, not real trials (``bench_core.simulate``): analyses of 3–30 studies from
a random-effects model, generic effects (yi, se), written once with 17 significant digits.

In one run, one program at a time (the trialsynth commands as an installed package runs them:
with Python's byte-code cache, after one untimed run):

1. ``trialsynth batch IN.csv --out OUT.csv --method REML --quiet`` on ``--n`` analyses, as a
   user runs it (a new process: interpreter start, imports, reading, pooling, writing), with the
   default Q-profile CI of τ² and again with ``--no-tau2-ci`` (what ``rma()`` computes without
   ``confint()``); wall time (median of ``--reps``) and the process' CPU time;
2. metafor: ``rma(yi, sei = se, method = "REML", control = list(threshold = 1e-12,
   maxiter = 1000))`` in a loop over the first ``--metafor-n`` analyses (R's start-up, reading
   and splitting not counted; ``bench_e2e_metafor.R``), per-analysis time; the ratio of
   per-analysis times and the largest differences between the two programs' estimate, SE, τ²;
3. ``trialsynth batch BIG.parquet --out OUT.parquet --method REML`` on ``--big`` analyses: wall
   time and the peak resident memory of that process (``wait4``);
4. the stages of the ``--n`` run measured inside one process (``run_batch(stages=...)``);
5. the floor under step 1 (``bench_e2e_floor.py``, same input, same REML with the τ² CI, as
   often): pyarrow's reader, one ``pool_arrays`` call, pyarrow's writer, and nothing else of the
   command (no pandas, no command line, no checks, warnings, part files or resume), i.e. how
   much of the command's time is its kernels, readers and writers;
6. start-up: ``python -c "import trialsynth"`` and ``trialsynth --help``, ``--startup-reps``
   times each, and the slowest imports of ``trialsynth batch --help`` (``python -X importtime``).

The load average is printed at the start and end: the machine may be shared; compare the
figures of one run with each other.
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
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import cpu_model, simulate  # noqa: E402

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "bench_e2e_metafor.R"
FLOOR = HERE / "bench_e2e_floor.py"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def trialsynth_cmd() -> list[str]:
    """The trialsynth command of this interpreter (the installed script, else ``-m``)."""
    script = Path(sys.executable).parent / "trialsynth"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "trialsynth.cli"]


# the children run as an installed package runs: with Python's byte-code cache (a machine that
# sets PYTHONDONTWRITEBYTECODE recompiles every module of every run; pip installs the cache)
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (bytes) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=CHILD_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def write_inputs(n: int, seed: int, folder: Path, parquet: bool = False) -> Path:
    d = simulate(n, seed)
    frame = pd.DataFrame({"analysis": "sim" + d["analysis"].astype(str), "yi": d["yi"],
                          "se": d["sei"]})
    if parquet:
        path = folder / f"simulated_{n}.parquet"
        frame.to_parquet(path, index=False)
    else:
        path = folder / f"simulated_{n}.csv"
        frame.to_csv(path, index=False, float_format="%.17g")
    return path


def run_metafor(src: Path, m: int, folder: Path) -> tuple[float, pd.DataFrame, str]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise SystemExit("Rscript not found: R with metafor is needed for the comparison")
    out = folder / "metafor.csv"
    proc = subprocess.run([rscript, str(R_SCRIPT), str(src), str(out), str(m)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench_e2e_metafor.R failed:\n{proc.stderr[-2000:]}")
    per, version = np.nan, ""
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["TIMING"]:
            per = float(parts[1]) / int(parts[2])
        elif parts[:1] == ["VERSION"]:
            version = line.removeprefix("VERSION ").strip()
    return per, pd.read_csv(out, keep_default_na=False, na_values=["NA"]), version


def fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def startup(reps: int) -> list[str]:
    lines = []
    cmd = trialsynth_cmd()
    for label, args in (("python -c 'import trialsynth'", [sys.executable, "-c", "import trialsynth"]),
                        ("trialsynth --help", [*cmd, "--help"])):
        walls = [timed(args)[0] for _ in range(reps)]
        lines.append(f"  {label:<32} min {fmt(min(walls)):>9}  median {fmt(statistics.median(walls)):>9}"
                     f"  ({reps} runs)")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           "import sys; from trialsynth.cli import app; sys.argv = ['trialsynth', "
                           "'batch', '--help']; app()"], capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cum, name = (x.strip() for x in line.removeprefix("import time:").split("|"))
            if not name.startswith(" "):
                rows.append((int(cum), name.strip()))
    rows.sort(reverse=True)
    lines.append("  slowest top-level imports of `trialsynth batch --help` (python -X importtime, "
                 "cumulative): " + ", ".join(f"{n} {c / 1e3:.0f} ms" for c, n in rows[:6]))
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--metafor-n", type=int, default=1000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--big", type=int, default=1_000_000)
    p.add_argument("--no-big", action="store_true")
    p.add_argument("--startup-reps", type=int, default=10)
    args = p.parse_args()
    import trialsynth

    print("trialsynth end-to-end benchmark -- SIMULATED data (random-effects model; not real trials)")
    print(f"date {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {os.cpu_count()} cores "
          f"({cpu_model()}); Python {platform.python_version()}, numpy {np.__version__}, "
          f"pandas {pd.__version__}, trialsynth {trialsynth.__version__}")
    print(f"load average at start {load()} (1/5/15 min)")
    with tempfile.TemporaryDirectory(prefix="trialsynth-e2e-") as tmp:
        folder = Path(tmp)
        src = write_inputs(args.n, args.seed, folder)
        print(f"data: {args.n} SIMULATED analyses, {src.stat().st_size / 1e6:.0f} MB CSV")
        cmd = trialsynth_cmd()
        # one untimed run first: it writes the byte-code cache the timed runs read, as the first
        # run after an install does
        timed([*cmd, "batch", str(src), "--out", str(folder / "warm.csv"), "--method", "REML",
               "--quiet"])
        print("byte-code cache: on for the timed runs (one untimed run first)" +
              (" -- PYTHONDONTWRITEBYTECODE of this shell removed for them"
               if "PYTHONDONTWRITEBYTECODE" in os.environ else ""))
        runs = {}
        for label, extra in (("REML, τ² CI (default)", []),
                             ("REML, --no-tau2-ci (as rma())", ["--no-tau2-ci"])):
            out = folder / "out.csv"
            res = [timed([*cmd, "batch", str(src), "--out", str(out), "--method", "REML", "--quiet",
                          *extra]) for _ in range(args.reps)]
            runs[label] = (statistics.median(r[0] for r in res), statistics.median(r[1] for r in res),
                           max(r[2] for r in res), load())
        floor = [timed([sys.executable, str(FLOOR), str(src), str(folder / "floor.csv")])
                 for _ in range(args.reps)]
        runs["floor (bench_e2e_floor.py)"] = (
            statistics.median(r[0] for r in floor), statistics.median(r[1] for r in floor),
            max(r[2] for r in floor), load())
        table = pd.read_csv(folder / "out.csv")
        per_mf, mf, version = run_metafor(src, args.metafor_n, folder)
        print(f"metafor: {version}; rma(REML, threshold 1e-12) in a loop over the first "
              f"{args.metafor_n} analyses: {fmt(per_mf)} per analysis (load after: {load()})")
        print()
        print(f"{'trialsynth batch CSV -> CSV':<36} {'wall':>8} {'CPU':>8} {'per analysis':>13} "
              f"{'metafor/trialsynth':>19} {'peak RSS':>9}  load")
        for label, (wall, cpu, rss, ld) in runs.items():
            per = wall / args.n
            print(f"{label:<36} {fmt(wall):>8} {fmt(cpu):>8} {fmt(per):>13} {per_mf / per:18.0f}× "
                  f"{rss / 2**30:7.2f} GiB  {ld}")
        head = table.iloc[:args.metafor_n]
        ids = head["analysis"].str.removeprefix("sim").astype(int).to_numpy()
        mf = mf.set_index("analysis").loc[ids]
        ok = mf["error"].astype(str).str.len().to_numpy() == 0 if mf["error"].dtype == object else \
            np.ones(len(mf), bool)
        gaps = {c: float(np.nanmax(np.abs(head[c].to_numpy(float)[ok] - mf[m].to_numpy(float)[ok])))
                for c, m in (("estimate", "est"), ("se", "se"), ("tau2", "tau2"))}
        print("largest |trialsynth − metafor| (--no-tau2-ci run; over the "
              f"{int(ok.sum())} analyses rma() solved): " +
              ", ".join(f"{c} {v:.2e}" for c, v in gaps.items()))
        print()
        print("stages of the same batch inside one process (run_batch(stages=...); seconds; the "
              "reading and the pooling threads overlap, so they do not add up to the total):")
        from trialsynth.corpus import run_batch

        for tau2_ci in (True, False):
            stages: dict[str, float] = {}
            t0, c0 = time.perf_counter(), time.process_time()
            run_batch(src, folder / "stages.csv", method="REML", tau2_ci=tau2_ci,
                      return_table=False, stages=stages)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"  τ² CI {'on ' if tau2_ci else 'off'}: total {wall:.2f} s wall, {cpu:.2f} s CPU; " +
                  ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
        if not args.no_big:
            print()
            big = write_inputs(args.big, args.seed, folder, parquet=True)
            for label, extra in (("τ² CI (default)", []), ("--no-tau2-ci", ["--no-tau2-ci"])):
                wall, cpu, rss = timed([*cmd, "batch", str(big), "--out", str(folder / "big.parquet"),
                                        "--method", "REML", "--quiet", *extra])
                print(f"{args.big} analyses Parquet -> Parquet, REML, {label}: {wall:.2f} s wall, "
                      f"{cpu:.2f} s CPU, peak RSS {rss / 2**30:.2f} GiB (load {load()})")
    print()
    print("start-up:")
    for line in startup(args.startup_reps):
        print(line)
    print(f"load average at end {load()}")


if __name__ == "__main__":
    main()
