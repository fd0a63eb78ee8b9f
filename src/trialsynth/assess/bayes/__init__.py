"""Bayesian random-effects meta-analysis by numerical integration (no MCMC).

``bayes_summary(result, mid=..., direction=...)`` for one pooled analysis, ``bayes_summaries`` for
many, ``nnhm_batch`` for the array kernel; τ priors in :mod:`trialsynth.assess.bayes.priors`.
"""

from trialsynth.assess.bayes.nnhm import NnhmBatch, nnhm_batch
from trialsynth.assess.bayes.priors import TauPrior, half_cauchy, half_normal, rhodes, turner
from trialsynth.assess.bayes.summary import (
    BayesSummary,
    bayes_summaries,
    bayes_summary,
    default_prior,
    mid_bounds,
)

__all__ = ["BayesSummary", "NnhmBatch", "TauPrior", "bayes_summaries", "bayes_summary",
           "default_prior", "half_cauchy", "half_normal", "mid_bounds", "nnhm_batch", "rhodes",
           "turner"]
