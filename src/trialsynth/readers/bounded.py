"""Reading files from outside, bounded in bytes and in time.

Every reader opens its input through :func:`open_regular` (or :func:`read_bounded`), which takes
regular files only: a FIFO would block the reader until some other process writes to it, a
device such as ``/dev/zero`` or ``/dev/urandom`` never ends, and a socket cannot be read as a file
at all. The check is made on what the path resolves to (a symbolic link to a regular file is
that file; a link to ``/dev/zero`` is refused), before opening (so no device is ever opened) and
again on the open descriptor (so a path swapped in between is caught). FIFOs are opened with
``O_NONBLOCK``, which returns at once instead of waiting for a writer. A regular file is then
read up to its limit plus one byte, so a file that grows while being read is caught too.

Errors are :class:`~trialsynth.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from trialsynth.errors import DataError

_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
          | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def refuse_special(mode: int, src: str, kind: str = "a file") -> None:
    """DataError unless ``mode`` is a regular file's."""
    if stat.S_ISREG(mode):
        return
    what = file_kind(mode)
    if stat.S_ISDIR(mode):
        raise DataError(f"is a folder, not {kind}", file=src)
    raise DataError(f"refused: is {what}, not {kind} (reading it could block or never end)",
                    file=src)


def _os_failure(exc: OSError, src: str) -> DataError:
    if isinstance(exc, FileNotFoundError):
        return DataError("file not found", file=src)
    if isinstance(exc, PermissionError):
        return DataError("permission denied", file=src)
    if isinstance(exc, NotADirectoryError):
        return DataError("not found (a part of the path is a file, not a folder)", file=src)
    return DataError(f"cannot read ({exc.strerror or exc})", file=src)


def open_regular(path: str | Path, src: str | None = None, *, kind: str = "a file",
                 limit: int | None = None) -> BinaryIO:
    """Open a regular file for reading (module docstring); with ``limit``, refuse a larger one
    before reading anything."""
    src = str(path) if src is None else src
    try:
        refuse_special(os.stat(path).st_mode, src, kind)  # follows links: checks the target
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        raise _os_failure(exc, src) from None
    try:
        st = os.fstat(fd)
        refuse_special(st.st_mode, src, kind)
        if limit is not None and st.st_size > limit:
            raise DataError(f"file is larger than the limit of {limit} bytes", file=src)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | Path, src: str | None = None, limit: int = 200 * 1024 * 1024, *,
                 kind: str = "a file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; DataError otherwise. The size is
    checked before anything is read (an oversized file costs nothing) and again on the bytes
    read."""
    src = str(path) if src is None else src
    with open_regular(path, src, kind=kind, limit=limit) as fh:
        try:
            raw = fh.read(limit + 1)
        except OSError as exc:
            raise _os_failure(exc, src) from None
    if len(raw) > limit:
        raise DataError(f"file is larger than the limit of {limit} bytes", file=src)
    return raw


def read_head(path: str | Path, size: int, src: str | None = None, *, kind: str = "a file"
              ) -> bytes:
    """The first ``size`` bytes of a regular file (for recognising what it is)."""
    src = str(path) if src is None else src
    with open_regular(path, src, kind=kind) as fh:
        try:
            return fh.read(size)
        except OSError as exc:
            raise _os_failure(exc, src) from None


def special_files(root: str | Path, *, max_depth: int = 8, max_entries: int = 1_000_000
                  ) -> list[Path]:
    """Paths under the folder ``root`` (links followed to what they name, folders entered
    only when real, to ``max_depth`` levels) that are neither regular files nor folders: FIFOs,
    devices, sockets, and links to them. A reader that walks the folder would block or never
    end on these."""
    out: list[Path] = []
    seen = 0
    stack = [(Path(root), 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > max_entries:
                return out
            try:
                mode = os.stat(entry.path).st_mode  # the target of a link
            except OSError:
                continue  # a dangling link: nothing to read
            if stat.S_ISDIR(mode):
                if not entry.is_symlink() and depth + 1 < max_depth:
                    stack.append((Path(entry.path), depth + 1))
            elif not stat.S_ISREG(mode):
                out.append(Path(entry.path))
    return sorted(out)
