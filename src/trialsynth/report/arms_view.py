"""How the report names what an analysis compares: the arms, outcome and comparison of every
analysis (:mod:`trialsynth.review.arms`) as the report's tables, statements and figures use them, and
the forest plot of an analysis with no pooled estimate, as RevMan draws it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from trialsynth.assess.certainty.statements import lower_first
from trialsynth.errors import DataError
from trialsynth.report import model
from trialsynth.review.arms import Arms, direction_from_labels, review_arms


def unpooled_forest(analysis: Any, a: Mapping[str, Any], arm: Arms, facts: model.Facts,
                    rob: Mapping[Any, Any], labels_cls: Any, rel: str) -> tuple[Any, ...] | None:
    """The forest-plot job of an analysis with no pooled estimate, as RevMan draws it: every
    study "Not estimable" and the total "Not estimable" (nothing estimable), or the studies
    without a total (the review pooled nothing); None when no study row has usable data."""
    from trialsynth.analyse import pool_analysis

    if analysis.pooled_rows.empty:
        return None
    try:
        result = pool_analysis(analysis, analysis.id)
    except DataError:
        return None
    rows = analysis.pooled_rows
    judged = {str(st): j for st in rows["study"] if (j := model.judged_for(rob, str(st), a["id"]))}
    labels = labels_cls(experimental=arm.experimental, control=arm.control,
                        direction_of_benefit=facts.direction, analysis_number=a["id"],
                        favours_left=arm.favours_left, favours_right=arm.favours_right,
                        pooled=analysis.settings.totals != "none", prediction_interval=False)
    return ("forest", a["id"], rel, result, rows, labels, judged or None)


def placeholder(c: Any) -> bool:
    """A comparison name trialsynth made up because the source names none ("Comparison 3")."""
    return bool(c.inferred) and c.name == f"Comparison {c.id}"


def analysis_arms(analyses: Sequence[Any], group_names: Mapping[Any, str]) -> dict[str, Arms]:
    """Every analysis' comparison, outcome and arms (trialsynth.review.arms) from its name, its group's
    name and the labels its source states."""
    return review_arms([(a.id, a.group, a.name) for a in analyses],
                       {int(g): n for g, n in group_names.items()},
                       {a.id: getattr(a, "labels", None) for a in analyses})


def outcome_group_titles(arms: Mapping[str, Arms], analyses: Sequence[Any]) -> dict[int, str]:
    out: dict[int, str] = {}
    for a in analyses:
        arm = arms[a.id]
        if arm.organised_by == "outcome":
            out[int(a.group)] = (f"{arm.outcome} (organised by outcome: each analysis compares "
                                 f"two interventions)")
    return out


def group_arms(arms: Mapping[str, Arms], by_id: Mapping[str, Any], g: int, *,
                labelled: bool = False) -> tuple[str, str, str | None] | None:
    """(intervention, comparator, outcome) of a comparison group's SoF table: the arms most of
    its analyses name (the labels the file states, else its title); for a group organised by
    outcome the arms of every row and the outcome; None when no analysis names its arms
    (``labelled``: none of a group organised by comparison names them by the file's labels)."""
    mine = [arms[aid] for aid, a in by_id.items() if int(a.group) == g and arms[aid].named]
    if labelled:
        mine = [m for m in mine if m.source == "file labels" and m.organised_by == "comparison"]
    if not mine:
        return None
    if all(m.organised_by == "outcome" for m in mine):
        return (" / ".join(dict.fromkeys(m.experimental for m in mine)),
                " / ".join(dict.fromkeys(lower_first(m.control) for m in mine)), mine[0].outcome)
    (x, y), _ = Counter((m.experimental, m.control) for m in mine).most_common(1)[0]
    return x, lower_first(y), None


def direction_from_file(facts: model.Facts, arm: Arms) -> model.Facts:
    """The direction of benefit the file's axis labels state ("Favours <experimental>" on the
    left: lower is better), where the review folder states none."""
    if facts.direction_source == "review folder":
        return facts
    found = direction_from_labels(arm)
    if found is None:
        return facts
    return replace(facts, direction=found,
                   direction_source=f"the file's axis labels ({arm.favours_left!r} left, "
                                    f"{arm.favours_right!r} right)")
