"""Required information size (RIS) of a meta-analysis, total participants in both arms.

Fixed-effect RIS (Wetterslev et al. 2008, J Clin Epidemiol 61:64, eq. 1; Pogue & Yusuf 1997):

    RIS = 4·(z_{1−α/2} + z_{1−β})²·ν/θ²

binary: θ = p_C − p_I, ν = p̄(1 − p̄), p̄ = (p_C + p_I)/2, with p_I = p_C·(1 − RRR);
continuous: θ = the mean difference to detect, ν = σ² (the outcome's SD squared).

Heterogeneity adjustment (Wetterslev et al. 2009, BMC Med Res Methodol 9:86, eq. 5-6):
DARIS = RIS/(1 − D²) with the diversity D² = (v_R − v_F)/v_R, v_R and v_F the variances of the
random- and common-effect pooled estimates; the alternative uses I² in place of D²
(HARIS = RIS/(1 − I²); Wetterslev 2009, section "Discussion").
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from trialsynth.errors import DataError


def _z(alpha: float, power: float) -> float:
    if not (0 < alpha < 1 and 0 < power < 1):
        raise DataError("alpha and power must lie strictly between 0 and 1", field="alpha")
    return float(-ndtri(alpha / 2) + ndtri(power))  # z_{1−α/2} + z_{1−β}


def ris_binary(control_risk: float, rrr: float, alpha: float = 0.05, power: float = 0.9) -> float:
    """RIS (participants, both arms) to detect a relative risk reduction ``rrr`` (negative for an
    increase) from control risk ``control_risk`` (Wetterslev et al. 2008, eq. 1)."""
    if not (0 < control_risk < 1):
        raise DataError(f"control risk must lie strictly between 0 and 1, got {control_risk!r}",
                        field="control_risk")
    p_i = control_risk * (1 - rrr)
    if not (0 < p_i < 1) or rrr == 0:
        raise DataError(f"relative risk reduction {rrr!r} gives no valid intervention risk",
                        field="rrr")
    p_bar = (control_risk + p_i) / 2
    theta = control_risk - p_i
    return 4 * _z(alpha, power) ** 2 * p_bar * (1 - p_bar) / theta ** 2


def ris_continuous(mean_difference: float, sd: float, alpha: float = 0.05,
                   power: float = 0.9) -> float:
    """RIS (participants, both arms) to detect ``mean_difference`` of an outcome with standard
    deviation ``sd`` (Wetterslev et al. 2008, eq. 1 with ν = σ²)."""
    if not (math.isfinite(mean_difference) and mean_difference != 0):
        raise DataError("the mean difference to detect must be a non-zero number", field="mid")
    if not (math.isfinite(sd) and sd > 0):
        raise DataError(f"the standard deviation must be positive, got {sd!r}", field="sd")
    return 4 * _z(alpha, power) ** 2 * sd ** 2 / mean_difference ** 2


def diversity(se: np.ndarray, tau2: float) -> float:
    """D² = (v_R − v_F)/v_R from the studies' standard errors and τ² (Wetterslev et al. 2009,
    eq. 5): v_F = 1/Σ s_i⁻², v_R = 1/Σ (s_i² + τ²)⁻¹."""
    v = np.asarray(se, dtype=np.float64) ** 2
    if len(v) == 0 or not np.all(np.isfinite(v) & (v > 0)):
        raise DataError("diversity needs positive, finite study standard errors", field="se")
    v_f = 1 / np.sum(1 / v)
    v_r = 1 / np.sum(1 / (v + max(tau2, 0.0)))
    return float((v_r - v_f) / v_r)


def adjusted(ris: float, heterogeneity: float) -> float:
    """RIS/(1 − H) for H = D² or I² as a fraction (Wetterslev et al. 2009, eq. 6)."""
    if not (0 <= heterogeneity < 1):
        raise DataError(f"heterogeneity must lie in [0, 1), got {heterogeneity!r}",
                        field="heterogeneity")
    return ris / (1 - heterogeneity)
