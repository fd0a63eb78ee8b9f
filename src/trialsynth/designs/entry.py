"""Conversions at data entry for continuous outcomes, per arm and vectorised over rows.

A row may give an arm's mean and SD directly, or: its median with the IQR and/or the range
(mean: Luo et al. 2018; SD: Wan et al. 2014 from the range or the IQR, Shi et al. 2020 from
both); the SE or a CI of the mean (Handbook v6.4 §6.5.2.2); for both arms at once the SE, CI,
t or P value of the difference in means (§6.5.2.3); or final values with the baseline mean and
SD and the baseline–final correlation, giving change from baseline (§6.5.2.8). Every value
filled in is recorded with the method that made it.

References
----------
Wan X, Wang W, Liu J, Tong T (2014). BMC Med Res Methodol 14:135.
Luo D, Wan X, Liu J, Tong T (2018). Stat Methods Med Res 27(6):1785–1805.
Shi J, Luo D, Weng H, Zeng X-T, Lin L, Chu H, Tong T (2020). Optimally estimating the sample
standard deviation from the five-number summary. Res Synth Methods 11(5):641–654.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trialsynth._dist import norm_ppf
from trialsynth._segments import FloatArray
from trialsynth.effects import conversions as cv
from trialsynth.errors import DataError

ARM_INPUTS = ("median", "q1", "q3", "min", "max", "se", "ci_low", "ci_high", "baseline_mean",
              "baseline_sd")
ENTRY_COLUMNS = tuple(f"{c}_{arm}" for c in ARM_INPUTS for arm in ("t", "c")) + ("corr_change",)


@dataclass(frozen=True, slots=True)
class Filled:
    """Values filled in for rows ``rows`` of one arm column, and how."""

    column: str
    rows: np.ndarray
    method: str


def shi_sd(minimum: FloatArray, q1: FloatArray, q3: FloatArray, maximum: FloatArray,
           n: FloatArray) -> FloatArray:
    """SD from the five-number summary (Shi et al. 2020, eq. 11):
    S ≈ (b − a)/θ₁(n) + (q₃ − q₁)/θ₂(n) with θ₁(n) = (2 + 0.14·n^0.6)·Φ⁻¹((n − 0.375)/(n + 0.25))
    and θ₂(n) = (2 + 2/(0.07·n^0.6))·Φ⁻¹((0.75n − 0.125)/(n + 0.25)); equivalently the weight
    w = 1/(1 + 0.07·n^0.6) on Wan's range estimator and 1 − w on the IQR one."""
    theta1 = (2 + 0.14 * n**0.6) * norm_ppf((n - 0.375) / (n + 0.25))  # Shi 2020, eq. (11)
    theta2 = (2 + 2 / (0.07 * n**0.6)) * norm_ppf((0.75 * n - 0.125) / (n + 0.25))  # Shi 2020
    return (maximum - minimum) / theta1 + (q3 - q1) / theta2


def change_sd(sd_baseline: FloatArray, sd_final: FloatArray, corr: FloatArray) -> FloatArray:
    """SD of change from baseline: √(SD_B² + SD_F² − 2·Corr·SD_B·SD_F) (Handbook v6.4
    §6.5.2.8)."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(sd_baseline**2 + sd_final**2 - 2 * corr * sd_baseline * sd_final)


def _have(*xs: FloatArray) -> np.ndarray:
    return np.logical_and.reduce([np.isfinite(x) for x in xs])


def _fill(cols: dict[str, FloatArray], target: str, mask: np.ndarray, method: str,
          fn: Callable[[np.ndarray], FloatArray], log: list[Filled]) -> None:
    todo = mask & ~np.isfinite(cols[target])
    if todo.any():
        idx = np.flatnonzero(todo)
        cols[target][idx] = _checked(fn, idx, target)
        log.append(Filled(target, idx, method))


def _checked(fn: Callable[[np.ndarray], FloatArray], idx: np.ndarray, target: str) -> FloatArray:
    """``fn(idx)``; a conversion that refuses its input names the row (header = row 1)."""
    try:
        return fn(idx)
    except DataError:
        for i in idx:  # find the first row at fault
            try:
                fn(np.array([i]))
            except DataError as exc:
                raise DataError(f"cannot fill {target}: {exc.reason}", row=int(i) + 2,
                                field=exc.field or target) from None
        raise


def fill_arm(cols: dict[str, FloatArray], arm: str, log: list[Filled]) -> None:
    """Fill ``mean_{arm}`` and ``sd_{arm}`` of rows that lack them, in place, in the order of
    preference: SE, CI, then the quantile summaries (only what the row gives is used)."""
    g = {k: cols[f"{k}_{arm}"] for k in (*ARM_INPUTS, "n")}
    mean, sd = f"mean_{arm}", f"sd_{arm}"
    n, a, q1, m, q3, b = g["n"], g["min"], g["q1"], g["median"], g["q3"], g["max"]
    five, iqr, rng = _have(a, q1, m, q3, b, n), _have(q1, m, q3, n), _have(a, m, b, n)
    _fill(cols, mean, five, "mean from the five-number summary (Luo et al. 2018, scenario S3)",
          lambda i: cv.mean_from_range_iqr(a[i], q1[i], m[i], q3[i], b[i], n[i]), log)
    _fill(cols, mean, iqr, "mean from median and IQR (Luo et al. 2018, scenario S2)",
          lambda i: cv.mean_from_iqr(q1[i], m[i], q3[i], n[i]), log)
    _fill(cols, mean, rng, "mean from median and range (Luo et al. 2018, scenario S1)",
          lambda i: cv.mean_from_range(a[i], m[i], b[i], n[i]), log)
    _fill(cols, sd, _have(g["se"], n), "SD = SE × √n (Handbook v6.4 §6.5.2.2)",
          lambda i: cv.sd_from_se(g["se"][i], n[i]), log)
    _fill(cols, sd, _have(g["ci_low"], g["ci_high"], n),
          "SD from the CI of the mean (Handbook v6.4 §6.5.2.2; t with n − 1 df if n < 60)",
          lambda i: cv.sd_from_ci(g["ci_low"][i], g["ci_high"][i], n[i]), log)
    five_sd = _have(a, q1, q3, b, n)
    _fill(cols, sd, five_sd, "SD from the five-number summary (Shi et al. 2020, eq. 11)",
          lambda i: shi_sd(a[i], q1[i], q3[i], b[i], n[i]), log)
    _fill(cols, sd, _have(q1, q3, n), "SD from the IQR (Wan et al. 2014, eq. 16)",
          lambda i: cv.sd_from_iqr(q1[i], q3[i], n[i]), log)
    _fill(cols, sd, _have(a, b, n), "SD from the range (Wan et al. 2014, eq. 9)",
          lambda i: cv.sd_from_range(a[i], b[i], n[i]), log)


def fill_from_difference(cols: dict[str, FloatArray], effect: dict[str, FloatArray],
                         log: list[Filled]) -> None:
    """Both arms' SD from the SE, CI, t or P value of the difference in means, for rows with
    both means and neither SD (Handbook v6.4 §6.5.2.3: one SD assumed for both groups)."""
    m1, m2, n1, n2 = cols["mean_t"], cols["mean_c"], cols["n_t"], cols["n_c"]
    need = _have(m1, m2, n1, n2) & ~np.isfinite(cols["sd_t"]) & ~np.isfinite(cols["sd_c"])
    md = np.where(np.isfinite(effect["effect"]), effect["effect"], m1 - m2)
    ways = (
        ("SD from the SE of the difference (Handbook v6.4 §6.5.2.3)", ("effect_se",),
         lambda i: cv.sd_from_se_diff(effect["effect_se"][i], n1[i], n2[i])),
        ("SD from the CI of the difference (Handbook v6.4 §6.5.2.3)",
         ("effect_ci_low", "effect_ci_high"),
         lambda i: cv.sd_from_ci_diff(effect["effect_ci_low"][i], effect["effect_ci_high"][i],
                                      n1[i], n2[i])),
        ("SD from the t statistic (Handbook v6.4 §6.5.2.3)", ("effect_t",),
         lambda i: cv.sd_from_t(md[i], effect["effect_t"][i], n1[i], n2[i])),
        ("SD from the P value (Handbook v6.4 §6.5.2.3; t with n_t + n_c − 2 df)", ("effect_p",),
         lambda i: cv.sd_from_p(md[i], effect["effect_p"][i], n1[i], n2[i])),
    )
    for method, needs, fn in ways:
        rows = need & _have(*(effect[k] for k in needs))
        if rows.any():
            idx = np.flatnonzero(rows)
            sd = _checked(fn, idx, "sd_t")
            cols["sd_t"][idx] = sd
            cols["sd_c"][idx] = sd
            log.append(Filled("sd_t, sd_c", idx, method))
            need &= ~rows


def to_change(cols: dict[str, FloatArray], log: list[Filled]) -> list[int]:
    """Rows with a baseline mean and SD in both arms become change from baseline (mean_F −
    mean_B, SD by :func:`change_sd` with the row's ``corr_change``); returns rows that give a
    baseline but no correlation (the caller reports them)."""
    base = _have(cols["baseline_mean_t"], cols["baseline_sd_t"], cols["baseline_mean_c"],
                 cols["baseline_sd_c"])
    r = cols["corr_change"]
    missing = [int(i) for i in np.flatnonzero(base & ~np.isfinite(r))]
    rows = base & np.isfinite(r)
    if rows.any():
        idx = np.flatnonzero(rows)
        for arm in ("t", "c"):
            cols[f"sd_{arm}"][idx] = change_sd(cols[f"baseline_sd_{arm}"][idx],
                                               cols[f"sd_{arm}"][idx], r[idx])
            cols[f"mean_{arm}"][idx] = cols[f"mean_{arm}"][idx] - cols[f"baseline_mean_{arm}"][idx]
        log.append(Filled("mean_t, sd_t, mean_c, sd_c", idx,
                          "change from baseline: mean final − baseline, SD from the "
                          "baseline–final correlation (Handbook v6.4 §6.5.2.8)"))
    return missing


def z_for(level: float) -> float:
    return float(norm_ppf(0.5 + level / 2))
