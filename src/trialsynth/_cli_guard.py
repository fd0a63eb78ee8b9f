"""The command line's last line of defence: every failure ends as one line and exit status 2.

:class:`GuardedGroup` is the click group behind ``trialsynth``. It runs the command in click's
non-standalone mode and turns what comes out of it into one ``error:`` line on stderr:

* a usage error (unknown option, bad value, missing argument): click's message and the command's
  ``--help`` hint, on one line (not Rich's framed panel);
* a :class:`~trialsynth.errors.TrialsynthError` (bad input, refused output): its message;
* an :class:`OSError` (permissions, full disk, file-size limit, a file where a folder should be):
  the path and the cause in words (:func:`trialsynth._console.os_error_message`);
* a missing dependency (:class:`ImportError`): which package, and how to install it;
* anything else: named as an internal error, with a hint to rerun with ``TRIALSYNTH_DEBUG=1``,
  which shows the traceback instead.

trialsynth's own warnings raised while a command runs (an estimator that did not converge, a
method known to behave badly) are printed as ``warning:`` lines; other warnings (numpy's
floating-point notes, libraries' deprecations) are internal and not shown.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import typer.core

from trialsynth._console import console, os_error_message, print_error, print_warning
from trialsynth._heap import ending
from trialsynth._threads import one_blas_thread
from trialsynth.errors import ConvergenceWarning, MethodWarning, TrialsynthError

EXIT_FAILURE = 2
try:  # Typer >= 0.26 carries its own copy of click (typer._click) and does not install click
    import click
except ImportError:
    click = None  # type: ignore[assignment]
_CLICKS = tuple({id(m): m for m in (click, getattr(typer.core, "_click", None))
                 if m is not None}.values())
_CLICK_ERROR = tuple(m.exceptions.ClickException for m in _CLICKS)
_NO_ARGS = tuple(e for m in _CLICKS if (e := getattr(m.exceptions, "NoArgsIsHelpError", None)))
_ABORT = tuple({e for m in (*_CLICKS, typer) if (e := getattr(getattr(m, "exceptions", m), "Abort",
                                                                 None))})


def _usage_line(exc: Any) -> str:
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"{exc.format_message()}{hint}"


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    if issubclass(category, (ConvergenceWarning, MethodWarning)):  # trialsynth's own, for users
        print_warning(message)


class GuardedGroup(typer.core.TyperGroup):
    """A Typer group whose failures are one line each (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the command list shows each command's first paragraph; Typer's Rich help keeps its
        # docstring's line breaks there, which breaks the list's lines at random places
        for command in self.commands.values():
            if command.short_help is None and command.help:
                first = command.help.strip().split("\n\n", 1)[0]
                command.short_help = " ".join(first.split())

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if standalone_mode and args is None:  # the command line of this process: its threads
            one_blas_thread()  # (trialsynth._threads)
        code = self._guarded(args, prog_name, complete_var, **extra)
        if standalone_mode:
            if args is None:  # the command line of this process (not a test runner's call):
                ending()  # it ends here, its outputs written (trialsynth._heap)
            sys.exit(code)
        return code

    def _guarded(self, args: Sequence[str] | None, prog_name: str | None,
                 complete_var: str | None, **extra: Any) -> int:
        debug = bool(os.environ.get("TRIALSYNTH_DEBUG"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow notes
            warnings.showwarning = _show_warning
            try:
                rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                  standalone_mode=False, **extra)
            except _NO_ARGS as exc:
                console(stderr=True).print(exc.format_message(), soft_wrap=True)
                return exc.exit_code
            except _CLICK_ERROR as exc:
                print_error(_usage_line(exc))
                return exc.exit_code
            except _ABORT:
                print_error("aborted")
                return 1
            except TrialsynthError as exc:
                print_error(exc)
                return EXIT_FAILURE
            except OSError as exc:
                if debug:
                    raise
                print_error(os_error_message(exc))
                return EXIT_FAILURE
            except ImportError as exc:  # a dependency missing from this installation
                if debug:
                    raise
                name = (getattr(exc, "name", None) or str(exc)).split(".")[0]
                print_error(f"the Python package {name!r} is needed here but cannot be imported "
                            f"({exc}); install it (pip install {name}) or reinstall trialsynth "
                            "with its dependencies")
                return EXIT_FAILURE
            except MemoryError:
                print_error("out of memory")
                return EXIT_FAILURE
            except RecursionError:
                print_error("the input is nested too deeply to process")
                return EXIT_FAILURE
            except Exception as exc:  # the last resort: never a traceback unless asked for
                if debug:
                    raise
                print_error(f"internal error ({type(exc).__name__}: {exc}); this is a bug in "
                            "trialsynth: please report it with the input (TRIALSYNTH_DEBUG=1 "
                            "shows the traceback)")
                return EXIT_FAILURE
        return rv if isinstance(rv, int) else 0
