"""The guard against hashing an address: text that names where an object lives in this process.

A framework that derives a string from a class at creation time may put the class's ``id()`` in it (pydantic's
schema refs, ``'myproj.Config:94855474335632'``), and a default ``repr()`` says ``<Foo object at 0x7f...>``. Such
text changes in every process, so a hash that encodes it changes too, silently: a version pushed from one
process would never re-hash equal on another host. :func:`address_problem` finds it, after a walk, in the
``str`` values the walk encoded (one regular-expression pass each; nothing is ``repr()``'d):

- a run of digits (decimal, or hexadecimal with or without ``0x``) that is exactly the ``id()`` of an object the
  walk encoded (the walk keeps those alive, so no other object can have that id meanwhile). A hex string in a
  user's constant (a digest, a colour, a UUID) is left alone unless it *is* such an address;
- a repr-like text ``<... at 0x1f2e3d...>``, except in a docstring (which the source says).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Strings shorter than this hold no address (a 64-bit id has 9+ decimal digits: objects do not live that low).
MIN_LENGTH = 9

_REPR_AT = re.compile(r"<[^<>\n]* at 0x[0-9a-fA-F]{4,}>")
# A maximal run of hex digits (which decimal digits are too) that is long enough to be an address; `0x` may
# precede it. Runs longer than a 64-bit number (digests) cannot be one.
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])(?:0[xX])?([0-9a-fA-F]{8,20})(?![0-9A-Za-z])")


def address_problem(texts: Iterable[tuple[str, str]], objects: Mapping[int, Any]) -> str | None:
    """The first of ``texts`` (``(value, path)`` pairs) that embeds an address, as an error message naming the
    path and why; ``objects`` maps ``id()`` to each object the walk encoded. None when no text does."""
    for text, path in texts:
        found = _REPR_AT.search(text)
        if found is not None and not path.endswith(".__doc__"):
            return _message(path, text, found.group(0), "the repr() of an object, with its memory address")
        for run in _DIGIT_RUN.finditer(text):
            digits = run.group(1)
            for number in _readings(digits):
                target = objects.get(number)
                if target is not None:
                    what = f"the id() of {_describe(target)}, which the hash also covers"
                    return _message(path, text, run.group(0), what)
    return None


def _readings(digits: str) -> list[int]:
    """The numbers a run of digits may spell: decimal (when it is all digits) and hexadecimal (up to 64 bits)."""
    numbers = [int(digits)] if digits.isdigit() and len(digits) >= MIN_LENGTH else []
    if len(digits) <= 16:
        numbers.append(int(digits, 16))
    return numbers


def _describe(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) if isinstance(obj, type) or callable(obj) else None
    kind = type(obj)
    return f"{name} ({kind.__qualname__})" if isinstance(name, str) else f"a {kind.__module__}.{kind.__qualname__}"


def _message(path: str, text: str, found: str, what: str) -> str:
    shown = text if len(text) <= 120 else f"{text[:100]}..."
    return (
        f"cannot hash {path}: the str {shown!r} embeds an address: {found!r} is {what}. An address differs in "
        "every process, so the hash would too, and no other host could verify it. Leave such a value out of "
        "the class (compute it in a method or lazily), or teach the hasher with remoteimport.hashing.register() "
        "for the type that holds it"
    )
