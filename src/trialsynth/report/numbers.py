"""Numbers as the report prints them: the report model, its tables and every renderer round a
displayed number here (no matplotlib: the HTML side and the tables import it too)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def fixed(x: float, decimals: int) -> str:
    """``x`` to ``decimals`` places, ties rounded away from zero on its shortest decimal form.

    ``f"{x:.2f}"`` rounds the binary value, so 1.125 (exact in binary) gives "1.12" while the
    same effect computed as 1.1250000000000002 gives "1.13": a stored value and its recomputation
    would print differently. Rounding the shortest repr half away from zero prints both "1.13".
    """
    if not math.isfinite(x) or abs(x) >= 1e15:  # beyond Decimal's 28 digits with the decimals
        return f"{x:.{decimals}f}"
    text = f"{Decimal(repr(x)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP):f}"
    return text.lstrip("-") if float(text) == 0 else text  # no "-0.00"
