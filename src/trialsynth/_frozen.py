"""A read-only mapping for the frozen records the stages hand each other (a ``dict`` field of a
frozen dataclass could still be changed in place)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenMap(Mapping[K, V], Generic[K, V]):
    """An immutable mapping that keeps its insertion order (the order results.json writes);
    picklable (figures are drawn in forked workers) and hashable when its values are."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[K, V] | None = None, /, **kw: V) -> None:
        object.__setattr__(self, "_items", {**(items or {}), **kw})

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._items,))
