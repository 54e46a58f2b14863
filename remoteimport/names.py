"""Pure: validation and parsing of class names, hashes, tags and references (``ns.Name@abc12345``,
``ns.Name@prod``).

Every name and hash is checked here before it becomes part of a storage path, so nothing a user (or an
attacker writing configs) types can traverse out of the store.

    >>> parse_reference("labchain_remote.MyFilter@0123abcd")
    Reference(namespace='labchain_remote', name='MyFilter', version='0123abcd')
    >>> parse_reference("labchain_remote.MyFilter@prod")
    Reference(namespace='labchain_remote', name='MyFilter', version='prod')
    >>> parse_reference("labchain_remote.MyFilter@latest")
    Reference(namespace='labchain_remote', name='MyFilter', version='latest')

The classes and functions a version brings with it (its helpers, base classes, nested config classes,
Enums: everything of the user's that travelled by value inside its payload) live in *member modules* named
after the version and the module they were written in: ``ns.Name@<hash>/myproj/layers`` (see
:mod:`remoteimport.graphs`). ``/`` keeps the import system from reading ``myproj`` as a submodule.

    >>> split_member_module("MyFilter@0123abcd/myproj/layers")
    ('MyFilter@0123abcd', 'myproj.layers')

A version after ``@`` is a hash (or a prefix of 8+ hex digits) exactly when it is all hex digits
(:func:`is_hash_like`); ``latest`` (:data:`LATEST`) is the version the store's ``latest`` pointer names; anything
else is a tag. A tag (:func:`validate_tag`) always holds a character that is not a hex digit and is never
``latest``, so no text is two of these. Parsing is here; what a version names in a store is
:meth:`remoteimport.store.Store.resolve_version`, the one resolver every command, import, config, lock and web
page uses.
"""

from __future__ import annotations

from collections import namedtuple

from remoteimport.errors import InvalidNameError

# Plain string checks, not regular expressions: this module is on every import's path, and `re` costs a
# pinned import more than everything else it does (docs/performance.md).
MIN_PREFIX = 8
HASH_LENGTH = 64
MAX_NAME_LENGTH = 200
MAX_TAG_LENGTH = 64
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_HEX = frozenset("0123456789abcdef")
_HEX_ANY_CASE = frozenset("0123456789abcdefABCDEF")
_ETAG = frozenset("0123456789abcdef-")
# No "." (the import system would read `ns.Name@v1.2` as a submodule `2`), nothing that can make a path.
_TAG_REST = _LETTERS | frozenset("0123456789_-")
LATEST = "latest"  # `Name@latest`: the version the store's `latest` pointer names (never a tag's name)
RESERVED_TAGS = frozenset({LATEST})
TAG_RULE = (
    f"1 to {MAX_TAG_LENGTH} characters of letters, digits, '_' and '-', starting with a letter and holding at "
    "least one character that is not a hex digit (so it can never be read as a hash prefix), e.g. 'prod' or "
    "'v2-rc1'"
)


class Reference(namedtuple("Reference", ("namespace", "name", "version"))):
    """A parsed ``namespace.Name[@version]``. ``version`` is a full hash or a prefix of at least
    :data:`MIN_PREFIX` hex digits (lowercase), :data:`LATEST`, or a tag (tell a hash apart with
    :func:`is_hash_like`); None when no ``@`` was given (the latest version, or an active lock's pin)."""

    __slots__ = ()
    namespace: str
    name: str
    version: str | None


def _is_name(text: str) -> bool:
    """``[A-Za-z_][A-Za-z0-9_]{0,199}``: an ASCII identifier (keywords included) of at most 200 characters."""
    return 0 < len(text) <= MAX_NAME_LENGTH and text.isascii() and text.isidentifier()


def _is_tag_shaped(text: str) -> bool:
    """``[A-Za-z][A-Za-z0-9_-]{0,63}``."""
    return 0 < len(text) <= MAX_TAG_LENGTH and text[0] in _LETTERS and _TAG_REST.issuperset(text)


def validate_name(name: object, *, what: str = "class name") -> str:
    """Return ``name`` if it is a plain identifier (ASCII, at most 200 characters), else raise."""
    if not isinstance(name, str) or not _is_name(name):
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
    if not (text and _HEX.issuperset(text)) or not shortest <= len(text) <= HASH_LENGTH:
        wanted = f"{MIN_PREFIX} to {HASH_LENGTH}" if allow_prefix else str(HASH_LENGTH)
        raise InvalidNameError(
            f"invalid hash {value!r}: expected {wanted} hex digits (0-9, a-f); "
            "run `remoteimport log NAME` to list the versions of a class"
        )
    return text


def is_etag(text: object) -> bool:
    """True for an object store's ETag as remoteimport keeps it, a file name in the blob cache (its quotes gone,
    lowercase): 1 to 80 hex digits and dashes, not starting with a dash. What a listing says is outside data.

    >>> is_etag("d41d8cd98f00b204e9800998ecf8427e"), is_etag("9b2cf535f27731c974343645a3985328-3"), is_etag("../x")
    (True, True, False)
    """
    return isinstance(text, str) and 0 < len(text) <= 80 and text[0] != "-" and _ETAG.issuperset(text)


def is_full_hash(text: object) -> bool:
    """True when ``text`` is a full hash as stored: exactly 64 lowercase hex digits.

    >>> is_full_hash("ab" * 32), is_full_hash("AB" * 32), is_full_hash("ab")
    (True, False, False)
    """
    return isinstance(text, str) and len(text) == HASH_LENGTH and _HEX.issuperset(text)


def is_hash_like(text: object) -> bool:
    """True when ``text`` is all hex digits (any case): after ``@`` it then means a hash or prefix, never a tag.

    >>> is_hash_like("DEADbeef"), is_hash_like("prod")
    (True, False)
    """
    return isinstance(text, str) and bool(text) and _HEX_ANY_CASE.issuperset(text)


def validate_tag(tag: object) -> str:
    """Return ``tag`` if it is a valid tag name (see :data:`TAG_RULE`), else raise :class:`InvalidNameError`.

    >>> validate_tag("prod")
    'prod'
    """
    if isinstance(tag, str) and is_hash_like(tag):
        raise InvalidNameError(
            f"invalid tag {tag!r}: it is all hex digits, so it would read as a hash prefix. A tag is {TAG_RULE}"
        )
    if not isinstance(tag, str) or not _is_tag_shaped(tag):
        raise InvalidNameError(f"invalid tag {tag!r}: a tag is {TAG_RULE}")
    if tag in RESERVED_TAGS:
        raise InvalidNameError(
            f"invalid tag {tag!r}: the name is reserved (NAME@{LATEST} names the version the latest pointer names)"
        )
    return tag


def validate_version(text: object) -> str:
    """What may follow ``@``: a hash or prefix (returned lowercase) when :func:`is_hash_like`, :data:`LATEST`,
    else a tag.

    >>> validate_version("DEADbeef"), validate_version("latest"), validate_version("prod")
    ('deadbeef', 'latest', 'prod')
    """
    if is_hash_like(text):
        return validate_hash(text)
    if text == LATEST:
        return LATEST
    if isinstance(text, str) and _is_tag_shaped(text):
        return validate_tag(text)
    raise InvalidNameError(
        f"invalid hash or tag {text!r}: expected a hash ({MIN_PREFIX} to {HASH_LENGTH} hex digits, 0-9 a-f) or a tag "
        f"({TAG_RULE}) or {LATEST!r}; run `remoteimport log NAME` to list the versions of a class"
    )


def split_versioned(text: str) -> tuple[str, str | None]:
    """``"MyFilter@abc12345"`` -> ``("MyFilter", "abc12345")``; ``"MyFilter@prod"`` -> ``("MyFilter", "prod")``;
    ``"MyFilter@latest"`` -> ``("MyFilter", "latest")``; ``"MyFilter"`` -> ``("MyFilter", None)``. A hash is
    lowercased; tell a tag apart with :func:`is_hash_like`."""
    name, sep, version = text.partition("@")
    validate_name(name)
    return name, validate_version(version) if sep else None


def parse_reference(reference: str) -> Reference:
    """Parse ``namespace.Name``, ``namespace.Name@hash``, ``namespace.Name@tag`` or ``namespace.Name@latest`` (the
    namespace may contain dots; a tag never does)."""
    if not isinstance(reference, str) or "." not in reference:
        raise InvalidNameError(
            f"invalid class reference {reference!r}: expected 'namespace.Name', 'namespace.Name@<hash>' or "
            "'namespace.Name@<tag>', "
            "e.g. 'labchain_remote.MyFilter@0123abcd'"
        )
    namespace, _, last = reference.rpartition(".")
    name, version = split_versioned(last)
    return Reference(validate_namespace(namespace), name, version)


def format_reference(namespace: str, name: str, version: str | None = None) -> str:
    return f"{namespace}.{name}@{version}" if version else f"{namespace}.{name}"


MEMBER_SEPARATOR = "/"


def member_module_name(version_module: str, module: str) -> str:
    """The module under which a version ``ns.Name@hash`` serves what its payload made for the user's module
    ``module``: ``member_module_name("ns.Top@ab", "myproj.layers") == "ns.Top@ab/myproj/layers"``."""
    return version_module + MEMBER_SEPARATOR + module.replace(".", MEMBER_SEPARATOR)


def split_member_module(text: str) -> tuple[str, str | None]:
    """``"Top@abc12345/myproj/layers"`` -> ``("Top@abc12345", "myproj.layers")``; text without ``/`` -> ``(text,
    None)``. Each part of the module must be an identifier (``__main__`` is one); raises otherwise."""
    versioned, separator, member = text.partition(MEMBER_SEPARATOR)
    if not separator:
        return text, None
    parts = member.split(MEMBER_SEPARATOR)
    if "@" not in versioned or not all(_is_name(part) for part in parts):
        raise InvalidNameError(
            f"invalid member module {text!r}: expected 'Name@<hash>/<module>/<submodule>', each part a Python "
            "identifier, e.g. 'MyFilter@0123abcd/myproj/layers'"
        )
    return versioned, ".".join(parts)


def namespace_of(reference: str) -> str:
    """The namespace of a loaded object's reference: ``ns.Name@hash``, a member module
    ``ns.Name@hash/myproj/layers`` or ``module:qualname`` of either (``"a.b.Top@ab/m:Outer.Inner"`` -> ``"a.b"``)."""
    return reference.partition("@")[0].rpartition(".")[0]
