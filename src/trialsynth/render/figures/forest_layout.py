"""The layout vocabulary of a forest plot, shared by :mod:`.forest` (which lays the rows and
columns out) and :mod:`.forest_draw` (which draws them): the labels a plot carries, a column,
a row, and the sizes and colours of the RevMan layout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trialsynth.registry.measures import LOG_SCALE

RATIO = LOG_SCALE  # measures drawn on a log axis (trialsynth.registry)
SQUARE_COLOURS = {"dichotomous": "#1f4e9c", "continuous": "#2e7d32", "generic": "#b35806"}
ROW_H = 0.19  # inches per row: 8 pt text with RevMan's spacing
PLOT_W = 2.5  # inches of the plot
GAP = 0.14  # inches between columns
STUDY_MAX = 2.3  # widest study column (inches); longer names end in an ellipsis


@dataclass(frozen=True, slots=True)
class ForestLabels:
    """What a forest plot says beyond the numbers.

    ``direction_of_benefit`` (``"lower"``/``"lower_is_better"`` or ``"higher"``/
    ``"higher_is_better"``; the outcome's, from the review parameters) puts "Favours
    <experimental>" on the side where the intervention is better; ``None`` is RevMan's default
    (experimental on the left). ``favours_left``/``favours_right`` override the labels.
    ``analysis_number`` ("1.10") numbers subgroups as RevMan does ("1.10.1 ..."). ``xlim`` is on
    the display scale (ratios as ratios). ``show_total=False`` draws subgroups only.
    ``prediction_interval=False`` leaves the prediction interval out (the review's setting).
    ``pooled=False`` draws the studies only, without weights, subtotals or total, as RevMan
    draws an analysis whose totals are switched off (rm5 ``TOTALS="NO"``).
    """

    experimental: str = "Experimental"
    control: str = "Control"
    direction_of_benefit: str | None = None
    favours_left: str | None = None
    favours_right: str | None = None
    measure_label: str | None = None
    analysis_number: str | None = None
    title: str | None = None
    show_total: bool = True
    xlim: tuple[float, float] | None = None
    decimals: int = 2
    prediction_interval: bool = True
    pooled: bool = True

    def favours(self) -> tuple[str, str]:
        """The (left, right) "Favours ..." labels."""
        direction = (self.direction_of_benefit or "lower").lower().replace("_is_better", "")
        if direction not in ("lower", "higher"):
            raise ValueError(f"direction_of_benefit must be lower or higher, not {direction!r}")
        exp, ctl = f"Favours {self.experimental}", f"Favours {self.control}"
        left, right = (exp, ctl) if direction == "lower" else (ctl, exp)
        return self.favours_left or left, self.favours_right or right


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
