"""Risk-of-bias judgements as levels: the domains of a RoB 2 / RoB 1 table in their tool's order
(:func:`rob_columns`), each judgement as ``low`` / ``some_concerns`` / ``high`` or not assessed
(:func:`judgement_level`, :func:`rob_levels`), and the ``study -> {domain: judgement}`` mapping
from assessment objects (:func:`rob_mapping`). Pure data: the report model checks judgements with
it and the risk-of-bias figures (:mod:`trialsynth.render.figures.rob`) lay their columns out by it.

Domains are RoB 2's ``D1``-``D5`` (Sterne et al. 2019, BMJ 366:l4898) or their names, or RoB 1's
(Higgins et al. 2011, BMJ 343:d5928; names as RevMan writes them, or the keys of
:data:`trialsynth.review.rob1.ROB1_DOMAINS`), plus an optional ``overall``. Judgements are any
wording :func:`trialsynth.review.rob.grade_rob_level` reads; empty, "NA" and "not assessed" mean
not assessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trialsynth.errors import DataError
from trialsynth.review.rob1 import ROB1_DOMAINS, rob1_domain_key
from trialsynth.review.rob2 import ROB2_DOMAINS

LEVELS = ("low", "some_concerns", "high")
_UNASSESSED = frozenset({"", "na", "nan", "none", "not assessed", "not applicable", "n/a"})
_OVERALL = frozenset({"overall", "overall bias", "overall risk of bias", "overall.bias..judgement.",
                      "summary", "overall judgement"})
_ROB2_BY_NAME = {name.lower(): key for key, (name, _) in ROB2_DOMAINS.items()} | {
    stem.lower(): key for key, (_, stem) in ROB2_DOMAINS.items()}


@dataclass(frozen=True, slots=True)
class RobColumns:
    """The domains of a risk-of-bias table in display order, with short headers and long names."""

    keys: tuple[str, ...]
    headers: tuple[str, ...]
    names: tuple[str, ...]
    tool: str  # "RoB 2", "RoB 1" or "custom"

    @property
    def middle(self) -> str:
        """The tool's word for the middle level."""
        return "Unclear risk" if self.tool == "RoB 1" else "Some concerns"

    def words(self) -> dict[str | None, str]:
        return {"low": "Low risk", "some_concerns": self.middle, "high": "High risk",
                None: "Not assessed"}


def domain_key(name: Any) -> str:
    """``D1``-``D5`` for RoB 2 domains, ``overall``, a RoB 1 key, or the cleaned name itself."""
    text = " ".join(str(name).split())
    low = text.lower()
    if low in _OVERALL:
        return "overall"
    if len(low) == 2 and low[0] == "d" and low[1] in "12345":
        return low.upper()
    if low in _ROB2_BY_NAME:
        return _ROB2_BY_NAME[low]
    return rob1_domain_key(text)


def judgement_level(value: Any) -> str | None:
    """``low`` / ``some_concerns`` / ``high``, or ``None`` for not assessed; ValueError otherwise."""
    from trialsynth.review.rob import grade_rob_level

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = " ".join(str(value).replace("_", " ").split())
    if text.lower() in _UNASSESSED or text.lower() in ("no information", "ni"):
        return None
    try:
        return grade_rob_level(text)
    except DataError:
        raise ValueError(f"unknown risk-of-bias judgement {text[:60]!r}") from None


def rob_columns(rob: Mapping[str, Mapping[str, Any]]) -> RobColumns:
    """Domains found in ``rob`` in their tool's order, the overall judgement last."""
    seen = list(dict.fromkeys(domain_key(d) for judged in rob.values() for d in judged))
    rob2 = [k for k in ROB2_DOMAINS if k in seen]
    rob1 = [k for k in ROB1_DOMAINS if k in seen]
    other = [k for k in seen if k not in ROB2_DOMAINS and k not in ROB1_DOMAINS and k != "overall"]
    tail = ["overall"] if "overall" in seen else []
    if rob2 and not rob1 and not other:
        keys = rob2 + tail
        return RobColumns(tuple(keys), tuple("Overall" if k == "overall" else k for k in keys),
                          tuple("Overall risk of bias" if k == "overall" else ROB2_DOMAINS[k][0]
                                for k in keys), "RoB 2")
    keys = rob2 + rob1 + other
    names = [ROB2_DOMAINS[k][0] if k in ROB2_DOMAINS else ROB1_DOMAINS.get(k, k) for k in keys]
    headers = [chr(ord("A") + i) if i < 26 else str(i + 1) for i in range(len(keys))]
    tool = "RoB 1" if rob1 and not rob2 else "custom"
    return RobColumns(tuple(keys + tail), tuple(headers + ["Overall"] * len(tail)),
                      tuple(names + ["Overall risk of bias"] * len(tail)), tool)


def rob_levels(rob: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str | None]]:
    """``rob`` with domain keys normalised and judgements as levels (None: not assessed)."""
    out: dict[str, dict[str, str | None]] = {}
    for study, judged in rob.items():
        out[str(study)] = {domain_key(d): judgement_level(j) for d, j in judged.items()}
    return out


def rob_mapping(assessments: Iterable[Any], *, outcome: str | None = None
                ) -> dict[str, dict[str, str]]:
    """``study -> {domain: judgement}`` from RoB 2 / RoB 1 assessments (one outcome if given).

    A RoB 2 assessment gives ``D1``-``D5`` and ``overall``; a RoB 1 assessment its domains and,
    when it can be computed, its summary as ``overall``.
    """
    out: dict[str, dict[str, str]] = {}
    for a in assessments:
        if outcome is not None and getattr(a, "outcome", None) not in (None, outcome):
            continue
        judged: dict[str, str] = {}
        for key, domain in a.domains.items():
            judged[key] = getattr(domain, "final", None) or getattr(domain, "judgement", "")
        overall = a.judgement if hasattr(a, "judgement") else a.summary
        if overall is not None:
            judged["overall"] = overall
        out.setdefault(a.study, {}).update(judged)
    return out
