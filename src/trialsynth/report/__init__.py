"""The report stage: the report model, built from the analyses and their assessments.

:mod:`~trialsynth.report.build` (``build_report`` → ``Report``: every text, table and figure job
of the page), :mod:`~trialsynth.report.model` (per-analysis facts and GRADE), summary-of-findings
tables (:mod:`~trialsynth.report.sof`), studies, navigation, implications for research and the
network section. Formatting (HTML, figures, CSV, Word) is the render stage:
:mod:`trialsynth.render`.
"""
