"""Reports built from pooled results and certainty.

Summary-of-findings tables: :mod:`trialsynth.report.sof`.
"""
