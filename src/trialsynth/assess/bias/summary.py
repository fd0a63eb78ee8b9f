"""Small-study effects of one pooled analysis, as the report shows them: the funnel-plot tests
that fit the outcome, or why none is run.

With at least ``min_k`` studies (10: Cochrane Handbook 5.1 §10.4.3.1; Core GRADE 4 Fig 5):
Egger's regression test (Egger et al. 1997) and Begg's rank correlation (Begg & Mazumdar 1994)
for every outcome, and for 2×2 tables also Peters' test (Peters et al. 2006) and Harbord's score
test (Harbord et al. 2006), which the Handbook 5.1 §10.4.3.1 prefers for odds ratios because
Egger's test is biased towards asymmetry there. Asymmetry is read at p < 0.10, the level the tests
were proposed with (Egger et al. 1997, "Methods"; Handbook 5.1 §10.4.3.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trialsynth.assess.bias.small_study import (
    MIN_K,
    SmallStudyTest,
    begg_test,
    egger_test,
    harbord_test,
    peters_test_from_counts,
    result_inputs,
)
from trialsynth.pooling.result import PooledResult
from trialsynth.registry.measures import measures_of_type

ASYMMETRY_P = 0.10  # Egger et al. 1997; Handbook 5.1 §10.4.3.1
TEST_NAMES = {"egger": "Egger's regression test", "begg": "Begg's rank correlation test",
              "peters": "Peters' regression test", "harbord": "Harbord's score test"}
BINARY = measures_of_type("dichotomous")  # trialsynth.registry
COUNT_COLUMNS = ("events_t", "n_t", "events_c", "n_c")


def too_few_reason(k: int, min_k: int = MIN_K) -> str | None:
    """Why no funnel plot or asymmetry test is shown for ``k`` studies (None when one is)."""
    if k >= min_k:
        return None
    return (f"{k} {'study' if k == 1 else 'studies'} with an effect estimate, fewer than "
            f"{min_k}: no funnel plot and no asymmetry test (Cochrane Handbook 5.1 §10.4.3.1: "
            "with fewer studies the tests are too weak to tell asymmetry from chance).")


@dataclass(frozen=True, slots=True, kw_only=True)
class SmallStudyEffects:
    """The funnel-plot tests of one pooled analysis: ``k`` studies with an effect estimate,
    ``min_k`` needed, ``skipped_reason`` (why no test is run, else None), the tests run and a
    ``sentence`` for the report; or ``error``: why they could not be computed."""

    k: int
    min_k: int
    skipped_reason: str | None
    tests: tuple[SmallStudyTest, ...] = ()
    sentence: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error, "skipped_reason": self.skipped_reason}
        return {"k": self.k, "min_k": self.min_k, "skipped_reason": self.skipped_reason,
                "tests": [{"name": TEST_NAMES[t.test], **t.to_dict()} for t in self.tests],
                "sentence": self.sentence}


def small_study_effects(result: PooledResult, columns: Mapping[str, Any] | None = None, *,
                        min_k: int = MIN_K) -> dict[str, Any]:
    """:func:`small_study_summary` as a dict for results.json: ``k``, ``min_k``,
    ``skipped_reason``, ``tests`` (each :class:`SmallStudyTest` as a dict plus its ``name``) and
    a ``sentence``."""
    return small_study_summary(result, columns, min_k=min_k).to_dict()


def small_study_summary(result: PooledResult, columns: Mapping[str, Any] | None = None, *,
                        min_k: int = MIN_K) -> SmallStudyEffects:
    """The funnel-plot tests of ``result``, or why none is run. ``columns``: the analysis' 2×2
    counts (``events_t, n_t, events_c, n_c``, one entry per study of ``result``), for Peters'
    and Harbord's tests."""
    yi, vi = result_inputs(result)
    k = int(yi.size)
    skipped = too_few_reason(k, min_k)
    if skipped is not None:
        return SmallStudyEffects(k=k, min_k=min_k, skipped_reason=skipped)
    tests: list[SmallStudyTest] = [egger_test(yi, vi, model="lm", min_k=min_k),
                                   begg_test(yi, vi, min_k=min_k)]
    if result.measure in BINARY and columns is not None and all(c in columns for c in COUNT_COLUMNS):
        used = np.array([s.included and s.yi is not None and s.se is not None
                         for s in result.studies])
        counts = [np.asarray(columns[c], dtype=np.float64)[used] for c in COUNT_COLUMNS]
        tests += [peters_test_from_counts(*counts, min_k=min_k), harbord_test(*counts, min_k=min_k)]
    run = [t for t in tests if t.pvalue is not None]
    flagged = [t for t in run if t.pvalue < ASYMMETRY_P]  # type: ignore[operator]
    if not run:
        sentence = "No asymmetry test could be computed."
    elif not flagged:
        sentence = f"No test suggests funnel-plot asymmetry (all p ≥ {ASYMMETRY_P:g}, k = {k})."
    else:
        named = "; ".join(f"{TEST_NAMES[t.test]} p = {_p(t.pvalue)}" for t in flagged)  # type: ignore[arg-type]
        sentence = (f"Funnel-plot asymmetry suggested ({named}; k = {k}): small studies "
                    "may show different effects, from publication bias or other causes.")
    return SmallStudyEffects(k=k, min_k=min_k, skipped_reason=None, tests=tuple(tests),
                             sentence=sentence)


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
