"""Errors and warnings raised by trialsynth.

Every problem with user data is a :class:`DataError` that names where it happened
(file, row, field) so that a reviewer can fix the source without guessing.
"""

from __future__ import annotations

import errno


class TrialsynthError(Exception):
    """Base class of every error trialsynth raises on purpose."""


class DataError(TrialsynthError, ValueError):
    """Bad input data: names the file, the row (1-based, as a spreadsheet shows it) and the field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.field = field
        self.reason = message
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"column '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConvergenceWarning(UserWarning):
    """An iterative estimator stopped before meeting its convergence criterion."""


class MethodWarning(UserWarning):
    """A result is computed, but the method is known to behave badly here (e.g. HKSJ with k = 2)."""


class OutputError(TrialsynthError, OSError):
    """An output could not be written (the disk is full, no permission, ...): names the output.
    Also an :class:`OSError` (``errno`` is the cause's), for callers that catch those."""


# what an operating-system error means for the user, in words (errno names: POSIX.1-2017)
_OS_WORDS = {
    errno.ENOSPC: "no space left on the device (the disk is full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file-size limit was reached, e.g. ulimit -f)",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENOTEMPTY: "folder is not empty",
    errno.ENAMETOOLONG: "file name too long",
    errno.ELOOP: "too many levels of symbolic links",
    errno.EMFILE: "too many open files",
    errno.ENOMEM: "out of memory",
    errno.EIO: "input/output error",
    errno.EXDEV: "cannot move between file systems",
    errno.EBUSY: "device or resource busy",
}


def os_error_words(exc: OSError) -> str:
    """What an :class:`OSError` means, in words, with its errno name (e.g. ``[ENOSPC]``)."""
    words = _OS_WORDS.get(exc.errno) if exc.errno is not None else None
    if words is None:
        return exc.strerror or str(exc) or type(exc).__name__
    return f"{words} [{errno.errorcode.get(exc.errno, exc.errno)}]"
