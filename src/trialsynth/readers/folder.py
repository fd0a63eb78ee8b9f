"""trialsynth's review folder: ``review.yaml`` plus three CSV tables, human-editable and diff-friendly.

Layout::

    review.yaml        the protocol (trialsynth.review.protocol): question, comparisons, analyses, settings,
                       GRADE input
    studies.csv        one row per included study: study (id), name, year, characteristics
    outcome_data.csv   one row per study x analysis: arm data in trialsynth's column names, the
                       analysis id and subgroup, RevMan's stored per-study numbers where known
    risk_of_bias.csv   one row per study x result x domain: tool (rob2 / rob1), judgement, support,
                       signalling answers, and a reviewer override with its rationale

Tables are UTF-8 with LF line endings, a fixed column order, sorted rows and no index column;
floats are written so that they read back exactly (``repr``; whole numbers without ``.0``); an
empty cell is a missing value. Every problem is a :class:`~trialsynth.errors.DataError` naming the
file, the row (as a spreadsheet shows it, header = 1) and the column. Writing is atomic: the folder
is built in a temporary folder next to the target, validated by reading it back, and renamed into
place; a non-empty folder that is not a review folder is never overwritten, and files of a review
folder that are not trialsynth's own (a README, say) are kept.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trialsynth._atomic import replace_folder
from trialsynth.designs.prepare import EXTRA_COLUMNS
from trialsynth.errors import DataError, TrialsynthError
from trialsynth.readers.bounded import read_bounded, read_head
from trialsynth.readers.folder_rob import (
    ROB_COLUMNS,
    RobRecord,
    assemble_rob,
    overall_of,
    parse_rob_rows,
    rob_sort_key,
)
from trialsynth.readers.records import Table
from trialsynth.readers.review_yaml import dump_protocol, parse_protocol
from trialsynth.readers.revman_csv import csv_records
from trialsynth.review import Analysis, Inferred, Review, complete_rows
from trialsynth.review import StudyInfo as _StudyInfo
from trialsynth.review.protocol import SCHEMA, AnalysisSpec, Protocol

__all__ = ["FILES", "OUTCOME_COLUMNS", "STUDY_COLUMNS", "ReviewFolder", "RowExtra", "StudyRecord",
           "is_review_folder", "read_folder", "render_folder", "write_atomically", "write_folder"]

REVIEW_YAML, STUDIES_CSV, OUTCOMES_CSV, ROB_CSV = ("review.yaml", "studies.csv", "outcome_data.csv",
                                                   "risk_of_bias.csv")
FILES = (REVIEW_YAML, STUDIES_CSV, OUTCOMES_CSV, ROB_CSV)
MAX_BYTES = 200 * 1024 * 1024
MAX_FIELD = 10 * 1024 * 1024
MISSING = frozenset({"", "NA"})
STUDY_COLUMNS = ("study", "name", "year", "source_id", "status", "data_source", "design",
                 "condition", "country", "funding", "notes")
DESIGNS = ("parallel", "crossover", "cluster", "other")
EXTRA_PREFIX = "x_"  # studies.csv: free characteristics columns, kept as text
DATA_COLUMNS = {
    "dichotomous": ("events_t", "n_t", "events_c", "n_c"),
    "continuous": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "generic": ("yi", "se", "n_t", "n_c"),
}
STORED_COLUMNS = ("stored_effect", "stored_ci_low", "stored_ci_high", "stored_weight")
NUMERIC_COLUMNS = ("events_t", "mean_t", "sd_t", "n_t", "events_c", "mean_c", "sd_c", "n_c",
                   "yi", "se", *STORED_COLUMNS)
OUTCOME_COLUMNS = ("analysis", "subgroup", "study", *NUMERIC_COLUMNS, "footnote", "source_row")
# optional columns of trial designs and data entry (trialsynth.designs), written only when used
DESIGN_TEXT = ("design", "period")
DESIGN_NUMERIC = tuple(c for c in EXTRA_COLUMNS if c not in DESIGN_TEXT)
CONTINUOUS_ONLY = frozenset(c for c in DESIGN_NUMERIC if c.endswith(("_t", "_c"))
                            or c == "corr_change")
_COUNTS = ("events_t", "n_t", "events_c", "n_c")
_NONNEGATIVE = (*_COUNTS, "sd_t", "sd_c", "se")


@dataclass(frozen=True, slots=True)
class StudyRecord:
    """One study (``study`` is its id in the folder, as the data rows name it: "Lumanauw 2019";
    ``source_id`` its id in the source file, e.g. rm5 "STD-Lumanauw-2019")."""

    study: str
    name: str
    year: str | None = None
    source_id: str | None = None
    status: str | None = None  # included, excluded, awaiting, ongoing
    data_source: str | None = None  # RevMan's data source code (PUB, UNPUB, ...)
    design: str | None = None
    condition: str | None = None
    country: str | None = None
    funding: str | None = None
    notes: str | None = None
    extra: tuple[tuple[str, str], ...] = ()  # (x_column, text), non-empty cells only


@dataclass(frozen=True, slots=True)
class RowExtra:
    """What a row of ``outcome_data.csv`` carries beyond :class:`~trialsynth.review.Analysis`."""

    footnote: str | None = None
    source_row: int | None = None  # the row of the imported source file


@dataclass(frozen=True, slots=True)
class ReviewFolder:
    """A review folder in memory: the :class:`Review` the engine runs, its protocol, the studies,
    the risk-of-bias records and, per analysis, the extras of each frame row (same order)."""

    protocol: Protocol
    review: Review
    studies: tuple[StudyRecord, ...]
    risk_of_bias: tuple[RobRecord, ...] = ()
    row_extras: Mapping[str, tuple[RowExtra, ...]] = field(default_factory=dict)
    path: Path | None = None
    notes: tuple[str, ...] = ()  # what reading noticed (e.g. a stated RoB judgement RoB 2 refuses)

    def rob_assessments(self) -> dict[tuple[str, str | None], Any]:
        """RoB 2 / RoB 1 assessments keyed by (study, analysis id or None for study level)."""
        return assemble_rob(self.risk_of_bias, _study_results(self.review), ROB_CSV)


# ---------------------------------------------------------------------------------------------
# CSV primitives
# ---------------------------------------------------------------------------------------------
def _fmt(x: Any) -> str:
    """A float as text that reads back exactly; NaN/None as the empty cell."""
    if x is None:
        return ""
    v = float(x)
    if math.isnan(v):
        return ""
    if v.is_integer() and abs(v) < 2**53 and not (v == 0 and math.copysign(1, v) < 0):
        return str(int(v))
    return repr(v)


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue()


def parse_csv(text: str, file: str, *, required: Sequence[str], allowed: Sequence[str],
              extra_prefix: str | None = None) -> Table:
    """Records of a CSV text; header checked (required, unknown and repeated columns)."""
    records = csv_records(text, file)  # blank lines dropped, rows counted as a spreadsheet does
    if not records:
        raise DataError("the file is empty (a header row is needed)", file=file)
    head_row, first = records[0]
    header = tuple(h.strip() for h in first)
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError("column appears twice in the header", file=file, row=head_row, field=name)
        if name not in allowed and not (extra_prefix and name.startswith(extra_prefix)
                                         and len(name) > len(extra_prefix)):
            hint = f"; free columns must start with '{extra_prefix}'" if extra_prefix else ""
            raise DataError(f"unknown column (expected some of: {', '.join(allowed)}{hint})",
                            file=file, row=head_row, field=name or "(empty)")
        seen.add(name)
    for name in required:
        if name not in seen:
            raise DataError("required column is missing", file=file, row=head_row, field=name)
    rows, numbers = [], []
    for n, rec in records[1:]:
        if not any(c.strip() for c in rec):
            continue  # blank line
        if len(rec) != len(header):
            raise DataError(f"has {len(rec)} fields; the header has {len(header)}", file=file,
                            row=n)
        rows.append(dict(zip(header, rec, strict=True)))
        numbers.append(n)
    return Table(file, header, tuple(rows), tuple(numbers))


def _number(raw: str, file: str, row: int, col: str) -> float:
    s = raw.strip()
    if s in MISSING:
        return math.nan
    try:
        x = float(s)
    except ValueError:
        raise DataError(f"not a number: {raw[:40]!r}", file=file, row=row, field=col) from None
    if not math.isfinite(x):
        raise DataError(f"not a finite number: {raw[:40]!r}", file=file, row=row, field=col)
    return x


def _text(raw: str | None) -> str | None:
    """A text cell; empty (or blank) is missing. ("NA" is text here; it means missing only in
    numeric columns.)"""
    return None if raw is None or not raw.strip() else raw


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    if not path.exists() and not path.is_symlink():
        raise DataError("file not found (a review folder needs review.yaml, studies.csv, "
                        "outcome_data.csv and risk_of_bias.csv)", file=str(path))
    raw = read_bounded(path, str(path), MAX_BYTES)  # regular files only (no FIFO, no device)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text (byte {exc.start}, line {line})", file=str(path)) from None


def is_review_folder(path: str | Path) -> bool:
    """True if ``path`` is a folder whose review.yaml declares trialsynth's schema."""
    yml = Path(path) / REVIEW_YAML
    try:
        head = read_head(yml, 65536).decode("utf-8-sig", errors="replace")
    except DataError:
        return False
    return any(line.strip() in (f"schema: {SCHEMA}", f"schema: '{SCHEMA}'", f'schema: "{SCHEMA}"')
               for line in head.splitlines())


def read_folder(path: str | Path) -> ReviewFolder:
    """Read and validate a review folder (the folder is only read)."""
    path = Path(path)
    if not path.is_dir():
        raise DataError("not a folder (a review folder holds review.yaml and three CSV tables)",
                        file=str(path))
    texts = {name: _read_text(path / name) for name in FILES}
    return parse_folder(texts, path)


def parse_folder(texts: Mapping[str, str], base: Path) -> ReviewFolder:
    """Build a :class:`ReviewFolder` from the four file texts; errors name ``base / file``."""
    name = {f: str(base / f) for f in FILES}
    protocol = parse_protocol(texts[REVIEW_YAML], file=name[REVIEW_YAML])
    studies = _parse_studies(parse_csv(texts[STUDIES_CSV], name[STUDIES_CSV],
                                       required=("study",), allowed=STUDY_COLUMNS,
                                       extra_prefix=EXTRA_PREFIX))
    known = {s.study: s for s in studies}
    table = parse_csv(texts[OUTCOMES_CSV], name[OUTCOMES_CSV], required=("analysis", "study"),
                      allowed=(*OUTCOME_COLUMNS, *EXTRA_COLUMNS))
    specs = {a.id: a for a in protocol.analyses}
    by_analysis: dict[str, list[int]] = {a: [] for a in specs}
    for i, (rec, n) in enumerate(zip(table.rows, table.numbers, strict=True)):
        a_id = rec["analysis"].strip()
        if a_id not in specs:
            raise DataError(f"analysis {a_id!r} is not listed under analyses in review.yaml",
                            file=table.file, row=n, field="analysis")
        if rec["study"] not in known:
            raise DataError(f"study {rec['study']!r} is not in studies.csv", file=table.file,
                            row=n, field="study")
        by_analysis[a_id].append(i)
    rob_rows = parse_rob_rows(parse_csv(texts[ROB_CSV], name[ROB_CSV],
                                        required=("study", "tool", "domain"),
                                        allowed=ROB_COLUMNS), known, specs)
    analyses, extras = [], {}
    for spec in sorted(protocol.analyses, key=lambda a: _id_key(a.id)):
        idx = by_analysis[spec.id]
        analysis, row_extras = _analysis(spec, protocol, table, idx, known)
        analyses.append(analysis)
        extras[spec.id] = row_extras
    review = _review(protocol, name[OUTCOMES_CSV], tuple(analyses), studies)
    assessed = assemble_rob(rob_rows, _study_results(review), name[ROB_CSV])
    for a in review.analyses:
        a.frame["rob_overall"] = [overall_of(assessed, str(s), a.id) for s in a.frame["study"]]
    notes = tuple(r.note for r in assessed.values() if r.note)
    review = _optional(Review, review, risk_of_bias=tuple(r.assessment for r in assessed.values()),
                       notes=(*review.notes, *notes))
    return ReviewFolder(protocol, review, studies, rob_rows, extras, base, notes)


def _optional(cls: Any, obj: Any = None, **kw: Any) -> Any:
    """``cls(**kw)`` (or a copy of ``obj`` with ``kw``), passing only fields ``cls`` has: the
    engine's review model grows optional fields over time."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    kw = {k: v for k, v in kw.items() if k in names}
    return cls(**kw) if obj is None else dataclasses.replace(obj, **kw)


def _review(protocol: Protocol, source: str, analyses: tuple[Analysis, ...],
            studies: Sequence[StudyRecord]) -> Review:
    ds = protocol.data_source
    skipped = ()
    if ds is not None and ds.skipped_analyses:
        from trialsynth.review import Skipped

        skipped = tuple(_optional(Skipped, **s.model_dump()) for s in ds.skipped_analyses)
    info = tuple(_optional(_StudyInfo, id=s.source_id or s.study, name=s.name, year=s.year,
                           data_source=s.data_source, status=s.status,
                           characteristics=_characteristics(s)) for s in studies)
    return _optional(
        Review, id=protocol.review.id, doi=protocol.review.doi, url=protocol.review.url,
        source=source, analyses=analyses, format="trialsynth-folder", title=protocol.review.title,
        comparisons={int(c.id): c.name for c in protocol.comparisons if not c.inferred},
        studies=info, skipped=skipped, stored_decimals=None if ds is None else ds.stored_decimals,
        notes=() if ds is None else tuple(ds.notes), published=protocol.review.published,
        search_date=protocol.review.search_date, file_date=None if ds is None else ds.date)


def _characteristics(s: StudyRecord) -> dict[str, str]:
    fixed = {k: getattr(s, k) for k in ("design", "condition", "country", "funding", "notes")}
    return {**{k: v for k, v in fixed.items() if v is not None},
            **{k[len(EXTRA_PREFIX):]: v for k, v in s.extra}}


def _parse_studies(table: Table) -> tuple[StudyRecord, ...]:
    out: list[StudyRecord] = []
    seen: dict[str, int] = {}
    for rec, n in zip(table.rows, table.numbers, strict=True):
        study = rec["study"]
        if not study.strip() or study != study.strip():
            raise DataError("study id must be non-empty, without leading or trailing spaces",
                            file=table.file, row=n, field="study")
        if study in seen:
            raise DataError(f"study {study!r} is listed twice (first in row {seen[study]})",
                            file=table.file, row=n, field="study")
        seen[study] = n
        design = _text(rec.get("design"))
        if design is not None and design not in DESIGNS:
            raise DataError(f"design must be one of {', '.join(DESIGNS)} or empty, not "
                            f"{design!r}", file=table.file, row=n, field="design")
        extra = tuple((k, v) for k, v in rec.items() if k.startswith(EXTRA_PREFIX) and v != "")
        fixed = {k: _text(rec.get(k)) for k in STUDY_COLUMNS[2:]}
        out.append(StudyRecord(study=study, name=_text(rec.get("name")) or study, extra=extra,
                               **fixed))
    return tuple(out)


def _id_key(analysis_id: str) -> tuple[int, int]:
    g, k = analysis_id.split(".")
    return int(g), int(k)


def _analysis(spec: AnalysisSpec, protocol: Protocol, table: Table, idx: list[int],
              studies: Mapping[str, StudyRecord]) -> tuple[Analysis, tuple[RowExtra, ...]]:
    dtype = spec.data_type
    used = DATA_COLUMNS[dtype]
    recs = [table.rows[i] for i in idx]
    rows = [table.numbers[i] for i in idx]
    num: dict[str, np.ndarray] = {}
    for col in NUMERIC_COLUMNS:
        vals = np.array([_number(r.get(col, ""), table.file, n, col) for r, n in zip(
            recs, rows, strict=True)], dtype=np.float64)
        if col not in used and col not in STORED_COLUMNS and np.isfinite(vals).any():
            n = rows[int(np.argmax(np.isfinite(vals)))]
            raise DataError(f"a {dtype} analysis ({spec.id}) does not use this column; leave it "
                            "empty", file=table.file, row=n, field=col)
        num[col] = vals
    _check_ranges(num, rows, table.file)
    labels = [r.get("subgroup", "") for r in recs]
    has_sub = bool(spec.subgroups) or any(labels)
    for label, n in zip(labels, rows, strict=True):
        if has_sub and label not in spec.subgroups:
            raise DataError(f"subgroup {label!r} is not listed under subgroups of analysis "
                            f"{spec.id} in review.yaml", file=table.file, row=n, field="subgroup")
    cols: dict[str, Any] = {"row": np.array(rows, dtype=np.int64),
                            "study": [r["study"] for r in recs],
                            "year": [studies[r["study"]].year for r in recs]}
    if has_sub:
        cols["subgroup"] = labels
    cols |= {c: num[c] for c in (*used, *STORED_COLUMNS)}
    design_cols = _design_columns(dtype, table, recs, rows, studies)
    cols |= design_cols
    cols["rob_overall"] = [None] * len(recs)
    cols["complete"] = complete_rows(dtype, {c: num[c] for c in used}) | _entered(design_cols)
    cols["problem"] = _problems(dtype, num, rows)
    frame = pd.DataFrame(cols)
    g, k = _id_key(spec.id)
    extras = tuple(RowExtra(_text(r.get("footnote")), _source_row(r, n, table.file))
                   for r, n in zip(recs, rows, strict=True))
    comparison = next(c for c in protocol.comparisons if c.id == spec.comparison)
    return _optional(Analysis, id=spec.id, group=g, number=k, name=spec.name, data_type=dtype,
                     applicability=spec.applicability, frame=frame,
                     settings=_settings(spec, protocol),
                     comparison_name=None if comparison.inferred else comparison.name,
                     stored_pooled=_stored(spec), labels=_labels(spec)), extras


def _labels(spec: AnalysisSpec) -> Any:
    from trialsynth.review.arms import arm_labels

    lb = spec.labels
    return None if lb is None else arm_labels(lb.experimental, lb.control, lb.favours_left,
                                              lb.favours_right)


def _design_columns(dtype: str, table: Table, recs: Sequence[Mapping[str, str]],
                    rows: Sequence[int], studies: Mapping[str, StudyRecord]) -> dict[str, Any]:
    """The design and data-entry columns a row gives (trialsynth.designs): only those used.
    A row without a design of its own takes its study's design from studies.csv."""
    out: dict[str, Any] = {}
    for col in DESIGN_NUMERIC:
        if col not in table.header:
            continue
        vals = np.array([_number(r.get(col, ""), table.file, n, col) for r, n in zip(
            recs, rows, strict=True)], dtype=np.float64)
        if not np.isfinite(vals).any():
            continue
        wrong = (col in CONTINUOUS_ONLY and dtype != "continuous") or \
            (col == "events_both" and dtype != "dichotomous")
        if wrong:
            n = rows[int(np.argmax(np.isfinite(vals)))]
            raise DataError(f"a {dtype} analysis does not use this column; leave it empty",
                            file=table.file, row=n, field=col)
        out[col] = vals
    design = [_text(r.get("design")) or (studies[r["study"]].design if studies[r["study"]].design
                                         in ("parallel", "crossover", "cluster") else None)
              for r in recs]
    if any(design):
        out["design"] = design
    if "period" in table.header and any(_text(r.get("period")) for r in recs):
        out["period"] = [_text(r.get("period")) for r in recs]
    return out


def _entered(design_cols: Mapping[str, Any]) -> np.ndarray | bool:
    """Rows that give data only the design preparation can use (a reported effect, quantiles,
    an SE or CI): left for the pooling to convert, or to refuse with its reason."""
    nums = [v for k, v in design_cols.items() if k not in DESIGN_TEXT and k not in
            ("corr", "cluster_size", "icc", "events_both", "corr_change")]
    if not nums:
        return False
    return np.logical_or.reduce([np.isfinite(v) for v in nums])


def _settings(spec: AnalysisSpec, protocol: Protocol) -> Inferred:
    """The engine's settings record: this analysis' settings resolved against ``settings``."""
    s, r = spec.settings, protocol.resolved_settings(spec.id)
    notes = list(s.notes)
    if r.method != s.method:
        notes.append(f"method {r.method} from the review-wide settings (random_effects_method); "
                     f"the analysis states {s.method}")
    return _optional(Inferred, data_type=spec.data_type, measure=r.measure, method=r.method,
                     weight_max_abs_diff=s.weight_max_abs_diff,
                     evidence={"source": "review folder (review.yaml)"}, notes=tuple(notes),
                     totals=s.totals, conventions=r.conventions, inferred=s.inferred,
                     confidence_level=r.confidence_level,
                     study_confidence_level=r.study_confidence_level, swap_events=r.swap_events,
                     subgroup_test=r.subgroup_test, hksj=r.hksj,
                     prediction_interval=r.prediction_interval,
                     stated=None if s.stated is None else dict(s.stated),
                     designs=_designs_setting(protocol))


def _designs_setting(protocol: Protocol) -> dict[str, Any] | None:
    d = getattr(protocol.settings, "designs", None)
    return None if d is None or d == type(d)() else d.model_dump()


def _stored(spec: AnalysisSpec) -> Any:
    if spec.stored is None:
        return None
    from trialsynth.review import StoredEstimate, StoredPooled, StoredSubgroupTest

    st = spec.stored

    def est(e: Any) -> Any:
        return None if e is None else _optional(StoredEstimate, **e.model_dump())

    test = None if st.subgroup_test is None else \
        _optional(StoredSubgroupTest, **st.subgroup_test.model_dump())
    return _optional(StoredPooled, overall=est(st.overall),
                     subgroups={k: est(v) for k, v in st.subgroups.items()}, subgroup_test=test,
                     notes=tuple(st.notes), results_stored=st.results_stored)


def _source_row(rec: Mapping[str, str], n: int, file: str) -> int | None:
    x = _number(rec.get("source_row", ""), file, n, "source_row")
    if math.isnan(x):
        return None
    if not (x.is_integer() and x >= 1):
        raise DataError("must be a positive whole number", file=file, row=n, field="source_row")
    return int(x)


def _check_ranges(num: Mapping[str, np.ndarray], rows: Sequence[int], file: str) -> None:
    def fail(mask: np.ndarray, message: str, col: str) -> None:
        if mask.any():
            raise DataError(message, file=file, row=rows[int(np.argmax(mask))], field=col)

    with np.errstate(invalid="ignore"):
        for col in _NONNEGATIVE:
            fail(num[col] < 0, "cannot be negative", col)
        for col in _COUNTS:
            fail(np.isfinite(num[col]) & (num[col] != np.round(num[col])),
                 "must be a whole number", col)
        w = num["stored_weight"]
        fail((w < 0) | (w > 100 + 1e-9), "a weight must lie between 0 and 100 (percent)",
             "stored_weight")  # RevMan stores 100.00000000000001 at times


def _problems(dtype: str, num: Mapping[str, np.ndarray], rows: Sequence[int]) -> list[str | None]:
    """Rows left out although filled in: more events than participants (as RevMan does)."""
    out: list[str | None] = [None] * len(rows)
    if dtype != "dichotomous":
        return out
    for e, n in (("events_t", "n_t"), ("events_c", "n_c")):
        with np.errstate(invalid="ignore"):
            bad = num[e] > num[n]
        for i in map(int, np.flatnonzero(bad)):
            out[i] = (f"{OUTCOMES_CSV} row {rows[i]}, column '{e}': more events than "
                      f"participants ({n}); not estimable, left out")
    return out


def _study_results(review: Review) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for a in review.analyses:
        for study in a.frame["study"]:
            out.setdefault(str(study), set()).add(a.id)
    return out


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def render_folder(folder: ReviewFolder) -> dict[str, str]:
    """The four file texts of ``folder`` (deterministic: the same folder gives the same bytes)."""
    protocol = folder.protocol
    specs = {a.id: a for a in protocol.analyses}
    missing = [a.id for a in folder.review.analyses if a.id not in specs]
    if missing:
        raise DataError(f"analyses {', '.join(missing)} have no entry in the protocol",
                        file=REVIEW_YAML, field="analyses")
    ordered = protocol.model_copy(update={"analyses": sorted(protocol.analyses,
                                                             key=lambda a: _id_key(a.id))})
    return {REVIEW_YAML: dump_protocol(ordered), STUDIES_CSV: _studies_text(folder.studies),
            OUTCOMES_CSV: _outcomes_text(folder, specs),
            ROB_CSV: csv_text(ROB_COLUMNS, (r.cells() for r in sorted(folder.risk_of_bias,
                                                                      key=rob_sort_key)))}


def _studies_text(studies: Sequence[StudyRecord]) -> str:
    extra_cols = sorted({k for s in studies for k, _ in s.extra})
    rows = []
    for s in sorted(studies, key=lambda s: (s.study.casefold(), s.study)):
        extra = dict(s.extra)
        rows.append([s.study, s.name, *(getattr(s, c) or "" for c in STUDY_COLUMNS[2:]),
                     *(extra.get(c, "") for c in extra_cols)])
    return csv_text((*STUDY_COLUMNS, *extra_cols), rows)


def _outcomes_text(folder: ReviewFolder, specs: Mapping[str, AnalysisSpec]) -> str:
    present = {c for a in folder.review.analyses for c in a.frame.columns}
    extra_cols = [c for c in EXTRA_COLUMNS if c in present]  # written only when some row uses them
    study_design = {st.study: st.design for st in folder.studies}
    out = []
    for a in sorted(folder.review.analyses, key=lambda a: (a.group, a.number)):
        spec = specs[a.id]
        if spec.data_type != a.data_type:
            raise DataError(f"analysis {a.id} is {a.data_type} data but the protocol says "
                            f"{spec.data_type}", file=REVIEW_YAML, field="analyses")
        frame = a.frame
        extras = folder.row_extras.get(a.id) or tuple(RowExtra() for _ in range(len(frame)))
        if len(extras) != len(frame):
            raise ValueError(f"row_extras of analysis {a.id} do not match its rows")
        order = {name: i for i, name in enumerate(spec.subgroups)}
        recs = frame.to_dict("records")
        keyed = []
        for pos, (rec, extra) in enumerate(zip(recs, extras, strict=True)):
            label = str(rec.get("subgroup") or "") if a.has_subgroups else ""
            keyed.append(((order.get(label, len(order)), str(rec["study"]).casefold(),
                           str(rec["study"]), pos), rec, label, extra))
        for _, rec, label, extra in sorted(keyed, key=lambda t: t[0]):
            cells = [a.id, label, str(rec["study"])]
            cells += [_fmt(rec.get(c)) for c in NUMERIC_COLUMNS]
            cells += [extra.footnote or "", "" if extra.source_row is None else str(extra.source_row)]
            cells += [_cell(_own_design(rec, study_design) if c == "design" else rec.get(c), c)
                      for c in extra_cols]
            out.append(cells)
    if "design" in extra_cols and not any(row[len(OUTCOME_COLUMNS) + extra_cols.index("design")]
                                          for row in out):  # every design was the study's own
        i = len(OUTCOME_COLUMNS) + extra_cols.index("design")
        out = [row[:i] + row[i + 1:] for row in out]
        extra_cols.remove("design")
    return csv_text((*OUTCOME_COLUMNS, *extra_cols), out)


def _own_design(rec: Mapping[str, Any], study_design: Mapping[str, str | None]) -> Any:
    """A row's design as the row states it: none when it is its study's design (studies.csv),
    which the reader gives every row of the study that states none (a faithful round trip)."""
    design = rec.get("design")
    return None if design is not None and design == study_design.get(str(rec["study"])) else design


def _cell(value: Any, col: str) -> str:
    if col in DESIGN_TEXT:
        return "" if value is None or (isinstance(value, float) and value != value) else str(value)
    return _fmt(value)


def write_folder(folder: ReviewFolder, out_dir: str | Path) -> Path:
    """Write ``folder`` to ``out_dir`` atomically; the texts are validated by reading them back
    first, so an invalid review never reaches the disk. Returns ``out_dir``."""
    out_dir = Path(out_dir)
    texts = render_folder(folder)
    parse_folder(texts, out_dir)  # raises DataError naming the file if the review is invalid
    write_atomically(out_dir, texts)
    return out_dir


def write_atomically(out_dir: Path, texts: Mapping[str, str]) -> None:
    """Write the files into a new folder next to ``out_dir`` and rename it into place.

    ``out_dir`` may be missing, empty, or a review folder (:func:`is_review_folder`); its other
    files are carried over. Anything else is refused with :class:`TrialsynthError`.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() or out_dir.is_symlink():
        if out_dir.is_symlink() or not out_dir.is_dir():
            raise TrialsynthError(f"{out_dir} exists and is not a folder; refusing to replace it")
        if any(out_dir.iterdir()) and not is_review_folder(out_dir):
            raise TrialsynthError(f"{out_dir} is not empty and is not a trialsynth review folder "
                                  "(no review.yaml with 'schema: trialsynth-review/1'); refusing "
                                  "to overwrite it")
    replace_folder(out_dir, texts, keep_foreign=True)  # keep what is not ours (README, notes)
