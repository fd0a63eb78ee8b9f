"""The batch engine: many analyses in one call, convergence reporting, edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import trialsynth as ts
from trialsynth.pooling.batch import METHODS

REFERENCE = Path(__file__).parent / "reference" / "metafor_reference.json"
CASES = json.loads(REFERENCE.read_text())["cases"]
RANDOM = ("DL", "REML", "ML", "PM", "HE", "SJ", "EB")


def _stack(cases: list[dict]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    frames = [pd.DataFrame(c["data"]) for c in cases]
    group = np.concatenate([np.full(len(f), i) for i, f in enumerate(frames)])
    cols = pd.concat(frames, ignore_index=True)
    return {c: cols[c].to_numpy(float) for c in cols.columns if c not in ("study", "subgroup")}, group


@pytest.mark.parametrize("method", RANDOM)
@pytest.mark.parametrize("measure", ["OR", "SMD", "GENERIC"])
def test_one_batch_equals_metafor_for_every_analysis(measure: str, method: str) -> None:
    """All real data sets of one measure pooled in ONE call; each row equals metafor's result."""
    cases = [c for c in CASES if c["measure"] == measure and c["method"] == method
             and c["test"] == "knha" and "subgroup" not in c["data"] and c["expected"]]
    cols, group = _stack(cases)
    batch = ts.pool_arrays(measure, method, cols, group, len(cases), hksj=True)
    for i, case in enumerate(cases):
        want = case["expected"]
        for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "pi_low", "q"):
            got = getattr(batch, key)[i]
            assert got == pytest.approx(want[key], rel=1e-6, abs=1e-9), (case["id"], key)


def test_empty_analysis_in_a_batch_is_nan_not_an_error() -> None:
    cols = {"yi": np.array([0.1, 0.3, 0.2]), "se": np.array([0.1, 0.2, 0.15])}
    batch = ts.pool_arrays("GENERIC", "REML", cols, np.array([0, 0, 2]), 3)
    assert batch.k.tolist() == [2, 0, 1]
    assert np.isnan(batch.estimate[1]) and np.isfinite(batch.estimate[0])
    assert batch.estimate[2] == pytest.approx(0.2)


def test_non_convergence_is_reported_per_analysis() -> None:
    """With the iteration budget cut to one step (the convergence control), REML cannot
    converge: the result says so."""
    case = next(c for c in CASES if c["id"] == "bcg_RR_REML_z")
    with pytest.warns(ts.ConvergenceWarning):
        result = ts.pool(pd.DataFrame(case["data"]), "RR", "REML",
                         control={"maxiter": 1, "root_maxiter": 1})
    assert result.converged is False
    assert any("did not converge" in w for w in result.warnings)
    assert result.settings["control"]["maxiter"] == 1


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_on_binary_data(method: str) -> None:
    case = next(c for c in CASES if c["id"] == "bcg_RR_REML_z")
    measure = "PETO_OR" if method == "PETO" else "RR"
    result = ts.pool(pd.DataFrame(case["data"]), measure, method)
    assert result.k == 13 and result.ci_low < result.estimate < result.ci_high


def test_unknown_method_and_measure_are_data_errors() -> None:
    frame = pd.DataFrame({"yi": [0.1, 0.2], "se": [0.1, 0.1]})
    with pytest.raises(ts.DataError, match="unknown method"):
        ts.pool(frame, "GENERIC", "XYZ")
    with pytest.raises(ts.DataError, match="unknown measure"):
        ts.pool(frame, "HR2", "DL")


def test_revman_drops_double_zero_studies_and_says_so() -> None:
    frame = pd.DataFrame({"study": ["A", "B", "C"], "events_t": [0, 3, 5], "n_t": [20, 20, 30],
                          "events_c": [0, 6, 9], "n_c": [20, 20, 30]})
    result = ts.pool(frame, "RR", "DL", revman=True)
    assert result.k == 2 and result.weights[0] is None
    assert any("not estimable" in w and "A" in w for w in result.warnings)
    metafor_style = ts.pool(frame, "RR", "DL")
    assert metafor_style.k == 3  # metafor's escalc keeps double zeros (yi = 0 after +1/2)


def test_generic_input_from_a_ratio_and_its_ci() -> None:
    """dat.steurer2006 (Steurer et al. 2006; real data from metadat) reports HRs with 95% CIs and
    the authors' own ln HR and SE; the SE from the CI agrees to the reported rounding."""
    df = pd.read_csv(Path(__file__).resolve().parents[2] / "shared/data/metadat/dat.steurer2006.csv")
    frame = pd.DataFrame({"ratio": df.HR, "ratio_ci_low": df.lowHR, "ratio_ci_high": df.uppHR})
    result = ts.pool(frame, "GENERIC", "IV")
    got_se = [s.se for s in result.studies]
    assert got_se == pytest.approx(df.selnHR.tolist(), rel=0.02)
    assert [s.yi for s in result.studies] == pytest.approx(df.lnHR.tolist(), abs=0.006)
    bad = frame.assign(ratio_ci_low=[0.5, 2.0, 0.5, 0.5][: len(frame)])
    with pytest.raises(ts.DataError, match="row 3, column 'ratio_ci_low'"):
        ts.pool(bad, "GENERIC", "IV")
