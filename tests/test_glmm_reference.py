"""trialsynth.designs.glmm against R metafor rma.glmm(measure="OR", model="CM.AL", nAGQ=7),
the binomial-normal model of Stijnen, Hamza & Özdemir 2010 (Stat Med 29:3046), on real
metadat data sets (tests/reference/glmm_reference.json, made by
validation/make_glmm_reference.R). Same model, same 7-point adaptive quadrature: 1e-6."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trialsynth.designs.glmm import binomial_normal

REF = json.loads((Path(__file__).parent / "reference" / "glmm_reference.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


def _arrays(case: dict) -> tuple[np.ndarray, ...]:
    rows = [s for s in case["studies"] if all(s.get(k) is not None for k in ("ai", "ci"))]
    return tuple(np.array([s[k] for s in rows], float) for k in ("ai", "n1i", "ci", "n2i"))


@pytest.fixture(scope="module")
def fits() -> dict:
    """Every reference data set in one batch (flat arrays plus an analysis index)."""
    names = list(CASES)
    parts = [_arrays(CASES[n]) for n in names]
    group = np.concatenate([np.full(p[0].size, j) for j, p in enumerate(parts)])
    cols = [np.concatenate([p[i] for p in parts]) for i in range(4)]
    fit = binomial_normal(*cols, group, len(names))
    return {n: j for j, n in enumerate(names)} | {"_fit": fit}


@pytest.mark.parametrize("name", list(CASES))
def test_binomial_normal_matches_rma_glmm(fits: dict, name: str) -> None:
    ref, j, fit = CASES[name], fits[name], fits["_fit"]
    assert fit.k[j] == ref["k"]
    for key in ("estimate", "se", "z"):
        assert getattr(fit, key)[j] == pytest.approx(ref[key], rel=1e-6), key
    assert fit.tau2[j] == pytest.approx(ref["tau2"], rel=1e-6, abs=1e-9)
    # the CI limits are estimate ± 1.96·SE: a limit near 0 has a large relative error from an
    # absolute one of ~1e-7, so they are compared to 1e-6 absolute; the P value's relative
    # error is about z² times that of z (d log p/d log z ≈ z² in the normal tail)
    for key in ("ci_low", "ci_high"):
        assert getattr(fit, key)[j] == pytest.approx(ref[key], rel=1e-6, abs=1e-6), key
    assert fit.pvalue[j] == pytest.approx(ref["pvalue"], rel=1e-6 * max(1.0, 2 * ref["z"] ** 2))


def test_stijnen_2010_table_iii_published_values(fits: dict) -> None:
    # Stijnen et al. 2010, p. 3052, Table III, approximate conditional (binomial-normal) model
    # for the Nielweise 2007 catheter data: log OR -1.303, SE 0.339, tau 0.77
    j, fit = fits["nielweise2007"], fits["_fit"]
    assert round(fit.estimate[j], 3) == -1.303
    assert round(fit.se[j], 3) == 0.339
    assert abs(np.sqrt(fit.tau2[j]) - 0.77) < 0.01
