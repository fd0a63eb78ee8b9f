"""Sensitivity analyses of a pooled analysis: leave-one-out, risk-of-bias exclusions, model and
estimator changes, cumulative meta-analysis, influence diagnostics (Cochrane Handbook v6.4 §10.14;
Viechtbauer & Cheung 2010). Entry point: :func:`sensitivity_analyses`."""

from trialsynth.assess.sensitivity.analyses import (
    InfluenceRow,
    SensitivityAnalysis,
    SensitivityReport,
    StudyStep,
    SubAnalysis,
    sensitivity_analyses,
)
from trialsynth.assess.sensitivity.kernels import (
    InfluenceArrays,
    cumulative_subsets,
    influence_arrays,
    leave_one_out_subsets,
    pool_subsets,
)

__all__ = [
    "InfluenceArrays", "InfluenceRow", "SensitivityAnalysis", "SensitivityReport", "StudyStep",
    "SubAnalysis", "cumulative_subsets", "influence_arrays", "leave_one_out_subsets", "pool_subsets",
    "sensitivity_analyses",
]
