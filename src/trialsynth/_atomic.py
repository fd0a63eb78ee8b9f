"""Outputs that are always complete: a lock per output, an atomic swap, and recovery after a kill.

Used by ``trialsynth run`` (the results folder), ``trialsynth import`` (a review folder) and
``trialsynth batch`` (the results table). Each caller decides first whether ``out_dir`` may be
replaced; this module makes the replacement safe:

* **Inputs are never outputs.** :func:`refuse_overlap` refuses an output that is an input, lies
  inside an input folder, or would hold an input (checked on resolved paths, so links count).
* **One writer per output.** :func:`output_lock` takes an exclusive ``flock`` on
  ``.<name>.lock`` beside the output for as long as the command runs; a second command on the
  same output fails at once with :class:`OutputBusy` naming the process that holds it (a lock
  dies with its process, so a killed run never blocks the next one). The lock file is removed
  when the lock is released.
* **Never half-written, never absent.** Every file is written and flushed to disk in a new
  sibling folder ``.<name>.tmp-<tag>``, which then takes the place of the old folder in one
  atomic step: Linux ``renameat2(RENAME_EXCHANGE)`` swaps the two names, so at every instant
  ``out_dir`` is the old folder or the new one. Where the exchange is not available the old
  folder is first renamed to ``.<name>.old-<tag>`` and the new one renamed into place.
* **Kills are recovered.** A process killed half-way (SIGKILL, power loss) can leave
  ``.<name>.tmp-*`` and ``.<name>.old-*`` folders. The next command on that output, holding the
  lock (so nothing else is writing them), puts the newest ``.old-*`` back if ``out_dir`` is
  missing, and removes the rest (:func:`recover`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from trialsynth.errors import OutputError, TrialsynthError, os_error_words

try:  # POSIX advisory locks; elsewhere outputs are written unlocked (still atomically)
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class OutputBusy(TrialsynthError):
    """Another process is writing the same output."""


_HELD: dict[str, int] = {}  # output (resolved) -> depth of the lock this process holds on it


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _key(out: Path) -> str:
    return str(Path(os.path.abspath(out)).resolve())


def _holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def _acquire(out: Path) -> int | None:
    """The file descriptor holding the lock on ``out``, or None where locks are unsupported."""
    if fcntl is None:  # pragma: no cover
        return None
    path = _lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(fd)
            os.close(fd)
            raise OutputBusy(f"{out}: another trialsynth command{who} is writing this output "
                             "now; wait until it has finished, or choose another output") from None
        except OSError as exc:  # a file system without locks (some network mounts)
            os.close(fd)
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                return None
            raise
        try:  # the holder before us may have removed the file after we opened it: retry then
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            return fd
        os.close(fd)


def _release(out: Path, fd: int | None) -> None:
    if fd is None:
        return
    try:
        os.unlink(_lock_path(out))  # while still holding it: the next taker sees a new file
    except OSError:
        pass
    os.close(fd)


def _refuse_file_parent(out: Path) -> None:
    """OutputError when a folder the output needs is an existing file (``--out notes.txt/x``)."""
    for parent in Path(os.path.abspath(out)).parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{out}: cannot write the output here: {parent} is a file, "
                                  "not a folder")
            return


@contextmanager
def output_lock(out: str | Path) -> Iterator[None]:
    """Hold the exclusive lock on the output ``out`` (re-entrant within a process), and recover
    what an earlier killed command left beside it (:func:`recover`)."""
    out = Path(out)
    key = _key(out)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield
        finally:
            _HELD[key] -= 1
        return
    _refuse_file_parent(out)
    try:
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(out)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the output here: {os_error_words(exc)}") from None
    _HELD[key] = 1
    try:
        recover(out)
        yield
    finally:
        del _HELD[key]
        _release(out, fd)


def _leftovers(out: Path) -> tuple[list[Path], list[Path]]:
    """The ``.<name>.tmp-*`` and ``.<name>.old-*`` folders beside ``out``, oldest first."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.(tmp|old)-[0-9a-f]{{12}}")
    tmp, old = [], []
    try:
        entries = list(os.scandir(out.absolute().parent))
    except OSError:
        return [], []
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m and not entry.is_symlink():
            (tmp if m.group(1) == "tmp" else old).append(Path(entry.path))

    def age(p: Path) -> float:
        try:
            return p.lstat().st_mtime
        except OSError:
            return 0.0
    return sorted(tmp, key=age), sorted(old, key=age)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def recover(out: str | Path) -> None:
    """Clean up after a command on ``out`` that was killed: if ``out`` is missing, the newest
    ``.<name>.old-*`` (the last complete output) is put back; every other ``.tmp-*`` and
    ``.old-*`` beside it is removed. Call only while holding :func:`output_lock`."""
    out = Path(out)
    tmp, old = _leftovers(out)
    if old and not (out.exists() or out.is_symlink()):
        os.replace(old.pop(), out)
    for path in (*tmp, *old):
        _remove(path)


def refuse_overlap(inputs: Sequence[str | Path], outputs: Sequence[str | Path]) -> None:
    """TrialsynthError if an output is an input, lies inside an input folder, or is a folder
    that holds an input: a command never writes over, into or around what it reads."""
    for out in outputs:
        o = Path(os.path.abspath(out)).resolve()
        for inp in inputs:
            i = Path(os.path.abspath(inp)).resolve()
            if o == i:
                raise TrialsynthError(f"{out}: is the input {inp}; refusing to overwrite the "
                                      "input (choose another output)")
            if i in o.parents:
                raise TrialsynthError(f"{out}: lies inside the input folder {inp}; a command "
                                      "never writes into its input (choose an output outside it)")
            if o in i.parents:
                what = "folder" if i.is_dir() else "file"
                raise TrialsynthError(f"{out}: would contain the input {what} {inp}; refusing "
                                      "to replace it (choose another output)")


def _write_files(folder: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        with path.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _renameat2() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl without it
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_EXCHANGE = _renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` atomically (both must exist); False where the system or the
    file system cannot (then nothing has changed)."""
    if _EXCHANGE is None:
        return False
    rc = _EXCHANGE(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),  # type: ignore[operator]
                   _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _carry_over(out_dir: Path, tmp: Path, files: Mapping[str, str | bytes]) -> None:
    """Copy the entries of ``out_dir`` that are not among ``files`` into ``tmp``."""
    top = {Path(rel).parts[0] for rel in files}
    for entry in out_dir.iterdir():
        if entry.name not in top:
            copy = shutil.copytree if entry.is_dir() and not entry.is_symlink() else shutil.copy2
            copy(entry, tmp / entry.name)


@contextmanager
def writing(out: Path) -> Iterator[None]:
    """An OSError while writing ``out`` as an :class:`OutputError` naming it; whatever was there
    before is unchanged (the callers write into a temporary sibling first)."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None and not _ours(out, exc.filename):
            raise  # about another file (an input): reported as it is
        err = OutputError(f"{out}: cannot write the output: {os_error_words(exc)}; nothing "
                          "was changed")
        err.errno = exc.errno
        raise err from None


def _ours(out: Path, filename: str | bytes | int) -> bool:
    """Whether ``filename`` is ``out``, inside it, or one of its siblings made while writing it."""
    if isinstance(filename, int):
        return True
    f = Path(os.path.abspath(os.fsdecode(filename)))
    o = Path(os.path.abspath(out))
    return f == o or o in f.parents or f.parent == o.parent and (
        f.name.startswith(f".{o.name}") or f.name.startswith(o.name))


def replace_folder(out_dir: Path, files: Mapping[str, str | bytes], *,
                   keep_foreign: bool = False) -> None:
    """Make ``out_dir`` hold exactly ``files`` (relative path -> text or bytes), under the
    output lock (module docstring).

    ``keep_foreign``: entries of an existing ``out_dir`` that are not among ``files`` are carried
    over (a reviewer's README or notes in a review folder); otherwise they go with the old folder.
    """
    out_dir = Path(out_dir)
    with output_lock(out_dir), writing(out_dir):
        parent = out_dir.absolute().parent
        tag = uuid.uuid4().hex[:12]
        tmp = parent / f".{out_dir.name}.tmp-{tag}"
        tmp.mkdir()  # (not mkdtemp: its mode 0700 would ignore the umask)
        try:
            _write_files(tmp, files)
            if out_dir.is_dir():
                if keep_foreign:
                    _carry_over(out_dir, tmp, files)
                if exchange(tmp, out_dir):  # tmp now holds the old folder
                    shutil.rmtree(tmp, ignore_errors=True)
                    return
                old = parent / f".{out_dir.name}.old-{tag}"
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
