"""Outputs under attack (issue 15, items 1, 2 and 5): inputs are never changed, concurrent
commands on one output are safe, every operating-system failure while writing is one line, and
a command killed at any point (SIGKILL) leaves the old output or the new one, never a mix, and
nothing the next command does not clean up.

Real data: the Fleiss 1993 RevMan 5 file and the flagship review folder (shared/data,
PROVENANCE.md). Faults are real where the machine allows: a small tmpfs for a full disk and a
read-only tmpfs (mounting needs root; otherwise the same failures are injected), RLIMIT_FSIZE for
the file-size limit, and SIGKILL of a child process at chosen points (tests/_cli_process.py).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli_process import _CHILD, env, trialsynth_cli
from _paths import SHARED_DATA

FLEISS = SHARED_DATA / "meta-fleiss1993" / "Fleiss1993.rm5"
FLAGSHIP = Path(__file__).resolve().parents[1] / "examples" / "nmda-chronic-pain"
LONG = b"analysis,study,yi,se\na,s1,0.1,0.1\na,s2,0.2,0.15\nb,s3,0.3,0.2\nb,s4,-0.1,0.1\n"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")) if path.is_dir() else [path]:
        if p.is_file():
            h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _one_error_line(proc: subprocess.CompletedProcess[str], *patterns: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for pattern in patterns:
        assert pattern in err, (pattern, err)
    return err


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}"))


# ------------------------------------------------------------------------------------------
# 1. inputs are never outputs


def test_batch_refuses_to_write_over_its_input(tmp_path: Path) -> None:
    long = tmp_path / "long.csv"
    long.write_bytes(LONG)
    for out in (long, tmp_path / "long.failures.csv"):
        src = long if out == long else out
        if src != long:
            src.write_bytes(LONG)
        proc = trialsynth_cli("batch", src, "--out", tmp_path / "long.csv", "--quiet")
        _one_error_line(proc, "refusing to overwrite the input")
        assert src.read_bytes() == LONG
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "long.csv").write_bytes(LONG)
    proc = trialsynth_cli("batch", folder, "--out", folder / "results.csv", "--quiet")
    _one_error_line(proc, "lies inside the input folder")
    parts = tmp_path / "r.csv.parts"  # the parts folder is removed at the end: never the input
    parts.mkdir()
    (parts / "long.csv").write_bytes(LONG)
    proc = trialsynth_cli("batch", parts / "long.csv", "--out", tmp_path / "r.csv", "--quiet")
    _one_error_line(proc, "would contain the input")
    assert (parts / "long.csv").read_bytes() == LONG


def test_run_and_import_refuse_outputs_inside_their_input(tmp_path: Path) -> None:
    review = tmp_path / "review"
    shutil.copytree(FLAGSHIP, review)
    before = _digest(review)
    for args, message in (
            (("run", review, "--out", review / "report", "--quiet"), "lies inside the input"),
            (("run", review, "--out", review), "is the input"),
            (("import", review, "--out", review), "is the input"),
            (("import", review, "--out", tmp_path / "copy", "--json", review / "review.yaml"),
             "lies inside the input")):
        _one_error_line(trialsynth_cli(*args), message)
        assert _digest(review) == before
    assert not (tmp_path / "copy").exists()


# ------------------------------------------------------------------------------------------
# concurrency: one writer per output


def test_a_second_command_on_a_busy_output_says_why(tmp_path: Path) -> None:
    """A child holds the lock of OUT (as a running command does); ``run`` on OUT stops at once
    with a message naming the holder, and OUT is untouched."""
    out = tmp_path / "report"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom trialsynth._atomic import output_lock\n"
         "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n",
         str(out)], stdout=subprocess.PIPE, text=True, env=env())
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet")
        _one_error_line(proc, "another trialsynth command", f"(process {holder.pid})")
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet")  # the lock died with it
    assert proc.returncode == 0, proc.stderr
    assert _leftovers(tmp_path, "report") == []  # no lock file, no temporary folder


def test_two_runs_on_one_output_at_once(tmp_path: Path) -> None:
    """Started together: one wins, the other (if they overlapped) says why; never Errno 39."""
    out = tmp_path / "report"
    cmd = ["run", FLEISS, "--out", out, "--quiet"]

    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, "none", *map(str, cmd)], env=env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for code, err in results:
        if code == 2:
            assert err.startswith("error: ") and "another trialsynth command" in err, err
        assert "Errno" not in err and "Traceback" not in err
    assert json.loads((out / "results.json").read_text())["summary"]["analyses"] == 2
    assert _leftovers(tmp_path, "report") == []


# ------------------------------------------------------------------------------------------
# 5. SIGKILL at chosen points: the old output or the new one, and the next run cleans up


@pytest.fixture(scope="module")
def old_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished report of the Fleiss file, to be replaced by killed runs."""
    out = tmp_path_factory.mktemp("old") / "report"
    proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    (out / "results.json").write_text(json.dumps({"old": True}))  # recognisably the old one
    return out


@pytest.mark.parametrize("point", ["after-lock", "while-writing", "before-swap", "after-swap",
                                   "between-renames"])
def test_killed_run_leaves_a_complete_output_and_the_next_run_cleans_up(
        point: str, old_report: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    shutil.copytree(old_report, out)
    proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet", fault=point)
    assert proc.returncode == -9, (proc.returncode, proc.stderr)  # SIGKILL
    left = _leftovers(tmp_path, "report")
    if point == "between-renames":  # no atomic exchange: the old folder is aside, complete
        assert not out.exists()
        assert any(".old-" in name for name in left), left
    else:  # the atomic exchange: at every instant the old output or the new one
        results = json.loads((out / "results.json").read_text())
        if point == "after-swap":  # the new output is in place; the old one is left aside
            assert "summary" in results
        else:
            assert results == {"old": True}
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in old_report.iterdir())
    # the next command on that output puts the old one back if needed, and removes the rest
    proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "summary" in json.loads((out / "results.json").read_text())
    assert _leftovers(tmp_path, "report") == []


def test_recovery_puts_the_old_output_back_before_anything_else(old_report: Path,
                                                                tmp_path: Path) -> None:
    """Killed between the two renames, then the next command fails on a bad input: the old
    output is back anyway (recovery happens when the lock is taken)."""
    out = tmp_path / "report"
    shutil.copytree(old_report, out)
    proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet", fault="between-renames")
    assert proc.returncode == -9 and not out.exists()
    bad = tmp_path / "bad.rm5"
    bad.write_bytes(FLEISS.read_bytes()[:3000])
    _one_error_line(trialsynth_cli("run", bad, "--out", out, "--quiet"), "not well-formed XML")
    assert json.loads((out / "results.json").read_text()) == {"old": True}
    assert _leftovers(tmp_path, "report") == []


def test_killed_at_random_times_the_output_is_old_or_new(old_report: Path,
                                                         tmp_path: Path) -> None:
    """Real SIGKILLs at increasing delays while ``run`` works; after each, the output is the
    old report or a complete new one, and a final run leaves nothing behind."""
    out = tmp_path / "report"
    shutil.copytree(old_report, out)
    for delay in (0.5, 1.5, 3.0, 5.0):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, "none", "run", str(FLEISS), "--out",
                                  str(out), "--quiet"], env=env(), stderr=subprocess.DEVNULL)
        time.sleep(delay)
        child.kill()
        child.wait()
        results = json.loads((out / "results.json").read_text())
        assert results == {"old": True} or results["summary"]["analyses"] == 2
        assert (out / "index.html").is_file()
    proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert _leftovers(tmp_path, "report") == []


# ------------------------------------------------------------------------------------------
# 2. operating-system failures while writing: one line, old output unchanged


def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True).returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True)


def _fake_failure(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Where no file system can be mounted: every file write of the output fails with ``code``."""
    import trialsynth._atomic as atomic

    def failing(folder: Path, files: dict) -> None:
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(atomic, "_write_files", failing)


def test_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old_report: Path) -> None:
    disk = tmp_path / "disk"
    pages = sum(-(-p.stat().st_size // 4096) for p in old_report.rglob("*") if p.is_file())
    # room for the old report and half of a new one: the new one cannot be written
    mounted = _mount_tmpfs(disk, f"size={(pages * 3 // 2 + 8) * 4}k")
    try:
        out = disk / "report"
        shutil.copytree(old_report, out)  # small enough for the disk; the new one is not
        if mounted:
            proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet")
            err = _one_error_line(proc, str(out), "no space left on the device", "[ENOSPC]")
        else:
            from typer.testing import CliRunner

            from trialsynth.cli import app
            _fake_failure(monkeypatch, errno.ENOSPC)
            res = CliRunner().invoke(app, ["run", str(FLEISS), "--out", str(out), "--quiet"],
                                     env={"COLUMNS": "2000", "NO_COLOR": "1"})
            assert res.exit_code == 2
            err = res.stderr.strip()
            assert "[ENOSPC]" in err and "\n" not in err
        assert "nothing was changed" in err
        assert json.loads((out / "results.json").read_text()) == {"old": True}
        assert _leftovers(disk, "report") == []
    finally:
        if mounted:
            _umount(disk)


def test_read_only_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    place = tmp_path / "ro"
    mounted = _mount_tmpfs(place, "ro,size=64k")
    try:
        if mounted:
            proc = trialsynth_cli("run", FLEISS, "--out", place / "report", "--quiet")
            _one_error_line(proc, str(place / "report"), "read-only file system", "[EROFS]")
        elif os.geteuid() != 0:
            place.chmod(0o555)
            proc = trialsynth_cli("run", FLEISS, "--out", place / "report", "--quiet")
            _one_error_line(proc, "permission denied", "[EACCES]")
        else:
            from typer.testing import CliRunner

            from trialsynth.cli import app
            _fake_failure(monkeypatch, errno.EROFS)
            res = CliRunner().invoke(app, ["run", str(FLEISS), "--out", str(place / "r"),
                                           "--quiet"], env={"COLUMNS": "2000"})
            assert res.exit_code == 2 and "[EROFS]" in res.stderr
    finally:
        if mounted:
            _umount(place)


def test_file_size_limit(tmp_path: Path, old_report: Path) -> None:
    out = tmp_path / "report"
    shutil.copytree(old_report, out)

    def limit() -> None:  # 20 kB: the report's figures are larger
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = trialsynth_cli("run", FLEISS, "--out", out, "--quiet", preexec=limit)
    err = _one_error_line(proc, str(out), "file too large", "[EFBIG]")
    assert "nothing was changed" in err
    assert json.loads((out / "results.json").read_text()) == {"old": True}
    assert _leftovers(tmp_path, "report") == []
    proc = trialsynth_cli("import", FLEISS, "--out", tmp_path / "folder", "--json",
                          tmp_path / "review.json", preexec=limit)
    _one_error_line(proc, "file too large")
    assert not (tmp_path / "review.json").exists()


def test_output_under_a_regular_file(tmp_path: Path) -> None:
    note = tmp_path / "notes.txt"
    note.write_text("mine")
    for command in (("run", FLEISS, "--out", note / "report", "--quiet"),
                    ("import", FLEISS, "--out", note / "sub" / "folder"),
                    ("batch", FLEISS, "--out", note / "results.csv", "--quiet")):
        _one_error_line(trialsynth_cli(*command), f"{note} is a file, not a folder")
    assert note.read_text() == "mine"
