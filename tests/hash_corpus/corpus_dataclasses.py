"""Dataclasses (fields, defaults, default_factory, frozen), __slots__ and nested classes."""

import dataclasses
from dataclasses import dataclass, field


@dataclass
class Options:
    name: str
    retries: int = 3
    ratio: float = 0.5
    tags: list[str] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=lambda: {"low": 1, "high": 9})
    hidden: str = field(default="secret", repr=False, compare=False)
    labels: frozenset = frozenset({"stable", "beta", "nightly"})

    def describe(self):
        return f"{self.name}:{self.retries}"


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int = 0
    patch: int = field(default=0, metadata={"doc": "patch level"})

    def bump(self):
        return dataclasses.replace(self, patch=self.patch + 1)


@dataclass(kw_only=True)
class KeywordOnly:
    first: int = 1
    second: str = "two"


class Slotted:
    __slots__ = ("x", "y", "_cache")

    def __init__(self, x, y):
        self.x = x
        self.y = y
        self._cache = None

    def norm(self):
        return (self.x**2 + self.y**2) ** 0.5


class Outer:
    limit = 10

    class Inner:
        scale = 3

        def compute(self, v):
            return v * self.scale

        class Deepest:
            marker = {"deep", "deeper", "deepest"}

    def use_inner(self, v):
        return self.Inner().compute(v) + self.limit
