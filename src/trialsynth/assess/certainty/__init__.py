"""GRADE certainty of evidence: named rules, per-domain judgements, informative statements.

Modules: :mod:`~trialsynth.assess.certainty.rules` (every threshold, with its source),
:mod:`~trialsynth.assess.certainty.grade` (``assess`` → ``Certainty``) and
:mod:`~trialsynth.assess.certainty.statements` (Santesso 2020 / Handbook 15.6.b wording).
Nothing is imported here, so that ``trialsynth.assess.bias`` can read the rules without a cycle.
"""
