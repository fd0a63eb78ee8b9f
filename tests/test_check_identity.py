"""``trialsynth check`` and results.json pair our per-study rows with RevMan's by identity
(subgroup, study, order), never by a file row number.

Built from a real RevMan 5 file: Cochrane review CD008625 (antimicrobials for cholera; 74
outcomes, many subgrouped), ``../shared/data/cochrane-rm5/CD008625StatsDataOnly.rm5``. The same
XML written on one line gives every study row the same line number; renumbering each subgroup's
rows from 1 (as a per-subgroup numbered export does) makes numbers repeat across subgroups. The
expected values are RevMan's own stored per-study effects and weights in the file.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import replace

import pytest
from _paths import SHARED_DATA

from trialsynth.analyse.checking import check_analysis, check_review
from trialsynth.readers import read_review
from trialsynth.review import Analysis, check_against_stored, row_identities
from trialsynth.runner import analyse

RM5 = SHARED_DATA / "cochrane-rm5" / "CD008625StatsDataOnly.rm5"


@pytest.fixture(scope="module")
def original():
    return read_review(RM5)


@pytest.fixture(scope="module")
def one_line(tmp_path_factory, original):
    xml = re.sub(rb">\s*\n\s*<", b"><", RM5.read_bytes())
    path = tmp_path_factory.mktemp("oneline") / "CD008625_one_line.rm5"
    path.write_bytes(xml)
    review = read_review(path)
    lines = {int(r) for a in review.analyses for r in a.frame["row"]}
    assert len(lines) == 1  # every study row now carries the same line number
    return review


def _renumbered(a: Analysis) -> Analysis:
    """The analysis with its rows numbered 1, 2, ... within each subgroup."""
    frame = a.frame.copy()
    frame["row"] = frame.groupby("subgroup").cumcount() + 1
    return replace(a, frame=frame)


def test_no_false_difference_when_line_numbers_repeat(original, one_line):
    before = {r.analysis: r.status for r in check_review(original)}
    after = {r.analysis: r.status for r in check_review(one_line)}
    assert after == before
    assert Counter(after.values())["differs"] == 0
    assert Counter(after.values())["match"] == 74


def test_per_subgroup_numbering_is_matched_by_identity(original):
    subgrouped = [a for a in original.analyses if a.has_subgroups and len(a.frame) >= 4]
    assert len(subgrouped) >= 20
    for a in subgrouped:
        b = _renumbered(a)
        assert b.frame["row"].duplicated().any()
        assert check_analysis(b).status == check_analysis(a).status == "match", a.id


def test_results_json_ours_is_each_studys_own(original):
    a = next(x for x in original.analyses if x.id == "1.4")  # RR, M-H random, 7 subgroups
    b = _renumbered(a)
    out = analyse(b, RM5.name)
    effects = []
    for st in out["studies"]:
        ours, stored = st["ours"], st["stored"]
        if stored["effect"] is None or math.isnan(stored["effect"]):
            continue
        assert math.isclose(ours["effect"], stored["effect"], rel_tol=1e-6), st["study"]
        assert math.isclose(ours["weight"], stored["weight"], rel_tol=1e-6), st["study"]
        effects.append(ours["effect"])
    assert len(effects) >= 10 and len(set(effects)) == len(effects)


def test_identity_counts_repeats_of_a_study_within_a_subgroup(original):
    a = next(x for x in original.analyses if x.has_subgroups)
    keys = row_identities(a.frame)
    assert len(set(keys)) == len(keys)
    doubled = replace(a, frame=a.frame.iloc[[0, 0]].reset_index(drop=True))
    k = row_identities(doubled.frame)
    assert k[0][:2] == k[1][:2] and (k[0][2], k[1][2]) == (0, 1)
    studies, _ = check_against_stored(doubled, None)
    assert [s["ours"]["effect"] for s in studies] == [None, None]
