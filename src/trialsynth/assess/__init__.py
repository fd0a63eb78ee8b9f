"""The assess stage: judgements on pooled analyses, each a typed result of its own.

* :mod:`~trialsynth.assess.certainty` - GRADE certainty with reasons, risk-of-bias tools, the
  statements and plain-language summaries built on them;
* :mod:`~trialsynth.assess.sensitivity` - sensitivity analyses (leave-one-out, estimators, ...);
* :mod:`~trialsynth.assess.bias` - small-study effects (funnel-plot tests, trim-and-fill);
* :mod:`~trialsynth.assess.bayes` - Bayesian random-effects meta-analysis;
* :mod:`~trialsynth.assess.sequential` - required information size and trial sequential analysis.

Nothing is imported here: each package loads on first use.
"""
