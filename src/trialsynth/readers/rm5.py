"""Read a RevMan 5 review file (``.rm5``, RevMan 5's XML; gzip-compressed ``.rm5.gz`` accepted).

Reads comparisons, outcomes (dichotomous, continuous, generic inverse variance, O−E and
variance), subgroups, study data, the analysis settings as the file states them, RevMan's stored
results (overall, subgroups, test for subgroup differences, per-study effect, CI and weight),
RoB 1 tables (``QUALITY_ITEM``) and study characteristics. Works for "StatsDataOnly" and full
files alike: only ``ANALYSES_AND_DATA``, ``STUDIES_AND_REFERENCES``, ``QUALITY_ITEMS`` and
``CHARACTERISTICS_OF_STUDIES`` are read. Nothing of ``COVER_SHEET`` is kept except the title
(names, e-mails, addresses and ``MODIFIED_BY`` attributes are never copied), and e-mail-like
strings in copied text are replaced.

The file is untrusted: its size is bounded (also after decompression), the XML is parsed with
:mod:`defusedxml` and any DTD, entity declaration or external reference is refused. Every problem
is a :class:`~trialsynth.errors.DataError` naming the file, the XML line and element, and the
attribute. The file is only read.

Settings (RevMan 5 attribute → trialsynth), following Deeks & Higgins 2010 and
docs/methods/revman-conventions.md: ``METHOD`` MH / IV / PETO with ``RANDOM`` NO/YES →
``MH``/``MH_RANDOM``, ``IV``/``DL``, ``PETO``; continuous and generic outcomes are inverse
variance; ``LOG_DATA=YES`` generic data are log ratios (``GENERIC_LOG``); O−E data become
generic yᵢ = (O−E)/V, SE = 1/√V on the log scale, whose common-effect pooling Σ(O−E)/ΣV is
Peto's (Yusuf et al. 1985). ``TOTALS`` YES/SUB/NO → totals overall / subgroups / none.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import xml.etree.ElementTree as ET
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from trialsynth._json import finite
from trialsynth.errors import DataError
from trialsynth.readers.revman_csv import read_bounded
from trialsynth.review import (
    Analysis,
    DataType,
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
from trialsynth.review.arms import arm_labels
from trialsynth.review.rob1 import Rob1Assessment, Rob1Domain, rob1_domain_key

MAX_BYTES = 500 * 1024 * 1024  # the file, and the XML after decompression
MAX_TEXT = 100_000  # characters kept of one free-text field
DATA_TYPES: dict[str, DataType] = {"DICH": "dichotomous", "CONT": "continuous", "IV": "generic",
                                   "OE": "generic"}
# frame column <- rm5 attribute of *_DATA, per outcome kind
INPUTS = {
    "DICH": {"events_t": "EVENTS_1", "n_t": "TOTAL_1", "events_c": "EVENTS_2", "n_c": "TOTAL_2"},
    "CONT": {"mean_t": "MEAN_1", "sd_t": "SD_1", "n_t": "TOTAL_1", "mean_c": "MEAN_2",
             "sd_c": "SD_2", "n_c": "TOTAL_2"},
    "IV": {"yi": "ESTIMATE", "se": "SE", "n_t": "TOTAL_1", "n_c": "TOTAL_2"},
    "OE": {"o_e": "O_E", "var": "VAR", "n_t": "TOTAL_1", "n_c": "TOTAL_2"},
}
OPTIONAL = frozenset({("IV", "TOTAL_1"), ("IV", "TOTAL_2"), ("OE", "TOTAL_1"), ("OE", "TOTAL_2")})
COUNTS = frozenset({"EVENTS_1", "EVENTS_2", "TOTAL_1", "TOTAL_2"})
NON_NEGATIVE = frozenset({"SD_1", "SD_2", "SE", "VAR"})
STORED_STUDY = {"stored_effect": "EFFECT_SIZE", "stored_ci_low": "CI_START",
                "stored_ci_high": "CI_END", "stored_weight": "WEIGHT"}
SETTING_ATTRS = ("METHOD", "EFFECT_MEASURE", "RANDOM", "TOTALS", "SUBGROUPS", "SUBGROUP_TEST",
                 "SWAP_EVENTS", "LOG_DATA", "CI_STUDY", "CI_TOTAL", "SCALE", "SORT_BY", "UNITS")
TOTALS: dict[str, Totals] = {"YES": "overall", "SUB": "subgroups", "NO": "none"}
STATUS = {"INCLUDED_STUDIES": "included", "EXCLUDED_STUDIES": "excluded",
          "AWAITING_STUDIES": "awaiting", "ONGOING_STUDIES": "ongoing"}
_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
_REVIEW_ID = re.compile(r"CD\d{6}(?:\.pub\d+)?", re.IGNORECASE)


class _Doc:
    """The parsed file with the XML line of every element (for error messages)."""

    def __init__(self, data: bytes, src: str) -> None:
        self.src = src
        self.lines: dict[int, int] = {}
        builder = _LineBuilder(self.lines)
        parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                                  forbid_external=True)
        builder.expat = parser.parser
        try:
            parser.feed(data)
            self.root: ET.Element = parser.close()
        except DefusedXmlException as exc:
            raise DataError(f"refused: the XML declares a DTD, an entity or an external "
                            f"reference ({type(exc).__name__}); RevMan 5 files have none",
                            file=src) from None
        except ET.ParseError as exc:
            line, col = getattr(exc, "position", (None, None))
            raise DataError(f"not well-formed XML at line {line}, column {col} "
                            f"({str(exc).split(':')[0]})", file=src) from None
        except (LookupError, ValueError) as exc:  # expat: an encoding it cannot decode
            declared = re.search(rb"""encoding\s*=\s*["']([^"']{0,40})""", data[:200])
            name = declared.group(1).decode("ascii", "replace") if declared else "?"
            raise DataError(f"the XML declares the encoding {name!r}, which cannot be read "
                            f"({exc}); RevMan 5 files are ISO-8859-1 or UTF-8", file=src) from None

    def line(self, el: ET.Element) -> int | None:
        return self.lines.get(id(el))

    def fail(self, el: ET.Element, message: str, attr: str | None = None, ctx: str = "") -> DataError:
        return DataError(f"line {self.line(el)}, element <{el.tag}>{ctx}: {message}",
                         file=self.src, field=attr)


class _LineBuilder(ET.TreeBuilder):
    def __init__(self, lines: dict[int, int]) -> None:
        super().__init__()
        self.lines = lines
        self.expat: Any = None

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:  # type: ignore[override]
        el = super().start(tag, attrs)
        self.lines[id(el)] = self.expat.CurrentLineNumber
        return el


def read_rm5(path: str | Path) -> Review:
    """Read a RevMan 5 ``.rm5`` file (plain or gzip-compressed) into a :class:`Review`."""
    path = Path(path)
    src = str(path)
    doc = _Doc(_load(path, src), src)
    root = doc.root
    if root.tag != "COCHRANE_REVIEW":
        raise doc.fail(root, "not a RevMan 5 review (the root element should be "
                             "<COCHRANE_REVIEW>)")
    studies = _studies(root)
    names = {s.id: s for s in studies}
    comparisons: dict[int, str] = {}
    analyses: list[Analysis] = []
    skipped: list[Skipped] = []
    data = root.find("ANALYSES_AND_DATA")
    for cmp_el in data.findall("COMPARISON") if data is not None else []:
        no = _number_attr(doc, cmp_el, "NO")
        cname = _text(cmp_el.find("NAME"))
        comparisons[no] = cname
        for out in cmp_el:
            kind = out.tag.removesuffix("_OUTCOME")
            if kind == out.tag:
                continue
            oid = f"{no}.{_number_attr(doc, out, 'NO')}"
            name = _text(out.find("NAME"))
            if kind not in DATA_TYPES:
                skipped.append(Skipped(oid, name, f"{kind} outcomes (<{out.tag}>) are not "
                                                  f"supported", cname))
                continue
            settings, why = _settings(doc, out, kind, oid)
            if settings is None:
                skipped.append(Skipped(oid, name, why or "unsupported settings", cname))
                continue
            analyses.append(_analysis(doc, out, kind, no, oid, name, cname, settings, names))
    title = _text(root.find("COVER_SHEET/TITLE")) or None  # the only COVER_SHEET item kept
    cite = None
    if title and (m := re.search(r"\s*\[Data only\.(.*)\]\s*$", title)):
        title, cite = title[:m.start()].strip(), f"Data only.{m.group(1)}".strip()
    doi = root.get("DOI") or None
    rid = next((m.group(0).upper().replace(".PUB", ".pub") for s in (doi, path.name)
                if s and (m := _REVIEW_ID.search(s))), None)
    return Review(id=rid, doi=doi, url=None, source=path.name, analyses=tuple(analyses),
                  format="revman5-rm5", title=title, comparisons=comparisons,
                  studies=studies, risk_of_bias=_risk_of_bias(doc, root, names),
                  skipped=tuple(skipped), stored_decimals=None,
                  notes=(f"RevMan {root.get('REVMAN_SUB_VERSION') or root.get('REVMAN_VERSION')}"
                         f" file", *((cite,) if cite else ())), **_dates(root, cite))


_ISSUE = re.compile(r"\b((?:19|20)\d\d), Issue (\d{1,2})\b")
_MODIFIED = re.compile(r"^\s*(\d{4}-\d\d-\d\d)\b")


def _dates(root: ET.Element, cite: str | None) -> dict[str, str | None]:
    """The dates the file states: the issue this version was published in
    (``DATES/LAST_CITATION_ISSUE``, else ``REVIEW_PUBLISHED``, else the "[Data only. ... quote
    "... 2013, Issue 11"]" note of a Cochrane data-only file),
    the last search (``DATES/LAST_SEARCH/DATE``) and the file's ``MODIFIED`` date. Only
    ``COVER_SHEET/DATES`` is read: no person, address or contact detail of the cover sheet."""
    dates = root.find("COVER_SHEET/DATES")
    published = search = None
    if dates is not None:
        for tag in ("LAST_CITATION_ISSUE", "REVIEW_PUBLISHED"):  # this version, else the first
            pub = dates.find(tag)
            if pub is not None and (pub.get("YEAR") or "").strip():
                issue = (pub.get("ISSUE") or "").strip()
                published = pub.get("YEAR", "").strip() + (f", Issue {issue}" if issue else "")
                break
        d = dates.find("LAST_SEARCH/DATE")
        if d is not None and (d.get("YEAR") or "").strip():
            parts = [(d.get(k) or "").strip() for k in ("YEAR", "MONTH", "DAY")]
            search = "-".join(x.zfill(2) if i else x for i, x in enumerate(parts) if x)
    if published is None and cite and (m := _ISSUE.search(cite)):
        published = f"{m[1]}, Issue {m[2]}"
    modified = _MODIFIED.match(root.get("MODIFIED") or "")
    return {"published": published, "search_date": search,
            "file_date": modified[1] if modified else None}


def _load(path: Path, src: str) -> bytes:
    raw = read_bounded(path, src, MAX_BYTES, kind="a RevMan 5 file")
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            data = gz.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a corrupt deflate stream
        raise DataError(f"not a readable gzip file ({exc})", file=src) from None
    if len(data) > MAX_BYTES:
        raise DataError(f"decompresses to more than the limit of {MAX_BYTES} bytes", file=src)
    return data


# ------------------------------------------------------------------------------------------
# settings


def _settings(doc: _Doc, out: ET.Element, kind: str, oid: str) -> tuple[Inferred | None, str]:
    """The outcome's settings mapped to trialsynth's (measure, method), or None and why not."""
    stated = {a: out.get(a, "") for a in SETTING_ATTRS if out.get(a) is not None}
    ctx = f" (analysis {oid})"
    random = _flag(doc, out, "RANDOM", False, ctx)
    method = out.get("METHOD", "IV").upper() if kind == "DICH" else "IV"
    notes = [f"settings stated in the file: {', '.join(f'{k}={v}' for k, v in stated.items())}"]
    if kind == "DICH":
        measure = out.get("EFFECT_MEASURE", "").upper()
        if method == "PETO" or measure in ("PETO_OR", "PETO"):
            if random:
                return None, "Peto method with random effects is not a RevMan 5 combination"
            measure, code = "PETO_OR", "PETO"
        elif measure in ("RR", "OR", "RD") and method in ("MH", "IV"):
            code = {("MH", False): "MH", ("MH", True): "MH_RANDOM", ("IV", False): "IV",
                    ("IV", True): "DL"}[method, random]
        else:
            return None, f"effect measure {measure!r} with method {method!r} is not supported"
    elif kind == "CONT":
        measure = out.get("EFFECT_MEASURE", "MD").upper()
        if measure not in ("MD", "SMD"):
            return None, f"continuous effect measure {measure!r} is not supported"
        code = "DL" if random else "IV"
    else:
        log = kind == "OE" or _flag(doc, out, "LOG_DATA", False, ctx)
        measure, code = ("GENERIC_LOG" if log else "GENERIC"), ("DL" if random else "IV")
        if kind == "OE":
            notes.append("O-E and variance data: yi = (O-E)/V, SE = 1/sqrt(V) on the log scale; "
                         "common-effect inverse variance of these is Peto's sum(O-E)/sum(V)")
    totals = TOTALS.get(out.get("TOTALS", "YES").upper())
    if totals is None:
        raise doc.fail(out, f"TOTALS must be YES, SUB or NO, not {out.get('TOTALS')!r}",
                       "TOTALS", ctx)
    swap = kind == "DICH" and _flag(doc, out, "SWAP_EVENTS", False, ctx)
    if swap:
        notes.append("events and non-events swapped (SWAP_EVENTS=YES): RevMan analysed "
                     "non-events; the frame keeps the events as entered")
    return stated_settings(
        DATA_TYPES[kind], measure, code, totals=totals, stated=stated, notes=notes,
        confidence_level=_level(doc, out, "CI_TOTAL", ctx),
        study_confidence_level=_level(doc, out, "CI_STUDY", ctx), swap_events=swap,
        subgroup_test=_flag(doc, out, "SUBGROUP_TEST", True, ctx)), ""


def _flag(doc: _Doc, el: ET.Element, attr: str, default: bool, ctx: str) -> bool:
    value = el.get(attr)
    if value is None or value == "":
        return default
    if value.upper() not in ("YES", "NO"):
        raise doc.fail(el, f"must be YES or NO, not {value[:40]!r}", attr, ctx)
    return value.upper() == "YES"


def _level(doc: _Doc, el: ET.Element, attr: str, ctx: str) -> float:
    value = el.get(attr) or "95"
    try:
        level = float(value)
    except ValueError:
        level = math.nan
    if not 50 <= level < 100:
        raise doc.fail(el, f"a confidence level in percent (e.g. 95), not {value[:40]!r}",
                       attr, ctx)
    return level / 100


def _number_attr(doc: _Doc, el: ET.Element, attr: str) -> int:
    value = el.get(attr, "")
    if not value.isdigit() or not 0 < int(value) < 1_000_000:
        raise doc.fail(el, f"must be a positive whole number, not {value[:40]!r}", attr)
    return int(value)


# ------------------------------------------------------------------------------------------
# one outcome


def _analysis(doc: _Doc, out: ET.Element, kind: str, group: int, oid: str, name: str,
              cname: str, settings: Inferred, studies: dict[str, StudyInfo]) -> Analysis:
    blocks: list[tuple[ET.Element | None, str | None]] = [(None, None)]
    labels = _subgroup_labels(out.findall(f"{kind}_SUBGROUP"))
    blocks += labels
    rows = []
    for holder, label in blocks:
        for d in (holder if holder is not None else out).findall(f"{kind}_DATA"):
            rows.append(_row(doc, d, kind, oid, label, studies))
    has_sub = len(blocks) > 1
    notes = []
    if settings.totals == "subgroups" and not has_sub:  # subtotals only, and no subgroups
        settings = replace(settings, totals="none")
        notes.append("TOTALS=SUB without subgroups: RevMan pooled nothing")
    extra = ("o_e", "var") if kind == "OE" else ()
    frame = build_frame(rows, settings.data_type, subgroups=has_sub, extra=extra)
    subs: dict[str, StoredEstimate] = {}
    overall = test = None
    if settings.totals == "none":  # RevMan stored zeros (weight 0 for every study): no result
        frame["stored_weight"] = math.nan
        notes.append("RevMan did not pool this analysis (TOTALS=NO); it stored zeros")
    else:
        overall = _stored(doc, out)
        subs = {label: st for sg, label in labels if (st := _stored(doc, sg)) is not None}
        if has_sub and out.get("Q") not in (None, ""):
            test = StoredSubgroupTest(q=_stored_num(doc, out, "Q"), df=None,
                                      p=_stored_num(doc, out, "P_Q"),
                                      i2=_stored_num(doc, out, "I2_Q"))
    computed = not (overall is None and settings.totals != "none" and
                    frame[["stored_effect", "stored_weight"]].isna().all().all())
    if not computed:
        notes.append("RevMan stored empty values instead of results for this analysis")
    return Analysis(
        id=oid, group=group, number=int(oid.split(".")[1]), name=name,
        data_type=settings.data_type, applicability="SUBGROUP_AND_OVERALL", frame=frame,
        settings=settings, comparison_name=cname or None,
        stored_pooled=StoredPooled(overall=overall, subgroups=subs, subgroup_test=test,
                                   notes=tuple(notes), results_stored=computed),
        labels=arm_labels(*(_text(out.find(t)) for t in (
            "GROUP_LABEL_1", "GROUP_LABEL_2", "GRAPH_LABEL_1", "GRAPH_LABEL_2"))))


def _subgroup_labels(subgroups: list[ET.Element]) -> list[tuple[ET.Element | None, str | None]]:
    names = [_text(sg.find("NAME")) or f"Subgroup {sg.get('NO', i + 1)}"
             for i, sg in enumerate(subgroups)]
    return [(sg, f"{n} (subgroup {sg.get('NO', i + 1)})" if names.count(n) > 1 else n)
            for i, (sg, n) in enumerate(zip(subgroups, names, strict=True))]


def _row(doc: _Doc, d: ET.Element, kind: str, oid: str, subgroup: str | None,
         studies: dict[str, StudyInfo]) -> dict[str, Any]:
    sid = d.get("STUDY_ID", "")
    info = studies.get(sid)
    ctx = f" (analysis {oid}, study {info.name if info else sid!r})"
    row: dict[str, Any] = {"row": doc.line(d), "study": info.name if info else sid,
                           "year": info.year if info else None, "subgroup": subgroup}
    for col, attr in INPUTS[kind].items():
        row[col] = _input(doc, d, attr, (kind, attr) in OPTIONAL, ctx)
    if kind == "OE":  # (O−E)/V and 1/√V: Yusuf et al. 1985; Deeks & Higgins 2010
        v = row["var"]
        row["yi"] = row["o_e"] / v if v > 0 else math.nan
        row["se"] = 1 / math.sqrt(v) if v > 0 else math.nan
    if kind == "DICH":
        for arm, (e, n) in (("1", ("events_t", "n_t")), ("2", ("events_c", "n_c"))):
            if row[e] > row[n]:
                row["problem"] = (f"line {doc.line(d)}, attribute 'EVENTS_{arm}': more events "
                                  f"than participants (TOTAL_{arm}); not estimable, left out")
    estimable = d.get("ESTIMABLE", "YES").upper() != "NO"
    for col, attr in STORED_STUDY.items():
        row[col] = _stored_num(doc, d, attr, ctx) if estimable else None
    return row


def _input(doc: _Doc, el: ET.Element, attr: str, optional: bool, ctx: str) -> float:
    raw = el.get(attr)
    if raw is None or raw.strip() == "":
        if raw is None and not optional:
            raise doc.fail(el, "attribute is missing", attr, ctx)
        return math.nan
    try:
        x = float(raw)
    except ValueError:
        raise doc.fail(el, f"not a number: {raw[:40]!r}", attr, ctx) from None
    if not math.isfinite(x):
        raise doc.fail(el, f"not a finite number: {raw[:40]!r}", attr, ctx)
    if attr in COUNTS and (x < 0 or x != int(x)):
        raise doc.fail(el, f"must be a whole number >= 0, not {raw[:40]!r}", attr, ctx)
    if attr in NON_NEGATIVE and x < 0:
        raise doc.fail(el, f"cannot be negative ({raw[:40]!r})", attr, ctx)
    return x


def _stored_num(doc: _Doc, el: ET.Element, attr: str, ctx: str = "") -> float | None:
    """A number RevMan stored: None when empty or non-finite (RevMan writes NaN, ±Infinity)."""
    raw = el.get(attr)
    if raw is None or raw.strip() == "":
        return None
    try:
        x = float(raw)
    except ValueError:
        raise doc.fail(el, f"not a number: {raw[:40]!r}", attr, ctx) from None
    return finite(x)


def _stored(doc: _Doc, el: ET.Element) -> StoredEstimate | None:
    """The pooled result stored on an outcome or subgroup element (None if RevMan stored none)."""
    if el.get("ESTIMABLE", "YES").upper() == "NO":
        return StoredEstimate(estimable=False)
    v = {k: _stored_num(doc, el, a) for k, a in (
        ("estimate", "EFFECT_SIZE"), ("ci_low", "CI_START"), ("ci_high", "CI_END"),
        ("tau2", "TAU2"), ("i2", "I2"), ("q", "CHI2"), ("df", "DF"), ("z", "Z"))}
    if v["estimate"] is None and v["q"] is None:  # empty strings: RevMan computed nothing
        return None
    k = el.get("STUDIES", "")
    return StoredEstimate(**v, k=int(k) if k.isdigit() else None)


# ------------------------------------------------------------------------------------------
# studies, characteristics, risk of bias


def _text(el: ET.Element | None) -> str:
    """Element text with whitespace collapsed and e-mail-like strings removed."""
    if el is None:
        return ""
    text = re.sub(r"\s+", " ", "".join(el.itertext())).strip()[:MAX_TEXT]
    return _EMAIL.sub("[e-mail removed]", text)


def _studies(root: ET.Element) -> tuple[StudyInfo, ...]:
    chars: dict[str, dict[str, str]] = {}
    cos = root.find("CHARACTERISTICS_OF_STUDIES/CHARACTERISTICS_OF_INCLUDED_STUDIES")
    if cos is not None:
        user = {f"CHAR_USER_DEF_{i}": cos.get(f"USER_DEF_{i}_NAME") or f"user defined {i}"
                for i in (1, 2, 3)}
        for inc in cos.findall("INCLUDED_CHAR"):
            chars[inc.get("STUDY_ID", "")] = {
                user.get(c.tag, c.tag.removeprefix("CHAR_").lower()): t
                for c in inc if (t := _text(c))}
    out: list[StudyInfo] = []
    studies = root.find("STUDIES_AND_REFERENCES/STUDIES")
    for group in studies if studies is not None else []:
        for st in group.findall("STUDY"):
            sid = st.get("ID", "")
            if sid:
                out.append(StudyInfo(id=sid, name=st.get("NAME") or sid, year=st.get("YEAR") or None,
                                     data_source=st.get("DATA_SOURCE") or None,
                                     status=STATUS.get(group.tag, group.tag.lower()),
                                     characteristics=chars.get(sid, {})))
    return tuple(out)


def _risk_of_bias(doc: _Doc, root: ET.Element, studies: dict[str, StudyInfo]
                  ) -> tuple[Rob1Assessment, ...]:
    """RoB 1 per study (``QUALITY_ITEM`` entries; RESULT YES = low, NO = high, UNKNOWN =
    unclear, Handbook 5.0 Table 8.5.a). Items judged per outcome group give one assessment per
    group (``outcome`` = group name) besides the study-level one."""
    items = root.find("QUALITY_ITEMS")
    if items is None:
        return ()
    study_level: dict[str, dict[str, Rob1Domain]] = {}
    by_group: dict[tuple[str, str], dict[str, Rob1Domain]] = {}
    for item in items.findall("QUALITY_ITEM"):
        label = _text(item.find("NAME")) or item.get("ID", "item")
        groups = {g.get("ID"): _text(g.find("NAME")) or g.get("ID", "")
                  for g in item.iter("QUALITY_ITEM_DATA_ENTRY_GROUP")}
        for entry in item.iter("QUALITY_ITEM_DATA_ENTRY"):
            result = (entry.get("RESULT") or "").strip()
            if not result:
                continue
            sid = entry.get("STUDY_ID", "")
            gid = entry.get("GROUP_ID")
            target = study_level.setdefault(sid, {}) if gid is None or len(groups) <= 1 else \
                by_group.setdefault((sid, groups.get(gid, gid)), {})
            key = rob1_domain_key(label)
            key = label if key in target else key
            try:
                target[key] = Rob1Domain(key, result, _text(entry.find("DESCRIPTION")), label=label)
            except DataError as err:
                raise doc.fail(entry, err.reason, "RESULT",
                               f" (risk-of-bias item {label!r})") from None
    out = [Rob1Assessment(_name(studies, sid), doms) for sid, doms in study_level.items()]
    out += [Rob1Assessment(_name(studies, sid), {**study_level.get(sid, {}), **doms}, outcome=g)
            for (sid, g), doms in by_group.items()]
    return tuple(out)


def _name(studies: dict[str, StudyInfo], sid: str) -> str:
    return studies[sid].name if sid in studies else sid

