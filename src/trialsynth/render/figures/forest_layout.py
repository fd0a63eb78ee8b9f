"""The layout vocabulary of a forest plot, shared by :mod:`.forest` (which lays the rows and
columns out) and :mod:`.forest_draw` (which draws them): the labels a plot carries, a column,
a row, and the sizes and colours of the RevMan layout. The labels (:class:`ForestLabels`) are
the report model's (:mod:`trialsynth.report.figure_jobs`), re-exported here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trialsynth.registry.measures import LOG_SCALE
from trialsynth.report.figure_jobs import ForestLabels

RATIO = LOG_SCALE  # measures drawn on a log axis (trialsynth.registry)
SQUARE_COLOURS = {"dichotomous": "#1f4e9c", "continuous": "#2e7d32", "generic": "#b35806"}
ROW_H = 0.19  # inches per row: 8 pt text with RevMan's spacing
PLOT_W = 2.5  # inches of the plot
GAP = 0.14  # inches between columns
STUDY_MAX = 2.3  # widest study column (inches); longer names end in an ellipsis

__all__ = ["GAP", "PLOT_W", "RATIO", "ROW_H", "SQUARE_COLOURS", "STUDY_MAX", "Column", "ForestLabels", "Row"]


@dataclass(slots=True)
class Column:
    """One column of the table left of the plot."""

    key: str
    group: str
    header: str
    align: str = "right"
    width: float = 0.0
    x: float = 0.0


@dataclass(slots=True)
class Row:
    """One row of the plot (a study, a subtotal, a note, ...)."""

    kind: str  # group, study, summary, events, pi, note, gap
    label: str = ""
    cells: dict[str, str] = field(default_factory=dict)
    bold: bool = False
    mark: tuple[Any, ...] | None = None
    rob: Mapping[str, str | None] | None = None
    height: float = 1.0
    y: float = 0.0
    style: str = "normal"
