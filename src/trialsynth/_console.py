"""Terminal output that never interprets user text, and failures as one line.

Study names, cell values, file names and paths come from outside: printed through a Rich console
with markup on, ``[bold red]…`` would be rendered as style and ``[n/a]`` would vanish. Every
console of the command line is made here with markup off; the few styled words are
:class:`rich.text.Text` spans, never markup strings.

A failure is one line on stderr, ``error: <what>``, without a traceback: the message names the
file (and row, field) where it can; an operating-system error names the path and says in words
what went wrong (disk full, file-size limit, permission, read-only file system, …).
"""

from __future__ import annotations

import os
from typing import IO

from rich.console import Console
from rich.text import Text

from trialsynth.errors import os_error_words


def console(*, stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console that prints user text literally: no markup, no highlighting, no emoji codes."""
    return Console(stderr=stderr, file=file, markup=False, highlight=False, emoji=False)


def one_line(text: object) -> str:
    """``text`` on one line (line breaks and other control characters as spaces)."""
    s = str(text)
    return "".join(" " if (ord(c) < 32 or ord(c) == 127) else c for c in s).strip()


def print_error(message: object, *, out: Console | None = None) -> None:
    """``error: <message>`` on stderr, one line whatever the terminal width."""
    out = out or console(stderr=True)
    out.print(Text.assemble(("error:", "bold red"), " ", one_line(message)), soft_wrap=True)


def print_warning(message: object, *, out: Console | None = None) -> None:
    """``warning: <message>`` on stderr, one line."""
    out = out or console(stderr=True)
    out.print(Text.assemble(("warning:", "yellow"), " ", one_line(message)), soft_wrap=True)


def os_error_message(exc: OSError, action: str | None = None) -> str:
    """``<path>: cannot <action>: <what went wrong>`` for an :class:`OSError`."""
    where = exc.filename
    if exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    head = f"{os.fsdecode(where) if isinstance(where, bytes) else where}: " if where else ""
    return f"{head}{'cannot ' + action + ': ' if action else ''}{os_error_words(exc)}"
