"""The render stage: formatters only. Each takes numbers and texts already decided by the report
model (:mod:`trialsynth.report`) and writes them out:

* :mod:`~trialsynth.render.html` and ``templates/`` - the self-contained HTML page;
* :mod:`~trialsynth.render.figures` - forest, funnel, risk-of-bias, gap-map, network and TSA
  figures (matplotlib, SVG and PNG export);
* :mod:`~trialsynth.render.exports` - the CSV tables; :mod:`~trialsynth.render.sof_docx` - the
  summary-of-findings tables as a Word document;
* :mod:`~trialsynth.render.nma_text` - the plain-text network meta-analysis of ``trialsynth nma``.

Nothing is imported here: matplotlib, Jinja2 and python-docx load only when something is drawn.
"""
