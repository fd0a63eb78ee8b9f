"""Crossover trials: paired effects from what a trial reports (vectorised over studies).

Notation of the Cochrane Handbook (v6.4 §23.2.7; v5.1 §16.4.6, Table 16.4.a): each of the N
participants receives both interventions; M_E, SD_E and M_C, SD_C are the means and SDs of
the measurements under each intervention, SD_diff the SD of the within-participant
differences and Corr the within-participant correlation.

References
----------
Higgins JPT, Eldridge S, Li T (eds). Chapter 23: Including variants on randomized trials.
Cochrane Handbook v6.4, §23.2.7 (v5.1 §16.4.6).
Elbourne DR, Altman DG, Higgins JPT, Curtin F, Worthington HV, Vail A (2002). Meta-analyses
involving cross-over trials: methodological issues. Int J Epidemiol 31:140–149.
Becker MP, Balagtas CC (1993). Marginal modeling of binary cross-over data. Biometrics
49:997–1009.
Curtin F, Elbourne D, Altman DG (2002). Meta-analysis combining parallel and cross-over
clinical trials. II: Binary outcomes. Stat Med 21:2145–2159.
"""

from __future__ import annotations

import numpy as np

from trialsynth._dist import t_isf
from trialsynth._segments import FloatArray

#: The range the Handbook suggests trying in a sensitivity analysis over an imputed Corr is a
#: reviewer's choice; these three values are the review-wide default (settings.designs).
DEFAULT_SENSITIVITY = (0.2, 0.5, 0.8)


def sd_diff_from_corr(sd_t: FloatArray, sd_c: FloatArray, corr: FloatArray) -> FloatArray:
    """SD of the within-participant differences from the two SDs and Corr.

    SD_diff = √(SD_E² + SD_C² − 2·Corr·SD_E·SD_C) (Handbook v6.4 §23.2.7.1; v5.1 §16.4.6.1).
    """
    with np.errstate(invalid="ignore"):
        return np.sqrt(sd_t**2 + sd_c**2 - 2 * corr * sd_t * sd_c)  # Handbook §23.2.7.1


def paired_md_se(sd_t: FloatArray, sd_c: FloatArray, corr: FloatArray, n: FloatArray) -> FloatArray:
    """SE of the paired mean difference: SE(MD) = SD_diff/√N
    = √((SD_E² + SD_C² − 2·Corr·SD_E·SD_C)/N) (Handbook v6.4 §23.2.7.1)."""
    return sd_diff_from_corr(sd_t, sd_c, corr) / np.sqrt(n)  # Handbook §23.2.7.1: SE = SD_diff/√N


def corr_from_paired_se(sd_t: FloatArray, sd_c: FloatArray, se_md: FloatArray,
                        n: FloatArray) -> FloatArray:
    """Corr from a trial that reports both SDs and the SE of its paired MD.

    SD_diff = SE(MD)·√N; Corr = (SD_E² + SD_C² − SD_diff²)/(2·SD_E·SD_C) (Handbook v6.4
    §23.2.7.3; v5.1 §16.4.6.3, "possible ... if that study presents all three standard
    deviations").
    """
    sd_diff2 = se_md**2 * n  # Handbook §23.2.7.1: SE(MD) = SD_diff/√N
    with np.errstate(divide="ignore", invalid="ignore"):
        return (sd_t**2 + sd_c**2 - sd_diff2) / (2 * sd_t * sd_c)  # Handbook §23.2.7.3


def paired_t_from_p(p: FloatArray, n: FloatArray, two_sided: bool = True) -> FloatArray:
    """t of a paired t test from its P value, with N − 1 degrees of freedom (Handbook v6.4
    §23.2.7.1: "the t statistic from a paired t-test ... SE(MD) = MD/t")."""
    tail = p / 2 if two_sided else p
    return t_isf(tail, n - 1)  # paired t test: N − 1 df


def crossover_smd(md: FloatArray, sd_t: FloatArray, sd_c: FloatArray, corr: FloatArray,
                  n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Standardised mean difference of a crossover trial and its variance.

    SMD = MD/SD_pooled with SD_pooled = √((SD_E² + SD_C²)/2), and
    SE(SMD) = √((1/N + SMD²/(2N))·2(1 − Corr)) (Handbook v5.1 §16.4.6.2 and v6.4 §23.2.7.2,
    from Elbourne et al. 2002). No small-sample correction is applied (as in the Handbook).
    """
    sd_pooled = np.sqrt((sd_t**2 + sd_c**2) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = md / sd_pooled  # Handbook §23.2.7.2
        vi = (1 / n + smd**2 / (2 * n)) * 2 * (1 - corr)  # Handbook §23.2.7.2 (Elbourne 2002)
    return smd, vi


def paired_binary(measure: str, events_t: FloatArray, events_c: FloatArray, n: FloatArray,
                  corr: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Marginal effect of a crossover trial with a binary outcome, variance allowing for the
    within-participant correlation (Becker & Balagtas 1993; Elbourne et al. 2002; Curtin et
    al. 2002 recommend this marginal OR for combining crossover with parallel trials).

    Parameters
    ----------
    measure : ``"OR"`` (Becker–Balagtas log OR), ``"RR"`` (log RR) or ``"RD"``.
    events_t, events_c : participants with the event under each intervention (already
        corrected for zero cells by the caller, if needed).
    n : participants with both periods (N).
    corr : the phi correlation of the paired binary outcomes,
        ρ = (p11·p00 − p10·p01)/√(p_E(1−p_E)·p_C(1−p_C)).

    Notes
    -----
    For a multinomial paired table Cov(p̂_E, p̂_C) = (p11 − p_E·p_C)/N = (p11·p00 −
    p10·p01)/N = ρ·√(p_E q_E p_C q_C)/N, and the delta method gives, with q = 1 − p,

    * OR: Var = [1/(p_E q_E) + 1/(p_C q_C) − 2ρ/√(p_E q_E p_C q_C)]/N (Becker & Balagtas 1993,
      marginal log OR; Curtin et al. 2002);
    * RR: Var = [q_E/p_E + q_C/p_C − 2ρ·√(q_E q_C/(p_E p_C))]/N;
    * RD: Var = [p_E q_E + p_C q_C − 2ρ·√(p_E q_E p_C q_C)]/N.

    With ρ = 0 each is the parallel-group variance with N per arm.
    """
    pe, pc = events_t / n, events_c / n
    qe, qc = 1 - pe, 1 - pc
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            yi = np.log(pe / qe) - np.log(pc / qc)  # Becker & Balagtas 1993: marginal log OR
            vi = (1 / (pe * qe) + 1 / (pc * qc) - 2 * corr / np.sqrt(pe * qe * pc * qc)) / n
        elif measure == "RR":
            yi = np.log(pe) - np.log(pc)
            vi = (qe / pe + qc / pc - 2 * corr * np.sqrt(qe * qc / (pe * pc))) / n  # delta method
        elif measure == "RD":
            yi = pe - pc
            vi = (pe * qe + pc * qc - 2 * corr * np.sqrt(pe * qe * pc * qc)) / n  # delta method
        else:
            raise ValueError(f"paired binary effects are RR, OR or RD, not {measure}")
    return yi, vi


def phi_from_both(events_t: FloatArray, events_c: FloatArray, both: FloatArray,
                  n: FloatArray) -> FloatArray:
    """Phi correlation of a paired binary table from its margins and the participants with the
    event under both interventions: (p11·p00 − p10·p01)/√(p_E q_E p_C q_C), which equals
    (p11 − p_E·p_C)/√(p_E q_E p_C q_C)."""
    pe, pc, p11 = events_t / n, events_c / n, both / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return (p11 - pe * pc) / np.sqrt(pe * (1 - pe) * pc * (1 - pc))
