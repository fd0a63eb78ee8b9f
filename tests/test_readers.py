"""Readers of RevMan files: RevMan 5 ``.rm5`` (plain and gzip), RevMan 5 analysis CSV, RevMan Web
data package (folder and zip), and the ``trialsynth.readers.read_review`` dispatcher.

Inputs are the real files in ``../shared/data`` (see shared/data/PROVENANCE.md): the Cochrane
"StatsDataOnly" rm5 files CD000023, CD008625, CD011564, CD012859 and the Fleiss 1993 example in
every RevMan format (R package meta). Expected values are numbers as written in those files.
Broken and hostile inputs are copies made in ``tmp_path``; every error must name the file, the
row or XML line/element, and the field.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from _paths import SHARED_DATA

from trialsynth.errors import DataError
from trialsynth.readers import read_review, revman_web, rm5
from trialsynth.readers.revman_csv import read_revman5_csv
from trialsynth.readers.revman_web import read_web_package
from trialsynth.readers.rm5 import read_rm5

SHARED = SHARED_DATA
RM5 = SHARED / "cochrane-rm5"
FLEISS = SHARED / "meta-fleiss1993"
WEB = FLEISS / "revman-web-export"
RM5_FILES = {"CD000023StatsDataOnly.rm5": 21, "CD008625StatsDataOnly.rm5": 74,
             "CD011564StatsDataOnly.rm5": 33, "CD012859StatsDataOnly.rm5.gz": 113}
EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")


def _sha(path: Path) -> str:
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(path).as_posix().encode())
                h.update(p.read_bytes())
        return h.hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _all_text(review) -> str:
    """Every string a review carries (titles, names, frames, studies, risk of bias)."""
    parts = [str(review.title), str(review.comparisons), repr(review.studies),
             repr(review.risk_of_bias), repr(review.notes)]
    for a in review.analyses:
        parts += [a.name, str(a.comparison_name), a.frame.to_csv(), repr(a.settings.stated)]
    return "\n".join(parts)


@pytest.mark.parametrize(("name", "n"), RM5_FILES.items())
def test_rm5_files_read_with_stated_settings(name, n):
    path = RM5 / name
    before = _sha(path)
    review = read_rm5(path)
    assert _sha(path) == before  # the input is only read
    assert len(review.analyses) == n and not review.skipped
    assert review.format == "revman5-rm5" and review.stored_decimals is None
    assert review.id.startswith(name[:8])
    assert all(a.settings_source == "stated" and not a.settings.inferred for a in review.analyses)
    assert all(a.comparison_name for a in review.analyses)
    assert all(a.stored_pooled is not None for a in review.analyses)
    text = _all_text(review)
    assert not EMAIL.search(text)  # nothing of COVER_SHEET contacts is copied
    assert "MODIFIED_BY" not in text and "EMAIL" not in text


def test_rm5_settings_map_to_measure_and_method():
    """CD000023: M-H RR random; CD012859: IV RR random; CD008625: M-H RD/OR fixed, IV MD random,
    generic ratio of means (LOG_DATA=YES), TOTALS=SUB and TOTALS=NO."""
    sore_throat = read_rm5(RM5 / "CD000023StatsDataOnly.rm5")
    kinds = {(a.settings.measure, a.settings.method) for a in sore_throat.analyses}
    assert kinds == {("RR", "MH_RANDOM")}
    gz = read_rm5(RM5 / "CD012859StatsDataOnly.rm5.gz")
    assert {(a.settings.measure, a.settings.method) for a in gz.analyses} == {("RR", "DL")}
    cholera = {a.id: a for a in read_rm5(RM5 / "CD008625StatsDataOnly.rm5").analyses}
    kinds = {(a.settings.measure, a.settings.method) for a in cholera.values()}
    assert {("RD", "MH"), ("OR", "MH"), ("RR", "MH"), ("RR", "MH_RANDOM"), ("MD", "DL"),
            ("GENERIC_LOG", "DL")} <= kinds
    assert cholera["3.2"].settings.totals == "subgroups"
    assert cholera["15.5"].settings.totals == "none"
    a = cholera["1.4"]  # RR M-H random with subgroups, as written in the file
    assert a.settings.stated["RANDOM"] == "YES" and a.settings.stated["METHOD"] == "MH"
    assert a.settings.confidence_level == 0.95 and a.settings.study_confidence_level == 0.95
    assert a.stored_pooled.overall.estimate == pytest.approx(0.21302718988317818, rel=1e-15)
    assert a.stored_pooled.overall.tau2 == pytest.approx(0.5581929602979929, rel=1e-15)
    assert a.stored_pooled.subgroup_test.q == pytest.approx(17.26288111086939, rel=1e-15)
    assert a.has_subgroups and set(a.stored_pooled.subgroups) == set(a.frame["subgroup"])


def test_rm5_study_data_rob_and_characteristics():
    review = read_rm5(RM5 / "CD011564StatsDataOnly.rm5")
    assert review.doi == "10.1002/14651858.CD011564.pub3"
    assert review.title == "Vitamin D supplementation for chronic liver diseases in adults"
    assert len(review.studies) == 27
    by_study = {r.study: r for r in review.risk_of_bias}
    assert len(by_study) == 27
    r = by_study["Abu-Mouch 2011"]
    assert r.domains["random_sequence_generation"].judgement == "low"  # RESULT="YES"
    assert "computer random number" in r.domains["random_sequence_generation"].support
    assert r.domains["blinding_outcome_assessment"].label.startswith("Blinding of outcome")
    cont = next(a for a in review.analyses if a.data_type == "continuous")
    assert {"mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"} <= set(cont.frame.columns)
    assert cont.frame["row"].is_unique  # XML line of each study row


def test_rm5_characteristics_are_read_and_e_mails_removed(tmp_path):
    """The StatsDataOnly files carry empty characteristics, so this copy of Fleiss 1993 has
    SYNTHETIC text inserted into one study's Methods and Notes."""
    def edit(b: bytes) -> bytes:
        return b.replace(b'<INCLUDED_CHAR STUDY_ID="STD-AMIS">\n<CHAR_METHODS/>',
                         b'<INCLUDED_CHAR STUDY_ID="STD-AMIS">\n<CHAR_METHODS><P>Randomised,'
                         b'  double blind</P></CHAR_METHODS>', 1).replace(
            b"<CHAR_NOTES/>\n</INCLUDED_CHAR>", b"<CHAR_NOTES><P>Data from j.doe@example.org"
            b"</P></CHAR_NOTES>\n</INCLUDED_CHAR>", 1)
    review = read_rm5(_rm5_copy(tmp_path, edit))
    amis = next(s for s in review.studies if s.name == "AMIS")
    assert amis.characteristics == {"methods": "Randomised, double blind",
                                    "notes": "Data from [e-mail removed]"}
    assert amis.year == "1980" and amis.status == "included"


def test_rm5_non_estimable_rows_have_no_stored_numbers():
    a = next(a for a in read_rm5(RM5 / "CD000023StatsDataOnly.rm5").analyses if a.id == "2.4")
    assert a.frame["stored_weight"].isna().all() and a.frame["stored_effect"].isna().all()
    assert a.stored_pooled.overall.estimable is False


def test_gzip_and_plain_rm5_read_alike(tmp_path):
    gz = tmp_path / "Fleiss1993.rm5.gz"
    gz.write_bytes(gzip.compress((FLEISS / "Fleiss1993.rm5").read_bytes()))
    plain, packed = read_rm5(FLEISS / "Fleiss1993.rm5"), read_review(gz)
    assert [a.id for a in plain.analyses] == [a.id for a in packed.analyses]
    for a, b in zip(plain.analyses, packed.analyses, strict=True):
        assert a.frame.equals(b.frame) and a.stored_pooled == b.stored_pooled


def test_fleiss_in_three_formats():
    """The same two analyses: M-H OR fixed (1.1) and a continuous one (1.2)."""
    rm = read_review(FLEISS / "Fleiss1993.rm5")
    csv_ = read_review(FLEISS / "Fleiss1993_CR.csv")
    web = read_review(WEB)
    assert (rm.format, csv_.format, web.format) == ("revman5-rm5", "revman5-csv",
                                                   "revman-web-package")
    for review in (rm, csv_, web):
        a = review.analyses[0]
        assert (a.id, a.settings.measure, a.settings.method) == ("1.1", "OR", "MH")
        assert a.comparison_name == "Examples from Fleiss (1993)" or review is rm
        assert a.frame["study"].tolist()[:1] in (["MRC-1"], ["AMIS"])
        assert sorted(a.frame["events_t"]) == [32, 44, 49, 85, 102, 246, 1570]
    assert csv_.analyses[1].settings.measure == "MD"  # the CSV export labels 1.2 MD
    assert web.analyses[1].settings.measure == "SMD"
    assert csv_.analyses[0].stored_pooled.overall.i2 == 39.67458046
    assert web.analyses[0].stored_pooled.overall.q == 9.946056
    assert web.analyses[0].stored_pooled.overall.tau2 is None  # empty for fixed effect
    assert web.analyses[1].stored_pooled.results_stored is False  # zeros, not results
    assert len(web.studies) == 12 and web.studies[0].data_source == "PUB"
    assert {r.domains["allocation_concealment"].judgement for r in web.risk_of_bias} == \
        {"not_applicable"}


def test_web_package_zip_reads_like_the_folder(tmp_path):
    z = tmp_path / "package.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(WEB.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(WEB).as_posix())
    before = _sha(z)
    folder, packed = read_web_package(WEB), read_review(z)
    assert _sha(z) == before
    assert packed.format == "revman-web-package"
    for a, b in zip(folder.analyses, packed.analyses, strict=True):
        assert a.frame.equals(b.frame) and a.settings == b.settings


def test_dispatch_refuses_unknown_files(tmp_path):
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a review file"):
        read_review(other)
    with pytest.raises(DataError, match="file not found"):
        read_review(tmp_path / "missing.rm5")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no '\\*-data-rows.csv'"):
        read_review(empty)


# ------------------------------------------------------------------------------------------
# broken and hostile copies


def _rm5_copy(tmp_path: Path, edit) -> Path:
    out = tmp_path / "broken.rm5"
    out.write_bytes(edit((FLEISS / "Fleiss1993.rm5").read_bytes()))
    return out


def test_truncated_xml_names_file_and_line(tmp_path):
    path = _rm5_copy(tmp_path, lambda b: b[: len(b) // 2])
    with pytest.raises(DataError) as info:
        read_review(path)
    assert info.value.file == str(path) and "not well-formed XML at line" in str(info.value)


def test_non_numeric_attribute_names_line_element_and_attribute(tmp_path):
    path = _rm5_copy(tmp_path, lambda b: b.replace(b'EVENTS_1="49"', b'EVENTS_1="forty"', 1))
    with pytest.raises(DataError) as info:
        read_rm5(path)
    err = info.value
    assert err.file == str(path) and err.field == "EVENTS_1"
    assert re.search(r"line \d+, element <DICH_DATA> \(analysis 1\.1, study 'MRC-1'\): not a "
                     r"number: 'forty'", str(err))


@pytest.mark.parametrize("payload", [
    # entity expansion ("billion laughs")
    b'<?xml version="1.0"?><!DOCTYPE COCHRANE_REVIEW [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    b"<COCHRANE_REVIEW><COVER_SHEET><TITLE>&c;</TITLE></COVER_SHEET></COCHRANE_REVIEW>",
    # external entity
    b'<?xml version="1.0"?><!DOCTYPE COCHRANE_REVIEW [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<COCHRANE_REVIEW><COVER_SHEET><TITLE>&x;</TITLE></COVER_SHEET></COCHRANE_REVIEW>",
])
def test_xml_entity_tricks_are_refused(tmp_path, payload):
    path = tmp_path / "evil.rm5"
    path.write_bytes(payload)
    with pytest.raises(DataError, match="refused: the XML declares a DTD") as info:
        read_review(path)
    assert info.value.file == str(path)


def test_oversized_and_gzip_bomb_rm5_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(rm5, "MAX_BYTES", 10_000)
    with pytest.raises(DataError, match="larger than the limit"):
        read_rm5(FLEISS / "Fleiss1993.rm5")
    bomb = tmp_path / "bomb.rm5.gz"
    bomb.write_bytes(gzip.compress(b"<COCHRANE_REVIEW>" + b" " * 50_000))
    with pytest.raises(DataError, match="decompresses to more than"):
        read_review(bomb)


def test_revman5_csv_non_numeric_cell(tmp_path):
    text = (FLEISS / "Fleiss1993_CR.csv").read_text(encoding="utf-8")
    path = tmp_path / "broken_CR.csv"
    path.write_text(text.replace("MRC-1,,,,,49,", "MRC-1,,,,,4x9,"), encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_revman5_csv(path)
    assert (info.value.file, info.value.row, info.value.field) == (str(path), 4, "Events 1")
    assert "not a number: '4x9'" in str(info.value)


def _web_copy(tmp_path: Path) -> Path:
    out = tmp_path / "web"
    shutil.copytree(WEB, out)
    for p in out.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return out


def test_web_non_numeric_cell_names_member_row_and_column(tmp_path):
    folder = _web_copy(tmp_path)
    rows = next(folder.rglob("*-data-rows.csv"))
    rows.write_text(rows.read_text(encoding="utf-8-sig").replace(",246,2267,", ",246,22x67,"),
                    encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_review(folder)
    assert (info.value.file, info.value.row, info.value.field) == (str(rows), 2, "Experimental N")


def _zip(tmp_path: Path, members: dict[str, bytes]) -> Path:
    z = tmp_path / "package.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return z


def test_zip_path_traversal_member_is_refused(tmp_path):
    rows = next(WEB.rglob("*-data-rows.csv")).read_bytes()
    z = _zip(tmp_path, {"../../evil-data-rows.csv": rows})
    with pytest.raises(DataError, match=r"refused: unsafe path") as info:
        read_review(z)
    assert info.value.file == f"{z}/../../evil-data-rows.csv"
    z2 = _zip(tmp_path, {"/abs/x-data-rows.csv": rows})
    with pytest.raises(DataError, match=r"refused: unsafe path"):
        read_web_package(z2)


def test_oversized_zip_member_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(revman_web, "MAX_MEMBER", 100_000)
    z = _zip(tmp_path, {"a-data-rows.csv": b"Analysis group," + b"0" * 200_000})
    with pytest.raises(DataError, match="refused: the zip member is 200015 bytes") as info:
        read_review(z)
    assert info.value.file == f"{z}/a-data-rows.csv"
    monkeypatch.setattr(revman_web, "MAX_MEMBERS", 2)
    z = _zip(tmp_path, {f"f{i}.svg": b"x" for i in range(3)})
    with pytest.raises(DataError, match="3 members; the limit is 2"):
        read_review(z)


def test_not_a_zip(tmp_path):
    bad = tmp_path / "package.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DataError, match="not a readable zip file"):
        read_review(bad)


def test_data_rows_dispatch_keeps_rob2():
    """The flagship data-rows CSV (CD015373.pub2) through the dispatcher: the data-rows reader's
    analyses plus the RoB 2 judgements of every row (randomisation domain filled)."""
    path = SHARED / "pairwise70" / "CD015373_pub2_data.csv"
    before = _sha(path)
    review = read_review(path)
    assert _sha(path) == before
    assert review.format == "revman-web-data-rows" and len(review.analyses) == 95
    assert len(review.risk_of_bias) == 176
    first = review.risk_of_bias[0]
    assert (first.study, first.domains["D1"].final) == ("Lumanauw 2019", "low")
    assert all(a.settings_source == "inferred" for a in review.analyses)
