"""Shared machinery of the figures: figures without pyplot, safe text, measuring, number formats.

Everything here avoids global matplotlib state: figures are :class:`matplotlib.figure.Figure`
objects with an Agg canvas attached (no pyplot figure manager), every text object is created with
``parse_math=False`` and ``usetex=False`` (a study called ``$x^2$`` is drawn as typed, never as
mathtext or TeX), and fonts, sizes and colours are passed to each artist instead of being read from
``rcParams`` (which are never written).

This module imports matplotlib at import time; the public figure modules import it lazily.
"""

from __future__ import annotations

import functools
import math
import threading
import unicodedata
from collections.abc import Sequence
from typing import Any

from matplotlib.artist import Artist, allow_rasterization
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.markers import MarkerStyle
from matplotlib.text import Text
from matplotlib.transforms import Affine2D, Bbox, IdentityTransform

from trialsynth.report.numbers import fixed

# DejaVu Sans ships with matplotlib, so PNG output and text measurement are the same on every
# machine; the SVG export (:mod:`.export`) adds fall-backs of the same or narrower width (Verdana,
# Arial, Helvetica) so that a browser without DejaVu never overflows a column measured in DejaVu.
FAMILY: tuple[str, ...] = ("DejaVu Sans",)
SVG_FAMILY = "'DejaVu Sans', 'Bitstream Vera Sans', Verdana, Arial, Helvetica, sans-serif"
SIZE = 8.0  # points: RevMan's forest plots print their tables at about this size
SMALL = 7.0
INK = "#1a1a1a"
GREY = "#6b6b6b"
RULE = "#9a9a9a"
MINUS = "\u2212"  # typographic minus sign
ELLIPSIS = "\u2026"

# risk-of-bias colours and symbols: robvis's "cochrane" palette (McGuinness & Higgins 2021, Res
# Synth Methods 12:55; robvis get_colour: low #02C100, some concerns #E2DF07, high #BF0000) with
# RevMan's symbols (+, ?, -); not assessed is a grey ring
ROB_COLOURS = {"low": "#02C100", "some_concerns": "#E2DF07", "high": "#BF0000", None: "#e6e6e6"}
ROB_SYMBOLS = {"low": "+", "some_concerns": "?", "high": MINUS, None: ""}
ROB_SYMBOL_COLOURS = {"low": "#1a1a1a", "some_concerns": "#1a1a1a", "high": "white", None: GREY}

_local = threading.local()


@functools.lru_cache(maxsize=64)
def fontprops(size: float = SIZE, weight: str = "normal", style: str = "normal") -> FontProperties:
    """Font properties with the figure family; never reads the global font settings.

    Cached: treat the result as read-only (text objects keep their own copy)."""
    return FontProperties(family=list(FAMILY), size=size, weight=weight, style=style)


def new_figure(width: float, height: float, dpi: float = 100.0) -> Figure:
    """A white figure of ``width`` x ``height`` inches with its own Agg canvas (no pyplot)."""
    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="white", edgecolor="white")
    FigureCanvasAgg(fig)
    return fig


def root_figure(ax: Axes) -> Figure:
    parent = ax.get_figure()
    return getattr(parent, "figure", None) or parent  # the root figure of a subfigure


class Host:
    """Where a table-like figure is drawn: x in inches from the left, y in rows from the top.

    Artists are added to the figure itself (no Axes: creating one costs more than drawing a
    whole forest plot's text), or, when the caller passes ``ax``, placed over that axes' box.
    """

    def __init__(self, fig: Figure, width: float, n_rows: float, row_h: float,
                 ax: Axes | None = None) -> None:
        self.fig, self.width, self.n_rows = fig, width, n_rows
        if ax is None:
            self.transform = Affine2D().scale(1.0, -row_h).translate(0.0, n_rows * row_h) + \
                fig.dpi_scale_trans
        else:
            ax.set_axis_off()
            self.transform = Affine2D().scale(1.0 / width, -1.0 / n_rows).translate(0.0, 1.0) + \
                ax.transAxes

    def add(self, artist: Artist) -> Artist:
        artist.set_transform(self.transform)
        self.fig.add_artist(artist, clip=False)
        return artist

    def lines(self, segments: Sequence[Sequence[tuple[float, float]]],
              widths: float | Sequence[float] = 0.7, color: str = INK, zorder: float = 2,
              **kwargs: Any) -> None:
        if len(segments):
            self.add(LineCollection(segments, colors=color, linewidths=widths, zorder=zorder,
                                    **kwargs))

    def markers(self, xs: Sequence[float], ys: Sequence[float], marker: str,
                sizes: float | Sequence[float], facecolors: Any, edgecolors: Any = "none",
                linewidths: float = 0.0, zorder: float = 3) -> None:
        """Markers of ``sizes`` points² at (x, y), as one collection (what ``scatter`` draws)."""
        if not len(xs):
            return
        style = MarkerStyle(marker)
        path = style.get_path().transformed(style.get_transform())
        sizes = [sizes] * len(xs) if isinstance(sizes, (int, float)) else list(sizes)
        coll = PathCollection((path,), sizes=sizes, facecolors=facecolors, edgecolors=edgecolors,
                              linewidths=linewidths, offsets=list(zip(xs, ys, strict=True)),
                              offset_transform=self.transform, zorder=zorder)
        coll.set_transform(IdentityTransform())
        self.fig.add_artist(coll, clip=False)


def host_for(ax: Axes | None, width: float, n_rows: float, row_h: float) -> tuple[Figure, Host]:
    """The figure to draw in (a new one of ``width`` x ``n_rows * row_h`` inches, or ``ax``'s)
    and its :class:`Host`."""
    fig = new_figure(width, n_rows * row_h) if ax is None else root_figure(ax)
    return fig, Host(fig, width, n_rows, row_h, ax)


# ---------------------------------------------------------------------------------------------
# Text: cleaning, measuring, truncating, drawing
# ---------------------------------------------------------------------------------------------
def clean(value: Any, empty: str = "") -> str:
    """Text fit to draw on one line: control and format characters (newlines, bidi overrides,
    NUL, ...) become spaces or disappear, runs of white space collapse, None/NaN give ``empty``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return empty
    out = []
    for ch in str(value):
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif cat in ("Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(ch)
    text = " ".join("".join(out).split())
    return text if text else empty


def _renderer() -> RendererAgg:
    renderer = getattr(_local, "renderer", None)
    if renderer is None:  # one small renderer per thread: only its font metrics are used
        renderer = _local.renderer = RendererAgg(8, 8, 72)
    return renderer


_METRICS: dict[tuple[str, float, str, str], tuple[float, float, float]] = {}
_FONT_FILES: dict[FontProperties, Any] = {}


def font_files(prop: FontProperties) -> Any:
    """The font files matplotlib draws ``prop`` with (``fontManager._find_fonts_by_props``),
    looked up once per font properties: only paths, so the answer holds in a forked child."""
    files = _FONT_FILES.get(prop)
    if files is None:
        from matplotlib.font_manager import fontManager

        files = _FONT_FILES[prop] = fontManager._find_fonts_by_props(prop)
    return files


def text_metrics(text: str, size: float = SIZE, weight: str = "normal", style: str = "normal"
                 ) -> tuple[float, float, float]:
    """(width, height, descent) of ``text`` in points in the figure font (no mathtext), as Agg
    measures it at 72 dpi (``RendererAgg.get_text_width_height_descent``: the same font calls,
    with the font files looked up once). Cached: layout and the SVG export (:mod:`.export`)
    share the values."""
    key = (text, size, weight, style)
    value = _METRICS.get(key)
    if value is None:
        value = _measure(text, fontprops(size, weight, style))
        if len(_METRICS) < 100_000:
            _METRICS[key] = value
    return value


def prepared_font(prop: FontProperties, dpi: float) -> Any:
    """The FreeType font of ``prop``, cleared and sized for ``dpi`` (``RendererAgg._prepare_font``).
    Not thread-safe: the font object is shared (callers on threads hold a lock)."""
    font = font_object(prop)
    font.clear()
    font.set_size(prop.get_size_in_points(), dpi)
    return font


def font_object(prop: FontProperties) -> Any:
    """matplotlib's FreeType font of ``prop`` (``get_font`` of :func:`font_files`)."""
    from matplotlib.font_manager import get_font

    return get_font(font_files(prop))


def _measure(text: str, prop: FontProperties) -> tuple[float, float, float]:
    from matplotlib.backends.backend_agg import get_hinting_flag

    if not hasattr(RendererAgg, "_prepare_font"):  # another matplotlib: ask it
        return _renderer().get_text_width_height_descent(text, prop, ismath=False)
    font = prepared_font(prop, 72)  # then as RendererAgg measures
    font.set_text(text, 0.0, flags=get_hinting_flag())
    width, height = font.get_width_height()
    return width / 64.0, height / 64.0, font.get_descent() / 64.0


def text_width(text: str, size: float = SIZE, weight: str = "normal", style: str = "normal"
               ) -> float:
    """Width of ``text`` in inches when drawn in the figure font (no mathtext)."""
    return text_metrics(text, size, weight, style)[0] / 72.0


def fit(text: str, max_width: float, size: float = SIZE, weight: str = "normal",
        style: str = "normal") -> str:
    """``text`` cut at the end with an ellipsis so that it is at most ``max_width`` inches wide."""
    if text_width(text, size, weight, style) <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid].rstrip() + ELLIPSIS, size, weight, style) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ELLIPSIS if lo else ELLIPSIS


class _OneLineText(Text):
    """A Text that draws a single unrotated line itself, as :meth:`Text.draw` would place it
    (matplotlib 3.11 ``Text._get_layout``: ascent and descent at least the font's, the box aligned
    by ``ha``/``va``), without the general multi-line, rotated, wrapped layout machinery, which
    costs more than drawing the glyphs. Anything else goes to :meth:`Text.draw`."""

    _X_SHIFT = {"left": 0.0, "center": 0.5, "right": 1.0}

    @allow_rasterization
    def draw(self, renderer: Any) -> None:
        text = self._text
        heights = getattr(renderer, "_get_font_height_metrics", None)
        if (not text or "\n" in text or self._rotation not in (0, 0.0, None) or self._bbox_patch
                or self.get_usetex() or self.get_wrap() or self._path_effects or heights is None
                or self._verticalalignment not in ("center", "top", "bottom", "baseline")
                or self._horizontalalignment not in self._X_SHIFT):
            return super().draw(renderer)
        if renderer is not None:
            self._renderer = renderer
        if not self.get_visible():
            return
        prop = self._fontproperties
        min_ascent, min_descent, _ = heights(prop)
        if min_ascent is None:
            return super().draw(renderer)
        w, h, d = renderer.get_text_width_height_descent(text, prop, ismath=False)
        a, d = max(h - d, min_ascent), max(d, min_descent)
        posx, posy = self.get_transform().transform((float(self._x), float(self._y)))
        if not (math.isfinite(posx) and math.isfinite(posy)):
            return
        va = self._verticalalignment
        dy = (d - a) / 2 if va == "center" else -a if va == "top" else d if va == "bottom" else 0.0
        x, y = posx - self._X_SHIFT[self._horizontalalignment] * w, posy + dy
        if renderer.flipy():
            y = renderer.get_canvas_width_height()[1] - y
        renderer.open_group("text", self.get_gid())
        gc = renderer.new_gc()
        gc.set_foreground(to_rgba(self.get_color()), isRGBA=True)
        gc.set_alpha(self.get_alpha())
        gc.set_url(self._url)
        gc.set_antialiased(self._antialiased)
        gc.set_snap(self.get_snap())
        self._set_gc_clip(gc)
        renderer.draw_text(gc, x, y, text, prop, 0.0, ismath=False, mtext=self)
        gc.restore()
        renderer.close_group("text")
        self.stale = False


class Label(Artist):
    """One line of text in a given font: what most of a forest plot is, drawn without
    matplotlib's Text machinery (its constructor and layout cost more than the drawing).

    Placed as :class:`Text` places a single unrotated line (matplotlib 3.11 ``Text._get_layout``:
    ascent and descent at least the font's, the box aligned by ``ha``/``va``). Renderers with a
    ``draw_label`` method (trialsynth's SVG renderer) write it directly, with its anchor, so that
    right-aligned numbers stay aligned in a browser's font; any other renderer gets
    ``draw_text`` at the left end of the baseline.
    """

    zorder = 3  # as Text
    _X_SHIFT = {"left": 0.0, "center": 0.5, "right": 1.0}

    def __init__(self, x: float, y: float, text: str, prop: FontProperties, color: str,
                 ha: str, va: str) -> None:
        super().__init__()
        if ha not in self._X_SHIFT or va not in ("center", "top", "bottom", "baseline"):
            raise ValueError(f"unsupported alignment ha={ha!r}, va={va!r}")
        self.x, self.y, self.text, self.prop, self.color = x, y, text, prop, color
        self.ha, self.va = ha, va

    def get_text(self) -> str:
        return self.text

    def _place(self, renderer: Any) -> tuple[float, float, float, float, float] | None:
        """(anchor x, left x, baseline y, width, ascent + descent) in display units."""
        heights = getattr(renderer, "_get_font_height_metrics", None)
        min_ascent, min_descent = (heights(self.prop)[:2] if heights is not None
                                   else (None, None))
        if min_ascent is None:  # another backend: the font's extent from "lp", as matplotlib does
            _, lp_h, lp_d = renderer.get_text_width_height_descent("lp", self.prop, ismath=False)
            min_ascent, min_descent = lp_h - lp_d, lp_d
        w, h, d = renderer.get_text_width_height_descent(self.text, self.prop, ismath=False)
        a, d = max(h - d, min_ascent), max(d, min_descent)
        posx, posy = self.get_transform().transform((self.x, self.y))
        if not (math.isfinite(posx) and math.isfinite(posy)):
            return None
        va = self.va
        dy = (d - a) / 2 if va == "center" else -a if va == "top" else d if va == "bottom" else 0.0
        return posx, posx - self._X_SHIFT[self.ha] * w, posy + dy, w, a + d

    def get_window_extent(self, renderer: Any = None) -> Bbox:
        if renderer is None:
            renderer = self.get_figure(root=True)._get_renderer()
        placed = self._place(renderer)
        if placed is None or not self.text:
            return Bbox.null()
        _, left, base, w, _ = placed
        _, h, d = renderer.get_text_width_height_descent(self.text, self.prop, ismath=False)
        return Bbox.from_bounds(left, base - d, w, h)

    @allow_rasterization
    def draw(self, renderer: Any) -> None:
        if not self.get_visible() or not self.text:
            return
        placed = self._place(renderer)
        if placed is None:
            return
        anchor, left, base, _, _ = placed
        fast = getattr(renderer, "draw_label", None)
        if fast is not None:
            fast(self, anchor, base)
        else:
            y = renderer.get_canvas_width_height()[1] - base if renderer.flipy() else base
            gc = renderer.new_gc()
            gc.set_foreground(self.color)
            renderer.draw_text(gc, left, y, self.text, self.prop, 0.0, ismath=False, mtext=None)
            gc.restore()
        self.stale = False


def put(target: Host | Axes, x: float, y: float, text: str, *, size: float = SIZE,
        weight: str = "normal", style: str = "normal", color: str = INK, ha: str = "left",
        va: str = "center", transform: Any = None, **kwargs: Any) -> Artist:
    """Draw ``text`` literally: no mathtext, no TeX, no clipping, figure font.

    ``target`` is a :class:`Host` (x in inches, y in rows) or an Axes (data coordinates);
    ``transform`` overrides either. One line without other Text options is a :class:`Label`;
    anything else a matplotlib Text.
    """
    prop = fontprops(size, weight, style)
    artist: Artist
    if kwargs or "\n" in text:
        artist = _OneLineText(x, y, text, fontproperties=prop, color=color, ha=ha, va=va,
                              parse_math=False, usetex=False, clip_on=False, **kwargs)
    else:
        artist = Label(x, y, text, prop, color, ha, va)
    if isinstance(target, Host):
        artist.set_transform(transform if transform is not None else target.transform)
        target.fig.add_artist(artist, clip=False)
    else:
        artist.set_transform(transform if transform is not None else target.transData)
        root_figure(target).add_artist(artist, clip=False)
    return artist


# ---------------------------------------------------------------------------------------------
# Numbers as Cochrane reviews print them
# ---------------------------------------------------------------------------------------------
def minus(text: str) -> str:
    """Hyphen-minus replaced by the typographic minus sign."""
    return text.replace("-", MINUS)


def num(x: float | None, decimals: int = 2) -> str:
    """A fixed-decimals number with a typographic minus; '' for None/NaN."""
    if x is None or not math.isfinite(x):
        return ""
    text = fixed(x, decimals)
    if float(text) == 0:
        text = text.lstrip("-")
    return minus(text)


def compact(x: float | None, max_decimals: int = 2) -> str:
    """Up to ``max_decimals`` decimals without trailing zeros (arm data as entered: 4.7, 26.53)."""
    if x is None or not math.isfinite(x):
        return ""
    text = f"{x:.{max_decimals}f}".rstrip("0").rstrip(".")
    return minus("0" if text in ("-0", "") else text)


def count(x: float | None) -> str:
    """A count: an integer, or one decimal when it is not whole (imputed or halved numbers)."""
    if x is None or not math.isfinite(x):
        return ""
    return f"{x:.0f}" if float(x).is_integer() else minus(f"{x:.1f}")


def pvalue(p: float | None) -> str:
    """``P = 0.03``, ``P = 0.004``, ``P = 0.0004``, ``P < 0.00001`` (RevMan's style)."""
    if p is None or not math.isfinite(p):
        return "P not estimable"
    if p < 0.00001:
        return "P < 0.00001"
    if p < 0.001:  # one significant digit: 0.0004, 0.00004
        return f"P = {p:.{-math.floor(math.log10(p))}f}"
    if p < 0.01:
        return f"P = {p:.3f}"
    return f"P = {p:.2f}"


def percent(x: float | None, decimals: int = 1) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.{decimals}f}%"


def join_nonempty(parts: Sequence[str], sep: str = "; ") -> str:
    return sep.join(p for p in parts if p)
