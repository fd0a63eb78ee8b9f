"""The two sides of a diff, read from wherever they are (I/O edge of :mod:`trialsynth.diff`).

A side is either a finished run — a ``results.json`` file, or an output folder of
``trialsynth run`` (which holds one) — or any review source trialsynth reads (review folder,
RevMan 5 file, RevMan Web package or data rows, RevMan 5 CSV), which is run in memory first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trialsynth.errors import DataError
from trialsynth.readers.bounded import read_bounded

MAX_RESULTS_BYTES = 1 << 30  # a results.json of 1 GiB is far beyond any review's
RESULTS = "results.json"
MARKER = ".trialsynth-output"  # = trialsynth.output_folder.MARKER (tested)


def _results_file(path: Path) -> Path | None:
    """The results.json a path stands for, or None when it is a review source."""
    if path.is_dir() and (path / MARKER).is_file() and (path / RESULTS).is_file():
        return path / RESULTS
    if path.is_file() and path.suffix.lower() == ".json":
        return path
    return None


def read_results(path: Path) -> dict[str, Any]:
    """A ``results.json`` as written by ``trialsynth run``; DataError naming the file (and line)
    when it is unreadable or not one."""
    src = str(path)
    try:  # a regular file of bounded size (no FIFO, no device: trialsynth.readers.bounded)
        text = read_bounded(path, src, MAX_RESULTS_BYTES, kind="a results.json").decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("not UTF-8 text; not a results.json", file=src) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg}, column {exc.colno})", file=src,
                        row=exc.lineno) from None
    except RecursionError:
        raise DataError("JSON nested too deeply; not a results.json", file=src) from None
    generator = doc.get("generator") if isinstance(doc, dict) else None
    if not (isinstance(generator, str) and generator.startswith("trialsynth")) \
            or not isinstance(doc.get("analyses"), list):
        raise DataError("not a results.json written by trialsynth run (no 'generator' and "
                        "'analyses')", file=src)
    return doc


def load_run(path: Path, *, quiet: bool = True) -> dict[str, Any]:
    """The content of ``results.json`` for ``path``: read when it is a finished run, else made
    by running the review in memory (nothing is written)."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", file=str(path))
    found = _results_file(path)
    if found is not None:
        return read_results(found)
    from trialsynth._json import json_safe
    from trialsynth.pipeline import review_results

    try:
        return json_safe(review_results(path, quiet=quiet)[0])
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror or exc})", file=str(path)) from None
