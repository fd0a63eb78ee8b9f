"""Run ``trialsynth`` in a child process, optionally killed (SIGKILL) at a chosen point.

The fault points patch the child's own modules before the command starts; nothing in trialsynth
knows about them:

* ``while-writing``: after half of the output files are written into the temporary folder;
* ``before-swap``: when every file is written, before the new folder takes the old one's place;
* ``after-swap``: right after the atomic exchange, before the old folder is removed;
* ``between-renames``: on a system without the atomic exchange (it is made to fail), after the
  old folder was renamed aside and before the new one is renamed into place;
* ``after-lock``: as soon as ``run`` holds the output lock, before any work;
* ``without:<module>``: not a kill, a child in which ``<module>`` cannot be imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import trialsynth

SRC = Path(trialsynth.__file__).resolve().parents[1]

_CHILD = r'''
import os, signal, sys
point, args = sys.argv[1], sys.argv[2:]
import trialsynth._atomic as A

def die(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "while-writing":
    real_write = A._write_files
    def half(folder, files):
        items = list(files.items())
        real_write(folder, dict(items[: max(1, len(items) // 2)]))
        die()
    A._write_files = half
elif point == "before-swap":
    A.exchange = die
elif point == "after-swap":
    real_exchange = A.exchange
    def swap_then_die(a, b):
        assert real_exchange(a, b)
        die()
    A.exchange = swap_then_die
elif point == "between-renames":
    A.exchange = lambda a, b: False
    real_replace = os.replace
    def replace(src, dst):
        if ".tmp-" in str(src) and ".old-" not in str(dst):
            die()
        return real_replace(src, dst)
    os.replace = replace
elif point == "after-lock":
    import trialsynth.runner as R
    R._run = die
elif point.startswith("without:"):  # a dependency this installation lacks
    sys.modules[point.removeprefix("without:")] = None
elif point != "none":
    raise SystemExit(f"unknown fault point {point}")
from trialsynth.cli import app
app(args, prog_name="trialsynth")
'''


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [out.get("PYTHONPATH")])])
    out.update(COLUMNS="2000", NO_COLOR="1", TRIALSYNTH_THREADS="1")
    out.pop("TRIALSYNTH_DEBUG", None)
    return out


def trialsynth_cli(*args: str | Path, fault: str = "none", timeout: float = 300,
                   preexec: Callable[[], None] | None = None,
                   cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``trialsynth ARGS`` in a child process (SIGKILLed at ``fault``); a hang fails the test
    after ``timeout`` seconds instead of blocking the suite."""
    return subprocess.run([sys.executable, "-c", _CHILD, fault, *map(str, args)], env=env(),
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec,
                          cwd=cwd)
