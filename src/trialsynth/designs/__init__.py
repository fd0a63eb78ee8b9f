"""Trial designs and data entry: crossover, cluster-randomised and multi-arm trials, conversions
of reported statistics, sparse dichotomous data. :func:`prepare` turns a table of study rows as
extracted into the inputs of the pooling and records every adjustment (the one implementation
behind ``trialsynth pool``, the review folder and :func:`trialsynth.pool`)."""

from trialsynth.designs.prepare import EXTRA_COLUMNS, DesignOptions, Prepared, prepare

__all__ = ["EXTRA_COLUMNS", "DesignOptions", "Prepared", "prepare"]
