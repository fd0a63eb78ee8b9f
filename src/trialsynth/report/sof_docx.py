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


def _shade(cell: Any, fill: str) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    pr = cell._tc.get_or_add_tcPr()
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    pr.append(shd)


def _repeat_header(row: Any) -> None:
    """Mark a row as a header row that Word repeats at the top of every page."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().append(el)


def _write(cell: Any, parts: Sequence[tuple[str, str]], *, bold: bool = False,
           new_paragraph: bool = False) -> None:
    """Add ``parts`` [(text, style)] to ``cell``; style "" plain, "sup" superscript, "b" bold."""
    para = cell.add_paragraph() if new_paragraph else cell.paragraphs[0]
    for text, style in parts:
        if not text:
            continue
        run = para.add_run(text)
        run.bold = bold or style == "b"
        run.font.superscript = style == "sup"


def _keys(keys: Sequence[str]) -> tuple[str, str]:
    return (" " + ",".join(keys), "sup") if keys else ("", "")


def _header_rows(table: Any, t: Mapping[str, Any]) -> None:
    top, sub = table.rows[1], table.rows[2]
    heads = ("Outcomes", "Anticipated absolute effects* (95% CI)", None,
             "Relative effect (95% CI)", "№ of participants (studies)",
             "Certainty of the evidence (GRADE)", "Comments")
    for i, text in enumerate(heads):
        if text is not None:
            _write(top.cells[i], [(text, "b")])
    _write(sub.cells[1], [(f"Risk with {t['comparison']}", "b")])
    _write(sub.cells[2], [(f"Risk with {t['intervention']}", "b")])
    top.cells[1].merge(top.cells[2])
    for i in (0, 3, 4, 5, 6):
        top.cells[i].merge(sub.cells[i])
    for row in (top, sub):
        _repeat_header(row)
        for cell in row.cells:
            _shade(cell, GREY)


def _body_row(row: Any, r: Mapping[str, Any]) -> None:
    c = row.cells
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
    else:
        _write(c[5], [("—", "")])
    _write(c[6], [(r["comments"], "")])


def _footer(table: Any, t: Mapping[str, Any]) -> None:
    cells = table.add_row().cells
    cell = cells[0].merge(cells[-1])
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
    table = doc.add_table(rows=3, cols=7)
    table.style = "Table Grid"
    table.autofit = False
    head = table.rows[0].cells[0].merge(table.rows[0].cells[-1])
    for i, (label, value) in enumerate((("Patient or population", t["population"]),
                                        ("Setting", t.get("setting") or "not stated"),
                                        ("Intervention", t["intervention"]),
                                        ("Comparison", t["comparison"]))):
        _write(head, [(f"{label}: ", "b"), (value, "")], new_paragraph=i > 0)
    _repeat_header(table.rows[0])
    _header_rows(table, t)
    for r in t["rows"]:
        _body_row(table.add_row(), r)
    _footer(table, t)
    for row in table.rows:
        for cell, width in zip(row.cells, COLUMN_CM, strict=True):
            cell.width = Cm(width)


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
