"""Small wording helpers shared by the modules that write sentences."""

from __future__ import annotations


def count(n: int | float, one: str, many: str) -> str:
    """ "1 study", "0 studies", "12 studies": a number with the noun in the right number."""
    return f"{n:g} {one if n == 1 else many}" if isinstance(n, float) else \
        f"{n} {one if n == 1 else many}"
