"""Pure: which members of a class a class factory or metaclass put there (typing, enum, abc, dataclasses,
namedtuple), not the user's code. The hasher leaves them out (:mod:`remoteimport.hashing.members`); a class loaded
on another Python keeps that Python's own (:mod:`remoteimport.regenerate`); both ask here.

    >>> import dataclasses
    >>> is_framework_member(dataclasses.field)
    True
"""

from __future__ import annotations

import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "FRAMEWORK_MODULES",
    "TYPING_MODULES",
    "is_framework_member",
    "is_protocol_hook",
    "is_protocol_init",
    "unwrap_method",
]

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


# typing's Protocol changes its subclasses after they are made (every Python from 3.10 to 3.13 checked): what it
# puts there is no part of the user's code.
TYPING_MODULES = frozenset({"typing", "typing_extensions"})


def is_protocol_hook(value: Any) -> bool:
    """typing's (or typing_extensions') per-class ``_proto_hook``, which ``Protocol.__init_subclass__`` sets as a
    subclass's ``__subclasshook__`` (a closure on Python 3.10 and 3.11), and makes again for the class a loading
    host creates."""
    function = unwrap_method(value)
    return (
        isinstance(function, types.FunctionType)
        and function.__module__ in TYPING_MODULES
        and function.__qualname__.endswith(".<locals>._proto_hook")
    )


def is_protocol_init(cls: type, value: Any) -> bool:
    """Whether ``value``, in ``cls``'s own namespace as ``__init__``, is what typing's ``_no_init_or_replace_init``
    put there when a subclass of a ``Protocol`` was first instantiated: that placeholder is the first
    ``__init__`` the class's bases define, and ``value`` the first other one after it, the ``__init__`` the
    placeholder looks up and copies onto the class. Without leaving it out, the class's hash changed at its first
    instantiation, on the pushing host and on every host that loaded it.

    >>> from typing import Protocol
    >>> class Scorer(Protocol):
    ...     def score(self) -> int: ...
    >>> class Fixed(Scorer):
    ...     def score(self) -> int:
    ...         return 1
    >>> _ = Fixed()
    >>> vars(Fixed)["__init__"] is object.__init__, is_protocol_init(Fixed, object.__init__)
    (True, True)
    """
    placeholder = False
    for base in cls.__mro__[1:]:
        init = vars(base).get("__init__", _ABSENT)
        if init is _ABSENT:
            continue
        if _is_init_placeholder(init):
            placeholder = True
            continue
        return placeholder and init is value
    return False


_ABSENT = object()


def _is_init_placeholder(value: Any) -> bool:
    """typing's (or typing_extensions') ``_no_init_or_replace_init``, the ``__init__`` of a Protocol."""
    return (
        isinstance(value, types.FunctionType)
        and value.__name__ == "_no_init_or_replace_init"
        and value.__module__ in TYPING_MODULES
    )
