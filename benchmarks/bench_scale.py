"""Batch throughput of trialsynth beside R metafor, PyMARE and statsmodels, from one run.

    python benchmarks/bench_scale.py [--n 1000000] [--seed 1] [--peers metafor,pymare,statsmodels]
                                     [--metafor-n 2000] [--pymare-n 200000] [--statsmodels-n 2000]

The data are SIMULATED, not real trials (see ``simulate``): ``--n`` analyses of 3–30 studies from
a random-effects model, as generic effects (yi, SE) and as 2×2 tables, from a seeded numpy
Generator. Every program gets the same numbers (the peers a subset: the first analyses).

Timed, each in turn, never two at the same time:
  trialsynth  ``pool_arrays`` on all ``--n`` analyses: DL and REML + HKSJ (+ prediction interval)
              computing what metafor's ``rma`` computes (no CI of τ²), each again with the
              Q-profile CI of τ² ("+ τ² CI", ``tau2_ci=True``), and Mantel–Haenszel OR;
  metafor     loops of ``rma`` DL, ``rma`` REML + knha + ``predict``, ``rma.mh`` OR over the first
              ``--metafor-n`` analyses (``peers_metafor.R``); per-analysis time × n is an
              extrapolation, printed as such;
  PyMARE      batched ``DerSimonianLaird`` and ``VarianceBasedLikelihoodEstimator(method="REML")``
              on (k × analyses) arrays, one call per k, over the first ``--pymare-n`` analyses;
  statsmodels ``combine_effects(method_re="chi2")`` (DerSimonian–Laird) in a loop over the first
              ``--statsmodels-n`` analyses;
  corpus      the 501 Cochrane reviews read from the .tgz and pooled with DL and with REML + HKSJ by
              ``trialsynth.corpus.run_batch``, end to end.
Then: per-analysis time, throughput, peak memory (tracemalloc, in a separate untimed run), the
ratio of trialsynth's per-analysis time to each peer's, the largest differences from metafor's
and PyMARE's numbers, and the physical-limit estimate (bytes moved per analysis ÷ the memory
bandwidth measured by a numpy copy in this process).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import trialsynth
from trialsynth.pooling import engine
from trialsynth.pooling.batch import PooledBatch, pool_arrays

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark, when imported
from bench_core import cpu_model  # noqa: E402

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "peers_metafor.R"
CORPUS = Path(os.environ.get("TRIALSYNTH_SHARED_DATA", HERE.parent.parent / "shared" / "data")) \
    / "pairwise70" / "pairwise70_all_501_csv.tgz"


@dataclass(frozen=True)
class Simulated:
    """SIMULATED batch: studies sorted by analysis; ``group`` the analysis of each study."""

    n: int
    group: np.ndarray
    yi: np.ndarray
    sei: np.ndarray
    ai: np.ndarray
    n1i: np.ndarray
    ci: np.ndarray
    n2i: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.searchsorted(self.group, np.arange(self.n + 1))

    def head(self, m: int) -> Simulated:
        """The first ``m`` analyses."""
        r = int(self.starts[m])
        return Simulated(m, self.group[:r], self.yi[:r], self.sei[:r], self.ai[:r], self.n1i[:r],
                         self.ci[:r], self.n2i[:r])


def simulate(n: int, seed: int) -> Simulated:
    """SIMULATED data from a random-effects model (not real trials).

    Per analysis: k ~ U{3..30}, τ² = 0 with probability 1/4, else τ² ~ U(0, 0.3).
    Generic effects (as ``bench_core.py``): μ ~ N(0, 0.5²), vᵢ ~ U(0.01, 0.4), yᵢ ~ N(μ, τ² + vᵢ).
    2×2 tables of the same k: control risk p_c ~ U(0.05, 0.5), log OR θ ~ N(0, 0.4²); per study
    arm sizes ~ U{10..300}, true log OR θᵢ ~ N(θ, τ²), events ~ Binomial(arm size, risk).
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(3, 31, size=n)
    tau2 = np.where(rng.random(n) < 0.25, 0.0, rng.uniform(0.0, 0.3, size=n))
    mu = rng.normal(0.0, 0.5, size=n)
    group = np.repeat(np.arange(n), k)
    vi = rng.uniform(0.01, 0.4, size=group.size)
    yi = rng.normal(mu[group], np.sqrt(tau2[group] + vi))
    p_c = rng.uniform(0.05, 0.5, size=n)
    theta = rng.normal(0.0, 0.4, size=n)
    n1 = rng.integers(10, 301, size=group.size)
    n2 = rng.integers(10, 301, size=group.size)
    lor = rng.normal(theta[group], np.sqrt(tau2[group]))
    logit_c = np.log(p_c / (1 - p_c))[group]
    p_t = 1 / (1 + np.exp(-(logit_c + lor)))
    a = rng.binomial(n1, p_t)
    c = rng.binomial(n2, p_c[group])
    return Simulated(n, group, yi, np.sqrt(vi), a.astype(float), n1.astype(float),
                     c.astype(float), n2.astype(float))


def best_time(fn: Callable[[], object], reps: int) -> float:
    """Median wall time of ``reps`` calls (seconds)."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes allocated (Python and numpy, via tracemalloc) during one call."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bandwidth() -> float:
    """Memory bandwidth (bytes/s) of a numpy copy of a 256 MiB array: read + write counted."""
    src = np.ones(1 << 25)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    t = min(best_time(lambda: np.copyto(dst, src), 1) for _ in range(5))
    return 2 * src.nbytes / t


def fmt_time(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def max_abs_diff(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, int]:
    """Largest |ours − theirs| where both are finite, and how many pairs were compared."""
    both = np.isfinite(ours) & np.isfinite(theirs)
    return (float(np.max(np.abs(ours[both] - theirs[both]))) if both.any() else np.nan,
            int(both.sum()))


# --------------------------------------------------------------------------- trialsynth
def trialsynth_tasks(d: Simulated) -> dict[str, Callable[[], PooledBatch]]:
    generic = {"yi": d.yi, "se": d.sei}
    tables = {"events_t": d.ai, "n_t": d.n1i, "events_c": d.ci, "n_c": d.n2i}
    return {
        # "DL" and "REML+HKSJ+PI" compute what metafor's rma() computes by default (no confidence
        # interval of τ²: that is confint(), a separate call); the "+ τ² CI" rows add the
        # Q-profile interval of τ² (and of I², H²), which trialsynth's pool reports by default
        "DL": lambda: pool_arrays("GENERIC", "DL", generic, d.group, d.n, tau2_ci=False),
        "DL + τ² CI": lambda: pool_arrays("GENERIC", "DL", generic, d.group, d.n),
        "REML+HKSJ+PI": lambda: pool_arrays(
            "GENERIC", "REML", generic, d.group, d.n, hksj=True, tau2_ci=False),
        "REML+HKSJ+PI + τ² CI": lambda: pool_arrays("GENERIC", "REML", generic, d.group, d.n,
                                                     hksj=True),
        "MH OR": lambda: pool_arrays("OR", "MH", tables, d.group, d.n),
    }


# --------------------------------------------------------------------------- peers
def run_metafor(d: Simulated, tmp: Path) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame, str]:
    """Per-analysis seconds of each metafor loop, its results, and the R/metafor version."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise RuntimeError("Rscript not found")
    files = [tmp / name for name in ("generic.csv", "tables.csv", "mf_generic.csv", "mf_mh.csv")]
    pd.DataFrame({"analysis": d.group, "yi": d.yi, "sei": d.sei}) \
        .to_csv(files[0], index=False, float_format="%.17g")
    pd.DataFrame({"analysis": d.group, "ai": d.ai.astype(int), "n1i": d.n1i.astype(int),
                  "ci": d.ci.astype(int), "n2i": d.n2i.astype(int)}).to_csv(files[1], index=False)
    proc = subprocess.run([rscript, str(R_SCRIPT), *map(str, files)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"peers_metafor.R failed:\n{proc.stderr[-2000:]}")
    per: dict[str, float] = {}
    version = ""
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["TIMING"]:
            per[parts[1]] = float(parts[2]) / int(parts[3])
        elif parts[:1] == ["VERSION"]:
            version = line.removeprefix("VERSION ").strip()
    read = {"keep_default_na": False, "na_values": ["NA"]}
    gen = pd.read_csv(files[2], **read).sort_values("analysis").reset_index(drop=True)
    mh = pd.read_csv(files[3], **read).sort_values("analysis").reset_index(drop=True)
    return per, gen, mh, version


def by_k(d: Simulated) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """PyMARE's batched layout: for every k, (analysis ids, y (k × m), v (k × m))."""
    starts = d.starts
    k = np.diff(starts)
    out = []
    for kk in np.unique(k):
        ids = np.flatnonzero(k == kk)
        rows = starts[ids][None, :] + np.arange(kk)[:, None]
        out.append((ids, d.yi[rows], d.sei[rows] ** 2))
    return out


def run_pymare(d: Simulated) -> tuple[dict[str, float], dict[str, dict[str, np.ndarray]], str]:
    """Per-analysis seconds of PyMARE's batched DL and REML (+ Knapp–Hartung), and results."""
    import pymare
    from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator

    blocks = by_k(d)

    def fit(make: Callable[[], object]) -> dict[str, np.ndarray]:
        res = {name: np.full(d.n, np.nan) for name in ("estimate", "se", "tau2")}
        for ids, y, v in blocks:
            est = make()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est.fit(y, v, np.ones((y.shape[0], 1)))
            p = est.params_
            res["estimate"][ids] = np.asarray(p["fe_params"]).reshape(-1)
            res["tau2"][ids] = np.asarray(p["tau2"]).reshape(-1)
            res["se"][ids] = np.sqrt(np.asarray(p["inv_cov"]).reshape(-1))
        return res

    makers = {"dl": lambda: DerSimonianLaird(small_sample_correction="wald"),
              "reml": lambda: VarianceBasedLikelihoodEstimator(method="REML")}
    per, results = {}, {}
    for name, make in makers.items():
        t0 = time.perf_counter()
        results[name] = fit(make)
        per[name] = (time.perf_counter() - t0) / d.n
    return per, results, f"PyMARE {getattr(pymare, '__version__', '?')}"


def run_statsmodels(d: Simulated) -> tuple[float, dict[str, np.ndarray], str]:
    """Per-analysis seconds of a loop of ``combine_effects`` (DL: method_re="chi2")."""
    import statsmodels
    from statsmodels.stats.meta_analysis import combine_effects

    starts = d.starts
    res = {name: np.full(d.n, np.nan) for name in ("estimate", "se", "tau2")}
    t0 = time.perf_counter()
    for i in range(d.n):
        y = d.yi[starts[i]:starts[i + 1]]
        v = d.sei[starts[i]:starts[i + 1]] ** 2
        with warnings.catch_warnings(), np.errstate(invalid="ignore"):
            warnings.simplefilter("ignore")  # its HKSJ SE is NaN when its τ² is negative
            r = combine_effects(y, v, method_re="chi2")
        res["estimate"][i], res["se"][i], res["tau2"][i] = r.mean_effect_re, r.sd_eff_w_re, r.tau2
    return (time.perf_counter() - t0) / d.n, res, f"statsmodels {statsmodels.__version__}"


def run_corpus() -> list[tuple[str, float, int]] | str:
    """End-to-end time of the corpus (read from the .tgz) with DL and with REML + HKSJ."""
    try:
        from trialsynth.corpus import run_batch  # the `trialsynth batch` engine
    except ImportError as exc:
        return f"not available (trialsynth.corpus.run_batch cannot be imported: {exc})"
    if not CORPUS.is_file():
        return f"not available (corpus not found at {CORPUS})"
    out = []
    for label, kw in (("corpus DL", {"method": "DL"}),
                      ("corpus REML+HKSJ", {"method": "REML", "hksj": True})):
        t0 = time.perf_counter()
        table = run_batch(CORPUS, **kw)
        out.append((label, time.perf_counter() - t0, len(table)))
    return out


# --------------------------------------------------------------------------- report
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="simulated analyses")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--peers", default="metafor,pymare,statsmodels",
                        help="comma-separated subset of metafor,pymare,statsmodels ('' for none)")
    parser.add_argument("--metafor-n", type=int, default=2000, help="analyses in metafor's loops")
    parser.add_argument("--pymare-n", type=int, default=200_000, help="analyses given to PyMARE")
    parser.add_argument("--statsmodels-n", type=int, default=2000,
                        help="analyses in statsmodels' loop")
    parser.add_argument("--reps", type=int, default=3,
                        help="timed repetitions of each trialsynth task (median; default 3: the "
                             "first call also pays for touching fresh memory, which on a virtual "
                             "machine can cost more than the pooling)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--no-corpus", action="store_true", help="skip the 501-review corpus")
    args = parser.parse_args()
    peers = {p.strip() for p in args.peers.split(",") if p.strip()}
    reps = max(1, args.reps)

    print("trialsynth batch benchmark -- SIMULATED data (random-effects model; not real trials)")
    print(f"date {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {os.cpu_count()} cores "
          f"({cpu_model()}); Python {platform.python_version()}, numpy {np.__version__}, "
          f"trialsynth {trialsynth.__version__}")
    print(f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min)")
    bw = bandwidth()
    d = simulate(args.n, args.seed)
    k_mean = d.group.size / d.n
    print(f"data: {d.n} SIMULATED analyses, {d.group.size} studies (mean k {k_mean:.1f}), "
          f"seed {args.seed}; numpy copy bandwidth {bw / 1e9:.1f} GB/s (read + write)")

    # warm-up, untimed: numpy's first calls, and the compiled kernels (trialsynth.pooling.compiled:
    # loading numba and its cached machine code) on enough studies to use them
    warm = d.head(min(d.n, 2 * engine.MIN_STUDIES // max(1, int(k_mean)) + 1))
    for fn in trialsynth_tasks(warm).values():
        fn()
    if engine.use_compiled(d.group.size):
        import numba

        kernels = f"compiled kernels (numba {numba.__version__}; from {engine.MIN_STUDIES:,} studies)"
    else:
        kernels = "numpy kernels (numba not installed, TRIALSYNTH_COMPILED=0, or a small batch)"
    print(f"engine: {kernels}")
    ts_time: dict[str, float] = {}
    ts_mem: dict[str, int] = {}
    ts_res: dict[str, PooledBatch] = {}
    for name, fn in trialsynth_tasks(d).items():
        ts_time[name] = best_time(fn, reps)
        if not args.no_memory:
            ts_mem[name] = peak_memory(fn)
        ts_res[name] = fn()
    tasks = list(ts_time)

    peer_per: dict[str, dict[str, float]] = {t: {} for t in tasks}
    notes: list[str] = []
    diffs: list[tuple[str, str, float, float, float, int]] = []
    head_dl, head_reml, head_mh = ts_res["DL"], ts_res["REML+HKSJ+PI"], ts_res["MH OR"]
    with tempfile.TemporaryDirectory(prefix="trialsynth-scale-") as tmp:
        if "metafor" in peers:
            m = min(args.metafor_n, d.n)
            try:
                per, gen, mh, version = run_metafor(d.head(m), Path(tmp))
            except RuntimeError as exc:
                notes.append(f"metafor: not run ({exc})")
            else:
                notes.append(f"metafor: {version}; loops over the first {m} analyses, "
                             f"per-analysis time × {d.n} is an extrapolation")
                peer_per["DL"]["metafor"] = peer_per["DL + τ² CI"]["metafor"] = per["dl"]
                peer_per["REML+HKSJ+PI"]["metafor"] = per["reml"]
                peer_per["REML+HKSJ+PI + τ² CI"]["metafor"] = per["reml"]
                peer_per["MH OR"]["metafor"] = per["mh"]
                for label, res, sfx in (("DL", head_dl, "dl"), ("REML+HKSJ+PI", head_reml, "reml")):
                    gap = [max_abs_diff(np.asarray(getattr(res, f))[:m],
                                        gen[f"{c}_{sfx}"].to_numpy(float))
                           for f, c in (("estimate", "est"), ("se", "se"), ("tau2", "tau2"))]
                    diffs.append(("metafor", label, gap[0][0], gap[1][0], gap[2][0], gap[0][1]))
                    failed = int((gen[f"error_{sfx}"].astype(str).str.len() > 0).sum()) \
                        if gen[f"error_{sfx}"].dtype == object else 0
                    if failed:
                        notes.append(f"metafor {label}: rma() stopped with an error in {failed} of "
                                     f"{m} analyses (left out of the differences)")
                pi = max(max_abs_diff(head_reml.pi_low[:m], gen["pi_lb"].to_numpy(float))[0],
                         max_abs_diff(head_reml.pi_high[:m], gen["pi_ub"].to_numpy(float))[0])
                notes.append(f"largest |trialsynth − metafor| of the REML+HKSJ prediction "
                             f"interval bounds: {pi:.2e}")
                e = max_abs_diff(head_mh.estimate[:m], mh["est_mh"].to_numpy(float))
                s = max_abs_diff(head_mh.se[:m], mh["se_mh"].to_numpy(float))
                diffs.append(("metafor", "MH OR", e[0], s[0], np.nan, e[1]))
        if "pymare" in peers:
            m = min(args.pymare_n, d.n)
            try:
                per, res, version = run_pymare(d.head(m))
            except ImportError as exc:
                notes.append(f"PyMARE: not available ({exc})")
            else:
                notes.append(f"{version}: batched by k over the first {m} analyses "
                             f"(REML: VarianceBasedLikelihoodEstimator, Knapp–Hartung SE)")
                peer_per["DL"]["PyMARE"] = peer_per["DL + τ² CI"]["PyMARE"] = per["dl"]
                peer_per["REML+HKSJ+PI"]["PyMARE"] = per["reml"]
                peer_per["REML+HKSJ+PI + τ² CI"]["PyMARE"] = per["reml"]
                for label, ours, key in (("DL", head_dl, "dl"), ("REML+HKSJ+PI", head_reml, "reml")):
                    gap = [max_abs_diff(np.asarray(getattr(ours, f))[:m], res[key][f])
                           for f in ("estimate", "se", "tau2")]
                    diffs.append(("PyMARE", label, gap[0][0], gap[1][0], gap[2][0], gap[0][1]))
                notes.append("PyMARE's REML searches τ² with a bounded scalar minimiser, whose "
                             "tolerance, not trialsynth's, limits the REML agreement")
        if "statsmodels" in peers:
            m = min(args.statsmodels_n, d.n)
            try:
                per_sm, res, version = run_statsmodels(d.head(m))
            except ImportError as exc:
                notes.append(f"statsmodels: not available ({exc})")
            else:
                notes.append(f"{version}: combine_effects(method_re='chi2') (DL) in a loop over "
                             f"the first {m} analyses")
                peer_per["DL"]["statsmodels"] = peer_per["DL + τ² CI"]["statsmodels"] = per_sm
                # combine_effects does not truncate the DL τ² at 0 (and pools with the negative
                # value): compare where its τ² is ≥ 0, the DerSimonian–Laird estimator proper
                negative = res["tau2"] < 0
                for f in res:
                    res[f] = np.where(negative, np.nan, res[f])
                gap = [max_abs_diff(np.asarray(getattr(head_dl, f))[:m], res[f])
                       for f in ("estimate", "se", "tau2")]
                diffs.append(("statsmodels", "DL", gap[0][0], gap[1][0], gap[2][0], gap[0][1]))
                notes.append(f"statsmodels: τ² < 0 (not truncated) in {int(negative.sum())} of {m} "
                             "analyses, left out of the differences")

    corpus = "skipped" if args.no_corpus else run_corpus()

    print()
    head = (f"{'task (' + str(d.n) + ' analyses)':<30} {'total':>9} {'per analysis':>12} "
            f"{'analyses/s':>11} {'peak mem':>9}  {'peer':<12}{'peer/analysis':>14} "
            f"{'peer total (×n)':>16} {'ts/peer':>9}")
    print(head)
    print("-" * len(head))
    for name in tasks:
        t = ts_time[name]
        mem = f"{ts_mem[name] / 2**20:.0f} MiB" if name in ts_mem else "—"
        first = (f"{name:<30} {fmt_time(t):>9} {fmt_time(t / d.n):>12} {d.n / t:11.0f} "
                 f"{mem:>9}  ")
        rows = peer_per[name] or {"": np.nan}
        for j, (peer, p) in enumerate(rows.items()):
            lead = first if j == 0 else " " * len(first)
            ratio = f"{(t / d.n) / p:9.5f}" if np.isfinite(p) else ""
            print(f"{lead}{peer:<12}{fmt_time(p):>14} {fmt_time(p * d.n):>16} {ratio}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    print("(ts/peer: trialsynth's per-analysis time over the peer's, same run; below 1 = trialsynth "
          f"faster. trialsynth: median of {reps} call(s) on all analyses; peak mem: tracemalloc, "
          f"separate run. Process max RSS {rss:.2f} GiB)")
    print("(DL and REML+HKSJ+PI: what metafor's rma() computes by default, no CI of τ² (confint() is "
          "a separate call); '+ τ² CI': with the Q-profile CI of τ², I² and H², trialsynth pool's "
          "default)")

    print()
    print("corpus (501 Cochrane reviews, read from the .tgz, end to end):")
    if isinstance(corpus, str):
        print(f"  {corpus}")
    else:
        for label, t, rows in corpus:
            print(f"  {label:<20} {fmt_time(t):>9}  ({rows} result rows)")

    if diffs:
        print()
        print("largest |trialsynth − peer| (over the analyses both solved):")
        print(f"  {'peer':<12} {'task':<14} {'estimate':>10} {'se':>10} {'tau2':>10} {'analyses':>9}")
        for peer, label, e, s, t2, cnt in diffs:
            cells = " ".join(f"{x:10.2e}" if np.isfinite(x) else f"{'—':>10}" for x in (e, s, t2))
            print(f"  {peer:<12} {label:<14} {cells} {cnt:9d}")

    print()
    print("physical limit: every input read once, every output written once, at the measured "
          f"bandwidth {bw / 1e9:.1f} GB/s")
    per_study_out = 8 * 3 + 1  # yi, vi, weight (float64) + included (bool)
    per_analysis_out = 8 * (len(PooledBatch.__dataclass_fields__) - 5)
    for name, per_study_in in (("DL", 8 * 3), ("REML+HKSJ+PI", 8 * 3), ("MH OR", 8 * 5)):
        moved = k_mean * (per_study_in + per_study_out) + per_analysis_out
        limit = moved / bw
        print(f"  {name:<14} {moved:6.0f} bytes/analysis -> {fmt_time(limit):>9} per analysis, "
              f"{fmt_time(limit * d.n):>8} for {d.n}; measured {fmt_time(ts_time[name] / d.n)} "
              f"({ts_time[name] / d.n / limit:.0f}× the limit)")
    for note in notes:
        print(f"note: {note}")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
