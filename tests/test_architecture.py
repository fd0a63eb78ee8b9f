"""docs/architecture.svg is drawn from the real import graph (docs/make_architecture_picture.py):
every module of a stage folder is in a box of the picture, and every import between boxes
points down the page, as the picture (and the 'stages' import contract) says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import grimp  # noqa: F401  (import-linter's graph reader, a test extra: the script needs it)

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _script():
    spec = importlib.util.spec_from_file_location("make_architecture_picture",
                                                  DOCS / "make_architecture_picture.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_import_between_boxes_points_down() -> None:
    pic = _script()
    sizes, edges = pic.read_graph()
    rows = {b.name: b.row for b in pic.BOXES}
    upward = {pair: imports[:3] for pair, imports in edges.items() if rows[pair[0]] >= rows[pair[1]]}
    assert not upward, upward
    assert all(sizes[b.name] > 0 for b in pic.BOXES)  # no box drawn for a package that left


def test_every_stage_module_is_in_a_box() -> None:
    pic = _script()
    src = DOCS.parent / "src" / "trialsynth"
    for stage in ("readers", "review", "analyse", "assess", "report", "render"):
        for path in (src / stage).rglob("*.py"):
            module = ".".join(("trialsynth", *path.relative_to(src).with_suffix("").parts))
            box = pic.box_of(module.removesuffix(".__init__"))
            assert box is not None and box.name == stage, module


def test_transitive_reduction_keeps_the_chain_only() -> None:
    pic = _script()
    assert pic.reduced({("a", "b"), ("b", "c"), ("a", "c")}) == {("a", "b"), ("b", "c")}
    assert pic.reduced({("a", "b"), ("a", "c")}) == {("a", "b"), ("a", "c")}


def test_the_committed_picture_names_every_box() -> None:
    svg = (DOCS / "architecture.svg").read_text(encoding="utf-8")
    pic = _script()
    for box in pic.BOXES:
        assert f">{box.name}" in svg, box.name
