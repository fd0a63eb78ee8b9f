"""GRADE certainty of evidence: named rules, per-domain judgements, informative statements.

Modules: :mod:`~trialsynth.certainty.rules` (every threshold, with its source),
:mod:`~trialsynth.certainty.grade` (``assess`` → ``Certainty``) and
:mod:`~trialsynth.certainty.statements` (Santesso 2020 / Handbook 15.6.b wording).
Nothing is imported here, so that ``trialsynth.bias`` can read the rules without a cycle.
"""
