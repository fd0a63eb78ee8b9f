"""Write figures as SVG and PNG, byte-for-byte reproducible, and as SVG text to inline in HTML.

The SVG is rendered with a subclass of matplotlib's SVG renderer that (a) always writes text as
``<text>`` elements, so study names stay searchable, selectable and escaped (``<`` becomes
``&lt;``), and (b) hashes element ids with a fixed salt instead of :rc:`svg.hashsalt`, which is
``None`` (random) by default. No date is written (``metadata={"Date": None}``), and the global
``rcParams`` are neither read for these two settings nor written.

Inline SVGs share one HTML document, so :func:`svg_text` prefixes every id (and every reference
to it) with a digest of the figure, and scopes matplotlib's ``*{...}`` default style to the
figure's root element.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import re
import struct
import tempfile
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SALT = "trialsynth"
PNG_DPI = 200  # print quality; the SVG is the master for screens
REPORT_PNG_DPI = 100  # the PNG files of a report: drawn fast, the SVG beside them is for print
PNG_COMPRESSION = 1  # zlib level: higher levels cost twice the time for 10% smaller files
_TAG = re.compile(r"<[^<>]*>")
_ID_ATTR = re.compile(r'(\sid=")([^"]+)(")')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')
_FAMILY = re.compile(r"font-family: 'DejaVu Sans'(?=[;\"])")


# Text metrics and glyph layouts are cached across figures (the same study names, headers and
# numbers recur in every forest plot of a review): matplotlib keeps its caches per renderer, and
# measuring and laying out text is most of the cost of a figure. Keys are the string, the font
# properties (hashable, compared by value) and the resolution, so a cached value is exactly what
# matplotlib would compute again: output does not depend on the order of drawing.
_CACHE_MAX = 200_000
_SVG_METRICS: dict[tuple[Any, ...], tuple[float, float, float]] = {}
_AGG_METRICS: dict[tuple[Any, ...], tuple[float, float, float]] = {}
_LABEL_STYLES: dict[tuple[Any, ...], str] = {}
_LAYOUTS: dict[tuple[Any, ...], tuple[tuple[Any, int, float, float], ...]] = {}
# A layout holds FreeType font objects. A forked child shares each open font file's offset with
# its parent and siblings, and FreeType reads glyph outlines by seek-then-read, so two processes
# rendering through inherited font objects read each other's bytes ("FT_Load_Glyph ... invalid
# outline"). matplotlib empties its own font cache in a forked child; the layouts go with it and
# are rebuilt from the child's own fonts. (Glyph bitmaps and metrics, plain arrays and numbers
# keyed by font file name, stay warm.)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_LAYOUTS.clear)
_GLYPHS: dict[tuple[Any, ...], tuple[Any, int, int]] = {}
_STRINGS: dict[tuple[Any, ...], tuple[Any, int, int]] = {}
_LOCK = threading.Lock()  # FreeType font objects are shared: one thread lays out at a time
SUBPIXEL = 4  # glyphs are rendered at quarter-pixel horizontal offsets, baselines on whole pixels


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) < _CACHE_MAX:
        cache[key] = value
    return value


_HEIGHTS: dict[tuple[Any, float], tuple[float, float, float] | tuple[None, None, None]] = {}


def _font_heights(prop: Any, dpi: float) -> tuple[float, float, float] | tuple[None, None, None]:
    """(ascent, descent, line gap) of ``prop``'s font at ``dpi``, as matplotlib's
    ``Text._get_layout`` reads them from the font's OS/2 or hhea table (cached)."""
    key = (prop, dpi)
    value = _HEIGHTS.get(key)
    if value is None:
        from trialsynth.render.figures._common import font_object

        value = (None, None, None)
        with _LOCK:
            font = font_object(prop)
            for table_name, gap, ascent, descent in (
                    ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
                    ("hhea", "lineGap", "ascent", "descent")):
                table = font.get_sfnt_table(table_name)
                if table is None:
                    continue
                scale = prop.get_size_in_points() * dpi / 72 / font.get_sfnt_table("head")["unitsPerEm"]
                value = (table[ascent] * scale, -table[descent] * scale, table[gap] * scale)
                break
        value = _remember(_HEIGHTS, key, value)
    return value


@functools.lru_cache(maxsize=1)
def svg_renderer_class() -> type:
    """matplotlib's SVG renderer, writing text as ``<text>``, with fixed ids and cached metrics."""
    from matplotlib import font_manager
    from matplotlib.backends.backend_svg import (
        RendererSVG,
        _generate_css,
        _short_float_fmt,
    )
    from matplotlib.colors import rgb2hex, to_rgb

    from trialsynth.render.figures._common import FAMILY, SVG_FAMILY, text_metrics

    class _Renderer(RendererSVG):
        def _make_id(self, type: str, content: Any) -> str:  # noqa: A002 (matplotlib's name)
            digest = hashlib.sha256((SALT + str(content)).encode("utf8")).hexdigest()
            return f"{type}{digest[:10]}"

        def get_text_width_height_descent(self, s: str, prop: Any, ismath: Any
                                          ) -> tuple[float, float, float]:
            if ismath:
                return super().get_text_width_height_descent(s, prop, ismath)
            if prop.get_family() == list(FAMILY) and prop.get_variant() == "normal" \
                    and prop.get_stretch() == "normal":  # the figure font: as measured for layout
                return text_metrics(s, prop.get_size_in_points(), prop.get_weight(),
                                    prop.get_style())
            key = (s, prop)
            value = _SVG_METRICS.get(key)
            if value is None:
                value = _remember(_SVG_METRICS, key,
                                  super().get_text_width_height_descent(s, prop, ismath))
            return value

        def _get_font_height_metrics(self, prop: Any) -> tuple[Any, Any, Any]:
            return _font_heights(prop, 72.0)  # the SVG backend draws at 72 dpi

        def draw_label(self, label: Any, x: float, y: float) -> None:
            """A :class:`~trialsynth.render.figures._common.Label` as one ``<text>`` anchored
            at (x, baseline y) in display units, styled as matplotlib styles an anchored text."""
            key = (label.prop, label.color, label.ha)
            style = _LABEL_STYLES.get(key)
            if style is None:
                prop, css = label.prop, {}
                if prop.get_style() != "normal":
                    css["font-style"] = prop.get_style()
                weight = font_manager.weight_dict.get(prop.get_weight(), prop.get_weight())
                if weight != 400:
                    css["font-weight"] = f"{weight}"
                css["font-size"] = f"{_short_float_fmt(prop.get_size())}px"
                css["font-family"] = SVG_FAMILY
                css["text-anchor"] = {"left": "start", "right": "end", "center": "middle"}[label.ha]
                colour = rgb2hex(to_rgb(label.color))
                if colour != "#000000":
                    css["fill"] = colour
                style = _remember(_LABEL_STYLES, key, _generate_css(css))
            self.writer.element("text", label.text, attrib={
                "x": _short_float_fmt(x), "y": _short_float_fmt(self.height - y), "style": style})

        def draw_text(self, gc: Any, x: float, y: float, s: str, prop: Any, angle: float,
                      ismath: Any = False, mtext: Any = None) -> None:
            clip_attrs = self._get_clip_attrs(gc)
            if clip_attrs:
                self.writer.start("g", **clip_attrs)
            if gc.get_url() is not None:
                self.writer.start("a", {"xlink:href": gc.get_url(), "target": "_blank"})
            self._draw_text_as_text(gc, x, y, s, prop, angle, ismath, mtext)
            if gc.get_url() is not None:
                self.writer.end("a")
            if clip_attrs:
                self.writer.end("g")

    return _Renderer


def _render_svg(fig: Figure) -> str:
    """The figure as matplotlib's SVG, with text as text and deterministic ids."""
    from matplotlib.backends.backend_mixed import MixedModeRenderer

    buffer = io.StringIO()
    dpi = fig.dpi
    fig.dpi = 72  # the SVG backend works in points, as FigureCanvasSVG.print_svg does
    try:
        width, height = fig.get_size_inches()
        svg = svg_renderer_class()(width * 72, height * 72, buffer, image_dpi=dpi,
                                    metadata={"Date": None, "Creator": "trialsynth (matplotlib)"})
        renderer = MixedModeRenderer(fig, width, height, dpi, svg)
        fig.draw(renderer)
        renderer.finalize()
    finally:
        fig.dpi = dpi
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def agg_renderer_class() -> type:
    """matplotlib's Agg renderer with text metrics, glyph layouts and glyph bitmaps cached.

    matplotlib 3.11 lays out every string with FreeType and renders each of its glyphs anew; here
    a string's layout and each glyph's bitmap (per font, size, resolution and quarter-pixel
    offset) are rendered once and then blended with Agg's own ``draw_text_image``, as matplotlib
    does. Anything else (mathtext, rotated or aliased text, a matplotlib without the private
    glyph API) is drawn by matplotlib itself.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag

    from trialsynth.render.figures._common import prepared_font

    try:
        from matplotlib.ft2font import FT2Font, RenderMode
        fast = all(hasattr(FT2Font, name) for name in ("_layout", "_render_glyph", "_set_transform"))
    except ImportError:  # pragma: no cover - older matplotlib
        fast = False

    class _FastAgg(RendererAgg):
        def get_text_width_height_descent(self, s: str, prop: Any, ismath: Any
                                          ) -> tuple[float, float, float]:
            if ismath:
                return super().get_text_width_height_descent(s, prop, ismath)
            key = (s, prop, self.dpi)
            value = _AGG_METRICS.get(key)
            if value is None:
                if fast:  # the ink box of the glyphs as drawn (FreeType's box, to a pixel)
                    image, left, top = self._string(s, prop, 0)
                    value = (float(image.shape[1]), float(image.shape[0]),
                             float(image.shape[0] - top)) if image.size else (0.0, 0.0, 0.0)
                else:
                    with _LOCK:
                        value = super().get_text_width_height_descent(s, prop, ismath)
                _remember(_AGG_METRICS, key, value)
            return value

        def _layout(self, s: str, prop: Any) -> tuple[tuple[Any, int, float, float], ...]:
            key = (s, prop, self.dpi)
            items = _LAYOUTS.get(key)
            if items is None:
                with _LOCK:
                    font = prepared_font(prop, self.dpi)
                    items = tuple((item.ft_object, item.glyph_index, item.x, item.y)
                                  for item in font._layout(s, flags=get_hinting_flag()))
                _remember(_LAYOUTS, key, items)
            return items

        def _get_font_height_metrics(self, prop: Any) -> tuple[Any, Any, Any]:
            return _font_heights(prop, self.dpi)

        def _glyph(self, font: Any, size: float, index: int, frac: int) -> tuple[Any, int, int]:
            key = (font.fname, size, self.dpi, index, frac)
            glyph = _GLYPHS.get(key)
            if glyph is None:
                with _LOCK:
                    font.set_size(size, self.dpi)
                    font._set_transform([[0x10000, 0], [0, 0x10000]], [frac * 64 // SUBPIXEL, 0])
                    bitmap = font._render_glyph(index, get_hinting_flag(), RenderMode.NORMAL)
                    glyph = (bitmap.buffer.copy(), bitmap.left, bitmap.top)
                _remember(_GLYPHS, key, glyph)
            return glyph

        def _string(self, s: str, prop: Any, frac: int) -> tuple[Any, int, int]:
            """The coverage bitmap of ``s`` whose origin is ``frac`` / SUBPIXEL px right of a
            pixel corner: (bitmap, left, top) relative to that pixel and the baseline."""
            key = (s, prop, self.dpi, frac)
            found = _STRINGS.get(key)
            if found is not None:
                return found
            size = prop.get_size_in_points()
            parts = []
            for font, index, dx, dy in self._layout(s, prop):
                px = frac / SUBPIXEL + dx
                whole = math.floor(px)
                sub = round((px - whole) * SUBPIXEL)
                if sub == SUBPIXEL:
                    whole, sub = whole + 1, 0
                buffer, left, top = self._glyph(font, size, index, sub)
                if buffer.size:
                    parts.append((buffer, whole + left, round(dy) + top))
            if not parts:
                return _remember(_STRINGS, key, (np.zeros((0, 0), np.uint8), 0, 0))
            left = min(p[1] for p in parts)
            top = max(p[2] for p in parts)
            right = max(p[1] + p[0].shape[1] for p in parts)
            bottom = min(p[2] - p[0].shape[0] for p in parts)
            image = np.zeros((top - bottom, right - left), np.uint8)
            for buffer, x0, y0 in parts:  # overlapping antialiased edges: the darker wins
                view = image[top - y0:top - y0 + buffer.shape[0], x0 - left:x0 - left + buffer.shape[1]]
                np.maximum(view, buffer, out=view)
            return _remember(_STRINGS, key, (image, left, top))

        def draw_text(self, gc: Any, x: float, y: float, s: str, prop: Any, angle: float,
                      ismath: Any = False, mtext: Any = None) -> None:
            if (ismath or angle or not fast or not gc.get_antialiased()
                    or (mtext is not None and (mtext.get_fontfeatures() or mtext.get_language()))):
                return super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
            whole = math.floor(x)
            frac = round((x - whole) * SUBPIXEL)
            if frac == SUBPIXEL:
                whole, frac = whole + 1, 0
            image, left, top = self._string(s, prop, frac)
            if image.size:  # FreeType's y is upwards; the baseline on a whole pixel
                self._renderer.draw_text_image(image, whole + left, int(self.height)
                                               - (round(self.height - y) + top) + image.shape[0],
                                               0, gc)

    return _FastAgg


WARM_CHARS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
              " .,;:%()[]-+=/<>'\u2212\u00b2\u00b7\u2264\u2265\u03c4\u03c7\u2295\u25ef?")


def warm_glyphs(dpi: float = REPORT_PNG_DPI) -> None:
    """Render the common glyphs of the figure font at every size and style the figures use, at
    every subpixel offset, into the Agg glyph cache. Called before forking figure workers, so
    that each worker starts with them instead of rendering them all again."""
    from trialsynth.render.figures._common import SIZE, SMALL, font_object, fontprops

    renderer = agg_renderer_class()(8, 8, dpi)
    if not hasattr(renderer, "_glyph"):
        return
    for size, weight in ((SMALL, "normal"), (SIZE, "normal"), (SIZE, "bold")):
        prop = fontprops(size, weight)
        font = font_object(prop)
        for ch in WARM_CHARS:
            index = font.get_char_index(ord(ch))
            for frac in range(SUBPIXEL):
                renderer._glyph(font, prop.get_size_in_points(), index, frac)


def _render_pixels(fig: Figure, dpi: float) -> Any:
    """The figure drawn by Agg at ``dpi`` as an (height, width, 3) uint8 RGB array."""
    import numpy as np

    old = fig.dpi
    fig.dpi = dpi
    try:
        width, height = fig.bbox.size
        renderer = agg_renderer_class()(int(width), int(height), dpi)
        fig.draw(renderer)
        return np.asarray(renderer.buffer_rgba())[:, :, :3]
    finally:
        fig.dpi = old


def _render_image(fig: Figure, dpi: float) -> Any:
    """The figure drawn by Agg at ``dpi`` as an RGB :class:`PIL.Image.Image`."""
    from PIL import Image

    return Image.fromarray(_render_pixels(fig, dpi), "RGB")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    # PNG (W3C 2003, §5.3): length, type, data, CRC-32 of type and data
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(rgb: Any, dpi: float) -> bytes:
    """8-bit RGB pixels as a PNG file (W3C PNG 2003: IHDR §11.2.2, pHYs §11.3.5.3, tEXt
    §11.3.4.3, IDAT §11.2.4 with filter type 0 on every scanline, §9.2). Figures are mostly flat
    colour, which zlib compresses well without PNG's per-row filters; leaving the filters out
    makes encoding several times faster than Pillow's adaptive filtering, at about the same size.
    """
    import numpy as np

    height, width, _ = rgb.shape
    rows = np.empty((height, width * 3 + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None
    pixels = rows[:, 1:].reshape(height, width, 3)
    for channel in range(3):  # a plane at a time: numpy copies long strided runs far faster
        pixels[:, :, channel] = rgb[:, :, channel]  # than 3-byte pixels (RGBA view -> RGB)
    per_metre = round(dpi / 0.0254)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
        _png_chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
        _png_chunk(b"tEXt", b"Software\x00trialsynth (matplotlib)"),
        _png_chunk(b"IDAT", zlib.compress(rows, PNG_COMPRESSION)),  # the buffer, uncopied
        _png_chunk(b"IEND", b""),
    ))


def _scoped(svg: str) -> str:
    """Prefix ids and references with a digest of the SVG; scope the default style; add fonts."""
    from trialsynth.render.figures._common import SVG_FAMILY

    prefix = "ts" + hashlib.sha256(svg.encode("utf8")).hexdigest()[:10] + "-"

    def tag(match: re.Match[str]) -> str:
        text = _ID_ATTR.sub(lambda m: m[1] + prefix + m[2] + m[3], match[0])
        text = _REF.sub(lambda m: m[1] + prefix + m[2], text)
        return _FAMILY.sub("font-family: " + SVG_FAMILY, text)

    svg = _TAG.sub(tag, svg)
    root = f"{prefix}svg"
    svg = svg.replace("<svg ", f'<svg id="{root}" ', 1)
    return svg.replace('<style type="text/css">*{', f'<style type="text/css">#{root} *{{', 1)


def svg_document(fig: Figure) -> str:
    """The figure as a standalone SVG document (XML prolog included), deterministic."""
    return _scoped(_render_svg(fig))


def svg_text(fig: Figure) -> str:
    """The figure as an ``<svg>`` element to paste into HTML: no XML prolog or DOCTYPE, ids
    unique to this figure, text kept as (escaped) text."""
    return svg_element(svg_document(fig))


def svg_element(document: str) -> str:
    """The ``<svg>`` element of an SVG document of :func:`svg_document` (what :func:`svg_text`
    gives, for a figure already rendered)."""
    return document[document.find("<svg "):].strip() + "\n"


def png_bytes(fig: Figure, dpi: float = PNG_DPI) -> bytes:
    """The figure as an RGB PNG drawn by Agg (fast text, see :func:`agg_renderer_class`), with
    no time stamp in its metadata: the same figure gives the same bytes."""
    return encode_png(_render_pixels(fig, dpi), dpi)


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure(fig: Figure, base_path: str | os.PathLike[str], *, dpi: float = PNG_DPI
                ) -> dict[str, Path]:
    """Write ``<base_path>.svg`` and ``<base_path>.png``; return ``{"svg": path, "png": path}``.

    Both files are deterministic: the same figure gives the same bytes (no dates, fixed id salt).
    Each file is written to a temporary file in the same folder and then moved into place.
    """
    base = Path(base_path)
    if base.suffix.lower() in (".svg", ".png"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    paths = {"svg": base.with_name(base.name + ".svg"), "png": base.with_name(base.name + ".png")}
    _write_atomic(paths["svg"], svg_document(fig).encode("utf8"))
    _write_atomic(paths["png"], png_bytes(fig, dpi))
    return paths
