"""Draw docs/architecture.svg: trialsynth's stages and who imports whom, from the real import graph.

    python docs/make_architecture_picture.py            # writes docs/architecture.svg
    python docs/make_architecture_picture.py --edges    # prints every import between the boxes

The graph is read by grimp (the library behind ``lint-imports``; imports under TYPE_CHECKING left
out, as the contracts do) from the trialsynth found on the import path. Each box is a group of
modules (:data:`BOXES`); an arrow A → B means some module of A imports one of B. Arrows implied
by a longer path are left out (transitive reduction), so the picture shows the chain; ``--edges``
lists every import. Errors and the small shared helpers (``errors``, ``_json``, ``_atomic``,
``_console``, ``_words``, ``_optional``, ``_moved``, ``output_folder``, ``results_schema``) are imported from
everywhere and are left out.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "architecture.svg"


@dataclass(frozen=True)
class Box:
    name: str
    members: tuple[str, ...]  # module prefixes below trialsynth.
    row: float  # 0 = top
    column: tuple[float, float]  # (centre, width), 0..1
    text: str
    kind: str  # "edge" (command line, output), "stage", "side", "kernel"

    @property
    def x(self) -> float:
        return self.column[0]

    @property
    def width(self) -> float:
        return self.column[1]


LEFT = (0.3, 0.52)  # (centre, width): the run's stages
RIGHT = (0.8, 0.3)  # packages beside them
GAP = 0.605  # the free lane between the two columns

BOXES = (
    Box("cli", ("cli", "_cli_guard"), 0, LEFT,
        "the command line: run, pool, check, import, plan, nma, diff, batch, schema", "edge"),
    Box("runner", ("runner",), 1, LEFT, "runner.py: the output folder (results.json, index.html, "
        "figures/, tables/)", "edge"),
    Box("corpus", ("corpus",), 1, RIGHT, "batch over many reviews", "side"),
    Box("diff", ("diff",), 2, LEFT, "what changed between two runs", "edge"),
    Box("pipeline", ("pipeline",), 3, LEFT, "pipeline.py: one run in memory", "edge"),
    Box("render", ("render",), 4, LEFT, "formatting only: HTML and templates, figures, CSV, Word",
        "stage"),
    Box("report", ("report",), 5, LEFT, "the report model: SoF tables, studies, navigation, network",
        "stage"),
    Box("assess", ("assess",), 6, LEFT, "certainty (GRADE), sensitivity, bias, bayes, sequential, rules",
        "stage"),
    Box("nma", ("nma",), 5.5, RIGHT, "network meta-analysis", "side"),
    Box("analyse", ("analyse",), 7, LEFT, "each analysis pooled with its settings; checking against "
        "stored results", "stage"),
    Box("api", ("api", "validate"), 7.5, RIGHT, "api.py: the Python API pool()", "side"),
    Box("readers", ("readers",), 8, LEFT, "RevMan 5, RevMan Web, CSV, review folders → Review", "stage"),
    Box("review", ("review",), 9, LEFT, "the data model, review.yaml schema, arms, inventory, risk of bias",
        "stage"),
    Box("kernels", ("registry", "effects", "pooling", "designs", "metareg", "conventions", "_dist",
                    "_segments"), 10, (0.5, 0.9),
        "registry · effects · pooling · designs · metareg · conventions · _dist · _segments", "kernel"),
)
COLOURS = {"edge": "#dde6f3", "stage": "#fbe8c8", "side": "#e4f0dc", "kernel": "#e6e6e6"}


def box_of(module: str) -> Box | None:
    """The box a trialsynth module belongs to (longest member prefix), or None (helpers)."""
    rest = module.split(".", 1)[1] if "." in module else ""
    best: tuple[int, Box] | None = None
    for box in BOXES:
        for m in box.members:
            if (rest == m or rest.startswith(m + ".")) and (best is None or len(m) > best[0]):
                best = (len(m), box)
    return best[1] if best else None


def read_graph() -> tuple[dict[str, int], dict[tuple[str, str], list[tuple[str, str]]]]:
    """Modules per box and the imports between boxes: {(from box, to box): [(module, module)]}."""
    import grimp

    graph = grimp.build_graph("trialsynth", exclude_type_checking_imports=True, cache_dir=None)
    sizes = {b.name: 0 for b in BOXES}
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for module in sorted(graph.modules):
        src = box_of(module) if module.startswith("trialsynth.") else None
        if src is None:
            continue
        sizes[src.name] += 1
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            dst = box_of(imported) if imported.startswith("trialsynth.") else None
            if dst is not None and dst is not src:
                edges.setdefault((src.name, dst.name), []).append((module, imported))
    return sizes, edges


def reduced(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The transitive reduction of an acyclic relation: drop A → C when A → ... → C is longer."""
    succ: dict[str, set[str]] = {}
    for a, b in pairs:
        succ.setdefault(a, set()).add(b)

    def reach(start: str, skip: tuple[str, str]) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            n = todo.pop()
            for m in succ.get(n, ()):
                if (n, m) != skip and m not in seen:
                    seen.add(m)
                    todo.append(m)
        return seen

    return {(a, b) for a, b in pairs if b not in reach(a, (a, b))}


def draw(sizes: dict[str, int], arrows: set[tuple[str, str]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.hashsalt": "trialsynth", "svg.fonttype": "none",
                                "font.family": "DejaVu Sans"})
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    rows = int(max(b.row for b in BOXES)) + 1
    row_h, box_h = 1.0, 0.62
    fig = Figure(figsize=(11, 0.8 * rows + 0.4))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    ax.set_xlim(0, 1)
    ax.set_ylim(-(rows - 1) * row_h - 1.05, 0.45)
    ax.axis("off")
    by_name = {b.name: b for b in BOXES}

    def y(box: Box) -> float:
        return -box.row * row_h

    patches = {}
    for b in BOXES:
        patch = FancyBboxPatch((b.x - b.width / 2, y(b) - box_h / 2), b.width, box_h,
                               boxstyle="square,pad=0",
                               facecolor=COLOURS[b.kind], edgecolor="#555555", linewidth=1.0, zorder=2)
        ax.add_patch(patch)
        patches[b.name] = patch
        title = b.name + ("/" if b.kind == "stage" or b.name in {"corpus", "diff", "nma"} else "")
        count = f"{sizes[b.name]} module" + ("" if sizes[b.name] == 1 else "s")
        ax.text(b.x, y(b) + 0.1, f"{title}  ({count})", ha="center", va="center",
                fontsize=10.5, fontweight="bold", zorder=3)
        ax.text(b.x, y(b) - 0.15, b.text, ha="center", va="center", fontsize=8.2, zorder=3,
                wrap=False)
    for a, c in sorted(arrows):
        ax.add_patch(FancyArrowPatch(path=_route(by_name[a], by_name[c], y, box_h),
                                     arrowstyle="-|>", mutation_scale=11, color="#333333",
                                     linewidth=1.0, zorder=1, shrinkA=0, shrinkB=0))
    ax.text(0.01, -(rows - 1) * row_h - 0.75,
            "An arrow A → B: a module of A imports a module of B (arrows implied by a longer path left "
            "out; all: python docs/make_architecture_picture.py --edges).\nEvery arrow points down: "
            "no stage imports a later one (lint-imports, contract 'stages'). Errors and small shared "
            "helpers are left out.", fontsize=8, va="top", color="#333333")
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None})


def _route(src: Box, dst: Box, y: Any, box_h: float) -> Any:
    """The arrow's path, always downwards: straight down when the target lies below the source
    (kernels span the page); side to side between neighbouring rows of the two columns; down the
    free lane between the columns when it passes other boxes."""
    from matplotlib.path import Path as MplPath

    sy, dy = y(src), y(dst)
    if dst.x - dst.width / 2 < src.x < dst.x + dst.width / 2:
        pts = [(src.x, sy - box_h / 2), (src.x, dy + box_h / 2)]
    else:
        right = dst.x > src.x
        s_side = src.x + (src.width / 2 if right else -src.width / 2)
        d_side = dst.x + (-dst.width / 2 if right else dst.width / 2)
        if dst.row - src.row <= 1:
            pts = [(s_side, sy), (d_side, dy)]
        else:
            pts = [(s_side, sy), (GAP, sy - 0.3), (GAP, dy), (d_side, dy)]
    codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(pts) - 1)
    return MplPath(pts, codes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", action="store_true", help="print every import between boxes")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sizes, edges = read_graph()
    if args.edges:
        for (a, b), pairs in sorted(edges.items()):
            print(f"{a} -> {b}: " + ", ".join(f"{m} -> {i}" for m, i in pairs))
        return 0
    draw(sizes, reduced(set(edges)), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
