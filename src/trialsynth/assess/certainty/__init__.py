"""GRADE certainty of evidence: named rules, per-domain judgements, informative statements.

Modules: :mod:`~trialsynth.assess.certainty.grade` (``assess`` → ``Certainty``) and
:mod:`~trialsynth.assess.certainty.statements` (Santesso 2020 / Handbook 15.6.b wording); every
threshold, with its source, is a rule of :mod:`trialsynth.assess.rules` (shared with the
funnel-plot tests of :mod:`trialsynth.assess.bias`). The risk-of-bias tools whose judgements the
risk-of-bias domain reads are review data: :mod:`trialsynth.review.rob`.
"""
