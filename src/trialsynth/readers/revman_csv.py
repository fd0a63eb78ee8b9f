"""Read a RevMan 5 "analysis data" CSV export (File → Export → Data and analyses), with its
pooled rows; also the CSV helpers the RevMan Web package reader shares.

Layout (as in ``Fleiss1993_CR.csv``, R package meta): one row per comparison (``Outcome Number``
0: its name), per outcome (``Data Type`` filled: the settings and RevMan's pooled result), per
subgroup (the first row of each ``Subgroup Number``: the subgroup's pooled result) and per study.
Columns used: ``Comparison Number, Outcome Number, Subgroup Number, Name, Data Type, Statistical
Method, Effect Measure, Analysis Model, Events 1/2, Mean 1/2, SD 1/2, Total 1/2, Effect Estimate,
CI Start, CI End, Weight, Q, I²(Q), Tau², Z, Qint, P(Qint), I²(Qint), df, Year of study``
(``O-E`` and ``Variance`` when exported). Numbers are rounded to 8 decimals by RevMan.

The export states method, measure and model but not the CI levels, totals or event swapping:
RevMan's defaults (95 %, overall totals, events as entered) are assumed and said so. Generic
inverse-variance outcomes are not readable from this export (it carries RevMan's computed
estimate, not the entered one): they are listed as skipped; read the ``.rm5`` file instead.
Every problem is a :class:`~trialsynth.errors.DataError` naming file, row (header = 1) and column.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from trialsynth.errors import DataError
from trialsynth.readers import bounded
from trialsynth.review import (
    Analysis,
    DataType,
    Review,
    Skipped,
    StoredEstimate,
    StoredPooled,
    StoredSubgroupTest,
    build_frame,
    stated_settings,
)
from trialsynth.review.arms import arm_labels

MAX_BYTES = 200 * 1024 * 1024
MAX_FIELD = 10 * 1024 * 1024
MISSING = frozenset({"", "NA", "NaN", "nan", "#N/A"})
REQUIRED = ("Comparison Number", "Outcome Number", "Subgroup Number", "Name", "Data Type",
            "Statistical Method", "Effect Measure", "Analysis Model")
DATA_TYPES: dict[str, DataType] = {"DIC": "dichotomous", "CON": "continuous", "OE": "generic",
                                   "O-E": "generic"}
INPUTS = {"dichotomous": {"events_t": "Events 1", "n_t": "Total 1", "events_c": "Events 2",
                          "n_c": "Total 2"},
          "continuous": {"mean_t": "Mean 1", "sd_t": "SD 1", "n_t": "Total 1",
                         "mean_c": "Mean 2", "sd_c": "SD 2", "n_c": "Total 2"},
          "generic": {"o_e": "O-E", "var": "Variance", "n_t": "Total 1", "n_c": "Total 2"}}
STORED_STUDY = {"stored_effect": "Effect Estimate", "stored_ci_low": "CI Start",
                "stored_ci_high": "CI End", "stored_weight": "Weight"}
POOLED = {"estimate": "Effect Estimate", "ci_low": "CI Start", "ci_high": "CI End",
          "tau2": "Tau²", "i2": "I²(Q)", "q": "Q", "df": "df", "z": "Z"}
COUNTS = frozenset({"Events 1", "Events 2", "Total 1", "Total 2"})
NON_NEGATIVE = frozenset({"SD 1", "SD 2", "Variance"})


# ------------------------------------------------------------------------------------------
# shared CSV helpers


def read_bounded(path: Path, src: str, limit: int | None = None, *, kind: str = "a CSV file"
                 ) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (default :data:`MAX_BYTES`);
    DataError otherwise (``kind`` names what the file should have been). FIFOs, devices and links
    to them are refused before anything is read (:mod:`trialsynth.readers.bounded`)."""
    return bounded.read_bounded(path, src, MAX_BYTES if limit is None else limit, kind=kind)


CHUNK = 1 << 16  # characters handed to the CSV reader at a time (256 kB as a StringIO)


def _lines_in(chunk: str) -> int:
    """Lines in ``chunk`` as ``io.StringIO(newline="")`` splits them (CR LF, LF or CR)."""
    return chunk.count("\n") + chunk.count("\r") - chunk.count("\r\n")


class _Feed:
    """The text for csv.reader in chunks cut after a newline; a chunk of blank lines that starts
    between two records is counted instead of read (padding costs almost nothing)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.supplied = 0  # lines handed to the reader
        self.skipped = 0  # blank lines counted but not handed over
        self.record_end = 0  # reader.line_num when the reader last completed a record

    def chunks(self) -> Iterator[io.StringIO]:
        text, pos, n = self.text, 0, len(self.text)
        while pos < n:
            cut = text.find("\n", pos + CHUNK)
            end = n if cut < 0 else cut + 1
            chunk = text[pos:end]
            pos = end
            lines = _lines_in(chunk)
            # between two records (the reader finished one on the last line it was given) a
            # chunk of nothing but line ends is blank lines only: never inside a quoted field
            if self.record_end == self.supplied and not chunk.strip("\r\n"):
                self.skipped += lines
                continue
            self.supplied += lines
            yield io.StringIO(chunk, newline="")


def csv_records(text: str, src: str) -> list[tuple[int, list[str]]]:
    """(spreadsheet row, fields) of every record of a CSV text that is not a blank line; rows
    count blank lines too, as a spreadsheet shows them. Long runs of blank lines are counted
    without being parsed (:class:`_Feed`), so padding costs little time and no memory.
    DataError naming the row for malformed CSV."""
    feed = _Feed(text)
    reader = csv.reader(chain.from_iterable(feed.chunks()), strict=True)
    old = csv.field_size_limit(MAX_FIELD)
    out: list[tuple[int, list[str]]] = []
    n = 0
    try:
        for rec in reader:
            n += 1
            feed.record_end = reader.line_num
            if rec:
                out.append((n + feed.skipped, rec))
    except csv.Error as exc:
        raise DataError(f"malformed CSV ({exc})", file=src, row=n + feed.skipped + 1) from None
    finally:
        csv.field_size_limit(old)
    return out


def decode_utf8(raw: bytes, src: str) -> str:
    """UTF-8 text (BOM allowed); DataError naming the byte and line otherwise."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text (byte {exc.start}, physical line {line})",
                        file=src) from None


def parse_csv(raw: bytes, src: str, required: Sequence[str]
              ) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, records (each with the header's number of fields; blank lines skipped) and the
    spreadsheet row of each record (header = row 1). UTF-8 (BOM allowed) only."""
    pairs = csv_records(decode_utf8(raw, src), src)
    if not pairs:
        raise DataError("the file is empty", file=src)
    head_row, first = pairs[0]
    width = len(first)
    for i, rec in pairs[1:]:
        if len(rec) != width and any(f.strip() for f in rec):
            raise DataError(f"has {len(rec)} fields; the header has {width}", file=src, row=i)
    header = [h.strip().lstrip("\ufeff") for h in first]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError("column appears twice in the header", file=src, row=head_row,
                            field=name)
        seen.add(name)
    for name in required:
        if name not in seen:
            raise DataError("required column is missing", file=src, row=head_row, field=name)
    keep = [(i, rec) for i, rec in pairs[1:] if len(rec) == width]
    return header, [rec for _, rec in keep], [i for i, _ in keep]


def number(raw: str | None, src: str, row: int, field: str, *, count: bool = False,
           non_negative: bool = False) -> float:
    """A cell as a float (NaN when empty); DataError naming file, row and column otherwise."""
    s = (raw or "").strip().removesuffix("%")
    if s in MISSING:
        return math.nan
    try:
        x = float(s)
    except ValueError:
        raise DataError(f"not a number: {raw[:40]!r}", file=src, row=row,  # type: ignore[index]
                        field=field) from None
    if not math.isfinite(x):
        raise DataError(f"not a finite number: {s[:40]!r}", file=src, row=row, field=field)
    if count and (x < 0 or x != int(x)):
        raise DataError(f"must be a whole number >= 0, not {s[:40]!r}", file=src, row=row,
                        field=field)
    if non_negative and x < 0:
        raise DataError(f"cannot be negative ({s[:40]!r})", file=src, row=row, field=field)
    return x


def stored_number(raw: str | None, src: str, row: int, field: str) -> float | None:
    x = number(raw, src, row, field)
    return None if math.isnan(x) else x


def positive_int(raw: str, src: str, row: int, field: str, *, zero: bool = False) -> int:
    try:
        x = float(raw)
    except ValueError:
        x = math.nan
    if not (math.isfinite(x) and x == int(x) and (0 if zero else 1) <= x < 1e6):
        kind = "a whole number >= 0" if zero else "a positive whole number"
        raise DataError(f"must be {kind}, not {raw[:40]!r}", file=src, row=row, field=field)
    return int(x)


def zero_width(effect: float | None, low: float | None, high: float | None) -> bool:
    """RevMan writes zeros (a CI of zero width) where it computed nothing."""
    return effect is not None and low is not None and high is not None and low == high


# ------------------------------------------------------------------------------------------
# RevMan 5 CSV


def read_revman5_csv(path: str | Path) -> Review:
    """Read a RevMan 5 analysis-data CSV export (with pooled rows) into a :class:`Review`."""
    path = Path(path)
    src = str(path)
    header, records, rownum = parse_csv(read_bounded(path, src), src, REQUIRED)
    col = {h: i for i, h in enumerate(header)}

    def cell(rec: list[str], name: str) -> str:
        return rec[col[name]].strip() if name in col else ""

    comparisons: dict[int, str] = {}
    outcomes: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    cur: dict[str, Any] | None = None
    for rec, row in zip(records, rownum, strict=True):
        g = positive_int(cell(rec, "Comparison Number"), src, row, "Comparison Number")
        o = positive_int(cell(rec, "Outcome Number"), src, row, "Outcome Number", zero=True)
        sg = positive_int(cell(rec, "Subgroup Number"), src, row, "Subgroup Number", zero=True)
        if o == 0:
            comparisons[g] = cell(rec, "Name")
            continue
        if cell(rec, "Data Type"):
            cur = _outcome(rec, row, g, o, cell, src)
            if cur.get("skip"):
                skipped.append(Skipped(f"{g}.{o}", cell(rec, "Name"), cur["skip"],
                                       comparisons.get(g)))
            else:
                outcomes.append(cur)
            continue
        if cur is None or (g, o) != cur["key"]:
            raise DataError(f"a study or subgroup row of analysis {g}.{o} before its outcome "
                            f"row", file=src, row=row, field="Outcome Number")
        if cur.get("skip"):
            continue
        if sg > 0 and sg not in cur["subgroup_names"]:  # first row of a subgroup: its totals
            cur["subgroup_names"][sg] = cell(rec, "Name") or f"Subgroup {sg}"
            cur["subgroups"][sg] = _pooled(rec, row, cell, src)
            continue
        cur["rows"].append(_study(rec, row, cur, sg, cell, src))
    analyses = tuple(_analysis(o, comparisons) for o in outcomes)
    return Review(id=None, doi=None, url=None, source=path.name, analyses=analyses,
                  format="revman5-csv", comparisons=comparisons, skipped=tuple(skipped),
                  stored_decimals=8)


def _outcome(rec: list[str], row: int, g: int, o: int, cell: Any, src: str) -> dict[str, Any]:
    dtype_code = cell(rec, "Data Type").upper()
    method = cell(rec, "Statistical Method").upper().replace("-", "")
    measure = cell(rec, "Effect Measure").upper().replace(" ", "_")
    model = cell(rec, "Analysis Model").lower()
    out: dict[str, Any] = {"key": (g, o), "name": cell(rec, "Name"), "rows": [],
                           "subgroups": {}, "subgroup_names": {}}
    stated = {k: cell(rec, k) for k in ("Data Type", "Statistical Method", "Effect Measure",
                                         "Analysis Model")}
    if dtype_code not in DATA_TYPES:
        out["skip"] = (f"data type {dtype_code!r} is not readable from a RevMan 5 CSV export "
                       f"(generic inverse variance and IPD carry no input data here)")
        return out
    if model not in ("fixed", "random"):
        raise DataError(f"analysis model must be Fixed or Random, not {model[:40]!r}",
                        file=src, row=row, field="Analysis Model")
    random = model == "random"
    dtype = DATA_TYPES[dtype_code]
    if dtype == "dichotomous" and (method == "PETO" or measure in ("PETO_OR", "PETO")):
        measure, code = "PETO_OR", "PETO"
    elif dtype == "dichotomous" and measure in ("RR", "OR", "RD") and method in ("MH", "IV"):
        code = {"MH": "MH_RANDOM" if random else "MH", "IV": "DL" if random else "IV"}[method]
    elif dtype == "continuous" and measure in ("MD", "SMD"):
        code = "DL" if random else "IV"
    elif dtype == "generic":
        measure, code = "GENERIC_LOG", "DL" if random else "IV"
    else:
        out["skip"] = f"effect measure {measure!r} with method {method!r} is not supported"
        return out
    out["dtype"] = dtype
    out["settings"] = stated_settings(
        dtype, measure, code, totals="overall", stated=stated,
        notes=[f"settings stated in the file: {', '.join(f'{k}={v}' for k, v in stated.items())}",
               "CI levels (95%), totals and event swapping are not in a RevMan 5 CSV export: "
               "RevMan's defaults assumed"])
    out["overall"] = _pooled(rec, row, cell, src)
    out["labels"] = arm_labels(*(cell(rec, c) for c in (
        "Group Label 1", "Group Label 2", "Left Graph Label", "Right Graph Label")))
    qint = stored_number(cell(rec, "Qint"), src, row, "Qint")
    out["test"] = None if qint is None else StoredSubgroupTest(
        q=qint, p=stored_number(cell(rec, "P(Qint)"), src, row, "P(Qint)"),
        i2=stored_number(cell(rec, "I²(Qint)"), src, row, "I²(Qint)"))
    return out


def _pooled(rec: list[str], row: int, cell: Any, src: str) -> StoredEstimate | None:
    v = {k: stored_number(cell(rec, c), src, row, c) for k, c in POOLED.items()}
    if v["estimate"] is None and v["q"] is None:
        return None
    if zero_width(v["estimate"], v["ci_low"], v["ci_high"]):
        return StoredEstimate(estimable=False)
    return StoredEstimate(**v)


def _study(rec: list[str], row: int, cur: dict[str, Any], sg: int, cell: Any, src: str
           ) -> dict[str, Any]:
    out: dict[str, Any] = {"row": row, "study": cell(rec, "Name") or f"row {row}",
                           "year": cell(rec, "Year of study") or None,
                           "subgroup": cur["subgroup_names"].get(sg) if sg else None}
    for ours, theirs in INPUTS[cur["dtype"]].items():
        out[ours] = number(cell(rec, theirs), src, row, theirs, count=theirs in COUNTS,
                           non_negative=theirs in NON_NEGATIVE)
    if cur["dtype"] == "generic":  # O−E data: (O−E)/V and 1/√V (Yusuf et al. 1985)
        v = out["var"]
        out["yi"] = out["o_e"] / v if v > 0 else math.nan
        out["se"] = 1 / math.sqrt(v) if v > 0 else math.nan
    for ours, theirs in STORED_STUDY.items():
        out[ours] = stored_number(cell(rec, theirs), src, row, theirs)
    if zero_width(out["stored_effect"], out["stored_ci_low"], out["stored_ci_high"]):
        for k in STORED_STUDY:  # zeros: not estimable
            out[k] = None
    if cur["dtype"] == "dichotomous":
        for e, n, c in (("events_t", "n_t", "Events 1"), ("events_c", "n_c", "Events 2")):
            if out[e] > out[n]:
                out["problem"] = (f"row {row}, column '{c}': more events than participants; "
                                  f"not estimable, left out")
    return out


def _analysis(o: dict[str, Any], comparisons: dict[int, str]) -> Analysis:
    g, k = o["key"]
    names = o["subgroup_names"]
    has_sub = bool(names)
    frame = build_frame(o["rows"], o["dtype"], subgroups=has_sub,
                        extra=("o_e", "var") if o["dtype"] == "generic" else ())
    subs = {names[sg]: est for sg, est in o["subgroups"].items() if est is not None}
    return Analysis(
        id=f"{g}.{k}", group=g, number=k, name=o["name"], data_type=o["dtype"],
        applicability="SUBGROUP_AND_OVERALL", frame=frame, settings=o["settings"],
        comparison_name=comparisons.get(g) or None,
        stored_pooled=StoredPooled(overall=o["overall"], subgroups=subs,
                                   subgroup_test=o["test"] if has_sub else None),
        labels=o.get("labels"))
