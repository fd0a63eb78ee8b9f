"""The summary-of-findings tables as a Word document (``tables/sof.docx``), laid out as GRADEpro
exports them and as the Cochrane Handbook shows them (Schünemann et al., Handbook v6.4 ch. 14,
Figure 14.1.a): the table's title; a header block (population, setting, intervention,
comparison); the columns Outcomes | Anticipated absolute effects* (95% CI): risk with the
comparator, risk with the intervention | Relative effect (95% CI) | № of participants (studies) |
Certainty of the evidence (GRADE) | Comments; footnote letters as superscripts; and below the
rows, in the table so that it pastes whole, the asterisk note, the abbreviations, the GRADE
Working Group grades of evidence and the explanations.

A formatter only (python-docx): every text comes from the report model's ``sof_tables``. The
file is reproducible: fixed document dates and fixed zip entry times.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

COLUMN_CM = (4.0, 3.3, 4.3, 2.8, 2.6, 3.0, 6.7)  # landscape A4 less 1.5 cm margins: 26.7 cm
FONT = "Arial"
SIZE_PT = 8
FIXED_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
GREY = "E7E9EE"


def _el(tag: str, **attrs: str) -> Any:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    el = OxmlElement(tag)
    for key, value in attrs.items():
        el.set(qn(f"w:{key}"), value)
    return el


def _row(table: Any, spans: Sequence[tuple[int, str | None]], *, header: bool = False,
         fill: str | None = None) -> list[Any]:
    """Append a row of cells built directly as WordprocessingML (python-docx's add_row and
    merge walk the whole table grid for every call): ``spans`` [(columns spanned, vertical
    merge "restart"/"continue"/None)] left to right. Returns the cells to write into."""
    from docx.table import _Cell

    tr = _el("w:tr")
    if header:  # Word repeats header rows at the top of every page
        tr.append(_el("w:trPr")), tr[0].append(_el("w:tblHeader", val="true"))
    cells, col = [], 0
    for span, vmerge in spans:
        tc, pr = _el("w:tc"), _el("w:tcPr")
        twips = round(sum(COLUMN_CM[col:col + span]) * 567)  # 1 cm = 567 twentieths of a point
        pr.append(_el("w:tcW", w=str(twips), type="dxa"))
        if span > 1:
            pr.append(_el("w:gridSpan", val=str(span)))
        if vmerge:
            pr.append(_el("w:vMerge", val=vmerge))
        if fill:
            pr.append(_el("w:shd", val="clear", color="auto", fill=fill))
        tc.append(pr)
        tc.append(_el("w:p"))
        tr.append(tc)
        cells.append(_Cell(tc, table))
        col += span
    table._tbl.append(tr)
    return cells


def _write(cell: Any, parts: Sequence[tuple[str, str]], *, bold: bool = False,
           new_paragraph: bool = False) -> None:
    """Add ``parts`` [(text, style)] to ``cell``; style "" plain, "sup" superscript, "b" bold."""
    para = cell.add_paragraph() if new_paragraph else cell.paragraphs[0]
    for text, style in parts:
        if not text:
            continue
        run = para.add_run(text)
        if bold or style == "b":  # set only what differs from the default: each set adds XML
            run.bold = True
        if style == "sup":
            run.font.superscript = True


def _keys(keys: Sequence[str]) -> tuple[str, str]:
    return (" " + ",".join(keys), "sup") if keys else ("", "")


def _header_rows(table: Any, t: Mapping[str, Any]) -> None:
    top = _row(table, [(1, "restart"), (2, None), (1, "restart"), (1, "restart"),
                       (1, "restart"), (1, "restart")], header=True, fill=GREY)
    for cell, text in zip(top, ("Outcomes", "Anticipated absolute effects* (95% CI)",
                                "Relative effect (95% CI)", "№ of participants (studies)",
                                "Certainty of the evidence (GRADE)", "Comments"), strict=True):
        _write(cell, [(text, "b")])
    sub = _row(table, [(1, "continue"), (1, None), (1, None), (1, "continue"), (1, "continue"),
                       (1, "continue"), (1, "continue")], header=True, fill=GREY)
    _write(sub[1], [(f"Risk with {t['comparison']}", "b")])
    _write(sub[2], [(f"Risk with {t['intervention']}", "b")])


def _body_row(table: Any, r: Mapping[str, Any]) -> None:
    c = _row(table, [(1, None)] * len(COLUMN_CM))
    _write(c[0], [(r.get("outcome_short") or r["outcome"], "b"),
                  _keys(r.get("outcome_footnote_keys") or [])])
    _write(c[1], [(r["risk_comparator"], ""), _keys(r.get("effect_footnote_keys") or [])])
    _write(c[2], [(r["risk_intervention"], "")])
    for extra in (r.get("risk_difference"), r.get("reexpression")):
        if extra:
            _write(c[2], [(extra, "")], new_paragraph=True)
    _write(c[3], [(r["relative_effect"] or "—", "")])
    _write(c[4], [(r["participants_text"], "")])
    if r.get("certainty"):
        _write(c[5], [(r["certainty_symbols"], "")])
        _write(c[5], [(r["certainty_words"], ""),
                      _keys(r.get("certainty_footnote_keys") or [])], new_paragraph=True)
        if r.get("provisional"):  # GRADE domains nobody assessed: the page says so too
            _write(c[5], [("provisional", "")], new_paragraph=True)
    else:
        _write(c[5], [("—", "")])
    _write(c[6], [(r["comments"], "")])


def _footer(table: Any, t: Mapping[str, Any]) -> None:
    cell = _row(table, [(len(COLUMN_CM), None)])[0]
    fn = t["footnotes"]
    _write(cell, [(fn["asterisk"], "")])
    _write(cell, [(fn["abbreviations"], "")], new_paragraph=True)
    _write(cell, [("GRADE Working Group grades of evidence", "b")], new_paragraph=True)
    for d in fn["grade_definitions"]:
        _write(cell, [(d, "")], new_paragraph=True)
    if fn["explanations"]:
        _write(cell, [("Explanations", "b")], new_paragraph=True)
        for ex in fn["explanations"]:
            _write(cell, [(ex["key"], "sup"), (" " + ex["text"], "")], new_paragraph=True)


def _table(doc: Any, t: Mapping[str, Any], title: str) -> None:
    from docx.shared import Cm

    doc.add_heading(title, level=2)
    table = doc.add_table(rows=0, cols=len(COLUMN_CM))
    table.style = "Table Grid"
    table.autofit = False
    for column, width in zip(table.columns, COLUMN_CM, strict=True):  # the grid
        column.width = Cm(width)
    head = _row(table, [(len(COLUMN_CM), None)], header=True)[0]
    for i, (label, value) in enumerate((("Patient or population", t["population"]),
                                        ("Setting", t.get("setting") or "not stated"),
                                        ("Intervention", t["intervention"]),
                                        ("Comparison", t["comparison"]))):
        _write(head, [(f"{label}: ", "b"), (value, "")], new_paragraph=i > 0)
    _header_rows(table, t)
    for r in t["rows"]:
        _body_row(table, r)
    _footer(table, t)


def _setup(doc: Any, identity: Mapping[str, Any]) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm, Pt

    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.5))
    style = doc.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(SIZE_PT)
    style.paragraph_format.space_after = Pt(1)
    props = doc.core_properties
    props.title = f"Summary of findings: {identity.get('title') or identity.get('id') or 'review'}"
    props.author = props.last_modified_by = "trialsynth"
    props.created = props.modified = FIXED_DATE
    props.revision = 1


def _reproducible(data: bytes) -> bytes:
    """The same .docx with every zip entry dated 1980-01-01, so that equal input gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, (1980, 1, 1, 0, 0, 0)), src.read(info),
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def sof_document(sof_tables: Mapping[str, Mapping[str, Any]], identity: Mapping[str, Any]) -> bytes:
    """The .docx bytes: a title block (review title, citation, DOI), then per comparison its
    summary-of-findings table and, where there is one, the table of its other outcomes."""
    from docx import Document

    doc = Document()
    _setup(doc, identity)
    doc.add_heading(identity.get("title") or f"Review {identity.get('id') or ''}".strip(), level=1)
    for text in (identity.get("citation"),
                 f"DOI: {identity['doi']}" if identity.get("doi") else None,
                 "Summary-of-findings tables re-analysed from the review's data by trialsynth; "
                 "GRADE ratings proposed from the data by named rules (see the report's Methods)."):
        if text:
            doc.add_paragraph(text)
    for n, (g, t) in enumerate(sof_tables.items(), start=1):
        if n > 1:
            doc.add_page_break()
        _table(doc, t["table"], f"Summary of findings {n}: {t['table']['title']}")
        if t.get("other_outcomes"):
            doc.add_paragraph()
            _table(doc, t["other_outcomes"], f"Summary of findings {n}, other outcomes "
                                             f"(comparison {g}): {t['other_outcomes']['title']}")
    buf = io.BytesIO()
    doc.save(buf)
    return _reproducible(buf.getvalue())
