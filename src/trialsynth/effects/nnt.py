"""Number needed to treat for an additional beneficial (NNTB) or harmful (NNTH) outcome, with its
confidence interval (Altman 1998, BMJ 317:1309–1312).

NNT = 1/|RD|, RD the absolute risk difference; the CI is the reciprocal of the CI of the RD.
When the CI of the RD includes 0 the NNT's CI runs through infinity and is written, after
Altman, as "NNTH a to ∞ to NNTB b". The RD comes from the summary-of-findings table: risk with
the intervention from the assumed comparator risk and the relative effect (Handbook v6.4
§15.4.4), so the NNT is the one of that comparator risk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Benefit = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class Nnt:
    """``kind`` NNTB or NNTH (None: no difference); ``value`` 1/|RD| (inf when RD = 0);
    ``low``/``high`` the CI limits as (kind, value) pairs in Altman's order; ``text``."""

    kind: str | None
    value: float
    low: tuple[str, float]
    high: tuple[str, float]
    through_infinity: bool
    text: str

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "value": self.value, "ci_low": list(self.low),
                "ci_high": list(self.high), "through_infinity": self.through_infinity,
                "text": self.text}


def _whole(x: float) -> str:
    """Up to the next whole number, as NNTs are usually reported (Handbook v6.4 §15.4.4)."""
    return "∞" if math.isinf(x) else str(math.ceil(x - 1e-9))


def nnt(rd: float, rd_low: float, rd_high: float, benefit: Benefit) -> Nnt:
    """NNT from a risk difference (risk with intervention − risk with comparator) and its CI.

    ``benefit`` says whether a higher risk of the outcome is good (``"higher"``, e.g. at least
    30% pain relief) or bad (``"lower"``, e.g. adverse events).
    """
    sign = 1.0 if benefit == "higher" else -1.0
    b, lo, hi = sign * rd, *sorted((sign * rd_low, sign * rd_high))  # benefit scale: > 0 good

    def kind(x: float) -> str:
        return "NNTB" if x > 0 else "NNTH"

    inv = (lambda x: math.inf if x == 0 else 1 / abs(x))  # noqa: E731 (Altman 1998: NNT = 1/ARR)
    value = inv(b)
    point = None if b == 0 else kind(b)
    if lo > 0 or hi < 0:  # the CI excludes no effect: both limits on one side
        a, c = sorted((inv(lo), inv(hi)))
        low, high, through = (kind(b), a), (kind(b), c), False
        ci = f"{_whole(a)} to {_whole(c)}"
    else:  # Altman 1998: "NNTH a to ∞ to NNTB b"
        low, high, through = ("NNTH", inv(lo)), ("NNTB", inv(hi)), True
        ci = f"NNTH {_whole(inv(lo))} to ∞ to NNTB {_whole(inv(hi))}"
    head = "no difference (NNT ∞)" if point is None else f"{point} {_whole(value)}"
    return Nnt(point, value, low, high, through, f"{head} (95% CI {ci})")
