"""Frozen records: what ``@dataclasses.dataclass(frozen=True)`` gives the modules every import goes through
(blob headers, trust policies, locks, store history), without importing :mod:`dataclasses`.

Why: ``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``, ``enum``), about a third of
what a pinned import of a small class costs in a fresh process (docs/performance.md). A record is a plain class
whose fields are its annotations in order, with defaults and ``field(default_factory=..., compare=...)``; it
gets ``__init__`` (positional or keyword), ``__eq__``, ``__hash__``, ``__repr__`` and ``__post_init__``, and it
is frozen. :func:`replace`, :func:`fields` and :func:`asdict` work as their ``dataclasses`` namesakes do.

    >>> @record
    ... class Point:
    ...     x: int
    ...     y: int = 0
    >>> Point(1), Point(1, 2) == Point(x=1, y=2), replace(Point(1), y=5)
    (Point(x=1, y=0), True, Point(x=1, y=5))
    >>> Point(1).x = 3
    Traceback (most recent call last):
    ...
    remoteimport._record.FrozenRecordError: cannot assign to field 'x' of a frozen Point
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = ["MISSING", "FrozenRecordError", "Field", "asdict", "field", "fields", "record", "replace"]


class _MissingType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _MissingType()


class FrozenRecordError(AttributeError):
    """Assigning to (or deleting) a field of a frozen record."""


class Field:
    """One field of a record: its name, annotation text, default or default factory, and whether it takes
    part in equality and hashing."""

    __slots__ = ("compare", "default", "default_factory", "name", "type")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, compare: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING, compare: bool = True) -> Any:
    """A field with a default factory or left out of equality (as ``dataclasses.field``)."""
    return Field(default, default_factory, compare)


def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen record of its annotated fields (see the module docstring)."""
    found: list[Field] = []
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        spec.name, spec.type = name, annotation
        if isinstance(value, Field):
            if spec.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        found.append(spec)
    specs = tuple(found)
    by_name = {spec.name: spec for spec in specs}
    compared = tuple(spec.name for spec in specs if spec.compare)
    post_init = getattr(cls, "__post_init__", None)
    title = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(specs):
            raise TypeError(f"{title}() takes {len(specs)} arguments but {len(args)} were given")
        values = dict(zip((spec.name for spec in specs), args, strict=False))  # too many: refused above
        for key, value in kwargs.items():
            if key not in by_name:
                raise TypeError(f"{title}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{title}() got multiple values for argument {key!r}")
            values[key] = value
        for spec in specs:
            if spec.name not in values:
                if spec.default is not MISSING:
                    values[spec.name] = spec.default
                elif spec.default_factory is not MISSING:
                    values[spec.name] = spec.default_factory()
                else:
                    raise TypeError(f"{title}() missing required argument: {spec.name!r}")
            object.__setattr__(self, spec.name, values[spec.name])
        if post_init is not None:
            post_init(self)

    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{spec.name}={getattr(self, spec.name)!r}" for spec in specs)
        return f"{title}({shown})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in compared)

    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, name) for name in compared))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise FrozenRecordError(f"cannot assign to field {name!r} of a frozen {title}")

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenRecordError(f"cannot delete field {name!r} of a frozen {title}")

    for function in (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__):
        function.__qualname__ = f"{cls.__qualname__}.{function.__name__}"
        setattr(cls, function.__name__, function)
    cls.__record_fields__ = specs  # type: ignore[attr-defined]
    cls.__match_args__ = tuple(spec.name for spec in specs)  # type: ignore[attr-defined]
    return cls


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in order."""
    return obj.__record_fields__  # type: ignore[no-any-return]


def replace(obj: T, **changes: Any) -> T:
    """A copy of record ``obj`` with ``changes`` (``__post_init__`` runs again, as for dataclasses)."""
    values = {spec.name: getattr(obj, spec.name) for spec in fields(obj)}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__qualname__} has no field {sorted(unknown)[0]!r}")
    return type(obj)(**{**values, **changes})


def asdict(obj: Any) -> dict[str, Any]:
    """``{field name: value}`` of a record (values are not copied)."""
    return {spec.name: getattr(obj, spec.name) for spec in fields(obj)}
