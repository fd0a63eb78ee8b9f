"""What the report model hands the figure renderers: figure *jobs* (plain tuples of data, built
here while the report is computed) and the labels a forest plot carries; and the one thing the
report needs from whoever draws them, a :class:`FigureSink`.

The report stage draws nothing: :func:`trialsynth.report.build.build_report` adds each job to the
sink it is given as soon as the job is known, so that a sink that draws in worker processes
(:class:`trialsynth.render.figure_pool.FigurePool`, wired in by :mod:`trialsynth.pipeline`) draws
while the rest of the report is computed. The jobs, in the order added, are kept on the report
(``Report.figure_jobs``) so that the drawn figures can be matched to their paths.

Jobs (the first three items are always kind, key, output path):

* ``("forest", id, path, result, rows, labels, rob)`` (labels: :class:`ForestLabels`)
* ``("gap", path, path, i, map)``
* ``("funnel", id, path, result, labels)`` (labels: :class:`ForestLabels` or None), optionally
  with two more items: the (yi, SE) trim-and-fill fills and its estimate
* ``("rob_summary", key, path, rob, weights, title)`` (rob: study -> {domain: judgement};
  weights: study -> weight, or None for shares of studies)
* ``("rob_traffic", key, path, rob, title)``
* ``("tsa", id, path, tsa, title)`` (tsa: :class:`trialsynth.assess.sequential.TsaSummary`)
* ``("network", key, path, figure kind, NmaResult, title, reference, small values,
  prediction interval)``
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

FigureJob = tuple[Any, ...]
Drawn = tuple[str, "bytes | None"]  # one figure: (SVG document, PNG bytes)


class FigureSink(Protocol):
    """Where the report puts its figure jobs: ``add`` each job as soon as it is known;
    ``collect`` returns every figure, (SVG document, PNG bytes), in the order added."""

    def add(self, job: FigureJob) -> None: ...

    def collect(self) -> list[Drawn]: ...


class JobLog:
    """A sink that keeps the jobs, in order, and passes each on to ``sink``."""

    def __init__(self, sink: FigureSink) -> None:
        self.sink = sink
        self.jobs: list[FigureJob] = []

    def add(self, job: FigureJob) -> None:
        self.jobs.append(job)
        self.sink.add(job)

    def collect(self) -> list[Drawn]:
        return self.sink.collect()


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
