"""Forest plots as Cochrane reviewers know them from RevMan (5 and Web) and R meta.

Layout (left to right): study or subgroup; arm data from ``arms`` (events and total for
dichotomous outcomes; mean, SD and total for continuous ones; estimate and SE for generic inverse
variance); weight; effect with its CI as text; the plot (squares sized by weight, CI lines,
diamonds, prediction interval bar, null line, axis with "Favours ..." labels); risk-of-bias traffic
lights (D1-D5 and overall for RoB 2, A-G for RoB 1) when ``rob`` is given. Below the studies, as
in RevMan: subtotals per subgroup with their heterogeneity and test for overall effect, the total,
its heterogeneity (Tau², Chi², df, P, I²), test for overall effect (Z, or t with df for HKSJ), the
test for subgroup differences, and a legend for the risk-of-bias columns.

Ratio measures are drawn on a log axis with back-transformed tick labels. Studies with no effect
(e.g. zero events in both arms) read "Not estimable". Every user-supplied text (study, subgroup and
arm names) is cleaned of control characters, cut with an ellipsis to its column and drawn
literally (no mathtext, no TeX); SVG export escapes it (:mod:`.export`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from trialsynth.registry import MEASURES, METHODS
from trialsynth.render.figures.forest_layout import (  # noqa: F401 (public names of this module)
    GAP,
    PLOT_W,
    RATIO,
    ROW_H,
    SQUARE_COLOURS,
    STUDY_MAX,
    Column,
    ForestLabels,
    Row,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from trialsynth.pooling.result import PooledResult

# RevMan's names of measures and methods, from the registries (trialsynth.registry)
MEASURE_NAMES = {code: m.revman_name for code, m in MEASURES.items()}
METHOD_WORDS = {code: m.revman_name for code, m in METHODS.items()}
TAU2_NAMES = {code: m.tau2_name for code, m in METHODS.items() if m.tau2_name is not None}
ARM_COLUMNS = {
    "dichotomous": (("events_t", "Events"), ("n_t", "Total"), ("events_c", "Events"),
                    ("n_c", "Total")),
    "continuous": (("mean_t", "Mean"), ("sd_t", "SD"), ("n_t", "Total"), ("mean_c", "Mean"),
                   ("sd_c", "SD"), ("n_c", "Total")),
    "generic": (("yi", "Estimate"), ("se", "SE"), ("n_t", "Total"), ("n_c", "Total")),
}
_Col, _Row = Column, Row  # the names used below
_LOG_LADDER = ((2.0, (0.5, 0.7, 1, 1.5, 2)), (5.0, (0.2, 0.5, 1, 2, 5)),
               (10.0, (0.1, 0.2, 0.5, 1, 2, 5, 10)), (20.0, (0.05, 0.2, 1, 5, 20)),
               (50.0, (0.02, 0.1, 1, 10, 50)), (100.0, (0.01, 0.1, 1, 10, 100)),
               (200.0, (0.005, 0.1, 1, 10, 200)), (1000.0, (0.001, 0.1, 1, 10, 1000)))


def _arm_kind(measure: str, arms: pd.DataFrame | None) -> str | None:
    if arms is None:
        return None
    cols = set(arms.columns)
    for kind in ("dichotomous", "continuous"):
        if {k for k, _ in ARM_COLUMNS[kind]} <= cols:
            return kind
    if {"yi", "se"} <= cols:
        return "generic"
    raise ValueError("arms needs events_t, n_t, events_c, n_c (dichotomous), mean_t, sd_t, n_t, "
                     "mean_c, sd_c, n_c (continuous) or yi, se (generic) columns")


def _check_arms(result: PooledResult, arms: pd.DataFrame | None) -> None:
    from trialsynth.render.figures._common import clean

    if arms is None:
        return
    if len(arms) != len(result.studies):
        raise ValueError(f"arms has {len(arms)} rows; the result has {len(result.studies)} "
                         "studies (rows must be in the order of result.studies)")
    if "study" in arms.columns:
        for given, study in zip(arms["study"], result.studies, strict=True):
            if clean(given) != clean(study.study):
                raise ValueError(f"arms row {clean(given)[:40]!r} does not match study "
                                 f"{clean(study.study)[:40]!r}: rows must follow result.studies")


def _value(x: float, measure: str, decimals: int) -> str:
    """A number on the display scale; ratios below 0.01 keep two significant digits."""
    from trialsynth.render.figures._common import num

    if measure in RATIO:
        ratio = math.exp(x)
        if 0 < ratio < 10 ** -decimals:
            return f"{ratio:.{1 - math.floor(math.log10(ratio))}f}"
        return num(ratio, decimals)
    return num(x, decimals)


def _effect_text(est: float | None, lo: float | None, hi: float | None, measure: str,
                 decimals: int) -> str:
    if est is None or lo is None or hi is None:
        return "Not estimable"
    return (f"{_value(est, measure, decimals)} [{_value(lo, measure, decimals)}, "
            f"{_value(hi, measure, decimals)}]")


def _method_line(result: PooledResult) -> str:
    level = float(result.settings.get("confidence_level", 0.95))
    words = METHOD_WORDS.get(result.method, "IV, Random")
    return f"{words}, {100 * level:g}% CI"


def _het_text(res: PooledResult) -> str:
    from trialsynth.render.figures._common import num, pvalue

    if res.k < 2 or res.q is None or res.q_df is None:
        return "Heterogeneity: Not applicable"
    parts = []
    if res.model == "random" and res.tau2 is not None:
        tau2 = num(res.tau2, 3 if 0.0005 <= res.tau2 < 0.005 else 2)  # 0.00, 0.004, 0.31
        parts.append(f"Tau² = {tau2}")
    parts.append(f"Chi² = {num(res.q, 2)}, df = {res.q_df} ({pvalue(res.q_pvalue)})")
    if res.i2 is not None:
        parts.append(f"I² = {res.i2:.0f}%")
    return "Heterogeneity: " + "; ".join(parts)


def _test_text(res: PooledResult) -> str:
    from trialsynth.render.figures._common import num, pvalue

    if res.estimate is None or res.statistic is None:
        return "Test for overall effect: Not applicable"
    if res.settings.get("hksj") and res.df is not None:
        return (f"Test for overall effect: t = {num(abs(res.statistic), 2)}, df = {res.df:g} "
                f"({pvalue(res.pvalue)})")
    return f"Test for overall effect: Z = {num(abs(res.statistic), 2)} ({pvalue(res.pvalue)})"


def _subgroup_test_text(result: PooledResult) -> str:
    from trialsynth.render.figures._common import num, pvalue

    test = result.subgroup_test
    if test is None or test.q is None:
        return "Test for subgroup differences: Not applicable"
    i2 = "" if test.i2 is None else f", I² = {test.i2:.1f}%"
    return (f"Test for subgroup differences: Chi² = {num(test.q, 2)}, df = {test.df} "
            f"({pvalue(test.pvalue)}){i2}")


def _methods_note(result: PooledResult, with_pi: bool) -> str:
    if result.model != "random":
        return ""
    parts = [f"Random-effects model; Tau² estimator: {TAU2_NAMES.get(result.method, result.method)}"]
    hksj = result.settings.get("hksj")
    if hksj:
        parts.append("CI by Hartung–Knapp–Sidik–Jonkman" + (" (never narrower than Wald)"
                                                            if hksj == "adhoc" else ""))
    if with_pi:
        parts.append("prediction interval for the effect in a new study")
    return "; ".join(parts) + "."


def _arm_cells(arms: pd.DataFrame | None, kind: str | None, i: int) -> dict[str, str]:
    from trialsynth.render.figures._common import compact, count

    if arms is None or kind is None:
        return {}
    row = arms.iloc[i]
    out = {}
    for key, _ in ARM_COLUMNS[kind]:
        if key not in arms.columns:
            continue
        value = row[key]
        value = None if value is None or (isinstance(value, float) and math.isnan(value)) \
            else float(value)
        out[key] = compact(value, 4) if key in ("yi", "se") else \
            count(value) if key in ("events_t", "events_c", "n_t", "n_c") else compact(value, 2)
    return out


def _sums(arms: pd.DataFrame | None, kind: str | None, idx: list[int], keys: tuple[str, ...]
          ) -> dict[str, str]:
    from trialsynth.render.figures._common import count

    if arms is None or kind is None:
        return {}
    out = {}
    for key in keys:
        if key in arms.columns and any(k == key for k, _ in ARM_COLUMNS[kind]):
            values = [float(v) for v in arms[key].iloc[idx] if v is not None and not
                      (isinstance(v, float) and math.isnan(v))]
            out[key] = count(sum(values)) if values else ""
    return out


def _summary_rows(res: PooledResult, idx: list[int], arms: pd.DataFrame | None,
                  kind: str | None, label: str, weight: float | None, decimals: int
                  ) -> list[_Row]:
    from trialsynth.render.figures._common import percent

    cells = _sums(arms, kind, idx, ("n_t", "n_c"))
    cells["weight"] = percent(weight)
    cells["effect"] = _effect_text(res.estimate, res.ci_low, res.ci_high, res.measure, decimals)
    mark = None if res.estimate is None or res.ci_low is None or res.ci_high is None else \
        ("diamond", res.estimate, res.ci_low, res.ci_high)
    rows = [_Row("summary", label, cells, bold=True, mark=mark)]
    if kind == "dichotomous":
        rows.append(_Row("events", "Total events", _sums(arms, kind, idx, ("events_t", "events_c"))))
    return rows


def _show_pi(res: PooledResult, labels: ForestLabels | None = None) -> bool:
    if labels is not None and not labels.prediction_interval:
        return False
    return res.model == "random" and res.k >= 3 and res.pi_low is not None and \
        res.pi_high is not None


def _rows(result: PooledResult, arms: pd.DataFrame | None, kind: str | None,
          labels: ForestLabels, levels: Mapping[str, Mapping[str, str | None]] | None
          ) -> list[_Row]:
    from trialsynth.render.figures._common import clean, percent

    level = float(result.settings.get("confidence_level", 0.95))
    ci = f"({100 * level:g}% CI)"
    studies = result.studies
    if result.subgroups:
        names = list(result.subgroups)
        groups: list[tuple[str | None, list[int]]] = [
            (n, [i for i, s in enumerate(studies) if (s.subgroup or "") == n]) for n in names]
        rest = [i for i, s in enumerate(studies) if (s.subgroup or "") not in names]
        if rest:
            groups.append((None, rest))
    else:
        groups = [(None, list(range(len(studies))))]
    rows: list[_Row] = []
    for g, (name, idx) in enumerate(groups, start=1):
        sub = result.subgroups.get(name) if result.subgroups and name is not None else None
        if result.subgroups:
            prefix = f"{clean(labels.analysis_number)}.{g} " if labels.analysis_number else ""
            rows.append(_Row("group", prefix + clean(name, "(no subgroup)"), bold=True))
        for i in idx:
            s = studies[i]
            cells = _arm_cells(arms, kind, i)
            estimable = s.included and s.yi is not None and s.ci_low is not None
            cells["weight"] = percent(s.weight) if estimable and labels.pooled else ""
            cells["effect"] = _effect_text(s.yi, s.ci_low, s.ci_high, result.measure,
                                           labels.decimals) if estimable else "Not estimable"
            size = (s.weight or 0.0) if labels.pooled else 100.0 / max(len(studies), 1)
            mark = ("study", s.yi, s.ci_low, s.ci_high, size) if estimable else None
            rob = None if levels is None else levels.get(clean(s.study), {})
            rows.append(_Row("study", clean(s.study, "(unnamed study)"), cells, mark=mark,
                             rob=rob))
        if sub is not None and labels.pooled:
            weight = sum(studies[i].weight or 0.0 for i in idx if studies[i].included)
            rows += _summary_rows(sub, idx, arms, kind, f"Subtotal {ci}", weight, labels.decimals)
            rows += [_Row("note", _het_text(sub)), _Row("note", _test_text(sub))]
        if result.subgroups:
            rows.append(_Row("gap", height=0.5))
    if labels.show_total and labels.pooled:
        everyone = list(range(len(studies)))
        weight = 100.0 if result.estimate is not None else None
        total = _summary_rows(result, everyone, arms, kind, f"Total {ci}", weight,
                              labels.decimals)
        rows.append(total[0])
        if _show_pi(result, labels):
            text = _effect_text(0.0, result.pi_low, result.pi_high, result.measure,
                                labels.decimals).split(" ", 1)[1]
            rows.append(_Row("pi", "Prediction interval", {"effect": text},
                             mark=("pi", result.pi_low, result.pi_high)))
        rows += total[1:]
        rows += [_Row("note", _het_text(result)), _Row("note", _test_text(result)),
                 _Row("note", _subgroup_test_text(result))]
    return rows


def _scale(result: PooledResult, labels: ForestLabels) -> tuple[float, float, list[float]]:
    """x range (analysis scale) and ticks (display scale) of the plot."""
    ratio = result.measure in RATIO
    if labels.xlim is not None:
        lo, hi = labels.xlim
        if ratio:
            ticks = sorted({lo, hi, 1.0} | {t for _, ts in _LOG_LADDER for t in ts if lo < t < hi
                                             and math.log10(t) % 1 == 0})
            return math.log(lo), math.log(hi), ticks
        return lo, hi, [lo, (lo + hi) / 2, hi] if not lo < 0 < hi else [lo, lo / 2, 0, hi / 2, hi]
    pooled = [result] + list((result.subgroups or {}).values())
    core = [abs(v) for r in pooled for v in (r.ci_low, r.ci_high) if v is not None]
    core += [abs(s.yi) for s in result.studies if s.included and s.yi is not None]
    every = [abs(v) for s in result.studies if s.included for v in (s.ci_low, s.ci_high)
             if v is not None]
    need_core = max(core, default=0.0)
    need_all = max(every + [need_core])
    if ratio:
        # every square on the scale; CI lines too while they stay within 0.1-10 (else arrows)
        target = math.exp(max(need_core, min(need_all, math.log(10.0))))
        for hi, ticks in _LOG_LADDER:
            if hi >= target * (1 - 1e-9):
                return -math.log(hi), math.log(hi), list(ticks)
        hi, ticks = _LOG_LADDER[-1]
        return -math.log(hi), math.log(hi), list(ticks)
    target = max(need_core, min(need_all, 2 * need_core)) or 1.0
    exp10 = 10.0 ** math.floor(math.log10(target))
    limit = next(m * exp10 for m in (1, 2, 4, 5, 10) if m * exp10 >= target * (1 - 1e-9))
    return -limit, limit, [-limit, -limit / 2, 0.0, limit / 2, limit]


def forest_plot(result: PooledResult, arms: pd.DataFrame | None = None, *,
                labels: ForestLabels | None = None,
                rob: Mapping[str, Mapping[str, str]] | None = None,
                ax: Axes | None = None) -> Figure:
    """Draw the forest plot of ``result``; return its figure.

    Parameters
    ----------
    result : a pooled analysis (:func:`trialsynth.pool`); subgroups are drawn when it has them.
    arms : per-study arm data in the order of ``result.studies`` (optional ``study`` column is
        checked): ``events_t, n_t, events_c, n_c``; ``mean_t, sd_t, n_t, mean_c, sd_c, n_c``; or
        ``yi, se`` (and optionally ``n_t, n_c``) for generic inverse variance.
    labels : arm names, direction of benefit ("Favours ..."), title and other wording.
    rob : ``study -> {domain: judgement}`` (RoB 2 ``D1``-``D5`` + ``overall``, or RoB 1
        domains); draws traffic-light columns and their legend.
    ax : draw into this axes (sized like the figure this function would make) instead of a new
        figure; the figure height grows with the number of rows.
    """
    from trialsynth.render.figures import forest_draw as draw
    from trialsynth.render.figures._common import clean
    from trialsynth.render.figures.rob import rob_columns, rob_levels

    labels = labels or ForestLabels()
    _check_arms(result, arms)
    kind = _arm_kind(result.measure, arms)
    columns = rob_columns(rob) if rob else None
    levels = {clean(k): v for k, v in rob_levels(rob).items()} if rob else None
    rows = _rows(result, arms, kind, labels, levels)
    cols = _columns(result, arms, kind, labels)
    return draw.render(result, rows, cols, labels, columns, kind, _scale(result, labels),
                       _methods_note(result, _show_pi(result, labels)), ax)


def _columns(result: PooledResult, arms: pd.DataFrame | None, kind: str | None,
             labels: ForestLabels) -> list[_Col]:
    from trialsynth.render.figures._common import clean

    measure = clean(labels.measure_label) or MEASURE_NAMES.get(result.measure, result.measure)
    cols = [_Col("study", "", "Study or Subgroup", align="left")]
    if kind is not None and arms is not None:
        for key, header in ARM_COLUMNS[kind]:
            if key in arms.columns:
                group = clean(labels.experimental) if key.endswith("_t") else \
                    clean(labels.control) if key.endswith("_c") else ""
                cols.append(_Col(key, group, header))
    cols.append(_Col("weight", "", "Weight"))
    cols.append(_Col("effect", measure, _method_line(result), align="center"))
    return cols
