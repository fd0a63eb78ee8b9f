"""The garbage collector around a run (trialsynth._heap): frozen while a run allocates, given back
after it, and left frozen only where the process ends (the command line's last step)."""

from __future__ import annotations

import gc
import subprocess
import sys

from typer.testing import CliRunner

from trialsynth._heap import YOUNG, frozen
from trialsynth.cli import app


def test_frozen_gives_the_heap_back() -> None:
    before = gc.get_freeze_count(), gc.get_threshold()
    with frozen():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= YOUNG
    assert (gc.get_freeze_count(), gc.get_threshold()) == before


def test_a_command_called_in_process_leaves_the_heap_as_it_was() -> None:
    """A test runner's (or a program's) call with its own arguments: the process goes on, so
    nothing stays frozen."""
    before = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["schema", "results"])
    assert result.exit_code == 0
    assert gc.get_freeze_count() == before


def test_the_command_line_ends_with_the_heap_frozen() -> None:
    """The process's own command line: its last step freezes the heap (the collector's passes
    at interpreter shutdown then walk nothing), after the command's output is out."""
    code = ("import gc, sys\n"
            "from trialsynth.cli import app\n"
            "sys.argv = ['trialsynth', 'schema', 'results']\n"
            "try:\n"
            "    app()\n"
            "except SystemExit as exc:\n"
            "    print('EXIT', exc.code, gc.get_freeze_count() > 0, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "EXIT 0 True" in proc.stderr, proc.stderr
    assert proc.stdout.lstrip().startswith("{")  # the schema was printed in full before
