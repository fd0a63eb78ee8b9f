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

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SALT = "trialsynth"
PNG_DPI = 200  # print quality; the SVG is the master for screens
_TAG = re.compile(r"<[^<>]*>")
_ID_ATTR = re.compile(r'(\sid=")([^"]+)(")')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')
_FAMILY = re.compile(r"font-family: 'DejaVu Sans'(?=[;\"])")


def _render_svg(fig: Figure) -> str:
    """The figure as matplotlib's SVG, with text as text and deterministic ids."""
    from matplotlib.backends.backend_mixed import MixedModeRenderer
    from matplotlib.backends.backend_svg import RendererSVG

    class _Renderer(RendererSVG):
        def _make_id(self, type: str, content: Any) -> str:  # noqa: A002 (matplotlib's name)
            digest = hashlib.sha256((SALT + str(content)).encode("utf8")).hexdigest()
            return f"{type}{digest[:10]}"

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

    buffer = io.StringIO()
    dpi = fig.dpi
    fig.dpi = 72  # the SVG backend works in points, as FigureCanvasSVG.print_svg does
    try:
        width, height = fig.get_size_inches()
        svg = _Renderer(width * 72, height * 72, buffer, image_dpi=dpi,
                        metadata={"Date": None, "Creator": "trialsynth (matplotlib)"})
        renderer = MixedModeRenderer(fig, width, height, dpi, svg)
        fig.draw(renderer)
        renderer.finalize()
    finally:
        fig.dpi = dpi
    return buffer.getvalue()


def _scoped(svg: str) -> str:
    """Prefix ids and references with a digest of the SVG; scope the default style; add fonts."""
    from trialsynth.report.figures._common import SVG_FAMILY

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
    svg = svg_document(fig)
    start = svg.find("<svg ")
    return svg[start:].strip() + "\n"


def png_bytes(fig: Figure, dpi: float = PNG_DPI) -> bytes:
    """The figure as PNG (Agg), with no time stamp in its metadata."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": "trialsynth (matplotlib)"})
    return buffer.getvalue()


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
