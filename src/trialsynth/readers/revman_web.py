"""Read a RevMan Web data package: the downloaded zip, or the folder it unpacks to.

Members used (by name ending): ``*-data-rows.csv`` (study rows with RevMan's per-study effect,
CI and weight), ``*-overall-estimates-and-settings.csv`` (per analysis: the settings and RevMan's
pooled result), ``*-subgroup-estimates.csv``, ``*-study-information.csv`` (study
characteristics) and ``*-risk-of-bias.csv`` (RoB 1 study table); RoB 2 judgements in the data
rows are read with :func:`trialsynth.review.rob.from_revman_web_table`. Figures, PDFs and RIS
files are ignored. Without a settings file (a data-rows CSV on its own) the settings are
inferred as for the data-rows reader (:func:`trialsynth.review.settings_inference.infer_settings`).

The package is untrusted: the zip's member count and every member's size are bounded (checked
on the bytes read, not only on the zip's own header), a member whose path is absolute, contains
``..`` or is a link refuses the whole package, and nothing is ever extracted to disk. Folders are
walked without following links, to a bounded depth. Numbers are RevMan's, rounded to 6 decimals.
Every problem is a :class:`~trialsynth.errors.DataError` naming the member, row and column.
"""

from __future__ import annotations

import math
import os
import re
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from trialsynth.errors import DataError
from trialsynth.readers.revman_csv import (
    number,
    parse_csv,
    positive_int,
    read_bounded,
    stored_number,
    zero_width,
)
from trialsynth.readers.revman_rows import COLUMNS as ROWS_COLUMNS
from trialsynth.review import (
    Analysis,
    Inferred,
    Review,
    Skipped,
    StoredEstimate,
    StoredPooled,
    StoredSubgroupTest,
    StudyInfo,
    Totals,
    build_frame,
    stated_settings,
)
from trialsynth.review.arms import ArmLabels, arm_labels
from trialsynth.review.rob import from_revman_web_table, rob1_from_revman_web_table
from trialsynth.review.settings_inference import infer_settings

MAX_MEMBER = 200 * 1024 * 1024  # bytes of one member (or file) read
MAX_MEMBERS = 2000  # members of a zip / files under a folder
MAX_ZIP = 1024 * 1024 * 1024
MAX_DEPTH = 4
ROLES = {"rows": "-data-rows.csv", "settings": "-overall-estimates-and-settings.csv",
         "subgroups": "-subgroup-estimates.csv", "studies": "-study-information.csv",
         "rob": "-risk-of-bias.csv"}
# frame column <- data-rows column (R-style name: non-alphanumerics as dots, as in Pairwise70):
# those of a bare data-rows export, plus the group sizes of generic and O−E rows, which a
# package's rows carry
_SIZES = {"n_t": "Experimental.N", "n_c": "Control.N"}
COLUMNS = {**ROWS_COLUMNS, "generic": {**ROWS_COLUMNS["generic"], **_SIZES},
           "oe": {"o_e": "O.E", "var": "Variance", **_SIZES}}
COUNTS = frozenset({"Experimental.cases", "Experimental.N", "Control.cases", "Control.N"})
NON_NEGATIVE = frozenset({"Experimental.SD", "Control.SD", "GIV.SE", "Variance"})
STORED = {"stored_effect": "Mean", "stored_ci_low": "CI.start", "stored_ci_high": "CI.end",
          "stored_weight": "Weight"}
POOLED = {"estimate": "Mean", "ci_low": "CI.start", "ci_high": "CI.end",
          "tau2": "Heterogeneity.Tau.", "i2": "Heterogeneity.I.", "q": "Heterogeneity.Chi.",
          "df": "Heterogeneity.df", "z": "Effect.Z"}
MEASURES = {"odds ratio": "OR", "risk ratio": "RR", "risk difference": "RD",
            "mean difference": "MD", "standardized mean difference": "SMD",
            "standardised mean difference": "SMD", "std. mean difference": "SMD",
            "peto odds ratio": "PETO_OR"}
TAU2 = {"dersimonian": "DL", "dl": "DL", "reml": "REML", "restricted": "REML", "paule": "PM",
        "pm": "PM", "maximum likelihood": "ML", "ml": "ML", "hedges": "HE", "sidik": "SJ",
        "empirical bayes": "EB"}
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")


def r_name(name: str) -> str:
    """A RevMan Web column name as R's ``make.names`` writes it (``Study year`` →
    ``Study.year``), so native and Pairwise70-style exports read alike."""
    return re.sub(r"[^A-Za-z0-9_.]", ".", name.strip().lstrip("\ufeff"))


# ------------------------------------------------------------------------------------------
# the package: zip or folder


def read_web_package(path: str | Path) -> Review:
    """Read a RevMan Web data package (zip file or unpacked folder) into a :class:`Review`."""
    path = Path(path)
    src = str(path)
    if path.is_dir():
        files = _folder_members(path, src)
    elif path.is_file():
        files = _zip_members(path, src)
    else:
        raise DataError("not found", file=src)
    if "rows" not in files:
        raise DataError("no '*-data-rows.csv' in this RevMan Web package", file=src)
    return _review(files, path.name)


def read_web_data_rows(path: str | Path) -> Review:
    """A RevMan Web ``*-data-rows.csv`` on its own: settings inferred from the stored numbers."""
    path = Path(path)
    return _review({"rows": (str(path), read_bounded(path, str(path), MAX_MEMBER))}, path.name)


def _role(name: str) -> str | None:
    low = name.lower()
    return next((role for role, end in ROLES.items() if low.endswith(end)), None)


def _zip_members(path: Path, src: str) -> dict[str, tuple[str, bytes]]:
    if path.stat().st_size > MAX_ZIP:
        raise DataError(f"file is larger than the limit of {MAX_ZIP} bytes", file=src)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"not a readable zip file ({exc})", file=src) from None
    files: dict[str, tuple[str, bytes]] = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise DataError(f"the zip has {len(infos)} members; the limit is {MAX_MEMBERS}",
                            file=src)
        for info in infos:
            name = info.filename
            where = f"{src}/{name}"
            _check_member_name(name, where)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DataError("refused: the zip member is a symbolic link", file=where)
            if info.file_size > MAX_MEMBER:
                raise DataError(f"refused: the zip member is {info.file_size} bytes; the limit "
                                f"is {MAX_MEMBER}", file=where)
            role = _role(name)
            if role is None or info.is_dir():
                continue
            if role in files:
                raise DataError(f"the package has two '*{ROLES[role]}' files "
                                f"({files[role][0]})", file=where)
            try:
                with zf.open(info) as fh:
                    data = fh.read(MAX_MEMBER + 1)
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, zlib.error,
                    NotImplementedError, ValueError) as exc:  # corrupt or unsupported stream
                raise DataError(f"cannot read the zip member ({exc})", file=where) from None
            if len(data) > MAX_MEMBER:
                raise DataError(f"refused: the zip member decompresses to more than "
                                f"{MAX_MEMBER} bytes", file=where)
            files[role] = (where, data)
    return files


def _check_member_name(name: str, where: str) -> None:
    """Refuse absolute paths, drive letters, backslashes and ``..`` (zip slip)."""
    parts = PurePosixPath(name).parts
    if (name.startswith(("/", "\\")) or "\\" in name or "\x00" in name or ".." in parts
            or re.match(r"^[A-Za-z]:", name)):
        raise DataError("refused: unsafe path in the zip (absolute, '..' or a drive letter)",
                        file=where)


def _folder_members(path: Path, src: str) -> dict[str, tuple[str, bytes]]:
    files: dict[str, tuple[str, bytes]] = {}
    seen = 0
    root_depth = len(path.parts)
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        if len(Path(dirpath).parts) - root_depth >= MAX_DEPTH:
            dirnames[:] = []
        for fname in sorted(filenames):
            seen += 1
            if seen > MAX_MEMBERS:
                raise DataError(f"the folder holds more than {MAX_MEMBERS} files", file=src)
            full = Path(dirpath) / fname
            role = _role(fname)
            if role is None or full.is_symlink() or not full.is_file():
                continue
            if role in files:
                raise DataError(f"the package has two '*{ROLES[role]}' files "
                                f"({files[role][0]})", file=str(full))
            files[role] = (str(full), read_bounded(full, str(full), MAX_MEMBER))
    return files


# ------------------------------------------------------------------------------------------
# tables


class CsvTable:
    """A CSV member with R-style column names and the native name of each (for errors)."""

    def __init__(self, where: str, raw: bytes, required: tuple[str, ...] = ()) -> None:
        self.where = where
        header, self.records, self.rownum = parse_csv(raw, where, ())
        self.native = {r_name(h): h for h in header}
        self.col = {r_name(h): i for i, h in enumerate(header)}
        for name in required:
            if name not in self.col:
                raise DataError("required column is missing", file=where, row=1,
                                field=name.replace(".", " "))

    def text(self, i: int, name: str) -> str:
        return self.records[i][self.col[name]].strip() if name in self.col else ""

    def num(self, i: int, name: str, **kw: bool) -> float:
        return number(self.text(i, name), self.where, self.rownum[i],
                      self.native.get(name, name), **kw)

    def stored(self, i: int, name: str) -> float | None:
        return stored_number(self.text(i, name), self.where, self.rownum[i],
                             self.native.get(name, name))

    def key(self, i: int) -> tuple[int, int]:
        return (positive_int(self.text(i, "Analysis.group"), self.where, self.rownum[i],
                             self.native.get("Analysis.group", "Analysis group")),
                positive_int(self.text(i, "Analysis.number"), self.where, self.rownum[i],
                             self.native.get("Analysis.number", "Analysis number")))

    def frame(self) -> pd.DataFrame:
        names = list(self.col)
        return pd.DataFrame([[r[self.col[n]] for n in names] for r in self.records],
                            columns=names)


def _review(files: dict[str, tuple[str, bytes]], name: str) -> Review:
    rows = CsvTable(*files["rows"], required=("Analysis.group", "Analysis.number", "Study"))
    settings: dict[tuple[int, int], dict[str, Any]] = {}
    skipped: list[Skipped] = []
    if "settings" in files:
        st = CsvTable(*files["settings"], required=("Analysis.group", "Analysis.number",
                                                  "Data.type", "Statistical.method",
                                                  "Effect.measure", "Analysis.model"))
        for i in range(len(st.records)):
            key = st.key(i)
            info = _settings(st, i)
            if isinstance(info, str):
                skipped.append(Skipped(f"{key[0]}.{key[1]}", st.text(i, "Analysis.name"), info,
                                       st.text(i, "Analysis.group.name") or None))
            else:
                settings[key] = info
    subgroups = _subgroup_estimates(files)
    by_key: dict[tuple[int, int], list[int]] = {}
    for i in range(len(rows.records)):
        by_key.setdefault(rows.key(i), []).append(i)
    skip_ids = {s.id for s in skipped}
    keys = [k for k in sorted(by_key) if f"{k[0]}.{k[1]}" not in skip_ids]
    inferred = _infer(rows, keys, by_key) if not settings else {}
    analyses = []
    for key in keys:
        spec = settings.get(key)
        if spec is None and not inferred:
            raise DataError(f"analysis {key[0]}.{key[1]} is not in the settings file",
                            file=rows.where, row=rows.rownum[by_key[key][0]],
                            field=rows.native.get("Analysis.number", "Analysis number"))
        analyses.append(_analysis(rows, key, by_key[key], spec, inferred.get(key),
                                  subgroups.get(key, {})))
    comparisons = {k[0]: s["group_name"] for k, s in settings.items() if s["group_name"]}
    review_ids = [rows.text(i, "review_doi") for i in range(len(rows.records))]
    doi = next((d for d in review_ids if d), None)
    rid = next((m.group(0).replace("_pub", ".pub") for s in (doi, name)
                if s and (m := re.search(r"CD\d{6}(?:[._]pub\d+)?", s))), None)
    return Review(id=rid, doi=doi, url=None, source=name, analyses=tuple(analyses),
                  format="revman-web-package" if "settings" in files else "revman-web-data-rows",
                  comparisons=comparisons, studies=_studies(files),
                  risk_of_bias=_risk_of_bias(files, rows), skipped=tuple(skipped),
                  stored_decimals=6)


def _bool(st: CsvTable, i: int, name: str, default: bool) -> bool:
    v = st.text(i, name).lower()
    if v in ("", "#n/a"):
        return default
    if v not in ("true", "false", "yes", "no"):
        raise DataError(f"must be true or false, not {v[:40]!r}", file=st.where,
                        row=st.rownum[i], field=st.native.get(name, name))
    return v in ("true", "yes")


def _level(st: CsvTable, i: int, name: str) -> float:
    v = st.num(i, name) if st.text(i, name) else 95.0
    if not 50 <= v < 100:
        raise DataError(f"a confidence level in percent, not {st.text(i, name)[:40]!r}",
                        file=st.where, row=st.rownum[i], field=st.native.get(name, name))
    return v / 100


def _settings(st: CsvTable, i: int) -> dict[str, Any] | str:
    """One analysis's settings (a dict), or why they are not supported (a str)."""
    dtype_raw, method_raw = st.text(i, "Data.type").lower(), st.text(i, "Statistical.method")
    measure_raw, model_raw = st.text(i, "Effect.measure"), st.text(i, "Analysis.model").lower()
    kind = ("dichotomous" if "dichotomous" in dtype_raw else "continuous" if "continuous" in
            dtype_raw else "oe" if "o-e" in dtype_raw else "generic" if "generic" in dtype_raw
            or "inverse" in dtype_raw else None)
    if kind is None:
        return f"data type {st.text(i, 'Data.type')!r} is not supported"
    random = "random" in model_raw
    if not random and not ("fixed" in model_raw or "common" in model_raw):
        return f"analysis model {st.text(i, 'Analysis.model')!r} is not recognised"
    m = method_raw.lower().replace("-", "").replace(" ", "")
    method = "MH" if m in ("mh", "mantelhaenszel") else "PETO" if m == "peto" else \
        "IV" if m in ("iv", "inversevariance", "") else None
    measure = MEASURES.get(measure_raw.strip().lower())
    stated = {st.native.get(k, k): st.text(i, k) for k in st.col if k in _SETTING_COLUMNS
              or re.search(r"(?i)estimator|interval.method|hartung|prediction", k)}
    notes = [f"settings stated in the file: {', '.join(f'{k}={v}' for k, v in stated.items())}"]
    tau2 = next((st.text(i, k) for k in st.col if re.search(r"(?i)estimator", k)), "")
    est = next((code for word, code in TAU2.items() if word in tau2.lower()), None) if tau2 \
        else None
    if random and est is None:
        est = "DL"
        notes.append("tau² estimator not stated: DerSimonian-Laird (RevMan's only one before "
                     "2024) assumed")
    rcode = est or "DL"
    if kind in ("generic", "oe"):
        log = kind == "oe" or _bool(st, i, "Log.scale.data", False)
        measure, code, dtype = ("GENERIC_LOG" if log else "GENERIC"), (rcode if random else "IV"), \
            "generic"
    elif kind == "dichotomous" and (method == "PETO" or measure == "PETO_OR"):
        if random:
            return "Peto method with random effects is not supported"
        measure, code, dtype = "PETO_OR", "PETO", kind
    elif (kind == "dichotomous" and measure in ("RR", "OR", "RD") and method in ("MH", "IV")) or \
            (kind == "continuous" and measure in ("MD", "SMD") and method == "IV"):
        code = {"MH": "MH_RANDOM" if random else "MH", "IV": rcode if random else "IV"}[method]
        dtype = kind
        if method == "MH" and random and est != "DL":
            return f"M-H random effects with tau² estimator {tau2!r} is not supported"
    else:
        return f"effect measure {measure_raw!r} with method {method_raw!r} is not supported"
    overall, subs = _bool(st, i, "Overall.estimates", True), _bool(st, i, "Subgroup.estimates", True)
    totals: Totals = "overall" if overall else "subgroups" if subs else "none"
    ci_method = next((st.text(i, k) for k in st.col if re.search(r"(?i)interval.method|hartung", k)),
                     "")
    swap = dtype == "dichotomous" and _bool(st, i, "Swap.event.and.non.event", False)
    settings = stated_settings(
        dtype, measure, code, totals=totals, stated=stated, notes=notes,
        confidence_level=_level(st, i, "Estimate.CI"),
        study_confidence_level=_level(st, i, "Study.CI"), swap_events=swap,
        subgroup_test=_bool(st, i, "Test.for.subgroup.differences", True),
        hksj=bool(re.search(r"(?i)hartung|hksj", ci_method)) and random)
    return {"settings": settings, "oe": kind == "oe", "group_name": st.text(i, "Analysis.group.name"),
            "overall": _pooled(st, i) if totals == "overall" else None,
            "test": _test(st, i), "labels": _labels(st, i)}


_LABEL_COLUMNS = {  # ArmLabels field <- columns that may hold it, first non-empty wins
    "experimental": ("Experimental.group.label", "Experimental.intervention"),
    "control": ("Control.group.label", "Control.intervention"),
    "favours_left": ("Left.graph.label", "Graph.label.left", "Left.axis.label"),
    "favours_right": ("Right.graph.label", "Graph.label.right", "Right.axis.label")}


def _labels(t: CsvTable, i: int) -> ArmLabels | None:
    """The arm and axis labels of one analysis as the file states them (settings file, or the
    data rows when they carry label columns); None when it states none."""
    found = {k: next((v for c in cols if (v := t.text(i, c)) and v != "#N/A"), None)
             for k, cols in _LABEL_COLUMNS.items()}
    return arm_labels(found["experimental"], found["control"], found["favours_left"],
                      found["favours_right"])


_SETTING_COLUMNS = frozenset({
    "Data.type", "Log.scale.data", "Statistical.method", "Effect.measure", "Analysis.model",
    "Subgroup.estimates", "Overall.estimates", "Test.for.subgroup.differences",
    "Swap.event.and.non.event", "Study.CI", "Estimate.CI"})


def _pooled(t: CsvTable, i: int) -> StoredEstimate | None:
    v = {k: t.stored(i, c) for k, c in POOLED.items()}
    if v["estimate"] is None and v["q"] is None:
        return None
    if zero_width(v["estimate"], v["ci_low"], v["ci_high"]):
        return StoredEstimate(estimable=False)
    return StoredEstimate(**v)


def _test(t: CsvTable, i: int) -> StoredSubgroupTest | None:
    q = t.stored(i, "Subgroup.Chi.")
    return None if q is None else StoredSubgroupTest(
        q=q, df=t.stored(i, "Subgroup.df"), p=t.stored(i, "Subgroup.P"),
        i2=t.stored(i, "Subgroup.I."))


def _subgroup_estimates(files: dict[str, tuple[str, bytes]]
                        ) -> dict[tuple[int, int], dict[str, StoredEstimate]]:
    if "subgroups" not in files:
        return {}
    t = CsvTable(*files["subgroups"], required=("Analysis.group", "Analysis.number", "Subgroup"))
    out: dict[tuple[int, int], dict[str, StoredEstimate]] = {}
    labels: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for i in range(len(t.records)):
        labels.setdefault(t.key(i), []).append((t.text(i, "Subgroup"),
                                                t.text(i, "Subgroup.number")))
    for i in range(len(t.records)):
        key = t.key(i)
        label = _label(t.text(i, "Subgroup"), t.text(i, "Subgroup.number"), labels[key])
        est = _pooled(t, i)
        if est is not None:
            out.setdefault(key, {})[label] = est
    return out


def _label(name: str, no: str, all_pairs: list[tuple[str, str]]) -> str:
    """Subgroup name, made unique by its number where two subgroups share a name."""
    clash = len({n for s, n in all_pairs if s == name}) > 1
    return f"{name} (subgroup {no})" if clash and no else name


# ------------------------------------------------------------------------------------------
# analyses


def _analysis(rows: CsvTable, key: tuple[int, int], idx: list[int], spec: dict[str, Any] | None,
              inferred: Inferred | None, stored_subs: dict[str, StoredEstimate]) -> Analysis:
    settings = spec["settings"] if spec else inferred
    assert settings is not None
    oe = bool(spec and spec["oe"])
    cols = COLUMNS["oe" if oe else settings.data_type]
    pairs = [(rows.text(i, "Subgroup"), rows.text(i, "Subgroup.number")) for i in idx]
    has_sub = any(s or n for s, n in pairs)
    out = []
    for i, (sg, sgn) in zip(idx, pairs, strict=True):
        row: dict[str, Any] = {"row": rows.rownum[i], "study": rows.text(i, "Study"),
                               "year": rows.text(i, "Study.year") or None,
                               "subgroup": _label(sg, sgn, pairs) if has_sub else None,
                               "rob_overall": rows.text(i, "Overall.bias..judgement.") or None}
        if not row["study"]:
            raise DataError("study name is empty", file=rows.where, row=rows.rownum[i],
                            field=rows.native.get("Study", "Study"))
        for ours, theirs in cols.items():
            row[ours] = rows.num(i, theirs, count=theirs in COUNTS,
                                 non_negative=theirs in NON_NEGATIVE)
        if oe:  # O−E data: yi = (O−E)/V, SE = 1/√V (Yusuf et al. 1985; Deeks & Higgins 2010)
            v = row["var"]
            row["yi"] = row["o_e"] / v if v > 0 else math.nan
            row["se"] = 1 / math.sqrt(v) if v > 0 else math.nan
        for ours, theirs in STORED.items():
            row[ours] = rows.stored(i, theirs)
        if zero_width(row["stored_effect"], row["stored_ci_low"], row["stored_ci_high"]):
            for k in STORED:  # RevMan wrote zeros: no result for this study
                row[k] = None
        if settings.data_type == "dichotomous":
            for e, n, c in (("events_t", "n_t", "Experimental.cases"),
                            ("events_c", "n_c", "Control.cases")):
                if row[e] > row[n]:
                    row["problem"] = (f"row {row['row']}, column '{rows.native.get(c, c)}': more "
                                      f"events than participants; not estimable, left out")
        out.append(row)
    frame = build_frame(out, settings.data_type, subgroups=has_sub,
                        extra=("o_e", "var") if oe else ())
    if settings.totals == "none":
        frame["stored_weight"] = math.nan
    stored = None
    if spec is not None:
        overall = spec["overall"]
        nothing = frame[["stored_effect", "stored_weight"]].isna().all().all()
        computed = not (nothing and (overall is None or not overall.estimable))
        stored = StoredPooled(
            overall=overall, subgroups=stored_subs if settings.totals != "none" else {},
            subgroup_test=spec["test"] if has_sub else None, results_stored=computed,
            notes=() if computed else ("RevMan stored zeros or empty values instead of "
                                       "results for this analysis",))
    first = idx[0]
    return Analysis(
        id=f"{key[0]}.{key[1]}", group=key[0], number=key[1],
        name=rows.text(first, "Analysis.name"), data_type=settings.data_type,
        applicability=rows.text(first, "Applicability") or "SUBGROUP_AND_OVERALL", frame=frame,
        settings=settings, comparison_name=(spec or {}).get("group_name") or None,
        stored_pooled=stored,
        labels=(spec or {}).get("labels") or next((lb for i in idx if (lb := _labels(rows, i))),
                                                 None))


def _infer(rows: CsvTable, keys: list[tuple[int, int]], by_key: dict[tuple[int, int], list[int]]
           ) -> dict[tuple[int, int], Inferred]:
    """Settings of every analysis inferred from RevMan's stored per-study numbers, as the
    data-rows reader does (:func:`trialsynth.review.settings_inference.infer_settings`)."""
    order = [i for k in keys for i in by_key[k]]
    group = np.array([j for j, k in enumerate(keys) for _ in by_key[k]], dtype=np.intp)

    def col(name: str, **kw: bool) -> np.ndarray:
        return np.array([rows.num(i, name, **kw) for i in order], dtype=np.float64)

    tables: dict[str, dict[str, np.ndarray]] = {
        t: {ours: col(theirs, count=theirs in COUNTS, non_negative=theirs in NON_NEGATIVE)
            for ours, theirs in COLUMNS[t].items()} for t in ("dichotomous", "continuous", "generic")}
    pairs = [(int(g), rows.text(i, "Subgroup.number"), rows.text(i, "Subgroup"))
             for g, i in zip(group, order, strict=True)]
    index = {p: j for j, p in enumerate(dict.fromkeys(pairs))}
    has_sub = [False] * len(keys)
    for g, n, s in pairs:
        has_sub[g] = has_sub[g] or bool(n or s)
    out, _ = infer_settings(tables, {"effect": col("Mean"), "weight": col("Weight"),
                                     "ci_low": col("CI.start"), "ci_high": col("CI.end")}, group,
                            len(keys), np.array([index[p] for p in pairs], dtype=np.intp), has_sub)
    return dict(zip(keys, out, strict=True))


# ------------------------------------------------------------------------------------------
# studies and risk of bias


def _studies(files: dict[str, tuple[str, bytes]]) -> tuple[StudyInfo, ...]:
    if "studies" not in files:
        return ()
    t = CsvTable(*files["studies"], required=("Study",))
    out = []
    for i in range(len(t.records)):
        chars = {t.native[k].split(":", 1)[1].strip(): _EMAIL.sub("[e-mail removed]", v)
                 for k in t.col if t.native[k].startswith("Char:") and (v := t.text(i, k))}
        name = t.text(i, "Study")
        out.append(StudyInfo(id=name, name=name, year=t.text(i, "Year") or None,
                             data_source=t.text(i, "Data.source") or None, status="included",
                             characteristics=chars))
    return tuple(out)


def _risk_of_bias(files: dict[str, tuple[str, bytes]], rows: CsvTable) -> tuple[Any, ...]:
    out: list[Any] = []
    if "rob" in files:
        t = CsvTable(*files["rob"], required=("Study",))
        frame = t.frame()
        frame.columns = [t.native[c] for c in frame.columns]
        if any(c.startswith("Domain (judgement):") for c in frame.columns):
            out += rob1_from_revman_web_table(frame, file=t.where)
    judged = [c for c in rows.col if c.endswith("..judgement.") and c != "Overall.bias..judgement."]
    if judged and any(rows.text(i, c) for c in judged for i in range(len(rows.records))):
        frame = rows.frame()
        out += from_revman_web_table(frame, file=rows.where)
    return tuple(out)
