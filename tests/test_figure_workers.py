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
