"""The one serializer (:mod:`trialsynth._json`): every rule its docstring documents, and that the
result records of the stages go through it unchanged (their own ``to_dict`` layout)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from trialsynth._frozen import FrozenMap
from trialsynth._json import dumps_indented, finite, json_safe
from trialsynth.analyse import NaturalScale, StudyValues, SubgroupNaturalScale


@dataclasses.dataclass(frozen=True, slots=True)
class _Plain:  # a dataclass without to_dict: its fields, in order
    b: float
    a: tuple[float, ...]


def test_nan_and_infinities_become_null_everywhere():
    data = {"x": math.nan, "y": [math.inf, -math.inf, 1.5], "z": (np.float64("nan"), 2.0)}
    assert json_safe(data) == {"x": None, "y": [None, None, 1.5], "z": [None, 2.0]}
    # the result is JSON that the strict encoder accepts
    json.dumps(json_safe(data), allow_nan=False)


def test_numpy_scalars_and_arrays_become_python():
    out = json_safe({"i": np.int64(3), "b": np.bool_(True), "f": np.float32(0.5),
                     "a": np.array([1.0, np.nan]), 1: "key"})
    assert out == {"i": 3, "b": True, "f": 0.5, "a": [1.0, None], "1": "key"}
    assert type(out["i"]) is int and type(out["b"]) is bool and type(out["f"]) is float


def test_dataclasses_use_their_to_dict_else_their_fields():
    nat = NaturalScale(scale="ratio", estimate=0.5, ci_low=math.nan, ci_high=1.0, pi_low=None,
                       pi_high=math.inf, subgroups=FrozenMap(
                           {"A": SubgroupNaturalScale(scale="ratio", estimate=0.4, ci_low=0.2,
                                                      ci_high=0.8, pi_low=None, pi_high=None,
                                                      k=2, i2=math.nan)}))
    out = json_safe(nat)
    assert out == {"scale": "ratio", "estimate": 0.5, "ci_low": None, "ci_high": 1.0,
                   "pi_low": None, "pi_high": None,
                   "subgroups": {"A": {"scale": "ratio", "estimate": 0.4, "ci_low": 0.2,
                                       "ci_high": 0.8, "pi_low": None, "pi_high": None,
                                       "subgroups": {}, "k": 2, "i2": None}}}
    assert list(json_safe(_Plain(b=math.nan, a=(1.0, np.float64(2.0))))) == ["b", "a"]
    assert json_safe(_Plain(b=math.nan, a=(1.0, np.float64(2.0)))) == {"b": None, "a": [1.0, 2.0]}
    assert json_safe([StudyValues(effect=1.0, ci_low=None, ci_high=math.inf, weight=0.0)]) == \
        [{"effect": 1.0, "ci_low": None, "ci_high": None, "weight": 0.0}]
    # a class is not an instance: kept as it is (the encoder then refuses it)
    assert json_safe(_Plain) is _Plain


def test_mappings_keep_their_order_and_plain_values_pass():
    assert list(json_safe(FrozenMap({"b": 1, "a": 2}))) == ["b", "a"]
    for v in ("text", 0, True, None, 2.5):
        assert json_safe(v) == v and type(json_safe(v)) is type(v)


@pytest.mark.parametrize(("x", "want"), [
    (1, 1.0), (np.int64(2), 2.0), (np.float64(0.25), 0.25), (np.array(3.5), 3.5),
    (math.nan, None), (math.inf, None), (-np.inf, None), (None, None), (True, None),
    (np.bool_(False), None), ("1.5", None), (object(), None)])
def test_finite(x, want):
    got = finite(x)
    assert got == want and (got is None or type(got) is float)


def test_dumps_indented_is_json_dumps_with_indent_1() -> None:
    """The fast writer of results.json gives json.dumps' text exactly, and leaves what it does
    not handle (tuples, non-text keys, subclasses, NaN) to json.dumps."""

    def ref(obj: object) -> str:
        return json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n"

    tricky = {"a": [], "b": {}, "c": [1, 2.5, -0.0, 1e-300, 12345678901234567890, True, False, None],
              "d": {"ü \"quoted\" \n\t\u2028": ["x", {"y": [[], [{}]]}]}, "": "", "e": 0.1 + 0.2}
    for obj in (tricky, [], {}, "text", 3, 2.0, None, [tricky, tricky], {"t": (1, 2)}, {1: "a"},
                {"s": type("S", (str,), {})("sub")}):
        assert dumps_indented(obj) == ref(obj)
    with pytest.raises(ValueError):
        dumps_indented({"x": float("nan")})
