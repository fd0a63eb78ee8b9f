"""How the report prints numbers (trialsynth.report.numbers.fixed)."""

from __future__ import annotations

import pytest

from trialsynth.report.numbers import fixed


@pytest.mark.parametrize(("x", "text"), [
    # CD015373.pub2 analysis 1.9, Pickering 2020 (real data): RevMan stored RR 1.125, recomputed
    # 1.1250000000000002; both must print alike
    (1.125, "1.13"), (1.1250000000000002, "1.13"),
    (2.675, "2.68"),  # binary 2.67499999…: the decimal tie, not the binary value, decides
    (-0.005, "-0.01"), (-15.791128198457079, "-15.79"),
    (-1e-20, "0.00"), (-0.004, "0.00"),  # never "-0.00"
    (0.0, "0.00"), (123456.789, "123456.79"),
])
def test_two_decimals(x: float, text: str) -> None:
    assert fixed(x, 2) == text


def test_other_precisions_and_limits() -> None:
    assert fixed(0.0425, 3) == "0.043" and fixed(12.5, 0) == "13" and fixed(-12.5, 0) == "-13"
    assert fixed(1e30, 2) == f"{1e30:.2f}"  # beyond Decimal's default precision
    assert fixed(float("nan"), 2) == "nan" and fixed(float("inf"), 1) == "inf"
