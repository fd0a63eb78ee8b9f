"""The report's figures drawn while the report is still being computed: the render stage's
:class:`~trialsynth.report.figure_jobs.FigureSink`.

Each figure job (plain data, :mod:`trialsynth.report.figure_jobs`) goes to a forked worker
process as soon as the report model adds it (drawing is CPU-bound and holds the GIL), so the
workers draw forest plots while the main process rates certainty and runs the sensitivity,
Bayesian and sequential analyses. With few figures, one CPU, or no ``fork``, everything is drawn
in this process at :meth:`FigurePool.collect`. The workers are forked after :func:`preload`, so
they share the loaded figure modules; the text layouts that hold the parent's font objects are
dropped in each child (``os.register_at_fork`` in :mod:`trialsynth.render.figures.export`).
:mod:`trialsynth.pipeline` creates the pool and hands it to the report builder.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, cast

import pandas as pd

from trialsynth._heap import freeze
from trialsynth.report.figure_jobs import Drawn, FigureJob

PARALLEL_MIN = 12  # fewer forest plots are drawn in this process


def draw_one(job: FigureJob) -> Drawn:
    """One figure (a job of :mod:`trialsynth.report.figure_jobs`), drawn once and rendered
    twice: (SVG document, PNG bytes)."""
    from trialsynth.render.figures import export
    from trialsynth.render.figures.forest import forest_plot
    from trialsynth.render.figures.funnel import funnel_plot
    from trialsynth.render.figures.gapmap import gap_map
    from trialsynth.render.figures.rob import rob_summary_plot, rob_traffic_light

    kind = job[0]
    if kind == "gap":
        _, _, _, i, m = job
        fig = gap_map(pd.DataFrame(m["cells"]), outcomes=m["outcomes"], windows=m["windows"],
                      interventions=m["interventions"], outcome_windows=m["outcome_windows"],
                      title=f"Evidence-gap map {i}: {m['title']}")
    elif kind == "funnel":
        _, _, _, result, labels, *fill = job
        fig = funnel_plot(result, when_too_few="note",
                          title=None if labels is None or labels.analysis_number is None
                          else f"Analysis {labels.analysis_number}: contour-enhanced funnel plot",
                          measure_label=None if labels is None else labels.measure_label,
                          filled=fill[0] if fill else (),
                          filled_estimate=fill[1] if len(fill) > 1 else None)
    elif kind == "tsa":
        from trialsynth.render.figures.tsa import plot_tsa

        _, _, _, tsa, title = job
        fig = plot_tsa(tsa, title=title)
    elif kind == "rob_summary":
        _, _, _, rob, weights, title = job
        fig = rob_summary_plot(rob, weights=weights, title=title)
    elif kind == "rob_traffic":
        _, _, _, rob, title = job
        fig = rob_traffic_light(rob, title=title)
    elif kind == "network":
        fig = network_figure(*job[3:])
    else:
        _, _, _, result, rows, labels, rob = job
        try:
            fig = forest_plot(result, rows, labels=labels, rob=rob)
        except ValueError:  # arm data or RoB that the plot cannot use: draw without them
            fig = forest_plot(result, None, labels=labels)
    return export.svg_document(fig), export.png_bytes(fig, dpi=export.REPORT_PNG_DPI)


def network_figure(kind: str, res: Any, title: str, reference: str, small_values: str,
                   prediction_interval: bool = True) -> Any:
    """One figure of the network section (``res``: a :class:`trialsynth.nma.NmaResult`)."""
    from trialsynth.render.figures import network as nf

    if kind == "graph":
        return nf.network_graph(res, title=f"Network: {title}")
    if kind == "forest":
        better = ("favours the treatment", f"favours {reference}")
        if small_values != "desirable":
            better = better[::-1]
        return nf.network_forest(res, title=f"Network estimates against {reference}: {title}",
                                 favours=better, prediction_interval=prediction_interval)
    if kind == "league":
        return nf.league_figure(res, title=f"League table: {title}")
    return nf.inconsistency_plot(res, title=f"Inconsistency: {title}")


def workers() -> int:
    """How many figure workers: one fewer than the CPUs this process may use (this process is
    the other one: it computes the report, then draws the figures no worker has started, see
    :meth:`FigurePool.collect`), at most 4."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cpus - 1, 4)


def preload() -> None:
    """What every figure needs, loaded once here rather than in each forked worker: the figure
    modules, and the modules of the objects the jobs carry (network results, TSA summaries),
    which a worker would otherwise import to unpickle its first such job (the report loads them
    anyway)."""
    import PIL.PngImagePlugin  # noqa: F401
    from matplotlib.backends import backend_agg, backend_mixed, backend_svg  # noqa: F401

    import trialsynth.assess.sequential  # noqa: F401
    import trialsynth.report.network  # noqa: F401
    from trialsynth.render.figures import (  # noqa: F401
        export,
        forest_draw,
        funnel,
        gapmap,
        network,
        rob,
        tsa,
    )

    export.svg_renderer_class()
    export.agg_renderer_class()
    export.warm_glyphs()


class FigurePool:
    """A :class:`~trialsynth.report.figure_jobs.FigureSink` that draws in forked workers when
    ``expected`` figures are many (at least :data:`PARALLEL_MIN`) and there are two CPUs and
    ``fork``; otherwise everything is drawn here at :meth:`collect`. Results come back in the
    order the jobs were added.

    The objects that exist when the workers are started (the loaded modules) are frozen out of
    the garbage collector's passes first (:func:`trialsynth._heap.freeze`): a full pass in a
    forked worker would write to every one of them and copy the parent's memory page by page.
    If nothing had frozen them before, they are given back when the pool is done."""

    def __init__(self, expected: int) -> None:
        self.jobs: list[FigureJob] = []
        self.futures: list[Any] = []
        self.pool: ProcessPoolExecutor | None = None
        self.frozen = False
        n = workers()
        if expected >= PARALLEL_MIN and n >= 1 and "fork" in mp.get_all_start_methods():
            preload()
            self.frozen = freeze()
            try:
                self.pool = ProcessPoolExecutor(n, mp_context=mp.get_context("fork"),
                                                initializer=gc.freeze)
            except OSError:
                self._release(wait=False)

    def add(self, job: FigureJob) -> None:
        self.jobs.append(job)
        if self.pool is not None:
            try:
                self.futures.append(self.pool.submit(draw_one, job))
            except (RuntimeError, BrokenProcessPool):  # the pool died: draw here at the end
                self.futures.append(None)

    def collect(self) -> list[Drawn]:
        """Every figure, (SVG document, PNG bytes), in the order added.

        The figures no worker has started are drawn here, from the last one back, one at a
        time, while the workers go on from the front, until the two meet: this process's CPU is
        used, and each text a worker has laid out is laid out again in as few other processes as
        possible (every process lays out each text it draws once; a second worker would be a
        third process doing so). A figure a worker could not deliver (the pool broke) is drawn
        here too."""
        if self.pool is None:
            return [draw_one(j) for j in self.jobs]
        out: list[Drawn | None] = [None] * len(self.jobs)
        try:
            start = len(self.jobs)  # jobs[start:] are drawn here
            while start and (self.futures[start - 1] is None or self.futures[start - 1].cancel()):
                start -= 1
                out[start] = draw_one(self.jobs[start])
            for i in range(start):
                try:
                    out[i] = self.futures[i].result()
                except BrokenProcessPool:
                    out[i] = draw_one(self.jobs[i])
        finally:
            self._release(wait=True)
        return cast(list[Drawn], out)  # every slot filled above

    def close(self) -> None:
        self._release(wait=False)

    def _release(self, *, wait: bool) -> None:
        """Shut the workers down and give the frozen objects back to the garbage collector."""
        if self.pool is not None:
            self.pool.shutdown(wait=wait, cancel_futures=True)
            self.pool = None
        if self.frozen:
            gc.unfreeze()
            self.frozen = False


def figure_files(files: dict[str, str | bytes], jobs: Sequence[FigureJob], drawn: Sequence[Drawn]
                 ) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Every drawn figure as SVG and PNG files (added to ``files``, by each job's path); returns
    the inline SVGs of the page: forest plots by analysis, every figure by path, and the gap maps."""
    from trialsynth.render.figures.export import svg_element

    svgs: dict[str, str] = {}
    by_path: dict[str, str] = {}
    gap_svgs: list[str] = []
    for (kind, aid, rel, *_), (doc, png) in zip(jobs, drawn, strict=True):
        element = by_path[rel] = svg_element(doc)
        if kind == "forest":
            svgs[aid] = element
        elif kind == "gap":
            gap_svgs.append(element)
        files[rel] = doc
        if png is not None:
            files[rel[:-4] + ".png"] = png
    return svgs, by_path, gap_svgs
