"""Module-level helpers and constants referenced transitively, including a cycle."""

from __future__ import annotations

THRESHOLD = 10
NAMES = frozenset({"ada", "grace", "linus", "guido"})
TABLE = {"a": [1, 2], "b": {"x", "y", "z"}}


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def _normalize(value):
    return _clip(value) / THRESHOLD


def _clip(value):
    return min(max(value, -THRESHOLD), THRESHOLD)


class HelperClass:
    factor = 2

    def apply(self, v):
        return _normalize(v) * self.factor


class UsesHelpers:
    def check(self, n: int) -> bool:
        return is_even(n) and n in NAMES or TABLE["a"][0] == 1

    def normalized(self, v):
        return HelperClass().apply(v) + _normalize(v)


def uses_cycle(n):
    return is_odd(n)
