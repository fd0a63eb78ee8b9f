"""Risk-of-bias figures: summary bars (share of studies or of weight per judgement and domain) and
the traffic-light plot (studies x domains), as in RevMan and robvis (McGuinness & Higgins 2021,
Res Synth Methods 12:55-61).

Input everywhere is a mapping ``study -> {domain: judgement}``. Domains are RoB 2's ``D1``-``D5``
(or their names) or RoB 1's domains (names as RevMan writes them, or the keys of
:data:`trialsynth.review.rob1.ROB1_DOMAINS`), plus an optional ``overall``. Judgements are any
wording :func:`trialsynth.review.rob.grade_rob_level` reads ("Low risk", "Some concerns",
"Unclear risk", "high", ...); empty, "NA" and "not assessed" mean not assessed and are drawn grey.
:func:`rob_mapping` builds the mapping from :class:`~trialsynth.review.rob.Rob2Assessment` /
:class:`~trialsynth.review.rob.Rob1Assessment` objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trialsynth.errors import DataError
from trialsynth.review.rob1 import ROB1_DOMAINS, rob1_domain_key
from trialsynth.review.rob2 import ROB2_DOMAINS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from trialsynth.render.figures._common import Host

LEVELS = ("low", "some_concerns", "high")
_UNASSESSED = frozenset({"", "na", "nan", "none", "not assessed", "not applicable", "n/a"})
_OVERALL = frozenset({"overall", "overall bias", "overall risk of bias", "overall.bias..judgement.",
                      "summary", "overall judgement"})
_ROB2_BY_NAME = {name.lower(): key for key, (name, _) in ROB2_DOMAINS.items()} | {
    stem.lower(): key for key, (_, stem) in ROB2_DOMAINS.items()}


@dataclass(frozen=True, slots=True)
class RobColumns:
    """The domains of a risk-of-bias table in display order, with short headers and long names."""

    keys: tuple[str, ...]
    headers: tuple[str, ...]
    names: tuple[str, ...]
    tool: str  # "RoB 2", "RoB 1" or "custom"

    @property
    def middle(self) -> str:
        """The tool's word for the middle level."""
        return "Unclear risk" if self.tool == "RoB 1" else "Some concerns"

    def words(self) -> dict[str | None, str]:
        return {"low": "Low risk", "some_concerns": self.middle, "high": "High risk",
                None: "Not assessed"}


def domain_key(name: Any) -> str:
    """``D1``-``D5`` for RoB 2 domains, ``overall``, a RoB 1 key, or the cleaned name itself."""
    text = " ".join(str(name).split())
    low = text.lower()
    if low in _OVERALL:
        return "overall"
    if len(low) == 2 and low[0] == "d" and low[1] in "12345":
        return low.upper()
    if low in _ROB2_BY_NAME:
        return _ROB2_BY_NAME[low]
    return rob1_domain_key(text)


def judgement_level(value: Any) -> str | None:
    """``low`` / ``some_concerns`` / ``high``, or ``None`` for not assessed; ValueError otherwise."""
    from trialsynth.review.rob import grade_rob_level

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = " ".join(str(value).replace("_", " ").split())
    if text.lower() in _UNASSESSED or text.lower() in ("no information", "ni"):
        return None
    try:
        return grade_rob_level(text)
    except DataError:
        raise ValueError(f"unknown risk-of-bias judgement {text[:60]!r}") from None


def rob_columns(rob: Mapping[str, Mapping[str, Any]]) -> RobColumns:
    """Domains found in ``rob`` in their tool's order, the overall judgement last."""
    seen = list(dict.fromkeys(domain_key(d) for judged in rob.values() for d in judged))
    rob2 = [k for k in ROB2_DOMAINS if k in seen]
    rob1 = [k for k in ROB1_DOMAINS if k in seen]
    other = [k for k in seen if k not in ROB2_DOMAINS and k not in ROB1_DOMAINS and k != "overall"]
    tail = ["overall"] if "overall" in seen else []
    if rob2 and not rob1 and not other:
        keys = rob2 + tail
        return RobColumns(tuple(keys), tuple("Overall" if k == "overall" else k for k in keys),
                          tuple("Overall risk of bias" if k == "overall" else ROB2_DOMAINS[k][0]
                                for k in keys), "RoB 2")
    keys = rob2 + rob1 + other
    names = [ROB2_DOMAINS[k][0] if k in ROB2_DOMAINS else ROB1_DOMAINS.get(k, k) for k in keys]
    headers = [chr(ord("A") + i) if i < 26 else str(i + 1) for i in range(len(keys))]
    tool = "RoB 1" if rob1 and not rob2 else "custom"
    return RobColumns(tuple(keys + tail), tuple(headers + ["Overall"] * len(tail)),
                      tuple(names + ["Overall risk of bias"] * len(tail)), tool)


def rob_levels(rob: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str | None]]:
    """``rob`` with domain keys normalised and judgements as levels (None: not assessed)."""
    out: dict[str, dict[str, str | None]] = {}
    for study, judged in rob.items():
        out[str(study)] = {domain_key(d): judgement_level(j) for d, j in judged.items()}
    return out


def rob_mapping(assessments: Iterable[Any], *, outcome: str | None = None
                ) -> dict[str, dict[str, str]]:
    """``study -> {domain: judgement}`` from RoB 2 / RoB 1 assessments (one outcome if given).

    A RoB 2 assessment gives ``D1``-``D5`` and ``overall``; a RoB 1 assessment its domains and,
    when it can be computed, its summary as ``overall``.
    """
    out: dict[str, dict[str, str]] = {}
    for a in assessments:
        if outcome is not None and getattr(a, "outcome", None) not in (None, outcome):
            continue
        judged: dict[str, str] = {}
        for key, domain in a.domains.items():
            judged[key] = getattr(domain, "final", None) or getattr(domain, "judgement", "")
        overall = a.judgement if hasattr(a, "judgement") else a.summary
        if overall is not None:
            judged["overall"] = overall
        out.setdefault(a.study, {}).update(judged)
    return out


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def rob_dots(ax: Host, xs: Sequence[float], ys: Sequence[float],
             levels: Sequence[str | None], diameter_pt: float) -> None:
    """Traffic lights: coloured dots with their symbols (+ low, ? some concerns, - high), drawn
    as one collection (grey ring: not assessed)."""
    from trialsynth.render.figures import _common as c

    if not xs:
        return
    ax.markers(xs, ys, "o", diameter_pt ** 2, [c.ROB_COLOURS[lv] for lv in levels],
               ["#4d4d4d" if lv is None else "none" for lv in levels], 0.4)
    for x, y, level in zip(xs, ys, levels, strict=True):
        if c.ROB_SYMBOLS[level]:
            c.put(ax, x, y, c.ROB_SYMBOLS[level], size=diameter_pt * 0.62, weight="bold",
                  color=c.ROB_SYMBOL_COLOURS[level], ha="center", va="center_baseline",
                  zorder=4)


def legend_key(ax: Host, x: float, y: float, columns: RobColumns, levels: Iterable[str | None],
                size: float) -> float:
    """Judgement key from ``x`` along row ``y``; returns the x after it (inches)."""
    from trialsynth.render.figures import _common as c

    words = columns.words()
    levels = list(levels)
    xs = []
    for level in levels:
        xs.append(x + 0.08)
        c.put(ax, x + 0.2, y, words[level], size=size)
        x += 0.35 + c.text_width(words[level], size)
    rob_dots(ax, xs, [y] * len(xs), levels, 10.0)
    return x


def rob_traffic_light(rob: Mapping[str, Mapping[str, Any]], *, title: str | None = None,
                      ax: Axes | None = None) -> Figure:
    """Traffic-light plot: one row per study, one column per domain (and overall), a coloured
    dot with a symbol per judgement, domain names in a legend below."""
    from trialsynth.render.figures import _common as c

    if not rob:
        raise ValueError("no risk-of-bias judgements to plot")
    columns, levels = rob_columns(rob), rob_levels(rob)
    studies = [c.clean(s, "(unnamed study)") for s in levels]
    name_w = min(max(c.text_width(s) for s in studies) + 0.15, 2.6)
    col_w, row_h = 0.42, 0.26
    legend = [f"{h}: {c.clean(n)}" for h, n in zip(columns.headers, columns.names, strict=True)
              if h != "Overall"]
    width = max(0.2 + name_w + col_w * len(columns.keys) + 0.2,
                0.4 + max([c.text_width(t, c.SMALL) for t in legend] + [3.9]),
                min(0.4 + c.text_width(c.clean(title), c.SIZE + 1, "bold"), 7.5) if title else 0)
    top = 1.0 + (1.0 if title else 0.0)
    n_rows = top + len(studies) + 1.0 + 1.6 + len(legend) * 0.8
    fig, host = c.host_for(ax, width, n_rows, row_h)
    if title:
        c.put(host, 0.2, 0.6, c.fit(c.clean(title), width - 0.4, c.SIZE + 1, "bold"),
              size=c.SIZE + 1, weight="bold")
    x0 = 0.2 + name_w
    c.put(host, 0.2, top - 0.3, "Study", weight="bold")
    for j, header in enumerate(columns.headers):
        c.put(host, x0 + (j + 0.5) * col_w, top - 0.3, header, weight="bold", ha="center")
    rule = x0 + col_w * len(columns.keys)
    host.lines([[(0.2, top + 0.1), (rule, top + 0.1)]], 0.6, c.RULE)
    xs, ys, lv = [], [], []
    for i, study in enumerate(levels):
        y = top + 0.7 + i
        c.put(host, 0.2, y, c.fit(studies[i], name_w - 0.1))
        for j, key in enumerate(columns.keys):
            xs.append(x0 + (j + 0.5) * col_w)
            ys.append(y)
            lv.append(levels[study].get(key))
    rob_dots(host, xs, ys, lv, 13.0)
    y = top + len(studies) + 1.0
    host.lines([[(0.2, y - 0.5), (rule, y - 0.5)]], 0.6, c.RULE)
    legend_key(host, 0.2, y, columns, (*LEVELS, None), c.SMALL)
    for i, line in enumerate(legend):
        c.put(host, 0.2, y + 0.9 + 0.8 * i, c.fit(line, width - 0.4, c.SMALL), size=c.SMALL,
              color=c.GREY)
    return fig


def rob_summary_plot(rob: Mapping[str, Mapping[str, Any]], *,
                     weights: Mapping[str, float] | None = None, title: str | None = None,
                     ax: Axes | None = None) -> Figure:
    """Summary bars: per domain, the share of studies (or, with ``weights`` — study -> weight in
    the analysis — the share of weight) judged at low, some concerns / unclear and high risk."""
    from trialsynth.render.figures import _common as c

    if not rob:
        raise ValueError("no risk-of-bias judgements to plot")
    columns, levels = rob_columns(rob), rob_levels(rob)
    study_w = {s: 1.0 for s in levels}
    if weights is not None:
        study_w = {s: float(weights.get(s, 0.0) or 0.0) for s in levels}
        if not any(w > 0 for w in study_w.values()):
            raise ValueError("no study in the risk-of-bias table has a weight")
    names = [c.clean(n) if columns.tool == "RoB 2" or h == "Overall" else f"{h}. {c.clean(n)}"
             for h, n in zip(columns.headers, columns.names, strict=True)]
    label_w = min(max(c.text_width(n) for n in names) + 0.2, 3.6)
    bar_w, row_h = 3.6, 0.3
    width = 0.2 + label_w + bar_w + 0.35
    top = 1.0 + (1.0 if title else 0.0)
    n_rows = top + len(names) + 3.2
    fig, host = c.host_for(ax, width, n_rows, row_h)
    if title:
        c.put(host, 0.2, 0.6, c.fit(c.clean(title), width - 0.4, c.SIZE + 1, "bold"),
              size=c.SIZE + 1, weight="bold")
    x0 = 0.2 + label_w
    basis = "weight" if weights is not None else "studies"
    c.put(host, x0, top - 0.35, f"Share of {basis} (n = {len(levels)} studies)", size=c.SMALL,
          color=c.GREY)
    for i, key in enumerate(columns.keys):
        y = top + 0.5 + i
        c.put(host, x0 - 0.1, y, c.fit(names[i], label_w - 0.15), ha="right",
              weight="bold" if key == "overall" else "normal")
        total = sum(study_w.values())
        left = x0
        for level in (*LEVELS, None):
            share = sum(w for s, w in study_w.items() if levels[s].get(key) == level) / total
            if share <= 0:
                continue
            host.add(_rect(left, y - 0.36, bar_w * share, 0.72, c.ROB_COLOURS[level]))
            if share >= 0.07:
                c.put(host, left + bar_w * share / 2, y, f"{100 * share:.0f}%", size=c.SMALL,
                      ha="center", color=c.ROB_SYMBOL_COLOURS[level])
            left += bar_w * share
    bottom = top + len(names) + 0.2
    ticks = [[(x0, bottom - 0.05), (x0 + bar_w, bottom - 0.05)]]
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = x0 + bar_w * frac
        ticks.append([(x, bottom - 0.05), (x, bottom + 0.15)])
        c.put(host, x, bottom + 0.55, f"{100 * frac:.0f}%", size=c.SMALL, ha="center")
    host.lines(ticks, 0.6)
    legend_key(host, x0, bottom + 1.6, columns, (*LEVELS, None), c.SMALL)
    return fig


def _rect(x: float, y: float, w: float, h: float, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="white", linewidth=0.8)
