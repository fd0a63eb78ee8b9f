"""Small-study effects and funnel-plot asymmetry tests (Egger, Peters, Harbord, Begg)."""

from trialsynth.assess.bias.small_study import (
    MIN_K,
    SmallStudyTest,
    begg_test,
    begg_test_from_result,
    egger_test,
    egger_test_from_result,
    egger_tests,
    harbord_test,
    peters_test,
    peters_test_from_counts,
    regression_tests,
    result_inputs,
)

__all__ = [
    "MIN_K",
    "SmallStudyTest",
    "begg_test",
    "begg_test_from_result",
    "egger_test",
    "egger_test_from_result",
    "egger_tests",
    "harbord_test",
    "peters_test",
    "peters_test_from_counts",
    "regression_tests",
    "result_inputs",
]
