"""A pooled result as pandas tables, for a data analyst (as statsmodels'
``CombineResults.summary_frame`` hands one): :func:`studies_frame`, one row per study, and
:func:`summary_frame`, the studies followed by the pooled rows. Reached as
``PooledResult.studies_frame()`` and ``PooledResult.summary_frame()``.

Column names are those of :class:`~trialsynth.pooling.result.StudyRow` and
:class:`~trialsynth.pooling.result.PooledResult`: ``yi, se, ci_low, ci_high, weight`` for a
study, ``estimate, se, ci_low, ci_high, pi_low, pi_high`` for a pooled row. Values are on the
analysis scale (log for ratio measures) unless ``exp=True``, which back-transforms the effects
and intervals of ratio measures (the standard errors stay on the log scale).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from trialsynth.pooling.result import PooledResult

STUDY_COLUMNS = ("study", "subgroup", "yi", "se", "ci_low", "ci_high", "weight", "included")
SUMMARY_COLUMNS = ("kind", "subgroup", "k", "estimate", "se", "ci_low", "ci_high", "pi_low",
                   "pi_high", "weight")


def _back(value: float | None, exp: bool) -> float:
    """NaN for a missing value; exp(value) when asked (ratio measures)."""
    if value is None:
        return math.nan
    return math.exp(value) if exp else value


def _ratio(result: PooledResult, exp: bool) -> bool:
    from trialsynth.registry.measures import is_ratio

    return exp and is_ratio(result.measure)


def studies_frame(result: PooledResult, *, exp: bool = False) -> pd.DataFrame:
    """One row per study in input order: ``study, subgroup, yi, se, ci_low, ci_high, weight``
    (percent of the analysis' weight; NaN when not pooled) and ``included``."""
    import pandas as pd

    back = _ratio(result, exp)
    rows = [{"study": s.study, "subgroup": s.subgroup, "yi": _back(s.yi, back),
             "se": math.nan if s.se is None else s.se, "ci_low": _back(s.ci_low, back),
             "ci_high": _back(s.ci_high, back),
             "weight": math.nan if s.weight is None else s.weight, "included": s.included}
            for s in result.studies]
    return pd.DataFrame(rows, columns=list(STUDY_COLUMNS))


def _pooled_row(res: PooledResult, kind: str, subgroup: str | None, back: bool,
                weight: float) -> dict:
    return {"kind": kind, "subgroup": subgroup, "k": res.k, "estimate": _back(res.estimate, back),
            "se": math.nan if res.se is None else res.se, "ci_low": _back(res.ci_low, back),
            "ci_high": _back(res.ci_high, back), "pi_low": _back(res.pi_low, back),
            "pi_high": _back(res.pi_high, back), "weight": weight}


def summary_frame(result: PooledResult, *, exp: bool = False) -> pd.DataFrame:
    """The forest plot as a table: the studies (``kind`` "study", ``estimate`` = the study's
    yᵢ, ``k`` = 1 if pooled), then each subgroup's pooled row (``kind`` "subgroup", ``weight`` =
    its studies' share of the overall weight) and the overall pooled row (``kind`` "pooled",
    weight 100). Prediction intervals on the pooled rows. Indexed by study or row label."""
    import pandas as pd

    back = _ratio(result, exp)
    rows, index = [], []
    for s in result.studies:
        rows.append({"kind": "study", "subgroup": s.subgroup, "k": 1 if s.included else 0,
                     "estimate": _back(s.yi, back), "se": math.nan if s.se is None else s.se,
                     "ci_low": _back(s.ci_low, back), "ci_high": _back(s.ci_high, back),
                     "pi_low": math.nan, "pi_high": math.nan,
                     "weight": math.nan if s.weight is None else s.weight})
        index.append(s.study)
    for name, sub in (result.subgroups or {}).items():
        # a subtotal's weight: its studies' share of the overall weight (RevMan's subtotal row)
        share = sum(s.weight for s in result.studies if s.subgroup == name and s.weight is not None)
        rows.append(_pooled_row(sub, "subgroup", name, back, share if sub.k else math.nan))
        index.append(f"subgroup: {name}")
    rows.append(_pooled_row(result, "pooled", None, back, 100.0 if result.k else math.nan))
    index.append(f"pooled ({result.model} effect, {result.method})")
    return pd.DataFrame(rows, index=pd.Index(index, name="label"), columns=list(SUMMARY_COLUMNS))
