"""trialsynth against the results RevMan itself stored in real Cochrane review files.

``tests/reference/revman_stored.json`` is made by ``validation/extract_revman_reference.py`` from
the RevMan 5 files in ``../shared/data/cochrane-rm5`` (CD000023, CD008625, CD011564, CD012859) and
the Fleiss 1993 exports (rm5, RevMan 5 CSV, RevMan Web); every expected number there is a value as
stored by RevMan (see docs/methods/revman-conventions.md). We pool with ``revman=True`` and the
method each file states: IV fixed → IV, IV random → DL, M-H fixed → MH, M-H random → MH_RANDOM.

Tolerance: rm5 files store doubles, so 1e-6 relative (1e-9 absolute near zero); RevMan's stored
P values are themselves approximations (up to 5e-7 off the exact tail), so P values get 1e-6
absolute; the CSV export has 8 decimals and the RevMan Web export 6 (absolute 1e-7 and 1e-6).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import trialsynth as ts

REFERENCE = Path(__file__).parent / "reference" / "revman_stored.json"
DATA = json.loads(REFERENCE.read_text())
ABS_TOL = {"rm5": 1e-9, "rm5_csv": 1e-7, "revman_web": 1e-6}
DATA_COLS = ("study", "events_t", "n_t", "events_c", "n_c", "mean_t", "sd_t", "mean_c", "sd_c",
             "yi", "se", "subgroup")


def _settings(a: dict) -> tuple[str, str]:
    s = a["settings"]
    if a["data_type"] == "generic_iv":
        measure = "GENERIC"
    else:
        measure = s["effect_measure_code"]
    random = s["model"] == "random"
    method = {("IV", False): "IV", ("IV", True): "DL", ("MH", False): "MH",
              ("MH", True): "MH_RANDOM", ("PETO", False): "PETO"}[(s["method"], random)]
    return measure, method


# The Fleiss 1993 SMD analysis stores zeros / empty strings instead of results in the RevMan Web
# and rm5 files (fixture header, known_quirks): not a reference.
NOT_RESULTS = {"Fleiss1993-revmanweb:1.2", "Fleiss1993:1.2"}


def _testable(a: dict) -> bool:
    return a["settings_raw"].get("TOTALS") != "NO" and a["pooled"].get("overall") is not None \
        and a["pooled"]["overall"].get("estimable", True) is not False \
        and a["analysis_id"] not in NOT_RESULTS


ANALYSES = [a for a in DATA["analyses"] if _testable(a)]


def _number(x: object) -> float | None:
    if x is None:
        return None
    if isinstance(x, str):
        return float(x.replace("Infinity", "inf"))
    return float(x)


class Checker:
    def __init__(self, fmt: str) -> None:
        self.atol = ABS_TOL[fmt]
        self.errors: list[str] = []

    def close(self, label: str, got: float | None, want: object, *, atol: float | None = None
              ) -> None:
        want = _number(want)
        if want is None:
            return
        tol = self.atol if atol is None else max(atol, self.atol)
        if got is None or not math.isclose(got, want, rel_tol=1e-6, abs_tol=tol):
            self.errors.append(f"{label}: trialsynth {got!r} RevMan {want!r}")


def _check_pooled(chk: Checker, label: str, got: dict, want: dict, ratio: bool,
                  random: bool, effect: bool = True) -> None:
    back = (lambda x: None if x is None else math.exp(x)) if ratio else (lambda x: x)
    if effect:
        chk.close(f"{label}effect", back(got["estimate"]), want.get("effect"))
        chk.close(f"{label}ci_start", back(got["ci_low"]), want.get("ci_start"))
        chk.close(f"{label}ci_end", back(got["ci_high"]), want.get("ci_end"))
        chk.close(f"{label}z", None if got["statistic"] is None else abs(got["statistic"]),
                  want.get("z"))
        chk.close(f"{label}p_z", got["pvalue"], want.get("p_z"), atol=1e-6)
    chk.close(f"{label}chi2", got["q"], want.get("chi2"))
    if want.get("df") == 0 and 0 < (_number(want.get("chi2")) or 0) < 1e-20:
        # RevMan's Q for a single study is a rounding residue (e.g. 6.9e-32) instead of 0, and it
        # turns that into I² = 100% and P = 0; ours is exactly 0 (I² = 0, P = 1, as metafor).
        pass
    else:
        chk.close(f"{label}p_chi2", got["q_pvalue"], want.get("p_chi2"), atol=1e-6)
        chk.close(f"{label}i2", got["i2"], want.get("i2"))
    chk.close(f"{label}tau2", got["tau2"] if random else 0.0, want.get("tau2"))


@pytest.mark.parametrize("analysis", ANALYSES, ids=lambda a: a["analysis_id"])
def test_reproduces_revman(analysis: dict) -> None:
    measure, method = _settings(analysis)
    frame = pd.DataFrame(analysis["studies"])
    frame = frame[[c for c in DATA_COLS if c in frame.columns]]
    grouped = analysis["has_subgroups"]
    # RevMan pooled a multi-arm trial's shared comparator group as entered, once per comparison
    # (e.g. Usubutun 1997 in CD008625 1.1): reproduce that, not trialsynth's default split
    result = ts.pool(frame, measure, method, revman=True,
                     subgroup="subgroup" if grouped else None,
                     designs={"multi_arm": "as_entered"}).to_dict()
    chk = Checker(analysis["source_format"])
    ratio = measure in ("RR", "OR", "PETO_OR") or bool(analysis["scale"]["ratio_measure"])
    random = analysis["settings"]["model"] == "random"
    overall = analysis["pooled"]["overall"]
    by_subgroup = analysis["settings_raw"].get("TOTALS") == "SUB"
    _check_pooled(chk, "", result, overall, ratio, random, effect=not by_subgroup)
    for sub in analysis["pooled"].get("subgroups") or []:
        label = sub["subgroup"]
        if label in (result.get("subgroups") or {}) and sub.get("estimable", True) is not False:
            _check_pooled(chk, f"[{label}] ", result["subgroups"][label], sub, ratio, random)
    test = analysis["pooled"].get("subgroup_test")
    if grouped and test and result.get("subgroup_test", {}).get("q") is not None:
        chk.close("subgroup chi2", result["subgroup_test"]["q"], test.get("chi2"))
        chk.close("subgroup p", result["subgroup_test"]["pvalue"], test.get("p"), atol=1e-6)
        chk.close("subgroup i2", result["subgroup_test"]["i2"], test.get("i2"))
    # per-study weights: within the analysis, or within each subgroup when totals are by subgroup
    within: dict[str, list] = {}
    if grouped and by_subgroup:  # the studies of each subgroup, in input order
        within = {label: [s["weight"] for s in sub["studies"]]
                  for label, sub in result["subgroups"].items()}
    for i, study in enumerate(analysis["studies"]):
        want = study["revman"]
        got = within[study["subgroup"]].pop(0) if within else result["weights"][i]
        if not want.get("estimable", True):
            assert got is None, f"{study['study']} should not be estimable"
            continue
        chk.close(f"weight {study['study']}", got, want.get("weight"))
    assert not chk.errors, "\n".join(chk.errors)


def test_fixture_covers_every_revman_method() -> None:
    kinds = {_settings(a) for a in ANALYSES}
    assert {("RR", "MH"), ("RR", "MH_RANDOM"), ("RR", "DL"), ("MD", "DL"), ("RD", "MH"),
            ("OR", "MH"), ("GENERIC", "DL")} <= kinds
    assert len(ANALYSES) > 200
