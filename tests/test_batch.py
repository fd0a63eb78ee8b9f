"""``trialsynth batch`` and :func:`trialsynth.corpus.run_batch`: every row equals ``trialsynth.pool``
on that analysis, outputs in CSV and Parquet, long tables, the failure log, resuming, CLI errors.

Real data: Cochrane reviews from the Pairwise70 corpus (../shared/data/pairwise70). Data marked
"simulated" are drawn here from a seeded random-effects model.
"""

from __future__ import annotations

import csv
import functools
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _paths import SHARED_DATA
from typer.testing import CliRunner

import trialsynth.corpus.run as batch_run
from trialsynth.api import pool
from trialsynth.cli import app
from trialsynth.corpus import read_input, read_long_table, run_batch
from trialsynth.errors import DataError
from trialsynth.pooling.result import CONTRACT_KEYS, PooledResult
from trialsynth.readers import read_review
from trialsynth.review import Review, pool_measure

PW70 = SHARED_DATA / "pairwise70"
CORPUS = PW70 / "pairwise70_all_501_csv.tgz"
SAMPLE = ("CD015373_pub2", "CD005595_pub4")  # 95 + 40-odd real analyses, all data types
runner = CliRunner()

NUMERIC = ("estimate", "se", "ci_low", "ci_high", "statistic", "pvalue", "df", "tau2", "tau",
           "tau2_ci_low", "tau2_ci_high", "i2", "i2_ci_low", "i2_ci_high", "h2", "h2_ci_low",
           "h2_ci_high", "q", "q_pvalue", "pi_low", "pi_high", "participants")


def assert_row_equals(row: pd.Series, res: PooledResult, tol: float = 1e-10) -> None:
    """One result row against ``trialsynth.pool``'s ``to_dict`` (None there = NaN here)."""
    d = res.to_dict()
    for key in NUMERIC:
        want, got = d[key], row[key]
        if want is None:
            assert not np.isfinite(got), (row["analysis"], key, got)
        else:
            assert abs(got - want) <= tol * max(1.0, abs(want)), (row["analysis"], key, got, want)
    for key in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        want = None if d["exp"] is None else d["exp"][key]
        got = row[f"exp_{key}"]
        assert (want is None and not np.isfinite(got)) or \
            abs(got - want) <= tol * max(1.0, abs(want)), (row["analysis"], key)
    for key in ("k", "q_df", "measure", "method", "model", "iterations", "converged"):
        assert row[key] == d[key], (row["analysis"], key, row[key], d[key])
    assert row["warnings"] == " | ".join(d["warnings"]), row["analysis"]


def _pool(frame: pd.DataFrame, measure: str, method: str, **kw: object) -> PooledResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: compared through the warnings column
        # batch and pool split a multi-arm trial's shared comparator group alike, with the same
        # notice in the warnings (Handbook v6.4 §23.3.4)
        return pool(frame, measure, method, **kw)


# ------------------------------------------------------------------------------------------
# real analyses: every row equals trialsynth.pool


@functools.cache
def _review(path: Path) -> Review:
    return read_review(path)


@pytest.mark.shared_data
@pytest.mark.parametrize("options", [
    {"method": "DL"}, {"method": "REML", "hksj": True}, {"method": "MH", "revman": True},
    {"method": "PM", "hksj": "adhoc", "revman": True},
])
def test_real_rows_equal_pool(options: dict) -> None:
    for key in SAMPLE:
        path = PW70 / f"{key}_data.csv"
        table = run_batch(path, **options).set_index("analysis")
        failed = set(table.attrs["failures"]["analysis"])
        review = _review(path)
        checked = 0
        for a in review.analyses:
            aid = f"{key}:{a.id}"
            if options["method"] == "MH" and a.data_type != "dichotomous":
                assert aid in failed  # M-H needs RR, OR or RD: logged, not pooled
                continue
            if aid in failed:
                continue
            row = table.loc[aid]
            # the cheap measure choice is the one trialsynth.readers.read_review infers
            assert row["measure"] == pool_measure(a.settings.measure), aid
            res = _pool(a.pooled_rows, row["measure"], options["method"],
                        hksj=options.get("hksj", False), revman=options.get("revman", False))
            assert_row_equals(pd.concat([pd.Series({"analysis": aid}), row]), res)
            checked += 1
        assert checked >= (5 if options["method"] == "MH" else 30)
        assert len(table) + len(failed) == len(review.analyses)


@pytest.mark.shared_data
def test_analysis_ids_unique_across_reviews_and_measure_forced(tmp_path: Path) -> None:
    folder = tmp_path / "reviews"
    folder.mkdir()
    for key in SAMPLE:
        (folder / f"{key}_data.csv").write_bytes((PW70 / f"{key}_data.csv").read_bytes())
    table = run_batch(folder, measure="SMD")
    assert table["analysis"].is_unique
    assert set(table["analysis"].str.split(":").str[0]) == set(SAMPLE)
    assert (table["measure"] == "SMD").all() and (table["measure_source"] == "--measure").all()
    fails = table.attrs["failures"]
    assert fails["reason"].str.contains("--measure SMD does not fit dichotomous data").any()
    # the SMD rows still equal trialsynth.pool
    review = read_review(folder / "CD015373_pub2_data.csv")
    a = next(a for a in review.analyses if f"CD015373_pub2:{a.id}" in set(table["analysis"]))
    row = table.set_index("analysis").loc[f"CD015373_pub2:{a.id}"]
    assert_row_equals(pd.concat([pd.Series({"analysis": a.id}), row]), _pool(a.pooled_rows, "SMD", "DL"))


# ------------------------------------------------------------------------------------------
# simulated data (seeded random-effects model) as a long table


def simulated_long_table(seed: int = 5, n: int = 30) -> pd.DataFrame:
    """Simulated: n analyses of 1–12 studies, a third each dichotomous, continuous, generic;
    true effects from a random-effects model, some zero cells and one all-double-zero analysis."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(n):
        k = int(rng.integers(1, 13))
        kind = ("dichotomous", "continuous", "generic")[j % 3]
        theta = rng.normal(0.2, 0.3, size=k)
        for i in range(k):
            r = {"analysis": f"sim{j:03d}", "study": f"simulated study {i + 1}"}
            nt, nc = (int(x) for x in rng.integers(10, 200, size=2))
            if kind == "dichotomous":
                pc = rng.uniform(0.02, 0.4)
                pt = min(0.95, pc * math.exp(theta[i]))
                r |= {"events_t": rng.binomial(nt, pt), "n_t": nt, "events_c": rng.binomial(nc, pc),
                      "n_c": nc}
                if j == 3:
                    r |= {"events_t": 0, "events_c": 0}  # every study double-zero
            elif kind == "continuous":
                sd = rng.uniform(1, 3)
                r |= {"mean_t": rng.normal(theta[i] * sd, sd / math.sqrt(nt)), "sd_t": sd, "n_t": nt,
                      "mean_c": rng.normal(0, sd / math.sqrt(nc)), "sd_c": sd * rng.uniform(0.8, 1.2),
                      "n_c": nc}
            else:
                se = rng.uniform(0.05, 0.5)
                r |= {"yi": rng.normal(theta[i], se), "se": se}
            rows.append(r)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("method,hksj", [("REML", True), ("DL", False), ("ML", False),
                                         ("PM", False), ("EB", True), ("SJ", False), ("HE", False),
                                         ("IV", False)])
def test_simulated_rows_equal_pool(tmp_path: Path, method: str, hksj: bool) -> None:
    frame = simulated_long_table()
    path = tmp_path / "simulated.csv"
    frame.to_csv(path, index=False)
    table = run_batch(path, method=method, hksj=hksj, partition_size=7).set_index("analysis")
    fails = table.attrs["failures"].set_index("analysis")
    for aid, rows in frame.groupby("analysis", sort=False):
        kind = "dichotomous" if rows["events_t"].notna().all() else \
            "continuous" if rows["mean_t"].notna().all() else "generic"
        measure = {"dichotomous": "RR", "continuous": "MD", "generic": "GENERIC"}[kind]
        res = _pool(rows.reset_index(drop=True), measure, method, hksj=hksj)
        if res.k == 0:  # the double-zero analysis: logged with trialsynth.pool's reason
            assert "no study could be pooled" in fails.loc[aid, "reason"]
            continue
        row = table.loc[aid]
        assert row["data_type"] == kind and row["measure"] == measure
        assert_row_equals(pd.concat([pd.Series({"analysis": aid}), row]), res)
    assert len(table) + len(fails) == frame["analysis"].nunique()


def test_long_table_csv_and_parquet_inputs_and_outputs_agree(tmp_path: Path) -> None:
    frame = simulated_long_table(seed=11, n=30)  # simulated
    frame.to_csv(tmp_path / "long.csv", index=False)
    frame.to_parquet(tmp_path / "long.parquet", index=False)
    a = run_batch(tmp_path / "long.csv", tmp_path / "a.parquet", method="REML")
    b = run_batch(tmp_path / "long.parquet", tmp_path / "b.csv", method="REML")
    pd.testing.assert_frame_equal(a.drop(columns="source"), b.drop(columns="source"),
                                  check_exact=True)
    from_parquet = pd.read_parquet(tmp_path / "a.parquet")
    from_csv = pd.read_csv(tmp_path / "b.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(from_parquet, a, check_exact=True)
    for col in ("estimate", "se", "tau2", "pi_low", "pvalue", "k"):
        np.testing.assert_allclose(from_csv[col].to_numpy(float), a[col].to_numpy(float),
                                   rtol=1e-15, equal_nan=True)
    assert list(from_csv.columns) == list(a.columns)
    assert list(a.columns[:len(CONTRACT_KEYS)]) == ["analysis", *CONTRACT_KEYS[:-1]]
    for name in ("a", "b"):
        log = pd.read_csv(tmp_path / f"{name}.failures.csv")
        assert list(log.columns) == ["analysis", "source", "reason"]
        assert len(log) + len(a) == 30  # metafor keeps double-zero studies: none fails here
    # the reading step alone
    batch = read_long_table(tmp_path / "long.parquet")
    assert batch.n == 30 and int(batch.offsets[-1]) == len(frame)


def test_failure_log_names_row_and_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({  # simulated
        "analysis": ["ok", "ok", "neg", "neg", "empty", "md", "md", "zero", "zero"],
        "study": list("abcdefghi"),
        "events_t": [3, 5, 2, -1, 4, 1, 2, 0, 0], "n_t": [20, 30, 10, 12, 25, 10, 10, 10, 10],
        "events_c": [4, 6, 3, 2, None, 2, 3, 0, 0], "n_c": [21, 28, 11, 12, 25, 10, 10, 10, 10],
        "measure": ["OR", "OR", "RR", "RR", "RR", "MD", "MD", "RR", "RR"],
    })
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    table = run_batch(path, tmp_path / "out.csv", revman=True)  # RevMan drops double zeros
    assert list(table["analysis"]) == ["ok"]
    assert table.loc[0, "measure_source"] == "stated in the input"
    log = pd.read_csv(tmp_path / "out.failures.csv").set_index("analysis")
    assert log.loc["neg", "reason"] == "row 5, column 'events_t': counts cannot be negative"
    assert log.loc["empty", "reason"] == "row 6, column 'events_c': is empty"
    assert log.loc["md", "reason"].startswith("row 7, column 'mean_t': the column is missing")
    assert log.loc["zero", "reason"].startswith("no study could be pooled")
    # trialsynth.pool rejects the same rows with the same message
    with pytest.raises(DataError, match="counts cannot be negative"):
        pool(frame[frame.analysis == "neg"].reset_index(drop=True), "RR", "DL")
    assert (log["source"] == str(path)).all()


def test_method_that_does_not_fit_is_logged(tmp_path: Path) -> None:
    frame = simulated_long_table(seed=2, n=9)  # simulated
    table = run_batch(_csv(frame, tmp_path), method="MH")
    log = table.attrs["failures"]
    assert set(table["data_type"]) == {"dichotomous"}
    assert log["reason"].str.startswith("Mantel-Haenszel needs measure RR, OR or RD").sum() == 6
    peto = run_batch(_csv(frame, tmp_path), method="PETO")
    assert set(peto["measure"]) == {"PETO_OR"}


def _csv(frame: pd.DataFrame, folder: Path) -> Path:
    path = folder / "input.csv"
    frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------------------
# resuming


def test_interrupted_run_resumes_without_redoing_finished_partitions(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch
                                                                     ) -> None:
    src = _csv(simulated_long_table(seed=3, n=40), tmp_path)  # simulated
    out = tmp_path / "res.parquet"
    original = batch_run.pool_partition
    calls: list[str] = []

    def failing(payload: dict, options: dict) -> tuple:
        first = payload["analyses"]["analysis"].iloc[0]
        calls.append(first)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run is stopped in its third partition
        return original(payload, options)

    monkeypatch.setattr(batch_run, "pool_partition", failing)
    with pytest.raises(KeyboardInterrupt):
        run_batch(src, out, method="REML", partition_size=10)
    parts = batch_run.parts_dir(out)
    assert not out.exists() and not batch_run.failures_path(out).exists()
    assert sorted(p.name for p in parts.glob("part-*[0-9].parquet")) == \
        ["part-00000.parquet", "part-00001.parquet"]
    mtimes = {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*")}
    calls.clear()

    def counting(payload: dict, options: dict) -> tuple:
        calls.append(payload["analyses"]["analysis"].iloc[0])
        assert {p.name: p.stat().st_mtime_ns for p in parts.glob("part-*") if p.name in mtimes} \
            == mtimes  # finished parts are not rewritten
        return original(payload, options)

    monkeypatch.setattr(batch_run, "pool_partition", counting)
    resumed = run_batch(src, out, method="REML", partition_size=10)
    assert calls == ["sim020", "sim030"]  # only the two unfinished partitions
    assert not parts.exists()
    monkeypatch.setattr(batch_run, "pool_partition", original)
    fresh = run_batch(src, method="REML", partition_size=10)
    pd.testing.assert_frame_equal(resumed, fresh, check_exact=True)
    pd.testing.assert_frame_equal(pd.read_parquet(out), fresh, check_exact=True)


def test_parts_of_other_options_are_not_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    src = _csv(simulated_long_table(seed=4, n=20), tmp_path)  # simulated
    out = tmp_path / "res.csv"
    original = batch_run.pool_partition
    calls: list[dict] = []

    def stop_second(payload: dict, options: dict) -> tuple:
        calls.append(options)
        if len(calls) == 2:
            raise RuntimeError("stopped")
        return original(payload, options)

    monkeypatch.setattr(batch_run, "pool_partition", stop_second)
    with pytest.raises(RuntimeError):
        run_batch(src, out, method="DL", partition_size=10)
    calls.clear()
    monkeypatch.setattr(batch_run, "pool_partition",
                        lambda p, o: calls.append(o) or original(p, o))
    table = run_batch(src, out, method="PM", partition_size=10)  # other options: all redone
    assert len(calls) == 2 and set(table["method"]) == {"PM"}


def test_partitioning_does_not_change_results() -> None:
    path = PW70 / "CD015373_pub2_data.csv"
    one = run_batch(path, method="REML", hksj=True)
    many = run_batch(path, method="REML", hksj=True, partition_size=7)
    pd.testing.assert_frame_equal(one, many, check_exact=True)


# ------------------------------------------------------------------------------------------
# CLI


def test_cli_writes_results_and_log(tmp_path: Path) -> None:
    out = tmp_path / "res.parquet"
    r = runner.invoke(app, ["batch", str(PW70 / "CD015373_pub2_data.csv"), "--out", str(out),
                            "--method", "REML", "--hksj", "--quiet"])
    assert r.exit_code == 0, r.output
    table = pd.read_parquet(out)
    assert table["analysis"].str.startswith("CD015373_pub2:").all()
    assert (tmp_path / "res.failures.csv").is_file()
    assert set(table["method"]) == {"REML"} and set(table["hksj"]) == {"true"}


def test_cli_bad_input_exit_2_names_file_row_field(tmp_path: Path) -> None:
    frame = simulated_long_table(seed=9, n=6).astype(object)  # simulated
    frame.loc[4, "n_t"] = "twelve"
    src = _csv(frame, tmp_path)
    out = tmp_path / "res.csv"
    r = runner.invoke(app, ["batch", str(src), "--out", str(out)])
    assert r.exit_code == 2
    text = "".join(r.output.split())  # rich wraps long lines
    assert str(src) in text and "row6" in text and "column'n_t'" in text and "twelve" in text
    assert "Traceback" not in r.output
    assert not out.exists() and not (tmp_path / "res.failures.csv").exists()
    assert not list(tmp_path.glob("res.csv*"))


def test_cli_bad_data_rows_file_and_missing_input(tmp_path: Path) -> None:
    with (PW70 / "CD015373_pub2_data.csv").open(encoding="utf-8", newline="") as fh:
        records = list(csv.reader(fh))
    records[3][records[0].index("Experimental.N")] = "abc"  # spreadsheet row 4
    bad = tmp_path / "CD000000_pub1_data.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC).writerows(records)
    r = runner.invoke(app, ["batch", str(bad), "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 2
    text = "".join(r.output.split())  # rich wraps long lines
    assert "row4" in text and "column'Experimental.N':notanumber:'abc'" in text and str(bad) in text
    r = runner.invoke(app, ["batch", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "r.csv")])
    assert r.exit_code == 2 and "file not found" in r.output
    r = runner.invoke(app, ["batch", str(bad), "--out", str(tmp_path / "r.xlsx")])
    assert r.exit_code == 2 and ".parquet or .csv" in r.output
    r = runner.invoke(app, ["batch", str(bad), "--out", str(tmp_path / "r.csv"), "--method", "MH",
                            "--hksj"])
    assert r.exit_code == 2 and "HKSJ" in r.output
    assert not (tmp_path / "r.csv").exists()


# ------------------------------------------------------------------------------------------
# the whole corpus


@pytest.mark.shared_data
def test_whole_corpus_tgz_row_counts(tmp_path: Path) -> None:
    index = pd.read_csv(PW70 / "_index_all_501.csv")
    out = tmp_path / "corpus.parquet"
    table = run_batch(CORPUS, out, method="DL")
    fails = pd.read_csv(batch_run.failures_path(out))
    assert len(table) + len(fails) == int(index["analyses"].sum())  # 17,622 analyses in 501 reviews
    assert table["analysis"].str.split(":").str[0].nunique() == len(index)
    assert table["analysis"].is_unique and (table["k"] >= 1).all()
    assert np.isfinite(table["estimate"]).all() and np.isfinite(table["se"]).all()
    # a folder holding the corpus and copies of some of its reviews: each review read once
    batch = read_input(PW70)
    assert batch.n == len(table)
