"""The review report as one self-contained HTML page (Jinja2, autoescape on; figures inline SVG).

Every string from the data file passes through Jinja2's autoescaping; the only unescaped
content is the SVG produced by :func:`trialsynth.report.figures.svg_text`, whose text nodes are
escaped by matplotlib's SVG writer.
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from trialsynth.registry import MEASURES, METHODS
from trialsynth.report.build import Report
from trialsynth.report.numbers import fixed

MEASURE_NAMES = {code: m.label for code, m in MEASURES.items()}  # trialsynth.registry
METHOD_NAMES = {code: m.label for code, m in METHODS.items()}
DATA_HEADERS = {"events_t": "Events (exp.)", "n_t": "Total (exp.)", "events_c": "Events (ctrl)",
                "n_c": "Total (ctrl)", "mean_t": "Mean (exp.)", "sd_t": "SD (exp.)",
                "mean_c": "Mean (ctrl)", "sd_c": "SD (ctrl)", "yi": "Estimate", "se": "SE"}
DOMAIN_WORDS = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency",
                "indirectness": "Indirectness", "imprecision": "Imprecision",
                "publication_bias": "Publication bias"}
LEVEL_WORDS = {"high": "⊕⊕⊕⊕ High", "moderate": "⊕⊕⊕◯ Moderate", "low": "⊕⊕◯◯ Low",
               "very_low": "⊕◯◯◯ Very low"}

_ENV: Environment | None = None


def _f(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) \
        else None


def num(x: Any, digits: int = 2) -> str:
    v = _f(x)
    return "-" if v is None else fixed(v, digits)


def gnum(x: Any) -> str:
    v = _f(x)
    return "-" if v is None else f"{v:g}"


def ratio(x: Any) -> str:
    """A ratio as the forest plots' axis reaches it: 2 decimals, beyond 0.01 and 1000 a bound."""
    v = _f(x)
    if v is None:
        return "-"
    return "< 0.01" if v < 0.01 else "> 1000" if v > 1000 else fixed(v, 2)


def people(x: Any, up: bool = False) -> str:
    """A number of participants with thousands separators (``up``: rounded up, as a required
    sample size is)."""
    v = _f(x)
    return "-" if v is None else f"{math.ceil(v) if up else round(v):,}"


def ci(est: Any, lo: Any, hi: Any) -> str:
    return "-" if _f(est) is None else f"{num(est)} [{num(lo)}, {num(hi)}]"


def pval(p: Any) -> str:
    v = _f(p)
    return "-" if v is None else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def env() -> Environment:
    global _ENV
    if _ENV is None:
        e = Environment(loader=PackageLoader("trialsynth.report", "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True),
                        trim_blocks=True, lstrip_blocks=True)
        e.filters.update(num=num, gnum=gnum, pval=pval, ratio=ratio, people=people)
        e.globals.update(ci=ci, MEASURE_NAMES=MEASURE_NAMES, METHOD_NAMES=METHOD_NAMES,
                         DATA_HEADERS=DATA_HEADERS, DOMAIN_WORDS=DOMAIN_WORDS,
                         LEVEL_WORDS=LEVEL_WORDS)
        _ENV = e
    return _ENV


def render_report(results: dict[str, Any], report: Report) -> str:
    """The page: contents, question and source, inventory and gap map, per comparison its SoF
    table and statements, per analysis its forest plot, numbers and certainty reasons, methods."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for a in results["analyses"]:
        groups.setdefault(int(a["comparison"]), []).append(a)
    url = results["review"]["url"] or ""
    page = env().get_template("report.html.j2").render(
        r=results, groups=sorted(groups.items()), inferred=report.inferred_names,
        names=report.names,
        labels=report.comparison_labels,
        link=url if url.startswith(("https://", "http://")) else None,
        svgs={k: Markup(v) for k, v in report.svgs.items()},  # noqa: S704 (SVG writer escapes text)
        figs={k: Markup(v) for k, v in report.figures.items()},  # noqa: S704
        gap_svgs=[Markup(v) for v in report.gap_svgs])  # noqa: S704
    return page
