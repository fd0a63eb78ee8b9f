"""Compare two `trialsynth batch` result tables of the same corpus: DerSimonian–Laird (Wald CI)
against REML + HKSJ, with prediction intervals. Writes a summary table (Markdown and CSV) and a
figure (PNG and SVG) next to this script.

    python docs/meta-research/compare.py dl.parquet reml-hksj.parquet

Everything is on the analysis scale (log for RR, OR, Peto OR and ratios entered as generic
data), where "no effect" is 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).resolve().parent
KEEP = ["analysis", "k", "measure", "estimate", "ci_low", "ci_high", "pvalue", "tau2", "pi_low",
        "pi_high", "converged"]


def load(dl_path: str, reml_path: str) -> pd.DataFrame:
    dl = pd.read_parquet(dl_path, columns=KEEP)
    reml = pd.read_parquet(reml_path, columns=KEEP)
    both = dl.merge(reml, on="analysis", suffixes=("_dl", "_reml"), validate="one_to_one")
    assert (both["k_dl"] == both["k_reml"]).all()
    return both.rename(columns={"k_dl": "k"})


def crosses_null(low: pd.Series, high: pd.Series) -> pd.Series:
    return (low <= 0) & (high >= 0)


def summarise(both: pd.DataFrame, n_failed: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    m = both[both["k"] >= 2]  # a single study: no heterogeneity, HKSJ falls back to Wald
    rows.append(("analyses in the corpus", f"{len(both) + n_failed:,}"))
    rows.append(("pooled (at least one estimable study)", f"{len(both):,}"))
    rows.append(("with k ≥ 2 studies (compared below)", f"{len(m):,}"))
    rows.append(("with k ≥ 3 studies (prediction intervals)", f"{int((m['k'] >= 3).sum()):,}"))
    sig_dl, sig_reml = m["pvalue_dl"] < 0.05, m["pvalue_reml"] < 0.05
    pct = 100 / len(m)
    rows.append(("significant at 5 %: DL", f"{int(sig_dl.sum()):,} ({sig_dl.sum() * pct:.1f} %)"))
    rows.append(("significant at 5 %: REML + HKSJ",
                 f"{int(sig_reml.sum()):,} ({sig_reml.sum() * pct:.1f} %)"))
    lost, gained = sig_dl & ~sig_reml, ~sig_dl & sig_reml
    rows.append(("significant under DL, not under REML + HKSJ",
                 f"{int(lost.sum()):,} ({lost.sum() / max(sig_dl.sum(), 1) * 100:.1f} % of DL's "
                 f"significant results)"))
    rows.append(("significant under REML + HKSJ, not under DL", f"{int(gained.sum()):,}"))
    for label, sub in (("k = 2", m[m["k"] == 2]), ("k = 3–5", m[m["k"].between(3, 5)]),
                       ("k ≥ 6", m[m["k"] >= 6])):
        s_dl = sub["pvalue_dl"] < 0.05
        lost_k = s_dl & (sub["pvalue_reml"] >= 0.05)
        rows.append((f"  lost significance, {label}", f"{int(lost_k.sum()):,} of "
                     f"{int(s_dl.sum()):,} significant under DL"))
    ratio = (m["ci_high_reml"] - m["ci_low_reml"]) / (m["ci_high_dl"] - m["ci_low_dl"])
    q = ratio.quantile([0.05, 0.25, 0.5, 0.75, 0.95])
    rows.append(("CI width ratio, REML + HKSJ / DL: median (IQR)",
                 f"{q[0.5]:.2f} ({q[0.25]:.2f}–{q[0.75]:.2f})"))
    rows.append(("CI width ratio: 5th–95th percentile", f"{q[0.05]:.2f}–{q[0.95]:.2f}"))
    rows.append(("CI narrower under REML + HKSJ than under DL",
                 f"{int((ratio < 1).sum()):,} ({(ratio < 1).sum() * pct:.1f} %)"))
    rows.append(("CI at least twice as wide", f"{int((ratio >= 2).sum()):,} "
                 f"({(ratio >= 2).sum() * pct:.1f} %)"))
    p3 = m[m["k"] >= 3]
    excl = ~crosses_null(p3["ci_low_reml"], p3["ci_high_reml"])
    pi_cross = crosses_null(p3["pi_low_reml"], p3["pi_high_reml"])
    rows.append(("k ≥ 3, REML + HKSJ CI excludes the null",
                 f"{int(excl.sum()):,} of {len(p3):,}"))
    both_ = int((excl & pi_cross).sum())
    rows.append(("  … and its prediction interval crosses it",
                 f"{both_:,} ({both_ / max(int(excl.sum()), 1) * 100:.1f} %)"))
    excl_dl = ~crosses_null(p3["ci_low_dl"], p3["ci_high_dl"])
    pi_dl = crosses_null(p3["pi_low_dl"], p3["pi_high_dl"])
    rows.append(("k ≥ 3, DL CI excludes the null; its (normal) PI crosses it",
                 f"{int((excl_dl & pi_dl).sum()):,} of {int(excl_dl.sum()):,}"))
    t_dl, t_reml = m["tau2_dl"], m["tau2_reml"]
    rows.append(("τ² = 0: DL / REML", f"{int((t_dl == 0).sum()):,} / {int((t_reml == 0).sum()):,}"))
    rows.append(("τ² larger under REML than DL (by > 1e-8)",
                 f"{int((t_reml > t_dl + 1e-8).sum()):,} ({(t_reml > t_dl + 1e-8).sum() * pct:.1f} %)"))
    rows.append(("τ² smaller under REML than DL (by > 1e-8)",
                 f"{int((t_reml < t_dl - 1e-8).sum()):,} ({(t_reml < t_dl - 1e-8).sum() * pct:.1f} %)"))
    pos = (t_dl > 0) & (t_reml > 0)
    r = (t_reml[pos] / t_dl[pos]).quantile([0.25, 0.5, 0.75])
    rows.append(("τ² ratio REML / DL where both > 0: median (IQR)",
                 f"{r[0.5]:.2f} ({r[0.25]:.2f}–{r[0.75]:.2f})"))
    rows.append(("REML did not converge", f"{int((~m['converged_reml']).sum()):,}"))
    return rows


def figure(both: pd.DataFrame, stem: Path) -> None:
    m = both[both["k"] >= 2]
    w_dl = m["ci_high_dl"] - m["ci_low_dl"]
    w_reml = m["ci_high_reml"] - m["ci_low_reml"]
    ratio = w_reml / w_dl
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    ax = axes[0]
    bins = np.logspace(np.log10(0.2), np.log10(20), 70)
    for label, sel, color in (("k = 2", m["k"] == 2, "#d95f02"), ("k = 3–5", m["k"].between(3, 5),
                              "#7570b3"), ("k ≥ 6", m["k"] >= 6, "#1b9e77")):
        ax.hist(ratio[sel].clip(0.2, 19.9), bins=bins, histtype="step", lw=1.6, color=color,
                label=f"{label} (n = {sel.sum():,})")
    ax.set_xscale("log")
    ax.set_xticks([0.25, 0.5, 1, 2, 4, 8, 16], ["¼", "½", "1", "2", "4", "8", "16"])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.axvline(1, color="grey", lw=0.8)
    ax.set_xlabel("CI width, REML + HKSJ / DL (log scale, clipped to 0.2–20)")
    ax.set_ylabel("analyses")
    ax.set_title("a. How much wider the CI gets")
    ax.legend(frameon=False)
    ax = axes[1]
    p_dl, p_reml = m["pvalue_dl"].clip(1e-12), m["pvalue_reml"].clip(1e-12)
    changed = (p_dl < 0.05) != (p_reml < 0.05)
    ax.scatter(p_dl[~changed], p_reml[~changed], s=3, alpha=0.25, color="#555555", lw=0,
               label="same conclusion at 5 %", rasterized=True)
    ax.scatter(p_dl[changed], p_reml[changed], s=5, alpha=0.7, color="#d95f02", lw=0,
               label=f"conclusion changes (n = {changed.sum():,})", rasterized=True)
    for f in (ax.axvline, ax.axhline):
        f(0.05, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("p-value, DL (Wald; clipped at 1e-12)")
    ax.set_ylabel("p-value, REML + HKSJ (clipped at 1e-12)")
    ax.set_title("b. Test for overall effect")
    ax.legend(frameon=True, loc="lower right", markerscale=3, framealpha=0.9)
    ax = axes[2]
    ratio_m = m[m["measure_dl"].isin(["RR", "OR", "PETO_OR"])]  # one scale: log ratio
    t_dl, t_reml = np.sqrt(ratio_m["tau2_dl"]), np.sqrt(ratio_m["tau2_reml"])
    ax.scatter(t_dl, t_reml, s=3, alpha=0.25, color="#1b9e77", lw=0, rasterized=True)
    top = float(np.nanquantile(np.r_[t_dl, t_reml], 0.995))
    ax.plot([0, top], [0, top], color="grey", lw=0.8)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("τ, DerSimonian–Laird")
    ax.set_ylabel("τ, REML")
    ax.set_title(f"c. τ of the RR/OR analyses (n = {len(ratio_m):,})")
    fig.suptitle(f"{len(m):,} meta-analyses with k ≥ 2 from 501 Cochrane reviews (Pairwise70): "
                 "DL vs REML + HKSJ", fontsize=12)
    fig.savefig(stem.with_suffix(".png"), dpi=130)
    fig.savefig(stem.with_suffix(".svg"))
    plt.close(fig)


def main(dl_path: str, reml_path: str) -> None:
    both = load(dl_path, reml_path)
    failures = Path(dl_path).with_name(Path(dl_path).name.rsplit(".", 1)[0] + ".failures.csv")
    n_failed = len(pd.read_csv(failures)) if failures.is_file() else 0
    rows = summarise(both, n_failed)
    table = pd.DataFrame(rows, columns=["", "value"])
    table.to_csv(HERE / "summary.csv", index=False)
    lines = ["| | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)]
    (HERE / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    figure(both, HERE / "dl-vs-reml-hksj")
    print("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:3])
