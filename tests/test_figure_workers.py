"""Figure workers are forked processes; they must never render through a font object opened by
the parent, whose file offset they would share with it and with each other."""
from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")

from trialsynth.render.figures import export  # noqa: E402


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is what is tested; no fork, no shared offsets")
def test_a_forked_child_drops_the_layouts_that_hold_the_parents_font_objects() -> None:
    export.warm_glyphs()
    renderer = export.agg_renderer_class()(8, 8, export.REPORT_PNG_DPI)
    from trialsynth.render.figures._common import SIZE, fontprops

    renderer._layout("Favours placebo", fontprops(SIZE, "normal"))
    assert export._LAYOUTS  # the parent has layouts (and their font objects) cached
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how many inherited layouts it still holds
        os.close(read)
        os.write(write, str(len(export._LAYOUTS)).encode())
        os._exit(0)
    os.close(write)
    held = int(os.read(read, 32).decode())
    os.close(read)
    os.waitpid(pid, 0)
    assert held == 0
    assert export._LAYOUTS  # the parent keeps its own


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the pool forks its workers")
def test_the_pool_returns_every_figure_in_order_whoever_draws_it(monkeypatch) -> None:
    """One worker draws from the front while collect() draws the jobs no worker has started
    from the back: the figures come back in the order added, each as draw_one draws it, and
    the objects frozen for the workers are given back to the garbage collector."""
    import gc

    from trialsynth.render import figure_pool as fp

    monkeypatch.setattr(fp, "workers", lambda: 1)
    judged = ("low", "some_concerns", "high")
    jobs = [("rob_traffic", f"k{i}", f"figures/rob_{i}.svg",
             {f"Study {i} {j}": {"D1": level, "Overall": level} for j, level in enumerate(judged)},
             f"Traffic light {i}") for i in range(fp.PARALLEL_MIN + 6)]
    before = gc.get_freeze_count()
    pool = fp.FigurePool(len(jobs))
    assert pool.pool is not None
    for job in jobs:
        pool.add(job)
    drawn = pool.collect()
    assert drawn == [fp.draw_one(job) for job in jobs]
    assert all(f'Study {i} 0' in svg for i, (svg, _) in enumerate(drawn))
    assert gc.get_freeze_count() == before
