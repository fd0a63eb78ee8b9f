"""``trialsynth batch`` at any size and on any install: the input read in bounded blocks (long
tables in chunks, interleaved analyses grouped on disk, .tgz member by member with a size bound),
resume validated by the input's content, leftovers of killed runs removed, and the base install
(no pyarrow, no Dask) reading and writing CSV, with a one-line message naming the extra for
anything else.

Real data: Cochrane reviews of the Pairwise70 corpus (../shared/data/pairwise70). Data marked
"simulated" are drawn here from a seeded random-effects model.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _paths import SHARED_DATA
from test_batch import simulated_long_table

import trialsynth.corpus.run as batch_run
import trialsynth.corpus.sources as sources
from trialsynth.corpus import run_batch
from trialsynth.errors import DataError

PW70 = SHARED_DATA / "pairwise70"


def _simulated(tmp_path: Path, n: int = 60, seed: int = 21) -> tuple[pd.DataFrame, Path]:
    frame = simulated_long_table(seed=seed, n=n)  # simulated
    path = tmp_path / "simulated.csv"
    frame.to_csv(path, index=False)
    return frame, path


# ------------------------------------------------------------------------------------------
# bounded blocks


def test_long_table_read_in_bounded_chunks_gives_the_same_results(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    frame, path = _simulated(tmp_path)
    whole = run_batch(path, method="REML", hksj=True, partition_size=9)
    seen: list[int] = []
    original = sources.long_frame

    def spy(chunk: pd.DataFrame, src: str, first_row: int = 2):  # noqa: ANN202
        seen.append(len(chunk))
        return original(chunk, src, first_row)

    monkeypatch.setattr(sources, "long_frame", spy)
    monkeypatch.setattr(sources, "BLOCK_ROWS", 17)  # a chunk ends inside many analyses
    chunked = run_batch(path, tmp_path / "out.csv", method="REML", hksj=True, partition_size=9)
    assert len(seen) == -(-len(frame) // 17) and max(seen) <= 17  # never more rows at once
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)


def test_interleaved_analyses_are_grouped_on_disk(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    frame, _ = _simulated(tmp_path, n=40, seed=8)
    rng = np.random.default_rng(1)
    shuffled = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)  # simulated
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    # the same rows, each analysis' rows together in the shuffled file's order of first appearance
    first = {a: i for i, a in reversed(list(enumerate(shuffled["analysis"])))}
    grouped = shuffled.iloc[np.argsort([first[a] for a in shuffled["analysis"]], kind="stable")]
    grouped.to_csv(tmp_path / "grouped.csv", index=False)
    want = run_batch(tmp_path / "grouped.csv", method="REML")
    monkeypatch.setattr(sources, "BLOCK_ROWS", 23)
    out = tmp_path / "res.parquet"
    got = run_batch(tmp_path / "shuffled.csv", out, method="REML", partition_size=6)
    pd.testing.assert_frame_equal(got.drop(columns="source"), want.drop(columns="source"),
                                  check_exact=True)
    assert not batch_run.parts_dir(out).exists()  # spill files went with the parts folder
    assert not list(tmp_path.glob(".*"))


def test_tgz_member_size_is_bounded_before_reading(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # a small archive whose one member expands far beyond the limit (zeros compress well)
    big = tmp_path / "bomb.tgz"
    with tarfile.open(big, "w:gz") as tf:
        info = tarfile.TarInfo("review_data.csv")
        info.size = 64 * 1024 * 1024
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    assert big.stat().st_size < 1024 * 1024
    monkeypatch.setattr(sources, "MAX_MEMBER", 1024 * 1024)
    read = []
    original = tarfile.TarFile.extractfile

    def spy(self: tarfile.TarFile, member: object):  # noqa: ANN202
        read.append(member)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)
    with pytest.raises(DataError, match=r"bomb\.tgz:review_data\.csv: archive member is 67108864 "
                                        r"bytes; the limit is 1048576"):
        run_batch(big)
    assert read == []  # refused on the header's size, nothing decompressed


def test_tgz_total_expansion_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # many members, each within the member limit, that together expand a thousandfold
    bomb = tmp_path / "many.tgz"
    with tarfile.open(bomb, "w:gz") as tf:
        for i in range(6):
            info = tarfile.TarInfo(f"r{i}_data.csv")
            info.size = 2 * 1024 * 1024
            tf.addfile(info, io.BytesIO(bytes(info.size)))
    monkeypatch.setattr(sources, "EXPANSION_FLOOR", 4 * 1024 * 1024)
    read: list[object] = []
    original = tarfile.TarFile.extractfile

    def spy(self: tarfile.TarFile, member: object):  # noqa: ANN202
        read.append(member)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)
    with pytest.raises(DataError, match=r"many\.tgz:r2_data\.csv: the archive expands to more "
                                        r"than 4194304 bytes"):
        [name for name, _, _ in sources._tgz_blobs(bomb)]  # the members, as the reader takes them
    assert len(read) <= 2  # the third member is refused before it is decompressed


# ------------------------------------------------------------------------------------------
# resume validated by content


def test_resume_sees_an_edit_that_keeps_size_and_mtime(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, path = _simulated(tmp_path, n=40, seed=13)
    out = tmp_path / "res.csv"
    before = run_batch(path, method="DL", partition_size=10)
    original = batch_run.pool_partition
    calls: list[str] = []

    def stop_third(payload: dict, options: dict) -> tuple:
        calls.append(payload["analyses"]["analysis"].iloc[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(payload, options)

    monkeypatch.setattr(batch_run, "pool_partition", stop_third)
    monkeypatch.setattr(batch_run, "THREADS", 1)
    with pytest.raises(KeyboardInterrupt):
        run_batch(path, out, method="DL", partition_size=10)
    assert (batch_run.parts_dir(out) / "part-00000.csv").is_file()
    # edit in place: same length, same modification time, different numbers (first analysis)
    st = path.stat()
    text = path.read_bytes()
    line = text.split(b"\n")[1]
    i = text.index(line)
    digit = next(j for j, ch in enumerate(line) if chr(ch).isdigit() and chr(ch) != "0"
                 and j > line.index(b",", line.index(b",") + 1))
    edited = text[:i + digit] + (b"9" if line[digit:digit + 1] != b"9" else b"8") + \
        text[i + digit + 1:]
    path.write_bytes(edited)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    monkeypatch.setattr(batch_run, "pool_partition", original)
    resumed = run_batch(path, out, method="DL", partition_size=10)
    fresh = run_batch(path, method="DL", partition_size=10)
    pd.testing.assert_frame_equal(resumed, fresh, check_exact=True)
    assert not resumed.head(10).equals(before.head(10))  # the edit changed the first partition


# ------------------------------------------------------------------------------------------
# leftovers of a killed run


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftovers_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    _, path = _simulated(tmp_path, n=12)
    out = tmp_path / "res.csv"
    dead = _dead_pid()
    stale = tmp_path / f".res.csv.{dead}-deadbeef.tmp"  # a half-written results table
    stale.write_bytes(b"x" * 100_000)
    parts = batch_run.parts_dir(out)
    spill = parts / f".spill-{dead}-abc"
    spill.mkdir(parents=True)
    (spill / "b0000000-0000000.npz").write_bytes(b"y" * 1000)
    live = tmp_path / f".res.csv.{os.getpid()}-cafe.tmp"  # a live writer's file is kept
    live.write_bytes(b"z")
    run_batch(path, out, method="DL")
    assert not stale.exists() and not spill.exists() and live.exists()
    assert out.is_file() and not parts.exists()


def test_a_batch_killed_while_writing_leaves_nothing_on_the_next_run(tmp_path: Path) -> None:
    """A real kill: the process writing RESULTS is killed (SIGKILL) mid-write."""
    _, path = _simulated(tmp_path, n=30)
    out = tmp_path / "res.csv"
    code = (
        "import os, signal, sys\n"
        "import trialsynth.corpus.output as o\n"
        "real = o.PartStore._csv\n"
        "def killed(self, tmp, n, columns):\n"
        "    tmp.write_bytes(b'half-written' * 10000)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "o.PartStore._csv = killed\n"
        "from trialsynth.corpus import run_batch\n"
        f"run_batch({str(path)!r}, {str(out)!r}, method='DL', partition_size=7)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    left = list(tmp_path.glob(".res.csv.*.tmp"))
    assert len(left) == 1 and left[0].stat().st_size >= 120_000 and not out.exists()
    table = run_batch(path, out, method="DL", partition_size=7)  # resumes from the parts
    assert not list(tmp_path.glob(".*.tmp")) and out.is_file()
    assert len(pd.read_csv(out)) == len(table)


# ------------------------------------------------------------------------------------------
# the base install: no pyarrow, no Dask


BLOCK = ("import sys\n"
         "for name in ('pyarrow', 'dask', 'distributed', 'fastparquet'):\n"
         "    sys.modules[name] = None  # as if not installed: importing it raises ImportError\n")


def _without_extras(args: list[str]) -> subprocess.CompletedProcess:
    """``trialsynth ARGS`` in a fresh interpreter where pyarrow and Dask cannot be imported."""
    code = BLOCK + "from trialsynth.cli import app\nsys.argv = ['trialsynth', *sys.argv[1:]]\napp()\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, check=False, timeout=300)


def test_base_install_csv_in_and_out(tmp_path: Path) -> None:
    _, path = _simulated(tmp_path)
    r = _without_extras(["batch", str(path), "--out", str(tmp_path / "res.csv"), "--method",
                         "REML", "--hksj", "--quiet"])
    assert r.returncode == 0, r.stderr[-3000:]
    got = pd.read_csv(tmp_path / "res.csv")
    want = run_batch(path, method="REML", hksj=True)  # with pyarrow's reader and writer
    assert list(got.columns) == list(want.columns) and len(got) == len(want) > 50
    for c in ("estimate", "se", "tau2", "tau2_ci_high", "pi_low", "q", "k"):
        np.testing.assert_array_equal(got[c].to_numpy(float), want[c].to_numpy(float))
    assert (tmp_path / "res.failures.csv").is_file()


@pytest.mark.shared_data
def test_base_install_reads_data_rows_as_pyarrow_does(tmp_path: Path) -> None:
    src = PW70 / "CD015373_pub2_data.csv"
    r = _without_extras(["batch", str(src), "--out", str(tmp_path / "plain.csv"), "--method",
                         "REML", "--hksj", "--quiet"])
    assert r.returncode == 0, r.stderr[-3000:]
    run_batch(src, tmp_path / "arrow.csv", method="REML", hksj=True)
    plain, arrow = pd.read_csv(tmp_path / "plain.csv"), pd.read_csv(tmp_path / "arrow.csv")
    pd.testing.assert_frame_equal(plain, arrow, check_exact=True, check_dtype=False)  # 12.0 or 12


@pytest.mark.parametrize("args,extra", [
    (["--out", "{tmp}/res.parquet"], "trialsynth[parquet]"),
    (["--out", "{tmp}/res.csv", "--workers", "2"], "trialsynth[dask]"),
    (["--out", "{tmp}/res.csv", "--scheduler", "tcp://127.0.0.1:1"], "trialsynth[dask]"),
])
def test_missing_extra_is_one_line_exit_2(tmp_path: Path, args: list[str], extra: str) -> None:
    _, path = _simulated(tmp_path, n=6)
    r = _without_extras(["batch", str(path), *[a.format(tmp=tmp_path) for a in args]])
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and extra in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    assert not list(tmp_path.glob("res*"))


def test_parquet_input_without_pyarrow_names_the_extra(tmp_path: Path) -> None:
    frame = simulated_long_table(seed=3, n=5)  # simulated
    frame.to_parquet(tmp_path / "long.parquet", index=False)
    r = _without_extras(["batch", str(tmp_path / "long.parquet"), "--out", str(tmp_path / "o.csv")])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "reading Parquet needs the optional dependency pyarrow" in r.stderr
    assert "pip install 'trialsynth[parquet]'" in r.stderr
