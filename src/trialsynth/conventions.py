"""Named convention sets: metafor's defaults and RevMan's, so every number says how it was made.

A reviewer reproducing a RevMan file and a statistician reproducing metafor need different
small choices (zero cells, SMD variance, I², prediction-interval df). They live here, in one
place, as two frozen presets; ``pool(..., revman=True)`` switches every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from trialsynth.effects.continuous import SmdCorrection, SmdVariance
from trialsynth.effects.zero_cells import METAFOR, NO_CORRECTION, REVMAN, ZeroCellPolicy

# variance of the Mantel–Haenszel risk difference (trialsynth.pooling.fixed.mantel_haenszel):
# Sato, Greenland & Robins 1989 (metafor rma.mh) or Greenland & Robins 1985 (RevMan 5)
RdVariance = Literal["sato", "greenland-robins"]


@dataclass(frozen=True, slots=True)
class Conventions:
    """Small choices that differ between reference tools.

    Attributes
    ----------
    zero_cells : correction for per-study effects pooled by inverse variance.
    mh_study_zero_cells : correction for the per-study effects that enter Q of M-H and Peto analyses.
    mh_zero_cells : correction applied to the counts inside the Mantel–Haenszel sums.
    smd_correction, smd_variance : Hedges' g bias correction and variance formula.
    i2 : ``"tau2"`` I² = τ²/(τ² + ṽ) (metafor, RevMan 2024+); ``"q"`` (Q − df)/Q (RevMan 5).
    prediction_df : ``"metafor"`` normal for Wald, t(k−1) for HKSJ; ``"k-2"`` t(k−2) always
        (Higgins et al. 2009).
    rd_variance : variance of the M-H risk difference.
    rd_raw_counts : RD estimates (and M-H weights) from the raw counts, the continuity correction
        entering only the variances, double-zero studies kept (RevMan; see
        docs/methods/revman-conventions.md §1).
    mh_single_study_as_is : an M-H or Peto analysis with a single study reports that study's own
        effect and SE (RevMan), rather than the one-table M-H formulas.
    peto_zero_cells : apply the zero-cell policy to Peto's per-study (O−E)/V (metafor's escalc
        does; RevMan does not, as O−E and V need no correction).
    rr_all_events_raw : a table in which every participant of both arms has the event keeps its
        raw risk ratio (1) with the variance from the corrected cells, instead of being dropped
        (RevMan Web; revman-conventions.md §1).
    """

    name: str
    zero_cells: ZeroCellPolicy
    mh_study_zero_cells: ZeroCellPolicy
    mh_zero_cells: ZeroCellPolicy
    smd_correction: SmdCorrection
    smd_variance: SmdVariance
    i2: Literal["tau2", "q"]
    prediction_df: Literal["metafor", "k-2"]
    rd_variance: RdVariance
    rd_raw_counts: bool = False
    mh_single_study_as_is: bool = False
    peto_zero_cells: bool = True
    rr_all_events_raw: bool = False


METAFOR_CONVENTIONS = Conventions(
    name="metafor",
    zero_cells=METAFOR,  # escalc(add=1/2, to="only0", drop00=FALSE)
    mh_study_zero_cells=ZeroCellPolicy("metafor rma.mh/rma.peto study effects", drop00=True),
    mh_zero_cells=NO_CORRECTION,  # rma.mh(add=c(1/2, 0), to=c("only0", "none"))
    smd_correction="exact",
    smd_variance="metafor",
    i2="tau2",
    prediction_df="metafor",
    rd_variance="sato",
)

REVMAN_CONVENTIONS = Conventions(
    name="revman",
    zero_cells=REVMAN,
    mh_study_zero_cells=REVMAN,
    mh_zero_cells=REVMAN,  # RevMan 5 adds 0.5 inside the M-H sums too (PITFALLS §3.1)
    smd_correction="approx",
    smd_variance="revman",
    i2="q",
    prediction_df="k-2",
    rd_variance="greenland-robins",
    rd_raw_counts=True,
    mh_single_study_as_is=True,
    peto_zero_cells=False,
    rr_all_events_raw=True,
)
