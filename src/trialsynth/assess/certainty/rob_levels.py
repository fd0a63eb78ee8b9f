"""A study's risk-of-bias level for GRADE from the judgements a review folder holds: the
judgements of one study's result (:func:`judged_for`) and the level they give
(:func:`study_rob_level`). Used by the report and by the network meta-analysis alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trialsynth.errors import DataError
from trialsynth.review.rob import grade_rob_level


def rob_level(judgement: str) -> str | None:
    """The GRADE level (low / some_concerns / high) of one judgement as written; None when it
    is not a risk-of-bias judgement."""
    try:
        return grade_rob_level(judgement)
    except DataError:
        return None


def study_rob_level(judged: Mapping[str, str]) -> tuple[str | None, bool]:
    """(GRADE level, partial): the overall judgement when the file has it, else the worst domain
    judgement present (a lower bound, ``partial`` True); None when nothing was judged."""
    if "overall" in judged and (lev := rob_level(judged["overall"])) is not None:
        return lev, False
    order = ("low", "some_concerns", "high")
    levels = [lv for d, j in judged.items() if d != "overall" and (lv := rob_level(j)) is not None]
    return (max(levels, key=order.index), True) if levels else (None, False)


def judged_for(rob: Mapping[tuple[str, str | None], Any], study: str, analysis_id: str
               ) -> dict[str, str]:
    """{domain: judgement, "overall": ...} of a study's result (else its study-level assessment)
    from :meth:`trialsynth.readers.folder.ReviewFolder.rob_assessments`; empty when not assessed."""
    found = rob.get((study, analysis_id)) or rob.get((study, None))
    if found is None:
        return {}
    out: dict[str, str] = {}
    for key, j in found.assessment.domains.items():
        final = getattr(j, "final", None) or getattr(j, "judgement", None)
        if final:
            out[str(key)] = str(final)
    if found.overall:
        out["overall"] = str(found.overall)
    return out
