"""``run_review``: re-analyse a whole review file and write a results folder.

Output (written into a temporary folder next to ``out_dir`` and renamed into place only when every
file is complete; an existing ``out_dir`` is replaced only after success and only if it is empty or
an earlier trialsynth output):

* ``results.json`` - review identity, per analysis the inferred settings with their evidence, the
  pooled result (:meth:`PooledResult.to_dict`) and a per-study check against RevMan's stored numbers;
* ``tables/analyses.csv`` - one row per analysis (estimates as RevMan shows them, ratios natural);
* ``index.html`` - a self-contained readable summary (no external resources, no scripts).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from trialsynth import __version__
from trialsynth.api import pool
from trialsynth.errors import DataError, TrialsynthError
from trialsynth.io.revman_rows import read_review
from trialsynth.review import WEIGHT_TOL, Analysis, Review, check_against_stored, pool_measure, to_display

MARKER = ".trialsynth-output"  # marks a folder that run_review may replace
# Comparison names are not in the flagship file; these are inferred from its study lists
# (shared/data/PROVENANCE.md, "Facts about the flagship file") and always shown as inferred.
INFERRED_COMPARISONS: dict[str, dict[int, str]] = {
    "CD015373": {
        1: "Intravenous ketamine versus placebo",
        2: "Intravenous ketamine versus ketorolac or morphine",
        3: "Ketamine by another route versus placebo",
        4: "Oral ketamine versus methadone",
        5: "Topical ketamine versus placebo",
        6: "Topical ketamine versus amitriptyline",
        7: "Memantine versus placebo (most likely)", 8: "Dextromethorphan (most likely)",
        9: "Amantadine (Kleinböhl 2006)", 10: "Magnesium comparison",
        11: "Magnesium comparison", 12: "Magnesium (oral) versus aspirin",
        13: "Magnesium comparison",
    },
}
CSV_FIELDS = ("id", "comparison", "name", "data_type", "measure", "method", "model", "status",
              "k", "participants", "estimate", "ci_low", "ci_high", "pvalue", "i2", "tau2", "q",
              "q_df", "weight_max_abs_diff", "weights_reproduced", "settings_inferred")


def run_review(source: Path, out_dir: Path, *, quiet: bool = False) -> dict[str, Any]:
    """Read a RevMan Web data-rows CSV, pool every analysis with its inferred settings and write
    ``results.json``, ``tables/analyses.csv`` and ``index.html`` into ``out_dir`` (atomically).

    Returns the content of ``results.json``. Raises :class:`DataError` for a bad input file and
    :class:`TrialsynthError` when ``out_dir`` cannot be replaced safely.
    """
    source, out_dir = Path(source), Path(out_dir)
    _check_target(source, out_dir)
    review = read_review(source)
    analyses = []
    progress = Progress(TextColumn("pooling {task.description}"), BarColumn(),
                        MofNCompleteColumn(), console=Console(stderr=True), disable=quiet,
                        transient=True)
    with progress:
        task = progress.add_task(review.id or source.name, total=len(review.analyses))
        for analysis in review.analyses:
            analyses.append(analyse(analysis, source.name))
            progress.advance(task)
    results = _results(review, source, analyses)
    files = {"results.json": json.dumps(_clean(results), indent=1, ensure_ascii=False,
                                        allow_nan=False) + "\n",
             "tables/analyses.csv": _analyses_csv(analyses),
             "index.html": render_html(results, comparison_names(review.id))}
    _write_atomically(out_dir, files)
    return results


def comparison_names(review_id: str | None) -> dict[int, str]:
    """Inferred comparison-group names for a review (empty when none are known)."""
    return INFERRED_COMPARISONS.get((review_id or "").split(".")[0], {})


def analyse(analysis: Analysis, source: str) -> dict[str, Any]:
    """Pool one analysis with its inferred settings and check it against RevMan's numbers."""
    s = analysis.settings
    rows = analysis.pooled_rows
    out: dict[str, Any] = {
        "id": analysis.id, "comparison": analysis.comparison, "number": analysis.number,
        "name": analysis.name, "applicability": analysis.applicability,
        "settings": s.to_dict(), "status": "pooled", "reason": None, "result": None,
        "display": None,
    }
    result = None
    if rows.empty:
        out["status"], out["reason"] = "not pooled", "no study row has the data its type needs"
    else:
        try:
            with np.errstate(divide="ignore", invalid="ignore"):  # k = 0 divides by zero
                result = pool(rows, pool_measure(s.measure), s.method,
                              subgroup="subgroup" if analysis.has_subgroups else None,
                              revman=True, source=source)
        except DataError as exc:  # rows are numbered within the analysis; give the file row
            row = int(rows["row"].iloc[exc.row - 2]) if exc.row is not None else None
            where = f" (file row {row}, column {exc.field})" if row is not None else ""
            out["status"], out["reason"] = "not pooled", f"{exc.reason}{where}"
        else:
            if s.totals != "none":
                out["result"] = result.to_dict()
                out["display"] = _display(out["result"], s.measure)
            if s.totals == "none" or result.k == 0:
                out["status"] = "not pooled"
                out["reason"] = ("the review did not pool this analysis (RevMan stored weight 0 "
                                 "for every study); per-study effects only" if s.totals == "none"
                                 else "no study could be pooled (every study not estimable)")
    out["studies"], out["check"] = check_against_stored(analysis, result)
    return out


def _display(res: dict[str, Any], measure: str) -> dict[str, Any]:
    """Estimate, CI and prediction interval as RevMan shows them (ratios on the natural scale)."""
    keys = ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
    vals = np.array([np.nan if res[k] is None else res[k] for k in keys], dtype=float)
    out = dict(zip(keys, to_display(measure, vals).tolist(), strict=True))
    subs = res.get("subgroups") or {}
    out["subgroups"] = {name: _display(sub, measure) | {"k": sub["k"], "i2": sub["i2"]}
                        for name, sub in subs.items()}
    return out


def _results(review: Review, source: Path, analyses: list[dict[str, Any]]) -> dict[str, Any]:
    checked = [a for a in analyses if a["check"]["weights_reproduced"] is not None]
    return {
        "generator": f"trialsynth {__version__}",
        "source": {"file": source.name, "sha256": _sha256(source), "bytes": source.stat().st_size},
        "review": {"id": review.id, "doi": review.doi, "url": review.url},
        "conventions": "revman",
        "settings_note": "Measure and method are not stored in a RevMan Web data-rows export; "
                         "each was inferred as the candidate whose per-study effects and weights "
                         "reproduce RevMan's stored Mean and Weight columns (see evidence).",
        "summary": {
            "analyses": len(analyses),
            "pooled": sum(a["status"] == "pooled" for a in analyses),
            "not_pooled": sum(a["status"] != "pooled" for a in analyses),
            "with_stored_weights": len(checked),
            "weights_reproduced": sum(bool(a["check"]["weights_reproduced"]) for a in checked),
            "weight_tolerance": WEIGHT_TOL,
        },
        "analyses": analyses,
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _analyses_csv(analyses: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for a in analyses:
        res, disp, s = a["result"] or {}, a["display"] or {}, a["settings"]
        w.writerow(_clean({
            "id": a["id"], "comparison": a["comparison"], "name": _cell(a["name"]),
            "data_type": s["data_type"], "measure": s["measure"], "method": s["method"],
            "model": s["model"], "status": a["status"], "k": res.get("k", 0),
            "participants": res.get("participants"), "estimate": disp.get("estimate"),
            "ci_low": disp.get("ci_low"), "ci_high": disp.get("ci_high"),
            "pvalue": res.get("pvalue"), "i2": res.get("i2"), "tau2": res.get("tau2"),
            "q": res.get("q"), "q_df": res.get("q_df"),
            "weight_max_abs_diff": a["check"]["max_abs_diff"]["weight"],
            "weights_reproduced": a["check"]["weights_reproduced"],
            "settings_inferred": s["inferred"]}))
    return buf.getvalue()


def _cell(text: str) -> str:
    """Keep spreadsheet programs from reading a text cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _clean(obj: Any) -> Any:
    """JSON-safe: NumPy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _check_target(source: Path, out_dir: Path) -> None:
    src, out = source.resolve(), out_dir.resolve()
    if src == out or out in src.parents:
        raise TrialsynthError(f"{out_dir}: the output folder would contain the input file")
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise TrialsynthError(f"{out_dir}: exists and is not a folder; not replacing it")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise TrialsynthError(f"{out_dir}: folder is not empty and is not an earlier trialsynth "
                              f"output; not replacing it")


def _write_files(folder: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())


def _write_atomically(out_dir: Path, files: dict[str, str]) -> None:
    """Write into a temp folder next to ``out_dir``, then rename it into place."""
    parent = out_dir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    _check_target(Path(os.devnull), out_dir)
    tmp = parent / f".{out_dir.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()  # (not mkdtemp: its mode 0700 would ignore the umask)
    try:
        _write_files(tmp, {**files, MARKER: f"written by trialsynth {__version__}\n"})
        if out_dir.exists():
            old = parent / f".{out_dir.name}.{uuid.uuid4().hex}.old"
            os.replace(out_dir, old)
            try:
                os.replace(tmp, out_dir)
            except BaseException:
                os.replace(old, out_dir)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------------
# index.html: every string from the file passes through _e (html.escape) before it is placed

MEASURE_NAMES = {"RR": "Risk ratio", "OR": "Odds ratio", "RD": "Risk difference",
                 "PETO_OR": "Peto odds ratio", "MD": "Mean difference",
                 "SMD": "Std. mean difference (Hedges' g)", "GENERIC": "Generic inverse variance",
                 "GENERIC_LOG": "Generic inverse variance (ratio)"}
METHOD_NAMES = {"IV": "inverse variance, common effect",
                "DL": "inverse variance, random effects (DerSimonian-Laird tau²)",
                "MH": "Mantel-Haenszel, common effect",
                "MH_RANDOM": "Mantel-Haenszel, random effects (RevMan 5)",
                "PETO": "Peto, common effect"}
DATA_HEADERS = {"events_t": "Events (exp.)", "n_t": "Total (exp.)", "events_c": "Events (ctrl)",
                "n_c": "Total (ctrl)", "mean_t": "Mean (exp.)", "sd_t": "SD (exp.)",
                "mean_c": "Mean (ctrl)", "sd_c": "SD (ctrl)", "yi": "Estimate", "se": "SE"}
CSS = """body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;
color:#1d1d1f}h1{font-size:1.6rem}h2{border-bottom:2px solid #ccc;margin-top:2.5rem}
h3{margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:right}th{background:#f2f2f2}
td.t,th.t{text-align:left}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem .8rem}
.inferred{color:#8a5a00;font-style:italic}.np{color:#a00;font-weight:600}.pooled{font-weight:600}
.small{font-size:.85rem;color:#555}nav ul{margin:.2rem 0}"""


def _f(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _n(x: Any, digits: int = 2) -> str:
    v = _f(x)
    return "-" if v is None else _e(f"{v:.{digits}f}")


def _ci(est: Any, lo: Any, hi: Any) -> str:
    return "-" if _f(est) is None else f"{_n(est)} [{_n(lo)}, {_n(hi)}]"


def _p(p: Any) -> str:
    v = _f(p)
    return "-" if v is None else ("&lt; 0.001" if v < 0.001 else _e(f"{v:.3f}"))


def _comparison_title(number: int, names: dict[int, str]) -> str:
    name = names.get(number)
    extra = f": {_e(name)} <span class=inferred>(inferred)</span>" if name else ""
    return f"Comparison {number}{extra}"


def render_html(results: dict[str, Any], names: dict[int, str]) -> str:
    """The readable summary page (self-contained; all text from the file escaped)."""
    rev, summ = results["review"], results["summary"]
    groups: dict[int, list[dict[str, Any]]] = {}
    for a in results["analyses"]:
        groups.setdefault(int(a["comparison"]), []).append(a)
    doi = f"DOI {_e(rev['doi'])}" if rev["doi"] else ""
    url = rev["url"] or ""
    link = (f' - <a href="{_e(url)}">{_e(url)}</a>'
            if url.startswith(("https://", "http://")) else "")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>trialsynth: {_e(rev['id'] or results['source']['file'])}</title>",
           f"<style>{CSS}</style></head><body>",
           f"<h1>Review {_e(rev['id'] or results['source']['file'])}</h1>",
           f"<p>{doi}{link}<br><span class=small>Source file {_e(results['source']['file'])} "
           f"(sha256 {_e(results['source']['sha256'][:16])}...), re-analysed by "
           f"{_e(results['generator'])} with RevMan conventions.</span></p>",
           f"<p class=note>{_e(results['settings_note'])} Comparison names are not in the file; "
           f"where shown they are inferred from the study lists and marked "
           f"<span class=inferred>(inferred)</span>.</p>",
           f"<p>{summ['analyses']} analyses: {summ['pooled']} pooled, {summ['not_pooled']} with "
           f"nothing to pool. Per-study weights reproduce RevMan's stored weights (to "
           f"{summ['weight_tolerance']:g} percentage points) in {summ['weights_reproduced']} of "
           f"{summ['with_stored_weights']} analyses that have stored weights.</p>",
           "<nav><h2>Contents</h2><ul>"]
    for g, items in sorted(groups.items()):
        out.append(f'<li><a href="#c{g}">{_comparison_title(g, names)}</a><ul>')
        out += [f'<li><a href="#a{g}-{a["number"]}">{_e(a["id"])} {_e(a["name"])}</a>'
                + ("" if a["status"] == "pooled" else " <span class=np>(nothing pooled)</span>")
                + "</li>" for a in items]
        out.append("</ul></li>")
    out.append("</ul></nav><main>")
    for g, items in sorted(groups.items()):
        out.append(f'<section><h2 id="c{g}">{_comparison_title(g, names)}</h2>')
        out += [_analysis_html(a) for a in items]
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def _analysis_html(a: dict[str, Any]) -> str:
    s, res, disp = a["settings"], a["result"], a["display"]
    out = [f'<article><h3 id="a{a["comparison"]}-{a["number"]}">Analysis {_e(a["id"])}: '
           f'{_e(a["name"])}</h3>',
           f"<p>{_e(MEASURE_NAMES.get(s['measure'], s['measure']))}, "
           f"{_e(METHOD_NAMES.get(s['method'], s['method']))} "
           f"<span class=inferred>(inferred)</span>. <span class=small>"
           f"{'; '.join(_e(n) for n in s['notes'])}.</span></p>"]
    sub = any(st["subgroup"] is not None for st in a["studies"])
    data_cols = list(a["studies"][0]["data"]) if a["studies"] else []
    head = ["Study", *(["Subgroup"] if sub else []), *(DATA_HEADERS.get(c, c) for c in data_cols),
            "Effect [95% CI]", "RevMan stored", "Weight %", "RevMan weight %", "RoB overall"]
    out.append("<table><tr>" + "".join(f'<th class="{"t" if h in ("Study", "Subgroup") else ""}">'
                                        f"{_e(h)}</th>" for h in head) + "</tr>")
    for st in a["studies"]:
        o, r = st["ours"], st["stored"]
        cells = [f"<td class=t>{_e(st['study'])}</td>"]
        if sub:
            cells.append(f"<td class=t>{_e(st['subgroup'])}</td>")
        cells += [f"<td>{_num_cell(st['data'][c])}</td>" for c in data_cols]
        mine = _ci(o["effect"], o["ci_low"], o["ci_high"])
        cells += [f"<td>{mine if _f(o['effect']) is not None else 'not estimable'}</td>",
                  f"<td>{_ci(r['effect'], r['ci_low'], r['ci_high'])}</td>",
                  f"<td>{_n(o['weight'])}</td>", f"<td>{_n(r['weight'])}</td>",
                  f"<td class=t>{_e(st['rob_overall'] or '-')}</td>"]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    if a["status"] != "pooled" or res is None:
        out.append(f"<p class=np>Nothing pooled: {_e(a['reason'])}.</p>")
    else:
        tau2 = "-" if res["tau2"] is None else _e(f"{res['tau2']:.4g}")
        est = _ci(disp["estimate"], disp["ci_low"], disp["ci_high"])
        out.append(f"<p class=pooled>Pooled {_e(s['measure'])}: {est}; p = {_p(res['pvalue'])}; "
                   f"k = {res['k']}; participants = {_n(res['participants'], 0)}; "
                   f"I² = {_n(res['i2'], 0)}%; tau² = {tau2}</p>")
        if disp["subgroups"]:
            out.append("<table><tr><th class=t>Subgroup</th><th>k</th><th>Effect [95% CI]</th>"
                       "<th>I² %</th></tr>")
            out += [f"<tr><td class=t>{_e(name)}</td><td>{d['k']}</td>"
                    f"<td>{_ci(d['estimate'], d['ci_low'], d['ci_high'])}</td>"
                    f"<td>{_n(d['i2'], 0)}</td></tr>" for name, d in disp["subgroups"].items()]
            t = res.get("subgroup_test") or {}
            out.append(f"</table><p class=small>Test for subgroup differences: Q = {_n(t.get('q'))}, "
                       f"df = {_e(t.get('df'))}, p = {_p(t.get('pvalue'))}</p>")
    warns = [st["problem"] for st in a["studies"] if st["problem"]]
    warns += (res or {}).get("warnings") or []
    if warns:
        out.append("<ul class=small>" + "".join(f"<li>{_e(w)}</li>" for w in warns) + "</ul>")
    return "\n".join(out) + "</article>"


def _num_cell(x: Any) -> str:
    v = _f(x)
    return "-" if v is None else _e(f"{v:g}")
