"""``import_review``: any source the readers take, written as a review folder; JSON export.

A source states only part of what a review folder holds. What it does not state is filled with
explicit placeholders: names trialsynth reads from the data are marked ``inferred`` and defaults to
be checked ``provisional``, each with its ``basis`` (trialsynth.review.protocol). Nothing is invented
silently. The library knows no particular review: what a reviewer knows beyond the source (names
of comparisons, the question, MIDs, ...) is written into the review folder, as the flagship's
``examples/nmda-chronic-pain/review.yaml`` does.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trialsynth._atomic import output_lock, refuse_overlap, writing
from trialsynth._json import json_safe
from trialsynth.errors import DataError
from trialsynth.readers.bounded import open_regular, read_bounded
from trialsynth.readers.folder import (
    NUMERIC_COLUMNS,
    ReviewFolder,
    RowExtra,
    StudyRecord,
    is_review_folder,
    read_folder,
    write_folder,
)
from trialsynth.readers.folder_rob import RobRecord, records_from_revman_rows, rob_sort_key
from trialsynth.review import Analysis, Review
from trialsynth.review.arms import review_arms
from trialsynth.review.protocol import SCHEMA, Protocol, slug

__all__ = ["JSON_SCHEMA", "build_folder", "export_json", "folder_json", "import_review",
           "protocol_from_review", "read_source", "write_json"]

JSON_SCHEMA = "trialsynth-review-json/1"
DATA_ROWS_MARKERS = ("Analysis.group", "Analysis.number", "Study")
SUBGROUP_ANALYSIS = re.compile(r":\s*(?P<factor>[^:]+?)\s+subgroup analysis\s*$", re.IGNORECASE)
_COMPARISON_PREFIX = re.compile(r"^[^:]*\bversus\b[^:]*:\s*", re.IGNORECASE)


def import_review(source: str | Path, out_dir: str | Path) -> Path:
    """Write ``source`` (a RevMan file any reader takes, or a review folder) as a review folder
    in ``out_dir`` (atomically; see :func:`trialsynth.readers.folder.write_folder`). ``source`` is
    only read: an ``out_dir`` that is ``source``, lies inside it or holds it is refused.
    Returns ``out_dir``."""
    refuse_overlap([source], [out_dir])
    return write_folder(build_folder(source), out_dir)


def build_folder(source: str | Path) -> ReviewFolder:
    """The review folder for ``source`` in memory (a review folder is read as it is)."""
    source = Path(source)
    if source.is_dir() and is_review_folder(source):
        return read_folder(source)
    raw = _data_rows(source)
    review = read_source(source, data_rows=raw is not None)
    extras = {a.id: tuple(RowExtra(_footnote(raw, int(r)), int(r)) for r in a.frame["row"])
              for a in review.analyses}
    return ReviewFolder(protocol=protocol_from_review(review, source=source), review=review,
                        studies=_studies(review), risk_of_bias=_rob_records(review, raw),
                        row_extras=extras, path=None)


def read_source(source: Path, *, data_rows: bool | None = None) -> Review:
    """A :class:`Review` from any format: ``trialsynth.readers.read_review`` when the package offers
    it, else (and for R-style RevMan Web data rows, whose risk of bias this module reads itself)
    the data-rows reader."""
    import trialsynth.readers
    from trialsynth.readers import revman_rows

    if data_rows is None:
        data_rows = _data_rows(source) is not None
    if data_rows:  # risk of bias is read from the rows by this module
        return revman_rows.read_review(source)
    reader = getattr(trialsynth.readers, "read_review", None) or revman_rows.read_review
    result = reader(source)
    return result.review if isinstance(result, ReviewFolder) else result


# ---------------------------------------------------------------------------------------------
# Tables from the source
# ---------------------------------------------------------------------------------------------
def _data_rows(source: Path) -> dict[int, dict[str, str]] | None:
    """The records of an R-style RevMan Web data-rows CSV by spreadsheet row (header = 1), else
    None. Only the columns a :class:`Review` does not carry are used from them (footnotes,
    risk-of-bias domains); anything unreadable is left to the reader, which names the problem."""
    from trialsynth.readers.revman_csv import csv_records
    from trialsynth.readers.revman_rows import MAX_BYTES

    if source.suffix.lower() != ".csv":
        return None
    try:
        text = read_bounded(source, str(source), MAX_BYTES).decode("utf-8-sig")
    except (DataError, UnicodeDecodeError):
        return None
    try:
        records = csv_records(text, str(source))  # blank lines dropped cheaply
    except DataError:
        return None
    if not records:
        return None
    header = [h.strip() for h in records[0][1]]
    if not all(m in header for m in DATA_ROWS_MARKERS):
        return None
    out = {i: dict(zip(header, rec, strict=True)) for i, rec in records[1:]
           if len(rec) == len(header)}
    return out


def _footnote(raw: Mapping[int, Mapping[str, str]] | None, row: int) -> str | None:
    if raw is None or row not in raw:
        return None
    text = (raw[row].get("Footnotes") or "").strip()
    return None if text in ("", "NA") else scrub(text)


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\b(?:tel|telephone|phone|fax|mobile)\b\.?:?\s*\+?[\d ()./-]{6,}\d",
                    re.IGNORECASE)


def scrub(text: str | None) -> str | None:
    """Personal contact details (e-mail addresses, labelled phone/fax numbers) removed from text
    copied out of a source file (shared/data/PROVENANCE.md)."""
    if not text:
        return text
    return _PHONE.sub("[phone removed]", _EMAIL.sub("[e-mail removed]", text))


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or str(x).strip() in ("", "NA")


def _studies(review: Review) -> tuple[StudyRecord, ...]:
    """Studies as the source describes them (:class:`~trialsynth.review.StudyInfo`), keyed by the
    name the data rows use, plus any study of the data rows the source does not describe."""
    years: dict[str, str | None] = {}
    where: dict[str, int] = {}
    for a in review.analyses:
        for study, year, row in zip(a.frame["study"], a.frame["year"], a.frame["row"], strict=True):
            y = None if _missing(year) else str(year).strip()
            study = str(study)
            if study in years and y is not None and years[study] not in (None, y):
                raise DataError(f"study {study!r} has year {years[study]} in row {where[study]} "
                                f"and {y} here; one study has one year", file=review.source,
                                row=int(row), field="year")
            if years.get(study) is None:
                years[study], where[study] = y, int(row)
    out: dict[str, StudyRecord] = {}
    for info in getattr(review, "studies", ()):
        key = info.id if info.id in years and info.name not in years else info.name
        if key in out:
            raise DataError(f"two studies of the source are both named {key!r}",
                            file=review.source, field="studies")
        extra = tuple((f"x_{k}", scrub(str(v)) or "") for k, v in
                      sorted(info.characteristics.items()) if not _missing(v))
        out[key] = StudyRecord(study=key, name=info.name, year=info.year or years.get(key),
                               source_id=info.id if info.id != key else None,
                               status=info.status, data_source=info.data_source, extra=extra)
    for study, year in years.items():
        out.setdefault(study, StudyRecord(study=study, name=study, year=year))
    return tuple(out.values())


def _result_of(outcome: str | None, ids: set[str]) -> str | None:
    """The analysis id an assessment's outcome names ("1.2 Pain ..." -> "1.2"), else None."""
    m = re.match(r"^\s*(\d+\.\d+)\b", outcome or "")
    return m[1] if m and m[1] in ids else (outcome if outcome in ids else None)


def _from_assessments(assessments: Sequence[Any], ids: set[str]) -> list[RobRecord]:
    """Records from Rob2Assessment / Rob1Assessment objects (a reader's ``risk_of_bias``)."""
    from trialsynth.review.rob1 import Rob1Assessment

    out: dict[tuple[str, str | None, str, str], RobRecord] = {}

    def add(r: RobRecord) -> None:
        out.setdefault((r.study, r.result, r.tool, r.domain), r)

    for a in assessments:
        result = _result_of(getattr(a, "outcome", None), ids)
        if isinstance(a, Rob1Assessment):
            for key, d in a.domains.items():
                add(RobRecord(a.study, result, "rob1", key, d.judgement, scrub(d.support) or ""))
            continue
        for key, d in a.domains.items():
            answers = "; ".join(f"{q}={v}" for q, v in d.answers.items()) \
                if d.basis == "algorithm" else ""
            add(RobRecord(a.study, result, "rob2", key, None if answers else d.proposed,
                          scrub(d.support) or "", answers, d.direction,
                          d.final if d.overridden else None,
                          d.override_rationale if d.overridden else None))
        if a.overall is not None and (a.overall.basis == "stated" or a.overall.overridden
                                      or a.overall.support):
            add(RobRecord(a.study, result, "rob2", "overall", a.overall.final,
                          scrub(a.overall.support) or ""))
    return list(out.values())


def _rob_records(review: Review, raw: Mapping[int, Mapping[str, str]] | None
                 ) -> tuple[RobRecord, ...]:
    """Risk-of-bias records: RevMan Web domain columns when the source has them, else the
    overall judgement each study row carries (``rob_overall``), per result."""
    if raw is not None:
        rows, ids, nums = [], [], []
        for a in review.analyses:
            for r in a.frame["row"]:
                nums.append(int(r))
                rec = dict(raw[int(r)])
                for k in rec:
                    if k.endswith("..support."):
                        rec[k] = scrub(rec[k]) or ""
                rows.append(rec)
                ids.append(a.id)
        return records_from_revman_rows(rows, ids, file=review.source, rownums=nums)
    stated = getattr(review, "risk_of_bias", ())
    if stated:
        return tuple(sorted(_from_assessments(stated, {a.id for a in review.analyses}),
                            key=rob_sort_key))
    from trialsynth.review.rob1 import normalise_rob1_judgement
    from trialsynth.review.rob2 import normalise_rob2_judgement

    out: dict[tuple[str, str], RobRecord] = {}
    for a in review.analyses:
        for study, level in zip(a.frame["study"], a.frame["rob_overall"], strict=True):
            if _missing(level):
                continue
            try:
                tool, judged = "rob2", normalise_rob2_judgement(level)
            except DataError:
                tool, judged = "rob1", normalise_rob1_judgement(level)
            out.setdefault((str(study), a.id), RobRecord(str(study), a.id, tool, "overall", judged))
    return tuple(sorted(out.values(), key=rob_sort_key))


# ---------------------------------------------------------------------------------------------
# The protocol: what the source states, and explicit placeholders for the rest
# ---------------------------------------------------------------------------------------------
_FORMATS = {"revman5-rm5": "rm5", "rm5": "rm5", "revman5-csv": "revman5-csv",
            "revman-web-package": "revman-web-package",
            "revman-web-data-rows": "revman-web-data-rows", "trialsynth-folder": "trialsynth-folder"}


def _format(source: Path, review: Review) -> str:
    """The source format in review.yaml's words: as the reader says, else from the file name."""
    stated = _FORMATS.get(str(getattr(review, "format", "")))
    if stated is not None and (stated != "revman-web-data-rows" or source.suffix.lower() == ".csv"):
        return stated
    name = source.name.lower()
    if name.endswith((".rm5", ".rm5.gz")):
        return "rm5"
    if name.endswith(".zip") or source.is_dir():
        return "revman-web-package"
    return "other"


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open_regular(path) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def base_outcome_name(name: str) -> str:
    """An analysis name without a leading "X versus Y:" and a trailing subgroup-analysis part."""
    return SUBGROUP_ANALYSIS.sub("", _COMPARISON_PREFIX.sub("", name)).strip()


def _subgroups(a: Analysis) -> list[str]:
    return list(dict.fromkeys(str(s) for s in a.frame["subgroup"])) if a.has_subgroups else []


def _settings(a: Analysis, conventions: str) -> dict[str, Any]:
    """An analysis' settings in review.yaml form: options equal to the review-wide defaults
    (confidence 0.95, no HKSJ, ``conventions``) are left to ``settings``."""
    s = a.settings
    out: dict[str, Any] = {"measure": s.measure, "method": s.method, "totals": s.totals,
                           "inferred": bool(s.inferred), "notes": list(s.notes)}
    if s.conventions != conventions:
        out["conventions"] = s.conventions
    if s.weight_max_abs_diff is not None and math.isfinite(s.weight_max_abs_diff):
        out["weight_max_abs_diff"] = float(s.weight_max_abs_diff)
    for key, default in (("confidence_level", 0.95), ("hksj", False),
                         ("study_confidence_level", 0.95), ("swap_events", False),
                         ("subgroup_test", True)):
        value = getattr(s, key, default)
        if value != default:
            out[key] = value
    stated = getattr(s, "stated", None)
    if stated:
        out["stated"] = {str(k): str(v) for k, v in stated.items()}
    return out


def _stored(a: Analysis) -> dict[str, Any] | None:
    st = getattr(a, "stored_pooled", None)
    if st is None:
        return None

    def est(e: Any) -> dict[str, Any] | None:
        return None if e is None else {k: v for k, v in asdict(e).items() if v is not None}

    out = {"overall": est(st.overall), "subgroups": {str(k): est(v) for k, v in
                                                     st.subgroups.items()},
           "subgroup_test": None if st.subgroup_test is None else asdict(st.subgroup_test),
           "notes": list(st.notes), "results_stored": st.results_stored}
    return json_safe(out)


def _data_source(review: Review, source: Path) -> dict[str, Any]:
    skipped = [{k: v for k, v in asdict(s).items() if v is not None}
               for s in getattr(review, "skipped", ())]
    return {"file": source.name, "format": _format(source, review), "sha256": _sha256(source),
            "stored_decimals": getattr(review, "stored_decimals", None),
            "date": getattr(review, "file_date", None),
            "notes": [scrub(n) for n in getattr(review, "notes", ())],
            "skipped_analyses": skipped}


_QUOTE = re.compile(r"When citing this record quote \"([^\"]{1,300})\"")


def _quoted_citation(notes: Sequence[str]) -> str | None:
    """The citation a Cochrane "Data only" file asks for ("When citing this record quote
    "Cochrane Database of Systematic Reviews 2013, Issue 11"."), if a note has one."""
    return next((m[1].strip(" .") for n in notes if (m := _QUOTE.search(n))), None)


def protocol_from_review(review: Review, *, source: Path | None = None) -> Protocol:
    """A protocol for ``review``: what the source states, placeholders marked for the rest."""
    conventions = Counter(a.settings.conventions for a in review.analyses).most_common(1)
    conv = conventions[0][0] if conventions else "revman"
    doi = review.doi if review.doi and re.match(r"^10\.\d{4,9}/\S+$", review.doi) else None
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "review": {"id": review.id or slug(Path(review.source).stem), "doi": doi,
                   "url": review.url, "title": getattr(review, "title", None),
                   "published": getattr(review, "published", None),
                   "search_date": getattr(review, "search_date", None),
                   "citation": _quoted_citation(getattr(review, "notes", ()))},
        "question": {"outcomes": []},
        "comparisons": [],
        "analyses": [],
        "settings": {"conventions": conv},
    }
    if source is not None:
        data["data_source"] = _data_source(review, source)
    included = [s for s in getattr(review, "studies", ()) if s.status == "included"]
    if included:  # rm5 STUDIES/INCLUDED_STUDIES, RevMan Web study information
        data["included_studies"] = {
            "studies": len(included),
            "source": f"the included-studies list of {Path(review.source).name}"}
    names = dict(getattr(review, "comparisons", None) or {})
    for g in dict.fromkeys(a.group for a in review.analyses):
        stated = names.get(g) or next((a.comparison_name for a in review.analyses
                                       if a.group == g and getattr(a, "comparison_name", None)),
                                      None)
        data["comparisons"].append(
            {"id": str(g), "name": stated} if stated else
            {"id": str(g), "name": f"Comparison {g}", "inferred": True,
             "basis": "the source numbers this comparison but does not name it; placeholder "
                      "name, to be replaced"})
    outcomes: dict[tuple[str, str | None], str] = {}
    taken: set[str] = set()
    types: dict[str, set[str | None]] = {}
    arms = review_arms([(a.id, a.group, a.name) for a in review.analyses],
                       {g: names.get(g) or None for g in {a.group for a in review.analyses}},
                       {a.id: getattr(a, "labels", None) for a in review.analyses})

    def base_of(a: Analysis) -> str:  # a group organised by outcome names the outcome
        arm = arms[a.id]
        return arm.outcome if arm.organised_by == "outcome" else base_outcome_name(a.name)

    for a in review.analyses:
        otype = a.data_type if a.data_type != "generic" else None
        types.setdefault(base_of(a), set()).add(otype)
    for a in review.analyses:
        base = base_of(a)
        otype = a.data_type if a.data_type != "generic" else None
        key = (base, otype)
        if key not in outcomes:
            name = base if len(types[base]) == 1 else f"{base} ({otype or 'generic'})"
            outcomes[key] = slug(name, taken)
            data["question"]["outcomes"].append({
                "id": outcomes[key], "name": name, "type": otype,
                "inferred": True,
                "basis": "one outcome per analysis name (trialsynth import); its direction of "
                         "benefit, scale and minimal important difference are not stated by the "
                         "source"})
        spec: dict[str, Any] = {
            "id": a.id, "name": a.name, "data_type": a.data_type, "outcome": outcomes[key],
            "subgroups": _subgroups(a), "applicability": a.applicability,
            "inferred": True, "basis": "outcome read from the analysis name" if
            arms[a.id].organised_by == "comparison" else "outcome read from the comparison "
            "group (the review is organised by outcome: the analysis name is the comparison)",
            "settings": _settings(a, conv)}
        factor = SUBGROUP_ANALYSIS.search(a.name)
        if factor:
            spec["subgroup_factor"] = factor["factor"]
        stored = _stored(a)
        if stored is not None:
            spec["stored"] = stored
        labels = getattr(a, "labels", None)
        if labels is not None:
            spec["labels"] = {k: scrub(v) for k, v in labels.to_dict().items() if v}
        data["analyses"].append(spec)
    return Protocol.model_validate(data)


# ---------------------------------------------------------------------------------------------
# JSON export
# ---------------------------------------------------------------------------------------------


def _rows(a: Analysis, extras: Sequence[RowExtra] | None) -> list[dict[str, Any]]:
    out = []
    for i, rec in enumerate(a.frame.to_dict("records")):
        row = {str(k): (None if isinstance(v, float) and math.isnan(v) else v)
               for k, v in rec.items()}
        for col in NUMERIC_COLUMNS:
            row.setdefault(col, None)
        if extras is not None:
            row["footnote"], row["source_row"] = extras[i].footnote, extras[i].source_row
        out.append(row)
    return out


def export_json(review: Review, protocol: Protocol, *, studies: Sequence[StudyRecord] = (),
                risk_of_bias: Sequence[RobRecord] = (),
                row_extras: Mapping[str, Sequence[RowExtra]] | None = None) -> dict[str, Any]:
    """The whole review as one JSON-ready document (schema ``trialsynth-review-json/1``):
    protocol, studies, every analysis with its settings (as stored and as resolved) and study
    rows, and the risk-of-bias records. NaN becomes null."""
    specs = {a.id: a for a in protocol.analyses}
    analyses = []
    for a in review.analyses:
        resolved = asdict(protocol.resolved_settings(a.id)) if a.id in specs else None
        analyses.append({
            "id": a.id, "comparison": a.group, "number": a.number, "name": a.name,
            "data_type": a.data_type, "applicability": a.applicability,
            "settings": a.settings.to_dict(), "resolved_settings": resolved,
            "rows": _rows(a, None if row_extras is None else row_extras.get(a.id))})
    doc = {
        "schema": JSON_SCHEMA,
        "review": {"id": review.id, "doi": review.doi, "url": review.url, "source": review.source,
                   "notes": list(getattr(review, "notes", ()))},
        "protocol": protocol.model_dump(mode="json", by_alias=True),
        "studies": [{**{k: v for k, v in asdict(s).items() if k != "extra"}, **dict(s.extra)}
                    for s in studies],
        "analyses": analyses,
        "risk_of_bias": [{k: v for k, v in asdict(r).items() if k != "row"}
                         for r in sorted(risk_of_bias, key=rob_sort_key)],
    }
    return json_safe(doc)


def folder_json(folder: ReviewFolder) -> dict[str, Any]:
    """:func:`export_json` of everything a :class:`ReviewFolder` holds."""
    return export_json(folder.review, folder.protocol, studies=folder.studies,
                       risk_of_bias=folder.risk_of_bias, row_extras=folder.row_extras)


def write_json(doc: Mapping[str, Any], path: str | Path,
               dumps: Callable[..., str] = json.dumps) -> Path:
    """Write ``doc`` as UTF-8 JSON (LF, no NaN) atomically: a temporary file renamed into place."""
    path = Path(path)
    text = dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    with output_lock(path), writing(path):  # one writer; cleans after a killed earlier one
        tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return path
