"""Who is compared with whom in an analysis, and what it measures: the two arms, the axis
labels, the comparison and the outcome, read from what the file states.

RevMan stores, per analysis, the headers of its two data columns (rm5 ``GROUP_LABEL_1`` /
``GROUP_LABEL_2``, RevMan 5 CSV "Group Label 1/2", RevMan Web "Experimental/Control group
label") and the "Favours ..." labels under the axis (rm5 ``GRAPH_LABEL_1`` left, ``GRAPH_LABEL_2``
right; CSV "Left/Right Graph Label"). Group 1 is always the experimental arm (RevMan 5 User
Guide, "Data and analyses": column 1 "Experimental", column 2 "Control"). These labels are what
the authors wrote for this analysis, so they name the arms wherever the file states them; the
comparison title ("X versus Y") only where it is silent. Where the two disagree the labels win
and :attr:`Arms.notes` says so.

Two kinds of label are not arm names and are set aside, with a note: RevMan's untouched
defaults (group labels "Experimental"/"Control" both, axis labels "Favours experimental"/
"Favours control" both, with or without square brackets), which state nothing about this
review; and group labels worded as axis labels ("Favours ..."), an author's slip that would
otherwise name an arm "Favours control".

Reviews organised by outcome: some reviews make each comparison group an outcome and each
analysis in it a pair of interventions or doses ("Rivaroxaban versus antiplatelet therapy",
"4.0 g/d versus 2.4 g/d"). A group is read that way when every analysis in it is named as one
such pair and the group's own name, when the file states it, is not a pair; then the analysis
name is the comparison and the group's name the outcome. RevMan 5's figure captions in analysis
names ("Comparison 1 X versus Y, Outcome 2 Z") are split the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

OrganisedBy = Literal["comparison", "outcome"]
_VERSUS = re.compile(r"\s+(?:versus|vs\.?)\s+", re.IGNORECASE)
_TRAILING_NOTE = re.compile(r"\s*\([^()]*\)\s*$")
_CAPTION = re.compile(r"^\s*Comparison\s+\d+\s*:?\s*(?P<cmp>.+?),\s*Outcome\s+\d+\s*:?\s*"
                      r"(?P<out>.+?)\s*$", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(?P<cmp>[^:]{1,120}?\bversus\b[^:]{1,120}?):\s*(?P<out>.+)$",
                     re.IGNORECASE)
_SEPARATOR = re.compile(r":|\s[-–—]\s|(?<![Vv]s)\.\s")  # parts of a name: "a: b", "a - b", "a. b"
DEFAULT_GROUP = ("experimental", "control")  # RevMan 5's labels of a new outcome
DEFAULT_GRAPH = ("favours experimental", "favours control")


@dataclass(frozen=True, slots=True)
class ArmLabels:
    """The labels a source file gives one analysis' arms and axis (None: not stated)."""

    experimental: str | None = None  # group 1 column header
    control: str | None = None  # group 2 column header
    favours_left: str | None = None  # under the axis, left of the null line
    favours_right: str | None = None

    @property
    def empty(self) -> bool:
        return not any((self.experimental, self.control, self.favours_left, self.favours_right))

    def to_dict(self) -> dict[str, str | None]:
        return {"experimental": self.experimental, "control": self.control,
                "favours_left": self.favours_left, "favours_right": self.favours_right}


def arm_labels(experimental: Any = None, control: Any = None, left: Any = None,
               right: Any = None) -> ArmLabels | None:
    """:class:`ArmLabels` from raw cells (blank or missing: not stated); None when all are."""
    def text(x: Any) -> str | None:
        s = " ".join(str(x).split()) if isinstance(x, str) else ""
        return s[:200] or None

    labels = ArmLabels(text(experimental), text(control), text(left), text(right))
    return None if labels.empty else labels


@dataclass(frozen=True, slots=True)
class Arms:
    """One analysis' comparison, outcome, arms and axis labels, each with where it came from.

    ``source`` of the arm names: ``"file labels"``, ``"comparison title"``, ``"analysis name"``
    (a review organised by outcome) or ``"not stated"`` (RevMan's "Experimental"/"Control").
    ``favours_left``/``favours_right`` are None unless the file states them (the report then
    words them from the arms and the direction of benefit).
    """

    comparison: str | None
    outcome: str
    experimental: str
    control: str
    source: str
    organised_by: OrganisedBy = "comparison"
    favours_left: str | None = None
    favours_right: str | None = None
    labels: ArmLabels | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def named(self) -> bool:
        return self.source != "not stated"

    @property
    def pair(self) -> str:
        """The comparison as a reader says it: "X versus Y"."""
        return f"{self.experimental} versus {self.control}"

    def to_dict(self) -> dict[str, Any]:
        return {"comparison": self.comparison, "outcome": self.outcome,
                "experimental": self.experimental, "control": self.control,
                "favours_left": self.favours_left, "favours_right": self.favours_right,
                "source": self.source, "organised_by": self.organised_by,
                "labels_in_file": None if self.labels is None else self.labels.to_dict(),
                "notes": list(self.notes)}


def pair_sides(text: str | None, *, whole: bool = True) -> tuple[str, str] | None:
    """(X, Y) of a name that is one comparison "X versus Y" (a trailing note in brackets
    dropped); None when it is not one pair (no "versus" outside brackets, or more than one).
    ``whole=False`` (comparison titles): the first part between colons that is one pair
    ("Sensitivity analysis: X versus Y by ..." gives X and "Y by ..."); ``whole=True``
    (analysis names): the whole name must be the pair, with no parts ("a: b", "a - b")."""
    if not text:
        return None
    clean = _TRAILING_NOTE.sub("", " ".join(text.split())).strip()
    parts = [clean] if whole else [p.strip() for p in clean.split(":")]
    if whole and _SEPARATOR.search(_outside_brackets(clean)):
        return None  # "Outcome - X versus Y", "X versus Y: outcome": more than a pair
    for core in parts:
        bare = _outside_brackets(core)
        cuts = list(_VERSUS.finditer(bare))
        if len(cuts) == 1:
            x, y = core[:cuts[0].start()].strip(), core[cuts[0].end():].strip()
            if x and y:
                return x, y
    return None


def _outside_brackets(text: str) -> str:
    """``text`` with everything inside brackets blanked (same length), so that a "versus"
    within a note is not read as the comparison."""
    out, depth = [], 0
    for ch in text:
        depth += ch in "([{"
        out.append(ch if depth == 0 else "_")
        depth -= ch in ")]}" and depth > 0
    return "".join(out)


def split_analysis_name(name: str) -> tuple[str | None, str]:
    """(comparison stated in the name, the rest): "Comparison 1 X versus Y, Outcome 2 Z" and
    "X versus Y: Z" give ("X versus Y", "Z"); any other name (None, name)."""
    text = " ".join(str(name or "").split())
    for pattern in (_CAPTION, _PREFIX):
        if m := pattern.match(text):
            return m["cmp"].strip(), m["out"].strip()
    return None, text


def outcome_groups(names: Iterable[tuple[int, str]], group_names: Mapping[int, str | None]
                   ) -> set[int]:
    """The comparison groups organised by outcome: every analysis of the group is named as one
    pair of interventions (:func:`pair_sides`) and the group's own name, when stated, is not a
    pair; or every analysis is named by a RevMan caption and the captions name more than one
    comparison (the group then holds one outcome across comparisons). A group of one analysis
    is too little evidence on its own: it counts when the review has a group of several
    analyses read that way, or when every group of the review is one pair."""
    by_group: dict[int, list[str]] = {}
    for g, n in names:
        by_group.setdefault(int(g), []).append(" ".join(n.split()))
    several, single = set(), set()
    for g, ns in by_group.items():
        if pair_sides(group_names.get(g), whole=False) is not None:
            continue
        captions = [m["cmp"].lower() for n in ns if (m := _CAPTION.match(n))]
        if len(captions) == len(ns):
            if len(set(captions)) > 1:
                several.add(g)
        elif all(pair_sides(n) is not None for n in ns):
            (several if len(ns) > 1 else single).add(g)
    if several or len(single) == len(by_group):
        return several | single
    return set()


def _norm(text: str) -> str:
    return re.sub(r"[\[\]]", "", " ".join(text.lower().split()))


def _agrees(label: str, side: str) -> bool:
    a, b = _norm(label).removeprefix("favours ").strip(), _norm(side)
    return bool(a) and bool(b) and (a in b or b in a)


def _disagrees(label: str, side: str, role: str) -> bool:
    """A label names another arm than the title's side; RevMan's role word for the column
    ("Experimental", "Control") names no arm and disagrees with nothing."""
    return _norm(label) != role and not _agrees(label, side)


def _usable_group_labels(labels: ArmLabels | None) -> tuple[str | None, str | None, list[str]]:
    """The group labels that name arms: not RevMan's untouched pair of defaults, and not a
    label worded as an axis label ("Favours ..."), which is set aside with a note."""
    if labels is None or not (labels.experimental or labels.control):
        return None, None, []
    e, c = labels.experimental, labels.control
    if tuple(_norm(x or "") for x in (e, c)) == DEFAULT_GROUP:
        return None, None, []  # RevMan's untouched defaults: the authors named nothing
    worded = [x for x in (e, c) if x and _norm(x).startswith("favours ")]
    if not worded:
        return e, c, []
    many = len(worded) > 1
    note = (f"the file's column label{'s' if many else ''} "
            f"{' and '.join(repr(x) for x in worded)} {'are' if many else 'is'} axis wording, "
            f"not {'arm names' if many else 'an arm name'}: "
            f"{'those arms are' if many else 'that arm is'} named from the comparison")
    return (None if e in worded else e), (None if c in worded else c), [note]


def _usable_graph_labels(labels: ArmLabels | None) -> tuple[str | None, str | None]:
    if labels is None or not (labels.favours_left or labels.favours_right):
        return None, None
    pair = tuple(_norm(x or "") for x in (labels.favours_left, labels.favours_right))
    if pair == DEFAULT_GRAPH:
        return None, None
    return labels.favours_left, labels.favours_right


def resolve_arms(name: str, group: int, group_name: str | None, labels: ArmLabels | None = None,
                 *, by_outcome: bool = False) -> Arms:
    """The :class:`Arms` of one analysis from its name, its comparison group's number and name
    (None: not stated) and the labels the file gives it; ``by_outcome``: its group is organised
    by outcome (:func:`outcome_groups`)."""
    stated_cmp, rest = split_analysis_name(name)
    organised: OrganisedBy = "comparison"
    if by_outcome:
        organised = "outcome"
        comparison = stated_cmp or " ".join(name.split())
        outcome = group_name or f"Outcome of comparison group {group} (not named in the source)"
        if stated_cmp:
            outcome = rest
    else:
        comparison, outcome = (stated_cmp or group_name), rest
    sides = pair_sides(comparison, whole=False)
    notes: list[str] = []
    e, c, why = _usable_group_labels(labels)
    notes += why
    if e or c:
        exp = e or (sides[0] if sides else "Experimental")
        ctl = c or (sides[1] if sides else "Control")
        source = "file labels"
        if sides and (_disagrees(exp, sides[0], DEFAULT_GROUP[0])
                      or _disagrees(ctl, sides[1], DEFAULT_GROUP[1])):
            notes.append(f"the file labels the arms {exp!r} (experimental) and {ctl!r} "
                         f"(control); the comparison title reads {comparison!r}: the file's "
                         f"labels are used")
    elif sides:
        exp, ctl = sides
        source = "analysis name" if organised == "outcome" else "comparison title"
    else:
        exp, ctl, source = "Experimental", "Control", "not stated"
    left, right = _usable_graph_labels(labels)
    return Arms(comparison=comparison, outcome=outcome or "(unnamed outcome)", experimental=exp,
                control=ctl, source=source, organised_by=organised, favours_left=left,
                favours_right=right, labels=labels, notes=tuple(notes))


def direction_from_labels(arms: Arms) -> str | None:
    """"lower" or "higher" (values better for the experimental arm) when the file's axis labels
    name the arms: "Favours <experimental>" on the left means effects below the null favour it
    (RevMan draws lower values on the left); None when the labels do not say."""
    left, right = arms.favours_left, arms.favours_right
    if not left or not right:
        return None
    def names(label: str, arm: str, role: str) -> bool:  # "Favours control" names the control arm
        return _agrees(label, arm) or _norm(label).removeprefix("favours ").strip() == role

    lx, lc = names(left, arms.experimental, "experimental"), names(left, arms.control, "control")
    rx, rc = names(right, arms.experimental, "experimental"), names(right, arms.control, "control")
    if lx and rc and not (lc or rx):
        return "lower"
    if lc and rx and not (lx or rc):
        return "higher"
    return None


def review_arms(analyses: Sequence[tuple[str, int, str]], group_names: Mapping[int, str | None],
                labels: Mapping[str, ArmLabels | None]) -> dict[str, Arms]:
    """:class:`Arms` of every analysis, given (id, group, name) per analysis, the groups' names
    as stated (None: not stated) and the labels per analysis id."""
    by_outcome = outcome_groups(((g, n) for _, g, n in analyses), group_names)
    return {aid: resolve_arms(n, g, group_names.get(g), labels.get(aid), by_outcome=g in by_outcome)
            for aid, g, n in analyses}
