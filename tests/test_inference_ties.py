"""Settings inference for data-rows exports: REML, ties at the export's precision, and measures
told apart by the stored study CIs (docs/methods/revman-conventions.md §11).

The reference is RevMan's own output: the per-study effects, CIs and weights that RevMan Web
stored in real Cochrane exports (Pairwise70 corpus, shared/data/PROVENANCE.md). Each analysis
below was mis-inferred before (corpus classes "reml", "inference-tie", "effect-zero-tie"); it must
now be inferred with settings under which ``trialsynth check`` reproduces every stored number.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from _paths import SHARED_DATA

from trialsynth.analyse.checking import check_review
from trialsynth.readers.revman_rows import read_review
from trialsynth.review import WEIGHT_TOL
from trialsynth.review.settings_inference import PRECISE_TOL, Fit, choose

CORPUS = SHARED_DATA / "pairwise70" / "pairwise70_all_501_csv.tgz"
FLAGSHIP = SHARED_DATA / "pairwise70" / "CD015373_pub2_data.csv"
# review -> {analysis: (measure, method, words the method's note must contain)}
EXPECTED = {
    "CD015824_pub2": {"1.9": ("RR", "REML", "only candidate"), "2.8": ("RR", "REML", "only candidate"),
                      "3.4": ("MD", "REML", "only candidate")},
    "CD014965_pub2": {"1.25": ("MD", "REML", "only candidate")},
    "CD013801_pub2": {"1.21": ("RD", "REML", "only candidate")},
    "CD014763_pub2": {"1.2": ("OR", "MH_RANDOM", "export's precision"),
                      "1.4": ("OR", "MH_RANDOM", "export's precision")},
    "CD006515_pub2": {"1.10": ("RR", "MH_RANDOM", "export's precision")},
    "CD009788_pub3": {"1.4": ("MD", "DL", ""), "1.5": ("MD", "DL", "")},
}


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pw70")
    files = {}
    with tarfile.open(CORPUS, "r:gz") as tf:
        for m in tf:
            name = Path(m.name).name
            review = name.removesuffix("_data.csv")
            if m.isfile() and review in EXPECTED:
                fh = tf.extractfile(m)
                assert fh is not None
                files[review] = out / name
                files[review].write_bytes(fh.read())
    assert set(files) == set(EXPECTED)
    return files


@pytest.mark.parametrize("review", sorted(EXPECTED))
def test_inferred_settings_reproduce_revman(review: str, corpus_files: dict[str, Path]) -> None:
    rev = read_review(corpus_files[review])
    rows = {r.analysis: r for r in check_review(rev)}
    by_id = {a.id: a for a in rev.analyses}
    for aid, (measure, method, words) in EXPECTED[review].items():
        s = by_id[aid].settings
        assert (s.measure, s.method) == (measure, method), (aid, s.notes)
        assert words in s.notes[1], s.notes
        assert rows[aid].status == "match", (aid, rows[aid].differences[:2])


def test_effect_zero_tie_is_decided_by_the_stored_cis(corpus_files: dict[str, Path]) -> None:
    """CD009788.pub3 1.4: a single study whose stored MD is 0; MD, SMD and RD all give 0, and the
    stored CI is the MD's (±1.96·√(s₁²/n₁ + s₂²/n₂))."""
    a = {a.id: a for a in read_review(corpus_files["CD009788_pub3"]).analyses}["1.4"]
    assert "the stored CIs are MD's" in a.settings.notes[0]
    assert np.all(a.frame["stored_effect"].dropna() == 0)


def test_precise_fit_breaks_a_tie_before_the_review_preferences() -> None:
    loose, exact = Fit(0, 5e-5, 5e-5), Fit(0, 4e-7, 4e-7)
    tiers = (({"DL": 9}, "what other analyses identify"),)
    assert choose({"DL": loose, "MH_RANDOM": exact}, WEIGHT_TOL, tiers, PRECISE_TOL)[0] == "MH_RANDOM"
    assert choose({"DL": loose, "MH_RANDOM": exact}, WEIGHT_TOL, tiers)[0] == "DL"  # without it
    both = choose({"DL": exact, "MH_RANDOM": exact}, WEIGHT_TOL, tiers, PRECISE_TOL)
    assert both[0] == "DL" and not both[2]  # two exact fits: the review's preference decides


def test_flagship_settings_are_unchanged() -> None:
    """REML is tried only where RevMan 5's methods do not fit: the flagship stays DL (with its
    measures MD, SMD, RR), as the review states (inverse variance, random effects, DL)."""
    rev = read_review(FLAGSHIP)
    assert {a.settings.method for a in rev.analyses} == {"DL"}
    assert {a.settings.measure for a in rev.analyses} == {"MD", "SMD", "RR"}
    assert not any("REML" in n for a in rev.analyses for n in a.settings.notes)
