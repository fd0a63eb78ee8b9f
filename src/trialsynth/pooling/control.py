"""Convergence control of the iterative τ² estimators and the Q-profile interval.

In the spirit of metafor's ``control=`` argument (``rma.uni``: ``threshold``, ``maxiter``,
``stepadj``, ``tau2.max``; ``confint.rma.uni``: ``tol``, ``maxiter``, ``tau2.max``), every tuning
knob of an iterative estimator is a documented field here rather than a module constant, and
travels with the call: ``trialsynth.pool(..., control=...)``, ``pool_arrays(..., control=...)``,
down to :mod:`trialsynth.pooling.tau2` and :func:`trialsynth.pooling.heterogeneity.q_profile_ci`.

The defaults are trialsynth's own settings (tighter than metafor's, for 1e-6 agreement with
metafor's results; docs/methods/pooling.md). Closed-form estimators (DL, HE, SJ) ignore them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Control:
    """Tolerances, iteration limits, step adjustment and search bounds of the iterative fits.

    Attributes
    ----------
    threshold : convergence of Fisher scoring (ML, REML, EB) and of the bracketed root search:
        stop when |Δτ²| < threshold·max(1, τ²) (metafor ``threshold``, default 1e-5 there).
    maxiter : Fisher-scoring steps before the bracketed search takes over (metafor ``maxiter``,
        100 there, where running out is an error).
    stepadj : factor applied to every Fisher-scoring step (metafor ``stepadj``; values below 1
        damp an oscillating iteration).
    root_maxiter : iterations of the bracketed (Illinois regula falsi) search for a root of the
        estimating equation.
    tol : relative tolerance on τ² of the roots of Q(τ²) = target (Paule–Mandel and the Q-profile
        bounds; metafor ``tol`` of ``confint``).
    q_maxiter : iterations of that root search.
    tau2_max : upper end where the τ² searches start (metafor ``tau2.max``). None (default):
        Paule–Mandel's bracket starts as [0, 100] (``rma.uni``'s default) and the Q-profile
        search as [0, max(100, 10·τ̂²)] (``confint.rma.uni``'s default); a number: both start at
        [0, tau2_max], as metafor does with ``control = list(tau2.max = ...)``. Paule–Mandel
        widens its bracket while Q(end) > k − 1; the Q-profile search widens it with
        ``tau2_ci_search="unbounded"`` and reports a bound beyond it as the end with
        ``"metafor"``.
    ll_tol : relative log-likelihood difference that counts as "more likely" when ML and REML
        compare candidate maxima (metafor's ``ll0check``).
    root_tol : a Fisher step this small (relative) marks a root of the estimating equation.
    newton_switch : |Δτ²|/max(1, τ²) below which REML takes Newton steps (metafor's threshold
        for its Newton polish).
    """

    threshold: float = 1e-14
    maxiter: int = 50
    stepadj: float = 1.0
    root_maxiter: int = 1000
    tol: float = 1e-13
    q_maxiter: int = 200
    tau2_max: float | None = None
    ll_tol: float = 1e-10
    root_tol: float = 1e-10
    newton_switch: float = 1e-3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "tau2_max":
                continue
            if f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ValueError(f"control {f.name} must be a whole number of at least 1, "
                                     f"got {value!r}")
            elif (isinstance(value, bool) or not isinstance(value, int | float)
                  or not math.isfinite(value) or value <= 0):
                raise ValueError(f"control {f.name} must be a finite number above 0, got "
                                 f"{value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_CONTROL = Control()


def as_control(control: Control | Mapping[str, Any] | None) -> Control:
    """A :class:`Control` from None (the defaults), itself, or a mapping of its fields (as
    metafor's ``control = list(...)``); an unknown field or a bad value is a ValueError."""
    if control is None:
        return DEFAULT_CONTROL
    if isinstance(control, Control):
        return control
    if not isinstance(control, Mapping):
        raise ValueError(f"control must be a Control or a mapping of its fields, not "
                         f"{type(control).__name__}")
    known = {f.name for f in fields(Control)}
    unknown = sorted(set(control) - known)
    if unknown:
        raise ValueError(f"unknown control setting {', '.join(map(str, unknown))}; known: "
                         f"{', '.join(sorted(known))}")
    return Control(**dict(control))
