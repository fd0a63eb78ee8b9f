"""Figures of a review: forest, funnel, risk-of-bias, evidence-gap-map and network plots, export.

Each figure function takes a result (or a table) and ``ax=None`` and returns a
:class:`matplotlib.figure.Figure` built without pyplot and without touching ``rcParams``.
matplotlib is imported only when a figure is drawn: ``import trialsynth.render.figures`` is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "ForestLabels": "forest", "forest_plot": "forest",
    "funnel_plot": "funnel", "MIN_STUDIES": "funnel",
    "rob_summary_plot": "rob", "rob_traffic_light": "rob", "rob_mapping": "rob",
    "gap_map": "gapmap",
    "network_graph": "network", "network_forest": "network", "league_figure": "network",
    "inconsistency_plot": "network",
    "save_figure": "export", "svg_text": "export", "svg_document": "export", "png_bytes": "export",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
