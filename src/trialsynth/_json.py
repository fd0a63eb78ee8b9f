"""The one serializer: everything that leaves trialsynth as JSON (``results.json``, ``pool
--json``, ``nma --json``, the diff of two runs) goes through :func:`json_safe`, and every number
that may be NaN or infinite becomes ``None`` through :func:`finite` (JSON has no NaN).

The rules, in order (documented here and tested in tests/test_json_safe.py):

* a mapping (``dict``, :class:`trialsynth._frozen.FrozenMap`, ...) becomes a ``dict`` with its
  keys as text, in its own order;
* a dataclass instance becomes its ``to_dict()`` when it has one (the record's own layout),
  else a ``dict`` of its fields in declaration order;
* a list, tuple or NumPy array becomes a ``list``;
* a NumPy scalar becomes the Python scalar it holds (``np.int64`` -> ``int``, ``np.bool_`` ->
  ``bool``, ``np.float64`` -> ``float``);
* a float that is NaN or ±inf becomes ``None``;
* everything else (``str``, ``int``, ``bool``, ``None``, finite ``float``) is kept as it is.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from typing import Any

import numpy as np


def json_safe(obj: Any) -> Any:
    """``obj`` as JSON-ready Python data, by the rules of this module's docstring."""
    # the plain types first, by exact type (what a results tree is mostly made of): the same
    # answers as the general rules below, without their abstract-class checks
    kind = type(obj)
    if kind is str or kind is int or kind is bool or obj is None:
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else None
    if kind is dict:
        return {str(k): json_safe(v) for k, v in obj.items()}
    if kind is list or kind is tuple:
        return [json_safe(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        to_dict = getattr(obj, "to_dict", None)
        return json_safe(to_dict() if callable(to_dict) else
                         {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, list | tuple | np.ndarray):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def finite(x: Any) -> float | None:
    """A number as a Python float, or None for None, NaN, ±inf and what is not a number (text,
    a bool): how every result record stores a value that may not be computable."""
    if x is None or isinstance(x, bool | np.bool_ | str | bytes):
        return None
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


class _Unusual(Exception):
    """A value :func:`dumps_indented` leaves to :func:`json.dumps`."""


def dumps_indented(obj: Any) -> str:
    """``json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\\n"``, the same text,
    made faster for JSON-ready data (:func:`json_safe`): the standard library encodes with an
    indent in pure Python, a generator per container. Anything but plain ``dict`` (text keys),
    ``list``, ``str``, ``int``, ``float``, ``bool`` and ``None`` is left to :func:`json.dumps`."""
    parts: list[str] = []
    try:
        _emit(obj, parts.append, "\n")
    except _Unusual:
        return json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    parts.append("\n")
    return "".join(parts)


_WORDS = {None: "null", True: "true", False: "false"}


def _emit(obj: Any, out: Callable[[str], None], newline: str) -> None:
    """Write the JSON text of ``obj`` to ``out``, as json.encoder lays it out with indent=1: one
    item per line, each line indented one space deeper than its container's, ``","`` after an
    item, ``": "`` after a key (``newline``: a line break and the indent of ``obj``'s line)."""
    kind = type(obj)
    if kind is str:
        out(encode_basestring(obj))
    elif kind is dict:
        if not obj:
            out("{}")
            return
        inner = newline + " "
        sep = "{" + inner
        for key, value in obj.items():
            if type(key) is not str:
                raise _Unusual
            out(sep)
            out(encode_basestring(key))
            out(": ")
            _emit(value, out, inner)
            sep = "," + inner
        out(newline + "}")
    elif kind is list:
        if not obj:
            out("[]")
            return
        inner = newline + " "
        sep = "[" + inner
        for value in obj:
            out(sep)
            _emit(value, out, inner)
            sep = "," + inner
        out(newline + "]")
    elif kind is float:
        if not math.isfinite(obj):
            raise _Unusual  # json.dumps says what is wrong (allow_nan=False)
        out(float.__repr__(obj))
    elif kind is int:
        out(int.__repr__(obj))
    elif obj is None or kind is bool:
        out(_WORDS[obj])
    else:
        raise _Unusual
