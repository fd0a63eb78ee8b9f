"""The review stage: what a review holds, as plain data read from any source.

* :mod:`~trialsynth.review.model` - the review data model (``Review``, ``Analysis``, studies and
  the numbers the source stored); its public names are re-exported here, so
  ``from trialsynth.review import Analysis`` reads as before;
* :mod:`~trialsynth.review.protocol` - the review-file schema (``review.yaml``: question,
  comparisons, analyses, settings);
* :mod:`~trialsynth.review.arms` - arm and axis labels of an analysis;
* :mod:`~trialsynth.review.inventory` - the evidence inventory (what was planned, what was found);
* :mod:`~trialsynth.review.rob` (with :mod:`~trialsynth.review.rob2`, Sterne 2019, and
  :mod:`~trialsynth.review.rob1`, Higgins 2011) - the risk-of-bias judgements of the review's
  authors, as the readers find them, and their one scale for GRADE;
* :mod:`~trialsynth.review.settings_inference` - the analysis settings a source does not state,
  inferred by recomputation (the one module here that pools).
"""

from __future__ import annotations

from trialsynth.review.model import (
    DATA_TYPES,
    DEFAULT_MEASURE,
    DEFAULT_METHOD,
    EFFECT_TOL,
    FRAME_DATA_COLUMNS,
    MEASURES,
    METHODS,
    STORED_COLUMNS,
    WEIGHT_TOL,
    WITHIN,
    Analysis,
    AnalysisSettings,
    DataType,
    Inferred,
    Review,
    RowIdentity,
    SettingsSource,
    Skipped,
    StoredEstimate,
    StoredPooled,
    StoredSubgroupTest,
    StudyInfo,
    Totals,
    build_frame,
    check_against_stored,
    complete_rows,
    pool_measure,
    pooled_by_identity,
    row_identities,
    stated_settings,
    to_display,
)

__all__ = [
    "DATA_TYPES", "DEFAULT_MEASURE", "DEFAULT_METHOD", "EFFECT_TOL", "FRAME_DATA_COLUMNS", "MEASURES",
    "METHODS", "STORED_COLUMNS", "WEIGHT_TOL", "WITHIN", "Analysis", "AnalysisSettings", "DataType",
    "Inferred", "Review", "RowIdentity", "SettingsSource", "Skipped", "StoredEstimate", "StoredPooled",
    "StoredSubgroupTest", "StudyInfo", "Totals", "build_frame", "check_against_stored", "complete_rows",
    "pool_measure", "pooled_by_identity", "row_identities", "stated_settings", "to_display",
]
