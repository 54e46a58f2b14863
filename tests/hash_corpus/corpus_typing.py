"""Annotations: typing generics, builtin generics, class-level annotations."""

# ruff: noqa: UP006, UP007, UP035, UP045 - the old spellings are what this corpus is about

import typing
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Dict, List, Optional, Union


class Annotated:
    count: int
    name: Optional[str] = None
    values: list[str] = []
    mapping: dict[str, int] = {}
    legacy: Dict[str, List[int]] = {}
    either: Union[int, str] = 0
    modern: int | None = None
    shared: ClassVar[set[str]] = {"one", "two"}

    def method(self, x: Optional[int], y: list[str], z: dict[str, int] | None = None) -> tuple[int, ...]:
        return (x or 0, len(y), len(z or {}))

    def callback(self, fn: Callable[[int, str], bool], *args: Any, **kwargs: Any) -> Iterator[bool]:
        yield fn(1, "a")

    def forward(self, other: "Annotated") -> typing.Optional["Annotated"]:
        return other


class Record(typing.NamedTuple):
    name: str
    score: float = 0.0

    def label(self) -> str:
        return f"{self.name}:{self.score}"


class Protocolish(typing.Protocol):
    def run(self, n: int) -> str: ...


def annotated_function(a: int, b: "str" = "x", *, c: Optional[float] = None) -> List[str]:
    return [str(a), b, str(c)]
