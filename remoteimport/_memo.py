"""Memoising decorators for the modules every import goes through, without importing :mod:`functools`
(which imports ``collections``, ``keyword``, ``operator`` and ``reprlib``: a tenth of what a pinned import costs a
fresh process, docs/performance.md).

- :func:`cache`: ``functools.cache`` (keyed by the positional arguments, which must be hashable);
- :func:`bounded`: ``functools.lru_cache(maxsize)`` for look-ups that repeat, except that a full cache is
  emptied instead of evicting the least recently used entry;
- :class:`cached_property`: ``functools.cached_property`` (the value is stored in the instance's ``__dict__``).

Each wrapper has ``__wrapped__`` and ``cache_clear()``.

    >>> @cache
    ... def square(x):
    ...     print("computing")
    ...     return x * x
    >>> square(3), square(3)
    computing
    (9, 9)
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["bounded", "cache", "cached_property"]


def bounded(maxsize: int) -> Callable[[F], F]:
    """Remember up to ``maxsize`` results by positional arguments (then start again)."""

    def decorate(function: F) -> F:
        results: dict[Any, Any] = {}

        def memoised(*args: Any) -> Any:
            try:
                return results[args]
            except KeyError:
                pass
            value = function(*args)
            if len(results) >= maxsize:
                results.clear()
            results[args] = value
            return value

        memoised.__wrapped__ = function  # type: ignore[attr-defined]
        memoised.cache_clear = results.clear  # type: ignore[attr-defined]
        memoised.__name__ = function.__name__
        memoised.__qualname__ = function.__qualname__
        memoised.__doc__ = function.__doc__
        memoised.__module__ = function.__module__
        return memoised  # type: ignore[return-value]

    return decorate


def cache(function: F) -> F:
    """Remember every result by positional arguments."""
    return bounded(1 << 62)(function)


class cached_property:  # noqa: N801 - named as functools' is
    """A property computed once per instance, then read from the instance's ``__dict__``."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.function(instance)
        return value
