"""The bad-input corpus (issue 3, item 5): broken and hostile files through every CLI entry point.

Every reader format (RevMan 5 ``.rm5`` plain and gzip, RevMan 5 analysis CSV, RevMan Web package
as zip and as folder, RevMan Web data-rows CSV, trialsynth's review folder, and the CSV of
``trialsynth pool``) is fed to every command that reads it (``run``, ``check``, ``import``;
``pool``). Each refused input must end in exit code 2 with one clear message on stderr that names
the file and, where the problem has one, the row (or XML line and element) and the field; no
traceback, nothing on stdout, no output folder or file, and the input's bytes unchanged.

The broken files are copies of real files (shared/data, PROVENANCE.md) edited in ``tmp_path``,
plus the small hand-made attack files in ``tests/hostile/`` (entity expansion, external entity,
YAML alias bomb, YAML Python tag, zip slip). Oversized files are sparse files made at test time
(nothing of them is written or read: the readers check the size first).

Some edits are *not* refused for RevMan's own exports, on purpose, because real Cochrane exports
contain them and RevMan itself shows such rows as "not estimable": more events than participants
(e.g. CD001920.pub4), arms with N = 0, and the same study twice in one analysis (80 of the 501
Pairwise70 reviews; CD008625 in RevMan 5). For those the row must be reported with its file row
and column, and the command must still finish normally. ``trialsynth pool`` (a table typed by
the user) refuses more events than participants and N = 0, but keeps two rows with one label
(metafor's dat.bcg has two 'Rosenthal et al' trials).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from _paths import SHARED_DATA
from typer.testing import CliRunner

from trialsynth.cli import app
from trialsynth.readers import revman_web, rm5

HOSTILE = Path(__file__).resolve().parent / "hostile"
FLEISS = SHARED_DATA / "meta-fleiss1993"
RM5_FILE = FLEISS / "Fleiss1993.rm5"
CSV5_FILE = FLEISS / "Fleiss1993_CR.csv"
WEB = FLEISS / "revman-web-export"
ROWS_FILE = SHARED_DATA / "pairwise70" / "CD008628_pub3_data.csv"
ENV = {"COLUMNS": "2000", "NO_COLOR": "1"}  # one line per message, whatever the terminal
runner = CliRunner()

POOL_CSV = (b"study,events_t,n_t,events_c,n_c,mean_t,sd_t,mean_c,sd_c\n"
            b"Alpha 2001,12,50,20,52,5.1,1.2,5.9,1.4\n"
            b"Beta 2003,8,40,15,41,4.8,1.1,5.5,1.3\n"
            b"Gamma 2007,30,120,41,118,5.0,1.5,5.6,1.2\n")
POOL_OPTIONS = {"RR": ["--measure", "RR", "--method", "MH"], "MD": ["--measure", "MD", "--method", "DL"]}


# ------------------------------------------------------------------------------------------
# building the inputs


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(p.relative_to(path).as_posix().encode() + b"\0" + p.read_bytes())
    elif path.exists():
        h.update(path.read_bytes())
    return h.hexdigest()


def _sparse(path: Path, head: bytes, size: int) -> Path:
    """A file of ``size`` bytes that starts with ``head`` and is a hole after it (no disk used)."""
    with path.open("wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


def _replace(old: bytes, new: bytes, count: int = 1) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        assert old in data, f"test setup: {old!r} not in the file"
        return data.replace(old, new, count)
    return edit


def _truncate(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _utf16(data: bytes) -> bytes:
    return data.decode("utf-8-sig").encode("utf-16")  # with the UTF-16 byte order mark


def _latin1_in(old: bytes) -> Callable[[bytes], bytes]:
    """One name re-encoded as Latin-1 ('é' as the single byte 0xE9) inside UTF-8 text."""
    return _replace(old, old[:1] + b"\xe9" + old[2:])


def _drop_csv_column(name: str) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        import csv

        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header = [h.strip() for h in rows[0]]
        j = header.index(name)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([r[:j] + r[j + 1:] for r in rows])
        return out.getvalue().encode()
    return edit


def _csv_cell(row: int, name: str, value: str) -> Callable[[bytes], bytes]:
    """Set one cell (row as a spreadsheet shows it, header = 1)."""
    def edit(data: bytes) -> bytes:
        import csv

        bom = data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        rows[row - 1][[h.strip() for h in rows[0]].index(name)] = value
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()
    return edit


def _web_rows_member() -> Path:
    return next(WEB.rglob("*-data-rows.csv"))


@dataclass(frozen=True)
class Format:
    """How to make one input of a format from the bytes of its main file."""

    name: str
    base: Callable[[Path], bytes]  # the main file's bytes (valid)
    make: Callable[[Path, bytes], tuple[Path, Path]]  # (input to give the CLI, file the error names)
    commands: tuple[str, ...] = ("check", "import", "run")


def _file_maker(filename: str) -> Callable[[Path, bytes], tuple[Path, Path]]:
    def make(tmp: Path, data: bytes) -> tuple[Path, Path]:
        p = tmp / filename
        p.write_bytes(data)
        return p, p
    return make


def _gz_maker(tmp: Path, data: bytes) -> tuple[Path, Path]:
    p = tmp / "review.rm5.gz"
    p.write_bytes(gzip.compress(data))
    return p, p


def _web_dir_maker(tmp: Path, data: bytes) -> tuple[Path, Path]:
    folder = tmp / "package"
    shutil.copytree(WEB, folder)
    for p in folder.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    member = next(folder.rglob("*-data-rows.csv"))
    member.write_bytes(data)
    return folder, member


def _web_zip_maker(tmp: Path, data: bytes) -> tuple[Path, Path]:
    z = tmp / "package.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(WEB.rglob("*")):
            if p.is_file() and p.suffix == ".csv":
                name = p.relative_to(WEB).as_posix()
                zf.writestr(name, data if p.name.endswith("-data-rows.csv") else p.read_bytes())
    member = next(WEB.rglob("*-data-rows.csv")).relative_to(WEB).as_posix()
    return z, Path(f"{z}/{member}")


@pytest.fixture(scope="module")
def review_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid review folder made by ``trialsynth import`` from the Fleiss 1993 rm5 file."""
    out = tmp_path_factory.mktemp("folder") / "fleiss"
    result = runner.invoke(app, ["import", str(RM5_FILE), "--out", str(out)], env=ENV)
    assert result.exit_code == 0, result.output
    return out


_FOLDER: list[Path] = []  # set by the autouse fixture below (the folder format needs it)


def _folder_maker(member: str) -> Callable[[Path, bytes], tuple[Path, Path]]:
    def make(tmp: Path, data: bytes) -> tuple[Path, Path]:
        folder = tmp / "review"
        shutil.copytree(_FOLDER[0], folder)
        (folder / member).write_bytes(data)
        return folder, folder / member
    return make


def _folder_base(member: str) -> Callable[[Path], bytes]:
    return lambda _tmp: (_FOLDER[0] / member).read_bytes()


@pytest.fixture(autouse=True)
def _folder_ready(review_folder: Path) -> None:
    _FOLDER[:] = [review_folder]


FORMATS = {
    "rm5": Format("rm5", lambda _t: RM5_FILE.read_bytes(), _file_maker("review.rm5")),
    "rm5.gz": Format("rm5.gz", lambda _t: RM5_FILE.read_bytes(), _gz_maker),
    "revman5-csv": Format("revman5-csv", lambda _t: CSV5_FILE.read_bytes(),
                          _file_maker("analyses_CR.csv")),
    "web-zip": Format("web-zip", lambda _t: _web_rows_member().read_bytes(), _web_zip_maker),
    "web-folder": Format("web-folder", lambda _t: _web_rows_member().read_bytes(), _web_dir_maker),
    "data-rows": Format("data-rows", lambda _t: ROWS_FILE.read_bytes(), _file_maker("rows.csv")),
    "folder-yaml": Format("folder-yaml", _folder_base("review.yaml"), _folder_maker("review.yaml")),
    "folder-studies": Format("folder-studies", _folder_base("studies.csv"),
                             _folder_maker("studies.csv")),
    "folder-outcomes": Format("folder-outcomes", _folder_base("outcome_data.csv"),
                              _folder_maker("outcome_data.csv")),
    "folder-rob": Format("folder-rob", _folder_base("risk_of_bias.csv"),
                         _folder_maker("risk_of_bias.csv")),
    "pool": Format("pool", lambda _t: POOL_CSV, _file_maker("studies.csv"), commands=("pool",)),
}


# ------------------------------------------------------------------------------------------
# the corpus: (format, case, edit of the main file, patterns the message must contain)
# A pattern list always includes the file; the others name the row/element and the field.

ROW = r"row {}, column '{}'"
Case = tuple[str, str, Callable[[bytes], bytes], tuple[str, ...]]
WEB_ROW_CELL = (2, "Experimental N")  # AMIS 1980: 246/2267 vs 219/2257
CASES: list[Case] = [
    # --- RevMan 5 XML (plain and gzip) ---
    *[(f, "truncated", _truncate, (r"not well-formed XML at line \d+, column \d+",))
      for f in ("rm5", "rm5.gz")],
    *[(f, "billion-laughs", lambda _b: (HOSTILE / "billion_laughs.rm5").read_bytes(),
       (r"refused: the XML declares a DTD, an entity",)) for f in ("rm5", "rm5.gz")],
    *[(f, "external-entity", lambda _b: (HOSTILE / "xxe.rm5").read_bytes(),
       (r"refused: the XML declares a DTD, an entity",)) for f in ("rm5", "rm5.gz")],
    *[(f, "latin1-bytes", lambda b: _latin1_in(b'NAME="MRC-1"')(
        b.replace(b'encoding="ISO-8859-1"', b'encoding="UTF-8"')),
       (r"not well-formed XML at line \d+",)) for f in ("rm5", "rm5.gz")],
    *[(f, "utf16", lambda b: b.replace(b'encoding="ISO-8859-1"', b'encoding="UTF-8"')
       .decode("latin-1").encode("utf-16-le"), ("",)) for f in ("rm5", "rm5.gz")],
    *[(f, "negative-sd", _replace(b'SD_1="4.7"', b'SD_1="-4.7"'),
       (r"line \d+, element <CONT_DATA>", r"column 'SD_1'|SD_1")) for f in ("rm5", "rm5.gz")],
    *[(f, "non-numeric", _replace(b'EVENTS_1="49"', b'EVENTS_1="4x9"'),
       (r"line \d+, element <DICH_DATA>", "EVENTS_1", "not a number: '4x9'"))
      for f in ("rm5", "rm5.gz")],
    *[(f, "missing-attribute", _replace(b' TOTAL_1="615"', b""),
       (r"line \d+, element <DICH_DATA>", "TOTAL_1")) for f in ("rm5", "rm5.gz")],
    *[(f, "empty", lambda _b: b"", ("",)) for f in ("rm5", "rm5.gz")],
    ("rm5.gz", "not-gzip", lambda b: b, ("",)),  # replaced below by a broken gzip stream
    # --- RevMan 5 analysis CSV ---
    ("revman5-csv", "truncated", lambda b: b[: b.index(b"\n1,1,0,CDP") + 12], (r"row \d+",)),
    ("revman5-csv", "utf16", _utf16, ("",)),
    ("revman5-csv", "latin1-bytes", _latin1_in(b"MRC-1"), (r"not UTF-8 text \(byte \d+",)),
    ("revman5-csv", "negative-sd", _replace(b"Davis,,,,,0,5,4.7,", b"Davis,,,,,0,5,-4.7,"),
     (ROW.format(12, "SD 1"),)),
    ("revman5-csv", "non-numeric", _replace(b"MRC-1,,,,,49,", b"MRC-1,,,,,4x9,"),
     (ROW.format(4, "Events 1"), "not a number: '4x9'")),
    ("revman5-csv", "missing-column", _drop_csv_column("Analysis Model"),
     (ROW.format(1, "Analysis Model"), "required column is missing")),
    ("revman5-csv", "empty", lambda _b: b"", ("",)),
    # --- RevMan Web package (zip and folder): the data-rows member ---
    *[(f, "truncated", lambda b: b[: b.index(b"\n", 600) + 40], (r"row \d+",))
      for f in ("web-zip", "web-folder")],
    *[(f, "utf16", _utf16, ("",)) for f in ("web-zip", "web-folder")],
    *[(f, "latin1-bytes", _latin1_in(b"AMIS"), (r"not UTF-8 text \(byte \d+",))
      for f in ("web-zip", "web-folder")],
    *[(f, "negative-sd", _replace(b",Davis,1973,0.0,0.0,5.0,4.7,", b",Davis,1973,0.0,0.0,5.0,-4.7,"),
       (ROW.format(9, "Experimental SD"),)) for f in ("web-zip", "web-folder")],
    *[(f, "non-numeric", _replace(b",246,2267,", b",246,22x67,"),
       (ROW.format(*WEB_ROW_CELL), "not a number")) for f in ("web-zip", "web-folder")],
    *[(f, "missing-column", _drop_csv_column("Study"), (ROW.format(1, "Study"), "missing"))
      for f in ("web-zip", "web-folder")],
    *[(f, "empty", lambda _b: b"", ("empty",)) for f in ("web-zip", "web-folder")],
    # --- RevMan Web data-rows CSV (Pairwise70 names) ---
    ("data-rows", "truncated", lambda b: b[: b.index(b"\n", 2000) + 30], (r"row \d+",)),
    ("data-rows", "utf16", _utf16, ("",)),
    ("data-rows", "latin1-bytes", _latin1_in(b"Agren 2013"), (r"not UTF-8 text \(byte \d+",)),
    ("data-rows", "negative-sd", _csv_cell(2, "Experimental.SD", "-14.2"),
     (ROW.format(2, "Experimental.SD"),)),
    ("data-rows", "non-numeric", _csv_cell(3, "Control.N", "thirty"),
     (ROW.format(3, "Control.N"), "not a number: 'thirty'")),
    ("data-rows", "missing-column", _drop_csv_column("Experimental.N"),
     (ROW.format(1, "Experimental.N"), "required column is missing")),
    ("data-rows", "empty", lambda _b: b"", ("",)),
    # --- trialsynth review folder ---
    ("folder-yaml", "truncated", lambda b: b[: len(b) // 2] + b"\n  - [unclosed", (r"line \d+",)),
    ("folder-yaml", "utf16", _utf16, ("",)),
    ("folder-yaml", "latin1-bytes", _latin1_in(b"Aspirin"), (r"not UTF-8 text \(byte \d+",)),
    ("folder-yaml", "yaml-bomb", lambda _b: (HOSTILE / "yaml_bomb.yaml").read_bytes(),
     (r"alias",)),
    ("folder-yaml", "python-tag", lambda _b: (HOSTILE / "python_tag.yaml").read_bytes(),
     (r"line \d+", r"tag")),
    ("folder-yaml", "empty", lambda _b: b"", ("",)),
    ("folder-studies", "duplicate-study-id", lambda b: b + b.splitlines(keepends=True)[1],
     (r"row \d+, column 'study'", "listed twice")),
    ("folder-studies", "missing-column", _drop_csv_column("study"),
     (ROW.format(1, "study"), "required column is missing")),
    ("folder-studies", "empty", lambda _b: b"", ("empty",)),
    ("folder-outcomes", "truncated", lambda b: b[: b.index(b"\n", 300) + 9], (r"row \d+",)),
    ("folder-outcomes", "utf16", _utf16, ("",)),
    ("folder-outcomes", "latin1-bytes", _latin1_in(b"MRC-1"), (r"not UTF-8 text \(byte \d+",)),
    ("folder-outcomes", "negative-sd", _replace(b"13,,6.5,3.8,13", b"13,,6.5,-3.8,13"),
     (r"row \d+, column 'sd_c'", "negative")),
    ("folder-outcomes", "non-numeric", _csv_cell(2, "n_t", "six hundred"),
     (ROW.format(2, "n_t"), "not a number")),
    ("folder-outcomes", "missing-column", _drop_csv_column("study"),
     (ROW.format(1, "study"), "required column is missing")),
    ("folder-outcomes", "empty", lambda _b: b"", ("empty",)),
    ("folder-rob", "missing-column", _drop_csv_column("study"),
     (ROW.format(1, "study"), "required column is missing")),
    ("folder-rob", "latin1-bytes", lambda b: b + b"\xe9", (r"not UTF-8 text \(byte \d+",)),
    # --- trialsynth pool CSV ---
    ("pool", "truncated", lambda b: b[:-30] + b'"unclosed', (r"row \d+|line \d+",)),
    ("pool", "utf16", _utf16, (r"not UTF-8 text",)),
    ("pool", "latin1-bytes", _latin1_in(b"Beta"), (r"not UTF-8 text \(byte \d+, physical line 3\)",)),
    ("pool", "negative-sd", _replace(b"4.8,1.1", b"4.8,-1.1"), (ROW.format(3, "sd_t"),)),
    ("pool", "non-numeric", _replace(b"Beta 2003,8,", b"Beta 2003,eight,"),
     (ROW.format(3, "events_t"), "not a finite number: 'eight'")),
    ("pool", "missing-column", _drop_csv_column("n_c"), (r"column 'n_c'", "missing column")),
    ("pool", "events-over-n", _replace(b"Beta 2003,8,40,15,41", b"Beta 2003,48,40,15,41"),
     (ROW.format(3, "events_t"), "more events than participants")),
    ("pool", "n-zero", _replace(b"Beta 2003,8,40,15,41", b"Beta 2003,0,0,15,41"),
     (ROW.format(3, "n_t"), "no participants")),
    ("pool", "empty", lambda _b: b"", ("empty",)),
]
POOL_MEASURE = {"negative-sd": "MD"}


def _id(case: Case) -> str:
    return f"{case[0]}-{case[1]}"


def _invoke(command: str, fmt: str, case: str, source: Path, out: Path):
    if command == "pool":
        args = ["pool", str(source), *POOL_OPTIONS[POOL_MEASURE.get(case, "RR")]]
    elif command == "check":
        args = ["check", str(source), "--json"]
    else:
        args = [command, str(source), "--out", str(out), *(["--quiet"] if command == "run" else [])]
    return runner.invoke(app, args, env=ENV)


def _assert_refused(result, named: Path, patterns: tuple[str, ...], out: Path) -> None:
    err = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in err and "Traceback" not in result.stdout
    assert result.stdout == "", result.stdout
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line, err
    assert str(named) in line, (str(named), line)
    for pat in patterns:
        assert re.search(pat, line), (pat, line)
    assert not out.exists() and not out.with_name(out.name + ".tmp").exists()
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(out.name)]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_refused_with_a_clear_message(case: Case, tmp_path: Path) -> None:
    fmt_name, what, edit, patterns = case
    fmt = FORMATS[fmt_name]
    data = edit(fmt.base(tmp_path))
    inputs = tmp_path / "in"
    inputs.mkdir()
    source, named = fmt.make(inputs, data)
    if (fmt_name, what) == ("rm5.gz", "not-gzip"):
        source.write_bytes(gzip.compress(RM5_FILE.read_bytes())[:500])
    elif fmt_name == "rm5.gz" and what in ("billion-laughs", "external-entity", "empty"):
        pass  # the edited bytes, compressed by the maker
    before = _sha(source)
    for command in fmt.commands:
        out = tmp_path / f"out-{command}"
        result = _invoke(command, fmt_name, what, source, out)
        _assert_refused(result, named, patterns, out)
        assert _sha(source) == before
    if what == "python-tag":
        assert not Path("/tmp/trialsynth-pwned").exists()  # the tag was never constructed


# ------------------------------------------------------------------------------------------
# size limits, bombs and unsafe archives (generated at test time)


def _oversized_cases(tmp: Path) -> list[tuple[str, Path, Path]]:
    """(label, input, file named in the error) for every format, each one byte over its limit."""
    from trialsynth.readers import folder as folder_mod
    from trialsynth.readers import revman_csv, revman_rows

    out = []
    head = RM5_FILE.read_bytes()[:4000]
    out.append(("rm5", _sparse(tmp / "big.rm5", head, rm5.MAX_BYTES + 1), None))
    out.append(("rm5.gz", _sparse(tmp / "big.rm5.gz", gzip.compress(head), rm5.MAX_BYTES + 1),
                None))
    out.append(("revman5-csv", _sparse(tmp / "big_CR.csv", CSV5_FILE.read_bytes(),
                                       revman_csv.MAX_BYTES + 1), None))
    out.append(("data-rows", _sparse(tmp / "big_rows.csv", ROWS_FILE.read_bytes(),
                                     revman_rows.MAX_BYTES + 1), None))
    web = tmp / "bigweb"
    shutil.copytree(WEB, web)
    for p in web.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    member = next(web.rglob("*-data-rows.csv"))
    _sparse(member, member.read_bytes(), revman_web.MAX_MEMBER + 1)
    out.append(("web-folder", web, member))
    out.append(("web-zip", _sparse(tmp / "big.zip", b"PK\x03\x04", revman_web.MAX_ZIP + 1), None))
    folder = tmp / "bigfolder"
    shutil.copytree(_FOLDER[0], folder)
    yml = folder / "review.yaml"
    _sparse(yml, yml.read_bytes(), folder_mod.MAX_BYTES + 1)
    out.append(("folder", folder, yml))
    out.append(("pool", _sparse(tmp / "big_pool.csv", POOL_CSV, revman_csv.MAX_BYTES + 1), None))
    return [(label, p, named or p) for label, p, named in out]


def test_oversized_files_are_refused_before_reading(tmp_path: Path) -> None:
    for label, source, named in _oversized_cases(tmp_path):
        commands = ("pool",) if label == "pool" else ("check", "import", "run")
        for command in commands:
            out = tmp_path / f"out-{label}-{command}"
            result = _invoke(command, label, "oversized", source, out)
            _assert_refused(result, named, (r"larger than the limit|the limit is",), out)


def _zip_of(tmp: Path, members: dict[str, bytes], name: str = "package.zip") -> Path:
    z = tmp / name
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return z


def _web_members() -> dict[str, bytes]:
    return {p.relative_to(WEB).as_posix(): p.read_bytes() for p in WEB.rglob("*.csv")}


def test_zip_path_traversal_is_refused(tmp_path: Path) -> None:
    checked_in = HOSTILE / "zip_slip.zip"
    members = {("../" * 3) + k.split("/")[-1] if k.endswith("-data-rows.csv") else k: v
               for k, v in _web_members().items()}
    made = _zip_of(tmp_path, members)
    for z in (checked_in, made):
        before = _sha(z)
        for command in ("check", "import", "run"):
            out = tmp_path / f"out-{z.stem}-{command}"
            result = _invoke(command, "web-zip", "zip-slip", z, out)
            _assert_refused(result, z, (r"refused: unsafe path in the zip", r"\.\./"), out)
        assert _sha(z) == before
    assert not any(p.name.endswith("-data-rows.csv") for p in tmp_path.parent.rglob("*")
                   if ".." not in p.parts and p.parent == tmp_path.parent)


def test_zip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A member that inflates ~1000-fold past the member limit (limit lowered to 1 MB so that the
    test inflates little); also one whose zip header lies about its size."""
    monkeypatch.setattr(revman_web, "MAX_MEMBER", 1_000_000)
    members = _web_members()
    rows = next(k for k in members if k.endswith("-data-rows.csv"))
    members[rows] = members[rows] + b"\n" * 3_000_000
    z = _zip_of(tmp_path, members)
    assert z.stat().st_size < 100_000  # compression ratio > 30
    liar = tmp_path / "liar.zip"
    raw = bytearray(z.read_bytes())
    size = len(members[rows]).to_bytes(4, "little")
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # local header and central directory entry
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            name_len = int.from_bytes(raw[i + (26 if sig == b"PK\x03\x04" else 28):][:2], "little")
            off = 30 if sig == b"PK\x03\x04" else 46
            if raw[i + off:i + off + name_len].decode().endswith("-data-rows.csv"):
                at = 22 if sig == b"PK\x03\x04" else 24
                assert raw[i + at:i + at + 4] == size
                raw[i + at:i + at + 4] = (100).to_bytes(4, "little")
            start = i + 4
    liar.write_bytes(bytes(raw))
    for source, pattern in ((z, r"refused: the zip member is \d+ bytes"),
                            (liar, r"refused|cannot read the zip member")):
        for command in ("check", "import", "run"):
            out = tmp_path / f"out-{source.stem}-{command}"
            result = _invoke(command, "web-zip", "bomb", source, out)
            _assert_refused(result, source, (pattern,), out)


def test_gzip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rm5, "MAX_BYTES", 1_000_000)
    bomb = tmp_path / "bomb.rm5.gz"
    bomb.write_bytes(gzip.compress(RM5_FILE.read_bytes()[:2000] + b" " * 5_000_000))
    assert bomb.stat().st_size < 50_000
    for command in ("check", "import", "run"):
        out = tmp_path / f"out-{command}"
        result = _invoke(command, "rm5.gz", "bomb", bomb, out)
        _assert_refused(result, bomb, (r"decompresses to more than the limit",), out)


# ------------------------------------------------------------------------------------------
# accepted on purpose: what RevMan itself shows as "not estimable", and a UTF-8 BOM


def _problem_rows(source: Path) -> list[str]:
    from trialsynth.readers import read_review

    review = read_review(source)
    return [p for a in review.analyses for p in a.frame["problem"] if p]


KEPT = [
    ("rm5", "events-over-n", _replace(b'EVENTS_1="49"', b'EVENTS_1="649"'),
     r"more events than participants"),
    ("revman5-csv", "events-over-n", _replace(b"MRC-1,,,,,49,", b"MRC-1,,,,,649,"),
     r"row 4, column 'Events 1': more events than participants"),
    ("web-folder", "events-over-n", _replace(b",246,2267,", b",2460,2267,"),
     r"row 2, column 'Experimental.cases': more events than participants"),
    ("data-rows", "events-over-n", lambda b: _csv_cell(2, "Experimental.cases", "5")(
        _csv_cell(2, "Experimental.N", "4")(b)), None),
]


@pytest.mark.parametrize("case", KEPT, ids=lambda c: f"{c[0]}-{c[1]}")
def test_revman_rows_with_more_events_than_participants_are_reported_not_refused(
        case, tmp_path: Path) -> None:
    fmt_name, _what, edit, pattern = case
    fmt = FORMATS[fmt_name]
    source, _named = fmt.make(tmp_path, edit(fmt.base(tmp_path)))
    before = _sha(source)
    if pattern is not None:
        assert any(re.search(pattern, p) for p in _problem_rows(source)), _problem_rows(source)
    result = runner.invoke(app, ["check", str(source), "--json"], env=ENV)
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    assert _sha(source) == before


@pytest.mark.parametrize("fmt_name", ["revman5-csv", "data-rows", "web-folder", "folder-outcomes",
                                      "pool"])
def test_utf8_byte_order_mark_is_accepted(fmt_name: str, tmp_path: Path) -> None:
    fmt = FORMATS[fmt_name]
    plain = fmt.base(tmp_path).removeprefix(b"\xef\xbb\xbf")
    outs = []
    for label, data in (("plain", plain), ("bom", b"\xef\xbb\xbf" + plain)):
        d = tmp_path / label
        d.mkdir()
        source, _ = fmt.make(d, data)
        args = (["pool", str(source), *POOL_OPTIONS["RR"], "--json"] if fmt_name == "pool"
                else ["check", str(source), "--json"])
        result = runner.invoke(app, args, env=ENV)
        assert result.exit_code in (0, 1), result.output
        outs.append(result.stdout.replace(str(d), "<dir>"))
    assert outs[0] == outs[1]


def test_duplicate_study_in_a_revman_export_is_kept(tmp_path: Path) -> None:
    """RevMan exports list a study twice in one analysis (multi-arm trials, 80 of 501 Pairwise70
    reviews): both rows are read and pooled, as RevMan did."""
    from trialsynth.readers import read_review

    data = ROWS_FILE.read_bytes()
    lines = data.splitlines(keepends=True)
    source = tmp_path / "rows.csv"
    source.write_bytes(b"".join([*lines[:3], lines[2], *lines[3:]]))
    first = read_review(ROWS_FILE).analyses[0]
    again = read_review(source).analyses[0]
    assert len(again.frame) == len(first.frame) + 1
    assert again.frame["study"].duplicated().any()
    result = runner.invoke(app, ["check", str(source), "--json"], env=ENV)
    assert result.exit_code in (0, 1) and "Traceback" not in result.output


def test_every_format_and_command_is_covered() -> None:
    """The table above reaches every reader format through every command that reads it."""
    seen: dict[str, set[str]] = {}
    for fmt_name, what, _e, _p in CASES:
        seen.setdefault(fmt_name, set()).add(what)
    assert set(FORMATS) <= set(seen)
    wanted = {"truncated", "utf16", "latin1-bytes", "non-numeric", "empty"}
    for fmt_name in ("rm5", "rm5.gz", "revman5-csv", "web-zip", "web-folder", "data-rows", "pool"):
        assert wanted - {"truncated"} <= seen[fmt_name] | {"truncated"}, fmt_name
    for fmt_name in ("revman5-csv", "web-zip", "web-folder", "data-rows", "pool",
                     "folder-outcomes"):
        assert {"negative-sd", "missing-column"} <= seen[fmt_name] | {"missing-attribute"}
    assert os.path.isdir(HOSTILE)


def test_duplicate_study_label_in_a_pool_table_is_kept(tmp_path: Path) -> None:
    """Two trials may share a label: metafor's dat.bcg has two 'Rosenthal et al' trials. Both
    rows are pooled (labels are names, not keys)."""
    source = tmp_path / "studies.csv"
    source.write_bytes(POOL_CSV + b"Beta 2003,1,10,2,10,5,1,5,1\n")
    result = runner.invoke(app, ["pool", str(source), *POOL_OPTIONS["RR"], "--json"], env=ENV)
    assert result.exit_code == 0, result.output
    import json

    assert [s["study"] for s in json.loads(result.stdout)["studies"]].count("Beta 2003") == 2


def test_duplicate_study_in_an_rm5_analysis_is_kept(tmp_path: Path) -> None:
    """RevMan 5 files list a study twice in one analysis too (CD008625 has 207 such rows)."""
    from trialsynth.readers import read_review

    source = tmp_path / "review.rm5"
    source.write_bytes(re.sub(rb'(<DICH_DATA [^>]*STUDY_ID=")STD-CDP"', rb'\1STD-MRC_x002d_1"',
                              RM5_FILE.read_bytes(), count=1))
    frame = read_review(source).analyses[0].frame
    assert list(frame["study"]).count("MRC-1") == 2 and frame["complete"].all()
    result = runner.invoke(app, ["check", str(source), "--json"], env=ENV)
    assert result.exit_code in (0, 1) and "Traceback" not in result.output


@pytest.mark.parametrize("fmt_name", ["rm5", "revman5-csv", "data-rows", "web-folder"])
def test_revman_row_with_n_zero_is_not_estimable(fmt_name: str, tmp_path: Path) -> None:
    """An arm with N = 0 in a RevMan export is a row RevMan shows as "not estimable": it is read,
    left out of the pooling, and the command finishes."""
    from trialsynth.readers import read_review

    edit = {"rm5": _replace(b'EVENTS_1="49"', b'EVENTS_1="0"'),
            "revman5-csv": _replace(b"MRC-1,,,,,49,0,0,615,", b"MRC-1,,,,,0,0,0,0,"),
            "data-rows": lambda b: _csv_cell(2, "Experimental.N", "0")(b),
            "web-folder": _replace(b",246,2267,", b",0,0,")}[fmt_name]
    fmt = FORMATS[fmt_name]
    data = edit(fmt.base(tmp_path))
    if fmt_name == "rm5":
        data = _replace(b'TOTAL_1="615"', b'TOTAL_1="0"')(data)
    source, _ = fmt.make(tmp_path, data)
    before = _sha(source)
    first = read_review(source).analyses[0].frame
    assert not first["complete"].iloc[0] and first["complete"].iloc[1:].any()
    result = runner.invoke(app, ["check", str(source), "--json"], env=ENV)
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    assert _sha(source) == before
