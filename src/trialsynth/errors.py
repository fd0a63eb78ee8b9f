"""Errors and warnings raised by trialsynth.

Every problem with user data is a :class:`DataError` that names where it happened
(file, row, field) so that a reviewer can fix the source without guessing.
"""

from __future__ import annotations


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
