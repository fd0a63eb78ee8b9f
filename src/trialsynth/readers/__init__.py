"""Readers of review files. :func:`read_review` opens any supported source by what it is:

* a RevMan 5 file, ``.rm5`` or gzip-compressed ``.rm5.gz`` (:mod:`trialsynth.readers.rm5`);
* a RevMan 5 analysis-data CSV export (:mod:`trialsynth.readers.revman_csv`);
* a RevMan Web data package, zip or unpacked folder (:mod:`trialsynth.readers.revman_web`);
* a RevMan Web data-rows CSV alone: R-style column names as in Pairwise70
  (:mod:`trialsynth.readers.revman_rows`) or RevMan's own names (:mod:`trialsynth.readers.revman_web`).

The kind is decided from the content (magic bytes, XML root, CSV header), not from the name.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from trialsynth.errors import DataError
from trialsynth.readers.bounded import read_head
from trialsynth.review import Review

SNIFF = 64 * 1024  # bytes read to recognise a file


def read_review(path: str | Path) -> Review:
    """Read any supported review source into a :class:`~trialsynth.review.Review`.

    Raises :class:`~trialsynth.errors.DataError` (naming the file) for anything else.
    """
    path = Path(path)
    src = str(path)
    if path.is_dir():
        yml = path / "review.yaml"
        if yml.exists() or yml.is_symlink():  # read (or refused, if not a regular file) as such
            return _review_folder(path)
        from trialsynth.readers.revman_web import read_web_package

        return read_web_package(path)
    if not path.exists():
        raise DataError("file not found", file=src)
    head = read_head(path, SNIFF, src, kind="a review file")  # regular files only (no FIFO)
    if head[:2] == b"\x1f\x8b" or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        from trialsynth.readers.rm5 import read_rm5

        return read_rm5(path)
    if head[:4] == b"PK\x03\x04":
        from trialsynth.readers.revman_web import read_web_package

        return read_web_package(path)
    return _read_csv(path, head, src)


def _read_csv(path: Path, head: bytes, src: str) -> Review:
    first = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
    names = {c.strip().strip('"').strip() for c in first.split(",")}
    if {"Comparison Number", "Outcome Number"} <= names:
        from trialsynth.readers.revman_csv import read_revman5_csv

        return read_revman5_csv(path)
    if {"Analysis.group", "Analysis.number", "Study"} <= names:
        from trialsynth.readers.revman_rows import read_review as read_rows

        return _with_rob2(read_rows(path), path)
    if {"Analysis group", "Analysis number", "Study"} <= names:
        from trialsynth.readers.revman_web import read_web_data_rows

        return read_web_data_rows(path)
    raise DataError("not a review file trialsynth can read: expected a RevMan 5 file (.rm5, "
                    ".rm5.gz), a RevMan 5 analysis CSV export, a RevMan Web data package (zip or "
                    "folder) or a RevMan Web data-rows CSV", file=src)


def _with_rob2(review: Review, path: Path) -> Review:
    """Add the RoB 2 judgements of a data-rows CSV (review.rob.from_revman_web_table)."""
    from trialsynth.readers.revman_csv import read_bounded
    from trialsynth.readers.revman_web import CsvTable, from_revman_web_table

    table = CsvTable(str(path), read_bounded(path, str(path)))
    judged = [c for c in table.col if c.endswith("..judgement.")]
    if not any(table.text(i, c) for c in judged for i in range(len(table.records))):
        return review
    rob = from_revman_web_table(table.frame(), file=str(path))
    return replace(review, risk_of_bias=rob)


def _review_folder(path: Path) -> Review:
    """trialsynth's own review folder (``review.yaml``), read by :mod:`trialsynth.readers.folder`;
    its :class:`~trialsynth.review.Review` is returned."""
    try:
        from trialsynth.readers import folder
    except ImportError:
        raise DataError("a trialsynth review folder (review.yaml), but this installation has "
                        "no reader for it", file=str(path)) from None
    result = folder.read_folder(path)
    return getattr(result, "review", result)
