"""Plain methods, constants of every kind, defaults and class attributes of every plain kind."""

import math


class Constants:
    """A class whose methods use constants of every kind.

    The docstring is indented over several lines: 3.13 strips that indentation from ``__doc__``.
    """

    def numbers(self):
        return (0, 1, -1, 2**70, -(2**70), 1.5, -0.0, 1e300, 1e-300, 3j, 1 + 2j, True, False, None, ...)

    def strings(self):
        return ("", "plain", "ünïcödé ✓", "tab\tnew\nline", "quote ' \" \\", r"raw\d+", b"", b"\x00\xff bytes")

    def collections(self, item):
        if item in {"alpha", "beta", "gamma", "delta", "epsilon"}:
            return frozenset({"one", "two", "three", "four"})
        if item in ("a", "b"):
            return {"x": 1, "y": [1, 2, 3], "z": {"nested": (1, 2)}}
        return [{"s", "t", "u", "v"}, {1, 2, 3}, (), (1,), ((1, 2), (3, 4))]

    def arithmetic(self, x):
        y = x * 2 + 3 - 4 / 5 // 6 % 7
        y **= 2
        y <<= 1
        return -y if y > 0 and not x else +y if x or y else ~int(y)

    def uses_stdlib(self):
        return math.pi, math.sqrt(2.0)


class Defaults:
    def positional(self, a, b=1, c="two", d=(3, 4), e=None):
        return a, b, c, d, e

    def keyword_only(self, a, *, b=1.5, c=b"kw", d=frozenset({"k", "w"})):
        return a, b, c, d

    def variadic(self, *args, key="value", **kwargs):
        return args, key, kwargs


class Attributes:
    integer = 42
    big = 2**100
    floating = 2.5
    negative_zero = -0.0
    complex_number = 1 - 1j
    text = "attribute"
    data = b"\x01\x02"
    nothing = None
    flag = True
    items = [1, "two", 3.0, None, [4, 5]]
    mapping = {"b": 2, "a": 1, "nested": {"x": [1, 2], "y": ("t", "u")}, 3: "three"}
    tags = {"red", "green", "blue", "cyan", "magenta", "yellow", "black", "white"}
    frozen_tags = frozenset({"north", "south", "east", "west"})
    numbers = {3, 1, 2, 100, -5}
    pair = (1, "one")
    nested = ({"k": {"deep", "set", "of", "strings"}}, [frozenset({"p", "q", "r"})])
    empty_things = ([], {}, (), set(), frozenset(), "", b"")

    def read(self):
        return self.integer, self.tags


def plain_function(x, y=10):
    """A plain function is hashed too."""
    return x + y
