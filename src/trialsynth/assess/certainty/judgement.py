"""The objects GRADE passes around: thresholds, one domain's judgement, overrides, certainty.

Kept apart from the domain rules (:mod:`~trialsynth.assess.certainty.grade`,
:mod:`~trialsynth.assess.certainty.inconsistency`, :mod:`~trialsynth.assess.certainty.imprecision`) so that
each rule module imports only these frozen types.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from trialsynth.assess.rules import DEFAULT_RULES, RuleSet
from trialsynth.pooling.result import RATIO_MEASURES, PooledResult

Level = Literal["high", "moderate", "low", "very_low"]
OutcomeType = Literal["continuous", "dichotomous"]
Benefit = Literal["lower", "higher"]
LEVELS: tuple[Level, ...] = ("very_low", "low", "moderate", "high")
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")


@dataclass(frozen=True, slots=True)
class Override:
    """A reviewer's final rating for one domain; ``proposed`` is filled in by ``assess``."""

    downgrade: int
    rationale: str
    proposed: int | None = None
    reviewer: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rationale, str) or not self.rationale.strip():
            raise ValueError("a GRADE override needs a rationale (METHODS §8.4)")
        if self.downgrade not in (0, 1, 2, 3):
            raise ValueError(f"downgrade must be 0, 1, 2 or 3, not {self.downgrade!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"proposed": self.proposed, "final": self.downgrade, "rationale": self.rationale,
                "reviewer": self.reviewer}


@dataclass(frozen=True, slots=True)
class DomainJudgement:
    """One domain: final downgrade, the reasons and numbers behind the proposal, any override.

    ``numbers["provisional"]`` is True when the judgement rests on something nobody assessed
    (no risk-of-bias judgement, no PICO comparison): the rating then stands until a reviewer
    assesses the domain, and the report says so.
    """

    domain: str
    downgrade: int
    reasons: tuple[str, ...]
    numbers: dict[str, Any] = field(default_factory=dict)
    override: Override | None = None
    plain: str = ""  # the reason in plain words, for SoF footnotes (no citations)

    @property
    def proposed(self) -> int:
        """The automated proposal (differs from ``downgrade`` only under an override)."""
        return self.downgrade if self.override is None else int(self.override.proposed or 0)

    @property
    def provisional(self) -> bool:
        """Rests on an unassessed input, and no reviewer has overridden it."""
        return bool(self.numbers.get("provisional")) and self.override is None

    def to_dict(self) -> dict[str, Any]:
        return {"downgrade": self.downgrade, "reasons": list(self.reasons),
                "override": None if self.override is None else self.override.to_dict(),
                "proposed": self.proposed, "provisional": self.provisional,
                "plain": self.plain, "numbers": dict(self.numbers)}


@dataclass(frozen=True, slots=True)
class Flags:
    """Reviewer input that the data cannot supply."""

    small_industry_funded: bool = False  # most/all studies small and industry-funded (Fig 5 Q1)
    unpublished_trials: bool = False  # documented unpublished studies, registry/FDA (Fig 5 Q4)
    # Core GRADE 4 Fig 2 step 3; None = not stated (rule rob.unknown_direction_could_explain)
    rob_bias_direction: Literal["could_explain", "underestimates"] | None = None
    subgroup_explains_inconsistency: bool = False  # credible a-priori subgroup (Core GRADE 3)


NO_FLAGS = Flags()  # the default: no reviewer input


@dataclass(frozen=True, slots=True)
class Certainty:
    """GRADE certainty of one analysis with its five domain judgements."""

    level: Level
    domains: dict[str, DomainJudgement]
    start: Level = "high"

    @property
    def downgrades(self) -> int:
        return sum(j.downgrade for j in self.domains.values())

    @property
    def provisional(self) -> tuple[str, ...]:
        """The domains whose judgement rests on an unassessed input (empty: not provisional)."""
        return tuple(d for d, j in self.domains.items() if j.provisional)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "domains": {d: j.to_dict() for d, j in self.domains.items()},
                "start": self.start, "downgrades": self.downgrades,
                "provisional": list(self.provisional)}


@dataclass(frozen=True, slots=True)
class Threshold:
    """Decision threshold(s) on the analysis scale (Core GRADE 2 rating target, METHODS §4.1)."""

    kind: Literal["mid", "null"]
    lower: float
    upper: float
    benefit: Benefit

    def zone(self, y: float) -> str:
        """``"benefit"``, ``"harm"``, or ``"trivial"`` (within ±MID) / ``"null"`` (exactly 0)."""
        below, above = ("benefit", "harm") if self.benefit == "lower" else ("harm", "benefit")
        middle = "trivial" if self.kind == "mid" else "null"
        return below if y < self.lower else above if y > self.upper else middle

    @property
    def distance(self) -> float:  # the MID on the analysis scale (nearest threshold to the null)
        return min(-self.lower, self.upper)

    def describe(self, measure: str) -> str:
        """The threshold in words on the display scale ("the MID of 10", "RR 0.75 and 1.25")."""
        if self.kind == "null":
            return "no effect (the null)"
        if measure in RATIO_MEASURES:
            return f"{measure} {math.exp(self.lower):.2f} and {math.exp(self.upper):.2f} (the MID)"
        return f"the minimal important difference (±{self.distance:g})"


def make_threshold(measure: str, mid: float | None, benefit: Benefit,
                   rules: RuleSet = DEFAULT_RULES) -> Threshold:
    """±MID on the analysis scale, or the null when ``mid`` is None (SMD: ±0.5, KCE rule)."""
    if benefit not in ("lower", "higher"):
        raise ValueError("direction_of_benefit must be 'lower' or 'higher'")
    if mid is None and measure == "SMD":
        mid = rules["imprecision.smd_threshold_without_mid"]  # KCE 5512: SMD ±0.5 without an MID
    if mid is None:
        return Threshold("null", 0.0, 0.0, benefit)
    if mid <= 0 or (measure in RATIO_MEASURES and mid >= 1):
        raise ValueError("mid must be positive (a relative change in (0, 1) for RR/OR, e.g. 0.25)")
    if measure in RATIO_MEASURES:
        return Threshold("mid", math.log(1 - mid), math.log(1 + mid), benefit)  # GRADE 6
    return Threshold("mid", -float(mid), float(mid), benefit)


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def judge(domain: str, numbers: dict[str, Any]) -> Callable[..., DomainJudgement]:
    """``out(downgrade, *reasons, plain="")`` for one domain, carrying its numbers; ``plain`` is
    the reason in words a guideline panel reads (the SoF footnote)."""
    def out(downgrade: int, *reasons: str, plain: str = "") -> DomainJudgement:
        return DomainJudgement(domain, downgrade, tuple(reasons), numbers, plain=plain)
    return out


def included(result: PooledResult) -> tuple[list[int], np.ndarray]:
    """Positions of the pooled studies and their weight shares (the analysis' own weights)."""
    idx = [i for i, s in enumerate(result.studies)
           if s.included and s.weight is not None and s.yi is not None]
    w = np.array([result.studies[i].weight for i in idx], dtype=float)
    return idx, (w / w.sum() if w.sum() > 0 else w)
