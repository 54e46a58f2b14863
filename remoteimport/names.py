"""Pure: validation and parsing of class names, hashes and references (``ns.Name@abc12345``).

Every name and hash is checked here before it becomes part of a storage path, so nothing a user (or an
attacker writing configs) types can traverse out of the store.

    >>> parse_reference("labchain_remote.MyFilter@0123abcd")
    Reference(namespace='labchain_remote', name='MyFilter', version='0123abcd')
"""

from __future__ import annotations

import re
from typing import NamedTuple

from remoteimport.errors import InvalidNameError

MIN_PREFIX = 8
HASH_LENGTH = 64
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_HEX = re.compile(r"[0-9a-f]+")


class Reference(NamedTuple):
    namespace: str
    name: str
    version: str | None  # a full hash or a prefix of at least MIN_PREFIX hex digits; None for latest


def validate_name(name: object, *, what: str = "class name") -> str:
    """Return ``name`` if it is a plain identifier (ASCII, at most 200 characters), else raise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidNameError(
            f"invalid {what} {name!r}: use a plain Python identifier (letters, digits and underscores, "
            "not starting with a digit, at most 200 characters), e.g. 'MyFilter'"
        )
    return name


def validate_namespace(namespace: object) -> str:
    """A namespace is one identifier or several joined by dots (``labchain_remote``, ``team.models``)."""
    if not isinstance(namespace, str) or not namespace:
        raise InvalidNameError(f"invalid namespace {namespace!r}: use a module name such as 'labchain_remote'")
    for part in namespace.split("."):
        validate_name(part, what=f"namespace part in {namespace!r}")
    return namespace


def validate_hash(value: object, *, allow_prefix: bool = True) -> str:
    """Return a lowercase hex hash (or prefix of at least 8 digits) or raise :class:`InvalidNameError`."""
    if not isinstance(value, str):
        raise InvalidNameError(f"invalid hash {value!r}: expected a string of hex digits")
    text = value.lower()
    shortest = MIN_PREFIX if allow_prefix else HASH_LENGTH
    if not _HEX.fullmatch(text) or not shortest <= len(text) <= HASH_LENGTH:
        wanted = f"{MIN_PREFIX} to {HASH_LENGTH}" if allow_prefix else str(HASH_LENGTH)
        raise InvalidNameError(
            f"invalid hash {value!r}: expected {wanted} hex digits (0-9, a-f); "
            "run `remoteimport log NAME` to list the versions of a class"
        )
    return text


def split_versioned(text: str) -> tuple[str, str | None]:
    """``"MyFilter@abc12345"`` -> ``("MyFilter", "abc12345")``; ``"MyFilter"`` -> ``("MyFilter", None)``."""
    name, sep, version = text.partition("@")
    validate_name(name)
    return name, validate_hash(version) if sep else None


def parse_reference(reference: str) -> Reference:
    """Parse ``namespace.Name`` or ``namespace.Name@hash`` (the namespace may contain dots)."""
    if not isinstance(reference, str) or "." not in reference:
        raise InvalidNameError(
            f"invalid class reference {reference!r}: expected 'namespace.Name' or 'namespace.Name@<hash>', "
            "e.g. 'labchain_remote.MyFilter@0123abcd'"
        )
    namespace, _, last = reference.rpartition(".")
    name, version = split_versioned(last)
    return Reference(validate_namespace(namespace), name, version)


def format_reference(namespace: str, name: str, version: str | None = None) -> str:
    return f"{namespace}.{name}@{version}" if version else f"{namespace}.{name}"
