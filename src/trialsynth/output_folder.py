"""The output folder of ``trialsynth run`` (and of ``trialsynth diff --out``): written atomically,
marked as trialsynth's, and never written over a foreign folder or into one of the inputs.

Below the runner and the diff, which both write such a folder; imports no analysis code.
"""

from __future__ import annotations

import os
from pathlib import Path

from trialsynth import __version__
from trialsynth._atomic import refuse_overlap, replace_folder
from trialsynth.errors import TrialsynthError

MARKER = ".trialsynth-output"  # marks a folder that run_review may replace


def check_target(source: Path, out_dir: Path) -> None:
    """Refuse ``out_dir`` when it overlaps ``source``, is not a folder, or is a non-empty folder
    that is not an earlier trialsynth output."""
    refuse_overlap([source], [out_dir])
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise TrialsynthError(f"{out_dir}: exists and is not a folder; not replacing it")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise TrialsynthError(f"{out_dir}: folder is not empty and is not an earlier trialsynth "
                              f"output; not replacing it")


def write_atomically(out_dir: Path, files: dict[str, str | bytes]) -> None:
    """Write into a temp folder next to ``out_dir``, then swap it into place."""
    check_target(Path(os.devnull), out_dir)
    replace_folder(out_dir, {**files, MARKER: f"written by trialsynth {__version__}\n"})


def write_output(out_dir: Path, files: dict[str, str | bytes], *,
                 inputs: tuple[Path, ...] = ()) -> None:
    """Write ``files`` as the trialsynth output folder ``out_dir``, atomically, under the rules
    of ``run`` (never inside or over one of ``inputs``, never over a foreign folder)."""
    for source in inputs:
        check_target(Path(source), Path(out_dir))
    write_atomically(Path(out_dir), files)
