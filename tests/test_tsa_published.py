"""Trial sequential analysis against worked examples printed by RTSA, the R version of the
Copenhagen Trial Unit's TSA program (public repository AnneLyng/RTSA). Every expected number in
this file is copied from the reference's printed output; none comes from trialsynth. No study
data are used: the examples are design calculations whose inputs are all printed.

Sources
-------
1. ``vignettes/futility.html``, commit a937d85218c3a729164487a165937660913537a8 (the knitted
   "Futility" vignette). Its first chunk (section 2.1 "Binding futility") designs
   ``boundaries(timing = c(0.5, 0.75, 1), alpha = 0.025, beta = 0.2, side = 1,
   futility = "none", es_alpha = "esOF")``; the printed ``bound_none`` (after Figure 2.1) reads

   ======== ========== =====
   look     SMA_Timing Upper
   ======== ========== =====
   1        0.510      2.963
   2        0.765      2.359
   3        1.020      2.014
   ======== ========== =====

   Section 2.2 "Non-binding futility" uses the same call with ``futility = "non-binding",
   es_beta = "esOF"``; the printed ``bound_nbind`` (after Figure 2.3) reads

   ======== ========== ===== ========
   look     SMA_Timing Upper FutLower
   ======== ========== ===== ========
   1        0.567      2.963 0.633
   2        0.850      2.359 1.404
   3        1.133      2.014 2.014
   ======== ========== ===== ========

   Both print headers state "1-sided design with a type-I-error of 0.025 and type-II-error of
   0.2" and "Alpha-spending function: esOF" (Lan-DeMets O'Brien-Fleming type).

2. ``.Rproj.user/shared/notebooks/AD38EC28-required-sample-size/1/s/cvf5f83xzugvu/000013.csv``,
   commit 60765e1c24ece7701bf130c3038708a614cc6cec: the RStudio notebook output stored for the
   "required-sample-size" vignette chunk ``ris(outcome = "RR", mc = 0.9, p0 = 0.1, alpha = 0.05,
   beta = 0.1, side = 2)``, which prints "Fixed-effect required information size: 36136
   participants in total" (control event probability 0.1 as printed).

Conventions (documented in the reference, reproduced here by feeding trialsynth's kernels)
------------------------------------------------------------------------------------------
* RTSA prints ``SMA_Timing`` = design fraction x inflation factor, i.e. information relative to
  the fixed-design required information size; the boundaries themselves belong to the fractions
  0.5, 0.75, 1 of the design's maximum information. :func:`efficacy_boundaries` re-expresses
  fractions relative to the last look when it exceeds 1, so either scale gives the same values.
* With non-binding futility RTSA inflates the maximum information until the beta-spending
  futility boundary meets the efficacy boundary at the last look (a_K = b_K, the usual
  beta-spending design condition; Jennison & Turnbull 2000, ch. 7). :func:`futility_boundaries`
  takes information in units of the fixed-design RIS (drift z_{1-alpha} + z_{1-beta} at 1, scaled by
  the square root of the last fraction beyond 1) and closes the wedge (a_K = b_K) when it meets;
  the test finds the smallest inflation factor that closes it by bisection and compares the
  printed timings and futility boundaries at that factor.
* RTSA's ``ris`` at commit 60765e1 (``R/ris.R``) uses p_C = p0, p_I = p0 x mc, nu = p(1 - p)
  with p the mean of p_C and p_I, the same formula as :func:`ris_binary` with RRR = 1 - mc, and
  reports the result rounded up to a whole, even number of participants (equal arms).

Not compared: RTSA's inflation factor of the design without futility (1.020; trialsynth has no
design-power function) and the binding-futility design ``bound_bind`` (trialsynth's futility
boundaries are non-binding only, so its efficacy boundaries do not change).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from trialsynth.assess.sequential import efficacy_boundaries, futility_boundaries, ris_binary
from trialsynth.assess.sequential.boundaries import Boundaries

# printed to three decimals: agreement means within half a unit of the last printed digit
PRINTED_3DP = 0.0005

DESIGN_T = np.array([0.5, 0.75, 1.0])  # timing = c(0.5, 0.75, 1)
ALPHA_ONE_SIDED = 0.025  # alpha = 0.025, side = 1
BETA = 0.2  # beta = 0.2

# RTSA vignettes/futility.html (commit a937d85), printed bound_none
NONE_TIMING = [0.510, 0.765, 1.020]
NONE_UPPER = [2.963, 2.359, 2.014]
# RTSA vignettes/futility.html (commit a937d85), printed bound_nbind
NBIND_TIMING = [0.567, 0.850, 1.133]
NBIND_UPPER = [2.963, 2.359, 2.014]
NBIND_FUTILITY = [0.633, 1.404, 2.014]


def _nonbinding_design(inflation: float) -> Boundaries:
    t = DESIGN_T * inflation
    return futility_boundaries(efficacy_boundaries(t, ALPHA_ONE_SIDED, sides=1), BETA)


def _closes(inflation: float) -> bool:
    """Does the futility boundary reach the efficacy boundary at the last look?"""
    b = _nonbinding_design(inflation)
    assert b.futility_raw is not None
    return bool(b.futility_raw[-1] >= b.upper[-1])


def _inflation_factor() -> float:
    """Smallest maximum information (in units of the fixed-design RIS) at which the
    non-binding beta-spending futility boundary meets the efficacy boundary at the last look."""
    lo, hi = 1.0, 2.0
    assert not _closes(lo) and _closes(hi)
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _closes(mid) else (mid, hi)
    return hi


def test_one_sided_obrien_fleming_boundaries_match_rtsa_bound_none() -> None:
    """RTSA futility vignette, ``bound_none``: upper boundaries 2.963, 2.359, 2.014."""
    b = efficacy_boundaries(DESIGN_T, ALPHA_ONE_SIDED, sides=1)
    assert b.upper == pytest.approx(NONE_UPPER, abs=PRINTED_3DP)
    # the printed SMA timings are the same looks on the fixed-design scale (fractions > 1 are
    # re-expressed relative to the last look), so they give the same boundaries
    b_sma = efficacy_boundaries(np.array(NONE_TIMING), ALPHA_ONE_SIDED, sides=1)
    assert b_sma.upper == pytest.approx(NONE_UPPER, abs=PRINTED_3DP)


def test_nonbinding_futility_design_matches_rtsa_bound_nbind() -> None:
    """RTSA futility vignette, ``bound_nbind``: timings 0.567, 0.850, 1.133; upper boundaries as
    without futility; futility boundaries 0.633, 1.404, 2.014."""
    inflation = _inflation_factor()
    b = _nonbinding_design(inflation)
    # information of each look relative to the fixed-design RIS (RTSA's SMA_Timing)
    assert DESIGN_T * inflation == pytest.approx(NBIND_TIMING, abs=PRINTED_3DP)
    # non-binding: the efficacy boundaries are those of the design without futility
    assert b.upper == pytest.approx(NBIND_UPPER, abs=PRINTED_3DP)
    assert b.futility == pytest.approx(NBIND_FUTILITY, abs=PRINTED_3DP)
    assert b.futility[-1] == b.upper[-1]  # the wedge closes at the last look, as printed


def test_fixed_effect_ris_matches_rtsa_ris_print() -> None:
    """RTSA ``ris(outcome = "RR", mc = 0.9, p0 = 0.1, alpha = 0.05, beta = 0.1, side = 2)``:
    36136 participants in total (whole, even number of participants)."""
    ris = ris_binary(control_risk=0.1, rrr=1 - 0.9, alpha=0.05, power=1 - 0.1)
    n = math.ceil(ris)
    n += n % 2  # RTSA's rounding: up to a whole number, then to an even total (equal arms)
    assert n == 36136
