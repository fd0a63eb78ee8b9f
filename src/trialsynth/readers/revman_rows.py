"""Read a RevMan Web "data rows" CSV export (one row per study and analysis).

The file is untrusted input: its size is bounded, every field is checked, and every problem is a
:class:`~trialsynth.errors.DataError` that names the file, the row as a spreadsheet shows it
(header = row 1) and the column. The file is only read, never written.

Columns used (RevMan Web export names): ``Analysis.group, Analysis.number, Analysis.name,
Subgroup, Applicability, Study, Study.year, GIV.Mean, GIV.SE, Experimental.{mean,SD,cases,N},
Control.{mean,SD,cases,N}, Weight, Mean, CI.start, CI.end, Overall.bias..judgement.,
review_url, review_doi``. Analysis settings are not in the file; they are inferred
(:func:`trialsynth.review.settings_inference.infer_settings`) and marked as inferred.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from trialsynth.errors import DataError
from trialsynth.readers.revman_csv import parse_csv, read_bounded
from trialsynth.review import Analysis, Review
from trialsynth.review.arms import arm_labels
from trialsynth.review.settings_inference import infer_settings

MAX_BYTES = 200 * 1024 * 1024
MAX_FIELD = 10 * 1024 * 1024  # one CSV field (RoB support texts can be long)
REQUIRED = ("Analysis.group", "Analysis.number", "Analysis.name", "Study")
NUMERIC = ("GIV.Mean", "GIV.SE", "Experimental.mean", "Experimental.SD", "Experimental.cases",
           "Experimental.N", "Control.mean", "Control.SD", "Control.cases", "Control.N",
           "Weight", "Mean", "CI.start", "CI.end")
OPTIONAL_TEXT = ("Subgroup", "Subgroup.number", "Applicability", "Study.year", "Overall.bias..judgement.",
                 "review_url", "review_doi")
# arm and axis labels, when a data-rows export carries them (trialsynth.review.arms): first non-empty
LABEL_COLUMNS = ("Experimental.group.label", "Control.group.label", "Left.graph.label",
                 "Right.graph.label")
MISSING = frozenset({"", "NA", "NaN", "nan"})  # R's write.csv writes NA or ""
# our column name <- RevMan column, per data type
COLUMNS = {
    "dichotomous": {"events_t": "Experimental.cases", "n_t": "Experimental.N",
                    "events_c": "Control.cases", "n_c": "Control.N"},
    "continuous": {"mean_t": "Experimental.mean", "sd_t": "Experimental.SD",
                   "n_t": "Experimental.N", "mean_c": "Control.mean", "sd_c": "Control.SD",
                   "n_c": "Control.N"},
    "generic": {"yi": "GIV.Mean", "se": "GIV.SE"},
}
STORED = {"stored_effect": "Mean", "stored_ci_low": "CI.start", "stored_ci_high": "CI.end",
          "stored_weight": "Weight"}
_REVIEW_ID = re.compile(r"CD\d{6}(?:[._]pub\d+)?", re.IGNORECASE)


def read_revman_rows(path: str | Path) -> list[Analysis]:
    """The analyses of a RevMan Web data-rows CSV, in (group, number) order."""
    return list(read_review(path).analyses)


def read_review(path: str | Path) -> Review:
    """Read a RevMan Web data-rows CSV: review identity and analyses with inferred settings."""
    path = Path(path)
    src = str(path)
    header, records, rownum = _records(path, src)
    col = {name: i for i, name in enumerate(header)}
    text = {name: [r[col[name]].strip() if name in col else "" for r in records]
            for name in (*REQUIRED, *OPTIONAL_TEXT, *LABEL_COLUMNS)}
    num = {name: _numbers([r[col[name]] for r in records], name, rownum, src)
           for name in NUMERIC}
    _check_values(num, rownum, src)
    keys = _analysis_keys(text, rownum, src)
    order = sorted(dict.fromkeys(keys))
    index = {k: j for j, k in enumerate(order)}
    group = np.array([index[k] for k in keys], dtype=np.intp)
    tables = {t: {ours: num[theirs] for ours, theirs in cols.items()} for t, cols in COLUMNS.items()}
    tables["generic"] = {**tables["generic"], "n_t": num["Experimental.N"],
                         "n_c": num["Control.N"]}
    pairs = _subgroup_keys(group.tolist(), text["Subgroup.number"], text["Subgroup"])
    pair_index = {p: i for i, p in enumerate(dict.fromkeys(pairs))}
    has_sub = [False] * len(order)
    for j, num_, label in pairs:
        has_sub[j] = has_sub[j] or bool(label or num_)
    inferred, masks = infer_settings(tables, {"effect": num["Mean"], "weight": num["Weight"],
                                              "ci_low": num["CI.start"], "ci_high": num["CI.end"]},
                                     group, len(order),
                                     np.array([pair_index[p] for p in pairs], dtype=np.intp),
                                     has_sub)
    analyses = []
    for j, (g, k) in enumerate(order):
        rows = np.flatnonzero(group == j)
        settings = inferred[j]
        frame = pd.DataFrame({"row": rownum[rows],  # as a spreadsheet shows it, header = 1
                              "study": [text["Study"][i] for i in rows],
                              "year": [text["Study.year"][i] or None for i in rows]})
        if has_sub[j]:
            frame["subgroup"] = _subgroup_labels([pairs[i] for i in rows])
        for ours, theirs in COLUMNS[settings.data_type].items():
            frame[ours] = num[theirs][rows]
        if settings.data_type == "generic":  # arm sizes, when given, count participants
            frame["n_t"], frame["n_c"] = num["Experimental.N"][rows], num["Control.N"][rows]
        for ours, theirs in STORED.items():
            frame[ours] = num[theirs][rows]
        frame["rob_overall"] = [text["Overall.bias..judgement."][i] or None for i in rows]
        frame["complete"] = masks[j]
        frame["problem"] = _problems(settings.data_type, num, rows, rownum)
        first = int(rows[0])
        analyses.append(Analysis(
            id=f"{g}.{k}", group=g, number=k, name=text["Analysis.name"][first],
            data_type=settings.data_type,
            applicability=text["Applicability"][first] or "SUBGROUP_AND_OVERALL",
            frame=frame, settings=settings,
            labels=next((lb for i in rows if (lb := arm_labels(
                *(text[c][i] for c in LABEL_COLUMNS)))), None)))
    doi = next((d for d in text["review_doi"] if d), None)
    url = next((u for u in text["review_url"] if u), None)
    return Review(id=_review_id(doi, url, path), doi=doi, url=url, source=path.name,
                  analyses=tuple(analyses))


def _records(path: Path, src: str) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Header, records (each with the header's number of fields; blank lines skipped) and the
    spreadsheet row number of each record."""
    try:
        header, records, rows = parse_csv(read_bounded(path, src, MAX_BYTES), src,
                                          (*REQUIRED, *NUMERIC))
    except DataError as err:
        if err.reason.startswith("required column is missing"):
            raise DataError("required column is missing (is this a RevMan Web data-rows "
                            "export?)", file=src, row=1, field=err.field) from None
        raise
    if not records:
        raise DataError("the file has a header but no study rows", file=src)
    return header, records, np.array(rows, dtype=np.int64)


def _numbers(values: list[str], name: str, rownum: np.ndarray, src: str) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, raw in enumerate(values):
        s = raw.strip()
        if s in MISSING:
            continue
        try:
            x = float(s)
        except ValueError:
            raise DataError(f"not a number: {raw[:40]!r}", file=src, row=int(rownum[i]),
                            field=name) from None
        if not math.isfinite(x):
            raise DataError(f"not a finite number: {raw[:40]!r}", file=src, row=int(rownum[i]),
                            field=name)
        out[i] = x
    return out


def _check_values(num: dict[str, np.ndarray], rownum: np.ndarray, src: str) -> None:
    """Ranges that no RevMan export can have; NaN (empty) passes every check."""
    def _fail(mask: np.ndarray, message: str, src: str, name: str) -> None:
        if mask.any():
            raise DataError(message, file=src, row=int(rownum[np.argmax(mask)]), field=name)

    with np.errstate(invalid="ignore"):
        for arm in ("Experimental", "Control"):
            n, cases, sd = num[f"{arm}.N"], num[f"{arm}.cases"], num[f"{arm}.SD"]
            for name, v in ((f"{arm}.N", n), (f"{arm}.cases", cases)):
                _fail(v < 0, "cannot be negative", src, name)
                _fail(np.isfinite(v) & (v != np.round(v)), "must be a whole number", src, name)
            _fail(sd < 0, "a standard deviation cannot be negative", src, f"{arm}.SD")
        _fail(num["GIV.SE"] < 0, "a standard error cannot be negative", src, "GIV.SE")
        w = num["Weight"]
        _fail((w < 0) | (w > 100), "a weight must lie between 0 and 100 (percent)", src, "Weight")


def _subgroup_keys(group: list[int], numbers: list[str], labels: list[str]
                   ) -> list[tuple[int, str, str]]:
    """(analysis, subgroup number, name) per row. Two subgroups may share a name: they differ by
    ``Subgroup.number``, or, in files without it, a name that comes back after another name
    starts a new subgroup (RevMan exports the rows of a subgroup together)."""
    keys, last, runs = [], {}, {}
    for j, num_, label in zip(group, numbers, labels, strict=True):
        if not num_ and label:
            if last.get(j) != label:
                runs[j, label] = runs.get((j, label), 0) + 1
            num_ = f"part {runs[j, label]}" if runs[j, label] > 1 else ""
        last[j] = label
        keys.append((j, num_, label))
    return keys


def _subgroup_labels(keys: list[tuple[int, str, str]]) -> list[str]:
    """Subgroup names, made unique with the subgroup number where two subgroups share one."""
    numbers: dict[str, set[str]] = {}
    for _, num_, label in keys:
        numbers.setdefault(label, set()).add(num_)
    return [f"{label} (subgroup {num_})" if len(numbers[label]) > 1 and num_ else label
            for _, num_, label in keys]


def _problems(data_type: str, num: dict[str, np.ndarray], rows: np.ndarray,
              rownum: np.ndarray) -> list[str | None]:
    """Rows RevMan itself reports as not estimable although their data are filled in: more events
    than participants in a dichotomous analysis (seen in real exports, e.g. CD001920.pub4)."""
    out: list[str | None] = [None] * len(rows)
    if data_type != "dichotomous":
        return out
    for arm in ("Experimental", "Control"):
        with np.errstate(invalid="ignore"):
            bad = num[f"{arm}.cases"][rows] > num[f"{arm}.N"][rows]
        for i in np.flatnonzero(bad):
            out[i] = (f"row {int(rownum[rows[i]])}, column '{arm}.cases': more events than "
                      f"participants ({arm}.N); not estimable, left out")
    return out


def _analysis_keys(text: dict[str, list[str]], rownum: np.ndarray, src: str
                   ) -> list[tuple[int, int]]:
    keys: list[tuple[int, int]] = []
    names: dict[tuple[int, int], str] = {}
    for i, (g, k) in enumerate(zip(text["Analysis.group"], text["Analysis.number"], strict=True)):
        row = int(rownum[i])
        key = (_positive_int(g, row, "Analysis.group", src),
               _positive_int(k, row, "Analysis.number", src))
        if not text["Study"][i]:
            raise DataError("study name is empty", file=src, row=row, field="Study")
        name = text["Analysis.name"][i]
        if names.setdefault(key, name) != name:
            raise DataError(f"analysis {key[0]}.{key[1]} is named {names[key][:60]!r} in an "
                            f"earlier row", file=src, row=row, field="Analysis.name")
        keys.append(key)
    return keys


def _positive_int(raw: str, row: int, name: str, src: str) -> int:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1 and value == int(value) and value < 1e6):
        raise DataError(f"must be a positive whole number, not {raw[:40]!r}", file=src,
                        row=row, field=name)
    return int(value)


def _review_id(doi: str | None, url: str | None, path: Path) -> str | None:
    for s in (doi, url, path.name):
        if s and (m := _REVIEW_ID.search(s)):
            return m.group(0).upper().replace("_PUB", ".pub").replace(".PUB", ".pub")
    return None
