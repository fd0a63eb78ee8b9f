"""Reports built from pooled results and certainty.

Summary-of-findings tables: :mod:`trialsynth.report.sof`.
Figures (forest, funnel, risk-of-bias and evidence-gap-map plots; SVG and PNG export):
:mod:`trialsynth.render.figures`.
"""
