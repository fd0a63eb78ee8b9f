"""The records of a CSV table of a review folder, as read
(:func:`trialsynth.readers.folder.parse_csv`), shared by the readers of its tables
(:mod:`trialsynth.readers.folder`, :mod:`trialsynth.readers.folder_rob`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV table: its file, header and records (text), with each record's spreadsheet row."""

    file: str
    header: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    numbers: tuple[int, ...]  # spreadsheet row of each record (header = 1)
