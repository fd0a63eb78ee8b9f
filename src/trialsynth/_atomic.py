"""Replace a folder atomically: write every file into a new sibling folder, then swap it in.

Used by ``trialsynth run`` (the results folder) and ``trialsynth import`` (a review folder). Each
caller decides first whether ``out_dir`` may be replaced; this module only makes the swap safe:
a failure at any point leaves the old folder (or no folder) exactly as it was, never a half-
written one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path


def _write_files(folder: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        with path.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def replace_folder(out_dir: Path, files: Mapping[str, str | bytes], *,
                   keep_foreign: bool = False) -> None:
    """Make ``out_dir`` hold exactly ``files`` (relative path -> text or bytes).

    ``keep_foreign``: entries of an existing ``out_dir`` that are not among ``files`` are carried
    over (a reviewer's README or notes in a review folder); otherwise they go with the old folder.
    """
    out_dir = Path(out_dir)
    parent = out_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    tmp = parent / f".{out_dir.name}.tmp-{tag}"
    old = parent / f".{out_dir.name}.old-{tag}"
    tmp.mkdir()  # (not mkdtemp: its mode 0700 would ignore the umask)
    try:
        _write_files(tmp, files)
        if out_dir.is_dir():
            if keep_foreign:
                top = {Path(rel).parts[0] for rel in files}
                for entry in out_dir.iterdir():
                    if entry.name not in top:
                        copy = shutil.copytree if entry.is_dir() and not entry.is_symlink() \
                            else shutil.copy2
                        copy(entry, tmp / entry.name)
            os.replace(out_dir, old)
            try:
                os.replace(tmp, out_dir)
            except BaseException:
                os.replace(old, out_dir)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
