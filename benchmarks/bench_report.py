"""Time ``trialsynth run`` on the flagship review (issue 7: the whole report in under 10 s).

    python benchmarks/bench_report.py [REVIEW] [--repeat N]

REVIEW is anything ``trialsynth run`` reads; the default is the flagship data-rows CSV
(CD015373.pub2, 95 analyses). Each run of :func:`trialsynth.runner.run_review` writes the whole
report (results.json, tables, figures as SVG and PNG, index.html) into a temporary folder. Every
run prints the wall time of each stage and the total against the 10 s target:

* ``read``      - reading the review (``pipeline.build_folder`` or ``pipeline.read_review``);
* ``pool``      - pooling every analysis (``pipeline.analyse_review``, the analyse stage);
* ``certainty`` - the report model: certainty, SoF rows, gap maps, tables
  (``pipeline.review_report`` less its figures);
* ``figures``   - waiting for (or drawing) every figure and rendering it as SVG and PNG
  (``pipeline.collect_figures``);
* ``html``      - rendering index.html (``render.html.render_report``);
* ``write``     - writing the output folder atomically (``runner._write_atomically``);
* ``other``     - the rest (JSON, CSV of the analyses, ...);
* ``cpu``       - CPU seconds of the run, this process and the figure workers together: on a
  loaded machine it says more than the wall time (the target is wall time on an idle 2-core
  machine, so cpu / 2 plus the serial stages is roughly what an idle machine would show).

The stages are timed by wrapping those functions for the duration of the benchmark; a stage whose
function does not exist (the runner changed) is reported as ``n/a`` and falls into ``other``.
The machine's load average is printed too: timings taken while other jobs run are not reliable.
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT = Path(os.environ.get("TRIALSYNTH_SHARED_DATA", SHARED)) / "pairwise70" / "CD015373_pub2_data.csv"
TARGET = 10.0  # seconds for the whole flagship report (issue 7)
# stage -> (module, functions) whose time is the stage's (the first that exists);
# "certainty" is review_report less its figures
STAGES = {"read": ("trialsynth.pipeline", ("build_folder", "read_review")),
          "pool": ("trialsynth.pipeline", ("analyse_review", "analyse_with_result")),
          "build": ("trialsynth.pipeline", ("review_report",)),
          "figures": ("trialsynth.pipeline", ("collect_figures",)),
          "html": ("trialsynth.render.html", ("render_report",)),
          "write": ("trialsynth.runner", ("_write_atomically",))}
ORDER = ("read", "pool", "certainty", "figures", "html", "write", "other")


@contextmanager
def timed_stages(spent: dict[str, float]) -> Iterator[None]:
    """Wrap each stage's function so that its wall time adds up in ``spent`` (then unwrap)."""
    saved: list[tuple[Any, str, Callable[..., Any]]] = []

    def wrap(stage: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - start
        return timed

    try:
        for stage, (module_name, names) in STAGES.items():
            module = importlib.import_module(module_name)
            for name in names:
                func = getattr(module, name, None)
                if callable(func):
                    saved.append((module, name, func))
                    setattr(module, name, wrap(stage, func))
                    break
        yield
    finally:
        for module, name, func in saved:
            setattr(module, name, func)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the figure workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def split(spent: dict[str, float], total: float) -> dict[str, float | None]:
    """Stage times that add up to ``total`` (``None``: the stage was not found)."""
    out: dict[str, float | None] = {s: spent.get(s) for s in ("read", "pool", "figures", "html",
                                                               "write")}
    build = spent.get("build")
    out["certainty"] = None if build is None else build - (spent.get("figures") or 0.0)
    out["other"] = total - sum(v for v in out.values() if v is not None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("review", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import trialsynth.render.figure_pool  # noqa: F401  (loaded before timing, as a warm CLI would)
    import trialsynth.report.build  # noqa: F401
    from trialsynth.runner import run_review

    print(f"review: {args.review}")
    print(f"cpus: {os.cpu_count()}, load average before: "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"{'run':>4} " + " ".join(f"{s:>9}" for s in ORDER) + f" {'total':>9} {'cpu':>9}")
    totals = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            spent: dict[str, float] = {}
            out = Path(tmp) / "out"
            with timed_stages(spent):
                start, cpu = time.perf_counter(), _cpu()
                run_review(args.review, out, quiet=True)
                total, cpu = time.perf_counter() - start, _cpu() - cpu
            totals.append(total)
            stages = split(spent, total)
            print(f"{i + 1:>4} " + " ".join("      n/a" if stages[s] is None else f"{stages[s]:9.2f}"
                                             for s in ORDER) + f" {total:9.2f} {cpu:9.2f}")
            figures = sorted((out / "figures").glob("*")) if (out / "figures").is_dir() else []
        n_svg = sum(1 for f in figures if f.suffix == ".svg")
        n_png = sum(1 for f in figures if f.suffix == ".png")
    best = min(totals)
    verdict = "within" if best < TARGET else "OVER"
    print(f"figures written: {n_svg} SVG, {n_png} PNG")
    print(f"best total: {best:.2f} s ({verdict} the {TARGET:g} s target); load average after: "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
