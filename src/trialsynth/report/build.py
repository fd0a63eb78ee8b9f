"""Assemble the review report: certainty, SoF rows and statements per analysis, SoF tables per
comparison, the gap map, figures (inline SVG and files) and CSV tables. Used by
:func:`trialsynth.runner.run_review`; pure apart from drawing figures in memory."""

from __future__ import annotations

import csv
import io
import multiprocessing as mp
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from trialsynth.pooling.result import PooledResult
from trialsynth.report import model
from trialsynth.review import Review

PARALLEL_MIN = 12  # fewer forest plots are drawn in this process


@dataclass(slots=True)
class Report:
    """What the runner adds to results.json, the extra files, and what only the HTML needs."""

    results: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str | bytes] = field(default_factory=dict)
    svgs: dict[str, str] = field(default_factory=dict)  # analysis id -> inline <svg>
    gap_svgs: list[str] = field(default_factory=list)
    comparison_labels: dict[int, str] = field(default_factory=dict)
    rob_note: str = ""


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in text)[:40] or "x"


def _inline(svg_doc: str) -> str:
    """The ``<svg>`` element of an SVG document (as :func:`figures.svg_text`, without redrawing)."""
    return svg_doc[svg_doc.find("<svg "):].strip() + "\n"


def _draw_one(job: tuple[Any, ...]) -> tuple[str, bytes | None]:
    """One figure: ``("forest", id, path, result, rows, labels, rob)`` -> (SVG document, None);
    ``("gap", i, map)`` -> (SVG document, PNG bytes)."""
    from trialsynth.report.figures import forest_plot, png_bytes, svg_document
    from trialsynth.report.figures.gapmap import gap_map

    if job[0] == "gap":
        _, i, m = job
        fig = gap_map(pd.DataFrame(m["cells"]), outcomes=m["outcomes"], windows=m["windows"],
                      interventions=m["interventions"], title=f"Evidence-gap map {i}: {m['title']}")
        return svg_document(fig), png_bytes(fig, dpi=100)
    _, _, _, result, rows, labels, rob = job
    try:
        fig = forest_plot(result, rows, labels=labels, rob=rob)
    except ValueError:  # arm data or RoB that the plot cannot use: draw without them
        fig = forest_plot(result, None, labels=labels)
    return svg_document(fig), None


def _draw(jobs: Sequence[tuple[Any, ...]]) -> list[tuple[str, bytes | None]]:
    """Figures in order; in forked worker processes when there are many (drawing is CPU-bound
    and holds the GIL), else in this process."""
    workers = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else (os.cpu_count() or 1), 4)
    if len(jobs) < PARALLEL_MIN or workers < 2 or "fork" not in mp.get_all_start_methods():
        return [_draw_one(j) for j in jobs]
    order = sorted(range(len(jobs)), key=lambda i: jobs[i][0] != "gap")  # big ones first
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            done = list(pool.map(_draw_one, [jobs[i] for i in order], chunksize=4))
    except (OSError, BrokenProcessPool):
        return [_draw_one(j) for j in jobs]
    out: list[Any] = [None] * len(jobs)
    for i, res in zip(order, done, strict=True):
        out[i] = res
    return out


def _csv(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (("'" + v) if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v)
                    for k, v in r.items()})
    return buf.getvalue()


def build_report(review: Review, source: Path, analyses: list[dict[str, Any]],
                 pooled: Sequence[PooledResult | None], names: Mapping[int, str],
                 progress: Any = None) -> Report:
    """Add ``parsed, certainty, sof, statement, rob_note, figure`` to every analysis dict and
    return the report parts (figures are drawn here)."""
    # loaded here, before any worker is forked
    from trialsynth.report.figures import ForestLabels, export, gapmap  # noqa: F401

    rep = Report()
    try:
        raw = pd.read_csv(source, dtype=str, keep_default_na=False)
        rob_rows = model.rob_by_row(raw)
        names_at = dict(enumerate(raw["Study"].str.strip(), start=2)) if "Study" in raw else {}
    except (OSError, ValueError, UnicodeDecodeError):
        rob_rows, names_at = {}, {}
    # the judgements are taken by file row: use them only if every row lines up with its study
    if any(names_at.get(int(st["row"])) != str(st["study"]).strip()
           for a in analyses for st in a["studies"]):
        rob_rows = {}
    by_id = {a.id: a for a in review.analyses}
    rep.comparison_labels = {int(a["comparison"]): f"{a['comparison']}. " + (
        names.get(int(a["comparison"])) or f"Comparison {a['comparison']}") for a in analyses}
    sof_rows: dict[int, list[Any]] = {}
    jobs: list[tuple[Any, ...]] = []
    task = None
    if progress is not None:
        task = progress.add_task("figures and certainty", total=len(analyses))
    for a, result in zip(analyses, pooled, strict=True):
        parsed = model.parse_name(a["name"])
        a["parsed"] = parsed.to_dict()
        a["certainty"], a["sof"], a["statement"], a["rob_note"], a["figure"] = None, [], None, None, None
        a["outcome_defaults"] = None
        if result is None:
            if task is not None:
                progress.advance(task)
            continue
        rows = by_id[a["id"]].pooled_rows
        g = int(a["comparison"])
        x, y = model.split_comparison(parsed.comparison or names.get(g), g)
        assessed = model.assess_analysis(result, rows, parsed, rob_rows)
        a["rob_note"] = assessed.rob_note
        a["outcome_defaults"] = {"direction_of_benefit": assessed.direction, "mid": assessed.mid,
                                 "note": "project defaults, not from the review"}
        if assessed.certainty is not None:
            a["certainty"] = model.certainty_dict(assessed.certainty)
        else:
            a["certainty_error"] = assessed.error
        row = model.sof_for(result, assessed, rows, x.lower() if x[:1].isupper() and
                            not x[1:2].isupper() else x)
        if row is not None:
            a["sof"] = [row.to_dict()]
            a["statement"] = row.statement or None
            if not parsed.subgroup:
                sof_rows.setdefault(g, []).append(row)
        named = " versus " in (parsed.comparison or names.get(g) or "")
        labels = ForestLabels(experimental=x if named or g in names else "Experimental",
                              control=y if named else "Control",
                              direction_of_benefit=assessed.direction, analysis_number=a["id"])
        rel = f"figures/forest_{_safe(a['id'])}.svg"
        jobs.append(("forest", a["id"], rel, result, rows, labels, assessed.rob_map or None))
        a["figure"] = rel
        if task is not None:
            progress.advance(task)

    # per comparison: SoF table, with "no studies" rows for missing pain windows
    sof_tables: dict[str, Any] = {}
    for g, label in sorted(rep.comparison_labels.items()):
        mine = [a for a in analyses if int(a["comparison"]) == g and not a["parsed"]["subgroup"]]
        have = {(a["parsed"]["outcome"], a["parsed"]["window"]) for a in mine}
        missing = [("Pain intensity (continuous)", w) for w in model.WINDOWS
                   if ("Pain intensity (continuous)", w) not in have]
        sof_tables[str(g)] = {"label": label, "inferred": g in names,
                              **model.comparison_sof(g, names.get(g), sof_rows.get(g, []), missing)}

    # evidence inventory and gap maps
    maps = model.gap_maps(analyses, rep.comparison_labels)
    inventory = {"comparisons": len(rep.comparison_labels), "analyses": len(analyses),
                 "studies": len({s["study"] for a in analyses for s in a["studies"]}),
                 "gap_maps": maps}
    gap_jobs = [("gap", i, m) for i, m in enumerate(maps, start=1)]
    drawn = _draw(jobs + gap_jobs)  # forests and gap maps together, in parallel when worth it
    for (_, aid, rel, *_), (doc, _png) in zip(jobs, drawn, strict=False):
        rep.svgs[aid] = _inline(doc)
        rep.files[rel] = doc
    for (_, i, m), (doc, png) in zip(gap_jobs, drawn[len(jobs):], strict=True):
        rep.gap_svgs.append(_inline(doc))
        rep.files[f"figures/gap_map_{i}.svg"] = doc
        if png is not None:
            rep.files[f"figures/gap_map_{i}.png"] = png
        m["figure"] = f"figures/gap_map_{i}.svg"
    # a summary only: RoB 2 is judged per result, so the first row of each study stands for it
    judged: dict[str, dict[str, str]] = {}
    for a in analyses:
        for st in a["studies"]:
            judged.setdefault(st["study"], dict(rob_rows.get(int(st["row"]), {})))
    rep.rob_note = model.rob_note(list(judged.values())) if judged else "no studies"
    rep.results = {"risk_of_bias_summary": rep.rob_note, "evidence_inventory": inventory,
                   "sof_tables": sof_tables,
                   "methods": model.methods(analyses),
                   "defaults": {"pain_mid_0_100": model.PAIN_MID,
                                "note": "declared project defaults (not from the review)"}}
    rep.files["tables/certainty.csv"] = _csv(
        [{"id": a["id"], "name": a["name"], "outcome": a["parsed"]["outcome"],
          "window": a["parsed"]["window"], "level": (a["certainty"] or {}).get("level"),
          **{d: j["downgrade"] for d, j in ((a["certainty"] or {}).get("domains") or {}).items()},
          "statement": a["statement"]} for a in analyses],
        ["id", "name", "outcome", "window", "level", "risk_of_bias", "inconsistency",
         "indirectness", "imprecision", "publication_bias", "statement"])
    rep.files["tables/gap_map.csv"] = _csv(
        [{"map": i, **c} for i, m in enumerate(maps, start=1) for c in m["cells"]],
        ["map", "intervention", "outcome", "window", "k", "participants", "certainty", "analysis"])
    rep.files["tables/sof.csv"] = _csv(
        [{"comparison": g, **r} for g, t in sof_tables.items() for r in t["table"]["rows"]],
        ["comparison", "outcome", "risk_comparator", "risk_intervention", "risk_difference",
         "relative_effect", "participants_text", "certainty_text", "comments"])
    return rep
