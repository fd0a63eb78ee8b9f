"""The review report as one self-contained HTML page (Jinja2, autoescape on; figures inline SVG).

The page is a layout (``templates/report.html.j2``: the contents panel and one partial per
section, in :data:`SECTIONS` order) with its style sheet and a small filter script inlined from
``templates/report.css`` and ``templates/filters.js``: no external resource. The page reads
fully without the script (it only shows the filter form and opens collapsed blocks for
printing). A new section is a partial in ``templates/sections/`` and an entry in :data:`SECTIONS`.

Every string from the data file passes through Jinja2's autoescaping; the only unescaped
content is the SVG produced by :func:`trialsynth.render.figures.svg_text`, whose text nodes are
escaped by matplotlib's SVG writer, and the package's own CSS and script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from trialsynth._json import finite
from trialsynth.registry import MEASURES, METHODS
from trialsynth.report.numbers import fixed

if TYPE_CHECKING:  # the renderer formats the report model; it does not build it
    from trialsynth.report.build import Report

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


@dataclass(frozen=True, slots=True)
class Section:
    """A section of the page: its partial in ``templates/sections/``; for an entry in the
    contents panel its title and anchor (the comparisons list their own entries); ``when``: the
    results.json key that must be present (not empty) for the section to be shown."""

    template: str
    title: str | None = None
    anchor: str | None = None
    when: str | None = None


SECTIONS: tuple[Section, ...] = (  # after the identity header (sections/header.html.j2)
    Section("changes.html.j2", "What changed", "changes", when="what_changed"),
    Section("key_messages.html.j2", "Key messages", "key-messages", when="key_messages"),
    Section("question.html.j2", "Review question and data source", "question"),
    Section("studies.html.j2", "Included and analysed studies", "studies",
            when="study_inventory"),
    Section("inventory.html.j2", "Evidence inventory and gap map", "inventory"),
    Section("rob.html.j2", "Risk of bias", "rob"),
    Section("comparisons.html.j2", "Comparisons"),
    Section("network.html.j2", "Network meta-analysis", "networks",
            when="network_meta_analysis"),
    Section("research.html.j2", "Implications for research", "research"),
    Section("downloads.html.j2", "Tables and files", "downloads"),
    Section("methods.html.j2", "Methods and references", "methods"),
)


def num(x: Any, digits: int = 2) -> str:
    v = finite(x)
    return "-" if v is None else fixed(v, digits)


def gnum(x: Any) -> str:
    v = finite(x)
    return "-" if v is None else f"{v:g}"


def ratio(x: Any) -> str:
    """A ratio as the forest plots' axis reaches it: 2 decimals, beyond 0.01 and 1000 a bound."""
    v = finite(x)
    if v is None:
        return "-"
    return "< 0.01" if v < 0.01 else "> 1000" if v > 1000 else fixed(v, 2)


def people(x: Any, up: bool = False) -> str:
    """A number of participants with thousands separators (``up``: rounded up, as a required
    sample size is)."""
    v = finite(x)
    return "-" if v is None else f"{math.ceil(v) if up else round(v):,}"


def ci(est: Any, lo: Any, hi: Any) -> str:
    return "-" if finite(est) is None else f"{num(est)} [{num(lo)}, {num(hi)}]"


def decimals(values: Any, cap: int = 4) -> int:
    """The decimals that show every value of a column exactly (up to ``cap``), so that a column
    is printed with one number of decimals (54.50 beside 12.25, not 54.5)."""
    most = 0
    for x in values or ():
        v = finite(x)
        if v is not None:
            frac = f"{v:.{cap}f}".rstrip("0").partition(".")[2]
            most = max(most, len(frac))
    return most


def plural(n: Any, one: str, many: str) -> str:
    """ "1 study", "3 studies" (a missing count: "- studies")."""
    v = finite(n)
    if v is None:
        return f"- {many}"
    return f"{v:,.0f} {one if v == 1 else many}"


def pval(p: Any) -> str:
    v = finite(p)
    return "-" if v is None else ("< 0.001" if v < 0.001 else f"{v:.3f}")


def env() -> Environment:
    global _ENV
    if _ENV is None:
        e = Environment(loader=PackageLoader("trialsynth.render", "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True),
                        trim_blocks=True, lstrip_blocks=True)
        e.filters.update(num=num, gnum=gnum, pval=pval, ratio=ratio, people=people,
                         decimals=decimals, plural=plural,
                         domain_word=lambda d: DOMAIN_WORDS.get(d, d).lower())
        e.globals.update(ci=ci, MEASURE_NAMES=MEASURE_NAMES, METHOD_NAMES=METHOD_NAMES,
                         DATA_HEADERS=DATA_HEADERS, DOMAIN_WORDS=DOMAIN_WORDS,
                         LEVEL_WORDS=LEVEL_WORDS)
        _ENV = e
    return _ENV


def _asset(name: str) -> Markup:
    """A file of the package's templates folder, inlined as it is (our own CSS or script)."""
    source = env().loader.get_source(env(), name)[0]  # type: ignore[union-attr]
    return Markup(source)  # noqa: S704 (the package's own file, no user data)


def page_template() -> Any:
    """The report page's template, compiled once (Jinja's environment keeps it)."""
    return env().get_template("report.html.j2")


def render_report(results: dict[str, Any], report: Report) -> str:
    """The page: identity, contents with filters, question and source, inventory and gap map,
    risk of bias, per comparison its SoF tables and statements and per analysis its forest plot,
    numbers and certainty reasons, implications for research, files, methods."""
    from trialsynth.render.exports import FILES

    groups: dict[int, list[dict[str, Any]]] = {}
    for a in results["analyses"]:
        groups.setdefault(int(a["comparison"]), []).append(a)
    url = results["review"]["url"] or ""
    idn = results.get("identity") or {}
    doi = idn.get("doi") or results["review"].get("doi")
    comparisons = {c["id"]: c for c in results["navigation"]["comparisons"]}
    # how the SoF tables were made, once for the page (in Methods, not under every table)
    conventions = list(dict.fromkeys([*(t["table"]["selection"] for t in results["sof_tables"].values()
                                        if t["table"].get("selection")),
                                      *(c for t in results["sof_tables"].values()
                                        for c in t["table"]["footnotes"]["conventions"])]))
    page = page_template().render(
        r=results, groups=sorted(groups.items()), inferred=report.inferred_names,
        sections=[s for s in SECTIONS if s.when is None or results.get(s.when)],
        comparisons=comparisons, nav=results["navigation"],
        idn=idn, rid=idn.get("id") or results["review"]["id"] or results["source"]["file"],
        link=url if url.startswith(("https://", "http://")) else None,
        doi_link=f"https://doi.org/{doi}" if doi else None, conventions=conventions,
        downloads=[(p, w) for p, w in FILES.items() if p in report.files or p == "tables/analyses.csv"],
        css=_asset("report.css"), js=_asset("filters.js"),
        svgs={k: Markup(v) for k, v in report.svgs.items()},  # noqa: S704 (SVG writer escapes text)
        figs={k: Markup(v) for k, v in report.figures.items()},  # noqa: S704
        gap_svgs=[Markup(v) for v in report.gap_svgs])  # noqa: S704
    return page
