"""What changed between two versions of a review (``trialsynth diff``; living reviews).

:func:`diff_runs` compares two runs (the content of their ``results.json``): which analyses
changed, were added or were removed, and which conclusions changed — certainty, statement, the
CI crossing no effect or the MID, the trial sequential analysis, the size of the next trial.

Layers: :mod:`.summary` reads ``results.json`` into frozen per-analysis summaries (the only
reader of that layout), :mod:`.kernel` matches and compares them, :mod:`.conclusions` names
conclusion changes, :mod:`.load` reads the two sides from files, :mod:`.render` writes the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trialsynth.diff.conclusions import Conclusion, conclusion_changes
from trialsynth.diff.kernel import AnalysisChange, ReviewDiff, diff_summaries
from trialsynth.diff.load import load_run, read_results
from trialsynth.diff.summary import AnalysisSummary, ReviewSummary, summarise

__all__ = ["AnalysisChange", "AnalysisSummary", "Conclusion", "ReviewDiff", "ReviewSummary",
           "conclusion_changes", "diff_paths", "diff_runs", "diff_summaries", "load_run",
           "read_results", "summarise"]


def _label(results: Mapping[str, Any], given: str | None) -> str:
    if given:
        return given
    source = results.get("source") or {}
    return str(source.get("file") or "results.json")


def diff_runs(old: Mapping[str, Any], new: Mapping[str, Any], *, old_label: str | None = None,
              new_label: str | None = None) -> dict[str, Any]:
    """The ``trialsynth diff --json`` object for two runs' ``results.json`` contents."""
    return diff_summaries(summarise(old, _label(old, old_label)),
                          summarise(new, _label(new, new_label))).to_dict()


def diff_paths(old: Path, new: Path, *, quiet: bool = True) -> dict[str, Any]:
    """:func:`diff_runs` for two paths (results.json, output folders or review sources)."""
    first = load_run(old, quiet=quiet)
    same = Path(old).resolve() == Path(new).resolve()  # a review against itself: run it once
    return diff_runs(first, first if same else load_run(new, quiet=quiet),
                     old_label=str(old), new_label=str(new))
