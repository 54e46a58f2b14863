"""Pure: which members of a class a class factory or metaclass put there (typing, enum, abc, dataclasses,
namedtuple), not the user's code. The hasher leaves them out (:mod:`remoteimport.hashing.members`); a class loaded
on another Python keeps that Python's own (:mod:`remoteimport.regenerate`); both ask here.

    >>> import dataclasses
    >>> is_framework_member(dataclasses.field)
    True
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FRAMEWORK_MODULES", "is_framework_member", "unwrap_method"]

# Modules whose class factories and metaclasses put functions on user classes (``Protocol.__init__``,
# namedtuple's ``_make`` ...): such members are the framework's, not the user's code.
FRAMEWORK_MODULES = frozenset({"typing", "typing_extensions", "enum", "abc", "_abc", "dataclasses", "collections"})


def unwrap_method(value: Any) -> Any:
    """The function of a ``staticmethod`` or ``classmethod``; anything else as it is."""
    return value.__func__ if isinstance(value, (staticmethod, classmethod)) else value


def is_framework_member(value: Any) -> bool:
    """A function that typing/enum/abc/dataclasses/namedtuple put on a class (hashing leaves it out; a class
    loaded on another Python keeps its own Python's: :mod:`remoteimport.regenerate`)."""
    target = unwrap_method(value)
    if not callable(target) or isinstance(target, type):
        return False
    return getattr(target, "__module__", None) in FRAMEWORK_MODULES
